//! Transparency-log checkpoints (<https://c2sp.org/tlog-checkpoint>): the signed-note text
//! naming a log, its size and its RFC 6962 root.
//!
//! ```text
//! <origin>                       non-empty; this crate writes no white space and no '+'
//! <tree size>                    ASCII decimal, no leading zeros ("0" for the empty tree)
//! <base64 root hash>             RFC 4648 §4, 32 bytes
//! [<extension line>…]            optional, each non-empty
//! ```
//!
//! every line ending in LF. The checkpoint is signed as a note ([`crate::note`]) whose key
//! name is the origin, as the checkpoint spec recommends; [`Checkpoint::open`] therefore
//! needs only the public keys.

use receipt_primitives::Digest;
use receipt_primitives::check::echo;

use crate::b64;
use crate::keys::{KeyId, PublicKey, SigningKey};
use crate::note::{self, NoteError, NoteSigner, NoteVerifier, is_valid_key_name};

/// The origin prefix this project proposes: `receipt/` followed by the lowercase hex SHA-256
/// of the chain's first receipt file, which names one chain for good.
pub const ORIGIN_PREFIX: &str = "receipt/";

/// The origin of the checkpoints of the chain whose first receipt file has SHA-256 `first`.
pub fn origin_for_chain(first: &Digest) -> String {
    format!("{ORIGIN_PREFIX}{first}")
}

/// A checkpoint body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's identity.
    pub origin: String,
    /// The number of leaves.
    pub size: u64,
    /// The RFC 6962 root of those leaves.
    pub root: Digest,
    /// Extension lines (not recommended; this project writes none).
    pub extensions: Vec<String>,
}

/// Why a checkpoint could not be made, read or verified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    /// The note layer refused it (form or signatures).
    #[error(transparent)]
    Note(#[from] NoteError),
    /// The text has fewer than three lines or does not end in LF.
    #[error(
        "a checkpoint needs at least three lines (origin, size, root), each ending in a newline"
    )]
    Lines,
    /// An empty origin, or (when writing or verifying with keys) one that is not a key name.
    #[error("the origin line {0:?} is empty or contains white space or '+'")]
    Origin(String),
    /// The size line is not a decimal number without leading zeros.
    #[error("the tree size line {0:?} is not a decimal number without leading zeros")]
    Size(String),
    /// The root line is not base64 of 32 bytes.
    #[error("the root hash line {0:?} is not base64 of 32 bytes")]
    Root(String),
    /// An empty extension line.
    #[error("extension line {0} is empty")]
    Extension(usize),
    /// A checkpoint of another log.
    #[error("the checkpoint is of log {found:?}, not of this chain ({expected:?})")]
    OtherLog {
        /// The checkpoint's origin (cut to 200 characters).
        found: String,
        /// This chain's origin.
        expected: String,
    },
    /// A checkpoint of more leaves than the chain has: the chain was cut back.
    #[error(
        "the checkpoint covers {size} receipts but the chain has only {chain}: receipts were removed"
    )]
    Beyond {
        /// The checkpoint's size.
        size: u64,
        /// The chain's length.
        chain: u64,
    },
    /// The chain's first `size` receipts do not give the checkpoint's root.
    #[error(
        "the first {size} receipts of the chain do not give the checkpoint's root: the chain was rewritten"
    )]
    Rewritten {
        /// The checkpoint's size.
        size: u64,
    },
}

/// The leaf of the chain's tree for a receipt file with SHA-256 `receipt_sha256`: the
/// RFC 6962 leaf hash of its 32 raw bytes.
pub fn chain_leaf(receipt_sha256: &Digest) -> Digest {
    receipt_primitives::merkle::leaf_hash(&receipt_sha256.0)
}

