//! The content-addressed evidence store: the object layout over a [`Backend`], per-blob
//! metadata records, sealing of the `sealed` class, tombstones of expired blobs, and reads
//! that say exactly what could be verified.
//!
//! # Layout (keys relative to the store root)
//!
//! ```text
//! receipt-evidence-store.json                     marker: {"layout":"sha256/2","schema":"receipt.evidence-store/1"}
//! public/sha256/<h2>/<hex>                        public blob: the plaintext bytes
//! public/sha256/<h2>/<hex>.meta.json              its metadata record
//! sealed/sha256/<h2>/<hex>.enc                    sealed blob: nonce ‖ ciphertext ‖ tag
//! sealed/sha256/<h2>/<hex>.meta.json              its metadata record
//! tombstones/<class>/sha256/<h2>/<hex>.json       tombstone of an expired blob
//! ```
//!
//! `<hex>` is the blob digest (SHA-256 of the plaintext), `<h2>` its first two hex digits.
//! Metadata records and tombstones are canonical JSON (RFC 8785).
//!
//! One file over 600 lines on purpose: the layout, the metadata records, sealing and tombstones
//! are one on-disk format whose invariants are kept by the same few functions.

use std::fmt;

use receipt_primitives::{Digest, Timestamp, jcs};
use serde::{Deserialize, Serialize};

use crate::backend::dir::DirBackend;
use crate::backend::{Backend, BackendError};
use crate::blob::{Class, MAX_BLOB_BYTES, Prepared};
use crate::key::SealKey;
use crate::seal::{self, OpenError, SEAL_OVERHEAD};

/// The marker object's key.
pub const MARKER_KEY: &str = "receipt-evidence-store.json";
/// The marker object's exact bytes.
pub const MARKER: &[u8] = br#"{"layout":"sha256/2","schema":"receipt.evidence-store/1"}"#;
/// Schema id of a metadata record.
pub const META_SCHEMA: &str = "receipt.evidence-meta/1";
/// Schema id of a tombstone.
pub const TOMBSTONE_SCHEMA: &str = "receipt.evidence-tombstone/1";
/// The largest metadata record or tombstone read, in bytes.
const MAX_RECORD: u64 = 4096;

/// The key of a blob object.
pub fn blob_key(class: Class, digest: &Digest) -> String {
    let hex = digest.to_hex();
    match class {
        Class::Public => format!("public/sha256/{}/{hex}", &hex[..2]),
        Class::Sealed => format!("sealed/sha256/{}/{hex}.enc", &hex[..2]),
    }
}

/// The key of a blob's metadata record.
pub fn meta_key(class: Class, digest: &Digest) -> String {
    let hex = digest.to_hex();
    format!("{class}/sha256/{}/{hex}.meta.json", &hex[..2])
}

/// The key of a blob's tombstone.
pub fn tombstone_key(class: Class, digest: &Digest) -> String {
    let hex = digest.to_hex();
    format!("tombstones/{class}/sha256/{}/{hex}.json", &hex[..2])
}

mod ts {
    use receipt_primitives::Timestamp;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(t)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Timestamp::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A blob's metadata record: what retention needs without reading the blob.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlobMeta {
    /// Always [`META_SCHEMA`].
    pub schema: String,
    /// The blob's class.
    pub class: Class,
    /// The blob's digest.
    pub digest: Digest,
    /// Plaintext size in bytes.
    pub size: u64,
    /// When the blob was first written; retention ages count from here.
    #[serde(with = "ts")]
    pub created: Timestamp,
}

/// Why a blob was expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExpiryReason {
    /// It was older than the class's `max_age`.
    MaxAge,
    /// Its class was over `max_total_bytes` and it was among the oldest.
    MaxTotalBytes,
}

impl ExpiryReason {
    /// `max_age` or `max_total_bytes`.
    pub fn as_str(self) -> &'static str {
        match self {
            ExpiryReason::MaxAge => "max_age",
            ExpiryReason::MaxTotalBytes => "max_total_bytes",
        }
    }
}

