//! SHA-256 digests: the one hash of the protocol, written as 64 lowercase hex characters.

use std::fmt;
use std::io::{self, Read};

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};

/// A SHA-256 digest.
///
/// Its text form (`Display`, serde) is always 64 lowercase hex characters; parsing refuses
/// anything else (uppercase, short, long, non-hex).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Digest(pub [u8; 32]);

/// Why a string is not a digest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HexError {
    /// The string is not 64 characters long.
    #[error("expected 64 lowercase hex characters, found {0}")]
    Length(usize),
    /// A character is not one of `0-9a-f`.
    #[error("character {ch:?} at offset {offset} is not lowercase hex")]
    Char {
        /// Offset of the character in the string.
        offset: usize,
        /// The character found.
        ch: char,
    },
}

impl Digest {
    /// SHA-256 of `bytes`.
    pub fn of(bytes: &[u8]) -> Digest {
        Digest(Sha256::digest(bytes).into())
    }

    /// SHA-256 of the concatenation of `parts`, without separators.
    pub fn of_parts(parts: &[&[u8]]) -> Digest {
        let mut h = Sha256::new();
        for p in parts {
            h.update(p);
        }
        Digest(h.finalize().into())
    }

    /// SHA-256 of everything `reader` yields, streamed in 256 KiB blocks.
    ///
    /// # Errors
    /// The reader's I/O errors.
    pub fn of_reader<R: Read>(mut reader: R) -> io::Result<Digest> {
        let mut h = Sha256::new();
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => h.update(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(Digest(h.finalize().into()))
    }

    /// The raw 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The 64-character lowercase hex form.
    pub fn to_hex(&self) -> String {
        self.to_string()
    }

    /// The 64 lowercase hex digits, as bytes.
    pub fn hex_bytes(&self) -> [u8; 64] {
        hex::encode(&self.0)
    }

    /// Whether `hex` is this digest's 64 lowercase hex digits; cheaper than decoding `hex`
    /// and comparing (a verifier does this once per ledger line).
    pub fn is_spelled(&self, hex: &[u8]) -> bool {
        hex.len() == 64 && self.hex_bytes()[..] == *hex
    }

    /// Parses exactly 64 lowercase hex characters.
    ///
    /// # Errors
    /// [`HexError`] naming the length or the first offending character.
    pub fn from_hex(s: &str) -> Result<Digest, HexError> {
        let b = s.as_bytes();
        if b.len() != 64 {
            return Err(HexError::Length(s.chars().count()));
        }
        if let Some(out) = b.try_into().ok().and_then(hex::decode) {
            return Ok(Digest(out));
        }
        let (offset, ch) = s
            .char_indices()
            .find(|(_, c)| !matches!(c, '0'..='9' | 'a'..='f'))
            .unwrap_or((0, '\0'));
        Err(HexError::Char { offset, ch })
    }
}

/// Hex encoding and decoding of the 32 digest bytes: sixteen characters at a time with
/// SSE2 (part of the x86_64 baseline), a table per byte elsewhere. Verifiers decode a digest
/// and compare one spelling per ledger line, and writers encode two, so this is on the hot
/// path of both.
mod hex {
    /// The lowercase hex digits of `bytes`.
    #[cfg(all(target_arch = "x86_64", not(receipt_portable)))]
    pub(super) fn encode(bytes: &[u8; 32]) -> [u8; 64] {
        use std::arch::x86_64::{
            __m128i, _mm_add_epi8, _mm_and_si128, _mm_cmpgt_epi8, _mm_loadu_si128, _mm_set1_epi8,
            _mm_srli_epi16, _mm_storeu_si128, _mm_unpackhi_epi8, _mm_unpacklo_epi8,
        };
        let mut out = [0u8; 64];
        for (src, dst) in bytes.chunks_exact(16).zip(out.chunks_exact_mut(32)) {
            // SAFETY: SSE2 is part of the x86_64 baseline; the load reads the 16 bytes of
            // `src` and the stores write the 32 bytes of `dst`, all in bounds, unaligned
            // access allowed.
            unsafe {
                let x = _mm_loadu_si128(src.as_ptr().cast::<__m128i>());
                let low4 = _mm_set1_epi8(0x0f);
                let hi = _mm_and_si128(_mm_srli_epi16(x, 4), low4);
                let lo = _mm_and_si128(x, low4);
                // Nibble n becomes '0' + n, plus 39 more ('a' - '0' - 10) when n > 9.
                let ascii = |n: __m128i| {
                    let letter =
                        _mm_and_si128(_mm_cmpgt_epi8(n, _mm_set1_epi8(9)), _mm_set1_epi8(39));
                    _mm_add_epi8(_mm_add_epi8(n, _mm_set1_epi8(b'0' as i8)), letter)
                };
                // High nibble first: interleave (hi, lo) byte by byte.
                let first = _mm_unpacklo_epi8(ascii(hi), ascii(lo));
                let second = _mm_unpackhi_epi8(ascii(hi), ascii(lo));
                _mm_storeu_si128(dst.as_mut_ptr().cast::<__m128i>(), first);
                _mm_storeu_si128(dst[16..].as_mut_ptr().cast::<__m128i>(), second);
            }
        }
        out
    }

