//! The canonical graph form and its `graph.json` serialization and digest.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::GraphError;

/// Schema id written in the `schema` field of `graph.json`.
pub const GRAPH_SCHEMA: &str = "tau-crystal.graph/1";

/// Node indices are `u32`; `u32::MAX` itself stays free as a sentinel.
const MAX_NODES: usize = u32::MAX as usize;

/// A canonical directed graph: nodes sorted by bytes, edges deduplicated,
/// self-loops dropped, sorted by (from bytes, to bytes).
///
/// Edges point from the dependent to its dependency. Nodes are identified by
/// their index in [`nodes`](Self::nodes); because the node list is sorted by
/// bytes, sorting edges by index pairs is the same as sorting them by key bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CanonicalGraph {
    nodes: Vec<String>,
    edges: Vec<(u32, u32)>,
}

/// The wire shape of `graph.json`; field order is irrelevant because JCS sorts keys.
#[derive(Serialize)]
struct GraphDoc<'a> {
    edges: &'a [(u32, u32)],
    nodes: &'a [String],
    schema: &'static str,
}

/// What `graph.json` is parsed into before it is validated.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGraphDoc {
    edges: Vec<(u64, u64)>,
    nodes: Vec<String>,
    schema: String,
}

impl CanonicalGraph {
    /// Builds the canonical form of a graph from node keys and `(from, to)` edges.
    ///
    /// Nodes named in edges are added automatically, so `nodes` only needs to
    /// list nodes without edges. Duplicate nodes and edges collapse, self-loops
    /// are dropped, and the input order never matters.
    ///
    /// # Errors
    ///
    /// [`GraphError::EmptyKey`] if any key is the empty string, and
    /// [`GraphError::TooManyNodes`] if there are more than `u32::MAX` distinct keys.
    ///
    /// # Examples
    ///
    /// ```
    /// use receipt_graph::CanonicalGraph;
    /// let g = CanonicalGraph::new(["z"], [("b", "a"), ("b", "a"), ("a", "a")])?;
    /// assert_eq!(g.nodes(), ["a", "b", "z"]);
    /// assert_eq!(g.edges().collect::<Vec<_>>(), [("b", "a")]);
    /// # Ok::<(), receipt_graph::GraphError>(())
    /// ```
    pub fn new<N, E, S>(nodes: N, edges: E) -> Result<Self, GraphError>
    where
        N: IntoIterator<Item = S>,
        E: IntoIterator<Item = (S, S)>,
        S: Into<String>,
    {
        let mut keys: Vec<String> = nodes.into_iter().map(Into::into).collect();
        let first_endpoint = keys.len();
        for (from, to) in edges {
            keys.push(from.into());
            keys.push(to.into());
        }
        if keys.iter().any(String::is_empty) {
            return Err(GraphError::EmptyKey);
        }
        // Sort positions rather than strings so each key keeps its slot and the
        // edge endpoints can be renamed to node indices without cloning.
        let mut order: Vec<usize> = (0..keys.len()).collect();
        order.sort_unstable_by(|&a, &b| keys[a].cmp(&keys[b]));
        let mut id_of = vec![0u32; keys.len()];
        let mut sorted_nodes: Vec<String> = Vec::new();
        for &pos in &order {
            if sorted_nodes.last() != Some(&keys[pos]) {
                if sorted_nodes.len() == MAX_NODES {
                    return Err(GraphError::TooManyNodes(MAX_NODES.saturating_add(1)));
                }
                sorted_nodes.push(std::mem::take(&mut keys[pos]));
            }
            // The check above guarantees the index fits.
            id_of[pos] = (sorted_nodes.len() - 1) as u32;
        }
        let endpoint_ids = &id_of[first_endpoint..];
        let edges = endpoint_ids
            .chunks_exact(2)
            .map(|pair| (pair[0], pair[1]))
            .collect();
        Ok(Self::from_parts(sorted_nodes, edges))
    }

