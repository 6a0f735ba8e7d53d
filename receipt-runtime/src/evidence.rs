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
}

/// An evidence value in the writer's queue: as queued, then redacted and hashed.
#[derive(Debug)]
pub(crate) enum EvidenceRecord {
    /// As the calling thread queued it.
    Queued(EvidenceItem),
    /// Redacted and hashed; its blob is stored once [`EvidenceRecord::store_all`] returned.
    Ready(Evidence),
    /// Taken apart midway (never seen outside `store_all`).
    Moved,
}

impl EvidenceRecord {
    /// Redacts and hashes every queued value of `records`, then stores their blobs (one
    /// `put_batch` per store: for a directory store, two filesystem syncs for the whole
    /// batch), before the entries naming them are appended.
    ///
    /// # Errors
    /// The store's location and error.
    pub(crate) fn store_all<'a>(
        records: impl Iterator<Item = &'a mut EvidenceRecord>,
    ) -> Result<(), (String, StoreError)> {
        let mut ready: Vec<&Evidence> = Vec::new();
        let mut records: Vec<&'a mut EvidenceRecord> = records.collect();
        for r in &mut records {
            if let EvidenceRecord::Queued(_) = r {
                let EvidenceRecord::Queued(item) = std::mem::replace(*r, EvidenceRecord::Moved)
                else {
                    unreachable!("matched as queued just above")
                };
                **r = EvidenceRecord::Ready(item.redact());
            }
        }
        for r in &records {
            if let EvidenceRecord::Ready(e) = &**r {
                ready.push(e);
            }
        }
        let now = receipt_primitives::Timestamp::now();
        let mut done = vec![false; ready.len()];
        for i in 0..ready.len() {
            if done[i] {
                continue;
            }
            let store = &ready[i].store;
            let mut batch = Vec::new();
            for (j, e) in ready.iter().enumerate().skip(i) {
                if !done[j] && Arc::ptr_eq(&e.store, store) {
                    done[j] = true;
                    batch.push(e.prepared.clone());
                }
            }
            store
                .put_batch(&batch, now)
                .map_err(|e| (store.location(), e))?;
        }
        Ok(())
    }

    /// The stage and payload of the `EVIDENCE` entry, once the value is ready.
    pub(crate) fn entry(&self) -> Option<(&'static str, Value)> {
        match self {
            EvidenceRecord::Ready(e) => Some((e.stage(), e.payload())),
            _ => None,
        }
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

/// Keeps `value` as evidence under `key` in the current stage: its canonical JSON (RFC
/// 8785) is redacted, hashed and stored as a blob of `class` in the run's evidence store,
/// and an `EVIDENCE` entry records the key, class, blob URI, size and redaction record.
///
/// The calling thread only serializes the value and queues it; redaction, hashing and the
/// write happen on the run's writer thread, the blob before the entry.
///
/// ```no_run
/// use receipt_runtime::{evidence::Class, receipt};
///
/// #[receipt]
/// fn call_api(url: &str) -> String {
///     let response = format!("fetched {url} with token=ghp_0123456789abcdefghijklmnopqrstuvwxyzAB");
///     // The token is redacted before the response is hashed and stored.
///     receipt_runtime::evidence("api.response", Class::Public, &response).unwrap();
///     response
/// }
/// ```
///
/// # Errors
/// [`EvidenceError`]: no run is recording, the thread is not inside a stage, the key or
/// value is refused, a sealed value without an evidence key, or the store cannot be
/// opened.
pub fn evidence<T: serde::Serialize + ?Sized>(
    key: &str,
    class: Class,
    value: &T,
) -> Result<(), EvidenceError> {
    if !is_key(key) {
        return Err(EvidenceError::BadKey(receipt_primitives::check::echo(key)));
    }
    let bytes = canonical(value).map_err(|e| EvidenceError::Serialize {
        key: key.to_owned(),
        why: e.to_string(),
    })?;
    record(key, class, bytes)
}

/// Scratch space for [`canonical`] larger than this is given back after use.
const SCRATCH_KEEP: usize = 64 * 1024;

thread_local! {
    /// Where this thread serializes evidence values before copying them out.
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// The canonical bytes of `value` in a vector of exactly their size. They are written into
/// this thread's scratch space first: growing a fresh vector instead reallocates and copies
/// several times, and leaves the queue holding twice the memory.
fn canonical<T: serde::Serialize + ?Sized>(
    value: &T,
) -> Result<Vec<u8>, receipt_primitives::jcs::JcsError> {
    SCRATCH.with(|scratch| {
        // A value whose serialization records evidence itself gets a vector of its own.
        let Ok(mut buf) = scratch.try_borrow_mut() else {
            return receipt_primitives::jcs::to_vec(value);
        };
        buf.clear();
        let written = receipt_primitives::jcs::write(&mut buf, value).map(|()| buf.to_vec());
        if buf.capacity() > SCRATCH_KEEP {
            *buf = Vec::new();
        }
        written
    })
}

/// [`evidence`] for bytes that are already what should be kept (they are still redacted).
///
/// # Errors
/// As [`evidence`].
pub fn evidence_bytes(key: &str, class: Class, bytes: &[u8]) -> Result<(), EvidenceError> {
    if !is_key(key) {
        return Err(EvidenceError::BadKey(receipt_primitives::check::echo(key)));
    }
    record(key, class, bytes.to_vec())
}

fn record(key: &str, class: Class, bytes: Vec<u8>) -> Result<(), EvidenceError> {
    let Some((stage, stage_id)) = current_stage() else {
        return Err(EvidenceError::NotInStage);
    };
    let mut bytes = Some(bytes);
    tracing::dispatcher::get_default(|d| {
        match (d.downcast_ref::<crate::ReceiptLayer>(), bytes.take()) {
            (Some(layer), Some(b)) => layer.record_evidence(stage, stage_id, key, class, b),
            _ => Err(EvidenceError::NoRun),
        }
    })
}

/// Why a run's evidence settings could not be used.
#[derive(Debug, thiserror::Error)]
pub enum EvidenceSetupError {
    /// The evidence key (file or `RECEIPT_EVIDENCE_KEY`) is not usable.
    #[error(transparent)]
    Key(#[from] receipt_evidence::key::KeyError),
    /// The evidence policy file is not usable.
    #[error(transparent)]
    Policy(#[from] receipt_evidence::policy::PolicyError),
}

impl crate::ReceiptLayerBuilder {
    /// Keeps evidence in this store: a directory, or `s3://bucket/prefix` with the `s3`
    /// feature (default: the directory `<ledger>.evidence`, created at the first evidence).
    pub fn evidence_store(mut self, location: impl Into<String>) -> Self {
        self.evidence.location = Some(location.into());
        self
    }

    /// Seals `sealed` evidence with this key (default: `RECEIPT_EVIDENCE_KEY`, when set).
    pub fn evidence_key(mut self, key: SealKey) -> Self {
        self.evidence.key = Some(key);
        self
    }

    /// Seals `sealed` evidence with the key in this file (mode 0600; see `SealKey::from_file`).
    ///
    /// # Errors
    /// [`EvidenceSetupError::Key`] when the file is not a usable key file.
    pub fn evidence_key_file(self, path: impl AsRef<Path>) -> Result<Self, EvidenceSetupError> {
        Ok(self.evidence_key(SealKey::from_file(path.as_ref())?))
    }

    /// Redacts evidence with the built-in detectors and the patterns of this policy.
    pub fn evidence_policy(mut self, policy: &receipt_evidence::policy::EvidencePolicy) -> Self {
        self.evidence.redactor = Arc::new(policy.redactor());
        self
    }

    /// [`evidence_policy`](Self::evidence_policy) with the policy read from a file.
    ///
    /// # Errors
    /// [`EvidenceSetupError`] when the file cannot be read or used.
    pub fn evidence_policy_file(self, path: impl AsRef<Path>) -> Result<Self, EvidenceSetupError> {
        let policy = receipt_evidence::policy::EvidencePolicy::load(path.as_ref())?;
        Ok(self.evidence_policy(&policy))
    }
}

/// The `#[receipt(evidence(..))]` expansion: keeps `value` under `key`. Without a recording
/// run nothing happens (an instrumented function works without one); any other refusal is
/// recorded in the stage as a WARN event.
#[doc(hidden)]
pub fn evidence_arg<T: serde::Serialize + ?Sized>(key: &str, class: Class, value: &T) {
    match evidence(key, class, value) {
        Ok(()) | Err(EvidenceError::NoRun | EvidenceError::NotInStage) => {}
        Err(e) => tracing::warn!(target: "receipt::evidence", key, error = %e, "evidence not kept"),
    }
}

#[cfg(test)]
mod tests {
    use receipt_primitives::jcs;

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

    /// A value whose serialization itself serializes evidence (as a `Serialize` impl that
    /// calls `evidence()` would).
    struct Nested(String);

    impl serde::Serialize for Nested {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let inner = canonical(&self.0).map_err(serde::ser::Error::custom)?;
            s.serialize_str(&format!("{}:{}", self.0.len(), inner.len()))
        }
    }

    #[test]
    fn canonical_bytes_come_exact_sized_and_the_scratch_space_stays_small() {
        let small = serde_json::json!({"z": "1 KiB? no", "a": [1, 2.5, null]});
        let large = "x".repeat(SCRATCH_KEEP * 2);
        for bytes in [
            (canonical(&small).unwrap(), jcs::to_vec(&small).unwrap()),
            (canonical(&large).unwrap(), jcs::to_vec(&large).unwrap()),
            (
                canonical(&Nested("abc".into())).unwrap(),
                jcs::to_vec("3:5").unwrap(),
            ),
        ] {
            assert_eq!(bytes.0, bytes.1);
            assert_eq!(bytes.0.capacity(), bytes.0.len(), "one exact allocation");
        }
        // A large value's scratch space is given back; a small one's is kept.
        SCRATCH.with_borrow(|s| assert!(s.capacity() <= SCRATCH_KEEP));
        canonical(&small).unwrap();
        SCRATCH.with_borrow(|s| assert!(s.capacity() > 0));
        // A serialization failing midway leaves nothing behind for the next value.
        let midway = ("ok", std::collections::BTreeMap::from([(vec![1u8], 1)]));
        assert!(canonical(&midway).is_err());
        assert_eq!(canonical(&small).unwrap(), jcs::to_vec(&small).unwrap());
    }

    #[test]
    fn the_default_store_sits_beside_the_ledger() {
        assert_eq!(
            default_store(Path::new("runs/a.jsonl")),
            PathBuf::from("runs/a.jsonl.evidence")
        );
    }
}
