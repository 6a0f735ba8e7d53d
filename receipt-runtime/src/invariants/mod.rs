//! Run invariants: the run policy file (TOML) and the six built-in invariants plus the
//! user-declared ones, evaluated over a ledger's facts, its verification report and its
//! evidence checks, each PASS, WARN, FAIL or UNKNOWN with one sentence (docs/SPEC.md §16.11).
//!
//! | Check | Holds when |
//! |---|---|
//! | `invariant.ledger_chain_valid` | the ledger's integrity checks pass (read, parse, canonical, hash, seq, chain, run id, head, start) |
//! | `invariant.receipt_completeness` | every stage that entered exited, the run receipt covers the ledger, every `EVIDENCE` entry is well formed, every required evidence key is recorded and every blob is retrievable and matches its digest |
//! | `invariant.evaluation_completeness` | the decision stage completed and recorded its decision evidence (an attested evaluation), and nothing was silently downgraded (an `ok` status over a failed required stage, required-sealed evidence kept public) |
//! | `invariant.finalization_completeness` | one `RUN_FINALIZE`, the last entry, status `ok`, nothing open, the decision stage the last top-level stage before it |
//! | `invariant.run_shape.single_finalize` | exactly one `RUN_FINALIZE`, on the last line |
//! | `invariant.run_shape.stage_required_path` | the required stages completed in order, and every stage transition was legal |
//! | `invariant.user` | one per `[[invariant]]` of the policy |
//!
//! The assignment of findings to the six names follows receipt-kernel's descriptions of
//! them.
//!
//! A property that needs the absence of something (no forbidden stage, at most n calls) is
//! UNKNOWN, never PASS, when entries are missing from the ledger.
//!
//! One file over 600 lines on purpose: the six evaluators share one finding model and read
//! the same facts, and the assignment of findings to invariants is only reviewable side by
//! side; the policy file's reading is in `policy.rs`.

use receipt_evidence::Class;
use receipt_evidence::verify::RefOutcome;
use receipt_primitives::check::{Check, CheckId, Report, Verdict, echo};

use crate::facts::{Outcome, RunFacts, SeqRange};

mod policy;

pub use policy::{LEVELS, MAX_POLICY_BYTES, PolicyError, Rule, RunPolicy, UserInvariant};

/// What is known about the ledger's evidence blobs.
#[derive(Debug, Clone)]
pub enum EvidenceChecked {
    /// Every reference was looked up in the store, in ledger order.
    Checked(Vec<RefOutcome>),
    /// No store could be consulted; why.
    NotChecked(String),
}

/// Everything the invariants are evaluated over.
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a> {
    /// The ledger's facts, or why it could not be read.
    pub facts: Result<&'a RunFacts, &'a str>,
    /// The ledger's verification report ([`crate::verify::verify_run`]).
    pub verification: &'a Report,
    /// The evidence blobs' outcomes.
    pub evidence: &'a EvidenceChecked,
}

/// The ledger integrity checks behind `invariant.ledger_chain_valid`: every `ledger.*`
/// check, then `run.start`.
fn chain_checks() -> impl Iterator<Item = CheckId> {
    CheckId::run_group("ledger.").chain([CheckId::RunStart])
}

/// The receipt checks behind `invariant.receipt_completeness`: `run.stages`, then every
/// `receipt.*` check.
fn receipt_checks() -> impl Iterator<Item = CheckId> {
    [CheckId::RunStages]
        .into_iter()
        .chain(CheckId::run_group("receipt."))
}

/// One finding: a verdict and its sentence. Findings combine to their worst.
type Finding = (Verdict, String);

fn worst(findings: impl IntoIterator<Item = Finding>, pass: String) -> Finding {
    findings
        .into_iter()
        .fold(None::<Finding>, |acc, f| match acc {
            Some(a) if a.0 >= f.0 => Some(a),
            _ => Some(f),
        })
        .unwrap_or((Verdict::Pass, pass))
}

