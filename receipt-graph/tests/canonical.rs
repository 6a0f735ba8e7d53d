//! The canonical graph form, `graph.json` bytes, the strict parser and the digest.

mod reference;

use petgraph::Graph;
use proptest::prelude::*;
use receipt_graph::{CanonicalGraph, GraphError};
use sha2::{Digest, Sha256};

/// Known-answer vector, also printed in docs/SPEC.md §4.
const EXAMPLE_JSON: &str = r#"{"edges":[[0,1],[0,2],[1,2]],"nodes":["app","core","serde"],"schema":"tau-crystal.graph/1"}"#;
const EXAMPLE_DIGEST: &str = "ed93d280890fe23b71e55faf4e2554b22e44b60f4b69d53fcf69cb9bc3abfc0a";

fn example() -> CanonicalGraph {
    CanonicalGraph::new(
        ["serde"],
        [
            ("core", "serde"),
            ("app", "serde"),
            ("app", "core"),
            ("app", "core"),
            ("core", "core"),
        ],
    )
    .unwrap()
}

#[test]
fn example_serializes_to_the_documented_bytes_and_digest() {
    let g = example();
    assert_eq!(g.nodes(), ["app", "core", "serde"]);
    assert_eq!(
        g.edges().collect::<Vec<_>>(),
        [("app", "core"), ("app", "serde"), ("core", "serde")]
    );
    assert_eq!(g.node_count(), 3);
    assert_eq!(g.edge_count(), 3);
    assert_eq!(g.to_json_bytes(), EXAMPLE_JSON.as_bytes());
    let expected: [u8; 32] = Sha256::digest(EXAMPLE_JSON.as_bytes()).into();
    assert_eq!(g.digest(), expected);
    assert_eq!(g.digest_hex(), EXAMPLE_DIGEST);
}

#[test]
fn canonical_bytes_round_trip() {
    let g = example();
    assert_eq!(
        CanonicalGraph::from_json_bytes(&g.to_json_bytes()).unwrap(),
        g
    );
    let empty = CanonicalGraph::new(Vec::<&str>::new(), Vec::<(&str, &str)>::new()).unwrap();
    assert_eq!(
        empty.to_json_bytes(),
        br#"{"edges":[],"nodes":[],"schema":"tau-crystal.graph/1"}"#
    );
    assert_eq!(
        CanonicalGraph::from_json_bytes(&empty.to_json_bytes()).unwrap(),
        empty
    );
}

#[test]
fn keys_sort_by_bytes_and_escape_per_jcs() {
    // "Z" (0x5a) < "a" (0x61) < "é" (0xc3 0xa9); control characters use \u00xx.
    let g = CanonicalGraph::new(
        ["é", "a", "Z", "tab\there", "q\"uote"],
        Vec::<(&str, &str)>::new(),
    )
    .unwrap();
    assert_eq!(g.nodes(), ["Z", "a", "q\"uote", "tab\there", "é"]);
    let text = String::from_utf8(g.to_json_bytes()).unwrap();
    assert_eq!(
        text,
        r#"{"edges":[],"nodes":["Z","a","q\"uote","tab\there","é"],"schema":"tau-crystal.graph/1"}"#
    );
    assert_eq!(CanonicalGraph::from_json_bytes(text.as_bytes()).unwrap(), g);
}

#[test]
fn empty_keys_are_rejected() {
    assert_eq!(
        CanonicalGraph::new([""], Vec::<(&str, &str)>::new()),
        Err(GraphError::EmptyKey)
    );
    assert_eq!(
        CanonicalGraph::new(Vec::<&str>::new(), [("a", "")]),
        Err(GraphError::EmptyKey)
    );
}

fn parse_error(text: &str) -> String {
    CanonicalGraph::from_json_bytes(text.as_bytes())
        .unwrap_err()
        .to_string()
}

