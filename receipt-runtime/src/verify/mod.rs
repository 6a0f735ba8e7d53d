//! Verification of a run ledger and its receipt, streaming in constant memory: chain, seq,
//! canonical bytes, finalize, stage transitions, and receipt ↔ ledger consistency.
//!
//! The reading pipeline (a reader thread, lines checked on their own in parallel) is in
//! `read`; the checks that need lines in order in `ordered`, the stage-graph replay in
//! `stages`, and the comparison with the receipt in `receipt`.

mod findings;
mod ordered;
mod payload;
mod read;
mod receipt;
mod stages;

use std::fmt;
use std::path::{Path, PathBuf};

pub use receipt_primitives::check::{Check, CheckId, Report, Verdict};

use crate::ledger::receipt_path;
use findings::Findings;
use read::scan_ledger;
use receipt::check_receipt;

pub use crate::entry::MAX_LINE_BYTES;

/// Largest run receipt `verify_run` reads (docs/SPEC.md §10.6).
pub const MAX_RECEIPT_BYTES: u64 = 64 << 20;

/// Every check of one run, in the order of [`CheckId::RUN`].
#[derive(Debug, Clone)]
pub struct RunReport {
    /// The ledger verified.
    pub ledger: PathBuf,
    /// The receipt compared against it.
    pub receipt: PathBuf,
    /// The checks.
    pub report: Report,
}

impl RunReport {
    /// Whether no check is FAIL or UNKNOWN.
    pub fn ok(&self) -> bool {
        self.report.ok()
    }

    /// The check `id`.
    pub fn check(&self, id: CheckId) -> Option<&Check> {
        self.report.check(id)
    }

    /// The worst verdict.
    pub fn verdict(&self) -> Verdict {
        self.report.verdict()
    }

    /// The report as pretty-printed JSON, naming the ledger and receipt verified.
    pub fn to_json(&self) -> String {
        self.report.to_json(&[
            ("ledger", self.ledger.display().to_string().into()),
            ("receipt", self.receipt.display().to_string().into()),
        ])
    }
}

impl fmt::Display for RunReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.report.fmt(f)
    }
}
/// `<ledger>.receipt.json`) and head file (`<ledger>.head`).
///
/// Never panics and never returns early with an error: every problem, including an
/// unreadable file, becomes a FAIL or UNKNOWN check with a reason. Memory does not grow
/// with the ledger (only with the number of distinct stage names, open stages and threads).
pub fn verify_run(ledger_path: &Path, receipt: Option<&Path>) -> RunReport {
    let receipt_file = receipt.map_or_else(|| receipt_path(ledger_path), Path::to_owned);
    let mut f = Findings::new();
    // On a pool thread, so that each group's `rayon::join` starts on a worker rather than
    // being injected into the pool and waited for from outside.
    let fold = rayon::scope(|_| scan_ledger(ledger_path, &mut f));
    if let Some(fold) = fold {
        check_receipt(&receipt_file, &fold, &mut f);
    } else {
        for name in CheckId::RUN
            .into_iter()
            .filter(|&n| n != CheckId::LedgerRead)
        {
            f.add(
                name,
                Verdict::Unknown,
                "not checked: the ledger could not be read.".into(),
            );
        }
    }
    RunReport {
        ledger: ledger_path.to_owned(),
        receipt: receipt_file,
        report: f.into_report(),
    }
}
