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
        let mut out = Vec::with_capacity(4096);
        self.write_canonical(&mut out)?;
        Ok(out)
    }

    /// Appends the canonical bytes, written straight from the fields: the members of each
    /// object in RFC 8785 order, every number as the double a JSON value holds. The same
    /// bytes as the receipt serialized to a JSON value and canonicalized (a test keeps the
    /// two equal).
    fn write_canonical(&self, out: &mut Vec<u8>) -> Result<(), ReceiptError> {
        // The sections that can fail, in the order serialization meets them.
        for s in [&self.ingress, &self.tau, &self.rank] {
            check_value_section(s)?;
        }
        let mut o = Obj::open(out);
        write_section(o.key("artifacts"), &self.artifacts, |o, a| {
            let out = o.key("files");
            out.push(b'[');
            for (i, f) in a.files.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                let mut fo = Obj::open(out);
                jcs::write_str(fo.key("path"), &f.path);
                write_digest(fo.key("sha256"), &f.sha256);
                jcs::write_f64(fo.key("size"), f.size as f64);
                fo.close();
            }
            out.push(b']');
            jcs::write_str(o.key("root"), &a.root);
        })?;
        let out = o.key("extensions");
        let mut ext: Vec<(&str, &Value)> = self
            .extensions
            .iter()
            .map(|(k, v)| (k.as_str(), v))
            .collect();
        jcs::write_members(out, &mut ext);
        write_section(o.key("graph"), &self.graph, |o, g| {
            write_digest(o.key("digest"), &g.digest);
            jcs::write_f64(o.key("edges"), g.edges as f64);
            jcs::write_str(o.key("kind"), &g.kind);
            jcs::write_f64(o.key("nodes"), g.nodes as f64);
            jcs::write_str(o.key("path"), &g.path);
        })?;
        write_value_section(o.key("ingress"), &self.ingress)?;
        jcs::write_str(o.key("kind"), &self.kind);
        write_digest(o.key("manifest_sha256"), &self.manifest_sha256);
        let out = o.key("prev");
        match &self.prev {
            None => out.extend_from_slice(b"null"),
            Some(p) => {
                let mut po = Obj::open(out);
                jcs::write_str(po.key("path"), &p.path);
                write_digest(po.key("sha256"), &p.sha256);
                po.close();
            }
        }
        jcs::write_str(o.key("producer"), &self.producer);
        write_value_section(o.key("rank"), &self.rank)?;
        let mut ro = Obj::open(o.key("reflective"));
        write_digest(ro.key("merkle_root"), &self.reflective.merkle_root);
        ro.close();
        jcs::write_str(o.key("schema"), &self.schema);
        write_section(o.key("source"), &self.source, |o, src| {
            // A section inside a section: its errors cannot occur (a struct section
            // always has an object form).
            let _ = write_section(o.key("git"), &src.git, |o, g| {
                let out = o.key("commit");
                match &g.commit {
                    Some(c) => jcs::write_str(out, c),
                    None => out.extend_from_slice(b"null"),
                }
                o.key("dirty")
                    .extend_from_slice(if g.dirty { b"true" } else { b"false" });
            });
            let mut to = Obj::open(o.key("tracked"));
            jcs::write_f64(to.key("files"), src.tracked.files as f64);
            write_digest(to.key("merkle_root"), &src.tracked.merkle_root);
            jcs::write_str(to.key("mode"), &src.tracked.mode);
            to.close();
        })?;
        write_value_section(o.key("tau"), &self.tau)?;
        write_section(o.key("work"), &self.work, |o, w| {
            write_opt_f64(o.key("cpu_ms"), w.cpu_ms.map(|n| n as f64));
            write_opt_f64(o.key("exit_code"), w.exit_code.map(f64::from));
            write_opt_f64(o.key("peak_rss_kb"), w.peak_rss_kb.map(|n| n as f64));
            jcs::write_str(o.key("status"), &w.status);
            jcs::write_f64(o.key("wall_ms"), w.wall_ms as f64);
        })?;
        o.close();
        Ok(())
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
        let mut canonical = Vec::with_capacity(bytes.len());
        r.write_canonical(&mut canonical)?;
        if canonical != bytes {
            return Err(if jcs::is_canonical(bytes) {
                ReceiptError::MissingMember
            } else {
                ReceiptError::NotCanonical
            });
        }
        Ok(r)
    }
}

