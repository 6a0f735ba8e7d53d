//! Evidence inside a run: [`evidence`] redacts a value's canonical JSON, hashes it into a
//! blob reference and hands both to the ledger writer, which stores the blob in the run's
//! evidence store and writes an `EVIDENCE` entry carrying the reference, never the value
//! (docs/SPEC.md §16.9).
//!
//! On the calling thread: canonical JSON, redaction, one SHA-256 and a queue send. The
//! blob is written by the writer thread, before the `EVIDENCE` entry that names it.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use receipt_evidence::store::StoreError;
use receipt_evidence::verify::EvidenceRef;
pub use receipt_evidence::{Class, SealKey};
use receipt_evidence::{EvidenceStore, OpenOptions, Prepared, RedactionRecord, Redactor};
use serde_json::{Value, json};

/// The `type` of an `EVIDENCE` ledger entry.
pub const EVIDENCE_KIND: &str = "EVIDENCE";

/// The longest evidence key, in bytes.
pub const MAX_KEY_LEN: usize = 128;

/// Whether `key` is an evidence key: 1 to 128 of `[A-Za-z0-9._:/-]`.
pub fn is_key(key: &str) -> bool {
    (1..=MAX_KEY_LEN).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._:/-".contains(&b))
}

/// The default evidence store of a ledger `L`: the directory `L.evidence` beside it.
pub fn default_store(ledger: &Path) -> PathBuf {
    let mut s = ledger.as_os_str().to_owned();
    s.push(".evidence");
    PathBuf::from(s)
}

/// Why a value could not be kept as evidence.
#[derive(Debug, thiserror::Error)]
pub enum EvidenceError {
    /// No `ReceiptLayer` is installed in the current dispatcher.
    #[error(
        "no receipt run is recording: install a ReceiptLayer (or call receipt_runtime::init) first"
    )]
    NoRun,
    /// The calling thread is not inside a `#[receipt]` stage.
    #[error(
        "evidence is recorded inside a stage, and no #[receipt] stage is entered on this thread"
    )]
    NotInStage,
    /// The run has finalized.
    #[error("the run has finished; evidence can no longer be recorded")]
    Finished,
    /// The key is not 1 to 128 of `[A-Za-z0-9._:/-]`.
    #[error("evidence key {0:?} is not 1 to 128 characters of [A-Za-z0-9._:/-]")]
    BadKey(String),
    /// The value has no canonical JSON form.
    #[error("evidence {key:?} cannot be serialized as canonical JSON: {why}")]
    Serialize {
        /// The key.
        key: String,
        /// The serializer's message.
        why: String,
    },
    /// The redacted value is larger than a blob may be.
    #[error("evidence {key:?} is {size} bytes, more than the {max}-byte blob limit")]
    TooLarge {
        /// The key.
        key: String,
        /// Its size after redaction.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// A sealed value was given and the run has no evidence key.
    #[error(
        "sealed evidence {0:?} needs an evidence key: set RECEIPT_EVIDENCE_KEY or ReceiptLayerBuilder::evidence_key_file"
    )]
    NoKey(String),
    /// The evidence store could not be opened or created.
    #[error("the evidence store {location} could not be opened: {why}")]
    Store {
        /// Where it is.
        location: String,
        /// Why.
        why: String,
    },
}

/// Where a run keeps its evidence and how values are redacted; see
/// [`ReceiptLayerBuilder::evidence_store`](crate::ReceiptLayerBuilder::evidence_store).
#[derive(Debug, Clone)]
pub struct EvidenceConfig {
    /// A directory or `s3://bucket/prefix`; `None` for [`default_store`] of the ledger.
    pub location: Option<String>,
    /// The sealing key; `None` for `RECEIPT_EVIDENCE_KEY` when it is set.
    pub key: Option<SealKey>,
    /// The redactor (built-in detectors unless policy patterns were added).
    pub redactor: Arc<Redactor>,
}

impl Default for EvidenceConfig {
    fn default() -> Self {
        EvidenceConfig {
            location: None,
            key: None,
            redactor: Arc::new(Redactor::builtin()),
        }
    }
}

/// A run's evidence side: its settings and the store, opened at the first use.
#[derive(Debug)]
pub(crate) struct EvidenceSink {
    location: String,
    key: Option<SealKey>,
    redactor: Arc<Redactor>,
    store: OnceLock<Result<Arc<EvidenceStore>, String>>,
}

impl EvidenceSink {
    /// The sink of a run writing `ledger`; the key comes from the configuration, else from
    /// `RECEIPT_EVIDENCE_KEY`.
    pub(crate) fn new(
        config: EvidenceConfig,
        ledger: &Path,
    ) -> Result<Self, receipt_evidence::key::KeyError> {
        let key = match config.key {
            Some(k) => Some(k),
            None => SealKey::from_env()?,
        };
        Ok(EvidenceSink {
            location: config
                .location
                .unwrap_or_else(|| default_store(ledger).display().to_string()),
            key,
            redactor: config.redactor,
            store: OnceLock::new(),
        })
    }

