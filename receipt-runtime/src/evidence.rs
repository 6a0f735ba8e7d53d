//! Evidence inside a run: [`evidence`] redacts a value's canonical JSON, hashes it into a
//! blob reference and hands both to the ledger writer, which stores the blob in the run's
//! evidence store and writes an `EVIDENCE` entry carrying the reference, never the value
//! (docs/SPEC.md §16.9).
//!
//! On the calling thread: the value's canonical JSON and a queue send. On the writer
//! thread: redaction, one SHA-256, the blob written (a batch at a time), then the
//! `EVIDENCE` entry that names it.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use receipt_evidence::store::StoreError;
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

    /// The item for the writer: `bytes` (a value's canonical JSON) kept under `key` in the
    /// stage call `at`. Everything that can be refused is refused here, on the calling
    /// thread; redaction and hashing happen on the writer thread.
    pub(crate) fn item(
        &self,
        at: StageAt,
        key: &str,
        class: Class,
        bytes: Vec<u8>,
    ) -> Result<EvidenceItem, EvidenceError> {
        if class == Class::Sealed && self.key.is_none() {
            return Err(EvidenceError::NoKey(key.to_owned()));
        }
        let max = receipt_evidence::blob::MAX_BLOB_BYTES;
        if bytes.len() as u64 > max {
            return Err(EvidenceError::TooLarge {
                key: key.to_owned(),
                size: bytes.len() as u64,
                max,
            });
        }
        Ok(EvidenceItem {
            at,
            key: key.to_owned(),
            class,
            bytes,
            store: self.store()?,
            redactor: self.redactor.clone(),
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

/// One value on its way to the writer thread, not yet redacted.
#[derive(Debug)]
pub(crate) struct EvidenceItem {
    at: StageAt,
    key: String,
    class: Class,
    bytes: Vec<u8>,
    store: Arc<EvidenceStore>,
    redactor: Arc<Redactor>,
}

impl EvidenceItem {
    /// Redacts and hashes the value (on the writer thread): the blob and its entry.
    pub(crate) fn redact(self) -> Evidence {
        let (prepared, redaction) = Prepared::redacted(self.class, &self.bytes, &self.redactor);
        Evidence {
            at: self.at,
            key: self.key,
            prepared,
            redaction,
            store: self.store,
        }
    }
}

/// A redacted, hashed value: the blob to store and the entry that names it.
#[derive(Debug)]
pub(crate) struct Evidence {
    at: StageAt,
    key: String,
    prepared: Prepared,
    redaction: RedactionRecord,
    store: Arc<EvidenceStore>,
}

impl Evidence {
    /// The stage the entry belongs to.
    pub(crate) fn stage(&self) -> &'static str {
        self.at.stage
    }

    /// The `EVIDENCE` payload (§16.9).
    pub(crate) fn payload(&self) -> Value {
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

    /// Stores the blobs of `items` (one `put_batch` per store: for a directory store, two
    /// filesystem syncs for the whole batch), before the entries naming them are appended.
    ///
    /// # Errors
    /// The store's location and error, as text, for the writer's error.
    pub(crate) fn store_all(items: &[Evidence]) -> Result<(), (String, StoreError)> {
        let now = receipt_primitives::Timestamp::now();
        let mut done = vec![false; items.len()];
        for i in 0..items.len() {
            if done[i] {
                continue;
            }
            let store = &items[i].store;
            let mut batch = Vec::new();
            for (j, it) in items.iter().enumerate().skip(i) {
                if !done[j] && Arc::ptr_eq(&it.store, store) {
                    done[j] = true;
                    batch.push(it.prepared.clone());
                }
            }
            store
                .put_batch(&batch, now)
                .map_err(|e| (store.location(), e))?;
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
