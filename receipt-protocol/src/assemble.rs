//! Receipt assembly shared by every producer (docs/SPEC.md §4, §5): from what a producer
//! measured to the manifest, receipt and graph file of one build record, so Cargo and Lake
//! receipts are put together by the same code; and the τ/rank fingerprints, which the
//! verifier recomputes with the same function.

use std::collections::BTreeMap;

use receipt_graph::{CanonicalGraph, TauSeed};
use receipt_primitives::{Digest, Timestamp, jcs};
use serde_json::Value;

use crate::ledger::{BuildRecord, GRAPH_FILE};
use crate::manifest::Manifest;
use crate::receipt::{
    Artifacts, GitInfo, GraphSummary, RECEIPT_SCHEMA, Receipt, Reflective, Section, Source,
    TrackedSummary, Work,
};
use crate::tracked::TrackedTree;

/// Everything a producer knows about one build; [`assemble`] makes the record from it.
#[derive(Debug)]
pub struct BuildFacts<'a> {
    /// The receipt's `kind` (`cargo`, `lake`).
    pub kind: &'a str,
    /// The producing tool and version, e.g. `cargo-receipt 0.1.0`.
    pub producer: String,
    /// The manifest timestamp (from `SOURCE_DATE_EPOCH` when set).
    pub timestamp: Timestamp,
    /// The ingress preimage (§5.2); its canonical bytes are hashed into the manifest.
    pub ingress: Value,
    /// The tracked set whose root the manifest carries.
    pub tree: &'a TrackedTree,
    /// The git state of the tracked root.
    pub git: Section<GitInfo>,
    /// What the graph's nodes are (`cargo`, `lean-modules`).
    pub graph_kind: &'a str,
    /// The canonical build graph.
    pub graph: &'a CanonicalGraph,
    /// What the build did.
    pub work: Section<Work>,
    /// What the build produced.
    pub artifacts: Section<Artifacts>,
    /// The producer's namespaced extensions.
    pub extensions: BTreeMap<String, Value>,
}

/// Why a record could not be assembled.
#[derive(Debug, thiserror::Error)]
pub enum AssembleError {
    /// The ingress preimage has no canonical JSON form (a non-finite number, say).
    #[error("the ingress preimage has no canonical form: {0}")]
    Ingress(#[from] jcs::JcsError),
}

/// The manifest, receipt and graph file of one build. The receipt's `manifest_sha256` and
/// `prev` are set by the ledger when it appends the record.
///
/// # Errors
/// [`AssembleError`] when the ingress preimage cannot be canonicalized.
pub fn assemble(facts: BuildFacts<'_>) -> Result<BuildRecord, AssembleError> {
    let merkle_root = facts.tree.root();
    let manifest = Manifest {
        producer: facts.producer,
        ingress_preimage_sha256: Some(jcs::sha256(&facts.ingress)?),
        timestamp: facts.timestamp,
        merkle_root,
    };
    let (graph_section, graph_json) = graph(facts.graph_kind, facts.graph);
    let (tau, rank) = fingerprints(facts.graph, &manifest);
    let receipt = Receipt {
        schema: RECEIPT_SCHEMA.to_owned(),
        kind: facts.kind.to_owned(),
        producer: manifest.producer.clone(),
        manifest_sha256: Digest::default(),
        reflective: Reflective { merkle_root },
        prev: None,
        source: Section::Available(Source {
            git: facts.git,
            tracked: TrackedSummary {
                mode: facts.tree.mode.as_str().to_owned(),
                files: facts.tree.files.len() as u64,
                merkle_root,
            },
        }),
        ingress: Section::Available(facts.ingress),
        graph: graph_section,
        tau,
        rank,
        work: facts.work,
        artifacts: facts.artifacts,
        extensions: facts.extensions,
    };
    Ok(BuildRecord {
        manifest,
        receipt,
        graph_json: Some(graph_json),
    })
}

/// The graph section for `graph` of `kind`, and the bytes of its graph file.
fn graph(kind: &str, graph: &CanonicalGraph) -> (Section<GraphSummary>, Vec<u8>) {
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
/// report, as receipt sections. Producers call this; the verifier recomputes each with
/// [`tau_section`] and the same kernel, so what is recorded and what is recomputed cannot
/// drift apart.
pub fn fingerprints(
    graph: &CanonicalGraph,
    manifest: &Manifest,
) -> (Section<Value>, Section<Value>) {
    (
        tau_section(graph, manifest),
        as_section(
            serde_json::to_value(receipt_graph::rank(graph)),
            "rank report",
        ),
    )
}

/// The τ section of `graph`, seeded by the manifest's producer, timestamp and Merkle root.
pub fn tau_section(graph: &CanonicalGraph, manifest: &Manifest) -> Section<Value> {
    let timestamp = manifest.timestamp.to_string();
    let merkle_root = manifest.merkle_root.to_hex();
    let seed = TauSeed {
        producer: &manifest.producer,
        timestamp: &timestamp,
        merkle_root: &merkle_root,
    };
    as_section(
        serde_json::to_value(receipt_graph::tau(graph, &seed)),
        "τ report",
    )
}

fn as_section(v: Result<Value, serde_json::Error>, what: &str) -> Section<Value> {
    match v {
        Ok(v) => Section::Available(v),
        Err(e) => Section::unavailable(format!("the {what} has no JSON form: {e}")),
    }
}
