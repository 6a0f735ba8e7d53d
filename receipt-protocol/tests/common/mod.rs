//! Chains for the ledger tests: real records with real fingerprints, and (from the
//! testkit) re-sealing a tampered entry as an attacker who recomputes hashes forward would.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;

use receipt_graph::{CanonicalGraph, TauSeed, rank, tau};
use receipt_primitives::{Digest, Timestamp, jcs};
use receipt_protocol::ledger::{BuildRecord, Ledger};
use receipt_protocol::manifest::Manifest;
use receipt_protocol::receipt::{GraphSummary, RECEIPT_SCHEMA, Receipt, Reflective, Section, Work};
use receipt_protocol::verify::Report;

pub fn record(n: u64) -> BuildRecord {
    record_at(n, 1_700_000_000 + n as i64)
}

pub fn record_at(n: u64, unix: i64) -> BuildRecord {
    // A small real graph, different for each build, with its real fingerprint.
    let edges: Vec<(String, String)> = (0..=n % 4 + 1)
        .map(|i| (format!("pkg{i}@1.0.{n}"), format!("pkg{}@1.0.{n}", i + 1)))
        .collect();
    let g = CanonicalGraph::new(Vec::<String>::new(), edges).unwrap();
    let graph = g.to_json_bytes();
    let ingress = serde_json::json!({ "args": ["build", n.to_string()] });
    let manifest = Manifest {
        producer: "ledger-test 1.0".into(),
        ingress_preimage_sha256: Some(jcs::sha256(&ingress).unwrap()),
        timestamp: Timestamp::from_unix(unix).unwrap(),
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
    let receipt = Receipt {
        schema: RECEIPT_SCHEMA.into(),
        kind: "cargo".into(),
        producer: String::new(),
        manifest_sha256: Digest::default(),
        reflective: Reflective {
            merkle_root: Digest::default(),
        },
        prev: None,
        source: Section::unavailable("not recorded by this test"),
        ingress: Section::Available(ingress),
        graph: Section::Available(GraphSummary {
            kind: "cargo".into(),
            nodes: g.node_count() as u64,
            edges: g.edge_count() as u64,
            digest: Digest::of(&graph),
            path: "graph.json".into(),
        }),
        tau: Section::Available(serde_json::to_value(tau(&g, &seed)).unwrap()),
        rank: Section::Available(serde_json::to_value(rank(&g)).unwrap()),
        work: Section::Available(Work {
            status: "success".into(),
            exit_code: Some(0),
            wall_ms: n,
            cpu_ms: None,
            peak_rss_kb: None,
        }),
        artifacts: Section::unavailable("not recorded by this test"),
        extensions: BTreeMap::new(),
    };
    BuildRecord {
        manifest,
        receipt,
        graph_json: Some(graph),
    }
}

pub fn ledger_with(dir: &Path, n: u64) -> Ledger {
    let l = Ledger::create(dir).unwrap();
    for i in 1..=n {
        l.append(record(i)).unwrap();
    }
    l
}

pub fn show(r: &Report) -> String {
    r.checks.iter().map(|c| format!("{c}\n")).collect()
}

/// The failures of a report, as (check name, file).
pub fn failed(r: &Report) -> Vec<(String, Option<String>)> {
    r.failures()
        .map(|c| (c.id.as_str().to_owned(), c.file.clone()))
        .collect()
}