/// The worst of the report's checks among `ids` that did not pass, as a finding.
fn from_report(report: &Report, ids: impl IntoIterator<Item = CheckId>) -> Vec<Finding> {
    let mut out: Vec<Finding> = Vec::new();
    for id in ids {
        match report.check(id) {
            Some(Check {
                verdict: Verdict::Pass,
                ..
            }) => {}
            Some(c) => out.push((c.verdict, format!("{}: {}", c.id, c.detail))),
            None => out.push((Verdict::Unknown, format!("{id} was not checked"))),
        }
    }
    out
}

fn ranges(missing: &[SeqRange]) -> String {
    let parts: Vec<String> = missing
        .iter()
        .take(4)
        .map(|r| match r.last {
            Some(l) if l == r.first => format!("{}", r.first),
            Some(l) => format!("{}–{l}", r.first),
            None => format!("{} onwards", r.first),
        })
        .collect();
    let more = if missing.len() > 4 { ", …" } else { "" };
    format!("{}{more}", parts.join(", "))
}

/// Evaluates every invariant: the six built-in ones, then one `invariant.user` check per
/// user-declared invariant, in file order.
pub fn evaluate(policy: &RunPolicy, inputs: Inputs<'_>) -> Report {
    let mut report = Report::default();
    let facts = match inputs.facts {
        Ok(f) => f,
        Err(why) => {
            let ids = BUILTIN
                .iter()
                .copied()
                .chain(policy.invariants.iter().map(|_| CheckId::InvariantUser));
            for id in ids {
                report.push(
                    id,
                    Verdict::Unknown,
                    None,
                    format!("not evaluated: the ledger could not be read: {}", echo(why)),
                );
            }
            return report;
        }
    };
    let v = inputs.verification;
    let (verdict, detail) = worst(
        from_report(v, chain_checks()),
        format!(
            "all {} entries are canonical, hashed and chained from the genesis link of run {}",
            facts.valid,
            facts.run_id.as_deref().map(echo).unwrap_or_default()
        ),
    );
    report.push(CheckId::InvariantLedgerChainValid, verdict, None, detail);

    let (verdict, detail) = receipt_completeness(policy, facts, v, inputs.evidence);
    report.push(CheckId::InvariantReceiptCompleteness, verdict, None, detail);
    let (verdict, detail) = evaluation_completeness(policy, facts);
    report.push(
        CheckId::InvariantEvaluationCompleteness,
        verdict,
        None,
        detail,
    );
    let (verdict, detail) = finalization_completeness(policy, facts);
    report.push(
        CheckId::InvariantFinalizationCompleteness,
        verdict,
        None,
        detail,
    );
    let (verdict, detail) = single_finalize(facts);
    report.push(CheckId::InvariantSingleFinalize, verdict, None, detail);
    let (verdict, detail) = stage_required_path(policy, facts, v);
    report.push(CheckId::InvariantStageRequiredPath, verdict, None, detail);
    for inv in &policy.invariants {
        let (verdict, detail) = user(inv, facts);
        let detail = match &inv.description {
            Some(d) => format!("{} ({}): {detail}", inv.id, echo(d)),
            None => format!("{}: {detail}", inv.id),
        };
        report.push(CheckId::InvariantUser, verdict, None, detail);
    }
    report
}

/// The built-in invariants, in report order.
pub const BUILTIN: [CheckId; 6] = [
    CheckId::InvariantLedgerChainValid,
    CheckId::InvariantReceiptCompleteness,
    CheckId::InvariantEvaluationCompleteness,
    CheckId::InvariantFinalizationCompleteness,
    CheckId::InvariantSingleFinalize,
    CheckId::InvariantStageRequiredPath,
];

