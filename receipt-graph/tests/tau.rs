//! τ: the hand vectors, agreement with a materialized line graph, and invariance properties.

mod common;
mod reference;

use common::{build, edge_list};

use proptest::prelude::*;
use receipt_graph::{
    CanonicalGraph, TAU_DEGREE, TAU_RECIPE, TauReport, TauSeed, chebyshev_moments,
    first_divergence, seed_vector, tau,
};

const SEEDS: [TauSeed<'static>; 3] = [
    TauSeed {
        producer: "cargo-receipt/0.1.0",
        timestamp: "2026-11-23T12:00:00Z",
        merkle_root: "4f2b0c1d9e8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c",
    },
    TauSeed {
        producer: "",
        timestamp: "",
        merkle_root: "",
    },
    TauSeed {
        producer: "lake-bridge",
        timestamp: "1970-01-01T00:00:00Z",
        merkle_root: "00",
    },
];

fn graph(edges: &[(&str, &str)]) -> CanonicalGraph {
    CanonicalGraph::new(Vec::<&str>::new(), edges.iter().copied()).unwrap()
}

#[test]
fn one_edge_gives_the_hand_vector_for_every_seed() {
    for seed in &SEEDS {
        let report = tau(&graph(&[("a", "b")]), seed);
        assert_eq!(report.tau, "1.333328");
        assert_eq!(report.line_nodes, 1);
        // An isolated line-graph node: H = 0, so μ = 1, 0, −1, 0, 1, …
        let expected: Vec<f64> = (0..=16)
            .map(|k| match k % 4 {
                0 => 1.0,
                2 => -1.0,
                _ => 0.0,
            })
            .collect();
        assert_eq!(report.moments, expected);
    }
}

#[test]
fn path_of_two_edges_gives_the_hand_vector_for_every_seed() {
    for seed in &SEEDS {
        let report = tau(&graph(&[("a", "b"), ("b", "c")]), seed);
        assert_eq!(report.tau, "1.999985");
        assert_eq!(report.moments.len(), 17);
        assert_eq!(report.partial_sums.len(), 17);
    }
}

#[test]
fn empty_graph_has_zero_tau_and_empty_sequences() {
    let g = CanonicalGraph::new(["a", "b"], Vec::<(&str, &str)>::new()).unwrap();
    let report = tau(&g, &SEEDS[0]);
    assert_eq!(
        report,
        TauReport {
            recipe: TAU_RECIPE.to_owned(),
            k: TAU_DEGREE,
            line_nodes: 0,
            tau: "0.000000".to_owned(),
            moments: vec![],
            partial_sums: vec![],
        }
    );
    // Only self-loops: still no line-graph nodes.
    assert_eq!(tau(&graph(&[("a", "a")]), &SEEDS[0]).line_nodes, 0);
}

#[test]
fn opposite_edges_count_once_in_the_line_graph() {
    let both = tau(&graph(&[("a", "b"), ("b", "a")]), &SEEDS[0]);
    let one = tau(&graph(&[("a", "b")]), &SEEDS[0]);
    assert_eq!(both, one);
}

#[test]
fn the_monograph_operator_2l_minus_i_would_diverge() {
    // Regression for the monograph's H = 2L − I. A triangle's line graph is a
    // triangle: L = I − A/2 has eigenvalue 3/2, so 2L − I = I − A has
    // eigenvalue 2 and T_16(2) ≈ 7.1e8. With H = L − I every |μ_k| ≤ 1.
    let report = tau(&graph(&[("a", "b"), ("b", "c"), ("a", "c")]), &SEEDS[0]);
    assert!(report.moments.iter().all(|m| m.abs() <= 1.0 + 1e-12));
    assert!(report.tau.parse::<f64>().unwrap() <= 2.0);

    let u = seed_vector(&SEEDS[0], 3);
    let monograph = chebyshev_moments(&u, TAU_DEGREE, |x, out| {
        // (I − A) x on the triangle: x_i − (sum of the other two).
        let total: f64 = x.iter().sum();
        for (o, &xi) in out.iter_mut().zip(x) {
            *o = xi - (total - xi);
        }
    });
    assert!(monograph[16].abs() > 1e6, "μ_16 = {}", monograph[16]);
}

#[test]
fn report_round_trips_through_canonical_json() {
    let g = graph(&[("a", "b"), ("b", "c"), ("c", "d"), ("a", "d"), ("e", "a")]);
    let report = tau(&g, &SEEDS[0]);
    let bytes = serde_jcs::to_vec(&report).unwrap();
    let back: TauReport = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(back, report);
    for (x, y) in back.moments.iter().zip(&report.moments) {
        assert_eq!(x.to_bits(), y.to_bits());
    }
    assert_eq!(serde_jcs::to_vec(&back).unwrap(), bytes);
}