/// The record left where an expired blob was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tombstone {
    /// Always [`TOMBSTONE_SCHEMA`].
    pub schema: String,
    /// The blob's class.
    pub class: Class,
    /// The blob's digest.
    pub digest: Digest,
    /// Plaintext size in bytes.
    pub size: u64,
    /// When the blob was first written.
    #[serde(with = "ts")]
    pub created: Timestamp,
    /// When retention removed it (the `now` of that run).
    #[serde(with = "ts")]
    pub expired_at: Timestamp,
    /// Which limit removed it.
    pub reason: ExpiryReason,
}

/// What a `put` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    /// The blob was not there and was written.
    Written,
    /// An identical, verifiable blob was already there; nothing was written.
    AlreadyPresent,
    /// An object was there under the name but did not verify; it was replaced.
    Repaired,
}

/// Why a stored object does not hold its blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Corruption {
    /// The bytes (decrypted, for sealed blobs) do not hash to the blob's digest.
    DigestMismatch,
    /// A sealed object failed authentication: altered bytes, another blob's ciphertext, or a
    /// different key.
    Authentication,
    /// A sealed object shorter than its nonce and tag.
    TooShort {
        /// Its size.
        size: u64,
    },
    /// The object is larger than the store's limit.
    TooLarge {
        /// Its size.
        size: u64,
    },
    /// Something other than a regular file is in the object's place.
    NotRegular,
    /// The blob is absent and its tombstone is unreadable or names another blob.
    BadTombstone,
}

impl fmt::Display for Corruption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Corruption::DigestMismatch => f.write_str("its content does not hash to its name"),
            Corruption::Authentication => f.write_str(
                "sealed object failed authentication (altered bytes, another blob's ciphertext, or a different key)",
            ),
            Corruption::TooShort { size } => write!(
                f,
                "sealed object is {size} bytes, shorter than its 40 bytes of nonce and tag"
            ),
            Corruption::TooLarge { size } => write!(
                f,
                "object is {size} bytes, over the {MAX_BLOB_BYTES}-byte limit"
            ),
            Corruption::NotRegular => f.write_str("not a regular file inside the store"),
            Corruption::BadTombstone => {
                f.write_str("blob is absent and its tombstone is unreadable or names another blob")
            }
        }
    }
}

/// The result of reading a blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    /// The plaintext, verified against the digest (for sealed blobs: decrypted with the key
    /// and authenticated, then hashed).
    Verified(Vec<u8>),
    /// A sealed blob read without a key: it exists and has this plaintext size (stored size
    /// minus 40). Its content was NOT verified.
    PresentUnverified {
        /// Stored size minus the nonce and tag.
        plaintext_size: u64,
    },
    /// The blob was removed by retention; here is its tombstone.
    Expired(Tombstone),
    /// Neither the blob nor a tombstone exists.
    Missing,
    /// Something is stored under the name but it is not the blob.
    Corrupt(Corruption),
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend failed.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// A sealed blob was to be written but the store has no key.
    #[error(
        "cannot write a sealed blob to {location}: no evidence key (set RECEIPT_EVIDENCE_KEY or give a key file)"
    )]
    NoKey {
        /// The store.
        location: String,
    },
    /// The blob is larger than [`MAX_BLOB_BYTES`].
    #[error("a {size}-byte blob is over the {MAX_BLOB_BYTES}-byte limit of {location}")]
    TooLarge {
        /// The store.
        location: String,
        /// The blob's size.
        size: u64,
    },
    /// The location is not an evidence store (no marker) and was not to be created, or was
    /// to be created but already holds other things.
    #[error("{location} is not an evidence store: {reason}")]
    NotAStore {
        /// The store.
        location: String,
        /// Why.
        reason: String,
    },
    /// A JSON record could not be made canonical.
    #[error("cannot encode a record for {location}: {source}")]
    Encode {
        /// The store.
        location: String,
        /// The error.
        source: jcs::JcsError,
    },
    /// Sealing failed (the system random generator).
    #[error("cannot seal a blob for {location}: {source}")]
    Seal {
        /// The store.
        location: String,
        /// The error.
        source: OpenError,
    },
    /// The location names a backend this build does not have.
    #[error("{0}")]
    Unsupported(String),
}

