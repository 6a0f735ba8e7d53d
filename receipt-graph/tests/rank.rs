//! The rank kernel: transcripts against a dense reference, primes that disagree, and invariance.

mod common;
mod reference;

use common::{build, edge_list};

use proptest::prelude::*;
use receipt_graph::{
    CanonicalGraph, RANK_PRIMES, RankBudgetExceeded, RankLimits, rank, rank_kernel, rank_within,
};
use receipt_testkit::graphs::dense_edges;
use sha2::{Digest, Sha256};

fn graph(edges: &[(&str, &str)]) -> CanonicalGraph {
    CanonicalGraph::new(Vec::<&str>::new(), edges.iter().copied()).unwrap()
}

fn indices(g: &CanonicalGraph) -> Vec<(usize, usize)> {
    g.edge_indices()
        .iter()
        .map(|&(a, b)| (a as usize, b as usize))
        .collect()
}

#[test]
fn path_transcript_is_byte_exact() {
    let report = rank(&graph(&[("a", "b"), ("b", "c")]));
    let expected = format!("{:x}", Sha256::digest(b"0 1\n1 2\n"));
    assert_eq!(report.primes.len(), 3);
    for (entry, p) in report.primes.iter().zip(RANK_PRIMES) {
        assert_eq!(entry.p, p);
        assert_eq!(entry.rank, 2);
        assert_eq!(entry.transcript_sha256, expected);
    }
    let runs = rank_kernel(&graph(&[("a", "b"), ("b", "c")]));
    assert_eq!(runs[0].transcript(), "0 1\n1 2\n");
}

#[test]
fn empty_graph_has_rank_zero_and_the_empty_transcript() {
    let report = rank(&graph(&[]));
    let empty = format!("{:x}", Sha256::digest(b""));
    for entry in &report.primes {
        assert_eq!(entry.rank, 0);
        assert_eq!(entry.transcript_sha256, empty);
    }
}

#[test]
fn complete_digraph_on_three_nodes_has_rank_two_only_mod_two() {
    // J − I for n = 3 has determinant 2: singular over GF(2) only.
    let g = graph(&[
        ("a", "b"),
        ("a", "c"),
        ("b", "a"),
        ("b", "c"),
        ("c", "a"),
        ("c", "b"),
    ]);
    let ranks: Vec<u64> = rank(&g).primes.iter().map(|e| e.rank).collect();
    assert_eq!(ranks, [2, 3, 3]);
    let runs = rank_kernel(&g);
    assert_eq!(runs[0].transcript(), "0 1\n1 0\n");
    assert_eq!(runs[1].transcript(), "0 1\n1 0\n2 2\n");
}

#[test]
fn leading_column_elimination_uses_the_reduced_row_not_the_original() {
    // Rows: a = {b, c}, b = {b, c} is impossible (self-loop), so use a, d:
    // a → {b, c}, d → {b, e}: d reduces by a to {c, e} (mod p: −c + e), pivot c.
    let g = graph(&[("a", "b"), ("a", "c"), ("d", "b"), ("d", "e")]);
    for run in rank_kernel(&g) {
        assert_eq!(run.transcript(), "0 1\n3 2\n", "p = {}", run.p);
    }
}

#[test]
fn fill_in_is_measured() {
    let g = graph(&[
        ("a", "b"),
        ("a", "c"),
        ("a", "d"),
        ("e", "b"),
        ("e", "f"),
        ("g", "c"),
    ]);
    for run in rank_kernel(&g) {
        assert_eq!(run.input_nonzeros, 6);
        assert!(run.basis_nonzeros >= run.pivots.len() as u64);
        assert!(run.eliminations >= 1);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn kernel_matches_dense_reduced_elimination(edges in edge_list(40, 300)) {
        let g = build(&edges);
        let report = rank(&g);
        for ((run, entry), p) in rank_kernel(&g).iter().zip(&report.primes).zip(RANK_PRIMES) {
            let slow = reference::slow_pivots(g.node_count(), &indices(&g), p);
            let fast: Vec<(usize, usize)> = run.pivots.iter().map(|&(r, c)| (r as usize, c as usize)).collect();
            prop_assert_eq!(&fast, &slow, "p = {}", p);
            prop_assert_eq!(entry.rank, slow.len() as u64);
            prop_assert_eq!(&entry.transcript_sha256, &reference::transcript_sha256(&slow));
        }
    }

    #[test]
    fn rank_is_invariant_under_edge_order_and_duplication(
        (edges, shuffled) in edge_list(25, 120).prop_flat_map(|e| (Just(e.clone()), Just(e).prop_shuffle())),
        dup_every in 1usize..5,
    ) {
        let mut noisy: Vec<(String, String)> = shuffled.iter().step_by(dup_every).cloned().collect();
        noisy.extend(shuffled);
        prop_assert_eq!(rank(&build(&edges)), rank(&build(&noisy)));
    }

    #[test]
    fn signature_changes_when_an_added_edge_raises_the_rank(
        edges in edge_list(25, 80),
        a in 0usize..25,
        b in 0usize..25,
    ) {
        let mut more = edges.clone();
        more.push((format!("k{a}"), format!("k{b}")));
        let before_graph = build(&edges);
        let after_graph = build(&more);
        // Same node set, so the only change is one matrix entry.
        prop_assume!(before_graph.nodes() == after_graph.nodes());
        let before = rank(&before_graph);
        let after = rank(&after_graph);
        for ((x, y), p) in before.primes.iter().zip(&after.primes).zip(RANK_PRIMES) {
            let slow_before = reference::slow_pivots(before_graph.node_count(), &indices(&before_graph), p).len();
            let slow_after = reference::slow_pivots(after_graph.node_count(), &indices(&after_graph), p).len();
            if slow_after != slow_before {
                prop_assert_ne!(&x.transcript_sha256, &y.transcript_sha256);
                prop_assert_ne!(x.rank, y.rank);
            }
        }
    }
}

/// A dense random graph: every ordered pair an edge with probability one half.
fn dense(n: u32) -> CanonicalGraph {
    CanonicalGraph::new(Vec::<String>::new(), dense_edges(n, 0x2545_f491_4f6c_dd1d)).unwrap()
}

/// A hostile dense graph costs the verifier a bounded amount of work and memory: the
/// kernel stops at its limits instead of running for minutes (a forged 2,400-node graph
/// took 20 s before limits existed).
#[test]
fn a_dense_forged_graph_stops_at_the_rank_budget() {
    let g = dense(300);
    let unbounded = RankLimits {
        work: u64::MAX,
        basis_entries: u64::MAX,
    };
    let (report, spent) = rank_within(&g, unbounded).unwrap();
    assert_eq!(report, rank(&g));
    assert!(spent > 0);
    let tight = RankLimits {
        work: spent - 1,
        basis_entries: u64::MAX,
    };
    assert_eq!(
        rank_within(&g, tight).unwrap_err(),
        RankBudgetExceeded::Work(spent - 1)
    );
    let small_basis = RankLimits {
        work: u64::MAX,
        basis_entries: 1_000,
    };
    assert_eq!(
        rank_within(&g, small_basis).unwrap_err(),
        RankBudgetExceeded::Basis(1_000)
    );
    // Exactly enough work succeeds with the same report.
    let exact = RankLimits {
        work: spent,
        basis_entries: u64::MAX,
    };
    assert_eq!(rank_within(&g, exact).unwrap().0, report);
}
