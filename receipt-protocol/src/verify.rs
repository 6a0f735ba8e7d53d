//! Verification of a build ledger (docs/SPEC.md §7): every protocol check, each a named
//! verdict with a plain sentence, and never a pass for a check that could not be made.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use receipt_graph::CanonicalGraph;
pub use receipt_primitives::check::{Check, CheckId, Report, Verdict};
use receipt_primitives::{Digest, jcs};

use crate::ledger::{
    CHAIN_HEAD, GRAPH_FILE, HeadLine, MANIFEST_FILE, RECEIPT_FILE, RECEIPTS_DIR, parse_head,
};
use crate::manifest::Manifest;
use crate::receipt::{Receipt, Section};

/// Collects the outcome of one named check over many receipts: one PASS line when every
/// instance held, else one line per failing instance.
struct Tally {
    name: CheckId,
    passed: usize,
    failures: Vec<Check>,
}

impl Tally {
    fn new(name: CheckId) -> Self {
        Tally {
            name,
            passed: 0,
            failures: Vec::new(),
        }
    }

    fn pass(&mut self) {
        self.passed += 1;
    }

    fn fail(&mut self, verdict: Verdict, file: &str, detail: String) {
        self.failures.push(Check {
            id: self.name,
            verdict,
            detail,
            file: Some(file.to_owned()),
        });
    }

    fn finish(self, report: &mut Report, what: &str) {
        if self.failures.is_empty() && self.passed > 0 {
            let n = self.passed;
            report.push(
                self.name,
                Verdict::Pass,
                None,
                format!("{what} ({n} receipt{})", if n == 1 { "" } else { "s" }),
            );
        }
        report.checks.extend(self.failures);
    }
}

/// One chain entry as read from disk.
struct Entry {
    line: HeadLine,
    dir: String,
    receipt_bytes: Option<Vec<u8>>,
    receipt: Option<Receipt>,
    manifest: Option<(Vec<u8>, Manifest)>,
}

fn entry_dir(path: &str) -> String {
    match path.rsplit_once('/') {
        Some((d, _)) => d.to_owned(),
        None => String::new(),
    }
}

fn join(dir: &str, file: &str) -> String {
    if dir.is_empty() {
        file.to_owned()
    } else {
        format!("{dir}/{file}")
    }
}

/// Verifies the ledger at `root`: the chain head, every receipt it names and the manifest,
/// graph and τ/rank fingerprint of each, the `prev` links, and the view of the latest build.
///
/// Every check that cannot be made (a missing or unreadable file) is reported as a failure.
pub fn verify_dir(root: &Path) -> Report {
    let mut report = Report::default();
    let head_bytes = match fs::read(root.join(CHAIN_HEAD)) {
        Ok(b) => b,
        Err(e) => {
            report.push(
                CheckId::ChainHead,
                Verdict::Unknown,
                Some(CHAIN_HEAD),
                format!("{CHAIN_HEAD} cannot be read ({e}), so there is no chain to verify"),
            );
            return report;
        }
    };
    let lines = match parse_head(&head_bytes) {
        Ok(l) if l.is_empty() => {
            report.push(
                CheckId::ChainHead,
                Verdict::Fail,
                Some(CHAIN_HEAD),
                format!("{CHAIN_HEAD} is empty"),
            );
            return report;
        }
        Ok(l) => l,
        Err(e) => {
            report.push(
                CheckId::ChainHead,
                Verdict::Fail,
                Some(CHAIN_HEAD),
                e.to_string(),
            );
            return report;
        }
    };
    report.push(
        CheckId::ChainHead,
        Verdict::Pass,
        Some(CHAIN_HEAD),
        format!(
            "{CHAIN_HEAD} is well formed ({} line{})",
            lines.len(),
            if lines.len() == 1 { "" } else { "s" }
        ),
    );

    // Head line hash == SHA-256 of the named file, and the file is a canonical receipt.
    let mut entries = Vec::with_capacity(lines.len());
    {
        let mut t = Tally::new(CheckId::ChainHeadHash);
        for (i, line) in lines.iter().enumerate() {
            let dir = entry_dir(&line.path);
            let bytes = match fs::read(root.join(&line.path)) {
                Ok(b) => {
                    let got = Digest::of(&b);
                    if got == line.sha256 {
                        t.pass();
                        Some(b)
                    } else {
                        t.fail(
                            Verdict::Fail,
                            &line.path,
                            format!(
                                "{} has SHA-256 {got}, but line {} of {CHAIN_HEAD} says {}",
                                line.path,
                                i + 1,
                                line.sha256
                            ),
                        );
                        None
                    }
                }
                Err(e) => {
                    t.fail(
                        Verdict::Unknown,
                        &line.path,
                        format!(
                            "{} named on line {} of {CHAIN_HEAD} cannot be read ({e})",
                            line.path,
                            i + 1
                        ),
                    );
                    None
                }
            };
            entries.push(Entry {
                line: line.clone(),
                dir,
                receipt_bytes: bytes,
                receipt: None,
                manifest: None,
            });
        }
        t.finish(
            &mut report,
            "every head line's hash is the SHA-256 of the receipt file it names",
        );
    }
    {
        let mut t = Tally::new(CheckId::ChainReceiptForm);
        for e in &mut entries {
            let Some(b) = &e.receipt_bytes else { continue };
            match Receipt::parse(b) {
                Ok(r) => {
                    t.pass();
                    e.receipt = Some(r);
                }
                Err(err) => t.fail(
                    Verdict::Fail,
                    &e.line.path,
                    format!("{}: {err}", e.line.path),
                ),
            }
        }
        t.finish(
            &mut report,
            "every receipt is canonical JSON of schema tau-crystal.receipt/1",
        );
    }
    verify_prev_links(&mut report, &entries);
    verify_manifests(root, &mut report, &mut entries);
    verify_graphs(root, &mut report, &entries);
    verify_view(root, &mut report, &entries);
    verify_orphans(root, &mut report, &entries);
    report
}