/// Receipts and evidence are complete: every stage call exited, the run receipt covers the
/// ledger, every `EVIDENCE` entry is well formed, every required key is recorded and every
/// blob is retrievable and matches its digest.
fn receipt_completeness(
    policy: &RunPolicy,
    facts: &RunFacts,
    v: &Report,
    evidence: &EvidenceChecked,
) -> Finding {
    let mut found = from_report(v, receipt_checks());
    if let Some((id, name)) = facts.open.first() {
        found.push((
            Verdict::Fail,
            format!(
                "stage {:?} (id {id}) entered and never exited ({} stage call(s) open at the end)",
                echo(name),
                facts.open.len()
            ),
        ));
    }
    for (seq, why) in &facts.bad_evidence {
        found.push((
            Verdict::Fail,
            format!(
                "the EVIDENCE entry at seq {seq} is malformed: {}",
                echo(why)
            ),
        ));
    }
    let gaps = !facts.missing.is_empty();
    for key in policy
        .required_evidence
        .iter()
        .chain(&policy.sealed_evidence)
    {
        if facts.evidence.iter().any(|e| &e.reference.key == key) {
            continue;
        }
        found.push(if gaps {
            (
                Verdict::Unknown,
                format!(
                    "required evidence {:?} is not among the readable entries, and entries {} are missing",
                    echo(key),
                    ranges(&facts.missing)
                ),
            )
        } else {
            (
                Verdict::Fail,
                format!("required evidence {:?} was never recorded", echo(key)),
            )
        });
    }
    let mut presence_only = 0;
    match evidence {
        EvidenceChecked::Checked(outcomes) => {
            for o in outcomes {
                if matches!(o.outcome, receipt_evidence::verify::Outcome::PresenceOnly) {
                    presence_only += 1;
                }
                if o.verdict() != Verdict::Pass {
                    found.push((o.verdict(), o.detail()));
                }
            }
        }
        EvidenceChecked::NotChecked(why) if !facts.evidence.is_empty() => found.push((
            Verdict::Unknown,
            format!(
                "{} evidence blob(s) could not be checked: {}",
                facts.evidence.len(),
                echo(why)
            ),
        )),
        EvidenceChecked::NotChecked(_) => {}
    }
    let n_req = policy.required_evidence.len() + policy.sealed_evidence.len();
    let tail = if presence_only > 0 {
        format!(" ({presence_only} sealed, presence only: no evidence key)")
    } else {
        String::new()
    };
    worst(
        found,
        format!(
            "all {} stage calls exited and the run receipt covers all {} entries; {} evidence reference(s), all {n_req} required key(s) present, every blob retrieved and matching its digest{tail}",
            facts.exits.len(),
            facts.valid,
            facts.evidence.len()
        ),
    )
}

/// The last top-level exit before the finalize entry.
fn last_top_exit(facts: &RunFacts) -> Option<&crate::facts::Exit> {
    let fin = facts.finalizes.last().map_or(u64::MAX, |f| f.seq);
    facts
        .exits
        .iter()
        .rev()
        .find(|e| e.depth == 0 && e.seq < fin)
}

