//! The background ledger writer: turns queued records into canonical, hash-chained lines,
//! group-commits them, fsyncs by the durability policy, and writes the head and receipt.
//!
//! What instrumented code enqueues is in `message`, the queue and when a send wakes the
//! writer in `queue`, the canonical bytes of each payload in `encode`, and the writer's I/O
//! loop in `thread`.

mod encode;
mod message;
mod queue;
mod thread;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::receipt::RunReceipt;

pub(crate) use encode::start_payload;
pub(crate) use message::{ArgNames, Enter, FieldValue, HashField, Outcome, Record};
pub(crate) use queue::{Outbox, spawn};
pub(crate) use thread::Writer;

/// When the writer fsyncs the ledger (and rewrites the head file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Durability {
    /// Never fsync; the operating system decides when bytes reach the disk.
    Never,
    /// Fsync once, when the run is finalized (the default). The kernel is asked to start
    /// writing the ledger back every 8 MiB meanwhile, so the final fsync has little to do.
    #[default]
    OnFinalize,
    /// Fsync after every `n` entries, and at finalize.
    EveryN(u64),
    /// Fsync after every batch of entries (group commit): the writer appends whatever it
    /// took from the queue, then fsyncs once before taking more, so every entry is durable
    /// at most one fsync after the one in progress when it was queued. To be told that
    /// entries are durable, call [`crate::sync`] (or `ReceiptLayer::sync`).
    Always,
}

impl Durability {
    fn label(self) -> Value {
        match self {
            Durability::Never => json!("never"),
            Durability::OnFinalize => json!("on_finalize"),
            Durability::EveryN(n) => json!({ "every_n": n }),
            Durability::Always => json!("always"),
        }
    }
}

/// What a finished run left on disk.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// The ledger file.
    pub ledger: PathBuf,
    /// The receipt file.
    pub receipt_path: PathBuf,
    /// The receipt written.
    pub receipt: RunReceipt,
}

/// Why the writer could not complete the ledger.
#[derive(Debug, Clone, thiserror::Error)]
pub enum WriterError {
    /// Writing or syncing a file failed.
    #[error("{path}: {message}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error text.
        message: String,
    },
    /// A payload could not be canonicalized.
    #[error("{path}: entry {seq} has no canonical JSON form: {message}")]
    Canonical {
        /// The ledger.
        path: PathBuf,
        /// The entry's seq.
        seq: u64,
        /// The serializer's message.
        message: String,
    },
    /// An evidence blob could not be stored, so its entry was not written.
    #[error("evidence store {location}: {message}")]
    Evidence {
        /// The store.
        location: String,
        /// The store's error.
        message: String,
    },
    /// The run ended without a finalize record reaching the writer.
    #[error("{0}: the writer stopped before the run was finalized")]
    Stopped(PathBuf),
}
