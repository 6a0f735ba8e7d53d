//! One verification of a run beyond its chain and receipt: the ledger's `EVIDENCE` entries
//! (`run.evidence`), their blobs in the evidence store (`evidence.blob`) and, with a run
//! policy, the run invariants (docs/SPEC.md §16.10–16.11). `cargo receipt verify-run` and
//! the run export both use it.

use std::path::{Path, PathBuf};

use receipt_evidence::{EvidenceStore, OpenOptions, SealKey};
use receipt_primitives::check::{CheckId, Report, Verdict, echo};

use crate::facts::RunFacts;
use crate::invariants::{self, EvidenceChecked, Inputs, RunPolicy};
use crate::verify::{RunReport, verify_run};

/// Where the evidence store of a run is.
#[derive(Debug, Clone, Default)]
pub enum StoreChoice {
    /// `L.evidence` beside the ledger `L` ([`crate::evidence::default_store`]).
    #[default]
    BesideLedger,
    /// This directory or `s3://bucket/prefix`.
    At(String),
}

/// What to verify besides the ledger and its receipt.
#[derive(Debug, Clone, Default)]
pub struct AuditOptions {
    /// The run receipt (default `L.receipt.json`).
    pub receipt: Option<PathBuf>,
    /// The evidence store.
    pub store: StoreChoice,
    /// The key that verifies sealed blobs' content (without it: presence only).
    pub key: Option<SealKey>,
    /// The run policy whose invariants are evaluated.
    pub policy: Option<RunPolicy>,
}

/// Everything found about one run.
#[derive(Debug)]
pub struct Audit {
    /// [`verify_run`]'s report.
    pub run: RunReport,
    /// The ledger's facts, or why it could not be read.
    pub facts: Result<RunFacts, String>,
    /// The evidence blobs' outcomes.
    pub evidence: EvidenceChecked,
    /// `run.evidence`, then one `evidence.blob` per reference.
    pub evidence_report: Report,
    /// The invariants, when a policy was given.
    pub invariants: Option<Report>,
}

impl Audit {
    /// Every check: the run's, the evidence checks, then the invariants.
    pub fn report(&self) -> Report {
        let mut r = self.run.report.clone();
        r.extend(self.evidence_report.clone());
        if let Some(i) = &self.invariants {
            r.extend(i.clone());
        }
        r
    }
}

/// Opens the store of `ledger` for reading (never creating it).
///
/// # Errors
/// Why it cannot be opened, as one sentence.
pub fn open_store(
    ledger: &Path,
    choice: &StoreChoice,
    key: Option<&SealKey>,
) -> Result<EvidenceStore, String> {
    let location = match choice {
        StoreChoice::BesideLedger => crate::evidence::default_store(ledger).display().to_string(),
        StoreChoice::At(l) => l.clone(),
    };
    if matches!(choice, StoreChoice::BesideLedger) && !Path::new(&location).exists() {
        return Err(format!(
            "the evidence store {location} does not exist (name one with --evidence)"
        ));
    }
    let store = EvidenceStore::open(&location, &OpenOptions::default())
        .map_err(|e| echo(&e.to_string()))?;
    Ok(match key {
        Some(k) => store.with_key(k.clone()),
        None => store,
    })
}

/// Verifies the run ledger at `ledger` with its receipt, evidence and policy.
pub fn audit(ledger: &Path, options: &AuditOptions) -> Audit {
    let run = verify_run(ledger, options.receipt.as_deref());
    let facts = RunFacts::read(ledger).map_err(|e| e.to_string());
    let mut evidence_report = Report::default();
    let evidence = match &facts {
        Err(why) => {
            evidence_report.push(
                CheckId::RunEvidence,
                Verdict::Unknown,
                None,
                format!("not checked: {}", echo(why)),
            );
            EvidenceChecked::NotChecked(why.clone())
        }
        Ok(f) => {
            match f.bad_evidence.first() {
                Some((seq, why)) => evidence_report.push(
                    CheckId::RunEvidence,
                    Verdict::Fail,
                    None,
                    format!(
                        "the EVIDENCE entry at seq {seq} is malformed: {}{}",
                        echo(why),
                        match f.bad_evidence.len() {
                            1 => String::new(),
                            n => format!(" ({} more)", n - 1),
                        }
                    ),
                ),
                None => evidence_report.push(
                    CheckId::RunEvidence,
                    Verdict::Pass,
                    None,
                    format!(
                        "{} EVIDENCE entr{} well formed, each inside its open stage",
                        f.evidence.len(),
                        if f.evidence.len() == 1 {
                            "y is"
                        } else {
                            "ies are"
                        }
                    ),
                ),
            }
            let refs: Vec<_> = f.evidence.iter().map(|e| e.reference.clone()).collect();
            if refs.is_empty() {
                EvidenceChecked::Checked(Vec::new())
            } else {
                match open_store(ledger, &options.store, options.key.as_ref()) {
                    Ok(store) => {
                        let outcomes = receipt_evidence::verify::verify_refs(&store, &refs);
                        evidence_report.extend(receipt_evidence::verify::report(&outcomes));
                        EvidenceChecked::Checked(outcomes)
                    }
                    Err(why) => {
                        evidence_report.extend(receipt_evidence::verify::report_store_unavailable(
                            &refs, &why,
                        ));
                        EvidenceChecked::NotChecked(why)
                    }
                }
            }
        }
    };
    let invariants = options.policy.as_ref().map(|p| {
        invariants::evaluate(
            p,
            Inputs {
                facts: facts.as_ref().map_err(String::as_str),
                verification: &run.report,
                evidence: &evidence,
            },
        )
    });
    Audit {
        run,
        facts,
        evidence,
        evidence_report,
        invariants,
    }
}
