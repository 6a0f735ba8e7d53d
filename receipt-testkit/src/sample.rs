//! Sample build records for ledgers of any length: a small crate graph with its real
//! fingerprint (τ and rank recomputed from it), a manifest, and, as asked, a git source,
//! two artifacts and extensions.

use std::collections::BTreeMap;

use receipt_graph::{CanonicalGraph, TauSeed, rank, tau};
use receipt_primitives::{Digest, Timestamp, jcs};
use receipt_protocol::ledger::BuildRecord;
use receipt_protocol::manifest::Manifest;
use receipt_protocol::receipt::{
    Artifact, Artifacts, GitInfo, GraphSummary, RECEIPT_SCHEMA, Receipt, Reflective, Section,
    Source, TrackedSummary, Work,
};
use serde_json::Value;

/// The build record of build number `n`, different for each `n`. By default: a chain of
/// `n % 4 + 2` edges, stamped at Unix time `1_700_000_000 + n`, with ingress
/// `{"args": ["build", n]}`, `n` ms of wall time, and neither source, artifacts nor
/// extensions (recorded as unavailable or empty).
#[derive(Debug, Clone)]
pub struct SampleRecord {
    n: u64,
    producer: String,
    unix: i64,
    edges: u64,
    ingress: Value,
    wall_ms: u64,
    git_files: Option<u64>,
    artifacts: Option<(String, [u64; 2])>,
    extensions: BTreeMap<String, Value>,
}

impl SampleRecord {
    /// Build `n` as recorded by `producer`, with the defaults above.
    pub fn new(n: u64, producer: &str) -> Self {
        Self {
            n,
            producer: producer.to_owned(),
            unix: 1_700_000_000 + n as i64,
            edges: n % 4 + 2,
            ingress: serde_json::json!({ "args": ["build", n.to_string()] }),
            wall_ms: n,
            git_files: None,
            artifacts: None,
            extensions: BTreeMap::new(),
        }
    }

    /// Stamped at Unix time `unix`.
    #[must_use]
    pub fn at(mut self, unix: i64) -> Self {
        self.unix = unix;
        self
    }

    /// A graph of `edges` edges (`pkg0@1.0.n -> pkg1@1.0.n -> …`).
    #[must_use]
    pub fn edges(mut self, edges: u64) -> Self {
        self.edges = edges;
        self
    }

    /// With `ingress` as the recorded ingress (the manifest commits to its hash).
    #[must_use]
    pub fn ingress(mut self, ingress: Value) -> Self {
        self.ingress = ingress;
        self
    }

    /// With `wall_ms` ms of wall time.
    #[must_use]
    pub fn wall_ms(mut self, wall_ms: u64) -> Self {
        self.wall_ms = wall_ms;
        self
    }

    /// With a clean git source at commit `n` (40 hex digits) and `files` tracked files under
    /// the manifest's Merkle root.
    #[must_use]
    pub fn git_source(mut self, files: u64) -> Self {
        self.git_files = Some(files);
        self
    }

    /// With two artifacts under `target`: `{profile}/app` and `{profile}/libapp.rlib` of
    /// `sizes`, their digests different for each `n`.
    #[must_use]
    pub fn artifacts(mut self, profile: &str, sizes: [u64; 2]) -> Self {
        self.artifacts = Some((profile.to_owned(), sizes));
        self
    }

    /// With the extension `name` holding `value`.
    #[must_use]
    pub fn extension(mut self, name: &str, value: Value) -> Self {
        self.extensions.insert(name.to_owned(), value);
        self
    }

    /// The record, its graph's fingerprint computed from the graph.
    ///
    /// # Panics
    /// When the timestamp is out of range (a test fixture error).
    pub fn build(self) -> BuildRecord {
        let n = self.n;
        let edges: Vec<(String, String)> = (0..self.edges)
            .map(|i| (format!("pkg{i}@1.0.{n}"), format!("pkg{}@1.0.{n}", i + 1)))
            .collect();
        let g = CanonicalGraph::new(Vec::<String>::new(), edges).expect("a chain graph");
        let graph = g.to_json_bytes();
        let manifest = Manifest {
            producer: self.producer,
            ingress_preimage_sha256: Some(jcs::sha256(&self.ingress).expect("ingress JSON")),
            timestamp: Timestamp::from_unix(self.unix).expect("a timestamp in range"),
            merkle_root: Digest::of(&n.to_be_bytes()),
        };
        let (ts, root) = (
            manifest.timestamp.to_string(),
            manifest.merkle_root.to_hex(),
        );
        let seed = TauSeed {
            producer: &manifest.producer,
            timestamp: &ts,
            merkle_root: &root,
        };
        let source = match self.git_files {
            Some(files) => Section::Available(Source {
                git: Section::Available(GitInfo {
                    commit: Some(format!("{n:040x}")),
                    dirty: false,
                }),
                tracked: TrackedSummary {
                    mode: "git".into(),
                    files,
                    merkle_root: manifest.merkle_root,
                },
            }),
            None => Section::unavailable("not recorded by this test"),
        };
        let artifacts = match self.artifacts {
            Some((profile, sizes)) => {
                let files = [("app", "app"), ("libapp.rlib", "lib")]
                    .into_iter()
                    .zip(sizes)
                    .map(|((file, tag), size)| Artifact {
                        path: format!("{profile}/{file}"),
                        sha256: Digest::of(format!("{tag} {n}").as_bytes()),
                        size,
                    })
                    .collect();
                Section::Available(Artifacts {
                    root: "target".into(),
                    files,
                })
            }
            None => Section::unavailable("not recorded by this test"),
        };
        let receipt = Receipt {
            schema: RECEIPT_SCHEMA.into(),
            kind: "cargo".into(),
            producer: String::new(),
            manifest_sha256: Digest::default(),
            reflective: Reflective {
                merkle_root: Digest::default(),
            },
            prev: None,
            source,
            ingress: Section::Available(self.ingress),
            graph: Section::Available(GraphSummary {
                kind: "cargo".into(),
                nodes: g.node_count() as u64,
                edges: g.edge_count() as u64,
                digest: Digest::of(&graph),
                path: "graph.json".into(),
            }),
            tau: Section::Available(serde_json::to_value(tau(&g, &seed)).expect("τ as JSON")),
            rank: Section::Available(serde_json::to_value(rank(&g)).expect("rank as JSON")),
            work: Section::Available(Work {
                status: "success".into(),
                exit_code: Some(0),
                wall_ms: self.wall_ms,
                cpu_ms: None,
                peak_rss_kb: None,
            }),
            artifacts,
            extensions: self.extensions,
        };
        BuildRecord {
            manifest,
            receipt,
            graph_json: Some(graph),
        }
    }
}
