//! Criterion benchmark of `cargo receipt diff` on two receipts of a 50,000-file tree with a
//! few hundred files changed, made with the real assembly (`receipt_protocol::assemble`) and
//! appended to a real ledger; the baseline in the same run is reading and parsing the two
//! receipt files alone.
//!
//! ```text
//! cargo bench -p receipt-diff --bench diff
//! ```

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use receipt_graph::CanonicalGraph;
use receipt_primitives::{Digest, Timestamp};
use receipt_protocol::assemble::{BuildFacts, assemble};
use receipt_protocol::ledger::Ledger;
use receipt_protocol::receipt::{Artifact, Artifacts, GitInfo, Receipt, Section, Work};
use receipt_protocol::tracked::{FileKind, TrackMode, TrackedFile, TrackedTree};
use serde_json::json;

const FILES: usize = 50_000;
const CHANGED: usize = 300;
const PACKAGES: usize = 300;

/// 50,000 files in 500 directories; with `changed`, every 166th file has other content.
fn tree(changed: bool) -> TrackedTree {
    let mut files: Vec<TrackedFile> = (0..FILES)
        .map(|i| {
            let edited = changed && i % (FILES / CHANGED) == 0;
            let content = format!("file {i}{}", if edited { " edited" } else { "" });
            TrackedFile {
                path: format!("crates/c{:03}/src/m{i:06}.rs", i / 100),
                kind: if i % 97 == 0 {
                    FileKind::Executable
                } else {
                    FileKind::File
                },
                size: content.len() as u64,
                content_sha256: Digest::of(content.as_bytes()),
            }
        })
        .collect();
    files.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
    TrackedTree {
        mode: TrackMode::Git,
        files,
    }
}

/// A chain of packages, each depending on the next two; `bump` changes one version.
fn graph(bump: bool) -> CanonicalGraph {
    let key = |i: usize| {
        let v = if bump && i == 7 { "1.1.0" } else { "1.0.0" };
        format!("p{i:03}@{v}")
    };
    let edges: Vec<(String, String)> = (0..PACKAGES)
        .flat_map(|i| [(i, i + 1), (i, i + 2)])
        .filter(|&(_, j)| j < PACKAGES)
        .map(|(i, j)| (key(i), key(j)))
        .collect();
    CanonicalGraph::new(Vec::<String>::new(), edges).expect("a graph")
}

fn append(ledger: &Ledger, changed: bool) {
    let tree = tree(changed);
    let graph = graph(changed);
    let ext = json!({
        "members": ["p000@1.0.0"],
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
            "args": ["--workspace"],
            "profile": "dev",
            "target": "x86_64-unknown-linux-gnu",
            "features": {"all": false, "default": true, "list": []},
            "members": ["p000@1.0.0"],
            "rustc_vv": "rustc 1.95.0\nhost: x86_64-unknown-linux-gnu\n",
            "cargo_lock_sha256": Digest::of(if changed { b"lock b" } else { b"lock a" }),
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
            wall_ms: if changed { 1200 } else { 1000 },
            cpu_ms: Some(900),
            peak_rss_kb: Some(100_000),
        }),
        artifacts: Section::Available(Artifacts {
            root: "target".into(),
            files: vec![Artifact {
                path: "debug/p000".into(),
                sha256: Digest::of(if changed { b"bin b" } else { b"bin a" }),
                size: 5,
            }],
        }),
        extensions: BTreeMap::from([("cargo".to_owned(), ext)]),
    };
    ledger
        .append(assemble(facts).expect("assembled"))
        .expect("appended");
}

fn bench(c: &mut Criterion) {
    let tmp = tempfile::tempdir().expect("a temp dir");
    let ledger = Ledger::open(tmp.path()).expect("a ledger");
    append(&ledger, false);
    append(&ledger, true);
    let dir = tmp.path().to_str().expect("UTF-8").to_owned();
    let (a, b) = (format!("{dir}@1"), format!("{dir}@2"));
    let d = receipt_diff::diff_receipts(&a, &b, None).expect("a diff");
    let files = d
        .changes
        .iter()
        .filter(|c| c.item.starts_with("file "))
        .count();
    let edited = (0..FILES).filter(|i| i % (FILES / CHANGED) == 0).count();
    assert_eq!(files, edited, "the edited files");
    assert!(d.changes.iter().any(|c| c.item == "package p007"));
    let receipt_file = |n: u32| Path::new(&dir).join(format!("receipts/{n:06}/receipt.json"));
    let size = std::fs::metadata(receipt_file(1)).expect("a receipt").len();
    eprintln!("receipt files of {size} bytes; {} changes", d.changes.len());

    let mut group = c.benchmark_group("diff/50000-files");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(10));
    group.bench_function("baseline: read and parse both receipts", |bn| {
        bn.iter(|| {
            for n in [1, 2] {
                let bytes = std::fs::read(receipt_file(n)).expect("read");
                black_box(Receipt::parse(&bytes).expect("parse"));
            }
        });
    });
    group.bench_function("cargo receipt diff DIR@1 DIR@2", |bn| {
        bn.iter(|| black_box(receipt_diff::diff_receipts(&a, &b, None).expect("a diff")));
    });
    group.bench_function("render text and JSON", |bn| {
        bn.iter(|| {
            black_box(d.to_text());
            black_box(d.to_json().expect("json"));
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
