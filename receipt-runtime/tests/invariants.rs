//! Every run invariant has a passing and a failing fixture: real runs of a small pipeline,
//! some then tampered with, crashed or stripped of their receipt.

mod runs;

use std::path::Path;

use receipt_primitives::check::{CheckId, Report, Verdict};
use receipt_runtime::audit::{AuditOptions, audit};
use receipt_runtime::invariants::RunPolicy;
use runs::Scenario;

const POLICY: &str = r#"
[stages]
required = ["fetch", "train", "evaluate", "decide"]

[finalize]
decision_stage = "decide"
"#;

fn policy(text: &str) -> RunPolicy {
    RunPolicy::from_toml(text, "policy.toml").unwrap()
}

fn invariants(ledger: &Path, text: &str) -> Report {
    let a = audit(
        ledger,
        &AuditOptions {
            policy: Some(policy(text)),
            ..AuditOptions::default()
        },
    );
    a.invariants.unwrap()
}

fn verdict(r: &Report, id: CheckId) -> (Verdict, String) {
    let c = r.check(id).unwrap_or_else(|| panic!("{id} missing:\n{r}"));
    (c.verdict, c.detail.clone())
}

fn expect(r: &Report, id: CheckId, v: Verdict, needle: &str) {
    let (got, detail) = verdict(r, id);
    assert_eq!(got, v, "{id}: {detail}\n{r}");
    assert!(detail.contains(needle), "{id}: {detail:?} lacks {needle:?}");
}

fn scenario(name: &str, s: Scenario) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let ledger = runs::run(dir.path(), name, &format!("run-{name}"), s);
    (dir, ledger)
}

#[test]
fn a_completed_run_passes_every_invariant_and_the_report_is_ok() {
    let (_d, ledger) = scenario("ok", Scenario::Completed);
    let r = invariants(&ledger, POLICY);
    for id in receipt_runtime::invariants::BUILTIN {
        assert_eq!(verdict(&r, id).0, Verdict::Pass, "{id}\n{r}");
    }
    assert!(r.ok(), "{r}");
    expect(
        &r,
        CheckId::InvariantStageRequiredPath,
        Verdict::Pass,
        "fetch → train → evaluate → decide",
    );
    expect(
        &r,
        CheckId::InvariantFinalizationCompleteness,
        Verdict::Pass,
        "decision stage \"decide\"",
    );
    expect(
        &r,
        CheckId::InvariantEvaluationCompleteness,
        Verdict::Pass,
        "the decision stage \"decide\" (id 3) completed",
    );
}

#[test]
fn ledger_chain_valid_fails_on_an_edited_byte() {
    let (_d, ledger) = scenario("chain", Scenario::Completed);
    let mut bytes = std::fs::read(&ledger).unwrap();
    let at = bytes.windows(5).position(|w| w == b"fetch").unwrap();
    bytes[at] = b'F';
    std::fs::write(&ledger, bytes).unwrap();
    let r = invariants(&ledger, POLICY);
    expect(
        &r,
        CheckId::InvariantLedgerChainValid,
        Verdict::Fail,
        "ledger.hash",
    );
    assert!(!r.ok());
}

#[test]
fn receipt_completeness_is_unknown_without_the_receipt_and_fails_on_open_stages() {
    let (_d, ledger) = scenario("receipt", Scenario::Completed);
    std::fs::remove_file(receipt_runtime::ledger::receipt_path(&ledger)).unwrap();
    let r = invariants(&ledger, POLICY);
    expect(
        &r,
        CheckId::InvariantReceiptCompleteness,
        Verdict::Unknown,
        "receipt.read",
    );
    assert!(!r.ok(), "UNKNOWN poisons the verdict");

    let (_d2, crashed) = scenario("crashed", Scenario::Completed);
    runs::crash(&crashed);
    let r = invariants(&crashed, POLICY);
    expect(
        &r,
        CheckId::InvariantReceiptCompleteness,
        Verdict::Fail,
        "entered and never exited",
    );
}

#[test]
fn finalization_completeness_fails_on_failure_a_late_stage_and_a_crash() {
    let (_d, failed) = scenario("failed", Scenario::Failed);
    let r = invariants(&failed, POLICY);
    expect(
        &r,
        CheckId::InvariantFinalizationCompleteness,
        Verdict::Fail,
        "status \"failed\"",
    );

    let (_d, late) = scenario("late", Scenario::DecisionNotLast);
    let r = invariants(&late, POLICY);
    expect(
        &r,
        CheckId::InvariantFinalizationCompleteness,
        Verdict::Fail,
        "is \"evaluate\"",
    );

    let (_d, crashed) = scenario("crash", Scenario::Completed);
    runs::crash(&crashed);
    let r = invariants(&crashed, POLICY);
    expect(
        &r,
        CheckId::InvariantFinalizationCompleteness,
        Verdict::Fail,
        "did not finalize",
    );
}

