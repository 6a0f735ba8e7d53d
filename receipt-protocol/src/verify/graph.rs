//! Each entry's graph (docs/SPEC.md §4, §7): the file's digest, its canonical form and
//! counts, then τ and the rank report recomputed from it, cheapest first. A graph that
//! fails a cheap binding is not recomputed, identical graphs are ranked once, and rank
//! recomputation stops at the cost limits of [`crate::limits`].

use std::collections::BTreeMap;
use std::path::Path;

use receipt_graph::{CanonicalGraph, RankLimits, rank_within};
use receipt_primitives::check::echo;
use receipt_primitives::confine::check_path;
use receipt_primitives::{Digest, jcs};
use serde_json::Value;

use super::tally::Tally;
use super::{CheckId, Entry, Report, Verdict, join, read, unreadable};
use crate::assemble::tau_section;
use crate::limits;
use crate::receipt::Section;

/// A graph that passed its digest and form checks.
struct Checked<'e> {
    entry: &'e Entry,
    graph: CanonicalGraph,
    digest: Digest,
}

/// Every graph check, in report order.
pub(super) fn check(root: &Path, report: &mut Report, entries: &[Entry]) {
    let files = digests(root, report, entries);
    let graphs = forms(report, files);
    fingerprints(report, &graphs);
}

/// `graph.digest`: every available graph section names a valid path whose file hashes to
/// its digest. Returns the bytes of the files that do.
fn digests<'e>(
    root: &Path,
    report: &mut Report,
    entries: &'e [Entry],
) -> Vec<(&'e Entry, Vec<u8>)> {
    let mut t = Tally::new(CheckId::GraphDigest);
    let mut ok = Vec::new();
    for e in entries {
        let Some(r) = &e.receipt else { continue };
        let Section::Available(g) = &r.graph else {
            continue;
        };
        if let Err(why) = check_path(&g.path) {
            t.fail(
                Verdict::Fail,
                &e.line.path,
                format!(
                    "{}: field graph.path {:?} {why}",
                    e.line.path,
                    echo(&g.path)
                ),
            );
            continue;
        }
        let path = join(&e.dir, &g.path);
        match read(root, &path, limits::GRAPH_BYTES, "a graph") {
            Ok(b) if Digest::of(&b) == g.digest => {
                t.pass();
                ok.push((e, b));
            }
            Ok(b) => t.fail(
                Verdict::Fail,
                &path,
                format!(
                    "{path} has SHA-256 {}, but {} records graph digest {}",
                    Digest::of(&b),
                    e.line.path,
                    g.digest
                ),
            ),
            Err(err) => {
                let (verdict, why) = unreadable(&err);
                t.fail(verdict, &path, why);
            }
        }
    }
    t.finish(
        report,
        "every graph file hashes to its receipt's graph digest",
    );
    ok
}

/// `graph.form`: each graph file that matched its digest parses as a canonical graph with
/// the recorded node and edge counts.
fn forms<'e>(report: &mut Report, files: Vec<(&'e Entry, Vec<u8>)>) -> Vec<Checked<'e>> {
    let mut t = Tally::new(CheckId::GraphForm);
    let mut graphs = Vec::new();
    for (e, bytes) in files {
        let Some(Section::Available(g)) = e.receipt.as_ref().map(|r| &r.graph) else {
            continue;
        };
        let path = join(&e.dir, &g.path);
        match CanonicalGraph::from_json_bytes(&bytes) {
            Ok(cg) if cg.node_count() as u64 == g.nodes && cg.edge_count() as u64 == g.edges => {
                t.pass();
                graphs.push(Checked {
                    entry: e,
                    graph: cg,
                    digest: g.digest,
                });
            }
            Ok(cg) => t.fail(
                Verdict::Fail,
                &path,
                format!(
                    "{path} has {} nodes and {} edges, but {} records {} and {}",
                    cg.node_count(),
                    cg.edge_count(),
                    e.line.path,
                    g.nodes,
                    g.edges
                ),
            ),
            Err(err) => t.fail(Verdict::Fail, &path, format!("{path}: {err}")),
        }
    }
    t.finish(
        report,
        "every graph file is a canonical graph with the recorded node and edge counts",
    );
    graphs
}

