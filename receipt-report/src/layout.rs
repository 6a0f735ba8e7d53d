//! Layered (Sugiyama-style) drawing of a directed graph: cycle breaking, longest-path
//! ranks, dummy nodes for long edges, barycenter crossing reduction and a coordinate
//! assignment that keeps every layer's order. Deterministic: no hashing, no randomness.
//!
//! Edges point from the dependent (drawn higher) to the dependency (drawn lower), so after
//! cycle breaking every drawn edge goes strictly down.
//!
//! Written here rather than taken from a crate: `layout-rs` parses Graphviz dot and draws
//! its own SVG (the report needs its own escaped, classed elements and the edge routes);
//! `rust-sugiyama` returns vertex coordinates per connected component but not the bends of
//! long edges, and cannot take the fixed ranks that folding a large graph needs; `dagre`
//! is a young port of a 27-step pipeline. What the report needs is about 300 lines.

/// The layered drawing of a graph of `n` nodes.
#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    /// Layer of every node, 0 at the top.
    pub rank: Vec<u32>,
    /// Horizontal centre of every node, in the same unit as the widths given.
    pub x: Vec<f64>,
    /// Number of layers.
    pub layers: u32,
    /// Horizontal extent: every centre lies in `[0, width]`.
    pub width: f64,
    /// One route per input edge, in input order.
    pub routes: Vec<Route>,
    /// Crossings between adjacent layers in the initial order.
    pub crossings_initial: u64,
    /// Crossings between adjacent layers in the final order (never more than initially).
    pub crossings: u64,
    /// Number of dummy nodes placed for edges spanning several layers.
    pub dummies: usize,
}

/// How one edge is drawn.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    /// `(x, layer)` of the edge's points from its source to its target, the dummy nodes in
    /// between.
    pub points: Vec<(f64, u32)>,
    /// The edge closed a cycle and is drawn against the flow (from its target's layer up).
    pub reversed: bool,
}

/// Tuning of [`layout`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Options {
    /// Barycenter sweeps (each one down and one up).
    pub sweeps: usize,
    /// Horizontal gap between neighbours in a layer.
    pub gap: f64,
    /// Width reserved for a dummy node.
    pub dummy_width: f64,
    /// Rounds of coordinate relaxation.
    pub relax: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            sweeps: 4,
            gap: 1.0,
            dummy_width: 0.5,
            relax: 4,
        }
    }
}

/// Breaks cycles and ranks the nodes: returns every node's layer (longest path from the
/// sources) and, per edge, whether it was reversed to break a cycle.
///
/// Edges with an endpoint `>= n` are ignored (and reported as not reversed); self-loops
/// are not drawn by [`layout`] either.
pub fn rank(n: usize, edges: &[(u32, u32)]) -> (Vec<u32>, Vec<bool>) {
    let valid = |&(a, b): &(u32, u32)| (a as usize) < n && (b as usize) < n && a != b;
    // Depth-first search from every node in index order: an edge to a node on the stack
    // closes a cycle and is reversed. Iterative, so deep chains do not overflow the stack.
    let mut out: Vec<Vec<(u32, usize)>> = vec![Vec::new(); n];
    for (i, e) in edges.iter().enumerate() {
        if valid(e) {
            out[e.0 as usize].push((e.1, i));
        }
    }
    let mut reversed = vec![false; edges.len()];
    // 0 unvisited, 1 on the stack, 2 done.
    let mut state = vec![0u8; n];
    let mut stack: Vec<(u32, usize)> = Vec::new();
    for s in 0..n {
        if state[s] != 0 {
            continue;
        }
        state[s] = 1;
        stack.push((s as u32, 0));
        while let Some(top) = stack.last_mut() {
            let v = top.0;
            if let Some(&(w, ei)) = out[v as usize].get(top.1) {
                top.1 += 1;
                match state[w as usize] {
                    0 => {
                        state[w as usize] = 1;
                        stack.push((w, 0));
                    }
                    1 => reversed[ei] = true,
                    _ => {}
                }
            } else {
                state[v as usize] = 2;
                stack.pop();
            }
        }
    }
    // Longest path from the sources over the acyclic orientation (Kahn's order, by index).
    let mut succ: Vec<Vec<u32>> = vec![Vec::new(); n];
    let mut indeg = vec![0u32; n];
    for (i, e) in edges.iter().enumerate() {
        if !valid(e) {
            continue;
        }
        let (a, b) = if reversed[i] { (e.1, e.0) } else { (e.0, e.1) };
        succ[a as usize].push(b);
        indeg[b as usize] += 1;
    }
    let mut rank = vec![0u32; n];
    let mut queue: std::collections::VecDeque<u32> =
        (0..n as u32).filter(|&v| indeg[v as usize] == 0).collect();
    while let Some(v) = queue.pop_front() {
        for &w in &succ[v as usize] {
            rank[w as usize] = rank[w as usize].max(rank[v as usize] + 1);
            indeg[w as usize] -= 1;
            if indeg[w as usize] == 0 {
                queue.push_back(w);
            }
        }
    }
    (rank, reversed)
}