impl Checkpoint {
    /// The note text.
    ///
    /// # Errors
    /// [`CheckpointError::Origin`] for an origin that is not a key name,
    /// [`CheckpointError::Extension`] for an empty or multi-line extension.
    pub fn to_text(&self) -> Result<String, CheckpointError> {
        if !is_valid_key_name(&self.origin) || self.origin.bytes().any(|b| b < 0x20) {
            return Err(CheckpointError::Origin(echo(&self.origin)));
        }
        let mut s = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            b64::encode(&self.root.0)
        );
        for (i, e) in self.extensions.iter().enumerate() {
            if e.is_empty() || e.bytes().any(|b| b < 0x20) {
                return Err(CheckpointError::Extension(i + 1));
            }
            s.push_str(e);
            s.push('\n');
        }
        Ok(s)
    }

    /// Parses a checkpoint body strictly.
    ///
    /// # Errors
    /// [`CheckpointError`] naming the line.
    pub fn parse(text: &str) -> Result<Checkpoint, CheckpointError> {
        let body = text.strip_suffix('\n').ok_or(CheckpointError::Lines)?;
        let mut lines = body.split('\n');
        let (Some(origin), Some(size), Some(root)) = (lines.next(), lines.next(), lines.next())
        else {
            return Err(CheckpointError::Lines);
        };
        if origin.is_empty() || origin.bytes().any(|b| b < 0x20) {
            return Err(CheckpointError::Origin(echo(origin)));
        }
        let size_ok = !size.is_empty()
            && size.bytes().all(|b| b.is_ascii_digit())
            && (size == "0" || !size.starts_with('0'));
        let size_n: u64 = size
            .parse()
            .ok()
            .filter(|_| size_ok)
            .ok_or_else(|| CheckpointError::Size(echo(size)))?;
        let root_bytes: [u8; 32] = b64::decode_strict(root)
            .and_then(|r| r.try_into().ok())
            .ok_or_else(|| CheckpointError::Root(echo(root)))?;
        let mut extensions = Vec::new();
        for (i, e) in lines.enumerate() {
            if e.is_empty() {
                return Err(CheckpointError::Extension(i + 1));
            }
            extensions.push(e.to_owned());
        }
        Ok(Checkpoint {
            origin: origin.to_owned(),
            size: size_n,
            root: Digest(root_bytes),
            extensions,
        })
    }

    /// Signs the checkpoint with every key, each under the origin as key name, and returns
    /// the signed note's bytes.
    ///
    /// # Errors
    /// [`CheckpointError`] for an unwritable checkpoint or no keys.
    pub fn sign(&self, keys: &[&SigningKey]) -> Result<Vec<u8>, CheckpointError> {
        let text = self.to_text()?;
        let signers = keys
            .iter()
            .map(|k| NoteSigner::new(&self.origin, k))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(note::sign(&text, &signers)?)
    }

    /// Verifies a signed checkpoint against public keys, taking the key name from the
    /// checkpoint's own origin line (the name is part of each key id, so a signature under
    /// any other name is by an unknown key).
    ///
    /// # Errors
    /// [`CheckpointError`]: malformed, wrongly signed, or signed by none of `keys`.
    pub fn open(
        bytes: &[u8],
        keys: &[PublicKey],
    ) -> Result<(Checkpoint, Vec<KeyId>), CheckpointError> {
        let unverified = note::Note::parse(bytes)?;
        let origin = unverified.text().split('\n').next().unwrap_or_default();
        if !is_valid_key_name(origin) {
            return Err(CheckpointError::Origin(echo(origin)));
        }
        let verifiers = keys
            .iter()
            .map(|k| NoteVerifier::new(origin, k))
            .collect::<Result<Vec<_>, _>>()?;
        Checkpoint::open_with(bytes, &verifiers)
    }

    /// Checks that this (verified) checkpoint is a tree head of the chain whose leaves are
    /// `leaves` ([`chain_leaf`] of every `chain.head` line, in order) and whose origin is
    /// `origin`: same log, no more receipts than the chain has, and the root of the first
    /// `size` leaves. This is the whole of `verify --since`, and with `size == leaves.len()`
    /// the check of the ledger's own `checkpoint`.
    ///
    /// # Errors
    /// [`CheckpointError::OtherLog`], [`CheckpointError::Beyond`] (receipts removed) or
    /// [`CheckpointError::Rewritten`].
    pub fn check_prefix_of(&self, origin: &str, leaves: &[Digest]) -> Result<(), CheckpointError> {
        if self.origin != origin {
            return Err(CheckpointError::OtherLog {
                found: echo(&self.origin),
                expected: origin.to_owned(),
            });
        }
        let size = usize::try_from(self.size).unwrap_or(usize::MAX);
        if size > leaves.len() {
            return Err(CheckpointError::Beyond {
                size: self.size,
                chain: leaves.len() as u64,
            });
        }
        if receipt_primitives::merkle::root(&leaves[..size]) != self.root {
            return Err(CheckpointError::Rewritten { size: self.size });
        }
        Ok(())
    }

    /// Verifies a signed checkpoint against note verifier keys.
    ///
    /// # Errors
    /// As [`Checkpoint::open`].
    pub fn open_with(
        bytes: &[u8],
        verifiers: &[NoteVerifier],
    ) -> Result<(Checkpoint, Vec<KeyId>), CheckpointError> {
        let opened = note::open(bytes, verifiers)?;
        let cp = Checkpoint::parse(&opened.text)?;
        let mut ids: Vec<KeyId> = opened.verified_by.iter().map(|v| v.2).collect();
        ids.sort();
        ids.dedup();
        Ok((cp, ids))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spec_example_body_parses_and_round_trips() {
        // c2sp.org/tlog-checkpoint, the example at the top.
        let text =
            "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
        let cp = Checkpoint::parse(text).unwrap();
        assert_eq!(cp.origin, "example.com/behind-the-sofa");
        assert_eq!(cp.size, 20_852_163);
        assert_eq!(cp.to_text().unwrap(), text);
        // The full signed example also has the note shape (the log's key is not published,
        // so its signature is by an unknown key).
        let signed = format!(
            "{text}\n\u{2014} example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
        );
        let n = note::Note::parse(signed.as_bytes()).unwrap();
        assert_eq!(n.text(), text);
        assert_eq!(n.signatures()[0].key_id, 0x033de0ae);
        let k = SigningKey::ed25519_from_seed(&[1; 32]);
        assert!(matches!(
            Checkpoint::open(signed.as_bytes(), &[k.public_key().clone()]),
            Err(CheckpointError::Note(NoteError::NoKnownSignature(_)))
        ));
    }

    #[test]
    fn a_rolled_back_or_rewritten_chain_fails_against_an_old_checkpoint() {
        let receipts: Vec<Digest> = (0u32..10).map(|i| Digest::of(&i.to_be_bytes())).collect();
        let leaves: Vec<Digest> = receipts.iter().map(chain_leaf).collect();
        let origin = origin_for_chain(&receipts[0]);
        let old = Checkpoint {
            origin: origin.clone(),
            size: 7,
            root: receipt_primitives::merkle::root(&leaves[..7]),
            extensions: vec![],
        };
        old.check_prefix_of(&origin, &leaves).unwrap();
        old.check_prefix_of(&origin, &leaves[..7]).unwrap();
        assert_eq!(
            old.check_prefix_of(&origin, &leaves[..6]),
            Err(CheckpointError::Beyond { size: 7, chain: 6 })
        );
        let mut rewritten = leaves.clone();
        rewritten[3] = chain_leaf(&Digest::of(b"edited receipt"));
        assert_eq!(
            old.check_prefix_of(&origin, &rewritten),
            Err(CheckpointError::Rewritten { size: 7 })
        );
        assert!(matches!(
            old.check_prefix_of("receipt/other", &leaves),
            Err(CheckpointError::OtherLog { .. })
        ));
    }

    #[test]
    fn strict_lines() {
        let root = b64::encode(&[0u8; 32]);
        for bad in [
            format!("o\n01\n{root}\n"),
            format!("o\n\n{root}\n"),
            format!("o\n-1\n{root}\n"),
            format!("o\n+1\n{root}\n"),
            format!("o\n1 \n{root}\n"),
            format!("o\n18446744073709551616\n{root}\n"),
            format!("o\n1\n{}\n", b64::encode(&[0u8; 31])),
            format!("o\n1\n{}\n", root.trim_end_matches('=')),
            format!("o\n1\n{root}"),
            format!("o\n1\n{root}\n\n"),
            format!("\n1\n{root}\n"),
            "o\n1\n".to_owned(),
        ] {
            assert!(Checkpoint::parse(&bad).is_err(), "{bad:?}");
        }
        let ok = Checkpoint::parse(&format!("o\n0\n{root}\next one\n")).unwrap();
        assert_eq!(ok.size, 0);
        assert_eq!(ok.extensions, ["ext one"]);
        let max = Checkpoint::parse(&format!("o\n18446744073709551615\n{root}\n")).unwrap();
        assert_eq!(max.size, u64::MAX);
    }

    #[test]
    fn signed_checkpoints_verify_with_their_key_and_no_other() {
        let k = SigningKey::ed25519_from_seed(&[21; 32]);
        let p = SigningKey::p256_from_scalar(&[22; 32]).unwrap();
        let other = SigningKey::ed25519_from_seed(&[23; 32]);
        let cp = Checkpoint {
            origin: origin_for_chain(&Digest::of(b"first receipt")),
            size: 7,
            root: Digest::of(b"root"),
            extensions: Vec::new(),
        };
        let signed = cp.sign(&[&k, &p]).unwrap();
        let (got, ids) = Checkpoint::open(&signed, &[k.public_key().clone()]).unwrap();
        assert_eq!(got, cp);
        assert_eq!(ids, [k.key_id()]);
        let (_, ids) =
            Checkpoint::open(&signed, &[p.public_key().clone(), k.public_key().clone()]).unwrap();
        assert_eq!(ids.len(), 2);
        // A checkpoint signed by another key fails.
        let forged = cp.sign(&[&other]).unwrap();
        assert!(matches!(
            Checkpoint::open(&forged, &[k.public_key().clone()]),
            Err(CheckpointError::Note(NoteError::NoKnownSignature(_)))
        ));
        // Every byte flip fails.
        let single = cp.sign(&[&k]).unwrap();
        for i in 0..single.len() {
            for bit in 0..8 {
                let mut m = single.clone();
                m[i] ^= 1 << bit;
                assert!(
                    Checkpoint::open(&m, &[k.public_key().clone()]).is_err(),
                    "flip of bit {bit} at byte {i} accepted"
                );
            }
        }
    }
}
