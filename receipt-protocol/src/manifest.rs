//! The canonical manifest v1.2 (docs/SPEC.md §2): a serializer that can only write the
//! canonical bytes, and a strict parser that refuses everything else.
//!
//! The grammar, byte for byte:
//!
//! ```text
//! {"producer":S[,"ingress_preimage_sha256":H],"timestamp":T,"merkle_root":H}
//! ```
//!
//! `S` a JSON string in minimal-escape form, `H` 64 lowercase hex characters, `T`
//! `YYYY-MM-DDTHH:MM:SSZ`; no whitespace, no BOM, no trailing newline.

use receipt_primitives::digest::{Digest, HexError};
use receipt_primitives::time::{Timestamp, TimestampError};

/// A v1.2 manifest. Its only byte form is [`Manifest::to_bytes`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// Tool name and version that wrote the manifest, e.g. `cargo-receipt 0.1.0`.
    pub producer: String,
    /// SHA-256 of the ingress preimage (the canonical JSON of what the build was asked to do).
    pub ingress_preimage_sha256: Option<Digest>,
    /// UTC instant of the build.
    pub timestamp: Timestamp,
    /// Root of the tracked-set Merkle tree.
    pub merkle_root: Digest,
}

/// Why bytes are not a canonical v1.2 manifest. Each message is one sentence naming the
/// field or byte offset.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    /// The input starts with a UTF-8 byte-order mark.
    #[error("the manifest starts with a byte-order mark; the canonical form has none")]
    Bom,
    /// The input is not UTF-8.
    #[error("the manifest is not valid UTF-8 at byte offset {0}")]
    NotUtf8(usize),
    /// The input is empty.
    #[error("the manifest is empty")]
    Empty,
    /// Whitespace between tokens.
    #[error("whitespace at byte offset {0}; the canonical manifest is minified")]
    Whitespace(usize),
    /// One trailing newline (or more) after the closing brace.
    #[error("trailing newline at byte offset {0}; the canonical manifest ends with `}}`")]
    TrailingNewline(usize),
    /// Other bytes after the closing brace.
    #[error("unexpected bytes after the closing brace at byte offset {0}")]
    TrailingBytes(usize),
    /// A byte that the grammar does not allow at this point.
    #[error("expected {expected} at byte offset {offset}")]
    Expected {
        /// What the grammar wants here.
        expected: &'static str,
        /// Byte offset.
        offset: usize,
    },
    /// A key that v1.2 does not define.
    #[error(
        "unknown key `{key}` at byte offset {offset}; v1.2 defines producer, ingress_preimage_sha256, timestamp, merkle_root"
    )]
    UnknownKey {
        /// The key.
        key: String,
        /// Byte offset of the key.
        offset: usize,
    },
    /// A key given twice.
    #[error("duplicate key `{key}` at byte offset {offset}")]
    DuplicateKey {
        /// The key.
        key: &'static str,
        /// Byte offset of the second occurrence.
        offset: usize,
    },
    /// A key out of canonical order.
    #[error(
        "key `{key}` at byte offset {offset} is out of order; the order is producer, ingress_preimage_sha256, timestamp, merkle_root"
    )]
    Order {
        /// The key.
        key: &'static str,
        /// Byte offset.
        offset: usize,
    },
    /// A required key is absent.
    #[error("required key `{0}` is missing")]
    Missing(&'static str),
    /// A value that is not a JSON string.
    #[error("field `{key}` at byte offset {offset} is not a string; every v1.2 value is a string")]
    NotString {
        /// The key.
        key: &'static str,
        /// Byte offset of the value.
        offset: usize,
    },
    /// A string that is not valid JSON or not in minimal-escape form.
    #[error("field `{key}` at byte offset {offset} is not a canonical JSON string ({why})")]
    BadString {
        /// The key (or `key` for a key string).
        key: &'static str,
        /// Byte offset of the string.
        offset: usize,
        /// What is wrong.
        why: String,
    },
    /// `producer` is empty.
    #[error("field `producer` is empty; it names the tool and version")]
    EmptyProducer,
    /// A digest field is not 64 lowercase hex.
    #[error("field `{key}` is not a lowercase 64-hex SHA-256: {source}")]
    Hex {
        /// The key.
        key: &'static str,
        /// Why.
        source: HexError,
    },
    /// The timestamp is malformed or not a real instant.
    #[error("field `timestamp`: {0}")]
    Timestamp(TimestampError),
}