fn verify_prev_links(report: &mut Report, entries: &[Entry]) {
    let mut t = Tally::new(CheckId::ChainPrevLinks);
    for (i, e) in entries.iter().enumerate() {
        let Some(r) = &e.receipt else {
            t.fail(
                Verdict::Unknown,
                &e.line.path,
                format!("the prev link of {} cannot be checked because the receipt is unreadable or altered", e.line.path),
            );
            continue;
        };
        let want = i.checked_sub(1).map(|j| &entries[j].line);
        match (&r.prev, want) {
            (None, None) => t.pass(),
            (Some(p), Some(w)) if p.sha256 == w.sha256 && p.path == w.path => t.pass(),
            (Some(p), Some(w)) => t.fail(
                Verdict::Fail,
                &e.line.path,
                format!(
                    "{} links back to {} ({}), but the previous line of {CHAIN_HEAD} is {} ({})",
                    e.line.path, p.path, p.sha256, w.path, w.sha256
                ),
            ),
            (Some(p), None) => t.fail(
                Verdict::Fail,
                &e.line.path,
                format!(
                    "{} is first on the chain but links back to {}; earlier lines of {CHAIN_HEAD} are missing",
                    e.line.path, p.path
                ),
            ),
            (None, Some(w)) => t.fail(
                Verdict::Fail,
                &e.line.path,
                format!("{} has no prev link, but {} comes before it on the chain", e.line.path, w.path),
            ),
        }
    }
    t.finish(
        report,
        "every receipt links to the one before it, back to the first",
    );
}

