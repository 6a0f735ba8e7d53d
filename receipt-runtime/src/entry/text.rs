//! Decimal digits and JSON strings appended to a line being built, without serde for the
//! common cases.

/// `"00"`, `"01"`, …, `"99"`: the two decimal digits of every number below 100.
const DIGIT_PAIRS: [u8; 200] = {
    let mut t = [0u8; 200];
    let mut i = 0;
    while i < 100 {
        // `i` is below 100, so both casts are exact.
        t[2 * i] = b'0' + (i / 10) as u8;
        t[2 * i + 1] = b'0' + (i % 10) as u8;
        i += 1;
    }
    t
};

/// The decimal digits of `v`, written at the end of `buf`.
pub(crate) fn format_u64(v: u64, buf: &mut [u8; 20]) -> &[u8] {
    let start = write_digits(v, buf);
    &buf[start..]
}

/// Appends the decimal digits of `v` to `out`.
///
/// The digits are written in place into room made with one constant-length append (which
/// compiles to two stores, where a variable-length copy from a scratch buffer would call
/// `memcpy`), and the room left over is cut off.
pub(crate) fn push_u64(out: &mut Vec<u8>, v: u64) {
    let len = v.checked_ilog10().map_or(1, |d| d as usize + 1);
    let at = out.len();
    out.extend_from_slice(&[0u8; 20]);
    write_digits(v, &mut out[at..at + len]);
    out.truncate(at + len);
}

/// Writes the decimal digits of `v` at the end of `buf`; returns the index of the first
/// digit. `buf` must have room for all the digits.
fn write_digits(mut v: u64, buf: &mut [u8]) -> usize {
    let mut i = buf.len();
    // Two digits per division: half the divisions of a digit-at-a-time loop.
    while v >= 100 {
        // `v % 100` is below 100, so the cast cannot truncate.
        let pair = 2 * (v % 100) as usize;
        v /= 100;
        i -= 2;
        buf[i..i + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
    }
    if v >= 10 {
        // `v` is below 100 here.
        let pair = 2 * v as usize;
        i -= 2;
        buf[i..i + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
    } else {
        i -= 1;
        // `v` is below 10 here.
        buf[i] = b'0' + v as u8;
    }
    i
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
