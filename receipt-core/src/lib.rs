//! The receipt protocol: manifest v1.2, tracked-set Merkle root and proofs, receipts, the
//! chain head and their verification.
//!
//! Every binding format is specified in `docs/SPEC.md`; each module here names the section
//! it implements.
#![deny(missing_docs)]

pub mod digest;
pub mod fsutil;
pub mod git;
pub mod jcs;
pub mod ledger;
pub mod manifest;
pub mod merkle;
pub mod proof;
pub mod receipt;
pub mod sections;
pub mod sha256x2;
#[cfg(test)]
mod testutil;
pub mod time;
pub mod tracked;
pub mod verify;

pub use digest::Digest;
pub use time::Timestamp;