/// How to open a store.
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    /// Create the store (its directory and marker) when it does not exist. An existing
    /// location that holds other objects and no marker is refused either way.
    pub create: bool,
    /// Settings of the S3 backend (endpoint, credentials) beyond what the environment gives.
    #[cfg(feature = "s3")]
    pub s3: crate::backend::s3::S3Options,
}

/// An evidence store: a backend holding the layout, and the sealing key when there is one.
#[derive(Debug)]
pub struct EvidenceStore {
    backend: Box<dyn Backend>,
    key: Option<SealKey>,
}

/// One blob found by [`EvidenceStore::inventory`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBlob {
    /// Its digest.
    pub digest: Digest,
    /// Bytes of the stored object (with the 40 bytes of nonce and tag for sealed blobs).
    pub stored_size: u64,
    /// Its metadata record, when present and valid.
    pub meta: Option<BlobMeta>,
}

/// Everything of one class in the store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inventory {
    /// Blobs, sorted by digest.
    pub blobs: Vec<StoredBlob>,
    /// Metadata records without a blob (an interrupted write, or a blob removed by hand).
    pub orphan_meta: Vec<BlobMeta>,
    /// Keys under the class's prefix that the layout does not produce; never touched.
    pub foreign: Vec<String>,
}

impl EvidenceStore {
    /// Opens `location`: `s3://bucket/prefix` (with the `s3` feature) or a directory path.
    ///
    /// # Errors
    /// [`StoreError`]: the location is refused, is not a store, or the backend failed.
    pub fn open(location: &str, options: &OpenOptions) -> Result<EvidenceStore, StoreError> {
        if location.starts_with("s3://") {
            #[cfg(feature = "s3")]
            {
                let b = crate::backend::s3::S3Backend::new(location, &options.s3)?;
                return EvidenceStore::from_backend(Box::new(b), options.create);
            }
            #[cfg(not(feature = "s3"))]
            {
                return Err(StoreError::Unsupported(format!(
                    "{} is an S3 location, but this build has no S3 backend (cargo feature `s3` of receipt-evidence)",
                    receipt_primitives::check::echo(location)
                )));
            }
        }
        let b = DirBackend::open(std::path::Path::new(location), options.create)?;
        EvidenceStore::from_backend(Box::new(b), options.create)
    }

    /// Wraps a backend, checking (or, with `create`, writing) the store marker.
    ///
    /// # Errors
    /// [`StoreError::NotAStore`] when there is no marker and `create` is not set, when the
    /// marker's bytes are wrong, or when `create` is set but the location already holds
    /// other objects.
    pub fn from_backend(
        backend: Box<dyn Backend>,
        create: bool,
    ) -> Result<EvidenceStore, StoreError> {
        let location = backend.location();
        let not_a_store = |reason: &str| StoreError::NotAStore {
            location: location.clone(),
            reason: reason.to_owned(),
        };
        match backend.get(MARKER_KEY, MAX_RECORD)? {
            Some(m) if m == MARKER => {}
            Some(_) => {
                return Err(not_a_store(
                    "its receipt-evidence-store.json is not the marker of this layout",
                ));
            }
            None if !create => {
                return Err(not_a_store("no receipt-evidence-store.json marker"));
            }
            None => {
                if !backend.is_empty()? {
                    return Err(not_a_store(
                        "it already holds other files and no receipt-evidence-store.json marker; use an empty directory or prefix",
                    ));
                }
                backend.put(MARKER_KEY, MARKER)?;
            }
        }
        Ok(EvidenceStore { backend, key: None })
    }

