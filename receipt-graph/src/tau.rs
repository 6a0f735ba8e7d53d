//! The τ fingerprint: Chebyshev moments of the line graph's operator H = L − I, without building the line graph.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{CanonicalGraph, format_fixed6};

/// Recipe id recorded in every [`TauReport`]: the monograph's v1.2 recipe with H = L − I.
pub const TAU_RECIPE: &str = "tau-crystal/1.2+H=L-I";

/// Chebyshev degree K of the recipe; the report holds K + 1 moments.
pub const TAU_DEGREE: u32 = 16;

/// The manifest strings that seed the Rademacher vector of [`tau`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TauSeed<'a> {
    /// The manifest's `producer` string.
    pub producer: &'a str,
    /// The manifest's `timestamp` string.
    pub timestamp: &'a str,
    /// The manifest's `merkle_root` string (lowercase hex).
    pub merkle_root: &'a str,
}

/// The τ fingerprint of a graph, with every intermediate a verifier needs to locate a divergence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TauReport {
    /// Always [`TAU_RECIPE`] for reports made by this library.
    pub recipe: String,
    /// The Chebyshev degree K ([`TAU_DEGREE`]).
    pub k: u32,
    /// Number n of line-graph nodes (distinct undirected, non-loop edges).
    pub line_nodes: u64,
    /// τ with exactly six decimals, rounded half to even on the exact double.
    pub tau: String,
    /// μ_0 … μ_K, or empty when n = 0.
    pub moments: Vec<f64>,
    /// Σ_{j≤k} 2^−j |μ_j| for k = 0 … K, or empty when n = 0; the last one is τ.
    pub partial_sums: Vec<f64>,
}

/// Computes the τ fingerprint of `graph` seeded by the manifest strings in `seed`.
///
/// Cost is O(K·|E|) time and O(|V| + |E|) memory: the line graph is never built.
///
/// # Examples
///
/// ```
/// use receipt_graph::{CanonicalGraph, TauSeed, tau};
/// let seed = TauSeed { producer: "p", timestamp: "2026-01-01T00:00:00Z", merkle_root: "00" };
/// let one_edge = CanonicalGraph::new(Vec::<&str>::new(), [("a", "b")])?;
/// assert_eq!(tau(&one_edge, &seed).tau, "1.333328");
/// let path = CanonicalGraph::new(Vec::<&str>::new(), [("a", "b"), ("b", "c")])?;
/// assert_eq!(tau(&path, &seed).tau, "1.999985");
/// # Ok::<(), receipt_graph::GraphError>(())
/// ```
pub fn tau(graph: &CanonicalGraph, seed: &TauSeed<'_>) -> TauReport {
    let line = LineGraph::new(graph);
    let n = line.len();
    if n == 0 {
        return TauReport {
            recipe: TAU_RECIPE.to_owned(),
            k: TAU_DEGREE,
            line_nodes: 0,
            tau: format_fixed6(0.0),
            moments: Vec::new(),
            partial_sums: Vec::new(),
        };
    }
    let u = seed_vector(seed, n);
    let moments = line.moments(&u, TAU_DEGREE);
    let partial_sums = damped_partial_sums(&moments);
    let tau = partial_sums.last().copied().unwrap_or(0.0);
    TauReport {
        recipe: TAU_RECIPE.to_owned(),
        k: TAU_DEGREE,
        line_nodes: n as u64,
        tau: format_fixed6(tau),
        moments,
        partial_sums,
    }
}

/// Index of the first moment or partial sum at which two reports differ.
///
/// Position `k` differs when `moments[k]` or `partial_sums[k]` differ (as
/// numbers) or is present in only one report. Returns `None` when both
/// sequences agree entirely; recipe, degree and `tau` are not compared.
pub fn first_divergence(a: &TauReport, b: &TauReport) -> Option<usize> {
    let len = |r: &TauReport| r.moments.len().max(r.partial_sums.len());
    (0..len(a).max(len(b))).find(|&k| {
        a.moments.get(k) != b.moments.get(k) || a.partial_sums.get(k) != b.partial_sums.get(k)
    })
}

/// The Rademacher start vector: sign bytes from the seed stream, scaled by 1/√n.
///
/// The stream is s ‖ SHA-256(s ‖ u64be(1)) ‖ SHA-256(s ‖ u64be(2)) ‖ … with
/// s = SHA-256(producer ‖ timestamp ‖ merkle_root); an even byte gives +1.
pub fn seed_vector(seed: &TauSeed<'_>, n: usize) -> Vec<f64> {
    let s: [u8; 32] = Sha256::new()
        .chain_update(seed.producer.as_bytes())
        .chain_update(seed.timestamp.as_bytes())
        .chain_update(seed.merkle_root.as_bytes())
        .finalize()
        .into();
    let scale = 1.0 / (n as f64).sqrt();
    let mut out = Vec::with_capacity(n);
    let mut block = s;
    let mut counter = 0u64;
    while out.len() < n {
        let take = (n - out.len()).min(block.len());
        out.extend(
            block[..take]
                .iter()
                .map(|&b| if b % 2 == 0 { scale } else { -scale }),
        );
        counter += 1;
        block = Sha256::new()
            .chain_update(s)
            .chain_update(counter.to_be_bytes())
            .finalize()
            .into();
    }
    out
}

