//! Costs of signed ledgers, each against the unsigned baseline:
//!
//! - `append`: one build appended to a 100-entry chain, signed (receipt and provenance
//!   envelopes, tree store, signed checkpoint; target: signing adds ≤ 5 ms) and unsigned.
//! - `verify_10k`: the whole verification of a 10,000-entry signed chain (every protocol
//!   check, τ and rank recomputed from each entry's graph) with a key (target ≤ 2 s) and
//!   without one.
//!
//! `append` runs on the temp directory's file system (real fsyncs: they are part of what a
//! signed append costs) and in `/dev/shm` (the CPU cost alone). The 10,000-entry chain is built in the setup with
//! [`Ledger::append_signed`], in `/dev/shm` when it exists (its fsyncs are free; reading is
//! from the page cache either way).
//!
//! Run: `cargo bench -p receipt-protocol --bench signed`. `RECEIPT_BENCH_ENTRIES=n` makes
//! the chain of `verify_10k` shorter, `RECEIPT_BENCH_RUNS=k` repeats its one-run CPU and
//! wall measurements `k` times before the criterion samples; `RECEIPT_BENCH_PAIRS=k` sets
//! the number of alternating signed/unsigned rounds `append` times before its samples (40).

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use receipt_attest::SigningKey;
use receipt_primitives::Digest;
use receipt_protocol::ledger::{BuildRecord, Ledger};
use receipt_protocol::sign::{BuildFacts, Signer};
use receipt_protocol::verify::{KeyOptions, verify_dir_with};
use receipt_testkit::sample::SampleRecord;

/// A build record of realistic shape: a small crate graph with its real fingerprint, two
/// artifacts, a git source, and a 16 KiB extension standing in for the tracked listing.
fn record(n: u64) -> BuildRecord {
    let listing: Vec<String> = (0..160)
        .map(|i| format!("{}  src/module_{i}.rs", Digest::of(&[n as u8, i as u8])))
        .collect();
    SampleRecord::new(n, "bench 1.0")
        .edges(n % 8 + 5)
        .ingress(
            serde_json::json!({ "args": ["build", n.to_string()], "rustc_vv": "rustc 1.95.0\n" }),
        )
        .wall_ms(1000 + n)
        .git_source(160)
        .artifacts("release", [1 << 20, 1 << 19])
        .extension("bench", serde_json::json!(listing))
        .build()
}

fn facts() -> BuildFacts {
    BuildFacts {
        builder_id: "https://receipt.dev/cargo-receipt@0.1.0".into(),
        repository: Some("https://example.com/app.git".into()),
        ..BuildFacts::default()
    }
}

fn scratch() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        tempfile::tempdir_in(shm).unwrap()
    } else {
        tempfile::tempdir().unwrap()
    }
}

fn chain(dir: &Path, key: &SigningKey, n: u64) -> Ledger {
    let l = Ledger::create(dir).unwrap();
    let keys = std::slice::from_ref(key);
    for i in 1..=n {
        l.append_signed(record(i), &Signer { keys }, &facts())
            .unwrap();
    }
    l
}

