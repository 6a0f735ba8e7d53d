//! The chain itself (docs/SPEC.md §6, §7): the head file, the receipts it names and their
//! hashes, the `prev` links, the view at the top of the directory, and stray entries.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use rayon::prelude::*;
use receipt_primitives::Digest;

use super::tally::Tally;
use super::{
    CheckId, Entry, EntryDir, Prefetched, Report, Verdict, graph, join, manifest, read, sign,
    unreadable,
};
use crate::ledger::{
    CHAIN_HEAD, GRAPH_FILE, HeadLine, MANIFEST_FILE, RECEIPT_FILE, RECEIPTS_DIR, parse_head,
};
use crate::limits;
use crate::receipt::Receipt;
use receipt_attest::PublicKey;

/// `chain.head`: read, well formed, not empty. `None` when there is no chain to verify.
pub(super) fn head(root: &Path, report: &mut Report) -> Option<Vec<HeadLine>> {
    let bytes = match read(root, CHAIN_HEAD, limits::CHAIN_HEAD_BYTES, "a chain head") {
        Ok(b) => b,
        Err(e) => {
            let (verdict, why) = unreadable(&e);
            report.push(
                CheckId::ChainHead,
                verdict,
                Some(CHAIN_HEAD),
                format!("{why}, so there is no chain to verify"),
            );
            return None;
        }
    };
    match parse_head(&bytes) {
        Ok(l) if l.is_empty() => {
            report.push(
                CheckId::ChainHead,
                Verdict::Fail,
                Some(CHAIN_HEAD),
                format!("{CHAIN_HEAD} is empty"),
            );
            None
        }
        Ok(l) => {
            report.push(
                CheckId::ChainHead,
                Verdict::Pass,
                Some(CHAIN_HEAD),
                format!(
                    "{CHAIN_HEAD} is well formed ({} line{})",
                    l.len(),
                    if l.len() == 1 { "" } else { "s" }
                ),
            );
            Some(l)
        }
        Err(e) => {
            report.push(
                CheckId::ChainHead,
                Verdict::Fail,
                Some(CHAIN_HEAD),
                e.to_string(),
            );
            None
        }
    }
}

/// `chain.head_hash` and `chain.receipt_form`: every named receipt hashes to its line and
/// is a canonical receipt. The same parallel pass reads and checks the rest of each entry
/// (its manifest, graph file and, with `keys`, its envelopes) from the entry's directory,
/// opened once; those checks are returned for reporting in their turn.
pub(super) fn receipts(
    root: &Path,
    lines: &[HeadLine],
    report: &mut Report,
    keys: &[PublicKey],
) -> (Vec<Entry>, Prefetched) {
    /// One line's receipt: read and hashed, then parsed.
    enum Read {
        Good(Result<(), String>),
        Other(Digest),
        Unreadable(Verdict, String),
    }
    struct Pass {
        entry: Entry,
        read: Read,
        manifest: Result<(), (Verdict, String)>,
        graph: Option<Result<Vec<u8>, graph::Failure>>,
        sign: Option<sign::EntryOutcome>,
    }
    let passes: Vec<Pass> = lines
        .par_iter()
        .map(|line| {
            let (dir, name) = match line.path.rsplit_once('/') {
                Some((d, n)) => (d, n),
                None => ("", line.path.as_str()),
            };
            let at = EntryDir::open(root, dir);
            let mut entry = Entry {
                line: line.clone(),
                dir: dir.to_owned(),
                receipt_bytes: None,
                receipt: None,
                manifest: None,
            };
            let read = match at.read(name, limits::RECEIPT_BYTES, "a receipt") {
                Ok(b) if Digest::of(&b) == line.sha256 => {
                    let parsed = Receipt::parse(&b).map_err(|e| e.to_string());
                    entry.receipt_bytes = Some(b);
                    Read::Good(parsed.map(|r| entry.receipt = Some(r)))
                }
                Ok(b) => Read::Other(Digest::of(&b)),
                Err(e) => {
                    let (verdict, why) = unreadable(&e);
                    Read::Unreadable(verdict, why)
                }
            };
            let manifest = manifest::read(&at, &entry.dir).map(|m| entry.manifest = Some(m));
            let graph = graph::digest(&at, &entry);
            let sign = (!keys.is_empty()).then(|| sign::entry(&at, &entry, keys));
            Pass {
                entry,
                read,
                manifest,
                graph,
                sign,
            }
        })
        .collect();
    let mut entries = Vec::with_capacity(lines.len());
    let mut pre = Prefetched {
        manifest: Vec::with_capacity(lines.len()),
        graph: Vec::with_capacity(lines.len()),
        sign: (!keys.is_empty()).then(|| Vec::with_capacity(lines.len())),
    };
    let mut forms = Vec::with_capacity(lines.len());
    let mut t = Tally::new(CheckId::ChainHeadHash);
    for (i, (line, p)) in lines.iter().zip(passes).enumerate() {
        match p.read {
            Read::Good(parsed) => {
                t.pass();
                forms.push(Some(parsed));
            }
            Read::Other(got) => {
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
                forms.push(None);
            }
            Read::Unreadable(verdict, why) => {
                t.fail(
                    verdict,
                    &line.path,
                    format!("{why} (named on line {} of {CHAIN_HEAD})", i + 1),
                );
                forms.push(None);
            }
        }
        entries.push(p.entry);
        pre.manifest.push(p.manifest);
        pre.graph.push(p.graph);
        if let (Some(all), Some(one)) = (&mut pre.sign, p.sign) {
            all.push(one);
        }
    }
    t.finish(
        report,
        "every head line's hash is the SHA-256 of the receipt file it names",
    );
    let mut t = Tally::new(CheckId::ChainReceiptForm);
    for (e, f) in entries.iter().zip(forms) {
        match f {
            Some(Ok(())) => t.pass(),
            Some(Err(err)) => t.fail(
                Verdict::Fail,
                &e.line.path,
                format!("{}: {err}", e.line.path),
            ),
            None => {}
        }
    }
    t.finish(
        report,
        "every receipt is canonical JSON of schema tau-crystal.receipt/1",
    );
    (entries, pre)
}

