//! Runtime receipts: a tracing Layer that writes a hash-chained run ledger and a verifiable
//! run receipt.
//!
//! Annotate functions with [`#[receipt]`](macro@receipt), start a run, and every call becomes a
//! stage in an append-only JSONL ledger (one RFC 8785 entry per line, each hash-chained to
//! the one before it), finished by a run receipt that pins the entry count, last hash, the
//! RFC 6962 Merkle root over entry hashes and a trajectory digest. [`verify::verify_run`]
//! checks all of it without re-running anything. The byte formats are in
//! `docs/SPEC.md` §10.
//!
//! ```no_run
//! use receipt_runtime::receipt;
//!
//! #[receipt(hash(text), hash_output)]
//! fn count_words(text: &str) -> usize {
//!     text.split_whitespace().count()
//! }
//!
//! # fn main() -> Result<(), receipt_runtime::RuntimeError> {
//! let run = receipt_runtime::init()?;
//! count_words("a b c");
//! let outcome = run.finish()?;
//! assert!(receipt_runtime::verify::verify_run(&outcome.ledger, None).ok());
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

pub mod alloc;
pub mod audit;
mod canon;
pub mod entry;
pub mod evidence;
pub mod export;
pub mod facts;
pub mod fields;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod graph;
pub mod invariants;
pub mod layer;
pub mod ledger;
pub mod measure;
pub mod receipt;
pub mod verify;
pub mod writer;

use std::path::PathBuf;

pub use evidence::{evidence, evidence_bytes};
pub use layer::{ReceiptLayer, ReceiptLayerBuilder, RunGuard, RunStatus, RuntimeError};
pub use receipt_macros::receipt;
pub use writer::{Durability, RunOutcome};

/// [`ReceiptLayer::sync`] for the run recording in the current dispatcher: returns once
/// every record queued before the call is in the ledger and, unless the policy is
/// [`Durability::Never`], fsynced, with the number of entries that holds for.
///
/// # Errors
/// [`RuntimeError::Config`] when no `ReceiptLayer` is installed; [`RuntimeError::Writer`]
/// when the writer has failed or the run has finished.
pub fn sync() -> Result<u64, RuntimeError> {
    let layer = tracing::dispatcher::get_default(|d| d.downcast_ref::<ReceiptLayer>().cloned());
    match layer {
        Some(l) => l.sync(),
        None => Err(RuntimeError::Config {
            field: "subscriber",
            reason: "no receipt run is recording: install a ReceiptLayer first".to_owned(),
        }),
    }
}

/// Starts a run with default settings and installs it as the global subscriber.
///
/// The ledger is `receipt-runs/<program>-<run id>.jsonl` under the current directory, or
/// under `$RECEIPT_RUN_DIR` when that is set; its receipt and head file sit beside it.
/// Keep the returned guard alive until the program ends: dropping it finalizes the run.
///
/// # Errors
/// [`RuntimeError::Ledger`] when the ledger cannot be created; [`RuntimeError::AlreadyInstalled`]
/// when a global subscriber exists (compose [`ReceiptLayer`] with it instead).
pub fn init() -> Result<RunGuard, RuntimeError> {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let dir = std::env::var_os("RECEIPT_RUN_DIR")
        .map_or_else(|| PathBuf::from("receipt-runs"), PathBuf::from);
    let run_id = layer::new_run_id();
    let program = layer::program_name();
    let ledger = dir.join(format!("{program}-{run_id}.jsonl"));
    let (layer, guard) = ReceiptLayer::builder(ledger)
        .run_id(run_id)
        .program(program)
        .build()?;
    tracing_subscriber::registry()
        .with(layer)
        .try_init()
        .map_err(|e| RuntimeError::AlreadyInstalled(e.to_string()))?;
    Ok(guard)
}

/// Support code for the `#[receipt]` expansion. Not a stable API.
#[doc(hidden)]
pub mod __private {
    use std::fmt::Display;

    pub use crate::evidence::{Class, evidence_arg};
    use serde_json::{Map, Value};
    pub use tracing;
    pub use tracing::Instrument;
    use tracing::Span;

    /// A value `#[receipt]` can hash: anything `serde::Serialize`.
    #[diagnostic::on_unimplemented(
        message = "`{Self}` cannot be hashed by `#[receipt]` because it does not implement `serde::Serialize`",
        label = "hashed by `#[receipt]`, so it must implement `serde::Serialize`",
        note = "derive `serde::Serialize` for it, or leave it out of `hash(..)`/`hash_output`"
    )]
    pub trait Hashable {
        /// The value as JSON.
        fn to_json(&self) -> Result<Value, String>;
    }

    impl<T: serde::Serialize + ?Sized> Hashable for T {
        fn to_json(&self) -> Result<Value, String> {
            serde_json::to_value(self).map_err(|e| e.to_string())
        }
    }

    fn hex_or_reason(v: Result<Value, String>) -> String {
        match v.and_then(|v| receipt_primitives::jcs::sha256(&v).map_err(|e| e.to_string())) {
            Ok(d) => d.to_hex(),
            Err(why) => format!("!{why}"),
        }
    }

    /// SHA-256 of the canonical JSON object `{"<name>": <value>, …}` of the hashed arguments.
    pub fn hash_inputs(items: &[(&str, Result<Value, String>)]) -> String {
        let mut map = Map::new();
        for (name, v) in items {
            match v {
                Ok(v) => {
                    map.insert((*name).to_owned(), v.clone());
                }
                Err(why) => return format!("!argument `{name}`: {why}"),
            }
        }
        hex_or_reason(Ok(Value::Object(map)))
    }

    /// Records the return value's hash on the stage span.
    pub fn record_output<T: Hashable + ?Sized>(span: &Span, value: &T) {
        if !span.is_disabled() {
            span.record(
                crate::fields::OUTPUT,
                hex_or_reason(value.to_json()).as_str(),
            );
        }
    }

    /// Records a successful outcome.
    pub fn record_ok(span: &Span) {
        span.record(crate::fields::OUTCOME, "ok");
    }

    /// Records a failed outcome with the error's `Display`.
    pub fn record_err<E: Display + ?Sized>(span: &Span, error: &E) {
        if !span.is_disabled() {
            span.record(crate::fields::OUTCOME, "err");
            span.record(crate::fields::ERROR, error.to_string().as_str());
        }
    }
}