fn verify_manifests(root: &Path, report: &mut Report, entries: &mut [Entry]) {
    // Grammar first, then the two bindings, each its own named check.
    {
        let mut t = Tally::new(CheckId::ManifestGrammar);
        for e in entries.iter_mut() {
            let path = join(&e.dir, MANIFEST_FILE);
            match fs::read(root.join(&path)) {
                Ok(b) => match Manifest::parse(&b) {
                    Ok(m) => {
                        t.pass();
                        e.manifest = Some((b, m));
                    }
                    Err(err) => t.fail(Verdict::Fail, &path, format!("{path}: {err}")),
                },
                Err(err) => t.fail(
                    Verdict::Unknown,
                    &path,
                    format!("{path} cannot be read ({err})"),
                ),
            }
        }
        t.finish(report, "every manifest is canonical v1.2");
    }
    let mut binding = Tally::new(CheckId::ManifestBinding);
    for e in entries.iter() {
        let path = join(&e.dir, MANIFEST_FILE);
        match (&e.receipt, &e.manifest) {
            (Some(r), Some((b, _))) if r.manifest_sha256 == Digest::of(b) => binding.pass(),
            (Some(r), Some((b, _))) => binding.fail(
                Verdict::Fail,
                &path,
                format!(
                    "{path} has SHA-256 {}, but {} records manifest_sha256 {}",
                    Digest::of(b),
                    e.line.path,
                    r.manifest_sha256
                ),
            ),
            _ => binding.fail(
                Verdict::Unknown,
                &path,
                format!("{path} cannot be bound to its receipt because one of them is unreadable or altered"),
            ),
        }
    }
    binding.finish(report, "every receipt names its manifest's SHA-256");
    let mut root_eq = Tally::new(CheckId::ManifestMerkleRoot);
    for e in entries.iter() {
        match (&e.receipt, &e.manifest) {
            (Some(r), Some((_, m))) if r.reflective.merkle_root == m.merkle_root => root_eq.pass(),
            (Some(r), Some((_, m))) => root_eq.fail(
                Verdict::Fail,
                &e.line.path,
                format!(
                    "{} has reflective.merkle_root {}, but its manifest has merkle_root {}",
                    e.line.path, r.reflective.merkle_root, m.merkle_root
                ),
            ),
            _ => root_eq.fail(
                Verdict::Unknown,
                &e.line.path,
                format!("the merkle_root of {} cannot be compared because its receipt or manifest is unreadable", e.line.path),
            ),
        }
    }
    root_eq.finish(
        report,
        "every receipt's reflective.merkle_root equals its manifest's merkle_root",
    );
    let mut ingress = Tally::new(CheckId::ManifestIngress);
    for e in entries.iter() {
        let (Some(r), Some((_, m))) = (&e.receipt, &e.manifest) else {
            continue;
        };
        let got = match &r.ingress {
            Section::Available(v) => jcs::sha256(v).ok(),
            Section::Unavailable { .. } => None,
        };
        if got == m.ingress_preimage_sha256 {
            ingress.pass();
        } else {
            ingress.fail(
                Verdict::Fail,
                &e.line.path,
                format!(
                    "the ingress preimage in {} does not hash to the manifest's ingress_preimage_sha256",
                    e.line.path
                ),
            );
        }
    }
    ingress.finish(
        report,
        "every manifest's ingress_preimage_sha256 is the SHA-256 of its receipt's preimage",
    );
}

fn verify_graphs(root: &Path, report: &mut Report, entries: &[Entry]) {
    let mut t = Tally::new(CheckId::GraphDigest);
    for e in entries {
        let Some(r) = &e.receipt else { continue };
        let Section::Available(g) = &r.graph else {
            continue;
        };
        let path = join(&e.dir, &g.path);
        match fs::read(root.join(&path)) {
            Ok(b) if Digest::of(&b) == g.digest => t.pass(),
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
            Err(err) => t.fail(
                Verdict::Unknown,
                &path,
                format!("{path} cannot be read ({err})"),
            ),
        }
    }
    t.finish(
        report,
        "every graph file hashes to its receipt's graph digest",
    );
    verify_fingerprints(root, report, entries);
}

