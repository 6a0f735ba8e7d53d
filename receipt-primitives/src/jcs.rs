//! RFC 8785 JSON canonicalization (JCS): the byte form of every JSON document we hash.

use serde::Serialize;
use serde_json::Value;

use crate::digest::Digest;

/// Why a value has no canonical form (for example a non-finite float or a map with non-string keys).
#[derive(Debug, thiserror::Error)]
#[error("cannot canonicalize as RFC 8785 JSON: {0}")]
pub struct JcsError(#[from] serde_json::Error);

/// The RFC 8785 canonical bytes of `value`: sorted keys (by UTF-16 code units), no
/// whitespace, ECMAScript number form, minimal string escapes. No trailing newline.
///
/// # Errors
/// [`JcsError`] when the value cannot be represented (non-finite numbers, non-string keys).
pub fn to_vec<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, JcsError> {
    Ok(serde_jcs::to_vec(value)?)
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

fn write_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        // Every JSON number is an IEEE double in ECMAScript form (RFC 8785 §3.2.2.3).
        Value::Number(n) => {
            let f = n.as_f64().unwrap_or(f64::NAN);
            out.extend_from_slice(ryu_js::Buffer::new().format(f).as_bytes());
        }
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
            // Members sorted by the UTF-16 code units of their names (RFC 8785 §3.2.3).
            let mut members: Vec<(&String, &Value)> = map.iter().collect();
            members.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
            out.push(b'{');
            for (i, (k, v)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_str(out, k);
                out.push(b':');
                write_value(out, v);
            }
            out.push(b'}');
        }
    }
}

/// A JSON string with the minimal escapes of RFC 8785 §3.2.2.2 (serde_json writes exactly
/// those: `\"`, `\\`, `\b \f \n \r \t`, other controls as lowercase `\u00xx`).
fn write_str(out: &mut Vec<u8>, s: &str) {
    // Writing into a Vec cannot fail, and a str always serializes.
    let _ = serde_json::to_writer(&mut *out, s);
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
}
