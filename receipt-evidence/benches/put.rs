//! Evidence `put`, split as the runtime splits it: the caller's side (hashing the redacted,
//! canonical bytes into a `Prepared`, and handing it to the I/O thread over a bounded
//! channel) and the I/O thread's side (the directory store's `put`, with its fsyncs).
//!
//! `cargo bench -p receipt-evidence --bench put`

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use receipt_evidence::blob::{Class, Prepared};
use receipt_evidence::key::SealKey;
use receipt_evidence::store::{EvidenceStore, OpenOptions};
use receipt_primitives::{Digest, Timestamp};

fn value_1kib(i: u64) -> Vec<u8> {
    let mut v = format!("{{\"i\":{i},\"payload\":\"").into_bytes();
    while v.len() < 1022 {
        v.push(b'a' + (v.len() % 26) as u8);
    }
    v.extend_from_slice(b"\"}");
    v
}

fn caller_side(c: &mut Criterion) {
    let mut g = c.benchmark_group("put/caller_side_1KiB");
    let v = value_1kib(1);
    assert_eq!(v.len(), 1024);
    g.bench_function("sha256_only", |b| b.iter(|| Digest::of(black_box(&v))));
    g.bench_function("prepare_with_hashing", |b| {
        b.iter_batched(
            || v.clone(),
            |v| Prepared::new(Class::Public, v),
            BatchSize::SmallInput,
        )
    });
    let (tx, rx) = crossbeam_channel::bounded::<Prepared>(16_384);
    g.bench_function("enqueue_without_hashing", |b| {
        b.iter_batched(
            || Prepared::new(Class::Public, v.clone()),
            |p| {
                tx.try_send(p).unwrap();
                rx.try_recv().unwrap()
            },
            BatchSize::SmallInput,
        )
    });
    g.bench_function("prepare_and_enqueue", |b| {
        b.iter_batched(
            || v.clone(),
            |v| {
                tx.try_send(Prepared::new(Class::Public, v)).unwrap();
                rx.try_recv().unwrap()
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

fn io_side(c: &mut Criterion) {
    let t = tempfile::tempdir().unwrap();
    let store = EvidenceStore::open(
        t.path().join("store").to_str().unwrap(),
        &OpenOptions {
            create: true,
            ..OpenOptions::default()
        },
    )
    .unwrap()
    .with_key(SealKey::from_bytes([3; 32]));
    let now = Timestamp::parse("2026-01-01T00:00:00Z").unwrap();
    let mut g = c.benchmark_group("put/dir_store_1KiB");
    g.throughput(Throughput::Elements(1));
    g.sample_size(10);
    let mut i = 0u64;
    for class in Class::ALL {
        g.bench_function(format!("new_{class}_blob"), |b| {
            b.iter_batched(
                || {
                    i += 1;
                    Prepared::new(class, value_1kib(i))
                },
                |p| store.put(&p, now).unwrap(),
                BatchSize::SmallInput,
            )
        });
    }
    g.throughput(Throughput::Elements(64));
    g.bench_function("batch_of_64_new_public_blobs", |b| {
        b.iter_batched(
            || {
                (0..64)
                    .map(|_| {
                        i += 1;
                        Prepared::new(Class::Public, value_1kib(i))
                    })
                    .collect::<Vec<_>>()
            },
            |batch| store.put_batch(&batch, now).unwrap(),
            BatchSize::SmallInput,
        )
    });
    g.throughput(Throughput::Elements(1));
    let p = Prepared::new(Class::Public, value_1kib(u64::MAX));
    store.put(&p, now).unwrap();
    g.bench_function("existing_public_blob", |b| {
        b.iter(|| store.put(black_box(&p), now).unwrap())
    });
    g.finish();
}

criterion_group!(benches, caller_side, io_side);
criterion_main!(benches);
