//! Receipts made with the real assembly (`receipt_protocol::assemble`) and appended to a
//! real ledger, for the tests and the benchmark.
#![allow(dead_code)]

use std::collections::BTreeMap;

use receipt_graph::CanonicalGraph;
use receipt_primitives::{Digest, Timestamp};
use receipt_protocol::assemble::{BuildFacts, assemble};
use receipt_protocol::ledger::Ledger;
use receipt_protocol::receipt::{Artifact, Artifacts, GitInfo, Section, Work};
use receipt_protocol::tracked::{FileKind, TrackMode, TrackedFile, TrackedTree};
use serde_json::json;

/// What one synthetic Cargo build was and did.
#[derive(Debug, Clone)]
pub struct Build {
    /// Tracked files (any order).
    pub files: Vec<TrackedFile>,
    /// Graph edges by node key.
    pub edges: Vec<(String, String)>,
    /// Cargo.lock's content.
    pub lock: String,
    /// `rustc -vV`.
    pub rustc_vv: String,
    /// `--features` values.
    pub features: Vec<String>,
    /// Measured wall time.
    pub wall_ms: u64,
    /// One artifact's content.
    pub artifact: String,
}

impl Default for Build {
    fn default() -> Self {
        Build {
            files: vec![file("src/lib.rs", "pub fn f() {}\n", false)],
            edges: vec![("app@0.1.0".into(), "util@0.2.0".into())],
            lock: "lock".into(),
            rustc_vv: "rustc 1.95.0\nhost: x86_64-unknown-linux-gnu\n".into(),
            features: Vec::new(),
            wall_ms: 1000,
            artifact: "binary".into(),
        }
    }
}

/// A tracked file with `content`.
pub fn file(path: &str, content: &str, executable: bool) -> TrackedFile {
    TrackedFile {
        path: path.to_owned(),
        kind: if executable {
            FileKind::Executable
        } else {
            FileKind::File
        },
        size: content.len() as u64,
        content_sha256: Digest::of(content.as_bytes()),
    }
}

/// Assembles `b` and appends it to `ledger`.
pub fn append(ledger: &Ledger, b: &Build) {
    let mut files = b.files.clone();
    files.sort_by(|x, y| x.path.as_bytes().cmp(y.path.as_bytes()));
    let tree = TrackedTree {
        mode: TrackMode::Git,
        files,
    };
    let graph = CanonicalGraph::new(Vec::<String>::new(), b.edges.clone()).expect("a graph");
    let members = vec![graph.nodes()[0].clone()];
    let ext = json!({
        "members": members,
        "profile": "dev",
        "target": "x86_64-unknown-linux-gnu",
        "dev_dependencies": false,
        "tracked_files": tree.files,
    });
    let facts = BuildFacts {
        kind: "cargo",
        producer: "cargo-receipt 0.1.0".into(),
        timestamp: Timestamp::parse("2026-01-01T00:00:00Z").expect("a timestamp"),
        ingress: json!({
            "schema": "tau-crystal.cargo-ingress/1",
            "args": b.features.iter().map(|f| format!("--features={f}")).collect::<Vec<_>>(),
            "profile": "dev",
            "target": "x86_64-unknown-linux-gnu",
            "features": {"all": false, "default": true, "list": b.features},
            "members": members,
            "rustc_vv": b.rustc_vv,
            "cargo_lock_sha256": Digest::of(b.lock.as_bytes()),
            "env": {},
        }),
        tree: &tree,
        git: Section::Available(GitInfo {
            commit: None,
            dirty: true,
        }),
        graph_kind: "cargo",
        graph: &graph,
        work: Section::Available(Work {
            status: "success".into(),
            exit_code: Some(0),
            wall_ms: b.wall_ms,
            cpu_ms: Some(900),
            peak_rss_kb: Some(100_000),
        }),
        artifacts: Section::Available(Artifacts {
            root: "target".into(),
            files: vec![Artifact {
                path: "debug/app".into(),
                sha256: Digest::of(b.artifact.as_bytes()),
                size: b.artifact.len() as u64,
            }],
        }),
        extensions: BTreeMap::from([("cargo".to_owned(), ext)]),
    };
    ledger
        .append(assemble(facts).expect("assembled"))
        .expect("appended");
}
