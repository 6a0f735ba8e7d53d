//! Verification of a build ledger (docs/SPEC.md §7): every protocol check, each a named
//! verdict with a plain sentence, and never a pass for a check that could not be made.
//!
//! The directory is hostile: every file is read through [`receipt_primitives::confine`]
//! (no symlink followed, regular files only) within the limits of [`crate::limits`], cheap
//! bindings are checked before expensive recomputations, and nothing is created or
//! changed. The checks are grouped by what they are about: `chain` (head, links, view),
//! `manifest` (grammar and bindings), `fields` (the rules of each receipt's own
//! fields) and `graph` (digest, form, τ, rank).

mod chain;
pub(crate) mod fields;
mod graph;
mod manifest;
mod sign;
mod tally;

use std::path::Path;

use receipt_primitives::confine::{self, ReadError};

pub use receipt_primitives::check::{Check, CheckId, Report, Verdict};
pub use sign::{KeyOptions, SignedFacts, StatementFacts};

use crate::ledger::HeadLine;
use crate::manifest::Manifest;
use crate::receipt::Receipt;

/// One chain entry as read from disk.
#[derive(Debug)]
struct Entry {
    /// Its head line.
    line: HeadLine,
    /// Its directory, relative to the ledger root (`receipts/NNNNNN`).
    dir: String,
    /// The receipt file's bytes, when they hash to the head line.
    receipt_bytes: Option<Vec<u8>>,
    /// The receipt, when it parsed.
    receipt: Option<Receipt>,
    /// The manifest file's bytes and the manifest, when it parsed.
    manifest: Option<(Vec<u8>, Manifest)>,
}

/// Verifies the ledger at `root`: the chain head, every receipt it names and the manifest,
/// graph and τ/rank fingerprint of each, the rules of each receipt's fields, the `prev`
/// links, and the view of the latest build.
///
/// Every check that cannot be made (a missing, unreadable, oversized or non-regular file)
/// is reported as `UNKNOWN`, which fails the verification.
pub fn verify_dir(root: &Path) -> Report {
    verify_dir_with(root, &KeyOptions::default()).0
}

/// [`verify_dir`], then, with keys, the signature checks of docs/SPEC.md §14.9
/// (`sign.receipt`, `sign.provenance`, `sign.checkpoint`, `sign.since`, `sign.tree`); returns
/// the report and what the signatures established, for a policy
/// ([`crate::policy::Policy::evaluate`]).
pub fn verify_dir_with(root: &Path, opts: &KeyOptions) -> (Report, SignedFacts) {
    let mut report = Report::default();
    let Some(lines) = chain::head(root, &mut report) else {
        if !opts.keys.is_empty() {
            report.push(
                CheckId::SignReceipt,
                Verdict::Unknown,
                None,
                "there is no chain whose signatures could be checked",
            );
        }
        return (report, SignedFacts::default());
    };
    // One parallel pass reads and checks every entry's files; the checks are reported
    // below, each in chain order.
    let (entries, pre) = chain::receipts(root, &lines, &mut report, &opts.keys);
    chain::prev_links(&mut report, &entries);
    manifest::check(&mut report, &entries, pre.manifest);
    fields::check(&mut report, &entries);
    graph::check(&mut report, &entries, pre.graph);
    chain::view(root, &mut report, &entries);
    chain::orphans(root, &mut report, &entries);
    let facts = sign::check(root, &mut report, &entries, opts, pre.sign);
    (report, facts)
}

/// What the pass over the entries found for the checks reported after the chain's, one
/// item per entry in chain order.
struct Prefetched {
    /// `manifest.grammar`: `Err` for a manifest that is unreadable or not canonical.
    manifest: Vec<Result<(), (Verdict, String)>>,
    /// `graph.digest`: `None` where the receipt has no graph to check.
    graph: Vec<Option<Result<Vec<u8>, graph::Failure>>>,
    /// The signature checks of each entry, when keys were given.
    sign: Option<Vec<sign::EntryOutcome>>,
}

/// One entry's directory, opened once (confined, as [`read`] opens files) so that its
/// files are opened relative to it; when it cannot be opened, each file is read from the
/// root, which says why in the words of that file.
struct EntryDir<'a> {
    root: &'a Path,
    rel: &'a str,
    dir: Option<confine::Dir>,
}

impl<'a> EntryDir<'a> {
    fn open(root: &'a Path, rel: &'a str) -> EntryDir<'a> {
        EntryDir {
            root,
            rel,
            dir: confine::Dir::open(root, rel).ok(),
        }
    }

    /// [`read`] of `dir/file`.
    fn read(&self, file: &str, limit: u64, what: &'static str) -> Result<Vec<u8>, ReadError> {
        match &self.dir {
            Some(d) => d.read(file, limit, what),
            None => read(self.root, &join(self.rel, file), limit, what),
        }
    }
}

/// Reads a file of the ledger safely: confined to `root`, regular, at most `limit` bytes.
fn read(root: &Path, rel: &str, limit: u64, what: &'static str) -> Result<Vec<u8>, ReadError> {
    confine::read_under(root, rel, limit, what)
}

/// `dir/file`, or `file` at the root.
fn join(dir: &str, file: &str) -> String {
    if dir.is_empty() {
        file.to_owned()
    } else {
        format!("{dir}/{file}")
    }
}

/// The verdict for a file that could not be read, with the reader's one sentence: `FAIL`
/// when the directory breaks the protocol (a path outside the rule, a symlink, a FIFO,
/// device or directory where a file belongs), `UNKNOWN` when the check simply could not
/// be made (missing, unreadable, over its size limit).
fn unreadable(e: &ReadError) -> (Verdict, String) {
    let verdict = match e {
        ReadError::Path { .. }
        | ReadError::Symlink { .. }
        | ReadError::NotRegular { .. }
        | ReadError::NotDirectory { .. } => Verdict::Fail,
        ReadError::Missing { .. } | ReadError::TooLarge { .. } | ReadError::Io { .. } => {
            Verdict::Unknown
        }
    };
    (verdict, e.to_string())
}
