//! Blob identity: the two evidence classes, the `blob://sha256:<hex>` URI, and [`Prepared`],
//! the hashed value a caller hands to the store's writer.

use std::fmt;
use std::str::FromStr;

use receipt_primitives::Digest;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::redact::{RedactionRecord, Redactor};

/// The largest blob the store writes or reads, in plaintext bytes (64 MiB). Reads of a
/// stored object larger than this (plus the sealing overhead) stop and report it as corrupt.
pub const MAX_BLOB_BYTES: u64 = 64 << 20;

/// How a blob is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Class {
    /// Stored as plaintext; anyone who can read the store can verify it.
    Public,
    /// Encrypted at rest (XChaCha20-Poly1305); verifying content needs the key, without it
    /// only presence and size can be checked. Usually kept for a shorter time.
    Sealed,
}

impl Class {
    /// Both classes, public first.
    pub const ALL: [Class; 2] = [Class::Public, Class::Sealed];

    /// `public` or `sealed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Public => "public",
            Class::Sealed => "sealed",
        }
    }
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// Why a string is not a class.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an evidence class (public or sealed)")]
pub struct UnknownClass(pub String);

impl FromStr for Class {
    type Err = UnknownClass;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "public" => Ok(Class::Public),
            "sealed" => Ok(Class::Sealed),
            _ => Err(UnknownClass(receipt_primitives::check::echo(s))),
        }
    }
}

/// A blob's name: `blob://sha256:` followed by the 64 lowercase hex digits of the SHA-256
/// of the blob's plaintext (after redaction: the bytes persisted, before sealing).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BlobUri(pub Digest);

/// The text every blob URI starts with.
pub const BLOB_URI_PREFIX: &str = "blob://sha256:";

impl BlobUri {
    /// The digest it names.
    pub fn digest(&self) -> &Digest {
        &self.0
    }
}

impl fmt::Display for BlobUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{BLOB_URI_PREFIX}{}", self.0)
    }
}

impl fmt::Debug for BlobUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlobUri({self})")
    }
}

/// Why a string is not a blob URI.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a blob URI (blob://sha256: followed by 64 lowercase hex digits)")]
pub struct BadBlobUri(pub String);

impl FromStr for BlobUri {
    type Err = BadBlobUri;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.strip_prefix(BLOB_URI_PREFIX)
            .and_then(|h| Digest::from_hex(h).ok())
            .map(BlobUri)
            .ok_or_else(|| BadBlobUri(receipt_primitives::check::echo(s)))
    }
}

impl Serialize for BlobUri {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for BlobUri {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A value ready for the store: its class, its bytes (already redacted and canonical) and
/// their digest.
///
/// Building one hashes the bytes and does nothing else, so it can run on an instrumented
/// thread; [`crate::store::EvidenceStore::put`] (sealing, writing) runs elsewhere. The fields
/// are private: a `Prepared` always carries the digest of its own bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Prepared {
    class: Class,
    digest: Digest,
    bytes: Vec<u8>,
}

impl fmt::Debug for Prepared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Prepared")
            .field("class", &self.class)
            .field("uri", &self.uri())
            .field("size", &self.bytes.len())
            .finish()
    }
}

impl Prepared {
    /// Hashes `bytes` (the caller has redacted them and made them canonical).
    pub fn new(class: Class, bytes: Vec<u8>) -> Prepared {
        Prepared {
            class,
            digest: Digest::of(&bytes),
            bytes,
        }
    }

    /// Redacts `bytes` with `redactor`, then hashes the result.
    pub fn redacted(
        class: Class,
        bytes: &[u8],
        redactor: &Redactor,
    ) -> (Prepared, RedactionRecord) {
        let out = redactor.redact(bytes);
        (Prepared::new(class, out.bytes.into_owned()), out.record)
    }

    /// The class.
    pub fn class(&self) -> Class {
        self.class
    }

    /// The digest of [`Prepared::bytes`].
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    /// `blob://sha256:<hex>`.
    pub fn uri(&self) -> BlobUri {
        BlobUri(self.digest)
    }

    /// The plaintext size in bytes, as a ledger records it.
    pub fn size(&self) -> u64 {
        self.bytes.len() as u64
    }

    /// The bytes that will be persisted (before sealing).
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_round_trips_and_is_strict() {
        let d = Digest::of(b"x");
        let u = BlobUri(d);
        let s = u.to_string();
        assert_eq!(s, format!("blob://sha256:{d}"));
        assert_eq!(s.parse::<BlobUri>().unwrap(), u);
        for bad in [
            format!("blob://sha256:{}", d.to_hex().to_uppercase()),
            format!("blob://sha512:{d}"),
            format!("blob:/sha256:{d}"),
            format!("blob://sha256:{}", &d.to_hex()[..63]),
            format!(" blob://sha256:{d}"),
        ] {
            assert!(bad.parse::<BlobUri>().is_err(), "{bad}");
        }
        assert_eq!(serde_json::to_string(&u).unwrap(), format!("\"{s}\""));
    }

    #[test]
    fn prepared_hashes_its_bytes() {
        let p = Prepared::new(Class::Sealed, b"abc".to_vec());
        assert_eq!(
            p.uri().to_string(),
            "blob://sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(p.size(), 3);
        let (q, rec) =
            Prepared::redacted(Class::Public, b"password=hunter22", &Redactor::builtin());
        assert_eq!(q.bytes(), b"password=[REDACTED]");
        assert_eq!(rec.spans, 1);
        assert_eq!(*q.digest(), Digest::of(b"password=[REDACTED]"));
    }

    #[test]
    fn classes_parse_and_print() {
        for c in Class::ALL {
            assert_eq!(c.as_str().parse::<Class>().unwrap(), c);
        }
        assert!("Public".parse::<Class>().is_err());
    }
}
