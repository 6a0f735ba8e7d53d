//! Criterion benchmarks of τ (against the materialized line graph in the same run) and of the rank kernel.

mod common;

use std::hint::black_box;
use std::time::Duration;

use common::{SEED, hub_graph, shuffled_dag, tau_materialized};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use receipt_graph::{rank_kernel, tau};

fn tau_scaling(c: &mut Criterion) {
    let mut group = c.benchmark_group("tau/hub");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(5));
    for edges in [10_000usize, 100_000, 1_000_000] {
        let graph = hub_graph(edges, 2);
        group.throughput(Throughput::Elements(edges as u64));
        group.bench_with_input(BenchmarkId::new("incidence", edges), &graph, |b, g| {
            b.iter(|| tau(black_box(g), &SEED));
        });
        if edges <= 10_000 {
            group.bench_with_input(BenchmarkId::new("materialized", edges), &graph, |b, g| {
                b.iter(|| tau_materialized(black_box(g)));
            });
        }
    }
    group.finish();
}

fn rank_dag(c: &mut Criterion) {
    let mut group = c.benchmark_group("rank");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));
    let graph = shuffled_dag(5_000, 30_000, 4);
    group.bench_function("dag-5000-30000/all-primes", |b| {
        b.iter(|| rank_kernel(black_box(&graph)));
    });
    group.finish();
}

criterion_group!(benches, tau_scaling, rank_dag);
criterion_main!(benches);