/// `graph.tau` and `graph.rank`: recomputed from each graph (τ seeded by the manifest) and
/// compared with the receipt. τ is linear in the graph and always recomputed; rank only
/// when τ held, within the per-graph and total limits, once per distinct graph.
fn fingerprints(report: &mut Report, graphs: &[Checked<'_>]) {
    let mut tau_t = Tally::new(CheckId::GraphTau);
    let mut rank_t = Tally::new(CheckId::GraphRank);
    let mut ranked: BTreeMap<Digest, Result<Value, String>> = BTreeMap::new();
    let mut total_left = limits::RANK_TOTAL_WORK;
    for c in graphs {
        let e = c.entry;
        let Some(r) = &e.receipt else { continue };
        let Some((_, m)) = &e.manifest else {
            for t in [&mut tau_t, &mut rank_t] {
                t.fail(
                    Verdict::Unknown,
                    &e.line.path,
                    format!(
                        "the fingerprints of {} cannot be recomputed without its manifest, which seeds τ",
                        e.line.path
                    ),
                );
            }
            continue;
        };
        let tau_held = compare(
            &mut tau_t,
            &r.tau,
            tau_section(&c.graph, m),
            &e.line.path,
            "τ",
        );
        if !tau_held {
            rank_t.fail(
                Verdict::Unknown,
                &e.line.path,
                format!(
                    "the rank report of {} was not recomputed, because τ already disagrees",
                    e.line.path
                ),
            );
            continue;
        }
        let recomputed = ranked.entry(c.digest).or_insert_with(|| {
            let limits = RankLimits {
                work: limits::RANK_PER_GRAPH.work.min(total_left),
                ..limits::RANK_PER_GRAPH
            };
            match rank_within(&c.graph, limits) {
                Ok((report, spent)) => {
                    total_left -= spent;
                    serde_json::to_value(report).map_err(|e| e.to_string())
                }
                Err(stop) => {
                    total_left -= limits.work.min(total_left);
                    Err(stop.to_string())
                }
            }
        });
        match recomputed {
            Ok(v) => {
                compare(
                    &mut rank_t,
                    &r.rank,
                    Section::Available(v.clone()),
                    &e.line.path,
                    "the rank report",
                );
            }
            Err(why) => rank_t.fail(
                Verdict::Unknown,
                &e.line.path,
                format!(
                    "the rank report of {} was not recomputed: {why} (docs/SPEC.md §7.1)",
                    e.line.path
                ),
            ),
        }
    }
    tau_t.finish(
        report,
        "τ recomputed from every graph file equals the receipt's",
    );
    rank_t.finish(
        report,
        "the rank report recomputed from every graph file equals the receipt's",
    );
}

/// Compares a recorded section with its recomputation; whether it held.
fn compare(
    t: &mut Tally,
    recorded: &Section<Value>,
    recomputed: Section<Value>,
    file: &str,
    what: &str,
) -> bool {
    match (recorded, recomputed) {
        // Compared as canonical bytes: JSON has one number type, so `1` read back from a
        // receipt is the double 1.0 the recomputation gives.
        (Section::Available(v), Section::Available(w))
            if jcs::to_vec(v).ok() == jcs::to_vec(&w).ok() =>
        {
            t.pass();
            true
        }
        (Section::Available(_), Section::Available(_)) => {
            t.fail(
                Verdict::Fail,
                file,
                format!("{what} recomputed from the graph differs from the one recorded in {file}"),
            );
            false
        }
        (Section::Available(_), Section::Unavailable { .. }) => {
            t.fail(
                Verdict::Unknown,
                file,
                format!("{what} of {file} could not be recomputed"),
            );
            false
        }
        (Section::Unavailable { .. }, _) => {
            t.fail(
                Verdict::Fail,
                file,
                format!("{file} has a graph but records no {what}; a graph's fingerprint is always computable"),
            );
            false
        }
    }
}