fn append(c: &mut Criterion) {
    let key = SigningKey::ed25519_from_seed(&[7; 32]);
    let keys = std::slice::from_ref(&key);
    let mut g = c.benchmark_group("append");
    g.sample_size(30).measurement_time(Duration::from_secs(10));
    // Each iteration appends to its own copy of a 100-entry chain: on disk (real fsyncs),
    // and in /dev/shm (free fsyncs: the CPU cost alone).
    for (place, make) in [
        (
            "disk",
            (|| tempfile::tempdir().unwrap()) as fn() -> tempfile::TempDir,
        ),
        ("tmpfs", scratch as fn() -> tempfile::TempDir),
    ] {
        let base = make();
        chain(base.path(), &key, 100);
        let copy = |to: &Path| {
            let o = std::process::Command::new("cp")
                .args(["-a", &format!("{}/.", base.path().display())])
                .arg(to)
                .status()
                .unwrap();
            assert!(o.success());
        };
        // A fresh copy of the chain and the record to append to it.
        let setup = || {
            let d = make();
            copy(d.path());
            (d, record(101))
        };
        // The disk is shared and its latency drifts over seconds, so besides criterion's
        // samples (signed first, then unsigned) the pair is also timed alternately: one
        // signed and one unsigned append per round, medians over the rounds.
        let rounds: usize = std::env::var("RECEIPT_BENCH_PAIRS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(40);
        if rounds > 0 {
            let mut times = [Vec::new(), Vec::new()];
            for _ in 0..rounds {
                for (i, signed) in [(0, true), (1, false)] {
                    let d = make();
                    copy(d.path());
                    let r = record(101);
                    let l = Ledger::create(d.path()).unwrap();
                    let t = std::time::Instant::now();
                    if signed {
                        l.append_signed(r, &Signer { keys }, &facts()).unwrap();
                    } else {
                        l.append(r).unwrap();
                    }
                    times[i].push(t.elapsed().as_secs_f64() * 1e3);
                }
            }
            let diffs: Vec<f64> = times[0].iter().zip(&times[1]).map(|(s, u)| s - u).collect();
            eprintln!(
                "append/{place}: {rounds} alternating rounds: signed {:.2} ms, unsigned {:.2} ms, per-round difference {:+.2} ms (medians)",
                median(times[0].clone()),
                median(times[1].clone()),
                median(diffs)
            );
        }
        g.bench_function(format!("signed, {place}"), |b| {
            b.iter_batched(
                &setup,
                |(d, r)| {
                    Ledger::create(d.path())
                        .unwrap()
                        .append_signed(r, &Signer { keys }, &facts())
                        .unwrap();
                    d
                },
                BatchSize::PerIteration,
            )
        });
        g.bench_function(format!("unsigned (baseline), {place}"), |b| {
            b.iter_batched(
                &setup,
                |(d, r)| {
                    Ledger::create(d.path()).unwrap().append(r).unwrap();
                    d
                },
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
}

fn verify_10k(c: &mut Criterion) {
    let key = SigningKey::ed25519_from_seed(&[7; 32]);
    let dir = scratch();
    // `RECEIPT_BENCH_ENTRIES` shortens the chain for profiling runs.
    let n = std::env::var("RECEIPT_BENCH_ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    chain(dir.path(), &key, n);
    let with_key = KeyOptions {
        keys: vec![key.public_key().clone()],
        since: None,
    };
    let (report, _) = verify_dir_with(dir.path(), &with_key);
    assert!(report.ok(), "{report}");
    // The machine is shared: CPU time says what the wall-clock medians cannot.
    // `RECEIPT_BENCH_RUNS` repeats these runs (alternating, so both see the same load).
    let runs = std::env::var("RECEIPT_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    for _ in 0..runs {
        for (name, opts) in [
            ("with key", &with_key),
            ("without key", &KeyOptions::default()),
        ] {
            let (cpu0, wall0) = (cpu_seconds(), std::time::Instant::now());
            black_box(verify_dir_with(dir.path(), opts));
            eprintln!(
                "verify_10k/{name}: one run of {n} entries: {:.3} s CPU (all threads), {:.3} s wall",
                cpu_seconds() - cpu0,
                wall0.elapsed().as_secs_f64()
            );
        }
    }
    let mut g = c.benchmark_group("verify_10k");
    g.sample_size(10).measurement_time(Duration::from_secs(30));
    g.bench_function("with key", |b| {
        b.iter(|| black_box(verify_dir_with(dir.path(), &with_key)))
    });
    g.bench_function("without key (baseline)", |b| {
        b.iter(|| black_box(verify_dir_with(dir.path(), &KeyOptions::default())))
    });
    g.finish();
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// User plus system CPU time of this process so far, in seconds.
fn cpu_seconds() -> f64 {
    // SAFETY: getrusage writes into the zeroed struct it is given and reads nothing else.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above; RUSAGE_SELF is a valid `who`.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let t = |v: libc::timeval| v.tv_sec as f64 + v.tv_usec as f64 / 1e6;
    t(u.ru_utime) + t(u.ru_stime)
}

criterion_group!(benches, append, verify_10k);
criterion_main!(benches);
