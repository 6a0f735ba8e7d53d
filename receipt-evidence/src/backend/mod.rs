//! Where the store's objects live: one small synchronous trait over a flat namespace of
//! `/`-separated keys, implemented by a confined directory ([`dir::DirBackend`]) and, with
//! the `s3` feature, by an S3-compatible bucket (`s3::S3Backend`).
//!
//! Keys are built by the store from validated parts (class, digest hex) and are checked again
//! here: 1 to 8 segments of `[a-z0-9._-]`, none empty, none starting with `.`.

pub mod dir;
#[cfg(feature = "s3")]
pub mod s3;

use std::fmt::Debug;

/// Why a backend operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The object is there but is not a regular file (a symbolic link, a directory, a FIFO),
    /// or a directory on its path is not a directory: the store never follows it.
    #[error("{key} in {location} is not a regular file inside the store")]
    NotRegular {
        /// The store.
        location: String,
        /// The object's key.
        key: String,
    },
    /// The object is larger than the caller's bound.
    #[error("{key} in {location} is {size} bytes, more than the {max}-byte limit")]
    TooLarge {
        /// The store.
        location: String,
        /// The object's key.
        key: String,
        /// Its size.
        size: u64,
        /// The bound.
        max: u64,
    },
    /// A key that the layout does not produce.
    #[error("{0:?} is not a valid object key")]
    BadKey(String),
    /// The store location itself is refused (a symbolic link, not a directory, missing).
    #[error("{location}: {reason}")]
    Location {
        /// The store.
        location: String,
        /// Why, in a few words.
        reason: String,
    },
    /// An I/O error of the directory backend.
    #[error("cannot {op} {key} in {location}: {source}")]
    Io {
        /// What was being done (`read`, `write`, `list`, `delete`).
        op: &'static str,
        /// The store.
        location: String,
        /// The object's key (or prefix).
        key: String,
        /// The error.
        source: std::io::Error,
    },
    /// An error of the S3 client.
    #[cfg(feature = "s3")]
    #[error("cannot {op} {key} in {location}: {source}")]
    S3 {
        /// What was being done.
        op: &'static str,
        /// The store.
        location: String,
        /// The object's key (or prefix).
        key: String,
        /// The error.
        source: Box<object_store::Error>,
    },
}

/// One listed object: its key and size in bytes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Listed {
    /// The key, relative to the store root.
    pub key: String,
    /// Its size.
    pub size: u64,
}

/// A flat object namespace. Every method is synchronous and blocking; call them from an I/O
/// thread, never from inside an async runtime.
pub trait Backend: Send + Sync + Debug {
    /// A human-readable location (`/path/to/store`, `s3://bucket/prefix`) for messages.
    fn location(&self) -> String;

    /// Writes `bytes` under `key` atomically: a reader sees the old object or the new one,
    /// never a part. Replaces an existing object.
    ///
    /// # Errors
    /// [`BackendError`].
    fn put(&self, key: &str, bytes: &[u8]) -> Result<(), BackendError>;

    /// Writes several objects, each atomically, in order (a crash leaves a prefix of them
    /// replaced). A backend may share the cost of making them durable across the batch.
    ///
    /// # Errors
    /// [`BackendError`]; objects before the failing one may have been written.
    fn put_many(&self, items: &[(String, Vec<u8>)]) -> Result<(), BackendError> {
        for (key, bytes) in items {
            self.put(key, bytes)?;
        }
        Ok(())
    }

    /// Reads the object, or `None` when it does not exist.
    ///
    /// # Errors
    /// [`BackendError::TooLarge`] when it is larger than `max` (nothing more is read),
    /// [`BackendError::NotRegular`], I/O errors.
    fn get(&self, key: &str, max: u64) -> Result<Option<Vec<u8>>, BackendError>;

    /// The object's size, or `None` when it does not exist.
    ///
    /// # Errors
    /// [`BackendError::NotRegular`], I/O errors.
    fn size(&self, key: &str) -> Result<Option<u64>, BackendError>;

    /// Every regular object whose key starts with `prefix` (a directory-like prefix ending in
    /// `/`), sorted by key. Objects that are not regular files are not listed.
    ///
    /// # Errors
    /// I/O errors.
    fn list(&self, prefix: &str) -> Result<Vec<Listed>, BackendError>;

    /// Whether the location holds no object at all (checked before a store is created in
    /// it).
    ///
    /// # Errors
    /// I/O errors.
    fn is_empty(&self) -> Result<bool, BackendError> {
        Ok(self.list("")?.is_empty())
    }

    /// Deletes the object; deleting an absent object is not an error. Refuses to delete
    /// anything that is not a regular object.
    ///
    /// # Errors
    /// [`BackendError::NotRegular`], I/O errors.
    fn delete(&self, key: &str) -> Result<(), BackendError>;
}

/// Checks a key: 1 to 8 `/`-separated segments of `[a-z0-9._-]`, none empty or starting with
/// `.` (so no `.`, `..` or hidden temporary names).
pub(crate) fn check_key(key: &str) -> Result<Vec<&str>, BackendError> {
    let segs: Vec<&str> = key.split('/').collect();
    let ok = (1..=8).contains(&segs.len())
        && segs.iter().all(|s| {
            !s.is_empty()
                && !s.starts_with('.')
                && s.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
                })
        });
    if ok {
        Ok(segs)
    } else {
        Err(BackendError::BadKey(receipt_primitives::check::echo(key)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_checked() {
        assert!(check_key("public/sha256/ab/abcdef").is_ok());
        assert!(check_key("receipt-evidence-store.json").is_ok());
        for bad in [
            "", "/a", "a/", "a//b", "../x", "a/../b", "a/./b", ".tmp-1", "A/b", "a b", "a/b\0",
        ] {
            assert!(check_key(bad).is_err(), "{bad:?}");
        }
    }
}
