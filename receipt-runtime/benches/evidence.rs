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

/// Calls per run: one criterion iteration is one run of this many `evidence()` calls,
/// fewer than the writer queue holds, so the caller never waits for the writer and the
/// caller-side times are the calling thread's own.
const CHUNK: u64 = 4_000;

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

/// What one run of [`CHUNK`] calls cost.
struct Timed {
    /// Wall time of the calls on the calling thread.
    caller_wall: Duration,
    /// CPU time of the calling thread during the calls (its own work and system calls,
    /// without the time it was preempted by other work on the shared cores).
    caller_cpu: Duration,
    /// From the first call to `finish()` returning: every blob stored, every entry
    /// written, the ledger fsynced and the receipt written.
    end_to_end: Duration,
    /// CPU time of the rest of the process over the run (the writer thread: redaction,
    /// hashing, the store's writes, the ledger entries), from `build()` to `finish()`.
    writer_cpu: Duration,
}

fn process_cpu() -> Duration {
    Duration::from_nanos(
        receipt_runtime::measure::process_cpu_ns()
            .value()
            .expect("process CPU clock"),
    )
}

fn thread_cpu() -> Duration {
    Duration::from_nanos(
        receipt_runtime::measure::thread_cpu_ns()
            .value()
            .expect("thread CPU clock"),
    )
}

#[receipt(stage = "keep", skip_all)]
fn keep(values: &[String]) -> (Duration, Duration) {
    // The run's first evidence opens (creates) its store: once per run, not timed.
    receipt_runtime::evidence("warm_up", Class::Public, "opens the store").unwrap();
    // Let the writer store it, so that its start is not in the calls' time.
    std::thread::sleep(Duration::from_millis(20));
    let cpu = thread_cpu();
    let start = Instant::now();
    for (i, v) in values.iter().enumerate() {
        receipt_runtime::evidence("payload", Class::Public, black_box(v)).unwrap();
        black_box(i);
    }
    (start.elapsed(), thread_cpu() - cpu)
}

/// Calls spaced [`IDLE_GAP`] apart, so that the writer has gone idle (asleep between
/// looks at the queue) before each. Returns the calls' summed wall time.
#[receipt(stage = "keep_sparse", skip_all)]
fn keep_sparse(values: &[String]) -> Duration {
    receipt_runtime::evidence("warm_up", Class::Public, "opens the store").unwrap();
    let mut total = Duration::ZERO;
    for v in values {
        let gap = Instant::now();
        while gap.elapsed() < IDLE_GAP {
            std::hint::spin_loop();
        }
        let start = Instant::now();
        receipt_runtime::evidence("payload", Class::Public, black_box(v)).unwrap();
        total += start.elapsed();
    }
    total
}

/// The pause before each call of [`keep_sparse`].
const IDLE_GAP: Duration = Duration::from_micros(300);

/// Calls per run of [`keep_sparse`].
const SPARSE: u64 = 200;

fn fresh(dir: &Path, n: &mut u64) -> PathBuf {
    *n += 1;
    dir.join(format!("run-{n}.jsonl"))
}

