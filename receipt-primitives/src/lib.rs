//! The primitives every receipt format is built from: SHA-256 digests and their hex form,
//! RFC 8785 canonical JSON, a two-lane SHA-256 kernel, RFC 6962 Merkle trees and proofs,
//! protocol timestamps, crash-safe file writes, and the one verification vocabulary.
//!
//! Nothing here knows a receipt, a ledger or a build: those are `receipt-protocol` (build
//! receipts) and `receipt-runtime` (run ledgers), both built on this crate.
#![deny(missing_docs)]

pub mod check;
pub mod confine;
pub mod digest;
pub mod fsutil;
pub mod jcs;
pub mod merkle;
pub mod sha256x2;
pub mod time;
#[cfg(feature = "toml")]
pub mod tomlfile;

pub use check::{Check, CheckId, Report, Verdict};
pub use digest::Digest;
pub use time::Timestamp;
