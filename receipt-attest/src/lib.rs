//! Signed receipts: key files, DSSE envelopes, in-toto Statement v1 with the SLSA Provenance
//! v1 predicate, C2SP signed notes and transparency-log checkpoints, RFC 9162 consistency and
//! inclusion proofs, and a persisted append-only Merkle tree of the chain.
//!
//! Every format here is a published standard, written and read byte for byte so that the
//! ecosystem's own verifiers (securesystemslib, in-toto-attestation, Go's `sumdb/note`,
//! transparency-dev/merkle) accept what this crate writes. The layouts this project adds on
//! top (file names, the tree store, the proof document) are in `docs/SPEC.md`.
//!
//! No cryptography is implemented here: Ed25519 is `ed25519-dalek`, ECDSA P-256 is `p256`,
//! key encodings are `pkcs8`/`spki`, SHA-256 is `receipt-primitives` (`sha2`).
#![deny(missing_docs)]

mod b64;
pub mod checkpoint;
pub mod consistency;
pub mod dsse;
pub mod intoto;
pub mod keys;
pub mod nodes;
pub mod note;
pub mod tree;

pub use keys::{KeyId, PublicKey, SigningKey};
