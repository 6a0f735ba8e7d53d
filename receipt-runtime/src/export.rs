//! The run export (`receipt.run-export/1`): a conservative, deterministic summary of one run
//! — lineage with missing ranges, per-stage counts, declared side effects, resources only
//! where measured, evidence references, the verification summary and the claim ceiling —
//! and nothing of the run's content beyond counts and digests (docs/SPEC.md §17).
//!
//! The document is RFC 8785 JSON followed by one `\n`: the same ledger (with the same
//! receipt, evidence store and policy) always exports to the same bytes.

use std::collections::BTreeMap;
use std::path::Path;

use receipt_evidence::verify::Outcome as BlobOutcome;
use receipt_primitives::check::{CheckId, Report, Verdict};
use serde_json::{Map, Value, json};

use crate::audit::{Audit, AuditOptions, audit};
use crate::facts::{INVALID_CATEGORY, RunFacts, SeqRange};
use crate::invariants::EvidenceChecked;

/// The schema id of the export document.
pub const EXPORT_SCHEMA: &str = "receipt.run-export/1";

/// The resource measures of `RUN_FINALIZE.totals`, in document order.
pub const RESOURCES: [&str; 6] = [
    "alloc_bytes",
    "cpu_ns",
    "io_read_bytes",
    "io_write_bytes",
    "peak_rss_kb",
    "wall_ns",
];

/// The claims an export can make, in the order they are listed.
pub const CLAIMS: [&str; 7] = [
    "ledger_intact",
    "run_complete",
    "run_succeeded",
    "stage_graph_respected",
    "evidence_verified",
    "resources_measured",
    "invariants_hold",
];

/// Why a run could not be exported at all.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The ledger could not be read.
    #[error("{0}")]
    Ledger(String),
    /// The document could not be encoded.
    #[error("the export could not be encoded: {0}")]
    Encode(#[from] receipt_primitives::jcs::JcsError),
}

/// The integrity checks whose failure leaves no claim standing: every `ledger.*` check but
/// `ledger.head`, then `run.start`.
fn integrity() -> impl Iterator<Item = CheckId> {
    CheckId::run_group("ledger.")
        .filter(|&id| id != CheckId::LedgerHead)
        .chain([CheckId::RunStart])
}

/// The checks a complete run also needs: `ledger.head`, `run.finalize`, `run.stages`, then
/// every `receipt.*` check.
fn completeness() -> impl Iterator<Item = CheckId> {
    [
        CheckId::LedgerHead,
        CheckId::RunFinalize,
        CheckId::RunStages,
    ]
    .into_iter()
    .chain(CheckId::run_group("receipt."))
}

/// Exports the run at `ledger` (verifying it as [`audit`] does) as document bytes.
///
/// # Errors
/// [`ExportError::Ledger`] when the ledger cannot be read at all.
pub fn export_run(ledger: &Path, options: &AuditOptions) -> Result<Vec<u8>, ExportError> {
    let a = audit(ledger, options);
    let doc = document(&a)?;
    to_bytes(&doc)
}

/// The document's bytes: canonical JSON and a newline.
///
/// # Errors
/// [`ExportError::Encode`] for a value without a canonical form.
pub fn to_bytes(doc: &Value) -> Result<Vec<u8>, ExportError> {
    let mut out = receipt_primitives::jcs::to_vec(doc)?;
    out.push(b'\n');
    Ok(out)
}

fn range_json(r: &SeqRange) -> Value {
    json!({"first": r.first, "last": r.last})
}

