//! Criterion benchmark of `cargo receipt diff` on two receipts of a 50,000-file tree with a
//! few hundred files changed, made with the real assembly (`receipt_protocol::assemble`) and
//! appended to a real ledger; the baseline in the same run is reading and parsing the two
//! receipt files with `Receipt::parse`.
//!
//! ```text
//! cargo bench -p receipt-diff --bench diff
//! ```

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use common::{Build, append, file};
use criterion::{Criterion, criterion_group, criterion_main};
use receipt_protocol::ledger::Ledger;
use receipt_protocol::receipt::Receipt;

const FILES: usize = 50_000;
const CHANGED: usize = 300;
const PACKAGES: usize = 300;

/// 50,000 files in 500 directories, a chain of 300 packages; with `changed`, every 166th
/// file has other content and one package another version.
fn build(changed: bool) -> Build {
    let edited = |i: usize| changed && i.is_multiple_of(FILES / CHANGED);
    let files = (0..FILES)
        .map(|i| {
            let content = format!("file {i}{}", if edited(i) { " edited" } else { "" });
            file(
                &format!("crates/c{:03}/src/m{i:06}.rs", i / 100),
                &content,
                i.is_multiple_of(97),
            )
        })
        .collect();
    let key = |i: usize| {
        let v = if changed && i == 7 { "1.1.0" } else { "1.0.0" };
        format!("p{i:03}@{v}")
    };
    let edges = (0..PACKAGES)
        .flat_map(|i| [(i, i + 1), (i, i + 2)])
        .filter(|&(_, j)| j < PACKAGES)
        .map(|(i, j)| (key(i), key(j)))
        .collect();
    Build {
        files,
        edges,
        lock: if changed { "lock b" } else { "lock a" }.into(),
        wall_ms: if changed { 1200 } else { 1000 },
        ..Build::default()
    }
}

fn bench(c: &mut Criterion) {
    let tmp = tempfile::tempdir().expect("a temp dir");
    let ledger = Ledger::create(tmp.path()).expect("a ledger");
    append(&ledger, &build(false));
    append(&ledger, &build(true));
    let dir = tmp.path().to_str().expect("UTF-8").to_owned();
    let (a, b) = (format!("{dir}@1"), format!("{dir}@2"));
    let d = receipt_diff::diff_receipts(&a, &b, None).expect("a diff");
    let files = d
        .changes
        .iter()
        .filter(|c| c.item.starts_with("file "))
        .count();
    let edited = (0..FILES)
        .filter(|i| i.is_multiple_of(FILES / CHANGED))
        .count();
    assert_eq!(files, edited, "the edited files");
    assert!(d.changes.iter().any(|c| c.item == "package p007"));
    let receipt_file = |n: u32| Path::new(&dir).join(format!("receipts/{n:06}/receipt.json"));
    let size = std::fs::metadata(receipt_file(1)).expect("a receipt").len();
    eprintln!("receipt files of {size} bytes; {} changes", d.changes.len());

    let mut group = c.benchmark_group("diff/50000-files");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(15));
    group.bench_function("baseline: read and Receipt::parse both receipts", |bn| {
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