/// The evaluation is attested and nothing was silently downgraded: the decision stage
/// completed and recorded its decision evidence; an `ok` status hides no failed required
/// stage; no required-sealed evidence was kept public.
fn evaluation_completeness(policy: &RunPolicy, facts: &RunFacts) -> Finding {
    let mut found: Vec<Finding> = Vec::new();
    let gaps = !facts.missing.is_empty();
    let absent = |found: &mut Vec<Finding>, sentence: String| {
        found.push(if gaps {
            (
                Verdict::Unknown,
                format!(
                    "{sentence}, and entries {} are missing",
                    ranges(&facts.missing)
                ),
            )
        } else {
            (Verdict::Fail, sentence)
        });
    };
    let mut attested = String::new();
    if let Some(decision) = &policy.decision_stage {
        let calls: Vec<_> = facts
            .exits
            .iter()
            .filter(|e| &e.stage == decision)
            .collect();
        match calls.iter().rev().find(|e| e.outcome == Outcome::Ok) {
            None => absent(
                &mut found,
                format!(
                    "the decision stage {:?} never completed ({} call(s))",
                    echo(decision),
                    calls.len()
                ),
            ),
            Some(e) => match &policy.decision_evidence {
                Some(key)
                    if !facts
                        .evidence
                        .iter()
                        .any(|x| &x.reference.key == key && x.stage_id == Some(e.id)) =>
                {
                    absent(
                        &mut found,
                        format!(
                            "the decision stage {:?} (id {}) recorded no evidence {:?}: the evaluation is not attested",
                            echo(decision),
                            e.id,
                            echo(key)
                        ),
                    );
                }
                Some(key) => {
                    attested = format!(
                        "the decision stage {:?} (id {}) completed and recorded {:?}; ",
                        echo(decision),
                        e.id,
                        echo(key)
                    );
                }
                None => {
                    attested = format!(
                        "the decision stage {:?} (id {}) completed; ",
                        echo(decision),
                        e.id
                    );
                }
            },
        }
    }
    for key in &policy.sealed_evidence {
        let mut refs = facts.evidence.iter().filter(|e| &e.reference.key == key);
        if let Some(first) = refs.next()
            && first.reference.class != Class::Sealed
            && !refs.any(|e| e.reference.class == Class::Sealed)
        {
            found.push((
                Verdict::Fail,
                format!(
                    "downgrade: evidence {:?} was recorded as {} (seq {}), but the policy requires it sealed",
                    echo(key),
                    first.reference.class,
                    first.seq
                ),
            ));
        }
    }
    if facts.status() == "ok" {
        for stage in policy.required_stages.iter().chain(&policy.decision_stage) {
            let last = facts.exits.iter().rev().find(|e| &e.stage == stage);
            if let Some(e) = last
                && e.outcome != Outcome::Ok
            {
                found.push((
                    Verdict::Fail,
                    format!(
                        "silent downgrade: the run reports status \"ok\", but required stage {:?} last ended with {} (seq {})",
                        echo(stage),
                        e.outcome.as_str(),
                        e.seq
                    ),
                ));
            }
        }
        let violations = facts.kinds.get(crate::entry::kind::VIOLATION).copied();
        if let Some(n) = violations.filter(|&n| n > 0) {
            found.push((
                Verdict::Warn,
                format!("the run reports status \"ok\" with {n} recorded stage-graph violation(s)"),
            ));
        }
    }
    worst(
        found,
        format!(
            "{attested}no required stage failed under the run's status {:?}, and no evidence was downgraded",
            facts.status()
        ),
    )
}

/// The run ended cleanly: one `RUN_FINALIZE`, the last entry, status `ok`, nothing open, and
/// the decision stage the last top-level stage before it (the decision it finalizes).
fn finalization_completeness(policy: &RunPolicy, facts: &RunFacts) -> Finding {
    let Some(fin) = facts.finalizes.last() else {
        return (
            Verdict::Fail,
            format!(
                "the run did not finalize: the ledger ends at seq {} without RUN_FINALIZE",
                facts
                    .last_seq
                    .map_or_else(|| "(none)".to_owned(), |s| s.to_string())
            ),
        );
    };
    let mut found: Vec<Finding> = Vec::new();
    if facts.last_kind.as_deref() != Some(crate::entry::kind::RUN_FINALIZE) {
        found.push((
            Verdict::Fail,
            format!(
                "RUN_FINALIZE (seq {}) is not the last entry (seq {})",
                fin.seq,
                facts.last_seq.unwrap_or_default()
            ),
        ));
    }
    if fin.status != "ok" {
        found.push((
            Verdict::Fail,
            format!("the run ended with status {:?}", echo(&fin.status)),
        ));
    }
    if let Some((id, name)) = facts.open.first() {
        found.push((
            Verdict::Fail,
            format!(
                "stage {:?} (id {id}) was still open at RUN_FINALIZE",
                echo(name)
            ),
        ));
    }
    let mut decided = String::new();
    if let Some(decision) = &policy.decision_stage {
        match last_top_exit(facts) {
            None => found.push((
                Verdict::Fail,
                format!(
                    "no top-level stage ran before RUN_FINALIZE; the decision stage {:?} is required last",
                    echo(decision)
                ),
            )),
            Some(e) if &e.stage != decision => found.push((
                Verdict::Fail,
                format!(
                    "the last top-level stage before RUN_FINALIZE is {:?} (seq {}), not the decision stage {:?}",
                    echo(&e.stage),
                    e.seq,
                    echo(decision)
                ),
            )),
            Some(e) if e.outcome != Outcome::Ok => found.push((
                Verdict::Fail,
                format!(
                    "the decision stage {:?} ended with {} (seq {}) right before RUN_FINALIZE",
                    echo(decision),
                    e.outcome.as_str(),
                    e.seq
                ),
            )),
            Some(e) => {
                decided = format!(
                    ", right after the decision stage {:?} (id {})",
                    echo(decision),
                    e.id
                );
            }
        }
    }
    worst(
        found,
        format!(
            "the run finalized with status \"ok\" as its last entry (seq {}), nothing open{decided}",
            fin.seq
        ),
    )
}