/// The export document of an audited run.
///
/// # Errors
/// [`ExportError::Ledger`] when the audit could not read the ledger.
pub fn document(a: &Audit) -> Result<Value, ExportError> {
    let f = a
        .facts
        .as_ref()
        .map_err(|e| ExportError::Ledger(e.clone()))?;
    let report = a.report();
    let fin = f.finalizes.last();
    let run_start = f.kinds.contains_key(crate::entry::kind::RUN_START);
    let stages: Map<String, Value> = f
        .stages
        .iter()
        .map(|(name, c)| (name.clone(), serde_json::to_value(c).unwrap_or(Value::Null)))
        .collect();
    let evidence: Vec<Value> = f
        .evidence
        .iter()
        .map(|e| {
            json!({
                "blob": e.reference.blob.to_string(),
                "class": e.reference.class.as_str(),
                "key": e.reference.key,
                "redacted_spans": e.redaction.spans,
                "seq": e.seq,
                "size": e.reference.size,
                "stage": e.stage,
            })
        })
        .collect();
    let resources = resources(f);
    let (level, claims, limits) = ceiling(a, f, &report, &resources);
    let wall = fin
        .and_then(|x| x.totals.as_ref())
        .and_then(|t| t.get("wall_ns"))
        .and_then(Value::as_u64);
    Ok(json!({
        "schema": EXPORT_SCHEMA,
        "run": {
            "program": f.program,
            "producer": f.producer,
            "run_id": f.run_id,
        },
        "status": f.status(),
        "times": {
            "finished_at": fin.and_then(|x| x.finished_at.clone()),
            "started_at": if run_start { f.started_at.clone() } else { None },
            "wall_ns": wall,
        },
        "lineage": {
            "event_count": f.valid,
            "first_seq": f.first_seq,
            "last_entry_sha256": f.last_hash.map(|h| h.to_hex()),
            "last_seq": f.last_seq,
            "missing_event_ranges": f.missing.iter().map(range_json).collect::<Vec<_>>(),
        },
        "entries": f.kinds,
        "stages": stages,
        "side_effects": side_effects(f),
        "resources": resources,
        "evidence": evidence,
        "verification": verification(&report),
        "claim_ceiling": {
            "claims": claims,
            "level": level,
            "limits": limits,
        },
    }))
}

fn side_effects(f: &RunFacts) -> Value {
    let declared: BTreeMap<&str, u64> = f
        .side_effects
        .iter()
        .filter(|(k, _)| k.as_str() != INVALID_CATEGORY)
        .map(|(k, v)| (k.as_str(), *v))
        .collect();
    json!({
        "declared": declared,
        "undeclared_category": f.side_effects.get(INVALID_CATEGORY).copied().unwrap_or(0),
    })
}

/// Every resource measure: `{"available":true,"value":n}` or
/// `{"available":false,"reason":…}`; never a 0 for what was not measured.
fn resources(f: &RunFacts) -> Map<String, Value> {
    let totals = f.finalizes.last().and_then(|x| x.totals.as_ref());
    RESOURCES
        .iter()
        .map(|&name| {
            let v = match totals.map(|t| t.get(name)) {
                None => json!({
                    "available": false,
                    "reason": "the run did not finalize, so its totals were never written",
                }),
                Some(Some(Value::Number(n))) if n.as_u64().is_some() => {
                    json!({"available": true, "value": n})
                }
                Some(Some(Value::Object(o))) => json!({
                    "available": false,
                    "reason": o.get("unavailable").and_then(Value::as_str).unwrap_or("unavailable"),
                }),
                Some(_) => json!({
                    "available": false,
                    "reason": f.unmeasured.get(name).map_or("not measured", String::as_str),
                }),
            };
            (name.to_owned(), v)
        })
        .collect()
}

fn verification(report: &Report) -> Value {
    let mut counts: BTreeMap<&str, u64> = [
        Verdict::Pass,
        Verdict::Warn,
        Verdict::Unknown,
        Verdict::Fail,
    ]
    .into_iter()
    .map(|v| (v.as_str(), 0))
    .collect();
    let mut not_passed: BTreeMap<(&str, &str), u64> = BTreeMap::new();
    for c in &report.checks {
        *counts.entry(c.verdict.as_str()).or_default() += 1;
        if c.verdict != Verdict::Pass {
            *not_passed
                .entry((c.id.as_str(), c.verdict.as_str()))
                .or_default() += 1;
        }
    }
    let not_passed: Vec<Value> = not_passed
        .into_iter()
        .map(|((check, verdict), n)| json!({"check": check, "count": n, "verdict": verdict}))
        .collect();
    json!({
        "counts": counts,
        "not_passed": not_passed,
        "ok": report.ok(),
        "verdict": report.verdict().as_str(),
    })
}

