//! Random graphs for the property tests of τ and the rank kernel.

use proptest::prelude::*;
use receipt_graph::CanonicalGraph;

/// Edge lists over a small key alphabet so duplicates, reversals and self-loops occur.
pub fn edge_list(
    max_nodes: usize,
    max_edges: usize,
) -> impl Strategy<Value = Vec<(String, String)>> {
    (2..=max_nodes).prop_flat_map(move |nodes| {
        prop::collection::vec((0..nodes, 0..nodes), 0..=max_edges).prop_map(|pairs| {
            pairs
                .into_iter()
                .map(|(a, b)| (format!("k{a}"), format!("k{b}")))
                .collect()
        })
    })
}

/// The canonical graph of an edge list.
pub fn build(edges: &[(String, String)]) -> CanonicalGraph {
    CanonicalGraph::new(Vec::<String>::new(), edges.iter().cloned()).unwrap()
}