const KEYS: [&str; 4] = [
    "producer",
    "ingress_preimage_sha256",
    "timestamp",
    "merkle_root",
];

/// Appends `s` as a JSON string with the minimal escapes of RFC 8785.
fn push_json_string(out: &mut Vec<u8>, s: &str) {
    // serde_json escapes exactly `"`, `\` and U+0000..U+001F (with \b \f \n \r \t short
    // forms and lowercase \u00xx otherwise), which is the RFC 8785 rule.
    out.extend_from_slice(
        serde_json::to_string(s)
            .expect("a str always serializes")
            .as_bytes(),
    );
}

impl Manifest {
    /// The canonical bytes. This is the only way a manifest is written.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        out.extend_from_slice(b"{\"producer\":");
        push_json_string(&mut out, &self.producer);
        if let Some(d) = &self.ingress_preimage_sha256 {
            out.extend_from_slice(b",\"ingress_preimage_sha256\":\"");
            out.extend_from_slice(d.to_hex().as_bytes());
            out.push(b'"');
        }
        out.extend_from_slice(b",\"timestamp\":\"");
        out.extend_from_slice(self.timestamp.to_string().as_bytes());
        out.extend_from_slice(b"\",\"merkle_root\":\"");
        out.extend_from_slice(self.merkle_root.to_hex().as_bytes());
        out.extend_from_slice(b"\"}");
        out
    }

    /// SHA-256 of the canonical bytes.
    pub fn sha256(&self) -> Digest {
        Digest::of(&self.to_bytes())
    }

    /// Parses canonical manifest bytes and nothing else.
    ///
    /// # Errors
    /// [`ManifestError`], one sentence naming the field or byte offset.
    pub fn parse(bytes: &[u8]) -> Result<Manifest, ManifestError> {
        if bytes.starts_with(&[0xEF, 0xBB, 0xBF]) {
            return Err(ManifestError::Bom);
        }
        let text =
            std::str::from_utf8(bytes).map_err(|e| ManifestError::NotUtf8(e.valid_up_to()))?;
        if text.is_empty() {
            return Err(ManifestError::Empty);
        }
        let mut p = Parser { s: text, pos: 0 };
        p.expect(b'{', "`{`")?;
        let mut values: [Option<(String, usize)>; 4] = Default::default();
        let mut last: Option<usize> = None;
        loop {
            let key_at = p.pos;
            p.peek_not_ws()?;
            if p.peek() != Some(b'"') {
                return Err(ManifestError::Expected {
                    expected: "a key string",
                    offset: key_at,
                });
            }
            let key = p.string("key")?;
            let idx =
                KEYS.iter()
                    .position(|k| *k == key)
                    .ok_or_else(|| ManifestError::UnknownKey {
                        key: key.clone(),
                        offset: key_at,
                    })?;
            if values[idx].is_some() {
                return Err(ManifestError::DuplicateKey {
                    key: KEYS[idx],
                    offset: key_at,
                });
            }
            if last.is_some_and(|l| l > idx) {
                return Err(ManifestError::Order {
                    key: KEYS[idx],
                    offset: key_at,
                });
            }
            last = Some(idx);
            p.expect(b':', "`:`")?;
            let value_at = p.pos;
            p.peek_not_ws()?;
            if p.peek() != Some(b'"') {
                return Err(ManifestError::NotString {
                    key: KEYS[idx],
                    offset: value_at,
                });
            }
            values[idx] = Some((p.string(KEYS[idx])?, value_at));
            p.peek_not_ws()?;
            match p.peek() {
                Some(b',') => p.pos += 1,
                Some(b'}') => {
                    p.pos += 1;
                    break;
                }
                _ => {
                    return Err(ManifestError::Expected {
                        expected: "`,` or `}`",
                        offset: p.pos,
                    });
                }
            }
        }
        if p.pos < bytes.len() {
            return Err(match bytes[p.pos] {
                b'\n' | b'\r' => ManifestError::TrailingNewline(p.pos),
                b' ' | b'\t' => ManifestError::Whitespace(p.pos),
                _ => ManifestError::TrailingBytes(p.pos),
            });
        }
        let [producer, ingress, timestamp, merkle_root] = values;
        let (producer, _) = producer.ok_or(ManifestError::Missing("producer"))?;
        let (timestamp, _) = timestamp.ok_or(ManifestError::Missing("timestamp"))?;
        let (merkle_root, _) = merkle_root.ok_or(ManifestError::Missing("merkle_root"))?;
        if producer.is_empty() {
            return Err(ManifestError::EmptyProducer);
        }
        let hex = |key: &'static str, v: &str| {
            Digest::from_hex(v).map_err(|source| ManifestError::Hex { key, source })
        };
        let manifest = Manifest {
            ingress_preimage_sha256: ingress
                .map(|(v, _)| hex("ingress_preimage_sha256", &v))
                .transpose()?,
            timestamp: Timestamp::parse(&timestamp).map_err(ManifestError::Timestamp)?,
            merkle_root: hex("merkle_root", &merkle_root)?,
            producer,
        };
        // Everything structural is checked above; what remains is the spelling of strings
        // (an escape where none is needed), which only a byte comparison can see.
        if manifest.to_bytes() != bytes {
            let mut canon = Vec::new();
            push_json_string(&mut canon, &manifest.producer);
            return Err(ManifestError::BadString {
                key: "producer",
                offset: "{\"producer\":".len(),
                why: format!(
                    "its canonical spelling is {}",
                    String::from_utf8_lossy(&canon)
                ),
            });
        }
        Ok(manifest)
    }
}

