//! The dependency graph as an SVG: the layered layout of [`crate::layout`], members
//! highlighted, names on hover, and large graphs folded so the page stays small.
//!
//! Up to [`LABEL_NODES`] nodes every node is a labelled box; up to [`MAX_SHOWN`] nodes
//! every node is a small box named by its hover title. A larger graph shows the
//! [`MAX_SHOWN`] nodes nearest the top (by layer, then by key) and, below them, at most
//! [`MAX_FOLDS`] fold boxes "+N more nodes in layers a–b", each standing for the hidden
//! nodes of a run of consecutive layers and receiving their edges.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use receipt_graph::CanonicalGraph;

use crate::html::{count, cut, esc, esc_into};
use crate::layout::{self, Options};

/// Graphs up to this many nodes are drawn with labels.
pub const LABEL_NODES: usize = 250;
/// At most this many graph nodes are drawn; the rest are folded per layer.
pub const MAX_SHOWN: usize = 2_000;
/// At most this many fold boxes; each stands for the hidden nodes of a run of layers.
pub const MAX_FOLDS: usize = 8;
/// At most this many dummy nodes (bends of long edges); beyond, fewer nodes are shown.
pub const MAX_DUMMIES: usize = 200_000;

/// What a node is, for its colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    /// A workspace member or a module of the root package.
    Member,
    /// An ordinary node.
    Plain,
    /// A node outside the project (a Lean module without source).
    External,
}

/// The drawn graph.
#[derive(Debug, Clone, PartialEq)]
pub struct GraphView {
    /// The `<svg>` element.
    pub svg: String,
    /// Nodes in the graph.
    pub nodes: usize,
    /// Edges in the graph.
    pub edges: usize,
    /// Graph nodes drawn as their own box.
    pub shown: usize,
    /// Fold boxes drawn for the hidden nodes.
    pub folds: usize,
    /// Layers.
    pub layers: u32,
    /// Edge crossings of the drawing (adjacent layers, dummies included).
    pub crossings: u64,
}

/// One box of the drawing.
struct Item {
    /// Graph node index, or `None` for a fold box.
    node: Option<u32>,
    label: String,
    title: String,
    class: &'static str,
}

/// Which nodes stay visible: the first `cap` in (layer, index) order.
fn visible(ranks: &[u32], cap: usize) -> Vec<bool> {
    let mut order: Vec<u32> = (0..ranks.len() as u32).collect();
    order.sort_by_key(|&v| (ranks[v as usize], v));
    let mut keep = vec![false; ranks.len()];
    for &v in order.iter().take(cap) {
        keep[v as usize] = true;
    }
    keep
}

/// The folded graph: items, edges between items, their ranks and reversal flags.
struct Folded {
    items: Vec<Item>,
    edges: Vec<(u32, u32)>,
    ranks: Vec<u32>,
    reversed: Vec<bool>,
    /// Graph edge index of each drawn edge, or `None` for an edge into a fold box.
    origin: Vec<Option<usize>>,
}

fn fold(g: &CanonicalGraph, kind: &dyn Fn(u32) -> NodeKind, cap: usize) -> (Folded, usize) {
    let n = g.node_count();
    let edges = g.edge_indices();
    let (ranks, reversed) = layout::rank(n, edges);
    let keep = visible(&ranks, cap);
    let mut item_of = vec![u32::MAX; n];
    let mut items = Vec::new();
    let mut item_rank = Vec::new();
    for v in 0..n {
        if keep[v] {
            item_of[v] = items.len() as u32;
            let key = &g.nodes()[v];
            let k = kind(v as u32);
            items.push(Item {
                node: Some(v as u32),
                label: key.clone(),
                title: key.clone(),
                class: match k {
                    NodeKind::Member => "n m",
                    NodeKind::Plain => "n",
                    NodeKind::External => "n x",
                },
            });
            item_rank.push(ranks[v]);
        }
    }
    // The hidden nodes' layers, cut into at most MAX_FOLDS runs of consecutive layers; one
    // fold box per run, drawn below every shown node, the runs in layer order.
    let hidden_layers: BTreeSet<u32> = (0..n).filter(|&v| !keep[v]).map(|v| ranks[v]).collect();
    let (first, last) = match (hidden_layers.first(), hidden_layers.last()) {
        (Some(&f), Some(&l)) => (f, l),
        _ => (0, 0),
    };
    let per_run = (last - first) / MAX_FOLDS as u32 + 1;
    let run_of = |layer: u32| ((layer - first) / per_run) as usize;
    let below = item_rank.iter().copied().max().map_or(0, |m| m + 1);
    let mut hidden_per_run: std::collections::BTreeMap<usize, usize> = Default::default();
    for v in 0..n {
        if !keep[v] {
            *hidden_per_run.entry(run_of(ranks[v])).or_default() += 1;
        }
    }
    let mut fold_of_run = std::collections::BTreeMap::new();
    for (k, (&run, &hidden)) in hidden_per_run.iter().enumerate() {
        fold_of_run.insert(run, items.len() as u32);
        let lo = first + run as u32 * per_run;
        let hi = (lo + per_run - 1).min(last);
        let layers = if lo == hi {
            format!("layer {}", lo + 1)
        } else {
            format!("layers {}–{}", lo + 1, hi + 1)
        };
        let text = format!(
            "+{} more node{} in {layers}",
            count(hidden as u64),
            if hidden == 1 { "" } else { "s" },
        );
        items.push(Item {
            node: None,
            label: text.clone(),
            title: text,
            class: "n f",
        });
        item_rank.push(below + k as u32);
    }
    for v in 0..n {
        if !keep[v] {
            item_of[v] = fold_of_run[&run_of(ranks[v])];
        }
    }
    let mut out_edges = Vec::new();
    let mut out_rev = Vec::new();
    let mut origin = Vec::new();
    let mut seen = BTreeSet::new();
    for (i, &(a, b)) in edges.iter().enumerate() {
        let (ia, ib) = (item_of[a as usize], item_of[b as usize]);
        if keep[a as usize] && keep[b as usize] {
            out_edges.push((ia, ib));
            out_rev.push(reversed[i]);
            origin.push(Some(i));
            continue;
        }
        // Into (or between) fold boxes: drawn top to bottom, once per pair of boxes.
        let (top, bottom) = if reversed[i] { (ib, ia) } else { (ia, ib) };
        if top != bottom
            && item_rank[top as usize] < item_rank[bottom as usize]
            && seen.insert((top, bottom))
        {
            out_edges.push((top, bottom));
            out_rev.push(false);
            origin.push(None);
        }
    }
    let dummies = out_edges
        .iter()
        .zip(&out_rev)
        .map(|(&(a, b), &r)| {
            let (t, d) = if r { (b, a) } else { (a, b) };
            (item_rank[d as usize].saturating_sub(item_rank[t as usize]) as usize).saturating_sub(1)
        })
        .sum();
    (
        Folded {
            items,
            edges: out_edges,
            ranks: item_rank,
            reversed: out_rev,
            origin,
        },
        dummies,
    )
}

