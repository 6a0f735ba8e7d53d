//! Base64 as the formats here use it: RFC 4648 §4 (standard alphabet, padded) when writing,
//! and a strict decoder that accepts exactly what the writer produces.

use base64::Engine as _;
use base64::alphabet;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};

/// Standard alphabet with padding.
pub(crate) fn encode(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Decodes the standard alphabet with canonical padding and zero trailing bits, so every
/// byte string has exactly one accepted spelling.
pub(crate) fn decode_strict(text: &str) -> Option<Vec<u8>> {
    STANDARD.decode(text).ok()
}

/// Decodes either alphabet DSSE allows (standard or URL-safe), padded or not, still refusing
/// non-zero trailing bits and mixed alphabets.
pub(crate) fn decode_either(text: &str) -> Option<Vec<u8>> {
    let config =
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    let standard = GeneralPurpose::new(&alphabet::STANDARD, config);
    let url_safe = GeneralPurpose::new(&alphabet::URL_SAFE, config);
    standard
        .decode(text)
        .ok()
        .or_else(|| url_safe.decode(text).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_decoding_has_one_spelling_per_value() {
        assert_eq!(encode(b"hello world"), "aGVsbG8gd29ybGQ=");
        assert_eq!(decode_strict("aGVsbG8gd29ybGQ=").unwrap(), b"hello world");
        // Missing padding, URL-safe characters, non-zero trailing bits: refused.
        assert!(decode_strict("aGVsbG8gd29ybGQ").is_none());
        assert!(decode_strict("aGVsbG8gd29ybGR=").is_none());
        assert!(decode_strict("-_-_Pj8=").is_none());
        assert!(decode_strict(" aGVsbG8gd29ybGQ=").is_none());
        assert_eq!(
            decode_either("-_-_Pj8=").unwrap(),
            [0xfb, 0xff, 0xbf, 0x3e, 0x3f]
        );
        assert_eq!(
            decode_either("+/+/Pj8").unwrap(),
            [0xfb, 0xff, 0xbf, 0x3e, 0x3f]
        );
        assert!(decode_either("+_+/Pj8=").is_none());
    }
}
