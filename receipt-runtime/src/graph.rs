//! The declared stage graph: which stage may follow which, and what to do when one does not.
//!
//! A stage's *predecessor* is the stage called just before it under the same parent stage
//! (at top level: on the same thread), or [`START`] when it is the first. A stage that has
//! allowed predecessors declared (with [`StageGraphBuilder::edge`] or `#[receipt(after = "…")]`)
//! may only follow one of them; a stage with none declared may follow anything.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// The predecessor name used for "first stage under its parent".
pub const START: &str = "<start>";

/// What happens on an illegal transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ViolationPolicy {
    /// Record a `VIOLATION` entry, then panic in the offending call (the default).
    #[default]
    Fail,
    /// Record a `VIOLATION` entry and let the call proceed.
    Record,
}

/// Allowed predecessors per constrained stage. Serialized as
/// `{"after":{"<stage>":["<pred>",…],…}}` with sorted names.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageGraph {
    /// Stage name → the stages allowed to precede it ([`START`] for "first").
    pub after: BTreeMap<String, BTreeSet<String>>,
}

impl StageGraph {
    /// A builder for a declared graph.
    pub fn builder() -> StageGraphBuilder {
        StageGraphBuilder::default()
    }

    /// Declares `pred` (or [`START`]) as an allowed predecessor of `stage`.
    pub fn allow(&mut self, pred: &str, stage: &str) {
        if let Some(set) = self.after.get_mut(stage) {
            if !set.contains(pred) {
                set.insert(pred.to_owned());
            }
            return;
        }
        self.after
            .insert(stage.to_owned(), BTreeSet::from([pred.to_owned()]));
    }

    /// Whether `stage` may follow `pred` ([`START`] when it is the first).
    pub fn allows(&self, pred: &str, stage: &str) -> bool {
        self.after.get(stage).is_none_or(|set| set.contains(pred))
    }

    /// Whether no stage is constrained.
    pub fn is_empty(&self) -> bool {
        self.after.is_empty()
    }
}

/// Builds a [`StageGraph`].
///
/// ```
/// use receipt_runtime::graph::StageGraph;
/// let g = StageGraph::builder()
///     .first("parse")
///     .edge("parse", "transform")
///     .edge("transform", "write")
///     .build();
/// assert!(g.allows("parse", "transform"));
/// assert!(!g.allows("write", "transform"));
/// ```
#[derive(Debug, Clone, Default)]
pub struct StageGraphBuilder {
    graph: StageGraph,
}

impl StageGraphBuilder {
    /// `stage` may be the first stage under its parent.
    pub fn first(mut self, stage: &str) -> Self {
        self.graph.allow(START, stage);
        self
    }

    /// `to` may directly follow `from`.
    pub fn edge(mut self, from: &str, to: &str) -> Self {
        self.graph.allow(from, to);
        self
    }

    /// The graph.
    pub fn build(self) -> StageGraph {
        self.graph
    }
}