/// Lays out `n` nodes of the given widths with the given edges `(from, to)`.
///
/// `ranks` fixes the layers (each drawn edge must go from a lower to a higher layer after
/// reversing the edges flagged in `reversed`); pass the result of [`rank`] for the usual
/// drawing.
pub fn layout_ranked(
    widths: &[f64],
    edges: &[(u32, u32)],
    ranks: &[u32],
    reversed: &[bool],
    opts: Options,
) -> Layout {
    let n = widths.len();
    let layers = ranks.iter().max().map_or(0, |m| m + 1);
    // The proper layered graph: real nodes 0..n, then the dummies of every long edge.
    let mut node_rank: Vec<u32> = ranks.to_vec();
    let mut node_width: Vec<f64> = widths.to_vec();
    let mut chains: Vec<Option<Vec<u32>>> = Vec::with_capacity(edges.len());
    for (i, &(a, b)) in edges.iter().enumerate() {
        if a as usize >= n || b as usize >= n || a == b {
            chains.push(None);
            continue;
        }
        let (top, bottom) = if reversed.get(i).copied().unwrap_or(false) {
            (b, a)
        } else {
            (a, b)
        };
        let (rt, rb) = (node_rank[top as usize], node_rank[bottom as usize]);
        if rb <= rt {
            // Ranks not consistent with the edge: not drawn rather than drawn upwards.
            chains.push(None);
            continue;
        }
        let mut chain = vec![top];
        for r in rt + 1..rb {
            let d = node_rank.len() as u32;
            node_rank.push(r);
            node_width.push(opts.dummy_width);
            chain.push(d);
        }
        chain.push(bottom);
        chains.push(Some(chain));
    }
    let total = node_rank.len();
    let mut pred: Vec<Vec<u32>> = vec![Vec::new(); total];
    let mut succ: Vec<Vec<u32>> = vec![Vec::new(); total];
    for chain in chains.iter().flatten() {
        for w in chain.windows(2) {
            succ[w[0] as usize].push(w[1]);
            pred[w[1] as usize].push(w[0]);
        }
    }
    // Initial order: by node number within each layer (real nodes first, by index).
    let mut order: Vec<Vec<u32>> = vec![Vec::new(); layers as usize];
    for v in 0..total {
        order[node_rank[v] as usize].push(v as u32);
    }
    let mut pos = vec![0u32; total];
    set_positions(&order, &mut pos);
    let crossings_initial = count_crossings(&order, &succ, &pos);
    let mut best = order.clone();
    let mut best_crossings = crossings_initial;
    for _ in 0..opts.sweeps {
        if best_crossings == 0 {
            break;
        }
        for down in [true, false] {
            let ls: Vec<usize> = if down {
                (1..layers as usize).collect()
            } else {
                (0..(layers as usize).saturating_sub(1)).rev().collect()
            };
            for l in ls {
                let adj = if down { &pred } else { &succ };
                reorder(&mut order[l], adj, &mut pos);
            }
            let c = count_crossings(&order, &succ, &pos);
            if c < best_crossings {
                best_crossings = c;
                best = order.clone();
            }
        }
    }
    let order = best;
    set_positions(&order, &mut pos);
    let x = assign_x(&order, &pred, &succ, &node_width, opts);
    let routes = chains
        .iter()
        .enumerate()
        .map(|(i, chain)| match chain {
            None => Route {
                points: Vec::new(),
                reversed: false,
            },
            Some(c) => {
                let rev = reversed.get(i).copied().unwrap_or(false);
                let mut points: Vec<(f64, u32)> = c
                    .iter()
                    .map(|&v| (x[v as usize], node_rank[v as usize]))
                    .collect();
                if rev {
                    points.reverse();
                }
                Route {
                    points,
                    reversed: rev,
                }
            }
        })
        .collect();
    let width = x.iter().copied().fold(0.0, f64::max);
    Layout {
        rank: ranks.to_vec(),
        x: x[..n].to_vec(),
        layers,
        width,
        routes,
        crossings_initial,
        crossings: best_crossings,
        dummies: total - n,
    }
}