struct Parser<'a> {
    s: &'a str,
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.pos).copied()
    }

    /// Fails on whitespace at the cursor (the canonical form has none anywhere).
    fn peek_not_ws(&self) -> Result<(), ManifestError> {
        match self.peek() {
            Some(b' ' | b'\t' | b'\n' | b'\r') => Err(ManifestError::Whitespace(self.pos)),
            None => Err(ManifestError::Expected {
                expected: "more input (the manifest is truncated)",
                offset: self.pos,
            }),
            _ => Ok(()),
        }
    }

    fn expect(&mut self, b: u8, what: &'static str) -> Result<(), ManifestError> {
        self.peek_not_ws()?;
        if self.peek() == Some(b) {
            self.pos += 1;
            Ok(())
        } else {
            Err(ManifestError::Expected {
                expected: what,
                offset: self.pos,
            })
        }
    }

    /// Reads one JSON string starting at the cursor (which is on `"`).
    fn string(&mut self, key: &'static str) -> Result<String, ManifestError> {
        let start = self.pos;
        let bytes = self.s.as_bytes();
        let mut i = start + 1;
        loop {
            match bytes.get(i) {
                None => {
                    return Err(ManifestError::BadString {
                        key,
                        offset: start,
                        why: "unterminated string".into(),
                    });
                }
                Some(b'\\') => i += 2,
                Some(b'"') => break,
                Some(_) => i += 1,
            }
        }
        let raw = &self.s[start..=i];
        self.pos = i + 1;
        serde_json::from_str::<String>(raw).map_err(|e| ManifestError::BadString {
            key,
            offset: start,
            why: e.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The monograph's worked test vector (v1.2).
    pub(crate) const VECTOR: &str = r#"{"producer":"tau-crystal 1.2.0","ingress_preimage_sha256":"b6d81b360a5672d80c27430f39153e2c9f4f2d1aab7f6fb2c6f2f0b98e2acb28","timestamp":"2025-09-11T15:00:00Z","merkle_root":"0f1e2d3c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff0"}"#;

    #[test]
    fn monograph_test_vector_hashes_parses_and_round_trips() {
        assert_eq!(
            Digest::of(VECTOR.as_bytes()).to_hex(),
            "f5db69aa83a74d8f774ec3e54a12da5359a37df782821c274268429c1f373b86"
        );
        let m = Manifest::parse(VECTOR.as_bytes()).unwrap();
        assert_eq!(m.producer, "tau-crystal 1.2.0");
        assert_eq!(m.to_bytes(), VECTOR.as_bytes());
        assert_eq!(
            m.sha256().to_hex(),
            "f5db69aa83a74d8f774ec3e54a12da5359a37df782821c274268429c1f373b86"
        );
    }

    #[test]
    fn optional_ingress_is_skipped_when_absent() {
        let mut m = Manifest::parse(VECTOR.as_bytes()).unwrap();
        m.ingress_preimage_sha256 = None;
        let b = m.to_bytes();
        assert!(b.starts_with(br#"{"producer":"tau-crystal 1.2.0","timestamp":"#));
        assert_eq!(Manifest::parse(&b).unwrap(), m);
    }

    fn err(s: &str) -> ManifestError {
        Manifest::parse(s.as_bytes()).unwrap_err()
    }

    #[test]
    fn refuses_every_deviation_with_a_named_reason() {
        let v = VECTOR;
        let mut bom = vec![0xEF, 0xBB, 0xBF];
        bom.extend_from_slice(v.as_bytes());
        assert_eq!(Manifest::parse(&bom).unwrap_err(), ManifestError::Bom);
        assert!(matches!(
            err(&format!("{v}\n")),
            ManifestError::TrailingNewline(_)
        ));
        assert!(matches!(
            err(&format!("{v} ")),
            ManifestError::Whitespace(_)
        ));
        assert!(matches!(
            err(&v.replacen(":", ": ", 1)),
            ManifestError::Whitespace(12)
        ));
        assert!(matches!(
            err(&v.replacen("{", "{ ", 1)),
            ManifestError::Whitespace(1)
        ));
        assert!(matches!(
            err(&v.replacen(",", " ,", 1)),
            ManifestError::Whitespace(_)
        ));
        assert!(matches!(err(""), ManifestError::Empty));
        // Key order.
        let swapped = r#"{"producer":"p","merkle_root":"0f1e2d3c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff0","timestamp":"2025-09-11T15:00:00Z"}"#;
        assert!(matches!(
            err(swapped),
            ManifestError::Order {
                key: "timestamp",
                ..
            }
        ));
        // Unknown, duplicate, missing.
        assert!(matches!(
            err(&v.replacen("\"producer\"", "\"producers\"", 1)),
            ManifestError::UnknownKey { .. }
        ));
        let dup = r#"{"producer":"p","producer":"q","timestamp":"2025-09-11T15:00:00Z","merkle_root":"0f1e2d3c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff0"}"#;
        assert!(matches!(
            err(dup),
            ManifestError::DuplicateKey {
                key: "producer",
                ..
            }
        ));
        let missing = r#"{"producer":"p","timestamp":"2025-09-11T15:00:00Z"}"#;
        assert_eq!(err(missing), ManifestError::Missing("merkle_root"));
        // Hex: uppercase and short.
        assert!(matches!(
            err(&v.replace("0f1e2d3c4b", "0F1E2D3C4B")),
            ManifestError::Hex {
                key: "merkle_root",
                ..
            }
        ));
        assert!(matches!(
            err(&v.replace("eeff0\"}", "eeff\"}")),
            ManifestError::Hex {
                key: "merkle_root",
                ..
            }
        ));
        // Timestamps.
        assert!(matches!(
            err(&v.replace("2025-09-11T15:00:00Z", "2025-09-11T15:00:00+00:00")),
            ManifestError::Timestamp(TimestampError::Form(_))
        ));
        assert!(matches!(
            err(&v.replace("2025-09-11T15:00:00Z", "2025-02-30T15:00:00Z")),
            ManifestError::Timestamp(TimestampError::NotAnInstant(_))
        ));
        // Non-string values.
        assert!(matches!(
            err(&v.replace("\"tau-crystal 1.2.0\"", "12")),
            ManifestError::NotString {
                key: "producer",
                ..
            }
        ));
        assert!(matches!(
            err(&v.replace("\"tau-crystal 1.2.0\"", "null")),
            ManifestError::NotString {
                key: "producer",
                ..
            }
        ));
        // Unnecessary escape: same meaning, other bytes.
        assert!(matches!(
            err(&v.replace("tau-crystal", "tau\\u002dcrystal")),
            ManifestError::BadString {
                key: "producer",
                ..
            }
        ));
        assert!(matches!(
            err(&v[..v.len() - 1]),
            ManifestError::Expected { .. }
        ));
    }

    #[test]
    fn every_error_message_is_one_sentence() {
        for e in [
            err(""),
            err("{\"x\":\"y\"}"),
            err(&format!("{VECTOR}\n")),
            err(&VECTOR.replace("0f1e", "0F1E")),
        ] {
            let m = e.to_string();
            assert!(!m.contains('\n') && !m.ends_with('.'), "{m}");
        }
    }

    #[test]
    fn producer_with_characters_that_need_escapes_round_trips() {
        let m = Manifest {
            producer: "tool \"x\"\\ 1.0\u{1}é".into(),
            ingress_preimage_sha256: None,
            timestamp: Timestamp::from_unix(0).unwrap(),
            merkle_root: Digest::of(b""),
        };
        let b = m.to_bytes();
        assert!(String::from_utf8_lossy(&b).contains(r#""tool \"x\"\\ 1.0\u0001é""#));
        assert_eq!(Manifest::parse(&b).unwrap(), m);
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        fn manifest() -> impl Strategy<Value = Manifest> {
            (
                "\\PC{1,40}|[\\x00-\\x7f]{1,20}",
                proptest::option::of(any::<[u8; 32]>()),
                -62_167_219_200i64..=253_402_300_799,
                any::<[u8; 32]>(),
            )
                .prop_map(|(producer, ingress, t, root)| Manifest {
                    producer,
                    ingress_preimage_sha256: ingress.map(Digest),
                    timestamp: Timestamp::from_unix(t).unwrap(),
                    merkle_root: Digest(root),
                })
        }

        proptest! {
            #[test]
            fn any_manifest_round_trips_byte_for_byte(m in manifest()) {
                let b = m.to_bytes();
                prop_assert_eq!(Manifest::parse(&b).unwrap(), m.clone());
                prop_assert_eq!(Manifest::parse(&b).unwrap().to_bytes(), b);
            }

            #[test]
            fn any_inserted_whitespace_is_refused(m in manifest(), at in any::<prop::sample::Index>(), ws in prop::sample::select(vec![b' ', b'\t', b'\n', b'\r'])) {
                let mut b = m.to_bytes();
                let i = at.index(b.len() + 1);
                b.insert(i, ws);
                // Inside the producer string a raw space is content, not whitespace: that
                // manifest is a different, valid one. Everywhere else it must be refused.
                if let Ok(other) = Manifest::parse(&b) {
                    prop_assert_ne!(other, m);
                    prop_assert_eq!(ws, b' ');
                }
            }
        }
    }
}