fn all_ok(report: &Report, mut ids: impl Iterator<Item = CheckId>) -> Option<CheckId> {
    ids.find(|&id| report.check(id).is_none_or(|c| !c.verdict.is_ok()))
}

fn ranges_text(missing: &[SeqRange]) -> String {
    missing
        .iter()
        .map(|r| match r.last {
            Some(l) if l == r.first => format!("{l}"),
            Some(l) => format!("{}–{l}", r.first),
            None => format!("{} onwards", r.first),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The claim ceiling: the strongest claims the ledger supports (§17.3).
fn ceiling(
    a: &Audit,
    f: &RunFacts,
    report: &Report,
    resources: &Map<String, Value>,
) -> (&'static str, Vec<&'static str>, Vec<String>) {
    let mut limits: Vec<String> = Vec::new();
    let mut claims: Vec<&'static str> = Vec::new();
    let intact = match all_ok(report, integrity()) {
        Some(id) => {
            limits.push(format!("the ledger's integrity does not hold ({id} did not pass), so nothing beyond these counts can be claimed"));
            false
        }
        None => f.out_of_order == 0 && f.first_bad_line.is_none(),
    };
    if intact {
        claims.push("ledger_intact");
    }
    if !f.missing.is_empty() {
        let crash = f.missing.last().is_some_and(|r| r.last.is_none());
        limits.push(format!(
            "entries {} are missing{}",
            ranges_text(&f.missing),
            if crash {
                ": the ledger ends without RUN_FINALIZE (a crash or a kill; what the run did after its last entry is unknown)"
            } else {
                ""
            }
        ));
    }
    let mut complete = intact && f.is_complete();
    if let Some(id) = all_ok(report, completeness()) {
        limits.push(format!("{id} did not pass"));
        complete = false;
    }
    if complete {
        claims.push("run_complete");
        if f.status() == "ok" {
            claims.push("run_succeeded");
        } else {
            limits.push(format!("the run ended with status {:?}", f.status()));
        }
        let violations = f
            .kinds
            .get(crate::entry::kind::VIOLATION)
            .copied()
            .unwrap_or(0);
        let transitions = report
            .check(CheckId::RunTransitions)
            .is_some_and(|c| c.verdict == Verdict::Pass);
        if violations == 0 && transitions {
            claims.push("stage_graph_respected");
        } else {
            limits.push(format!(
                "{violations} stage-graph violation(s) were recorded"
            ));
        }
        match &a.evidence {
            _ if f.evidence.is_empty() => {}
            EvidenceChecked::Checked(o) => {
                let unverified = o
                    .iter()
                    .filter(|x| !matches!(x.outcome, BlobOutcome::Verified))
                    .count();
                if unverified == 0 && f.bad_evidence.is_empty() {
                    claims.push("evidence_verified");
                } else {
                    limits.push(format!(
                        "{unverified} of {} evidence blob(s) could not be verified by content",
                        o.len()
                    ));
                }
            }
            EvidenceChecked::NotChecked(_) => limits.push(format!(
                "the {} evidence blob(s) were not checked: no evidence store",
                f.evidence.len()
            )),
        }
        let unmeasured: Vec<&str> = resources
            .iter()
            .filter(|(_, v)| v["available"] == Value::Bool(false))
            .map(|(k, _)| k.as_str())
            .collect();
        if unmeasured.is_empty() {
            claims.push("resources_measured");
        } else {
            limits.push(format!("not measured: {}", unmeasured.join(", ")));
        }
        match &a.invariants {
            Some(r) if r.ok() => claims.push("invariants_hold"),
            Some(_) => limits.push("the run policy's invariants do not all hold".to_owned()),
            None => {}
        }
    }
    let level = if !intact {
        "none"
    } else if !complete {
        "partial"
    } else {
        "complete"
    };
    (level, claims, limits)
}