#[test]
fn evaluation_completeness_fails_on_a_silent_downgrade_and_an_unattested_decision() {
    let (_d, silent) = scenario("silent", Scenario::SilentDowngrade);
    let r = invariants(&silent, POLICY);
    expect(
        &r,
        CheckId::InvariantEvaluationCompleteness,
        Verdict::Fail,
        "silent downgrade",
    );
    // The same run, reported as failed, hides nothing.
    let (_d, failed) = scenario("honest", Scenario::Failed);
    let r = invariants(&failed, "[stages]\nrequired = [\"train\"]\n");
    expect(
        &r,
        CheckId::InvariantEvaluationCompleteness,
        Verdict::Pass,
        "no required stage failed",
    );

    let (_d, skip) = scenario("nodecide", Scenario::Failed);
    let r = invariants(&skip, POLICY);
    expect(
        &r,
        CheckId::InvariantEvaluationCompleteness,
        Verdict::Fail,
        "never completed (0 call(s))",
    );
}

#[test]
fn single_finalize_fails_without_one_and_with_two() {
    let (_d, crashed) = scenario("nofin", Scenario::Completed);
    runs::crash(&crashed);
    let r = invariants(&crashed, POLICY);
    expect(
        &r,
        CheckId::InvariantSingleFinalize,
        Verdict::Fail,
        "no RUN_FINALIZE",
    );

    // A forger appends a second RUN_FINALIZE and re-chains everything.
    let (_d, twice) = scenario("twice", Scenario::Completed);
    let bytes = std::fs::read(&twice).unwrap();
    let last = bytes[..bytes.len() - 1]
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |i| i + 1);
    let fin = receipt_runtime::entry::parse_line(&bytes[last..bytes.len() - 1]).unwrap();
    let second = receipt_runtime::entry::Unsealed {
        seq: fin.seq + 1,
        prev: fin.hash,
        run_id: &fin.run_id,
        kind: receipt_runtime::entry::kind::RUN_FINALIZE,
        stage: None,
        payload: fin.payload.clone(),
    }
    .seal()
    .unwrap();
    let mut more = bytes.clone();
    more.extend_from_slice(&second.line);
    std::fs::write(&twice, more).unwrap();
    let r = invariants(&twice, POLICY);
    expect(
        &r,
        CheckId::InvariantSingleFinalize,
        Verdict::Fail,
        "2 RUN_FINALIZE entries",
    );
}

#[test]
fn stage_required_path_fails_on_a_missing_stage_and_warns_on_a_recorded_violation() {
    let (_d, skip) = scenario("skip", Scenario::SkipsEvaluate);
    let r = invariants(&skip, POLICY);
    expect(
        &r,
        CheckId::InvariantStageRequiredPath,
        Verdict::Fail,
        "required stage \"evaluate\" (number 3 of 4) was never called",
    );

    let (_d, v) = scenario("violation", Scenario::Violation);
    let r = invariants(&v, POLICY);
    expect(
        &r,
        CheckId::InvariantStageRequiredPath,
        Verdict::Warn,
        "run.transitions",
    );
    expect(
        &r,
        CheckId::InvariantEvaluationCompleteness,
        Verdict::Warn,
        "violation",
    );
    assert!(r.ok(), "a recorded violation is a warning:\n{r}");

    let (_d, failed) = scenario("failed-path", Scenario::Failed);
    let r = invariants(&failed, POLICY);
    expect(
        &r,
        CheckId::InvariantStageRequiredPath,
        Verdict::Fail,
        "did not complete after \"fetch\"",
    );
}

#[test]
fn a_missing_tail_makes_absence_claims_unknown_not_pass() {
    let (_d, crashed) = scenario("gap", Scenario::Completed);
    runs::crash(&crashed);
    let r = invariants(
        &crashed,
        r#"
[[invariant]]
id = "no_debug"
stage = "debug_dump"
forbidden = true

[[invariant]]
id = "fetched"
stage = "fetch"
min_calls = 1
"#,
    );
    let users: Vec<_> = r
        .checks
        .iter()
        .filter(|c| c.id == CheckId::InvariantUser)
        .collect();
    assert_eq!(users[0].verdict, Verdict::Unknown, "{}", users[0].detail);
    assert!(
        users[0].detail.contains("onwards are missing"),
        "{}",
        users[0].detail
    );
    assert_eq!(users[1].verdict, Verdict::Pass, "{}", users[1].detail);
}

