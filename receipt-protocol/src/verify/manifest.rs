//! Each entry's manifest (docs/SPEC.md §2, §5, §7): its grammar, and its bindings to the
//! receipt beside it (file hash, Merkle root, ingress preimage) and to the entry before it
//! (timestamps never go back).

use receipt_primitives::{Digest, jcs};

use super::tally::Tally;
use super::{CheckId, Entry, EntryDir, Report, Verdict, join, unreadable};
use crate::ledger::MANIFEST_FILE;
use crate::limits;
use crate::manifest::Manifest;
use crate::receipt::Section;

/// Every manifest check, in report order; `grammar` holds each entry's
/// `manifest.grammar` outcome (from [`read`]).
pub(super) fn check(
    report: &mut Report,
    entries: &[Entry],
    grammar: Vec<Result<(), (Verdict, String)>>,
) {
    let mut t = Tally::new(CheckId::ManifestGrammar);
    for (e, o) in entries.iter().zip(grammar) {
        match o {
            Ok(()) => t.pass(),
            Err((verdict, why)) => t.fail(verdict, &join(&e.dir, MANIFEST_FILE), why),
        }
    }
    t.finish(report, "every manifest is canonical v1.2");
    binding(report, entries);
    merkle_root(report, entries);
    ingress(report, entries);
    timestamp_order(report, entries);
}

/// One entry's `manifest.grammar`: the manifest beside its receipt (in `dir`), read and
/// parsed as a canonical v1.2 manifest.
pub(super) fn read(at: &EntryDir<'_>, dir: &str) -> Result<(Vec<u8>, Manifest), (Verdict, String)> {
    match at.read(MANIFEST_FILE, limits::MANIFEST_BYTES, "a manifest") {
        Ok(b) => match Manifest::parse(&b) {
            Ok(m) => Ok((b, m)),
            Err(err) => Err((
                Verdict::Fail,
                format!("{}: {err}", join(dir, MANIFEST_FILE)),
            )),
        },
        Err(err) => Err(unreadable(&err)),
    }
}

/// `manifest.binding`: every receipt's `manifest_sha256` is its manifest file's hash.
fn binding(report: &mut Report, entries: &[Entry]) {
    let mut t = Tally::new(CheckId::ManifestBinding);
    for e in entries {
        let path = join(&e.dir, MANIFEST_FILE);
        match (&e.receipt, &e.manifest) {
            (Some(r), Some((b, _))) if r.manifest_sha256 == Digest::of(b) => t.pass(),
            (Some(r), Some((b, _))) => t.fail(
                Verdict::Fail,
                &path,
                format!(
                    "{path} has SHA-256 {}, but {} records manifest_sha256 {}",
                    Digest::of(b),
                    e.line.path,
                    r.manifest_sha256
                ),
            ),
            _ => t.fail(
                Verdict::Unknown,
                &path,
                format!("{path} cannot be bound to its receipt because one of them is unreadable or altered"),
            ),
        }
    }
    t.finish(report, "every receipt names its manifest's SHA-256");
}

/// `manifest.merkle_root`: every receipt's `reflective.merkle_root` is its manifest's.
fn merkle_root(report: &mut Report, entries: &[Entry]) {
    let mut t = Tally::new(CheckId::ManifestMerkleRoot);
    for e in entries {
        match (&e.receipt, &e.manifest) {
            (Some(r), Some((_, m))) if r.reflective.merkle_root == m.merkle_root => t.pass(),
            (Some(r), Some((_, m))) => t.fail(
                Verdict::Fail,
                &e.line.path,
                format!(
                    "{} has reflective.merkle_root {}, but its manifest has merkle_root {}",
                    e.line.path, r.reflective.merkle_root, m.merkle_root
                ),
            ),
            _ => t.fail(
                Verdict::Unknown,
                &e.line.path,
                format!("the merkle_root of {} cannot be compared because its receipt or manifest is unreadable", e.line.path),
            ),
        }
    }
    t.finish(
        report,
        "every receipt's reflective.merkle_root equals its manifest's merkle_root",
    );
}

/// `manifest.ingress`: the manifest's `ingress_preimage_sha256` is the hash of the
/// receipt's preimage (both absent also holds).
fn ingress(report: &mut Report, entries: &[Entry]) {
    let mut t = Tally::new(CheckId::ManifestIngress);
    for e in entries {
        let (Some(r), Some((_, m))) = (&e.receipt, &e.manifest) else {
            continue;
        };
        let got = match &r.ingress {
            Section::Available(v) => Some(jcs::value_sha256(v)),
            Section::Unavailable { .. } => None,
        };
        if got == m.ingress_preimage_sha256 {
            t.pass();
        } else {
            t.fail(
                Verdict::Fail,
                &e.line.path,
                format!(
                    "the ingress preimage in {} does not hash to the manifest's ingress_preimage_sha256",
                    e.line.path
                ),
            );
        }
    }
    t.finish(
        report,
        "every manifest's ingress_preimage_sha256 is the SHA-256 of its receipt's preimage",
    );
}

/// `manifest.timestamp_order`: no manifest's timestamp is earlier than the one before it
/// on the chain (a chain records builds in the order they happened).
fn timestamp_order(report: &mut Report, entries: &[Entry]) {
    let mut t = Tally::new(CheckId::ManifestTimestampOrder);
    let mut before: Option<(String, &Manifest)> = None;
    for e in entries {
        let Some((_, m)) = &e.manifest else {
            before = None;
            continue;
        };
        let path = join(&e.dir, MANIFEST_FILE);
        match &before {
            Some((prev_path, p)) if m.timestamp < p.timestamp => t.fail(
                Verdict::Fail,
                &path,
                format!(
                    "{path} has timestamp {}, earlier than {} of {prev_path} before it on the chain",
                    m.timestamp, p.timestamp
                ),
            ),
            _ => t.pass(),
        }
        before = Some((path, m));
    }
    t.finish(
        report,
        "no manifest's timestamp is earlier than the one before it",
    );
}
