//! Large inputs made with the real writers: a build chain appended through
//! `receipt_protocol::ledger::Ledger` whose graph is a synthetic canonical graph, and a run
//! ledger written by `receipt_runtime`'s Layer. Shared by the browser tests and the bench.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;

use receipt_graph::CanonicalGraph;
use receipt_primitives::{Digest, Timestamp};
use receipt_protocol::assemble::{BuildFacts, assemble};
use receipt_protocol::ledger::Ledger;
use receipt_protocol::receipt::{Artifact, Artifacts, GitInfo, Section, Work};
use receipt_protocol::tracked::{FileKind, TrackMode, TrackedFile, TrackedTree};
use receipt_runtime::{Durability, ReceiptLayer, receipt};
use tracing_subscriber::prelude::*;

/// The key of synthetic package `i`.
pub fn key(i: usize) -> String {
    format!("crate{i:05}@1.{}.{}", i % 9, i % 13)
}

/// A crate-like graph of `n` nodes: four members at the top, every other package a
/// dependency of an earlier one, and up to two more dependencies per package at varying
/// distances, so there are long edges and shared leaves.
pub fn graph(n: usize) -> CanonicalGraph {
    let mut s: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    let mut edges = Vec::new();
    // Every package but the first four is a dependency of an earlier one, so the whole
    // graph is reached from the members, as in a real resolve.
    for j in 4..n {
        let i = j - 1 - (next() % (j.min(40) as u64)) as usize;
        edges.push((key(i), key(j)));
    }
    for i in 0..n {
        let deps = (next() % 3) as usize;
        for _ in 0..deps {
            let span = 1 + (next() % 40) as usize;
            if i + span < n {
                edges.push((key(i), key(i + span)));
            }
        }
    }
    let keys: Vec<String> = (0..n).map(key).collect();
    CanonicalGraph::new(keys, edges).expect("synthetic keys are non-empty")
}

/// Appends `entries` builds of `g` to the ledger at `dir`, the first `members` keys as the
/// workspace members.
pub fn chain(dir: &Path, g: &CanonicalGraph, entries: usize, members: usize) {
    let ledger = Ledger::create(dir).unwrap();
    for e in 0..entries {
        let files: Vec<TrackedFile> = (0..20)
            .map(|i| TrackedFile {
                path: format!("src/m{i:02}.rs"),
                kind: FileKind::File,
                size: 100 + i as u64 + e as u64,
                content_sha256: Digest::of(format!("{i}:{e}").as_bytes()),
            })
            .collect();
        let tree = TrackedTree {
            mode: TrackMode::Walk,
            files,
        };
        let member_keys: Vec<String> = g.nodes().iter().take(members).cloned().collect();
        let mut extensions = BTreeMap::new();
        extensions.insert(
            "cargo".to_owned(),
            serde_json::json!({"members": member_keys, "profile": "dev", "target": "x86_64-unknown-linux-gnu"}),
        );
        let record = assemble(BuildFacts {
            kind: "cargo",
            producer: "synthetic 0.1.0".to_owned(),
            timestamp: Timestamp::from_unix(1_700_000_000 + 60 * e as i64).unwrap(),
            ingress: serde_json::json!({"schema": "synthetic", "entry": e}),
            tree: &tree,
            git: Section::Available(GitInfo {
                commit: Some(
                    Digest::of(format!("commit {e}").as_bytes()).to_hex()[..40].to_owned(),
                ),
                dirty: e % 2 == 1,
            }),
            graph_kind: "cargo",
            graph: g,
            work: Section::Available(Work {
                status: if e % 3 == 2 { "failed" } else { "success" }.to_owned(),
                exit_code: Some(if e % 3 == 2 { 101 } else { 0 }),
                wall_ms: 1_000 + e as u64,
                cpu_ms: None,
                peak_rss_kb: None,
            }),
            artifacts: Section::Available(Artifacts {
                root: "target".to_owned(),
                files: (0..5)
                    .map(|i| Artifact {
                        path: format!("debug/deps/lib{i}.rlib"),
                        sha256: Digest::of(format!("a{i}:{e}").as_bytes()),
                        size: 1_000 * (i + 1) as u64,
                    })
                    .collect(),
            }),
            extensions,
        })
        .unwrap();
        ledger.append(record).unwrap();
    }
}

#[receipt(stage = "leaf")]
fn leaf(i: u64) -> u64 {
    std::hint::black_box(i.wrapping_mul(31))
}

#[receipt(stage = "batch")]
fn batch(i: u64, n: u64) -> u64 {
    (0..n).map(|k| leaf(i + k)).sum()
}

/// Writes a finished run ledger of about `entries` entries at `path`: batches of nested
/// `leaf` stages under `batch` stages.
pub fn run(path: &Path, entries: u64) {
    let (layer, guard) = ReceiptLayer::builder(path)
        .durability(Durability::Never)
        .run_id("synthetic-run")
        .program("synthetic")
        .build()
        .unwrap();
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, || {
        // Each batch of 9 leaves writes 20 entries.
        for b in 0..entries.saturating_sub(2) / 20 {
            batch(b * 9, 9);
        }
    });
    guard.finish().unwrap();
}