/// One run of [`CHUNK`] `evidence()` calls with distinct 1 KiB values, each a new blob.
fn evidence_run(dir: &Path, n: &mut u64) -> Timed {
    let values: Vec<String> = (0..CHUNK).map(|i| value(*n * CHUNK + i)).collect();
    let path = fresh(dir, n);
    let cpu = process_cpu();
    let (layer, run) = ReceiptLayer::builder(&path)
        .durability(Durability::Never)
        .build()
        .unwrap();
    let (caller_wall, caller_cpu) =
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
            keep(&values)
        });
    let start = Instant::now() - caller_wall;
    let outcome = run.finish().unwrap();
    let end_to_end = start.elapsed();
    let writer_cpu = process_cpu() - cpu - caller_cpu;
    // RUN_START, enter, the warm-up and CHUNK evidence entries, exit, RUN_FINALIZE.
    assert_eq!(outcome.receipt.ledger.entries, CHUNK + 5);
    // Runs on the disk keep their files until the end: deleting thousands of files between
    // runs makes the next run's file creation scan past them (ext4 inode allocation
    // without a journal) and would be measured as the writer's cost.
    if !dir.starts_with("/dev/shm") {
        return Timed {
            caller_wall,
            caller_cpu,
            end_to_end,
            writer_cpu,
        };
    }
    let _ = std::fs::remove_dir_all(receipt_runtime::evidence::default_store(&path));
    for p in [
        path.clone(),
        outcome.receipt_path,
        receipt_runtime::ledger::head_path(&path),
    ] {
        let _ = std::fs::remove_file(p);
    }
    Timed {
        caller_wall,
        caller_cpu,
        end_to_end,
        writer_cpu,
    }
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
    // What the writer does per value besides storing it: canonical JSON, redaction, hashing.
    let redactor = Redactor::builtin();
    g.bench_function("canonical_redact_hash_1k", |b| {
        b.iter(|| {
            let bytes = receipt_primitives::jcs::to_vec(black_box(&v)).unwrap();
            Prepared::redacted(Class::Public, &bytes, &redactor)
        })
    });
    // The call itself, inside an entered stage of a recording run: one iteration is one
    // run of CHUNK calls; the time per call is the time per iteration / CHUNK. The ledger
    // and the store on this disk, then on a tmpfs (what the writer costs without the
    // filesystem's file creation).
    let shm = tempfile::tempdir_in("/dev/shm").unwrap_or_else(|_| tempfile::tempdir().unwrap());
    g.throughput(Throughput::Elements(CHUNK));
    type Pick = fn(&Timed) -> Duration;
    let picks: [(&str, &Path, Pick); 7] = [
        ("call_1k_caller_wall", dir.path(), |t| t.caller_wall),
        ("call_1k_caller_cpu", dir.path(), |t| t.caller_cpu),
        ("call_1k_end_to_end", dir.path(), |t| t.end_to_end),
        ("call_1k_writer_cpu", dir.path(), |t| t.writer_cpu),
        ("call_1k_caller_wall_tmpfs", shm.path(), |t| t.caller_wall),
        ("call_1k_end_to_end_tmpfs", shm.path(), |t| t.end_to_end),
        ("call_1k_writer_cpu_tmpfs", shm.path(), |t| t.writer_cpu),
    ];
    // The caller's wall and CPU time of every run, to compare the two in the same runs.
    let callers = std::cell::RefCell::new(Vec::new());
    for (name, at, pick) in picks {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| {
                        let t = evidence_run(at, &mut n);
                        callers.borrow_mut().push((t.caller_wall, t.caller_cpu));
                        pick(&t)
                    })
                    .sum()
            })
        });
    }
    let per_call = |mut v: Vec<Duration>| {
        v.sort();
        v[v.len() / 2].as_secs_f64() * 1e6 / CHUNK as f64
    };
    let callers = callers.into_inner();
    // Nothing to compare when a filter left out the caller benches.
    if !callers.is_empty() {
        println!(
            "evidence/caller_same_runs: {} runs of {CHUNK} calls, medians per call: wall {:.2} µs, CPU {:.2} µs",
            callers.len(),
            per_call(callers.iter().map(|c| c.0).collect()),
            per_call(callers.iter().map(|c| c.1).collect()),
        );
    }
    // Sparse calls, each arriving while the writer is idle: one iteration is one run of
    // SPARSE calls.
    g.throughput(Throughput::Elements(SPARSE));
    g.bench_function("call_1k_sparse_caller_wall", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    let values: Vec<String> = (0..SPARSE).map(value).collect();
                    let path = fresh(shm.path(), &mut n);
                    let (layer, run) = ReceiptLayer::builder(&path)
                        .durability(Durability::Never)
                        .build()
                        .unwrap();
                    let t = tracing::subscriber::with_default(
                        tracing_subscriber::registry().with(layer),
                        || keep_sparse(&values),
                    );
                    run.finish().unwrap();
                    let _ =
                        std::fs::remove_dir_all(receipt_runtime::evidence::default_store(&path));
                    t
                })
                .sum()
        })
    });
    g.finish();
}

#[receipt(stage = "run", skip_all)]
fn stream(events: u64, sync_each: bool) {
    for i in 0..events {
        tracing::info!(task = "example", step = i, "event");
        if sync_each {
            receipt_runtime::sync().unwrap();
        }
    }
}

/// One run of `events` small events; the time includes finalize (and every fsync).
fn one_stream(dir: &Path, n: &mut u64, events: u64, d: Durability, sync_each: bool) -> Duration {
    let path = fresh(dir, n);
    let start = Instant::now();
    let (layer, run) = ReceiptLayer::builder(&path).durability(d).build().unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        stream(events, sync_each)
    });
    let outcome = run.finish().unwrap();
    let t = start.elapsed();
    for p in [
        path.clone(),
        outcome.receipt_path,
        receipt_runtime::ledger::head_path(&path),
    ] {
        let _ = std::fs::remove_file(p);
    }
    t
}

fn event_stream(c: &mut Criterion) {
    let disk = tempfile::tempdir_in(".").unwrap();
    // In memory: a tmpfs, as receipt-kernel's in-memory SQLite database.
    let shm = tempfile::tempdir_in("/dev/shm").unwrap_or_else(|_| tempfile::tempdir().unwrap());
    let mut n = 0;
    let mut g = c.benchmark_group("event_stream");
    for (name, dir, events, d, sync_each) in [
        // Each event durable before the next is emitted: `sync()` after every event, as
        // receipt-kernel commits (and fsyncs its WAL) in every `append_event`.
        (
            "durable_sync_each_event",
            disk.path(),
            500u64,
            Durability::OnFinalize,
            true,
        ),
        // An fsync per group commit: every entry durable before the writer takes more.
        (
            "durable_always_group_commit",
            disk.path(),
            500,
            Durability::Always,
            false,
        ),
        (
            "in_memory_tmpfs",
            shm.path(),
            50_000,
            Durability::Never,
            false,
        ),
    ] {
        // RUN_START, the stage's enter and exit, the events, RUN_FINALIZE.
        g.throughput(Throughput::Elements(events + 4));
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| one_stream(dir, &mut n, events, d, sync_each))
                    .sum()
            })
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
