//! Each entry's graph (docs/SPEC.md §4, §7): the file's digest, its canonical form and
//! counts, then τ and the rank report recomputed from it, cheapest first. A graph that
//! fails a cheap binding is not recomputed, identical graphs are ranked once, and rank
//! recomputation stops at the cost limits of [`crate::limits`].

use std::collections::{BTreeMap, BTreeSet};

use rayon::prelude::*;
use receipt_graph::{CanonicalGraph, RankLimits, rank_within};
use receipt_primitives::check::echo;
use receipt_primitives::confine::check_path;
use receipt_primitives::{Digest, jcs};
use serde_json::Value;

use super::tally::Tally;
use super::{CheckId, Entry, EntryDir, Report, Verdict, join, unreadable};
use crate::assemble::tau_section;
use crate::limits;
use crate::receipt::{GraphSummary, Section};

/// A graph that passed its digest and form checks.
struct Checked<'e> {
    entry: &'e Entry,
    graph: CanonicalGraph,
    digest: Digest,
}

/// A failed instance of a check: its verdict, the file it is about, and the sentence.
pub(super) type Failure = (Verdict, String, String);

/// Every graph check, in report order; `files` holds each entry's `graph.digest` outcome
/// (from [`digest`]). The per-entry work (reading, hashing, parsing, τ) runs in parallel;
/// every outcome is reported in chain order.
pub(super) fn check(
    report: &mut Report,
    entries: &[Entry],
    files: Vec<Option<Result<Vec<u8>, Failure>>>,
) {
    let files = digests(report, entries, files);
    let graphs = forms(report, files);
    fingerprints(report, &graphs);
}

/// `graph.digest`: every available graph section names a valid path whose file hashes to
/// its digest. Returns the bytes of the files that do.
fn digests<'e>(
    report: &mut Report,
    entries: &'e [Entry],
    outcomes: Vec<Option<Result<Vec<u8>, Failure>>>,
) -> Vec<(&'e Entry, Vec<u8>)> {
    let mut t = Tally::new(CheckId::GraphDigest);
    let mut ok = Vec::new();
    for (e, o) in entries.iter().zip(outcomes) {
        match o {
            None => {}
            Some(Ok(b)) => {
                t.pass();
                ok.push((e, b));
            }
            Some(Err((verdict, file, why))) => t.fail(verdict, &file, why),
        }
    }
    t.finish(
        report,
        "every graph file hashes to its receipt's graph digest",
    );
    ok
}

/// One entry's `graph.digest`, read from its directory: the graph file's bytes when they
/// hash to the digest; `None` when the receipt has no graph section to check.
pub(super) fn digest(at: &EntryDir<'_>, e: &Entry) -> Option<Result<Vec<u8>, Failure>> {
    let r = e.receipt.as_ref()?;
    let Section::Available(g) = &r.graph else {
        return None;
    };
    Some(digest_of(at, e, g))
}

fn digest_of(at: &EntryDir<'_>, e: &Entry, g: &GraphSummary) -> Result<Vec<u8>, Failure> {
    if let Err(why) = check_path(&g.path) {
        return Err((
            Verdict::Fail,
            e.line.path.clone(),
            format!(
                "{}: field graph.path {:?} {why}",
                e.line.path,
                echo(&g.path)
            ),
        ));
    }
    let path = join(&e.dir, &g.path);
    match at.read(&g.path, limits::GRAPH_BYTES, "a graph") {
        Ok(b) => {
            let got = Digest::of(&b);
            if got == g.digest {
                Ok(b)
            } else {
                let why = format!(
                    "{path} has SHA-256 {got}, but {} records graph digest {}",
                    e.line.path, g.digest
                );
                Err((Verdict::Fail, path, why))
            }
        }
        Err(err) => {
            let (verdict, why) = unreadable(&err);
            Err((verdict, path, why))
        }
    }
}

/// `graph.form`: each graph file that matched its digest parses as a canonical graph with
/// the recorded node and edge counts.
fn forms<'e>(report: &mut Report, files: Vec<(&'e Entry, Vec<u8>)>) -> Vec<Checked<'e>> {
    let outcomes: Vec<Option<Result<Checked<'e>, Failure>>> = files
        .into_par_iter()
        .map(|(e, bytes)| {
            let Some(Section::Available(g)) = e.receipt.as_ref().map(|r| &r.graph) else {
                return None;
            };
            Some(form(e, g, &bytes))
        })
        .collect();
    let mut t = Tally::new(CheckId::GraphForm);
    let mut graphs = Vec::new();
    for o in outcomes.into_iter().flatten() {
        match o {
            Ok(c) => {
                t.pass();
                graphs.push(c);
            }
            Err((verdict, file, why)) => t.fail(verdict, &file, why),
        }
    }
    t.finish(
        report,
        "every graph file is a canonical graph with the recorded node and edge counts",
    );
    graphs
}

/// One entry's `graph.form`.
fn form<'e>(e: &'e Entry, g: &GraphSummary, bytes: &[u8]) -> Result<Checked<'e>, Failure> {
    let path = join(&e.dir, &g.path);
    match CanonicalGraph::from_json_bytes(bytes) {
        Ok(cg) if cg.node_count() as u64 == g.nodes && cg.edge_count() as u64 == g.edges => {
            Ok(Checked {
                entry: e,
                graph: cg,
                digest: g.digest,
            })
        }
        Ok(cg) => {
            let why = format!(
                "{path} has {} nodes and {} edges, but {} records {} and {}",
                cg.node_count(),
                cg.edge_count(),
                e.line.path,
                g.nodes,
                g.edges
            );
            Err((Verdict::Fail, path, why))
        }
        Err(err) => {
            let why = format!("{path}: {err}");
            Err((Verdict::Fail, path, why))
        }
    }
}

