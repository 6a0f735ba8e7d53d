//! Single-core throughput of the two-lane SHA-256 (`receipt_primitives::sha256x2`) against
//! single-stream `sha2::Sha256`, on two large buffers and on many pairs of small messages.
//!
//! Run: `cargo bench -p receipt-primitives --bench sha256x2`. Knobs: `RECEIPT_BENCH_MIB` (size of
//! each of the two buffers, 64), `RECEIPT_BENCH_SMALL` (small message size in bytes, 4096),
//! `RECEIPT_BENCH_REPS` (repetitions per measurement, best kept; 3). MB = 10^6 bytes.

use std::hint::black_box;
use std::time::{Duration, Instant};

use rand_xoshiro::SplitMix64;
use rand_xoshiro::rand_core::{Rng as _, SeedableRng as _};
use receipt_primitives::sha256x2::{Lane, interleaved_available, update2};
use sha2::{Digest as _, Sha256};

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// SplitMix64 bytes, so the buffers are not trivially compressible or zero pages.
fn fill(buf: &mut [u8], seed: u64) {
    SplitMix64::seed_from_u64(seed).fill_bytes(buf);
}

/// Best wall time of `reps` runs of `f`.
fn best(reps: usize, mut f: impl FnMut()) -> Duration {
    (0..reps)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .min()
        .expect("at least one repetition")
}

fn mbps(bytes: usize, t: Duration) -> f64 {
    bytes as f64 / t.as_secs_f64() / 1e6
}

fn report(name: &str, bytes: usize, single: Duration, pair: Duration) {
    let (s, p) = (mbps(bytes, single), mbps(bytes, pair));
    println!(
        "{name:<24} sha2 single {s:>8.0} MB/s   update2 {p:>8.0} MB/s   ratio {:.2}",
        p / s
    );
}

fn main() {
    let mib: usize = env_or("RECEIPT_BENCH_MIB", 64);
    let small: usize = env_or("RECEIPT_BENCH_SMALL", 4096);
    let reps: usize = env_or("RECEIPT_BENCH_REPS", 3).max(1);
    println!("interleaved SHA-NI kernel: {}", interleaved_available());

    let len = mib << 20;
    let mut a = vec![0u8; len];
    let mut b = vec![0u8; len];
    fill(&mut a, 1);
    fill(&mut b, 2);

    // Cross-check once so a broken kernel cannot post a good number.
    let (mut la, mut lb) = (Lane::new(), Lane::new());
    update2(&mut la, &a, &mut lb, &b);
    assert_eq!(la.finalize(), <[u8; 32]>::from(Sha256::digest(&a)));
    assert_eq!(lb.finalize(), <[u8; 32]>::from(Sha256::digest(&b)));

    let single = best(reps, || {
        black_box(Sha256::digest(black_box(&a)));
        black_box(Sha256::digest(black_box(&b)));
    });
    let pair = best(reps, || {
        let (mut la, mut lb) = (Lane::new(), Lane::new());
        update2(&mut la, black_box(&a), &mut lb, black_box(&b));
        black_box((la.finalize(), lb.finalize()));
    });
    report(&format!("2 x {mib} MiB"), 2 * len, single, pair);

    // The same bytes as independent `small`-byte messages, hashed two at a time.
    let single = best(reps, || {
        for (ma, mb) in a.chunks(small).zip(b.chunks(small)) {
            black_box(Sha256::digest(black_box(ma)));
            black_box(Sha256::digest(black_box(mb)));
        }
    });
    let pair = best(reps, || {
        let (mut la, mut lb) = (Lane::new(), Lane::new());
        for (ma, mb) in a.chunks(small).zip(b.chunks(small)) {
            update2(&mut la, black_box(ma), &mut lb, black_box(mb));
            black_box((la.finalize_reset(), lb.finalize_reset()));
        }
    });
    report(
        &format!("{} pairs x {small} B", len.div_ceil(small)),
        2 * len,
        single,
        pair,
    );
}
