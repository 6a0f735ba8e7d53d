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
        let mut out = [0u8; 64];
        for (pair, b) in out.chunks_exact_mut(2).zip(self.0) {
            pair.copy_from_slice(&HEX_PAIRS[usize::from(b)]);
        }
        out
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
        // Table-driven and branch-free: verifiers decode two digests per ledger line.
        let mut out = [0u8; 32];
        let mut bad = 0u8;
        for (o, pair) in out.iter_mut().zip(b.chunks_exact(2)) {
            let (hi, lo) = (
                HEX_VALUE[usize::from(pair[0])],
                HEX_VALUE[usize::from(pair[1])],
            );
            bad |= hi | lo;
            *o = (hi << 4) | (lo & 0x0f);
        }
        if bad & 0xf0 == 0 {
            return Ok(Digest(out));
        }
        let (offset, ch) = s
            .char_indices()
            .find(|(_, c)| !matches!(c, '0'..='9' | 'a'..='f'))
            .unwrap_or((0, '\0'));
        Err(HexError::Char { offset, ch })
    }
}

/// The two lowercase hex digits of each byte value.
static HEX_PAIRS: [[u8; 2]; 256] = {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut t = [[0u8; 2]; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = [HEX[i >> 4], HEX[i & 15]];
        i += 1;
    }
    t
};

/// Value of each byte as a lowercase hex digit, or `0xff` for any other byte.
static HEX_VALUE: [u8; 256] = {
    let mut t = [0xffu8; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
};

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
}
