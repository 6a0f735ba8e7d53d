//! Decimal digits (by `itoa`) and JSON strings appended to a line being built, without serde
//! for the common cases.

/// Appends the decimal digits of `v` to `out`.
pub(crate) fn push_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

/// Appends `s` as a JSON string; serde_json's escaping is RFC 8785's.
///
/// Strings with nothing to escape (no control character, `"` or `\`), which is nearly
/// every string a ledger holds, are copied between quotes directly; others go through
/// serde_json.
pub(crate) fn json_string(out: &mut Vec<u8>, s: &str) {
    // A fold without early exit, so the scan compiles to vector compares.
    let needs_escape = s.bytes().fold(false, |acc, b| {
        acc | (b < 0x20) | (b == b'"') | (b == b'\\')
    });
    if needs_escape {
        // Serializing a str into a Vec cannot fail.
        serde_json::to_writer(&mut *out, s).unwrap_or_default();
    } else {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    }
}

/// Appends one JSON object member by member, in the order the caller gives (which must be
/// RFC 8785's key order for canonical bytes).
pub(crate) struct Object<'o> {
    out: &'o mut Vec<u8>,
    empty: bool,
}

impl<'o> Object<'o> {
    /// Appends `{`.
    pub(crate) fn open(out: &'o mut Vec<u8>) -> Self {
        out.push(b'{');
        Object { out, empty: true }
    }

    /// Appends the separator and `"key":`, and returns the buffer for the member's value.
    /// `key` is a member name with nothing to escape (ASCII letters, digits, `_`).
    pub(crate) fn key(&mut self, key: &str) -> &mut Vec<u8> {
        debug_assert!(key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
        if !self.empty {
            self.out.push(b',');
        }
        self.empty = false;
        self.out.push(b'"');
        self.out.extend_from_slice(key.as_bytes());
        self.out.extend_from_slice(b"\":");
        self.out
    }

    /// Appends `}`.
    pub(crate) fn close(self) {
        self.out.push(b'}');
    }
}
