//! Receipt sections that every producer computes the same way from the same inputs: the
//! source, the graph, and the graph's τ and rank fingerprints (docs/SPEC.md §4, §5).

use std::path::Path;

use receipt_graph::{CanonicalGraph, TauSeed};
use serde_json::Value;

use crate::digest::Digest;
use crate::ledger::GRAPH_FILE;
use crate::manifest::Manifest;
use crate::receipt::{GraphSummary, Section, Source, TrackedSummary};
use crate::tracked::TrackedTree;

/// The source section: git state of `root` and the tracked set's summary; `merkle_root` is
/// the tree's root, already computed for the manifest.
pub fn source(root: &Path, tree: &TrackedTree, merkle_root: Digest) -> Section<Source> {
    Section::Available(Source {
        git: crate::git::git_info(root),
        tracked: TrackedSummary {
            mode: tree.mode.as_str().to_owned(),
            files: tree.files.len() as u64,
            merkle_root,
        },
    })
}

/// The graph section for `graph` of `kind`, and the bytes of its graph file.
pub fn graph(kind: &str, graph: &CanonicalGraph) -> (Section<GraphSummary>, Vec<u8>) {
    let bytes = graph.to_json_bytes();
    let summary = GraphSummary {
        kind: kind.to_owned(),
        nodes: graph.node_count() as u64,
        edges: graph.edge_count() as u64,
        digest: Digest::of(&bytes),
        path: GRAPH_FILE.to_owned(),
    };
    (Section::Available(summary), bytes)
}

/// τ of `graph` seeded by the manifest's producer, timestamp and Merkle root, and the rank
/// report, as receipt sections. Producers and the verifier both call this, so what is
/// recorded and what is recomputed cannot drift apart.
pub fn fingerprints(
    graph: &CanonicalGraph,
    manifest: &Manifest,
) -> (Section<Value>, Section<Value>) {
    let timestamp = manifest.timestamp.to_string();
    let merkle_root = manifest.merkle_root.to_hex();
    let seed = TauSeed {
        producer: &manifest.producer,
        timestamp: &timestamp,
        merkle_root: &merkle_root,
    };
    let as_section = |v: Result<Value, serde_json::Error>, what: &str| match v {
        Ok(v) => Section::Available(v),
        Err(e) => Section::unavailable(format!("the {what} has no JSON form: {e}")),
    };
    (
        as_section(
            serde_json::to_value(receipt_graph::tau(graph, &seed)),
            "τ report",
        ),
        as_section(
            serde_json::to_value(receipt_graph::rank(graph)),
            "rank report",
        ),
    )
}