    /// The store with a sealing key: sealed blobs can be written and their content verified.
    pub fn with_key(mut self, key: SealKey) -> EvidenceStore {
        self.key = Some(key);
        self
    }

    /// Whether the store has a key.
    pub fn has_key(&self) -> bool {
        self.key.is_some()
    }

    /// The location, for messages.
    pub fn location(&self) -> String {
        self.backend.location()
    }

    /// The backend.
    pub fn backend(&self) -> &dyn Backend {
        &*self.backend
    }

    fn encode<T: Serialize>(&self, v: &T) -> Result<Vec<u8>, StoreError> {
        jcs::to_vec(v).map_err(|source| StoreError::Encode {
            location: self.location(),
            source,
        })
    }

    /// Writes a prepared blob. Idempotent: when a verifiable identical blob is already
    /// stored, nothing is written (its first creation time is kept). The metadata record is
    /// written before the blob, so a crash leaves at most a record without a blob (which
    /// reads as missing and which retention removes).
    ///
    /// # Errors
    /// [`StoreError::TooLarge`], [`StoreError::NoKey`] for a sealed blob without a key,
    /// backend errors.
    pub fn put(&self, p: &Prepared, now: Timestamp) -> Result<PutOutcome, StoreError> {
        self.check_put(p)?;
        let (class, digest) = (p.class(), *p.digest());
        let existing = match self.get(class, &digest)? {
            Fetched::Verified(_) => true,
            Fetched::Corrupt(_) => false,
            Fetched::Missing | Fetched::Expired(_) => {
                self.write(p, now, None)?;
                return Ok(PutOutcome::Written);
            }
            Fetched::PresentUnverified { .. } => unreachable!("sealed puts have a key"),
        };
        let meta = self.meta(class, &digest)?;
        if existing {
            if meta.is_none() {
                self.write_meta(class, &digest, p.size(), now)?;
            }
            return Ok(PutOutcome::AlreadyPresent);
        }
        self.write(p, now, meta.map(|m| m.created))?;
        Ok(PutOutcome::Repaired)
    }

    /// Writes several prepared blobs as one batch (the runtime's I/O thread writes whatever
    /// is queued this way): each is checked as in [`EvidenceStore::put`], then every
    /// metadata record and blob to be written goes to the backend in one
    /// [`Backend::put_many`] (the directory backend makes a batch durable with two
    /// filesystem syncs instead of four fsyncs per blob). Outcomes are in input order.
    ///
    /// # Errors
    /// As [`EvidenceStore::put`]; nothing of a batch is written when one item is refused
    /// before writing (too large, sealed without a key).
    pub fn put_batch(
        &self,
        items: &[Prepared],
        now: Timestamp,
    ) -> Result<Vec<PutOutcome>, StoreError> {
        let mut writes: Vec<(String, Vec<u8>)> = Vec::new();
        let mut outcomes = Vec::with_capacity(items.len());
        let mut seen = std::collections::BTreeSet::new();
        for p in items {
            self.check_put(p)?;
        }
        for p in items {
            let (class, digest) = (p.class(), *p.digest());
            if !seen.insert((class, digest)) {
                outcomes.push(PutOutcome::AlreadyPresent);
                continue;
            }
            let (outcome, created) = match self.get(class, &digest)? {
                Fetched::Verified(_) => {
                    if self.meta(class, &digest)?.is_none() {
                        writes.push(self.meta_write(class, &digest, p.size(), now)?);
                    }
                    outcomes.push(PutOutcome::AlreadyPresent);
                    continue;
                }
                Fetched::Corrupt(_) => (
                    PutOutcome::Repaired,
                    self.meta(class, &digest)?.map_or(now, |m| m.created),
                ),
                _ => (PutOutcome::Written, now),
            };
            writes.push(self.meta_write(class, &digest, p.size(), created)?);
            writes.push((blob_key(class, &digest), self.stored_bytes(p)?));
            outcomes.push(outcome);
        }
        self.backend.put_many(&writes)?;
        Ok(outcomes)
    }

