//! RFC 8785 JSON canonicalization (JCS): the byte form of every JSON document we hash.

use serde::Serialize;
use serde_json::Value;

use crate::digest::Digest;

/// Why a value has no canonical form (for example a map with non-string keys).
#[derive(Debug, thiserror::Error)]
#[error("cannot canonicalize as RFC 8785 JSON: {0}")]
pub struct JcsError(#[from] serde_json::Error);

/// The RFC 8785 canonical bytes of `value`: sorted keys (by UTF-16 code units), no
/// whitespace, ECMAScript number form, minimal string escapes. No trailing newline.
///
/// # Errors
/// [`JcsError`] when the value cannot be represented: a map with keys that are not
/// strings, or a non-finite number as the whole value. A non-finite number inside an array
/// or a map is written as `null`, as `serde_json` writes it.
pub fn to_vec<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, JcsError> {
    Ok(serde_jcs::to_vec(value)?)
}

/// Appends the canonical bytes of `value` to `out` (what [`to_vec`] gives); on an error
/// `out` is left as it was.
///
/// # Errors
/// As [`to_vec`].
pub fn write<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) -> Result<(), JcsError> {
    let len = out.len();
    serde_jcs::to_writer(&mut *out, value).map_err(|e| {
        out.truncate(len);
        JcsError(e)
    })
}

/// SHA-256 of the canonical bytes of `value`.
///
/// # Errors
/// As [`to_vec`].
pub fn sha256<T: Serialize + ?Sized>(value: &T) -> Result<Digest, JcsError> {
    Ok(Digest::of(&to_vec(value)?))
}

/// The RFC 8785 canonical bytes of a JSON value: the same bytes as [`to_vec`] gives for
/// it, written in one pass (a [`Value`] holds only finite numbers and string keys, so it
/// always has a canonical form).
pub fn value_to_vec(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    write_value(&mut out, value);
    out
}

/// SHA-256 of [`value_to_vec`].
pub fn value_sha256(value: &Value) -> Digest {
    Digest::of(&value_to_vec(value))
}

/// Appends the RFC 8785 canonical bytes of `value` to `out` (what [`value_to_vec`] gives).
pub fn write_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        // Every JSON number is an IEEE double in ECMAScript form (RFC 8785 §3.2.2.3).
        Value::Number(n) => write_f64(out, n.as_f64().unwrap_or(f64::NAN)),
        Value::String(s) => write_str(out, s),
        Value::Array(items) => {
            out.push(b'[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, v);
            }
            out.push(b']');
        }
        Value::Object(map) => {
            // Members sorted by the UTF-16 code units of their names (RFC 8785 §3.2.3). The
            // map iterates in UTF-8 byte order, which is the same order unless names mix
            // characters above U+FFFF with ones in U+E000–U+FFFF: then sort.
            let in_order = map
                .keys()
                .zip(map.keys().skip(1))
                .all(|(a, b)| utf16_cmp(a, b).is_lt());
            if in_order {
                write_sorted_members(out, map.iter().map(|(k, v)| (k.as_str(), v)));
            } else {
                let mut members: Vec<(&str, &Value)> =
                    map.iter().map(|(k, v)| (k.as_str(), v)).collect();
                write_members(out, &mut members);
            }
        }
    }
}

/// Compares two names by their UTF-16 code units (the member order of RFC 8785 §3.2.3).
fn utf16_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    if a.is_ascii() && b.is_ascii() {
        a.cmp(b)
    } else {
        a.encode_utf16().cmp(b.encode_utf16())
    }
}

/// Appends a JSON object of `members` in RFC 8785 member order (sorting them first by the
/// UTF-16 code units of their names); the names must be distinct.
pub fn write_members(out: &mut Vec<u8>, members: &mut [(&str, &Value)]) {
    members.sort_by(|a, b| utf16_cmp(a.0, b.0));
    write_sorted_members(out, members.iter().copied());
}

fn write_sorted_members<'a>(
    out: &mut Vec<u8>,
    members: impl Iterator<Item = (&'a str, &'a Value)>,
) {
    out.push(b'{');
    for (i, (k, v)) in members.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(out, k);
        out.push(b':');
        write_value(out, v);
    }
    out.push(b'}');
}

/// Appends a number in the ECMAScript form of RFC 8785 §3.2.2.3 (a finite double; callers
/// with integers convert them as a JSON value would, `as f64`).
pub fn write_f64(out: &mut Vec<u8>, f: f64) {
    out.extend_from_slice(ryu_js::Buffer::new().format(f).as_bytes());
}