#[test]
fn parser_rejects_every_non_canonical_form_with_the_field_named() {
    let cases: [(&str, &str); 12] = [
        (
            r#"{"edges":[],"nodes":["b","a"],"schema":"tau-crystal.graph/1"}"#,
            "field `nodes[1]` is not canonical",
        ),
        (
            r#"{"edges":[],"nodes":["a","a"],"schema":"tau-crystal.graph/1"}"#,
            "field `nodes[1]`",
        ),
        (
            r#"{"edges":[],"nodes":[""],"schema":"tau-crystal.graph/1"}"#,
            "field `nodes[0]`",
        ),
        (
            r#"{"edges":[[1,0],[0,1]],"nodes":["a","b"],"schema":"tau-crystal.graph/1"}"#,
            "field `edges[1]`",
        ),
        (
            r#"{"edges":[[0,1],[0,1]],"nodes":["a","b"],"schema":"tau-crystal.graph/1"}"#,
            "field `edges[1]`",
        ),
        (
            r#"{"edges":[[0,0]],"nodes":["a","b"],"schema":"tau-crystal.graph/1"}"#,
            "self-loops",
        ),
        (
            r#"{"edges":[[0,2]],"nodes":["a","b"],"schema":"tau-crystal.graph/1"}"#,
            "field `edges[0]` is not canonical: node index out of range",
        ),
        (
            r#"{"edges":[],"nodes":[],"schema":"tau-crystal.graph/2"}"#,
            "field `schema`",
        ),
        (
            r#"{"edges":[],"extra":1,"nodes":[],"schema":"tau-crystal.graph/1"}"#,
            "unknown field `extra`",
        ),
        (
            r#"{"edges":[], "nodes":[],"schema":"tau-crystal.graph/1"}"#,
            "first difference at byte offset 12 (field `nodes`)",
        ),
        (
            r#"{"nodes":["a"],"edges":[],"schema":"tau-crystal.graph/1"}"#,
            "byte offset 2 (field `edges`)",
        ),
        (
            r#"{"edges":[],"nodes":["\u0061"],"schema":"tau-crystal.graph/1"}"#,
            "(field `nodes`)",
        ),
    ];
    for (text, expected) in cases {
        let message = parse_error(text);
        assert!(message.contains(expected), "{text}: got {message:?}");
        assert!(message.starts_with("graph.json"), "{message}");
    }
    assert!(
        parse_error(r#"{"edges":[[0,1.0]],"nodes":["a","b"],"schema":"tau-crystal.graph/1"}"#)
            .contains("graph.json is not valid")
    );
    let trailing = format!("{EXAMPLE_JSON}\n");
    assert!(parse_error(&trailing).contains(&format!("byte offset {}", EXAMPLE_JSON.len())));
}

#[test]
fn petgraph_index_order_does_not_matter() {
    let mut first = Graph::<&str, ()>::new();
    let (a, b, c, d) = (
        first.add_node("a"),
        first.add_node("b"),
        first.add_node("c"),
        first.add_node("d"),
    );
    first.add_edge(a, b, ());
    first.add_edge(b, c, ());
    first.add_edge(a, c, ());
    let _ = d;

    let mut second = Graph::<String, u32>::new();
    let d = second.add_node("d".to_owned());
    let c = second.add_node("c".to_owned());
    let b = second.add_node("b".to_owned());
    let a = second.add_node("a".to_owned());
    let a_again = second.add_node("a".to_owned());
    second.add_edge(a, c, 7);
    second.add_edge(b, c, 8);
    second.add_edge(a_again, b, 9);
    second.add_edge(c, c, 0);
    let _ = d;

    let x = CanonicalGraph::from_petgraph(&first).unwrap();
    let y = CanonicalGraph::from_petgraph(&second).unwrap();
    assert_eq!(x, y);
    assert_eq!(x.nodes(), ["a", "b", "c", "d"]);
    assert_eq!(x.digest(), y.digest());
}

fn edge_list() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec((0..12u8, 0..12u8), 0..60).prop_map(|pairs| {
        pairs
            .into_iter()
            .map(|(a, b)| (format!("n{a}"), format!("n{b}")))
            .collect()
    })
}

proptest! {
    #[test]
    fn canonical_form_matches_an_ordered_set_reference(edges in edge_list(), extra in prop::collection::vec(0..20u8, 0..5)) {
        let nodes: Vec<String> = extra.iter().map(|i| format!("n{i}")).collect();
        let g = CanonicalGraph::new(nodes.iter().cloned(), edges.iter().cloned()).unwrap();
        let (ref_nodes, ref_edges) = reference::canonical(&nodes, &edges);
        prop_assert_eq!(g.nodes(), ref_nodes.as_slice());
        let got: Vec<(usize, usize)> = g.edge_indices().iter().map(|&(a, b)| (a as usize, b as usize)).collect();
        prop_assert_eq!(got, ref_edges);
        prop_assert_eq!(CanonicalGraph::from_json_bytes(&g.to_json_bytes()).unwrap(), g);
    }

    #[test]
    fn digest_ignores_order_and_duplicates(
        (edges, shuffled) in edge_list().prop_flat_map(|e| (Just(e.clone()), Just(e).prop_shuffle())),
    ) {
        let mut noisy = shuffled.clone();
        noisy.extend(shuffled.iter().take(5).cloned());
        let a = CanonicalGraph::new(Vec::<String>::new(), edges).unwrap();
        let b = CanonicalGraph::new(Vec::<String>::new(), noisy).unwrap();
        prop_assert_eq!(a.to_json_bytes(), b.to_json_bytes());
    }

    #[test]
    fn digest_changes_when_an_edge_is_added(edges in edge_list(), a in 0..14u8, b in 0..14u8) {
        let new = (format!("n{a}"), format!("n{b}"));
        prop_assume!(a != b && !edges.contains(&new));
        let before = CanonicalGraph::new(Vec::<String>::new(), edges.clone()).unwrap();
        let mut more = edges;
        more.push(new);
        let after = CanonicalGraph::new(Vec::<String>::new(), more).unwrap();
        prop_assert_ne!(before.digest(), after.digest());
    }
}
