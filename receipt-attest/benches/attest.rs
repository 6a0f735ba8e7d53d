//! Costs of signing and verifying receipts, against the baselines named in each group:
//!
//! - `sign`: the signing step of one build (receipt envelope, provenance envelope, signed
//!   checkpoint), target ≤ 5 ms; baseline: hashing the same bytes.
//! - `tree_append`: one leaf appended to a store of 10⁴ leaves, with its fsyncs; baseline:
//!   one fsynced 32-byte write to a file in the same directory.
//! - `consistency_1e6`: a consistency proof and a tree head from a store of 10⁶ leaves,
//!   target ≤ 10 ms; baseline: recomputing the two roots from the 10⁶ leaves in memory.
//! - `verify_10k`: parsing and verifying 10,000 Ed25519 envelopes of receipt size (24 KiB),
//!   sequentially and on the rayon pool, target ≤ 2 s for a whole `verify --key`; baseline:
//!   SHA-256 of the same payloads.
//!
//! Run: `cargo bench -p receipt-attest --bench attest`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use receipt_attest::checkpoint::Checkpoint;
use receipt_attest::dsse::Envelope;
use receipt_attest::intoto::PAYLOAD_TYPE;
use receipt_attest::keys::SigningKey;
use receipt_attest::tree::TreeStore;
use receipt_primitives::Digest;
use receipt_primitives::merkle::{self, leaf_hash};

const RECEIPT_BYTES: usize = 24 * 1024;
const RECEIPT_TYPE: &str = "application/vnd.tau-crystal.receipt+json";

/// Receipt-like bytes: JSON of tracked-file records.
fn receipt_payload(seed: u32) -> Vec<u8> {
    let mut s = format!("{{\"seed\":{seed},\"tracked_files\":[");
    let mut i = 0u32;
    while s.len() < RECEIPT_BYTES {
        s.push_str(&format!(
            "{{\"content_sha256\":\"{}\",\"kind\":\"f\",\"path\":\"src/module_{i}.rs\",\"size\":{}}},",
            Digest::of(&[seed.to_le_bytes(), i.to_le_bytes()].concat()),
            1000 + i
        ));
        i += 1;
    }
    s.truncate(RECEIPT_BYTES - 2);
    s.push_str("]}");
    s.into_bytes()
}

fn sign(c: &mut Criterion) {
    let key = SigningKey::ed25519_from_seed(&[1; 32]);
    let receipt = receipt_payload(0);
    let statement = vec![b'x'; 6 * 1024];
    let mut g = c.benchmark_group("sign");
    g.bench_function("receipt+provenance+checkpoint", |b| {
        b.iter(|| {
            let r = Envelope::sign(RECEIPT_TYPE, receipt.clone(), &[&key]).unwrap();
            let p = Envelope::sign(PAYLOAD_TYPE, statement.clone(), &[&key]).unwrap();
            let cp = Checkpoint {
                origin: "receipt/0123".into(),
                size: 1000,
                root: Digest::of(b"root"),
                extensions: vec![],
            }
            .sign(&[&key])
            .unwrap();
            black_box((r.to_json(), p.to_json(), cp))
        })
    });
    g.bench_function("baseline: sha256 of the same bytes", |b| {
        b.iter(|| black_box((Digest::of(&receipt), Digest::of(&statement))))
    });
    g.finish();
}

fn tree_append(c: &mut Criterion) {
    let t = tempfile::tempdir().unwrap();
    let leaves: Vec<Digest> = (0u32..10_000)
        .map(|i| leaf_hash(&i.to_be_bytes()))
        .collect();
    let mut store = TreeStore::rebuild(t.path(), &leaves).unwrap();
    let mut next = 10_000u32;
    let mut g = c.benchmark_group("tree_append");
    g.bench_function("append one leaf to 1e4 (fsync)", |b| {
        b.iter(|| {
            next += 1;
            store.append(leaf_hash(&next.to_be_bytes())).unwrap()
        })
    });
    let probe = t.path().join("probe");
    let f = std::fs::File::create(&probe).unwrap();
    let mut at = 0u64;
    g.bench_function("baseline: one 32-byte write + fdatasync", |b| {
        b.iter(|| {
            use std::os::unix::fs::FileExt as _;
            f.write_all_at(&[7u8; 32], at).unwrap();
            at += 32;
            f.sync_data().unwrap()
        })
    });
    g.finish();
}

fn consistency(c: &mut Criterion) {
    const N: u64 = 1_000_000;
    let t = tempfile::tempdir().unwrap();
    let leaves: Vec<Digest> = (0..N).map(|i| leaf_hash(&i.to_be_bytes())).collect();
    TreeStore::rebuild(t.path(), &leaves).unwrap();
    let store = TreeStore::open(t.path()).unwrap();
    let mut m = 1u64;
    let mut g = c.benchmark_group("consistency_1e6");
    g.bench_function("proof m -> 1e6 from the store", |b| {
        b.iter(|| {
            // A different old size each time, so no node stays in a CPU cache line.
            m = (m * 48_271) % (N - 1) + 1;
            black_box(store.consistency_proof(m, N).unwrap())
        })
    });
    g.bench_function("root(m) from the store", |b| {
        b.iter(|| {
            m = (m * 48_271) % (N - 1) + 1;
            black_box(store.root(m).unwrap())
        })
    });
    g.sample_size(10);
    g.bench_function("baseline: roots recomputed from 1e6 leaves", |b| {
        b.iter(|| {
            m = (m * 48_271) % (N - 1) + 1;
            black_box((merkle::root(&leaves[..m as usize]), merkle::root(&leaves)))
        })
    });
    g.finish();
}

fn verify_10k(c: &mut Criterion) {
    let key = SigningKey::ed25519_from_seed(&[2; 32]);
    let trusted = [key.public_key().clone()];
    let envelopes: Vec<Vec<u8>> = (0..10_000u32)
        .map(|i| {
            Envelope::sign(RECEIPT_TYPE, receipt_payload(i), &[&key])
                .unwrap()
                .to_json()
        })
        .collect();
    let payloads: Vec<Vec<u8>> = (0..10_000u32).map(receipt_payload).collect();
    let mut g = c.benchmark_group("verify_10k");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(20));
    g.bench_function("parse + verify 10k ed25519 envelopes (24 KiB)", |b| {
        b.iter_batched(
            || (),
            |()| {
                for e in &envelopes {
                    let env = Envelope::parse(e).unwrap();
                    black_box(env.verify(&trusted, RECEIPT_TYPE).unwrap());
                }
            },
            BatchSize::PerIteration,
        )
    });
    g.bench_function("same, rayon over 2 threads", |b| {
        use rayon::prelude::*;
        b.iter(|| {
            envelopes.par_iter().for_each(|e| {
                let env = Envelope::parse(e).unwrap();
                black_box(env.verify(&trusted, RECEIPT_TYPE).unwrap());
            })
        })
    });
    g.bench_function("baseline: sha256 of the 10k payloads", |b| {
        b.iter(|| {
            for p in &payloads {
                black_box(Digest::of(p));
            }
        })
    });
    g.finish();
}

criterion_group!(benches, sign, tree_append, consistency, verify_10k);
criterion_main!(benches);
