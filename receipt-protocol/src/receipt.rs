//! The build receipt (docs/SPEC.md §5): an RFC 8785 canonical JSON document that echoes the
//! manifest's Merkle root, links to the previous receipt, and carries what is known about
//! the build in sections that say so explicitly when they are not known.

use std::collections::BTreeMap;

use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use receipt_primitives::digest::Digest;
use receipt_primitives::jcs;

/// The schema id every receipt carries.
pub const RECEIPT_SCHEMA: &str = "tau-crystal.receipt/1";

/// The receipt `kind` of a Cargo build.
pub const KIND_CARGO: &str = "cargo";

/// The receipt `kind` of a Lake build.
pub const KIND_LAKE: &str = "lake";

/// A part of the receipt that is either known, or explicitly not known with a reason.
///
/// Serialized as the section's own object with `"available": true` added, or as
/// `{"available": false, "reason": "…"}`: a section is never silently missing or guessed.
#[derive(Debug, Clone, PartialEq)]
pub enum Section<T> {
    /// The section's content.
    Available(T),
    /// Why the content is not known.
    Unavailable {
        /// One plain sentence.
        reason: String,
    },
}

impl<T> Section<T> {
    /// An unavailable section with `reason`.
    pub fn unavailable(reason: impl Into<String>) -> Self {
        Section::Unavailable {
            reason: reason.into(),
        }
    }

    /// The content, when available.
    pub fn get(&self) -> Option<&T> {
        match self {
            Section::Available(t) => Some(t),
            Section::Unavailable { .. } => None,
        }
    }

    /// Maps the content.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Section<U> {
        match self {
            Section::Available(t) => Section::Available(f(t)),
            Section::Unavailable { reason } => Section::Unavailable { reason },
        }
    }
}

impl<T: Serialize> Serialize for Section<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::Error as _;
        let mut map = match self {
            Section::Available(t) => match serde_json::to_value(t).map_err(S::Error::custom)? {
                Value::Object(m) => m,
                _ => return Err(S::Error::custom("a receipt section must be a JSON object")),
            },
            Section::Unavailable { reason } => {
                let mut m = serde_json::Map::new();
                m.insert("reason".into(), Value::String(reason.clone()));
                m.insert("available".into(), Value::Bool(false));
                return m.serialize(s);
            }
        };
        if map.contains_key("available") {
            return Err(S::Error::custom(
                "a receipt section may not have its own `available` key",
            ));
        }
        map.insert("available".into(), Value::Bool(true));
        map.serialize(s)
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Section<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut map = serde_json::Map::<String, Value>::deserialize(d)?;
        match map.remove("available") {
            Some(Value::Bool(true)) => T::deserialize(Value::Object(map))
                .map(Section::Available)
                .map_err(D::Error::custom),
            Some(Value::Bool(false)) => {
                let reason = match map.remove("reason") {
                    Some(Value::String(r)) => r,
                    _ => {
                        return Err(D::Error::custom(
                            "an unavailable section needs a string `reason`",
                        ));
                    }
                };
                if let Some(k) = map.keys().next() {
                    return Err(D::Error::custom(format!(
                        "an unavailable section has only `available` and `reason`, not `{k}`"
                    )));
                }
                Ok(Section::Unavailable { reason })
            }
            _ => Err(D::Error::custom(
                "a section needs `available`: true or false",
            )),
        }
    }
}

/// Where the chain continues backwards: the previous receipt's file hash and ledger path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrevLink {
    /// SHA-256 of the previous receipt file's bytes.
    pub sha256: Digest,
    /// Its path relative to the ledger root.
    pub path: String,
}

/// The cross-artifact binding of v1.2: the manifest's Merkle root, echoed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reflective {
    /// Must equal the manifest's `merkle_root` byte for byte.
    pub merkle_root: Digest,
}

/// What code was built.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// The git commit, when the project is in a git work tree.
    pub git: Section<GitInfo>,
    /// The tracked set whose Merkle root the manifest carries.
    pub tracked: TrackedSummary,
}

/// The git state of the work tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitInfo {
    /// `HEAD` commit id (lowercase hex), or `null` in a repository with no commit yet.
    pub commit: Option<String>,
    /// Whether tracked files differ from `HEAD` or untracked, unignored files exist.
    pub dirty: bool,
}

/// Summary of the tracked set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrackedSummary {
    /// `git` (paths from `git ls-files`) or `walk` (directory walk with `.gitignore`).
    pub mode: String,
    /// Number of files in the set.
    pub files: u64,
    /// The tracked-set Merkle root.
    pub merkle_root: Digest,
}

/// The build graph the fingerprint was computed over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GraphSummary {
    /// What the nodes are: `cargo` (packages) or `lean-modules`.
    pub kind: String,
    /// Number of nodes.
    pub nodes: u64,
    /// Number of edges.
    pub edges: u64,
    /// SHA-256 of the graph file's bytes.
    pub digest: Digest,
    /// The graph file, relative to the receipt's directory.
    pub path: String,
}