/// μ_k = uᵀ T_k(H) u for k = 0..=degree by the three-term recurrence.
///
/// `apply` writes H·x into its second argument. Every operation is a plain
/// IEEE-754 double operation in index order, so the result is reproducible.
pub fn chebyshev_moments(
    u: &[f64],
    degree: u32,
    mut apply: impl FnMut(&[f64], &mut [f64]),
) -> Vec<f64> {
    let n = u.len();
    let mut moments = Vec::with_capacity(degree as usize + 1);
    moments.push(dot(u, u));
    if degree == 0 {
        return moments;
    }
    let mut prev = u.to_vec();
    let mut cur = vec![0.0; n];
    apply(u, &mut cur);
    moments.push(dot(u, &cur));
    let mut hv = vec![0.0; n];
    for _ in 2..=degree {
        apply(&cur, &mut hv);
        // v_{k+1} = 2·(H v_k) − v_{k−1}, written over v_{k−1}.
        for (p, &h) in prev.iter_mut().zip(&hv) {
            *p = 2.0 * h - *p;
        }
        std::mem::swap(&mut prev, &mut cur);
        moments.push(dot(u, &cur));
    }
    moments
}

/// Σ_{j≤k} 2^−j |μ_j| for each k, summed left to right.
pub fn damped_partial_sums(moments: &[f64]) -> Vec<f64> {
    let mut sum = 0.0;
    let mut weight = 1.0;
    moments
        .iter()
        .map(|m| {
            sum += weight * m.abs();
            weight *= 0.5;
            sum
        })
        .collect()
}

/// Dot product accumulated from +0.0 in index order.
fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).fold(0.0, |acc, (x, y)| acc + x * y)
}

/// The line graph of the underlying simple undirected graph, held as its incidence structure.
struct LineGraph {
    /// Per line-graph node, in line-graph order: its endpoints and d_e^{−1/2} (0 where d_e = 0).
    nodes: Vec<LineNode>,
    /// Number of nodes of the build graph.
    graph_nodes: usize,
}

/// One line-graph node: an undirected edge {a, b} and its weight d^{−1/2}.
#[derive(Clone, Copy)]
struct LineNode {
    a: u32,
    b: u32,
    weight: f64,
}

/// Per-node sums S_w = Σ_{e ∋ w} y_e of two consecutive vectors, interleaved so the
/// random access to a node reads the current sum and updates the next one in one cache line.
struct NodeSums(Vec<[f64; 2]>);

impl NodeSums {
    /// Clears slot `slot` of every node.
    fn reset(&mut self, slot: usize) {
        for pair in &mut self.0 {
            pair[slot] = 0.0;
        }
    }

    /// Adds y_e to both endpoints' sums in slot `slot`; called for e = 0, 1, … in order,
    /// so each S_w accumulates from +0.0 in line-node order.
    #[inline]
    fn add(&mut self, node: LineNode, slot: usize, y: f64) {
        self.0[node.a as usize][slot] += y;
        self.0[node.b as usize][slot] += y;
    }

    /// (H x)_e = −d_e^{−1/2} ((S_a − y_e) + (S_b − y_e)), i.e. −D^{−1/2}(BᵀB − 2I)D^{−1/2} x,
    /// where slot `slot` and y_e belong to x.
    #[inline]
    fn h(&self, node: LineNode, slot: usize, y: f64) -> f64 {
        let neighbours = (self.0[node.a as usize][slot] - y) + (self.0[node.b as usize][slot] - y);
        -(node.weight * neighbours)
    }
}