    fn check_put(&self, p: &Prepared) -> Result<(), StoreError> {
        if p.size() > MAX_BLOB_BYTES {
            return Err(StoreError::TooLarge {
                location: self.location(),
                size: p.size(),
            });
        }
        if p.class() == Class::Sealed && self.key.is_none() {
            return Err(StoreError::NoKey {
                location: self.location(),
            });
        }
        Ok(())
    }

    fn meta_write(
        &self,
        class: Class,
        digest: &Digest,
        size: u64,
        created: Timestamp,
    ) -> Result<(String, Vec<u8>), StoreError> {
        let meta = BlobMeta {
            schema: META_SCHEMA.to_owned(),
            class,
            digest: *digest,
            size,
            created,
        };
        Ok((meta_key(class, digest), self.encode(&meta)?))
    }

    /// The object bytes of a blob: the plaintext, or for sealed blobs nonce ‖ ciphertext ‖
    /// tag.
    fn stored_bytes(&self, p: &Prepared) -> Result<Vec<u8>, StoreError> {
        match p.class() {
            Class::Public => Ok(p.bytes().to_vec()),
            Class::Sealed => {
                let key = self.key.as_ref().ok_or_else(|| StoreError::NoKey {
                    location: self.location(),
                })?;
                seal::seal(key, p.digest(), p.bytes()).map_err(|source| StoreError::Seal {
                    location: self.location(),
                    source,
                })
            }
        }
    }

    fn write_meta(
        &self,
        class: Class,
        digest: &Digest,
        size: u64,
        created: Timestamp,
    ) -> Result<(), StoreError> {
        let (key, bytes) = self.meta_write(class, digest, size, created)?;
        self.backend.put(&key, &bytes)?;
        Ok(())
    }

    fn write(
        &self,
        p: &Prepared,
        now: Timestamp,
        created: Option<Timestamp>,
    ) -> Result<(), StoreError> {
        let (class, digest) = (p.class(), p.digest());
        self.write_meta(class, digest, p.size(), created.unwrap_or(now))?;
        let bytes = self.stored_bytes(p)?;
        self.backend.put(&blob_key(class, digest), &bytes)?;
        Ok(())
    }

    /// Reads a blob and says what could be verified: see [`Fetched`]. A sealed blob read
    /// without a key is [`Fetched::PresentUnverified`], never `Verified`.
    ///
    /// # Errors
    /// Backend I/O errors (the store could not be read); every problem with what is stored
    /// is a [`Fetched`] value instead.
    pub fn get(&self, class: Class, digest: &Digest) -> Result<Fetched, StoreError> {
        let stored = match self
            .backend
            .get(&blob_key(class, digest), MAX_BLOB_BYTES + SEAL_OVERHEAD)
        {
            Ok(s) => s,
            Err(BackendError::NotRegular { .. }) => {
                return Ok(Fetched::Corrupt(Corruption::NotRegular));
            }
            Err(BackendError::TooLarge { size, .. }) => {
                return Ok(Fetched::Corrupt(Corruption::TooLarge { size }));
            }
            Err(e) => return Err(e.into()),
        };
        let Some(bytes) = stored else {
            return self.absent(class, digest);
        };
        Ok(match class {
            Class::Public if bytes.len() as u64 > MAX_BLOB_BYTES => {
                Fetched::Corrupt(Corruption::TooLarge {
                    size: bytes.len() as u64,
                })
            }
            Class::Public if Digest::of(&bytes) == *digest => Fetched::Verified(bytes),
            Class::Public => Fetched::Corrupt(Corruption::DigestMismatch),
            Class::Sealed => {
                let size = bytes.len() as u64;
                if size < SEAL_OVERHEAD {
                    return Ok(Fetched::Corrupt(Corruption::TooShort { size }));
                }
                match &self.key {
                    None => Fetched::PresentUnverified {
                        plaintext_size: size - SEAL_OVERHEAD,
                    },
                    Some(key) => match seal::open(key, digest, &bytes) {
                        Ok(plain) if Digest::of(&plain) == *digest => Fetched::Verified(plain),
                        Ok(_) => Fetched::Corrupt(Corruption::DigestMismatch),
                        Err(OpenError::TooShort(size)) => {
                            Fetched::Corrupt(Corruption::TooShort { size })
                        }
                        Err(_) => Fetched::Corrupt(Corruption::Authentication),
                    },
                }
            }
        })
    }