/// [`rank`] then [`layout_ranked`].
pub fn layout(widths: &[f64], edges: &[(u32, u32)], opts: Options) -> Layout {
    let (ranks, reversed) = rank(widths.len(), edges);
    layout_ranked(widths, edges, &ranks, &reversed, opts)
}

fn set_positions(order: &[Vec<u32>], pos: &mut [u32]) {
    for layer in order {
        for (i, &v) in layer.iter().enumerate() {
            pos[v as usize] = i as u32;
        }
    }
}

/// Sorts one layer by the barycenter of each node's neighbours in the adjacent layer; a
/// node without such neighbours keeps its place. Stable, so ties keep the current order.
fn reorder(layer: &mut [u32], adj: &[Vec<u32>], pos: &mut [u32]) {
    let mut keyed: Vec<(f64, u32)> = layer
        .iter()
        .map(|&v| {
            let ns = &adj[v as usize];
            let key = if ns.is_empty() {
                f64::from(pos[v as usize])
            } else {
                ns.iter().map(|&u| f64::from(pos[u as usize])).sum::<f64>() / ns.len() as f64
            };
            (key, v)
        })
        .collect();
    keyed.sort_by(|a, b| a.0.total_cmp(&b.0));
    for (i, (_, v)) in keyed.into_iter().enumerate() {
        layer[i] = v;
        pos[v as usize] = i as u32;
    }
}

/// Edge crossings between every pair of adjacent layers: for each pair, the inversions of
/// the targets' positions when the edges are sorted by source then target (a Fenwick tree).
pub(crate) fn count_crossings(order: &[Vec<u32>], succ: &[Vec<u32>], pos: &[u32]) -> u64 {
    let mut total = 0u64;
    let mut pairs: Vec<(u32, u32)> = Vec::new();
    for l in 0..order.len().saturating_sub(1) {
        pairs.clear();
        for &v in &order[l] {
            for &w in &succ[v as usize] {
                pairs.push((pos[v as usize], pos[w as usize]));
            }
        }
        pairs.sort_unstable();
        let size = order[l + 1].len();
        let mut tree = vec![0u64; size + 1];
        for (seen, &(_, t)) in pairs.iter().enumerate() {
            // Edges already inserted whose target lies strictly right of t cross this one.
            let mut i = t as usize + 1;
            let mut le = 0u64;
            while i > 0 {
                le += tree[i];
                i &= i - 1;
            }
            total += seen as u64 - le;
            let mut i = t as usize + 1;
            while i <= size {
                tree[i] += 1;
                i += i & i.wrapping_neg();
            }
        }
    }
    total
}