/// What one graph's τ check found.
enum TauOutcome {
    /// No manifest seeds τ: neither fingerprint can be recomputed.
    NoManifest,
    /// τ was recomputed and compared.
    Compared(Compared),
}

/// `graph.tau` and `graph.rank`: recomputed from each graph (τ seeded by the manifest) and
/// compared with the receipt. τ is linear in the graph and always recomputed (in
/// parallel); rank only when τ held, within the per-graph and total limits, once per
/// distinct graph.
fn fingerprints(report: &mut Report, graphs: &[Checked<'_>]) {
    let taus: Vec<Option<TauOutcome>> = graphs
        .par_iter()
        .map(|c| {
            let e = c.entry;
            let r = e.receipt.as_ref()?;
            let Some((_, m)) = &e.manifest else {
                return Some(TauOutcome::NoManifest);
            };
            Some(TauOutcome::Compared(compare(
                &r.tau,
                tau_section(&c.graph, m),
                &e.line.path,
                "τ",
            )))
        })
        .collect();
    // The graphs whose τ held are ranked, in chain order.
    let to_rank: Vec<&Checked<'_>> = graphs
        .iter()
        .zip(&taus)
        .filter(|(_, t)| matches!(t, Some(TauOutcome::Compared(Compared::Held))))
        .map(|(c, _)| c)
        .collect();
    let ranked = ranks(&to_rank);

    let mut tau_t = Tally::new(CheckId::GraphTau);
    let mut rank_t = Tally::new(CheckId::GraphRank);
    for (c, tau) in graphs.iter().zip(taus) {
        let e = c.entry;
        let Some(r) = &e.receipt else { continue };
        match tau {
            None => continue,
            Some(TauOutcome::NoManifest) => {
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
            }
            Some(TauOutcome::Compared(Compared::Held)) => tau_t.pass(),
            Some(TauOutcome::Compared(Compared::Failed(verdict, why))) => {
                tau_t.fail(verdict, &e.line.path, why);
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
        }
        match &ranked[&c.digest] {
            Ok(v) => match compare(
                &r.rank,
                Section::Available(v.clone()),
                &e.line.path,
                "the rank report",
            ) {
                Compared::Held => rank_t.pass(),
                Compared::Failed(verdict, why) => rank_t.fail(verdict, &e.line.path, why),
            },
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

/// The rank report of every distinct graph of `graphs` (by digest), each within the
/// per-graph limit and all together within the total one, spent in chain order: the first
/// graph of a digest is ranked with whatever is left of the total.
///
/// Graphs are ranked in parallel batches with the full per-graph limit, which is the
/// limit the sequential spending gives them while at least that much of the total is
/// left; a result computed under another limit than the sequential one is discarded and
/// recomputed, so the outcome is exactly that of ranking one graph after the other.
fn ranks(graphs: &[&Checked<'_>]) -> BTreeMap<Digest, Result<Value, String>> {
    let mut ranked: BTreeMap<Digest, Result<Value, String>> = BTreeMap::new();
    let mut firsts: Vec<&Checked<'_>> = Vec::new();
    let mut seen = BTreeSet::new();
    for c in graphs {
        if seen.insert(c.digest) {
            firsts.push(c);
        }
    }
    let full = limits::RANK_PER_GRAPH;
    let batch = 4 * rayon::current_num_threads().max(1);
    let mut total_left = limits::RANK_TOTAL_WORK;
    let mut rest = firsts.as_slice();
    while !rest.is_empty() {
        let (now, later) = rest.split_at(batch.min(rest.len()));
        rest = later;
        let precomputed: Vec<Option<_>> = if total_left >= full.work {
            now.par_iter()
                .map(|c| Some(rank_within(&c.graph, full)))
                .collect()
        } else {
            vec![None; now.len()]
        };
        for (c, pre) in now.iter().zip(precomputed) {
            let limits = RankLimits {
                work: full.work.min(total_left),
                ..full
            };
            let outcome = match pre {
                Some(o) if limits == full => o,
                _ => rank_within(&c.graph, limits),
            };
            let v = match outcome {
                Ok((report, spent)) => {
                    total_left -= spent;
                    serde_json::to_value(report).map_err(|e| e.to_string())
                }
                Err(stop) => {
                    total_left -= limits.work.min(total_left);
                    Err(stop.to_string())
                }
            };
            ranked.insert(c.digest, v);
        }
    }
    ranked
}

/// Whether a recorded section agreed with its recomputation.
enum Compared {
    Held,
    Failed(Verdict, String),
}

/// Compares a recorded section with its recomputation.
fn compare(
    recorded: &Section<Value>,
    recomputed: Section<Value>,
    file: &str,
    what: &str,
) -> Compared {
    match (recorded, recomputed) {
        // Compared as canonical bytes: JSON has one number type, so `1` read back from a
        // receipt is the double 1.0 the recomputation gives.
        (Section::Available(v), Section::Available(w))
            if jcs::value_to_vec(v) == jcs::value_to_vec(&w) =>
        {
            Compared::Held
        }
        (Section::Available(_), Section::Available(_)) => Compared::Failed(
            Verdict::Fail,
            format!("{what} recomputed from the graph differs from the one recorded in {file}"),
        ),
        (Section::Available(_), Section::Unavailable { .. }) => Compared::Failed(
            Verdict::Unknown,
            format!("{what} of {file} could not be recomputed"),
        ),
        (Section::Unavailable { .. }, _) => Compared::Failed(
            Verdict::Fail,
            format!(
                "{file} has a graph but records no {what}; a graph's fingerprint is always computable"
            ),
        ),
    }
}
