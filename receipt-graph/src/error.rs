//! Errors raised while building or parsing a canonical graph.

use thiserror::Error;

/// Why a canonical graph could not be built or parsed.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum GraphError {
    /// A node key was the empty string; every node needs a non-empty key.
    #[error("graph node key is empty; every node needs a non-empty key")]
    EmptyKey,
    /// The graph has more nodes than a `u32` index can address.
    #[error("graph has at least {0} nodes, more than the 4294967295 supported")]
    TooManyNodes(usize),
    /// `graph.json` could not be read as the documented schema.
    #[error("graph.json is not valid: {0}")]
    Json(String),
    /// `graph.json` named a schema other than [`GRAPH_SCHEMA`](crate::GRAPH_SCHEMA).
    #[error("graph.json field `schema` is {found:?}, expected {expected:?}")]
    Schema {
        /// The schema id found in the document.
        found: String,
        /// The schema id this library reads.
        expected: &'static str,
    },
    /// A field of `graph.json` violated the canonical form.
    #[error("graph.json field `{field}` is not canonical: {reason}")]
    NotCanonical {
        /// The offending field, with an index where one applies (e.g. `edges[3]`).
        field: String,
        /// What rule was broken.
        reason: String,
    },
    /// The document parsed, but its bytes differ from the canonical serialization.
    #[error(
        "graph.json is not in canonical JCS form: first difference at byte offset {offset} (field `{field}`)"
    )]
    NotCanonicalBytes {
        /// Offset of the first byte that differs from the canonical serialization.
        offset: usize,
        /// The top-level field that contains that offset.
        field: &'static str,
    },
}