#[test]
fn first_divergence_points_at_the_first_differing_index() {
    let a = tau(&graph(&[("a", "b"), ("b", "c"), ("c", "d")]), &SEEDS[0]);
    assert_eq!(first_divergence(&a, &a.clone()), None);
    let mut b = a.clone();
    b.moments[5] += 1e-9;
    b.partial_sums[7] += 1e-9;
    assert_eq!(first_divergence(&a, &b), Some(5));
    let mut c = a.clone();
    c.partial_sums.truncate(12);
    assert_eq!(first_divergence(&a, &c), Some(12));
    let empty = tau(&graph(&[]), &SEEDS[0]);
    assert_eq!(first_divergence(&a, &empty), Some(0));
}

#[test]
fn seed_changes_the_moments_but_not_the_recipe() {
    let g = graph(&[("a", "b"), ("b", "c"), ("c", "d"), ("b", "d"), ("d", "e")]);
    let x = tau(&g, &SEEDS[0]);
    let y = tau(&g, &SEEDS[2]);
    assert_eq!(x.line_nodes, y.line_nodes);
    assert_eq!(x.recipe, y.recipe);
    // μ₀ = uᵀu is 1 whatever the signs; the higher moments depend on them.
    assert_eq!(x.moments[0], y.moments[0]);
    assert_ne!(x.moments, y.moments);
    assert_ne!(x.partial_sums, y.partial_sums);
}

#[test]
fn adding_an_edge_changes_tau_on_a_path() {
    let two = tau(&graph(&[("a", "b")]), &SEEDS[0]);
    let three = tau(&graph(&[("a", "b"), ("b", "c")]), &SEEDS[0]);
    assert_ne!(two.tau, three.tau);
    assert!(first_divergence(&two, &three).is_some());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn fast_tau_agrees_with_the_materialized_line_graph(edges in edge_list(60, 300)) {
        let g = build(&edges);
        let (nodes, canonical_edges) = reference::canonical(&[], &edges);
        prop_assert_eq!(g.nodes(), nodes.as_slice());
        for seed in &SEEDS[..2] {
            let fast = tau(&g, seed);
            let (n, moments, partial) =
                reference::slow_tau(&canonical_edges, seed.producer, seed.timestamp, seed.merkle_root);
            prop_assert_eq!(fast.line_nodes, n as u64);
            prop_assert_eq!(fast.moments.len(), moments.len());
            for (k, (x, y)) in fast.moments.iter().zip(&moments).enumerate() {
                prop_assert!((x - y).abs() <= 1e-12, "moment {} differs: {} vs {}", k, x, y);
            }
            for (x, y) in fast.partial_sums.iter().zip(&partial) {
                prop_assert!((x - y).abs() <= 1e-12);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn tau_is_invariant_under_edge_order_and_duplication(
        (edges, shuffled) in edge_list(20, 80).prop_flat_map(|e| (Just(e.clone()), Just(e).prop_shuffle())),
        dup_mask in prop::collection::vec(any::<bool>(), 80),
    ) {
        let mut noisy = shuffled.clone();
        for (edge, dup) in shuffled.iter().zip(&dup_mask) {
            if *dup {
                noisy.push(edge.clone());
            }
        }
        noisy.reverse();
        let a = tau(&build(&edges), &SEEDS[0]);
        let b = tau(&build(&noisy), &SEEDS[0]);
        prop_assert_eq!(&a, &b);
        for (x, y) in a.moments.iter().zip(&b.moments) {
            prop_assert_eq!(x.to_bits(), y.to_bits());
        }
    }

    #[test]
    fn tau_report_changes_when_an_undirected_edge_is_added(
        edges in edge_list(20, 60),
        a in 0usize..25,
        b in 0usize..25,
    ) {
        let (from, to) = (format!("k{a}"), format!("k{b}"));
        let already = edges.iter().any(|(x, y)| (x == &from && y == &to) || (x == &to && y == &from));
        prop_assume!(a != b && !already);
        let before = tau(&build(&edges), &SEEDS[0]);
        let mut more = edges.clone();
        more.push((from, to));
        let after = tau(&build(&more), &SEEDS[0]);
        prop_assert_eq!(after.line_nodes, before.line_nodes + 1);
        prop_assert!(first_divergence(&before, &after).is_some());
    }
}