    /// Builds the canonical graph of a petgraph graph whose node weights are the keys.
    ///
    /// Edge weights are ignored, nodes with equal keys merge, and the result
    /// does not depend on petgraph's node or edge index order.
    ///
    /// # Errors
    ///
    /// As for [`CanonicalGraph::new`].
    pub fn from_petgraph<N: AsRef<str>, E>(g: &petgraph::Graph<N, E>) -> Result<Self, GraphError> {
        let nodes = g.node_weights().map(|w| w.as_ref());
        let edges = g
            .raw_edges()
            .iter()
            .map(|e| (g[e.source()].as_ref(), g[e.target()].as_ref()));
        Self::new(nodes, edges)
    }

    /// The graph as a petgraph graph whose node `i` is canonical node `i` (weight: its key)
    /// and whose edges are added in canonical order, for running graph algorithms on it.
    ///
    /// # Examples
    ///
    /// ```
    /// use receipt_graph::CanonicalGraph;
    /// let g = CanonicalGraph::new(Vec::<&str>::new(), [("b", "a"), ("a", "c")])?;
    /// let pg = g.to_petgraph();
    /// assert!(!petgraph::algo::is_cyclic_directed(&pg));
    /// assert_eq!(CanonicalGraph::from_petgraph(&pg)?, g);
    /// # Ok::<(), receipt_graph::GraphError>(())
    /// ```
    pub fn to_petgraph(&self) -> petgraph::Graph<&str, ()> {
        let mut g = petgraph::Graph::with_capacity(self.nodes.len(), self.edges.len());
        let ids: Vec<_> = self.nodes.iter().map(|k| g.add_node(k.as_str())).collect();
        for &(from, to) in &self.edges {
            g.add_edge(ids[from as usize], ids[to as usize], ());
        }
        g
    }

    /// Canonicalizes sorted, deduplicated nodes and index edges.
    fn from_parts(nodes: Vec<String>, mut edges: Vec<(u32, u32)>) -> Self {
        edges.retain(|&(from, to)| from != to);
        edges.sort_unstable();
        edges.dedup();
        Self { nodes, edges }
    }

    /// The node keys, sorted by bytes and distinct.
    pub fn nodes(&self) -> &[String] {
        &self.nodes
    }