/// A canonical JSON object being written: members must be added in RFC 8785 order (every
/// name used here is ASCII, so that is byte order).
struct Obj<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> Obj<'a> {
    fn open(out: &'a mut Vec<u8>) -> Obj<'a> {
        out.push(b'{');
        Obj { out, first: true }
    }

    /// Writes the member name (and the comma before it); the value goes into the result.
    fn key(&mut self, name: &str) -> &mut Vec<u8> {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        jcs::write_str(self.out, name);
        self.out.push(b':');
        self.out
    }

    fn close(self) {
        self.out.push(b'}');
    }
}

fn write_digest(out: &mut Vec<u8>, d: &Digest) {
    out.push(b'"');
    out.extend_from_slice(&d.hex_bytes());
    out.push(b'"');
}

fn write_opt_f64(out: &mut Vec<u8>, n: Option<f64>) {
    match n {
        Some(f) => jcs::write_f64(out, f),
        None => out.extend_from_slice(b"null"),
    }
}

/// A section of a struct whose member names all sort after `available`: the flag, then
/// the members `fields` writes.
fn write_section<T>(
    out: &mut Vec<u8>,
    section: &Section<T>,
    fields: impl FnOnce(&mut Obj<'_>, &T),
) -> Result<(), ReceiptError> {
    let mut o = Obj::open(out);
    match section {
        Section::Available(t) => {
            o.key("available").extend_from_slice(b"true");
            fields(&mut o, t);
        }
        Section::Unavailable { reason } => {
            o.key("available").extend_from_slice(b"false");
            jcs::write_str(o.key("reason"), reason);
        }
    }
    o.close();
    Ok(())
}

/// The errors of [`Section`]'s `Serialize` for a section holding a JSON value: it must be
/// an object without its own `available` member.
fn check_value_section(section: &Section<Value>) -> Result<(), ReceiptError> {
    let custom = |m: &str| {
        ReceiptError::Jcs(jcs::JcsError::from(
            <serde_json::Error as serde::ser::Error>::custom(m),
        ))
    };
    match section {
        Section::Available(Value::Object(map)) if map.contains_key("available") => Err(custom(
            "a receipt section may not have its own `available` key",
        )),
        Section::Available(Value::Object(_)) | Section::Unavailable { .. } => Ok(()),
        Section::Available(_) => Err(custom("a receipt section must be a JSON object")),
    }
}

/// A section holding a JSON value, checked by [`check_value_section`]: written with
/// `"available": true` among its members.
fn write_value_section(out: &mut Vec<u8>, section: &Section<Value>) -> Result<(), ReceiptError> {
    check_value_section(section)?;
    match section {
        Section::Available(Value::Object(map)) => {
            let flag = Value::Bool(true);
            let mut members: Vec<(&str, &Value)> = Vec::with_capacity(map.len() + 1);
            members.push(("available", &flag));
            members.extend(map.iter().map(|(k, v)| (k.as_str(), v)));
            jcs::write_members(out, &mut members);
            Ok(())
        }
        _ => write_section(out, section, |_, _| {}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The canonical bytes the long way: serialized to a JSON value, then canonicalized.
    fn via_value(r: &Receipt) -> Result<Vec<u8>, String> {
        serde_json::to_value(r)
            .map(|v| jcs::value_to_vec(&v))
            .map_err(|e| jcs::JcsError::from(e).to_string())
    }

    fn sample() -> Receipt {
        Receipt {
            schema: RECEIPT_SCHEMA.into(),
            kind: "cargo".into(),
            producer: "tab\there \"quoted\" \\ \u{1} \u{7f} ü 😀".into(),
            manifest_sha256: Digest::of(b"m"),
            reflective: Reflective {
                merkle_root: Digest::of(b"r"),
            },
            prev: Some(PrevLink {
                sha256: Digest::of(b"p"),
                path: "receipts/000001/receipt.json".into(),
            }),
            source: Section::Available(Source {
                git: Section::Available(GitInfo {
                    commit: Some("ab".repeat(20)),
                    dirty: true,
                }),
                tracked: TrackedSummary {
                    mode: "git".into(),
                    files: u64::MAX,
                    merkle_root: Digest::of(b"t"),
                },
            }),
            ingress: Section::Available(
                json!({"b": 1, "a": [1.5, -0.0, 1e21, null], "\u{e000}": 1, "😀": 2}),
            ),
            graph: Section::Available(GraphSummary {
                kind: "cargo".into(),
                nodes: (1 << 53) + 1,
                edges: 0,
                digest: Digest::of(b"g"),
                path: "graph.json".into(),
            }),
            tau: Section::unavailable("no graph\n"),
            rank: Section::Available(
                json!({"zeta": {"y": true, "x": "\u{2028}"}, "b": 9007199254740993u64}),
            ),
            work: Section::Available(Work {
                status: "failed".into(),
                exit_code: Some(-3),
                wall_ms: 12,
                cpu_ms: None,
                peak_rss_kb: Some(7),
            }),
            artifacts: Section::Available(Artifacts {
                root: "target".into(),
                files: vec![
                    Artifact {
                        path: "a".into(),
                        sha256: Digest::of(b"a"),
                        size: 3,
                    },
                    Artifact {
                        path: "b/ç".into(),
                        sha256: Digest::of(b"b"),
                        size: 1 << 60,
                    },
                ],
            }),
            extensions: BTreeMap::from([
                ("\u{e000}x".to_owned(), json!(1)),
                ("😀".to_owned(), json!({"k": [true, false]})),
                ("cargo".to_owned(), json!("v")),
            ]),
        }
    }

    #[test]
    fn written_from_the_fields_is_the_json_value_form() {
        let mut r = sample();
        let check = |r: &Receipt| {
            let direct = r.to_bytes().map_err(|e| e.to_string());
            assert_eq!(direct, via_value(r));
            if let Ok(b) = direct {
                assert!(jcs::is_canonical(&b));
            }
        };
        check(&r);
        r.prev = None;
        r.source = Section::Available(Source {
            git: Section::Available(GitInfo {
                commit: None,
                dirty: false,
            }),
            tracked: TrackedSummary {
                mode: "walk".into(),
                files: 0,
                merkle_root: Digest::default(),
            },
        });
        r.work = Section::Available(Work {
            status: "not-run".into(),
            exit_code: None,
            wall_ms: 0,
            cpu_ms: Some(u64::MAX - 1),
            peak_rss_kb: None,
        });
        r.artifacts = Section::Available(Artifacts {
            root: String::new(),
            files: Vec::new(),
        });
        r.extensions.clear();
        check(&r);
        r.source = Section::unavailable("not a git work tree");
        r.graph = Section::unavailable("no graph");
        r.ingress = Section::unavailable("none");
        r.rank = Section::unavailable("none");
        r.work = Section::unavailable("none");
        r.artifacts = Section::unavailable("none");
        check(&r);
        // Value sections without an object form fail both ways, with the same error.
        r.tau = Section::Available(json!([1]));
        check(&r);
        r.tau = Section::Available(json!({"available": 1}));
        check(&r);
        r.rank = Section::Available(json!(3));
        check(&r);
        assert!(r.to_bytes().is_err());
    }

    #[test]
    fn parse_reads_back_what_to_bytes_writes() {
        let mut r = sample();
        // Integers above 2^53 are written as the doubles a JSON value holds; keep those
        // that read back.
        if let Section::Available(s) = &mut r.source {
            s.tracked.files = 160;
        }
        if let Section::Available(a) = &mut r.artifacts {
            a.files[1].size = 1 << 40;
        }
        if let Section::Available(g) = &mut r.graph {
            g.nodes = 12;
        }
        let b = r.to_bytes().unwrap();
        assert_eq!(Receipt::parse(&b).unwrap().to_bytes().unwrap(), b);
    }
}