impl LineGraph {
    fn new(graph: &CanonicalGraph) -> Self {
        let edges = graph.edge_indices();
        // Row offsets of the sorted edge list, so "does a→b exist?" is a search
        // within row a instead of over all edges.
        let mut row_start = vec![0usize; graph.node_count() + 1];
        for &(from, _) in edges {
            row_start[from as usize + 1] += 1;
        }
        for i in 0..graph.node_count() {
            row_start[i + 1] += row_start[i];
        }
        let has_edge = |from: u32, to: u32| {
            let row = &edges[row_start[from as usize]..row_start[from as usize + 1]];
            row.binary_search_by_key(&to, |&(_, t)| t).is_ok()
        };
        // {a, b} is kept at its first directed occurrence. Edges are sorted by
        // (from, to), so with a < b the edge a→b precedes b→a; b→a is therefore
        // kept only when a→b is absent.
        let ends: Vec<(u32, u32)> = edges
            .iter()
            .copied()
            .filter(|&(from, to)| from < to || !has_edge(to, from))
            .collect();
        let mut node_degree = vec![0u64; graph.node_count()];
        for &(a, b) in &ends {
            node_degree[a as usize] += 1;
            node_degree[b as usize] += 1;
        }
        let nodes = ends
            .into_iter()
            .map(|(a, b)| {
                let d = node_degree[a as usize] + node_degree[b as usize] - 2;
                // Degrees stay far below 2^53, so the conversion is exact.
                let weight = if d == 0 { 0.0 } else { 1.0 / (d as f64).sqrt() };
                LineNode { a, b, weight }
            })
            .collect();
        Self {
            nodes,
            graph_nodes: graph.node_count(),
        }
    }

    fn len(&self) -> usize {
        self.nodes.len()
    }

    /// The same moments as [`chebyshev_moments`] with H, bit for bit, in one
    /// pass over the line-graph nodes per degree: while v_{k+1} is produced,
    /// its dot product with u and its scatter for the next product are formed,
    /// so the O(|E|) vectors stream through memory once per step.
    fn moments(&self, u: &[f64], degree: u32) -> Vec<f64> {
        let n = u.len();
        let mut moments = Vec::with_capacity(degree as usize + 1);
        moments.push(dot(u, u));
        if degree == 0 {
            return moments;
        }
        let mut sums = NodeSums(vec![[0.0; 2]; self.graph_nodes]);
        // y = D^{−1/2} v_k in `y_cur` (sums slot k mod 2) and of v_{k+1} in `y_next`.
        let mut y_cur = vec![0.0; n];
        let mut y_next = vec![0.0; n];
        for ((&node, &x), y) in self.nodes.iter().zip(u).zip(&mut y_cur) {
            *y = node.weight * x;
            sums.add(node, 0, *y);
        }
        // `older` holds v_{k−1} and is overwritten with v_{k+1}; `newer` holds v_k.
        let mut older = u.to_vec();
        let mut newer = vec![0.0; n];
        for k in 0..degree as usize {
            let (cur, next) = (k % 2, 1 - k % 2);
            sums.reset(next);
            let mut mu = 0.0;
            for ((((&node, slot), &ue), &yc), yn) in self
                .nodes
                .iter()
                .zip(&mut older)
                .zip(u)
                .zip(&y_cur)
                .zip(&mut y_next)
            {
                let hv = sums.h(node, cur, yc);
                // v_1 = H v_0; afterwards v_{k+1} = 2 H v_k − v_{k−1}.
                let v = if k == 0 { hv } else { 2.0 * hv - *slot };
                *slot = v;
                mu += ue * v;
                *yn = node.weight * v;
                sums.add(node, next, *yn);
            }
            moments.push(mu);
            std::mem::swap(&mut y_cur, &mut y_next);
            if k == 0 {
                // v_1 was written over v_0 = u, which the next step needs as v_{k−1}.
                newer.copy_from_slice(&older);
                older.copy_from_slice(u);
            } else {
                std::mem::swap(&mut older, &mut newer);
            }
        }
        moments
    }

    /// out = H x, the plain product the fused [`moments`](Self::moments) must reproduce.
    #[cfg(test)]
    fn apply_h(&self, x: &[f64], out: &mut [f64]) {
        let mut sums = NodeSums(vec![[0.0; 2]; self.graph_nodes]);
        let y: Vec<f64> = self
            .nodes
            .iter()
            .zip(x)
            .map(|(n, &xe)| n.weight * xe)
            .collect();
        for (&node, &ye) in self.nodes.iter().zip(&y) {
            sums.add(node, 0, ye);
        }
        for ((&node, &ye), o) in self.nodes.iter().zip(&y).zip(out.iter_mut()) {
            *o = sums.h(node, 0, ye);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fused_moments_equal_the_generic_recurrence_bit_for_bit() {
        let edges: Vec<(String, String)> = (0..400u32)
            .map(|i| {
                (
                    format!("n{}", (i * 7919) % 97),
                    format!("n{}", (i * 104_729 + 13) % 89),
                )
            })
            .collect();
        let graph = CanonicalGraph::new(Vec::<String>::new(), edges).unwrap();
        let line = LineGraph::new(&graph);
        let seed = TauSeed {
            producer: "p",
            timestamp: "t",
            merkle_root: "m",
        };
        let u = seed_vector(&seed, line.len());
        let fused = line.moments(&u, TAU_DEGREE);
        let generic = chebyshev_moments(&u, TAU_DEGREE, |x, out| line.apply_h(x, out));
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&fused), bits(&generic));
    }
}
