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
