//! One named check over many receipts: a single PASS line when every instance held, else
//! one line per failing instance.

use receipt_primitives::check::{Check, CheckId, Report, Verdict};

/// The outcomes of one check over the entries of a chain.
pub(super) struct Tally {
    id: CheckId,
    passed: usize,
    failures: Vec<Check>,
}

impl Tally {
    pub(super) fn new(id: CheckId) -> Self {
        Tally {
            id,
            passed: 0,
            failures: Vec::new(),
        }
    }

    pub(super) fn pass(&mut self) {
        self.passed += 1;
    }

    pub(super) fn fail(&mut self, verdict: Verdict, file: &str, detail: String) {
        self.failures.push(Check {
            id: self.id,
            verdict,
            detail,
            file: Some(file.to_owned()),
        });
    }

    /// Adds the outcome to `report`: `what` is the sentence of the PASS line, said of
    /// every receipt checked.
    pub(super) fn finish(self, report: &mut Report, what: &str) {
        if self.failures.is_empty() && self.passed > 0 {
            let n = self.passed;
            report.push(
                self.id,
                Verdict::Pass,
                None,
                format!("{what} ({n} receipt{})", if n == 1 { "" } else { "s" }),
            );
        }
        report.checks.extend(self.failures);
    }
}
