//! RFC 8785 JSON canonicalization (JCS): the byte form of every JSON document we hash.

use serde::Serialize;

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

/// Whether `bytes` are exactly the canonical form of the JSON they contain.
///
/// Used by readers that must refuse a document whose bytes were re-spelled (whitespace,
/// number spelling, key order, escapes) even when its meaning is unchanged.
pub fn is_canonical(bytes: &[u8]) -> bool {
    match serde_json::from_slice::<serde_json::Value>(bytes) {
        Ok(v) => to_vec(&v).is_ok_and(|c| c == bytes),
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
}
