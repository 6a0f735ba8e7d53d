//! Per-call overhead of `#[receipt]` against its baselines, ledger throughput per
//! durability policy, and verification throughput. Baselines run in the same process.

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use receipt_runtime::{Durability, ReceiptLayer, receipt};
use tracing_subscriber::prelude::*;

#[inline(never)]
fn bare(x: u64) -> u64 {
    black_box(x).wrapping_mul(31).rotate_left(7)
}

#[receipt(stage = "work")]
fn with_receipt(x: u64) -> u64 {
    black_box(x).wrapping_mul(31).rotate_left(7)
}

#[tracing::instrument(level = "info")]
fn with_instrument(x: u64) -> u64 {
    black_box(x).wrapping_mul(31).rotate_left(7)
}

fn per_call(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let mut g = c.benchmark_group("call");
    g.bench_function("bare", |b| b.iter(|| bare(black_box(7))));
    g.bench_function("receipt_no_subscriber", |b| {
        b.iter(|| with_receipt(black_box(7)))
    });
    // Baseline: #[instrument] with a JSON fmt layer writing every span close to a file.
    let file = std::fs::File::create(dir.path().join("fmt.jsonl")).unwrap();
    let fmt = tracing_subscriber::fmt::layer()
        .json()
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
        .with_writer(std::sync::Mutex::new(file));
    tracing::subscriber::with_default(tracing_subscriber::registry().with(fmt), || {
        g.bench_function("instrument_fmt_json_file", |b| {
            b.iter(|| with_instrument(black_box(7)))
        });
    });
    let (layer, run) = ReceiptLayer::builder(dir.path().join("calls.jsonl"))
        .build()
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        g.bench_function("receipt_layer", |b| b.iter(|| with_receipt(black_box(7))));
    });
    g.finish();
    run.finish().unwrap();
}

/// Runs `calls` stages (two entries each) under a fresh run and finishes it; returns the
/// elapsed time including the final flush/fsync and receipt.
fn one_run(dir: &Path, n: &mut u64, calls: u64, durability: Durability) -> Duration {
    *n += 1;
    let path = dir.join(format!("run-{n}.jsonl"));
    let start = Instant::now();
    let (layer, run) = ReceiptLayer::builder(&path)
        .durability(durability)
        .run_id(format!("bench-{n}"))
        .build()
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        for i in 0..calls {
            with_receipt(i);
        }
    });
    run.finish().unwrap();
    let t = start.elapsed();
    for p in [
        path.clone(),
        receipt_runtime::ledger::head_path(&path),
        receipt_runtime::ledger::receipt_path(&path),
    ] {
        let _ = std::fs::remove_file(p);
    }
    t
}

fn ledger(c: &mut Criterion) {
    let dir = tempfile::tempdir_in(".").unwrap();
    let mut g = c.benchmark_group("ledger");
    let mut n = 0;
    for (name, calls, d) in [
        ("on_finalize", 50_000u64, Durability::OnFinalize),
        ("every_n_1000", 50_000, Durability::EveryN(1000)),
        ("always", 250, Durability::Always),
    ] {
        // Entries: RUN_START, an enter and an exit per call, RUN_FINALIZE.
        g.throughput(Throughput::Elements(2 * calls + 2));
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| one_run(dir.path(), &mut n, calls, d))
                    .sum()
            })
        });
    }
    // Baseline for `always`: the same number of 500-byte appends, each followed by one
    // fdatasync, on the same file system.
    g.throughput(Throughput::Elements(502));
    g.bench_function("raw_append_fdatasync_baseline", |b| {
        b.iter_custom(|iters| {
            let path = dir.path().join("raw.bin");
            let line = [b'x'; 500];
            let start = Instant::now();
            for _ in 0..iters {
                let mut f = std::fs::File::create(&path).unwrap();
                for _ in 0..502 {
                    std::io::Write::write_all(&mut f, &line).unwrap();
                    f.sync_data().unwrap();
                }
            }
            start.elapsed()
        })
    });
    g.finish();
}

fn verify(c: &mut Criterion) {
    let dir = tempfile::tempdir_in(".").unwrap();
    let path = dir.path().join("big.jsonl");
    let calls = 100_000u64;
    let (layer, run) = ReceiptLayer::builder(&path).build().unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        for i in 0..calls {
            with_receipt(i);
        }
    });
    run.finish().unwrap();
    let mut g = c.benchmark_group("verify");
    g.throughput(Throughput::Elements(2 * calls + 2));
    g.bench_function("verify_run_200k_entries", |b| {
        b.iter(|| {
            let r = receipt_runtime::verify::verify_run(&path, None);
            assert!(r.ok());
        })
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = benches;
    config = config();
    targets = per_call, ledger, verify
}
criterion_main!(benches);