    /// The edges as `(from, to)` keys in canonical order.
    pub fn edges(&self) -> impl ExactSizeIterator<Item = (&str, &str)> + '_ {
        self.edges.iter().map(|&(f, t)| {
            (
                self.nodes[f as usize].as_str(),
                self.nodes[t as usize].as_str(),
            )
        })
    }

    /// The edges as `(from, to)` indices into [`nodes`](Self::nodes), in canonical order.
    pub fn edge_indices(&self) -> &[(u32, u32)] {
        &self.edges
    }

    /// Number of nodes.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Number of edges.
    pub fn edge_count(&self) -> usize {
        self.edges.len()
    }

    /// The canonical `graph.json` bytes: RFC 8785 (JCS) JSON with no trailing newline.
    ///
    /// The document is `{"edges":[[from,to],...],"nodes":[key,...],"schema":"tau-crystal.graph/1"}`
    /// with edges as index pairs into `nodes`.
    pub fn to_json_bytes(&self) -> Vec<u8> {
        serde_jcs::to_vec(&self.doc()).expect("strings and integers always serialize as JCS")
    }

    fn doc(&self) -> GraphDoc<'_> {
        GraphDoc {
            edges: &self.edges,
            nodes: &self.nodes,
            schema: GRAPH_SCHEMA,
        }
    }

    /// Parses `graph.json` bytes, accepting only the exact canonical serialization.
    ///
    /// # Errors
    ///
    /// [`GraphError::Json`] for malformed JSON or a wrong shape,
    /// [`GraphError::Schema`] for another schema id, [`GraphError::NotCanonical`]
    /// naming the field that breaks the canonical form, and
    /// [`GraphError::NotCanonicalBytes`] when the content is canonical but the
    /// bytes are not (whitespace, escapes, number spelling).
    ///
    /// # Examples
    ///
    /// ```
    /// use receipt_graph::CanonicalGraph;
    /// let g = CanonicalGraph::new(Vec::<&str>::new(), [("app", "core")])?;
    /// let bytes = g.to_json_bytes();
    /// assert_eq!(bytes, br#"{"edges":[[0,1]],"nodes":["app","core"],"schema":"tau-crystal.graph/1"}"#);
    /// assert_eq!(CanonicalGraph::from_json_bytes(&bytes)?, g);
    ///
    /// let spaced = br#"{"edges":[[0, 1]],"nodes":["app","core"],"schema":"tau-crystal.graph/1"}"#;
    /// let err = CanonicalGraph::from_json_bytes(spaced).unwrap_err();
    /// assert_eq!(
    ///     err.to_string(),
    ///     "graph.json is not in canonical JCS form: first difference at byte offset 13 (field `edges`)"
    /// );
    /// # Ok::<(), receipt_graph::GraphError>(())
    /// ```
    pub fn from_json_bytes(bytes: &[u8]) -> Result<Self, GraphError> {
        let raw: RawGraphDoc =
            serde_json::from_slice(bytes).map_err(|e| GraphError::Json(e.to_string()))?;
        if raw.schema != GRAPH_SCHEMA {
            return Err(GraphError::Schema {
                found: raw.schema,
                expected: GRAPH_SCHEMA,
            });
        }
        if raw.nodes.len() > MAX_NODES {
            return Err(GraphError::TooManyNodes(raw.nodes.len()));
        }
        for (i, key) in raw.nodes.iter().enumerate() {
            if key.is_empty() {
                return Err(not_canonical(format!("nodes[{i}]"), "the key is empty"));
            }
            if i > 0 && raw.nodes[i - 1] >= *key {
                return Err(not_canonical(
                    format!("nodes[{i}]"),
                    "keys must be distinct and sorted by bytes",
                ));
            }
        }
        let node_count = raw.nodes.len() as u64;
        let mut edges = Vec::with_capacity(raw.edges.len());
        for (i, &(from, to)) in raw.edges.iter().enumerate() {
            if from >= node_count || to >= node_count {
                return Err(not_canonical(
                    format!("edges[{i}]"),
                    format!("node index out of range (there are {node_count} nodes)"),
                ));
            }
            if from == to {
                return Err(not_canonical(
                    format!("edges[{i}]"),
                    "self-loops are not allowed",
                ));
            }
            // Both indices are below node_count, which fits in u32.
            let edge = (from as u32, to as u32);
            if edges.last().is_some_and(|&prev| prev >= edge) {
                return Err(not_canonical(
                    format!("edges[{i}]"),
                    "edges must be distinct and sorted by (from, to)",
                ));
            }
            edges.push(edge);
        }
        let graph = Self {
            nodes: raw.nodes,
            edges,
        };
        let canonical = graph.to_json_bytes();
        if let Some(offset) = first_difference(&canonical, bytes) {
            return Err(GraphError::NotCanonicalBytes {
                offset,
                field: graph.field_at(offset),
            });
        }
        Ok(graph)
    }

    /// Names the top-level field whose canonical serialization contains `offset`.
    fn field_at(&self, offset: usize) -> &'static str {
        // Layout: {"edges":E,"nodes":N,"schema":S}
        let edges_end = r#"{"edges":"#.len() + jcs_len(&self.edges);
        let nodes_end = edges_end + r#","nodes":"#.len() + jcs_len(&self.nodes);
        if offset < edges_end {
            "edges"
        } else if offset < nodes_end {
            "nodes"
        } else {
            "schema"
        }
    }

    /// SHA-256 of [`to_json_bytes`](Self::to_json_bytes): the graph digest.
    pub fn digest(&self) -> [u8; 32] {
        Sha256::digest(self.to_json_bytes()).into()
    }

    /// The graph digest as 64 lowercase hex digits.
    pub fn digest_hex(&self) -> String {
        receipt_primitives::Digest(self.digest()).to_hex()
    }
}

/// Length of a value's JCS serialization, for locating byte offsets.
fn jcs_len<T: Serialize + ?Sized>(value: &T) -> usize {
    serde_jcs::to_vec(value).map_or(0, |v| v.len())
}

fn not_canonical(field: String, reason: impl Into<String>) -> GraphError {
    GraphError::NotCanonical {
        field,
        reason: reason.into(),
    }
}

/// Offset of the first differing byte, counting a length mismatch as a difference.
fn first_difference(a: &[u8], b: &[u8]) -> Option<usize> {
    match a.iter().zip(b).position(|(x, y)| x != y) {
        Some(i) => Some(i),
        None if a.len() != b.len() => Some(a.len().min(b.len())),
        None => None,
    }
}