    fn absent(&self, class: Class, digest: &Digest) -> Result<Fetched, StoreError> {
        let raw = match self.backend.get(&tombstone_key(class, digest), MAX_RECORD) {
            Ok(r) => r,
            Err(BackendError::NotRegular { .. } | BackendError::TooLarge { .. }) => {
                return Ok(Fetched::Corrupt(Corruption::BadTombstone));
            }
            Err(e) => return Err(e.into()),
        };
        let Some(raw) = raw else {
            return Ok(Fetched::Missing);
        };
        match parse_record::<Tombstone>(&raw) {
            Some(t) if t.schema == TOMBSTONE_SCHEMA && t.class == class && t.digest == *digest => {
                Ok(Fetched::Expired(t))
            }
            _ => Ok(Fetched::Corrupt(Corruption::BadTombstone)),
        }
    }

    /// The blob's metadata record, when present and valid (canonical, of this blob).
    ///
    /// # Errors
    /// Backend I/O errors.
    pub fn meta(&self, class: Class, digest: &Digest) -> Result<Option<BlobMeta>, StoreError> {
        let raw = match self.backend.get(&meta_key(class, digest), MAX_RECORD) {
            Ok(r) => r,
            Err(BackendError::NotRegular { .. } | BackendError::TooLarge { .. }) => {
                return Ok(None);
            }
            Err(e) => return Err(e.into()),
        };
        Ok(raw
            .and_then(|r| parse_record::<BlobMeta>(&r))
            .filter(|m| m.schema == META_SCHEMA && m.class == class && m.digest == *digest))
    }

    /// Every blob, metadata record and foreign key of `class`, read without the blobs'
    /// contents.
    ///
    /// # Errors
    /// Backend I/O errors.
    pub fn inventory(&self, class: Class) -> Result<Inventory, StoreError> {
        use std::collections::{BTreeMap, BTreeSet};
        let listed = self.backend.list(&format!("{class}/sha256/"))?;
        let mut blobs: BTreeMap<Digest, u64> = BTreeMap::new();
        let mut metas: BTreeSet<Digest> = BTreeSet::new();
        let mut inv = Inventory::default();
        for l in listed {
            match parse_layout_key(class, &l.key) {
                Some((d, false)) => {
                    blobs.insert(d, l.size);
                }
                Some((d, true)) => {
                    metas.insert(d);
                }
                None => inv.foreign.push(l.key),
            }
        }
        for d in &metas {
            if !blobs.contains_key(d) {
                if let Some(m) = self.meta(class, d)? {
                    inv.orphan_meta.push(m);
                } else {
                    inv.foreign.push(meta_key(class, d));
                }
            }
        }
        for (digest, stored_size) in blobs {
            let meta = if metas.contains(&digest) {
                self.meta(class, &digest)?
            } else {
                None
            };
            inv.blobs.push(StoredBlob {
                digest,
                stored_size,
                meta,
            });
        }
        Ok(inv)
    }

    /// The tombstone of a blob, when one is recorded and valid.
    ///
    /// # Errors
    /// Backend I/O errors.
    pub fn tombstone(
        &self,
        class: Class,
        digest: &Digest,
    ) -> Result<Option<Tombstone>, StoreError> {
        Ok(match self.absent(class, digest)? {
            Fetched::Expired(t) => Some(t),
            _ => None,
        })
    }