    /// The bytes `hex` spells, when it is 64 lowercase hex digits.
    #[cfg(all(target_arch = "x86_64", not(receipt_portable)))]
    pub(super) fn decode(hex: &[u8; 64]) -> Option<[u8; 32]> {
        use std::arch::x86_64::{
            __m128i, _mm_add_epi8, _mm_and_si128, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_min_epu8,
            _mm_movemask_epi8, _mm_or_si128, _mm_packus_epi16, _mm_set1_epi8, _mm_set1_epi16,
            _mm_slli_epi16, _mm_srli_epi16, _mm_storeu_si128, _mm_sub_epi8,
        };
        let mut out = [0u8; 32];
        let mut valid = -1i32;
        for (src, dst) in hex.chunks_exact(32).zip(out.chunks_exact_mut(16)) {
            // SAFETY: SSE2 is part of the x86_64 baseline; the loads read the 32 bytes of
            // `src` and the store writes the 16 bytes of `dst`, all in bounds, unaligned
            // access allowed.
            unsafe {
                // Each character's value (0..=15) and whether it is a lowercase hex digit,
                // by unsigned range tests: c - '0' <= 9, or c - 'a' <= 5.
                let value = |at: usize, valid: &mut i32| {
                    let c = _mm_loadu_si128(src[at..].as_ptr().cast::<__m128i>());
                    let d = _mm_sub_epi8(c, _mm_set1_epi8(b'0' as i8));
                    let a = _mm_sub_epi8(c, _mm_set1_epi8(b'a' as i8));
                    let is_d = _mm_cmpeq_epi8(_mm_min_epu8(d, _mm_set1_epi8(9)), d);
                    let is_a = _mm_cmpeq_epi8(_mm_min_epu8(a, _mm_set1_epi8(5)), a);
                    *valid &= _mm_movemask_epi8(_mm_or_si128(is_d, is_a)) | !0xffff;
                    let v = _mm_or_si128(
                        _mm_and_si128(is_d, d),
                        _mm_and_si128(is_a, _mm_add_epi8(a, _mm_set1_epi8(10))),
                    );
                    // Little-endian pairs (first, second) become first << 4 | second in
                    // each 16-bit lane.
                    _mm_or_si128(
                        _mm_and_si128(_mm_slli_epi16(v, 4), _mm_set1_epi16(0x00f0)),
                        _mm_srli_epi16(v, 8),
                    )
                };
                let bytes = _mm_packus_epi16(value(0, &mut valid), value(16, &mut valid));
                _mm_storeu_si128(dst.as_mut_ptr().cast::<__m128i>(), bytes);
            }
        }
        (valid == -1).then_some(out)
    }