/// Parses each graph file and recomputes τ and the rank report from it, seeded by the
/// manifest, comparing them with what the receipt records.
fn verify_fingerprints(root: &Path, report: &mut Report, entries: &[Entry]) {
    let mut form = Tally::new(CheckId::GraphForm);
    let mut graphs = Vec::new();
    for e in entries {
        let Some(r) = &e.receipt else { continue };
        let Section::Available(g) = &r.graph else {
            continue;
        };
        let path = join(&e.dir, &g.path);
        let Ok(bytes) = fs::read(root.join(&path)) else {
            continue; // already reported by graph-digest
        };
        match CanonicalGraph::from_json_bytes(&bytes) {
            Ok(cg) if cg.node_count() as u64 == g.nodes && cg.edge_count() as u64 == g.edges => {
                form.pass();
                graphs.push((e, cg));
            }
            Ok(cg) => form.fail(
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
            Err(err) => form.fail(Verdict::Fail, &path, format!("{path}: {err}")),
        }
    }
    form.finish(
        report,
        "every graph file is a canonical graph with the recorded node and edge counts",
    );
    let mut tau_t = Tally::new(CheckId::GraphTau);
    let mut rank_t = Tally::new(CheckId::GraphRank);
    for (e, cg) in &graphs {
        let Some(r) = &e.receipt else { continue };
        let Some((_, m)) = &e.manifest else {
            tau_t.fail(
                Verdict::Unknown,
                &e.line.path,
                format!(
                    "τ of {} cannot be recomputed without its manifest, which seeds it",
                    e.line.path
                ),
            );
            continue;
        };
        let (tau, rank) = crate::assemble::fingerprints(cg, m);
        compare_section(&mut tau_t, &r.tau, tau, &e.line.path, "τ");
        compare_section(&mut rank_t, &r.rank, rank, &e.line.path, "the rank report");
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

fn compare_section(
    t: &mut Tally,
    recorded: &Section<serde_json::Value>,
    recomputed: Section<serde_json::Value>,
    file: &str,
    what: &str,
) {
    match (recorded, recomputed) {
        // Compared as canonical bytes: JSON has one number type, so `1` read back from a
        // receipt is the double 1.0 the recomputation gives.
        (Section::Available(v), Section::Available(w))
            if jcs::to_vec(v).ok() == jcs::to_vec(&w).ok() =>
        {
            t.pass()
        }
        (Section::Available(_), Section::Available(_)) => t.fail(
            Verdict::Fail,
            file,
            format!("{what} recomputed from the graph differs from the one recorded in {file}"),
        ),
        (Section::Available(_), Section::Unavailable { .. }) => t.fail(
            Verdict::Unknown,
            file,
            format!("{what} of {file} could not be recomputed"),
        ),
        (Section::Unavailable { .. }, _) => t.fail(
            Verdict::Fail,
            file,
            format!("{file} has a graph but records no {what}; a graph's fingerprint is always computable"),
        ),
    }
}

/// The view (manifest.json, receipt.json, graph.json at the root) must be the chain's last
/// entry. A view equal to an earlier entry is what a crash between the head write and the
/// view refresh leaves (WARN); a view that is on no line of the chain means the head lost
/// lines (FAIL).
fn verify_view(root: &Path, report: &mut Report, entries: &[Entry]) {
    let Some(last) = entries.last() else { return };
    let view = match fs::read(root.join(RECEIPT_FILE)) {
        Ok(b) => b,
        Err(e) => {
            report.push(
                CheckId::ChainView,
                Verdict::Unknown,
                Some(RECEIPT_FILE),
                format!("{RECEIPT_FILE} cannot be read ({e})"),
            );
            return;
        }
    };
    let view_hash = Digest::of(&view);
    if view_hash != last.line.sha256 {
        match entries.iter().position(|e| e.line.sha256 == view_hash) {
            Some(i) => report.push(
                CheckId::ChainView,
                Verdict::Warn,
                Some(RECEIPT_FILE),
                format!(
                    "{RECEIPT_FILE} is receipt {} of {}, not the latest; a build was interrupted after extending the chain, and the next build refreshes it",
                    i + 1,
                    entries.len()
                ),
            ),
            None => report.push(
                CheckId::ChainView,
                Verdict::Fail,
                Some(RECEIPT_FILE),
                format!(
                    "{RECEIPT_FILE} (SHA-256 {view_hash}) is on no line of {CHAIN_HEAD}; lines were removed from the chain or the file was altered"
                ),
            ),
        }
        return;
    }
    let mut bad = Vec::new();
    for f in [MANIFEST_FILE, GRAPH_FILE] {
        let in_entry = fs::read(root.join(join(&last.dir, f))).ok();
        let in_view = fs::read(root.join(f)).ok();
        if in_entry != in_view {
            bad.push(f);
        }
    }
    if bad.is_empty() {
        report.push(
            CheckId::ChainView,
            Verdict::Pass,
            None,
            format!(
                "the files at the top of the directory are the chain's latest entry, {}",
                last.line.path
            ),
        );
    } else {
        for f in bad {
            report.push(
                CheckId::ChainView,
                Verdict::Fail,
                Some(f),
                format!(
                    "{f} differs from {} of the chain's latest entry",
                    join(&last.dir, f)
                ),
            );
        }
    }
}

/// Entries under `receipts/` that no head line names: left by a writer that crashed before
/// its commit point (WARN), harmless because nothing on the chain refers to them.
fn verify_orphans(root: &Path, report: &mut Report, entries: &[Entry]) {
    let named: BTreeSet<&str> = entries.iter().map(|e| e.dir.as_str()).collect();
    let Ok(rd) = fs::read_dir(root.join(RECEIPTS_DIR)) else {
        return;
    };
    let mut orphans: Vec<String> = rd
        .filter_map(Result::ok)
        .filter_map(|d| d.file_name().into_string().ok())
        .map(|n| format!("{RECEIPTS_DIR}/{n}"))
        .filter(|d| !named.contains(d.as_str()))
        .collect();
    orphans.sort();
    for o in orphans {
        report.push(
            CheckId::ChainOrphans,
            Verdict::Warn,
            Some(&o),
            format!("{o} is not on the chain; an interrupted build left it, and the next build replaces it"),
        );
    }
}