/// `chain.prev_links`: the first receipt's `prev` is null, every other's is the line
/// before it.
pub(super) fn prev_links(report: &mut Report, entries: &[Entry]) {
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
                    e.line.path,
                    receipt_primitives::check::echo(&p.path),
                    p.sha256,
                    w.path,
                    w.sha256
                ),
            ),
            (Some(p), None) => t.fail(
                Verdict::Fail,
                &e.line.path,
                format!(
                    "{} is first on the chain but links back to {}; earlier lines of {CHAIN_HEAD} are missing",
                    e.line.path,
                    receipt_primitives::check::echo(&p.path)
                ),
            ),
            (None, Some(w)) => t.fail(
                Verdict::Fail,
                &e.line.path,
                format!(
                    "{} has no prev link, but {} comes before it on the chain",
                    e.line.path, w.path
                ),
            ),
        }
    }
    t.finish(
        report,
        "every receipt links to the one before it, back to the first",
    );
}

/// `chain.view`: the files at the top of the directory are the chain's last entry. A view
/// equal to an earlier entry (a build interrupted after its commit point, or lines removed
/// from the head together with their entries) and a view on no line of the chain (lines
/// removed) both FAIL: a reader of the view would see another build than the chain's last.
pub(super) fn view(root: &Path, report: &mut Report, entries: &[Entry]) {
    let Some(last) = entries.last() else { return };
    let view = match read(root, RECEIPT_FILE, limits::RECEIPT_BYTES, "a receipt") {
        Ok(b) => b,
        Err(e) => {
            let (verdict, why) = unreadable(&e);
            report.push(CheckId::ChainView, verdict, Some(RECEIPT_FILE), why);
            return;
        }
    };
    let view_hash = Digest::of(&view);
    if view_hash != last.line.sha256 {
        let detail = match entries.iter().position(|e| e.line.sha256 == view_hash) {
            Some(i) => format!(
                "{RECEIPT_FILE} is receipt {} of {}, not the latest; either a build was interrupted after extending the chain (the next build refreshes the view) or the view was rolled back",
                i + 1,
                entries.len()
            ),
            None => format!(
                "{RECEIPT_FILE} (SHA-256 {view_hash}) is on no line of {CHAIN_HEAD}; lines were removed from the chain or the file was altered"
            ),
        };
        report.push(
            CheckId::ChainView,
            Verdict::Fail,
            Some(RECEIPT_FILE),
            detail,
        );
        return;
    }
    let mut bad = Vec::new();
    for (f, limit) in [
        (MANIFEST_FILE, limits::MANIFEST_BYTES),
        (GRAPH_FILE, limits::GRAPH_BYTES),
    ] {
        let in_entry = read(root, &join(&last.dir, f), limit, "a view file").ok();
        let in_view = read(root, f, limit, "a view file").ok();
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

/// `chain.orphans`: entries under `receipts/` that no head line names, left by a writer
/// that crashed before its commit point (WARN), harmless because nothing on the chain
/// refers to them.
pub(super) fn orphans(root: &Path, report: &mut Report, entries: &[Entry]) {
    let named: BTreeSet<&str> = entries.iter().map(|e| e.dir.as_str()).collect();
    let dir = root.join(RECEIPTS_DIR);
    // A symlinked receipts/ already failed every entry; its target is not listed.
    if fs::symlink_metadata(&dir).is_ok_and(|m| m.file_type().is_symlink()) {
        return;
    }
    let Ok(rd) = fs::read_dir(dir) else {
        return;
    };
    let mut orphans: Vec<String> = rd
        .filter_map(Result::ok)
        .map(|d| format!("{RECEIPTS_DIR}/{}", d.file_name().to_string_lossy()))
        .filter(|d| !named.contains(d.as_str()))
        .collect();
    orphans.sort();
    for o in orphans {
        let o = receipt_primitives::check::echo(&o);
        report.push(
            CheckId::ChainOrphans,
            Verdict::Warn,
            Some(&o),
            format!("{o} is not on the chain; an interrupted build left it, and the next build replaces it"),
        );
    }
}