fn single_finalize(facts: &RunFacts) -> Finding {
    let n = facts.finalizes.len();
    let last = facts.last_kind.as_deref() == Some(crate::entry::kind::RUN_FINALIZE);
    match n {
        0 => (
            Verdict::Fail,
            "the ledger has no RUN_FINALIZE entry".to_owned(),
        ),
        1 if !last => (
            Verdict::Fail,
            format!(
                "the RUN_FINALIZE entry (seq {}) is not the last entry",
                facts.finalizes[0].seq
            ),
        ),
        1 if !facts.missing.is_empty() => (
            Verdict::Unknown,
            format!(
                "one RUN_FINALIZE among the readable entries, but entries {} are missing",
                ranges(&facts.missing)
            ),
        ),
        1 => (
            Verdict::Pass,
            format!(
                "exactly one RUN_FINALIZE, the last entry (seq {})",
                facts.finalizes[0].seq
            ),
        ),
        _ => (
            Verdict::Fail,
            format!(
                "{n} RUN_FINALIZE entries (seq {} and {})",
                facts.finalizes[0].seq, facts.finalizes[1].seq
            ),
        ),
    }
}

fn stage_required_path(policy: &RunPolicy, facts: &RunFacts, v: &Report) -> Finding {
    let mut found = from_report(v, [CheckId::RunTransitions]);
    let mut want = policy.required_stages.iter().peekable();
    let mut done: Vec<(String, u64)> = Vec::new();
    for e in &facts.exits {
        if e.outcome == Outcome::Ok
            && let Some(w) = want.peek()
            && **w == e.stage
        {
            done.push((e.stage.clone(), e.seq));
            want.next();
        }
    }
    if let Some(next) = want.next() {
        let after = done.last().map_or_else(
            || "at the start of the run".to_owned(),
            |(s, seq)| format!("after {:?} (seq {seq})", echo(s)),
        );
        let calls = facts.stages.get(next.as_str()).copied().unwrap_or_default();
        let how = if calls.calls == 0 {
            "was never called".to_owned()
        } else {
            format!(
                "did not complete {after} ({} call(s): {} ok, {} err, {} panic, {} open)",
                calls.calls, calls.ok, calls.err, calls.panic, calls.open
            )
        };
        let sentence = format!(
            "required stage {:?} (number {} of {}) {how}",
            echo(next),
            done.len() + 1,
            policy.required_stages.len()
        );
        found.push(if facts.missing.is_empty() {
            (Verdict::Fail, sentence)
        } else {
            (
                Verdict::Unknown,
                format!(
                    "{sentence}, and entries {} are missing",
                    ranges(&facts.missing)
                ),
            )
        });
    }
    let path: Vec<String> = done.iter().map(|(s, _)| echo(s)).collect();
    worst(
        found,
        if path.is_empty() {
            "the policy requires no stages, and every stage transition was legal".to_owned()
        } else {
            format!(
                "the required stages completed in order ({}), and every stage transition was legal",
                path.join(" → ")
            )
        },
    )
}