/// Draws `g`; `kind` says how each node index is highlighted.
pub fn render(g: &CanonicalGraph, kind: &dyn Fn(u32) -> NodeKind) -> GraphView {
    let n = g.node_count();
    let mut cap = MAX_SHOWN;
    let (folded, _) = loop {
        let (f, dummies) = fold(g, kind, cap);
        if dummies <= MAX_DUMMIES || cap <= 64 {
            break (f, dummies);
        }
        cap /= 2;
    };
    let shown = folded.items.iter().filter(|i| i.node.is_some()).count();
    let folds = folded.items.len() - shown;
    let labelled = folded.items.len() <= LABEL_NODES;
    // Geometry in pixels.
    let (box_h, layer_gap, char_w, pad) = if labelled {
        (20.0, 64.0, 6.7, 10.0)
    } else {
        (10.0, 40.0, 0.0, 0.0)
    };
    let widths: Vec<f64> = folded
        .items
        .iter()
        .map(|it| {
            if labelled {
                cut(&it.label, 48).chars().count() as f64 * char_w + 2.0 * pad
            } else if it.node.is_none() {
                // Fold boxes carry their label even in the compact drawing.
                it.label.chars().count() as f64 * 6.7 + 20.0
            } else {
                10.0
            }
        })
        .collect();
    let opts = Options {
        gap: if labelled { 14.0 } else { 4.0 },
        dummy_width: if labelled { 6.0 } else { 2.0 },
        ..Options::default()
    };
    let l = layout::layout_ranked(
        &widths,
        &folded.edges,
        &folded.ranks,
        &folded.reversed,
        opts,
    );
    let margin = 12.0;
    let max_half = widths.iter().copied().fold(0.0, f64::max) / 2.0;
    let ox = margin + max_half;
    let width = l.width + 2.0 * ox;
    let height = f64::from(l.layers.max(1)) * layer_gap + 2.0 * margin;
    let y_of = |layer: u32| margin + f64::from(layer) * layer_gap;
    let mut s = String::with_capacity(folded.items.len() * 120 + folded.edges.len() * 60);
    let _ = writeln!(
        s,
        "<svg class=\"graph\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" viewBox=\"0 0 {width:.0} {height:.0}\" data-nodes=\"{n}\" data-edges=\"{}\" data-shown=\"{shown}\" data-folds=\"{folds}\">",
        g.edge_count()
    );
    if labelled {
        s.push_str("<defs><marker id=\"ah\" viewBox=\"0 0 8 8\" refX=\"8\" refY=\"4\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto\"><path class=\"arrow\" d=\"M0 0L8 4L0 8z\"/></marker></defs>\n");
    }
    // Edges first, so boxes are drawn over them.
    s.push_str("<g class=\"edges\">\n");
    for (i, route) in l.routes.iter().enumerate() {
        if route.points.len() < 2 {
            continue;
        }
        let (a, b) = folded.edges[i];
        let last = route.points.len() - 1;
        s.push_str("<path d=\"");
        for (k, &(x, layer)) in route.points.iter().enumerate() {
            // Leave the source box at its bottom, enter the target box at its top; for a
            // reversed edge the route runs bottom-up.
            let dy = if route.reversed {
                -box_h / 2.0
            } else {
                box_h / 2.0
            };
            let y = y_of(layer)
                + box_h / 2.0
                + if k == 0 {
                    dy
                } else if k == last {
                    -dy
                } else {
                    0.0
                };
            let _ = write!(
                s,
                "{}{:.1} {:.1}",
                if k == 0 { 'M' } else { 'L' },
                x + ox,
                y
            );
        }
        let _ = write!(s, "\" data-a=\"{a}\" data-b=\"{b}\"");
        if route.reversed {
            s.push_str(" class=\"r\"");
        }
        if labelled {
            s.push_str(" marker-end=\"url(#ah)\"");
        }
        if folded.origin[i].is_none() {
            s.push_str(" data-fold=\"1\"");
        }
        s.push_str("/>\n");
    }
    s.push_str("</g>\n<g class=\"nodes\">\n");
    for (i, it) in folded.items.iter().enumerate() {
        let w = widths[i];
        let cx = l.x[i] + ox;
        let y = y_of(folded.ranks[i]);
        let _ = write!(s, "<g class=\"{}\" data-i=\"{i}\"><title>", it.class);
        esc_into(&mut s, &cut(&it.title, 300));
        let _ = write!(
            s,
            "</title><rect x=\"{:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{box_h:.0}\" rx=\"3\"/>",
            cx - w / 2.0
        );
        if labelled || it.node.is_none() {
            let _ = write!(
                s,
                "<text x=\"{cx:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                y + box_h / 2.0 + 4.0,
                esc(&cut(&it.label, 48))
            );
        }
        s.push_str("</g>\n");
    }
    s.push_str("</g>\n</svg>\n");
    GraphView {
        svg: s,
        nodes: n,
        edges: g.edge_count(),
        shown,
        folds,
        layers: l.layers,
        crossings: l.crossings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain_graph(n: usize, fan: usize) -> CanonicalGraph {
        let keys: Vec<String> = (0..n)
            .map(|i| format!("crate{i:05}@1.0.{}", i % 7))
            .collect();
        let mut edges = Vec::new();
        for i in 0..n {
            for k in 1..=fan {
                let j = i + k * k + 1;
                if j < n {
                    edges.push((keys[i].clone(), keys[j].clone()));
                }
            }
        }
        CanonicalGraph::new(keys.clone(), edges).unwrap()
    }

    fn boxes(svg: &str) -> usize {
        svg.matches(" data-i=").count()
    }

    #[test]
    fn every_node_is_drawn_up_to_the_cap() {
        let g = chain_graph(1_200, 3);
        let v = render(&g, &|_| NodeKind::Plain);
        assert_eq!(v.shown, 1_200);
        assert_eq!(v.folds, 0);
        assert_eq!(boxes(&v.svg), 1_200);
        assert_eq!(v.svg.matches("<path d=").count(), g.edge_count());
    }

    #[test]
    fn large_graphs_fold_the_deeper_nodes_into_counted_boxes() {
        let g = chain_graph(5_000, 3);
        let v = render(&g, &|_| NodeKind::Plain);
        assert_eq!(v.nodes, 5_000);
        assert!(v.shown <= MAX_SHOWN);
        assert!(v.folds > 0 && v.folds <= MAX_FOLDS);
        assert_eq!(boxes(&v.svg), v.shown + v.folds);
        // The fold boxes account for every hidden node.
        let hidden: usize = v
            .svg
            .match_indices("<title>+")
            .map(|(i, _)| {
                let rest = &v.svg[i + 8..];
                rest[..rest.find(' ').unwrap()]
                    .replace('\u{2009}', "")
                    .parse::<usize>()
                    .unwrap()
            })
            .sum();
        assert_eq!(v.shown + hidden, 5_000);
        assert!(v.svg.len() < 2_000_000, "{}", v.svg.len());
    }

    #[test]
    fn members_are_highlighted_and_names_escaped() {
        let g = CanonicalGraph::new(
            Vec::<&str>::new(),
            [
                ("app@0.1.0", "<b>evil</b>@1.0.0"),
                ("app@0.1.0", "util@0.2.0"),
            ],
        )
        .unwrap();
        let app = g.nodes().iter().position(|k| k == "app@0.1.0").unwrap() as u32;
        let v = render(&g, &|i| {
            if i == app {
                NodeKind::Member
            } else {
                NodeKind::Plain
            }
        });
        assert_eq!(v.svg.matches("class=\"n m\"").count(), 1);
        assert!(v.svg.contains("&lt;b&gt;evil&lt;/b&gt;@1.0.0"));
        assert!(!v.svg.contains("<b>"));
    }

    #[test]
    fn drawing_is_deterministic() {
        let g = chain_graph(600, 4);
        assert_eq!(
            render(&g, &|_| NodeKind::Plain),
            render(&g, &|_| NodeKind::Plain)
        );
    }
}
