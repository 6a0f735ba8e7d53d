//! The cost of `evidence()` on the calling thread against the hashing it must do, and
//! ledger events per second, durable and in memory, on the event stream receipt-kernel was
//! measured with (one run appending small `{"task": …}` events).
//!
//! `cargo bench -p receipt-runtime --bench evidence`

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use receipt_evidence::{Prepared, Redactor};
use receipt_runtime::evidence::Class;
use receipt_runtime::{Durability, ReceiptLayer, receipt};
use tracing_subscriber::prelude::*;

/// Calls timed per run: fewer than the writer queue holds, so the caller never waits for
/// the writer and the time is the calling thread's own.
const CHUNK: u64 = 8_000;

/// A typical 1 KiB value: log text with a URL, a path and a JSON fragment.
fn value(i: u64) -> String {
    let mut s = String::with_capacity(1100);
    while s.len() < 1000 {
        s.push_str(&format!(
            "2026-03-14T09:26:53.{i:03}Z INFO request id={i} GET https://api.example.com/v1/items?page={i} \
             took 12ms user=svc-build path=/srv/app/releases/{i}/config.json {{\"ok\":true,\"n\":{i}}}\n"
        ));
    }
    s.truncate(1024);
    s
}

#[receipt(stage = "keep", skip_all)]
fn keep(values: &[String]) -> Duration {
    // The run's first evidence opens (creates) its store: once per run, not timed.
    receipt_runtime::evidence("warm_up", Class::Public, "opens the store").unwrap();
    let start = Instant::now();
    for (i, v) in values.iter().enumerate() {
        receipt_runtime::evidence("payload", Class::Public, black_box(v)).unwrap();
        black_box(i);
    }
    start.elapsed()
}

fn fresh(dir: &Path, n: &mut u64) -> PathBuf {
    *n += 1;
    dir.join(format!("run-{n}.jsonl"))
}

fn evidence_call(c: &mut Criterion) {
    let dir = tempfile::tempdir_in(".").unwrap();
    let mut n = 0;
    let mut g = c.benchmark_group("evidence");
    g.throughput(Throughput::Elements(1));
    let v = value(7);
    let bytes = receipt_primitives::jcs::to_vec(&v).unwrap();
    // The hashing every call must do: SHA-256 of the value's canonical bytes.
    g.bench_function("sha256_of_1k_canonical", |b| {
        b.iter(|| receipt_primitives::Digest::of(black_box(&bytes)))
    });
    // What the call does besides queueing: canonical JSON, redaction, hashing.
    let redactor = Redactor::builtin();
    g.bench_function("canonical_redact_hash_1k", |b| {
        b.iter(|| {
            let bytes = receipt_primitives::jcs::to_vec(black_box(&v)).unwrap();
            Prepared::redacted(Class::Public, &bytes, &redactor)
        })
    });
    // The call itself, inside an entered stage of a recording run.
    g.bench_function("evidence_call_1k", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let k = left.min(CHUNK);
                left -= k;
                let values: Vec<String> = (0..k).map(value).collect();
                let path = fresh(dir.path(), &mut n);
                let (layer, run) = ReceiptLayer::builder(&path)
                    .durability(Durability::Never)
                    .build()
                    .unwrap();
                tracing::subscriber::with_default(
                    tracing_subscriber::registry().with(layer),
                    || total += keep(&values),
                );
                run.finish().unwrap();
            }
            total
        })
    });
    g.finish();
}

#[receipt(stage = "run", skip_all)]
fn stream(events: u64) {
    for i in 0..events {
        tracing::info!(task = "example", step = i, "event");
    }
}

/// One run of `events` small events; the time includes finalize (and every fsync).
fn one_stream(dir: &Path, n: &mut u64, events: u64, d: Durability) -> Duration {
    let path = fresh(dir, n);
    let start = Instant::now();
    let (layer, run) = ReceiptLayer::builder(&path).durability(d).build().unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        stream(events)
    });
    run.finish().unwrap();
    let t = start.elapsed();
    let _ = std::fs::remove_file(&path);
    t
}

fn event_stream(c: &mut Criterion) {
    let disk = tempfile::tempdir_in(".").unwrap();
    // In memory: a tmpfs, as receipt-kernel's in-memory SQLite database.
    let shm = tempfile::tempdir_in("/dev/shm").unwrap_or_else(|_| tempfile::tempdir().unwrap());
    let mut n = 0;
    let mut g = c.benchmark_group("event_stream");
    for (name, dir, events, d) in [
        (
            "durable_always_fsync",
            disk.path(),
            500u64,
            Durability::Always,
        ),
        ("in_memory_tmpfs", shm.path(), 50_000, Durability::Never),
    ] {
        // RUN_START, the stage's enter and exit, the events, RUN_FINALIZE.
        g.throughput(Throughput::Elements(events + 4));
        g.bench_function(name, |b| {
            b.iter_custom(|iters| (0..iters).map(|_| one_stream(dir, &mut n, events, d)).sum())
        });
    }
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = evidence_call, event_stream
}
criterion_main!(benches);