#[test]
fn user_invariants_pass_and_fail_by_rule() {
    let (_d, ledger) = scenario("user", Scenario::WithDebugDump);
    let text = r#"
[[invariant]]
id = "no_debug"
description = "debug dumps never ship"
stage = "debug_dump"
forbidden = true

[[invariant]]
id = "fetch_once"
stage = "fetch"
max_calls = 1

[[invariant]]
id = "evaluated"
stage = "evaluate"
min_calls = 2

[[invariant]]
id = "no_failures"
max_failures = 0

[[invariant]]
id = "quiet"
max_event_level = "INFO"

[[invariant]]
id = "quiet_fetch"
stage = "fetch"
max_event_level = "INFO"

[[invariant]]
id = "fast_decide"
stage = "decide"
max_wall_ms = 60000

[[invariant]]
id = "slow_never"
stage = "train"
max_wall_ms = 0
"#;
    let r = invariants(&ledger, text);
    let users: Vec<(Verdict, &str)> = r
        .checks
        .iter()
        .filter(|c| c.id == CheckId::InvariantUser)
        .map(|c| (c.verdict, c.detail.as_str()))
        .collect();
    let expected = [
        (
            Verdict::Fail,
            "no_debug (debug dumps never ship): stage \"debug_dump\" is forbidden and was called 2 time(s)",
        ),
        (
            Verdict::Pass,
            "fetch_once: stage \"fetch\" was called 1 time(s), at most 1",
        ),
        (
            Verdict::Fail,
            "evaluated: stage \"evaluate\" was called 1 time(s), fewer than 2",
        ),
        (
            Verdict::Pass,
            "no_failures: the run had 0 failed call(s), at most 0",
        ),
        (Verdict::Fail, "quiet: 1 event(s) in the run are above INFO"),
        (
            Verdict::Pass,
            "quiet_fetch: no event in stage \"fetch\" is above INFO",
        ),
        (
            Verdict::Pass,
            "fast_decide: every call of stage \"decide\" took at most 60000 ms",
        ),
        (Verdict::Fail, "slow_never: a call of stage \"train\""),
    ];
    assert_eq!(users.len(), expected.len());
    for ((v, d), (ev, ed)) in users.iter().zip(expected) {
        assert_eq!(*v, ev, "{d}");
        assert!(d.starts_with(ed), "{d:?} does not start with {ed:?}");
    }
}

#[test]
fn policy_files_are_refused_with_the_field_named() {
    let cases = [
        ("[stages]\nrequire = [\"a\"]\n", "unknown field `require`"),
        (
            "[[invariant]]\nid = \"x\"\n",
            "invariant[0].id: declares no rule",
        ),
        (
            "[[invariant]]\nid = \"x\"\nmax_calls = 1\n",
            "invariant[0].max_calls: needs a stage",
        ),
        (
            "[[invariant]]\nid = \"x\"\nstage = \"s\"\nmax_calls = 1\nmin_calls = 1\n",
            "invariant[0].max_calls: is a second rule beside min_calls",
        ),
        (
            "[[invariant]]\nid = \"x\"\nmax_event_level = \"LOUD\"\n",
            "invariant[0].max_event_level",
        ),
        (
            "[[invariant]]\nid = \"Bad Id\"\nmax_failures = 0\n",
            "invariant[0].id",
        ),
        (
            "[[invariant]]\nid = \"x\"\nstage = \"s\"\nforbidden = false\n",
            "can only be true",
        ),
        ("[evidence]\nrequired = [\"a b\"]\n", "evidence.required[0]"),
        (
            "[finalize]\ndecision_evidence = \"d\"\n",
            "needs finalize.decision_stage",
        ),
    ];
    for (text, needle) in cases {
        let e = RunPolicy::from_toml(text, "p.toml")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("p.toml: "), "{e}");
        assert!(e.contains(needle), "{e:?} lacks {needle:?}");
    }
}

#[test]
fn an_unreadable_ledger_makes_every_invariant_unknown() {
    let dir = tempfile::tempdir().unwrap();
    let r = invariants(&dir.path().join("absent.jsonl"), POLICY);
    assert_eq!(r.checks.len(), 6);
    assert!(
        r.checks.iter().all(|c| c.verdict == Verdict::Unknown),
        "{r}"
    );
}
