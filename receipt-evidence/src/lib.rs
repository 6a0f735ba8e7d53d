//! Evidence for run receipts: values a run wants to keep beside its ledger, redacted before
//! they are persisted, stored content-addressed (`blob://sha256:<hex>`), sealed (encrypted)
//! when asked, expired by a retention policy with a tombstone left behind, and verified from
//! the references a ledger holds.
//!
//! | Module | For |
//! |---|---|
//! | [`redact`] | the built-in secret detectors and policy patterns; `[REDACTED]` spans; the redaction record |
//! | [`blob`] | classes (`public`, `sealed`), blob URIs, [`Prepared`] (hashed bytes ready to store) |
//! | [`key`] | the 32-byte sealing key from a private key file or `RECEIPT_EVIDENCE_KEY` |
//! | [`seal`] | XChaCha20-Poly1305 `nonce ‖ ciphertext ‖ tag`, bound to the blob URI |
//! | [`store`] | the layout, metadata records, tombstones, `put`/`put_batch`/`get` |
//! | [`backend`] | a confined directory, or (feature `s3`) an S3-compatible bucket |
//! | [`policy`] | the TOML policy file: retention limits and redaction patterns |
//! | [`retention`] | `plan`/`gc`: expiry by age and by size, deterministic given `now` |
//! | [`verify`] | evidence references → `evidence.blob` checks |
//!
//! # Use from a runtime
//!
//! - Instrumented thread, per value: canonical bytes (the caller's), then
//!   [`Prepared::redacted`] (redaction and one SHA-256) or [`Prepared::new`] on bytes already
//!   redacted (one SHA-256, nothing else); record `(key, class, prepared.uri(),
//!   prepared.size(), record)` and enqueue the `Prepared`.
//! - I/O thread: [`EvidenceStore::put_batch`] with whatever is queued (or
//!   [`EvidenceStore::put`] one at a time).
//! - Verification: [`verify::verify_refs`] then [`verify::report`] (or
//!   [`verify::report_store_unavailable`] when the store cannot be opened).
//! - Retention: [`policy::EvidencePolicy::load`], then [`retention::plan`] (dry run) or
//!   [`retention::gc`].
//!
//! The formats are specified in `docs/SPEC.md` §16.
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

pub use blob::{BlobUri, Class, Prepared};
pub use key::SealKey;
pub use redact::{RedactionRecord, Redactor};
pub use store::{EvidenceStore, Fetched, OpenOptions, PutOutcome};