    /// Replaces a blob by its tombstone: the tombstone is written first, then the blob and
    /// its metadata record are deleted.
    ///
    /// # Errors
    /// Backend errors; after a failure the blob may still be present beside its tombstone,
    /// which reads as present.
    pub fn expire(&self, tomb: &Tombstone) -> Result<(), StoreError> {
        let bytes = self.encode(tomb)?;
        self.backend
            .put(&tombstone_key(tomb.class, &tomb.digest), &bytes)?;
        self.backend.delete(&blob_key(tomb.class, &tomb.digest))?;
        self.backend.delete(&meta_key(tomb.class, &tomb.digest))?;
        Ok(())
    }

    /// Deletes a metadata record that has no blob.
    ///
    /// # Errors
    /// Backend errors.
    pub fn remove_orphan_meta(&self, class: Class, digest: &Digest) -> Result<(), StoreError> {
        if self.backend.size(&blob_key(class, digest))?.is_none() {
            self.backend.delete(&meta_key(class, digest))?;
        }
        Ok(())
    }
}

/// A canonical JSON record of type `T`, or `None`.
fn parse_record<T: for<'de> Deserialize<'de>>(raw: &[u8]) -> Option<T> {
    if !jcs::is_canonical(raw) {
        return None;
    }
    serde_json::from_slice(raw).ok()
}

/// `(digest, is_meta)` when `key` is a blob or metadata key of `class` in the layout.
fn parse_layout_key(class: Class, key: &str) -> Option<(Digest, bool)> {
    let rest = key.strip_prefix(class.as_str())?.strip_prefix("/sha256/")?;
    let (h2, name) = rest.split_once('/')?;
    let (hex, is_meta) = if let Some(h) = name.strip_suffix(".meta.json") {
        (h, true)
    } else {
        match class {
            Class::Public => (name, false),
            Class::Sealed => (name.strip_suffix(".enc")?, false),
        }
    };
    let d = Digest::from_hex(hex).ok()?;
    (h2.len() == 2 && hex.starts_with(h2)).then_some((d, is_meta))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_keys_parse_back_and_nothing_else_does() {
        let d = Digest::of(b"x");
        for class in Class::ALL {
            assert_eq!(
                parse_layout_key(class, &blob_key(class, &d)),
                Some((d, false))
            );
            assert_eq!(
                parse_layout_key(class, &meta_key(class, &d)),
                Some((d, true))
            );
            assert_eq!(parse_layout_key(class, &tombstone_key(class, &d)), None);
        }
        let hex = d.to_hex();
        for bad in [
            format!("public/sha256/00/{hex}"),
            format!("public/sha256/{}/{hex}.enc", &hex[..2]),
            format!("sealed/sha256/{}/{hex}", &hex[..2]),
            format!("public/sha256/{}/{hex}.bak", &hex[..2]),
            format!("public/sha256/{}/{}", &hex[..2], &hex[..63]),
        ] {
            let class = if bad.starts_with("sealed") {
                Class::Sealed
            } else {
                Class::Public
            };
            assert_eq!(parse_layout_key(class, &bad), None, "{bad}");
        }
    }

    #[test]
    fn records_are_canonical_json() {
        let t = Tombstone {
            schema: TOMBSTONE_SCHEMA.into(),
            class: Class::Sealed,
            digest: Digest::of(b"abc"),
            size: 3,
            created: Timestamp::parse("2026-01-01T00:00:00Z").unwrap(),
            expired_at: Timestamp::parse("2026-01-02T00:00:00Z").unwrap(),
            reason: ExpiryReason::MaxAge,
        };
        let bytes = jcs::to_vec(&t).unwrap();
        assert_eq!(
            String::from_utf8(bytes.clone()).unwrap(),
            "{\"class\":\"sealed\",\"created\":\"2026-01-01T00:00:00Z\",\"digest\":\"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\",\"expired_at\":\"2026-01-02T00:00:00Z\",\"reason\":\"max_age\",\"schema\":\"receipt.evidence-tombstone/1\",\"size\":3}"
        );
        assert_eq!(parse_record::<Tombstone>(&bytes), Some(t));
        assert!(jcs::is_canonical(MARKER));
    }
}
