//! Evidence for run receipts: values a run wants to keep beside its ledger, redacted before
//! they are persisted, stored content-addressed, sealed (encrypted) when asked, expired by a
//! retention policy with a tombstone left behind, and verified from the references a ledger
//! holds.
#![deny(missing_docs)]

pub mod backend;
pub mod blob;
pub mod key;
pub mod policy;
pub mod redact;
pub mod retention;
pub mod seal;
pub mod store;
pub mod verify;