fn user(inv: &UserInvariant, facts: &RunFacts) -> Finding {
    let gaps = !facts.missing.is_empty();
    let scope = inv.stage.as_deref();
    let scope_text = scope.map_or_else(|| "the run".to_owned(), |s| format!("stage {:?}", echo(s)));
    let counts = scope
        .map(|s| facts.stages.get(s).copied().unwrap_or_default())
        .unwrap_or_default();
    // An absence proven only over the readable entries is not proven.
    let absence = |ok: bool, pass: String, fail: String| -> Finding {
        match (ok, gaps) {
            (false, _) => (Verdict::Fail, fail),
            (true, false) => (Verdict::Pass, pass),
            (true, true) => (
                Verdict::Unknown,
                format!(
                    "{pass} among the readable entries, but entries {} are missing",
                    ranges(&facts.missing)
                ),
            ),
        }
    };
    let presence = |ok: bool, pass: String, fail: String| -> Finding {
        match (ok, gaps) {
            (true, _) => (Verdict::Pass, pass),
            (false, false) => (Verdict::Fail, fail),
            (false, true) => (
                Verdict::Unknown,
                format!("{fail}, and entries {} are missing", ranges(&facts.missing)),
            ),
        }
    };
    match &inv.rule {
        Rule::Forbidden => absence(
            counts.calls == 0,
            format!("{scope_text} was never called"),
            format!(
                "{scope_text} is forbidden and was called {} time(s)",
                counts.calls
            ),
        ),
        Rule::MinCalls(n) => presence(
            counts.calls >= *n,
            format!(
                "{scope_text} was called {} time(s), at least {n}",
                counts.calls
            ),
            format!(
                "{scope_text} was called {} time(s), fewer than {n}",
                counts.calls
            ),
        ),
        Rule::MaxCalls(n) => absence(
            counts.calls <= *n,
            format!(
                "{scope_text} was called {} time(s), at most {n}",
                counts.calls
            ),
            format!(
                "{scope_text} was called {} time(s), more than {n}",
                counts.calls
            ),
        ),
        Rule::MaxFailures(n) => {
            let failures = match scope {
                Some(_) => counts.err + counts.panic,
                None => facts.stages.values().map(|c| c.err + c.panic).sum(),
            };
            absence(
                failures <= *n,
                format!("{scope_text} had {failures} failed call(s), at most {n}"),
                format!("{scope_text} had {failures} failed call(s), more than {n}"),
            )
        }
        Rule::MaxEventLevel(ix) => {
            let above = |level: &str| {
                LEVELS
                    .iter()
                    .position(|l| *l == level)
                    .is_none_or(|p| p > *ix)
            };
            let n: u64 = match scope {
                Some(s) => facts
                    .stage_event_levels
                    .iter()
                    .filter(|((st, l), _)| st == s && above(l))
                    .map(|(_, n)| n)
                    .sum(),
                None => facts
                    .event_levels
                    .iter()
                    .filter(|(l, _)| above(l))
                    .map(|(_, n)| n)
                    .sum(),
            };
            absence(
                n == 0,
                format!("no event in {scope_text} is above {}", LEVELS[*ix]),
                format!("{n} event(s) in {scope_text} are above {}", LEVELS[*ix]),
            )
        }
        Rule::MaxWallMs(ms) => {
            let limit = ms.saturating_mul(1_000_000);
            let slowest = facts
                .exits
                .iter()
                .filter(|e| Some(e.stage.as_str()) == scope)
                .max_by_key(|e| e.wall_ns);
            match slowest {
                Some(e) if e.wall_ns > limit => (
                    Verdict::Fail,
                    format!(
                        "a call of {scope_text} (seq {}) took {} ms, more than {ms} ms",
                        e.seq,
                        e.wall_ns / 1_000_000
                    ),
                ),
                _ => absence(
                    true,
                    format!("every call of {scope_text} took at most {ms} ms"),
                    String::new(),
                ),
            }
        }
        Rule::Evidence(key) => {
            let hit = facts.evidence.iter().find(|e| {
                &e.reference.key == key && (scope.is_none() || e.stage.as_deref() == scope)
            });
            presence(
                hit.is_some(),
                format!(
                    "evidence {:?} was recorded in {scope_text} (seq {})",
                    echo(key),
                    hit.map_or(0, |e| e.seq)
                ),
                format!("no evidence {:?} was recorded in {scope_text}", echo(key)),
            )
        }
    }
}