    fn store(&self) -> Result<Arc<EvidenceStore>, EvidenceError> {
        let opened = self.store.get_or_init(|| {
            // With the `s3` feature the options have more fields.
            #[allow(clippy::needless_update)]
            let options = OpenOptions {
                create: true,
                ..OpenOptions::default()
            };
            EvidenceStore::open(&self.location, &options)
                .map(|s| match &self.key {
                    Some(k) => Arc::new(s.with_key(k.clone())),
                    None => Arc::new(s),
                })
                .map_err(|e: StoreError| e.to_string())
        });
        opened.clone().map_err(|why| EvidenceError::Store {
            location: self.location.clone(),
            why,
        })
    }

    /// Redacts and hashes `bytes` for `key` in stage `stage`: the item for the writer.
    pub(crate) fn prepare(
        &self,
        at: StageAt,
        key: &str,
        class: Class,
        bytes: &[u8],
    ) -> Result<EvidenceItem, EvidenceError> {
        if class == Class::Sealed && self.key.is_none() {
            return Err(EvidenceError::NoKey(key.to_owned()));
        }
        let store = self.store()?;
        let (prepared, redaction) = Prepared::redacted(class, bytes, &self.redactor);
        let max = receipt_evidence::blob::MAX_BLOB_BYTES;
        if prepared.size() > max {
            return Err(EvidenceError::TooLarge {
                key: key.to_owned(),
                size: prepared.size(),
                max,
            });
        }
        Ok(EvidenceItem {
            at,
            key: key.to_owned(),
            prepared,
            redaction,
            store,
        })
    }
}

/// Where and when evidence was recorded.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StageAt {
    pub(crate) stage: &'static str,
    pub(crate) stage_id: u64,
    pub(crate) t_ns: u64,
    pub(crate) thread: u64,
}

/// One value on its way to the writer: the blob to store and the entry to write.
#[derive(Debug)]
pub struct EvidenceItem {
    pub(crate) at: StageAt,
    pub(crate) key: String,
    pub(crate) prepared: Prepared,
    pub(crate) redaction: RedactionRecord,
    pub(crate) store: Arc<EvidenceStore>,
}

impl EvidenceItem {
    /// The stage the entry belongs to.
    pub fn stage(&self) -> &'static str {
        self.at.stage
    }

    /// The reference the ledger records.
    pub fn reference(&self) -> EvidenceRef {
        EvidenceRef {
            key: self.key.clone(),
            class: self.prepared.class(),
            blob: self.prepared.uri(),
            size: self.prepared.size(),
        }
    }

    /// The `EVIDENCE` payload (§16.9).
    pub fn payload(&self) -> Value {
        json!({
            "blob": self.prepared.uri().to_string(),
            "class": self.prepared.class().as_str(),
            "key": self.key,
            "redaction": self.redaction,
            "size": self.prepared.size(),
            "stage_id": self.at.stage_id,
            "t_ns": self.at.t_ns,
            "thread": self.at.thread,
        })
    }

    /// Writes the blob (idempotent), before the entry naming it is appended.
    ///
    /// # Errors
    /// The store's error.
    pub fn store_blob(&self) -> Result<(), StoreError> {
        self.store
            .put(&self.prepared, receipt_primitives::Timestamp::now())
            .map(|_| ())
    }

    /// Writes the blobs of `items` as one batch per store (one pair of filesystem syncs
    /// for a directory store), before the entries naming them are appended.
    ///
    /// # Errors
    /// The first store error.
    pub fn store_blobs(items: &[&EvidenceItem]) -> Result<(), StoreError> {
        let now = receipt_primitives::Timestamp::now();
        let mut rest: Vec<&EvidenceItem> = items.to_vec();
        while let Some(first) = rest.first() {
            let store = first.store.clone();
            let (same, other): (Vec<&EvidenceItem>, Vec<&EvidenceItem>) = rest
                .into_iter()
                .partition(|i| Arc::ptr_eq(&i.store, &store));
            let batch: Vec<Prepared> = same.iter().map(|i| i.prepared.clone()).collect();
            store.put_batch(&batch, now)?;
            rest = other;
        }
        Ok(())
    }
}

thread_local! {
    /// The `#[receipt]` stages entered on this thread, innermost last: (name, id).
    static ENTERED: RefCell<Vec<(&'static str, u64)>> = const { RefCell::new(Vec::new()) };
}

/// Notes that the stage `id` was entered on this thread.
pub(crate) fn stage_entered(stage: &'static str, id: u64) {
    ENTERED.with_borrow_mut(|s| s.push((stage, id)));
}

/// Notes that the stage `id` was exited on this thread.
pub(crate) fn stage_exited(id: u64) {
    ENTERED.with_borrow_mut(|s| {
        if let Some(at) = s.iter().rposition(|&(_, i)| i == id) {
            s.remove(at);
        }
    });
}

/// The innermost stage entered on this thread.
pub(crate) fn current_stage() -> Option<(&'static str, u64)> {
    ENTERED.with_borrow(|s| s.last().copied())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_short_and_plain() {
        assert!(is_key("config"));
        assert!(is_key("http.response/body:2"));
        assert!(!is_key(""));
        assert!(!is_key("a b"));
        assert!(!is_key(&"k".repeat(129)));
        assert!(is_key(&"k".repeat(128)));
    }

    #[test]
    fn the_default_store_sits_beside_the_ledger() {
        assert_eq!(
            default_store(Path::new("runs/a.jsonl")),
            PathBuf::from("runs/a.jsonl.evidence")
        );
    }
}
