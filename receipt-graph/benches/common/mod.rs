//! Graph generators and the line-graph-materializing τ baseline shared by the benchmarks.

#![allow(dead_code)]

use rand_xoshiro::SplitMix64;
use rand_xoshiro::rand_core::{Rng as _, SeedableRng as _};
use receipt_graph::{
    CanonicalGraph, TAU_DEGREE, TauSeed, chebyshev_moments, damped_partial_sums, seed_vector,
};

pub const SEED: TauSeed<'static> = TauSeed {
    producer: "receipt-graph-bench",
    timestamp: "2026-01-01T00:00:00Z",
    merkle_root: "0000000000000000000000000000000000000000000000000000000000000000",
};

/// A fixed-seed SplitMix64, so every run builds the same graphs.
struct SplitMix(SplitMix64);

impl SplitMix {
    fn new(seed: u64) -> Self {
        SplitMix(SplitMix64::seed_from_u64(seed))
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0.next_u64() % n
    }
}

/// `edges` edges over `edges / 10` crates that all depend on one hub, plus random edges among the crates.
pub fn hub_graph(edges: usize, seed: u64) -> CanonicalGraph {
    let crates = edges / 10;
    let mut rng = SplitMix::new(seed);
    let mut pairs: Vec<(u32, u32)> = (0..crates as u32).map(|c| (c, crates as u32)).collect();
    let mut seen: std::collections::BTreeSet<(u32, u32)> = pairs.iter().copied().collect();
    while pairs.len() < edges {
        let a = rng.below(crates as u64) as u32;
        let b = rng.below(crates as u64) as u32;
        if a != b && seen.insert((a, b)) {
            pairs.push((a, b));
        }
    }
    let name = |i: u32| {
        if i as usize == crates {
            "hub".to_owned()
        } else {
            format!("crate-{i}")
        }
    };
    let graph = CanonicalGraph::new(
        Vec::<String>::new(),
        pairs.into_iter().map(|(a, b)| (name(a), name(b))),
    )
    .expect("generated keys are non-empty");
    assert_eq!(graph.edge_count(), edges);
    graph
}

/// A random DAG whose node keys are unrelated to its topological order.
pub fn shuffled_dag(nodes: usize, edges: usize, seed: u64) -> CanonicalGraph {
    let mut rng = SplitMix::new(seed);
    // Key of topological position i: a hash, so sorting by key scrambles the order.
    let keys: Vec<String> = (0..nodes)
        .map(|_| format!("m{:016x}", rng.0.next_u64()))
        .collect();
    let mut seen = std::collections::BTreeSet::new();
    while seen.len() < edges {
        let a = rng.below(nodes as u64) as usize;
        let b = rng.below(nodes as u64) as usize;
        if a < b {
            seen.insert((a, b));
        }
    }
    let graph = CanonicalGraph::new(
        keys.iter().map(String::as_str),
        seen.iter()
            .map(|&(a, b)| (keys[a].as_str(), keys[b].as_str())),
    )
    .expect("generated keys are non-empty");
    assert_eq!(graph.edge_count(), edges);
    graph
}

/// τ with the line graph materialized as adjacency lists: the approach the recipe avoids.
pub fn tau_materialized(graph: &CanonicalGraph) -> (f64, usize) {
    let edges = graph.edge_indices();
    let ends: Vec<(u32, u32)> = edges
        .iter()
        .copied()
        .filter(|&(f, t)| f < t || edges.binary_search(&(t, f)).is_err())
        .collect();
    let n = ends.len();
    let mut incident: Vec<Vec<u32>> = vec![Vec::new(); graph.node_count()];
    for (e, &(a, b)) in ends.iter().enumerate() {
        incident[a as usize].push(e as u32);
        incident[b as usize].push(e as u32);
    }
    let mut adjacency: Vec<Vec<u32>> = vec![Vec::new(); n];
    for list in &incident {
        for (i, &e) in list.iter().enumerate() {
            for &f in &list[i + 1..] {
                adjacency[e as usize].push(f);
                adjacency[f as usize].push(e);
            }
        }
    }
    let line_edges = adjacency.iter().map(Vec::len).sum::<usize>() / 2;
    for list in &mut adjacency {
        list.sort_unstable();
    }
    let inv: Vec<f64> = adjacency
        .iter()
        .map(|l| {
            if l.is_empty() {
                0.0
            } else {
                1.0 / (l.len() as f64).sqrt()
            }
        })
        .collect();
    let u = seed_vector(&SEED, n);
    let moments = chebyshev_moments(&u, TAU_DEGREE, |x, out| {
        for (e, o) in out.iter_mut().enumerate() {
            let s = adjacency[e]
                .iter()
                .fold(0.0, |acc, &f| acc + inv[f as usize] * x[f as usize]);
            *o = -(inv[e] * s);
        }
    });
    (
        *damped_partial_sums(&moments).last().unwrap_or(&0.0),
        line_edges,
    )
}