    /// The lowercase hex digits of `bytes`.
    #[cfg(not(all(target_arch = "x86_64", not(receipt_portable))))]
    pub(super) fn encode(bytes: &[u8; 32]) -> [u8; 64] {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; 64];
        for (pair, b) in out.chunks_exact_mut(2).zip(bytes) {
            pair[0] = HEX[usize::from(b >> 4)];
            pair[1] = HEX[usize::from(b & 15)];
        }
        out
    }

    /// The bytes `hex` spells, when it is 64 lowercase hex digits.
    #[cfg(not(all(target_arch = "x86_64", not(receipt_portable))))]
    pub(super) fn decode(hex: &[u8; 64]) -> Option<[u8; 32]> {
        let mut out = [0u8; 32];
        for (o, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
            let nib = |c: u8| match c {
                b'0'..=b'9' => Some(c - b'0'),
                b'a'..=b'f' => Some(c - b'a' + 10),
                _ => None,
            };
            *o = (nib(pair[0])? << 4) | nib(pair[1])?;
        }
        Some(out)
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.hex_bytes();
        // The buffer holds ASCII hex digits only.
        f.write_str(std::str::from_utf8(&s).expect("hex is ASCII"))
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({self})")
    }
}

impl std::str::FromStr for Digest {
    type Err = HexError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Digest::from_hex(s)
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Digest::from_hex(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_strictness() {
        let d = Digest::of(b"abc");
        assert_eq!(
            d.to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(Digest::from_hex(&d.to_hex()), Ok(d));
        assert!(d.is_spelled(d.to_hex().as_bytes()));
        assert!(!d.is_spelled(d.to_hex().to_uppercase().as_bytes()));
        assert!(!d.is_spelled(&d.to_hex().as_bytes()[..63]));
        for i in 0..64 {
            let mut h = d.hex_bytes();
            h[i] = if h[i] == b'0' { b'1' } else { b'0' };
            assert!(!d.is_spelled(&h), "{i}");
        }
        assert_eq!(Digest::from_hex("ab"), Err(HexError::Length(2)));
        let upper = d.to_hex().to_uppercase();
        assert!(matches!(
            Digest::from_hex(&upper),
            Err(HexError::Char { offset: 0, .. })
        ));
        // Every byte value at every position: accepted exactly when it is a lowercase
        // hex digit, and then decoded to the nibble it spells.
        let hex = d.to_hex();
        for pos in 0..64 {
            for byte in 0u8..=127 {
                let mut t = hex.clone().into_bytes();
                t[pos] = byte;
                let t = String::from_utf8(t).unwrap();
                let got = Digest::from_hex(&t);
                match (byte as char).to_digit(16) {
                    Some(v) if !byte.is_ascii_uppercase() => {
                        let nib = if pos % 2 == 0 {
                            got.unwrap().0[pos / 2] >> 4
                        } else {
                            got.unwrap().0[pos / 2] & 15
                        };
                        assert_eq!(u32::from(nib), v);
                    }
                    _ => assert_eq!(
                        got,
                        Err(HexError::Char {
                            offset: pos,
                            ch: byte as char
                        })
                    ),
                }
            }
        }
        let mut multi = hex.clone();
        multi.replace_range(62..64, "é");
        assert_eq!(
            Digest::from_hex(&multi),
            Err(HexError::Char {
                offset: 62,
                ch: 'é'
            })
        );
        assert_eq!(Digest::of_parts(&[b"a", b"bc"]), d);
        assert_eq!(Digest::of_reader(&b"abc"[..]).unwrap(), d);
    }

    #[test]
    fn hex_agrees_with_formatting_byte_by_byte() {
        // Digests with every byte value at every position, and the hash chain's own kind.
        let mut digests: Vec<Digest> = (0u8..=255).map(|b| Digest([b; 32])).collect();
        digests.extend((0u32..2000).map(|i| Digest::of(&i.to_le_bytes())));
        digests.push(Digest(std::array::from_fn(|i| i as u8 * 8)));
        for d in digests {
            let reference: String = d.0.iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(d.hex_bytes(), reference.as_bytes(), "{reference}");
            assert_eq!(Digest::from_hex(&reference), Ok(d));
            assert!(d.is_spelled(reference.as_bytes()));
        }
    }
}