/// Work counters of the build. `wall_ms`, `cpu_ms` and `peak_rss_kb` are measured values:
/// they differ between two runs of the same build and are excluded from determinism.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Work {
    /// `success`, `failed`, or `not-run`.
    pub status: String,
    /// The build tool's exit code, when it ran and exited normally.
    pub exit_code: Option<i32>,
    /// Wall-clock milliseconds of the build.
    pub wall_ms: u64,
    /// CPU milliseconds (user + system) of the build's child processes, when measurable.
    pub cpu_ms: Option<u64>,
    /// Peak resident set of the largest child, KiB, when measurable.
    pub peak_rss_kb: Option<u64>,
}

/// Files the build produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Artifacts {
    /// What the artifact paths are relative to (e.g. `target`, `.lake/build`).
    pub root: String,
    /// The files, sorted by path bytes.
    pub files: Vec<Artifact>,
}

/// One produced file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Artifact {
    /// Path relative to [`Artifacts::root`], `/`-separated.
    pub path: String,
    /// SHA-256 of its bytes.
    pub sha256: Digest,
    /// Size in bytes.
    pub size: u64,
}

/// A build receipt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receipt {
    /// Always [`RECEIPT_SCHEMA`].
    pub schema: String,
    /// What kind of build: [`KIND_CARGO`] or [`KIND_LAKE`].
    pub kind: String,
    /// The manifest's producer.
    pub producer: String,
    /// SHA-256 of the manifest file's bytes.
    pub manifest_sha256: Digest,
    /// The echoed manifest root.
    pub reflective: Reflective,
    /// The previous receipt on the chain, `null` for the first.
    pub prev: Option<PrevLink>,
    /// What code was built.
    pub source: Section<Source>,
    /// The ingress preimage object; its canonical SHA-256 is the manifest's
    /// `ingress_preimage_sha256`.
    pub ingress: Section<Value>,
    /// The build graph.
    pub graph: Section<GraphSummary>,
    /// τ, the Chebyshev sketch of the graph (see `receipt_graph::TauReport`).
    pub tau: Section<Value>,
    /// The rank signature of the graph (see `receipt_graph::RankReport`).
    pub rank: Section<Value>,
    /// Work counters.
    pub work: Section<Work>,
    /// Produced files.
    pub artifacts: Section<Artifacts>,
    /// Producer-specific, namespaced data (`cargo`, `lake`).
    pub extensions: BTreeMap<String, Value>,
}

/// Why bytes are not a receipt.
#[derive(Debug, thiserror::Error)]
pub enum ReceiptError {
    /// Not JSON of the receipt schema.
    #[error("not a receipt: {0}")]
    Schema(#[from] serde_json::Error),
    /// JSON, but not in RFC 8785 canonical form.
    #[error(
        "the bytes are not RFC 8785 canonical JSON (whitespace, key order, number or escape spelling)"
    )]
    NotCanonical,
    /// The schema id is not one this version reads.
    #[error("field `schema` is {0:?}, expected \"tau-crystal.receipt/1\"")]
    UnknownSchema(String),
    /// Canonical JSON, but not the receipt's own bytes: a member written as `null` when
    /// empty (`prev`, an optional `work` number, `source.git.commit`) is absent.
    #[error(
        "the receipt lacks a member that is always written (a `null` one such as `prev` is omitted), so its bytes are not the receipt's canonical form"
    )]
    MissingMember,
    /// The receipt cannot be canonicalized.
    #[error(transparent)]
    Jcs(#[from] jcs::JcsError),
}

impl Receipt {
    /// The canonical bytes (RFC 8785); the receipt file is exactly these.
    ///
    /// # Errors
    /// [`ReceiptError::Jcs`] for content without a canonical form (non-finite numbers).
    pub fn to_bytes(&self) -> Result<Vec<u8>, ReceiptError> {
        // Through a JSON value (a receipt holds no float outside its JSON values, so it has
        // the same canonical form either way), written in one pass.
        let value = serde_json::to_value(self).map_err(jcs::JcsError::from)?;
        Ok(jcs::value_to_vec(&value))
    }

    /// Parses a receipt file, refusing anything that is not canonical.
    ///
    /// # Errors
    /// [`ReceiptError`] naming what is wrong.
    pub fn parse(bytes: &[u8]) -> Result<Receipt, ReceiptError> {
        let r: Receipt = serde_json::from_slice(bytes)?;
        if r.schema != RECEIPT_SCHEMA {
            return Err(ReceiptError::UnknownSchema(r.schema));
        }
        // Exactly the receipt's own bytes: canonical JSON, and no member left out that the
        // receipt always writes (serde reads an absent optional member as `null`).
        if r.to_bytes()? != bytes {
            return Err(if jcs::is_canonical(bytes) {
                ReceiptError::MissingMember
            } else {
                ReceiptError::NotCanonical
            });
        }
        Ok(r)
    }
}
