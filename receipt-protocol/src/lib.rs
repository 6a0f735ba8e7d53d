//! The build-receipt protocol (docs/SPEC.md §2–§7): the v1.2 manifest, the tracked set's
//! leaf model and file proofs, the receipt, its assembly from a producer's facts, the
//! hash-chained ledger and every check of its verification.
//!
//! Each module names the SPEC section it implements. The primitives (digests, canonical
//! JSON, Merkle trees, timestamps, the check vocabulary) are `receipt-primitives`; scanning
//! a source tree is `receipt-scan`.
#![deny(missing_docs)]

pub mod assemble;
#[cfg(feature = "cli")]
pub mod cli;
pub mod exit;
pub mod layout;
pub mod ledger;
pub mod limits;
pub mod manifest;
pub mod policy;
pub mod proof;
pub mod provenance;
pub mod receipt;
pub mod tracked;
pub mod verify;

pub use ledger::sign;

pub use receipt_primitives::{Digest, Timestamp};