/// Horizontal coordinates: start packed left, then alternately pull every layer towards
/// the mean position of its neighbours above and below, keeping the order and the minimum
/// separation (an isotonic regression per layer, pool-adjacent-violators).
fn assign_x(
    order: &[Vec<u32>],
    pred: &[Vec<u32>],
    succ: &[Vec<u32>],
    width: &[f64],
    opts: Options,
) -> Vec<f64> {
    let mut x = vec![0.0f64; width.len()];
    for layer in order {
        let mut at = 0.0;
        for (i, &v) in layer.iter().enumerate() {
            if i > 0 {
                at += sep(width, layer[i - 1], v, opts.gap);
            }
            x[v as usize] = at;
        }
    }
    for _ in 0..opts.relax {
        for down in [true, false] {
            let adj = if down { pred } else { succ };
            let ls: Vec<usize> = if down {
                (0..order.len()).collect()
            } else {
                (0..order.len()).rev().collect()
            };
            for l in ls {
                let layer = &order[l];
                let desired: Vec<f64> = layer
                    .iter()
                    .map(|&v| {
                        let ns = &adj[v as usize];
                        if ns.is_empty() {
                            x[v as usize]
                        } else {
                            ns.iter().map(|&u| x[u as usize]).sum::<f64>() / ns.len() as f64
                        }
                    })
                    .collect();
                let placed = place_layer(layer, &desired, width, opts.gap);
                for (&v, p) in layer.iter().zip(placed) {
                    x[v as usize] = p;
                }
            }
        }
    }
    let min = x.iter().copied().fold(f64::INFINITY, f64::min);
    if min.is_finite() {
        for v in &mut x {
            *v -= min;
        }
    }
    x
}

fn sep(width: &[f64], a: u32, b: u32, gap: f64) -> f64 {
    (width[a as usize] + width[b as usize]) / 2.0 + gap
}

