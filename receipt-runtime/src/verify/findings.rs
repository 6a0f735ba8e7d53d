//! What the checks found: the worst finding and a count per check id, turned into the
//! report with every finding kept (fail closed).

use std::collections::BTreeMap;

use receipt_primitives::check::{CheckId, Report, Verdict};

/// Collects the first problem and a count per check.
pub(super) struct Findings {
    found: BTreeMap<CheckId, (Verdict, String, u64)>,
    pass: BTreeMap<CheckId, String>,
}

impl Findings {
    pub(super) fn new() -> Self {
        Findings {
            found: BTreeMap::new(),
            pass: BTreeMap::new(),
        }
    }

    pub(super) fn add(&mut self, name: CheckId, verdict: Verdict, detail: String) {
        let e = self.found.entry(name).or_insert((verdict, detail, 0));
        if verdict > e.0 {
            e.0 = verdict;
        }
        e.2 += 1;
    }

    pub(super) fn pass(&mut self, name: CheckId, detail: String) {
        self.pass.insert(name, detail);
    }

    /// One check per id of [`CheckId::RUN`], in that order: its worst finding (and how many
    /// more), else a pass. A finding under any other id is kept too, after them, so no
    /// finding is ever dropped (fail closed).
    pub(super) fn into_report(mut self) -> Report {
        let mut report = Report::default();
        let mut emit =
            |id: CheckId, found: Option<(Verdict, String, u64)>, pass: Option<String>| {
                let (verdict, detail) = match found {
                    Some((verdict, detail, n)) if n > 1 => (
                        verdict,
                        format!("{detail} ({} more problems of this kind)", n - 1),
                    ),
                    Some((verdict, detail, _)) => (verdict, detail),
                    None => (
                        Verdict::Pass,
                        pass.unwrap_or_else(|| "no problem found.".to_owned()),
                    ),
                };
                report.push(id, verdict, None, detail);
            };
        for id in CheckId::RUN {
            let found = self.found.remove(&id);
            emit(id, found, self.pass.remove(&id));
        }
        for (id, found) in std::mem::take(&mut self.found) {
            emit(id, Some(found), None);
        }
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every finding reaches the report, whatever its id: one under an id outside
    /// [`CheckId::RUN`] is kept after the run's checks, and a pass recorded for an id with a
    /// finding never hides it (fail closed).
    #[test]
    fn no_finding_is_dropped_from_the_report() {
        let mut f = Findings::new();
        f.pass(CheckId::LedgerSeq, "looked fine.".into());
        f.add(
            CheckId::LedgerSeq,
            Verdict::Fail,
            "line 3 has seq 7.".into(),
        );
        f.add(
            CheckId::ChainHead,
            Verdict::Unknown,
            "outside the run's list.".into(),
        );
        let report = f.into_report();
        let verdict = |id| report.checks.iter().find(|c| c.id == id).map(|c| c.verdict);
        assert_eq!(verdict(CheckId::LedgerSeq), Some(Verdict::Fail));
        assert_eq!(verdict(CheckId::ChainHead), Some(Verdict::Unknown));
        assert_eq!(report.checks.len(), CheckId::RUN.len() + 1);
        assert!(
            CheckId::RUN
                .iter()
                .filter(|&&id| id != CheckId::LedgerSeq)
                .all(|&id| verdict(id) == Some(Verdict::Pass))
        );
    }
}