/// Appends a JSON string with the minimal escapes of RFC 8785 §3.2.2.2 (serde_json writes
/// exactly those: `\"`, `\\`, `\b \f \n \r \t`, other controls as lowercase `\u00xx`).
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    if !needs_escape(s.as_bytes()) {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        // Writing into a Vec cannot fail, and a str always serializes.
        let _ = serde_json::to_writer(&mut *out, s);
    }
}

/// Whether a string has a character JSON escapes (a control character, `"` or `\\`). In
/// blocks without early exit, so the scan of a long string (base64, hex) is vectorized.
pub fn needs_escape(s: &[u8]) -> bool {
    let bad = |b: u8| (b < 0x20) | (b == b'"') | (b == b'\\');
    let mut blocks = s.chunks_exact(64);
    for block in &mut blocks {
        if block.iter().fold(false, |acc, &b| acc | bad(b)) {
            return true;
        }
    }
    blocks.remainder().iter().any(|&b| bad(b))
}

/// Whether `bytes` are exactly the canonical form of the JSON they contain.
///
/// Used by readers that must refuse a document whose bytes were re-spelled (whitespace,
/// number spelling, key order, escapes) even when its meaning is unchanged.
pub fn is_canonical(bytes: &[u8]) -> bool {
    match serde_json::from_slice::<serde_json::Value>(bytes) {
        Ok(v) => value_to_vec(&v) == bytes,
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pins what the serializer does with non-finite numbers: refused as the value itself,
    /// written as `null` inside an array or a map (as `serde_json` writes them).
    #[test]
    fn non_finite_numbers_are_refused_alone_and_null_inside_a_container() {
        assert!(to_vec(&f64::NAN).is_err());
        assert!(to_vec(&f64::INFINITY).is_err());
        assert_eq!(to_vec(&[1.0, f64::NAN]).expect("canonical"), b"[1,null]");
        let map = std::collections::BTreeMap::from([("a", f64::NEG_INFINITY)]);
        assert_eq!(to_vec(&map).expect("canonical"), br#"{"a":null}"#);
    }

    #[test]
    fn write_appends_the_canonical_bytes_and_leaves_the_buffer_alone_on_error() {
        let v = serde_json::json!({"b": [1.0, "x"], "a": null});
        let mut out = b"prefix".to_vec();
        write(&mut out, &v).expect("canonical");
        assert_eq!(&out[..6], b"prefix");
        assert_eq!(&out[6..], to_vec(&v).expect("canonical").as_slice());
        // A value failing midway (a map whose key is not a string, after the array's first
        // two items were written): nothing it wrote stays.
        let bad = (
            "ok",
            [1, 2],
            std::collections::BTreeMap::from([(vec![1u8], 1)]),
        );
        assert!(write(&mut out, &bad).is_err());
        assert_eq!(&out[6..], to_vec(&v).expect("canonical").as_slice());
    }

    #[test]
    fn rfc8785_examples() {
        // Key order by UTF-16 code units, ECMAScript numbers, minimal escapes.
        let v: serde_json::Value = serde_json::from_str(
            r#"{"numbers":[333333333.33333329,1E30,4.50,2e-3,0.000000000000000000000000001],"string":"\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/","literals":[null,true,false]}"#,
        )
        .unwrap();
        let out = String::from_utf8(to_vec(&v).unwrap()).unwrap();
        assert_eq!(
            out,
            r#"{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}"#
        );
        assert!(is_canonical(out.as_bytes()));
        assert!(!is_canonical(b"{\"a\": 1}"));
        assert!(!is_canonical(b"{\"b\":1,\"a\":2}"));
        assert!(!is_canonical(b"{\"a\":1.0}"));
    }

    #[test]
    fn value_form_is_the_serde_form() {
        let v: serde_json::Value = serde_json::from_str(
            r#"{"\ud83d\ude00":1,"\ue000":2,"é":[1e21,1e-7,-0.0,0.1,9007199254740993,-5,true,null],"a\u0001\n\"\\/":{"z":{},"y":[],"x":"tab\there \u007f ü"},"":18446744073709551615}"#,
        )
        .unwrap();
        assert_eq!(value_to_vec(&v), to_vec(&v).unwrap());
        assert_eq!(value_sha256(&v), sha256(&v).unwrap());
    }

    #[test]
    fn long_strings_are_escaped_wherever_the_character_is() {
        for len in [0, 1, 63, 64, 65, 200] {
            for at in 0..len {
                for c in ['"', '\\', '\n', '\u{1f}', '\u{7f}', 'é'] {
                    let mut s: String = "A".repeat(len);
                    s.replace_range(at..at + 1, &c.to_string());
                    let mut out = Vec::new();
                    write_str(&mut out, &s);
                    assert_eq!(out, to_vec(&s).unwrap(), "{len} {at} {c:?}");
                }
            }
        }
    }
}