/// The positions closest (least squares) to `desired` that keep the layer's order with the
/// minimum separations.
fn place_layer(layer: &[u32], desired: &[f64], width: &[f64], gap: f64) -> Vec<f64> {
    // With offsets o_i (cumulative separations), y_i = x_i - o_i must be non-decreasing:
    // isotonic regression of desired_i - o_i.
    let mut offset = Vec::with_capacity(layer.len());
    let mut o = 0.0;
    for (i, &v) in layer.iter().enumerate() {
        if i > 0 {
            o += sep(width, layer[i - 1], v, gap);
        }
        offset.push(o);
    }
    // Blocks of (sum, count).
    let mut blocks: Vec<(f64, usize)> = Vec::with_capacity(layer.len());
    for (d, o) in desired.iter().zip(&offset) {
        blocks.push((d - o, 1));
        while blocks.len() > 1 {
            let (s2, c2) = blocks[blocks.len() - 1];
            let (s1, c1) = blocks[blocks.len() - 2];
            if s1 / c1 as f64 > s2 / c2 as f64 {
                blocks.pop();
                let last = blocks.len() - 1;
                blocks[last] = (s1 + s2, c1 + c2);
            } else {
                break;
            }
        }
    }
    let mut out = Vec::with_capacity(layer.len());
    for (s, c) in blocks {
        let y = s / c as f64;
        for _ in 0..c {
            let i = out.len();
            out.push(y + offset[i]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(n: usize) -> Vec<f64> {
        vec![1.0; n]
    }

    /// A deterministic pseudo-random DAG (edges from lower to higher index).
    fn dag(n: u32, per: u32, seed: u64) -> Vec<(u32, u32)> {
        let mut s = seed;
        let mut next = || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        let mut e = Vec::new();
        for a in 0..n {
            for _ in 0..per {
                let span = (next() % 12 + 1) as u32;
                if a + span < n {
                    e.push((a, a + span));
                }
            }
        }
        e.sort_unstable();
        e.dedup();
        e
    }

    #[test]
    fn no_edge_points_upward() {
        for seed in 1..20 {
            let edges = dag(120, 3, seed);
            let l = layout(&unit(120), &edges, Options::default());
            for (i, &(a, b)) in edges.iter().enumerate() {
                assert!(l.rank[a as usize] < l.rank[b as usize], "edge {i}");
                let r = &l.routes[i];
                assert!(!r.reversed);
                assert_eq!(r.points.first().unwrap().1, l.rank[a as usize]);
                assert_eq!(r.points.last().unwrap().1, l.rank[b as usize]);
                for w in r.points.windows(2) {
                    assert_eq!(w[1].1, w[0].1 + 1, "a route steps down one layer at a time");
                }
            }
        }
    }

    #[test]
    fn crossings_never_worse_than_the_initial_order() {
        for seed in 1..40 {
            let edges = dag(80, 2, seed);
            let l = layout(&unit(80), &edges, Options::default());
            assert!(l.crossings <= l.crossings_initial, "seed {seed}");
        }
        // And the sweeps do help on graphs with crossings.
        let edges = dag(200, 3, 7);
        let l = layout(&unit(200), &edges, Options::default());
        assert!(l.crossings < l.crossings_initial, "{l:?}");
    }

    #[test]
    fn crossing_count_of_a_known_bipartite_drawing() {
        // Layer 0: 0 1 2; layer 1: 3 4 5; edges 0-5, 1-4, 2-3 cross pairwise: 3 crossings.
        let order = vec![vec![0, 1, 2], vec![3, 4, 5]];
        let mut succ = vec![Vec::new(); 6];
        succ[0].push(5);
        succ[1].push(4);
        succ[2].push(3);
        let pos = [0, 1, 2, 0, 1, 2];
        assert_eq!(count_crossings(&order, &succ, &pos), 3);
        // The layout untangles it completely.
        let l = layout(&unit(6), &[(0, 5), (1, 4), (2, 3)], Options::default());
        assert_eq!(l.crossings_initial, 3);
        assert_eq!(l.crossings, 0);
    }

    #[test]
    fn long_edges_get_dummy_nodes() {
        // 0→1→2→3 and 0→3: the long edge spans three layers, two dummies.
        let l = layout(
            &unit(4),
            &[(0, 1), (1, 2), (2, 3), (0, 3)],
            Options::default(),
        );
        assert_eq!(l.rank, vec![0, 1, 2, 3]);
        assert_eq!(l.dummies, 2);
        assert_eq!(l.routes[3].points.len(), 4);
    }

    #[test]
    fn nodes_of_a_layer_keep_their_separation() {
        let edges = dag(150, 3, 3);
        let widths: Vec<f64> = (0..150).map(|i| 1.0 + f64::from(i % 5)).collect();
        let opts = Options::default();
        let l = layout(&widths, &edges, opts);
        let mut by_layer: Vec<Vec<usize>> = vec![Vec::new(); l.layers as usize];
        for v in 0..150 {
            by_layer[l.rank[v] as usize].push(v);
        }
        for layer in by_layer {
            let mut vs = layer;
            vs.sort_by(|&a, &b| l.x[a].total_cmp(&l.x[b]));
            for w in vs.windows(2) {
                let need = (widths[w[0]] + widths[w[1]]) / 2.0 + opts.gap;
                assert!(l.x[w[1]] - l.x[w[0]] >= need - 1e-9);
            }
        }
        assert!(l.x.iter().all(|&x| x >= 0.0 && x <= l.width));
    }

    #[test]
    fn layout_is_deterministic() {
        let edges = dag(300, 3, 11);
        let a = layout(&unit(300), &edges, Options::default());
        let b = layout(&unit(300), &edges, Options::default());
        assert_eq!(a, b);
    }

    #[test]
    fn cycles_are_broken_and_still_drawn_downwards() {
        let edges = [(0, 1), (1, 2), (2, 0), (2, 3)];
        let l = layout(&unit(4), &edges, Options::default());
        assert_eq!(l.routes.iter().filter(|r| r.reversed).count(), 1);
        for (i, &(a, b)) in edges.iter().enumerate() {
            let (t, d) = if l.routes[i].reversed { (b, a) } else { (a, b) };
            assert!(l.rank[t as usize] < l.rank[d as usize]);
        }
    }

    #[test]
    fn isotonic_placement_is_optimal_on_a_squeezed_layer() {
        // Three nodes all wanting position 0 spread symmetrically around it.
        let p = place_layer(&[0, 1, 2], &[0.0, 0.0, 0.0], &[1.0, 1.0, 1.0], 1.0);
        assert_eq!(p, vec![-2.0, 0.0, 2.0]);
        // Nodes that do not conflict stay where they want to be.
        let p = place_layer(&[0, 1], &[0.0, 10.0], &[1.0, 1.0], 1.0);
        assert_eq!(p, vec![0.0, 10.0]);
    }
}
