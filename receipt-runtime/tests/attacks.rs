//! Forgeries that keep every hash, link, head and receipt consistent (the whole history is
//! re-sealed), so that only a rule about the content of the entries can catch them: each
//! is caught by its own named check, and by nothing else.

mod common;

use std::path::{Path, PathBuf};

use common::{copy_run, entries, forge, verified_run};
use receipt_runtime::entry::ParsedEntry;
use receipt_runtime::verify::{CheckId, RunReport, Verdict, verify_run};
use serde_json::{Value, json};

/// Asserts that `check` fails and that every other check passes: the forgery is seen by
/// that rule alone. Returns the failing check's sentence.
fn caught_only_by(ledger: &Path, check: CheckId) -> String {
    let report: RunReport = verify_run(ledger, None);
    assert!(!report.ok(), "the forgery passed:\n{report}");
    for c in &report.report.checks {
        let want = if c.id == check {
            Verdict::Fail
        } else {
            Verdict::Pass
        };
        assert_eq!(c.verdict, want, "{}: {}\n{report}", c.id, c.detail);
    }
    let detail = report.check(check).unwrap().detail.clone();
    assert!(
        detail.chars().count() < 400,
        "an echoed input is cut to 200 characters: {detail}"
    );
    detail
}

/// A forged copy of the fixture's run, made by `edit`.
fn forged(ledger: &Path, name: &str, edit: impl FnMut(&mut ParsedEntry) -> bool) -> PathBuf {
    let t = copy_run(ledger, name);
    forge(&t, edit);
    t
}

fn is(e: &ParsedEntry, kind_: &str) -> bool {
    e.kind == kind_
}

#[test]
fn the_forge_helper_alone_changes_nothing_a_verifier_sees() {
    let (_d, ledger) = verified_run();
    let t = forged(&ledger, "same.jsonl", |_| true);
    assert!(
        verify_run(&t, None)
            .report
            .checks
            .iter()
            .all(|c| c.verdict == Verdict::Pass)
    );
    assert_eq!(
        std::fs::read(&t).unwrap(),
        std::fs::read(&ledger).unwrap(),
        "re-sealing unchanged entries gives the same bytes"
    );
}

#[test]
fn stage_id_reused_after_its_exit() {
    let (_d, ledger) = verified_run();
    let es = entries(&ledger);
    // The first stage to exit, and the last stage to be entered, which is entered after it.
    let first_exit = es.iter().position(|e| is(e, "STAGE_EXIT")).unwrap();
    let reused = es[first_exit].payload["id"].as_u64().unwrap();
    let last_enter = es.iter().rposition(|e| is(e, "STAGE_ENTER")).unwrap();
    assert!(last_enter > first_exit);
    let victim = es[last_enter].payload["id"].as_u64().unwrap();
    assert_ne!(victim, reused);
    let t = forged(&ledger, "reuse.jsonl", |e| {
        for key in ["id", "parent", "stage_id"] {
            if e.payload.get(key).and_then(Value::as_u64) == Some(victim) {
                e.payload[key] = json!(reused);
            }
        }
        true
    });
    let why = caught_only_by(&t, CheckId::RunStageIds);
    assert!(why.contains(&format!("stage id {reused}")), "{why}");
}

#[test]
fn run_id_that_is_empty_huge_or_holds_nul_bidi_override_or_path() {
    let (_d, ledger) = verified_run();
    let huge = "a".repeat(10_000);
    for (k, bad) in [
        "",
        huge.as_str(),
        "run\0id",
        "run\u{202E}di",
        "../../etc/passwd",
        "..",
    ]
    .into_iter()
    .enumerate()
    {
        let t = forged(&ledger, &format!("id{k}.jsonl"), |e| {
            e.run_id = bad.to_owned();
            true
        });
        let why = caught_only_by(&t, CheckId::RunId);
        assert!(why.contains("[A-Za-z0-9._-]"), "{why}");
    }
}

#[test]
fn unknown_run_start_schema() {
    let (_d, ledger) = verified_run();
    let t = forged(&ledger, "schema.jsonl", |e| {
        if is(e, "RUN_START") {
            e.payload["schema"] = json!("receipt.run-ledger/2");
        }
        true
    });
    let why = caught_only_by(&t, CheckId::RunSchema);
    assert!(why.contains("receipt.run-ledger/2"), "{why}");
}

#[test]
fn started_at_not_a_time() {
    let (_d, ledger) = verified_run();
    let t = forged(&ledger, "started.jsonl", |e| {
        if is(e, "RUN_START") {
            e.payload["started_at"] = json!("not a time");
        }
        true
    });
    let why = caught_only_by(&t, CheckId::RunTimestamps);
    assert!(
        why.contains("started_at") && why.contains("not a time"),
        "{why}"
    );
}

#[test]
fn finished_at_not_a_time() {
    let (_d, ledger) = verified_run();
    let t = forged(&ledger, "finished.jsonl", |e| {
        if is(e, "RUN_FINALIZE") {
            e.payload["finished_at"] = json!("2026-02-30T00:00:00Z");
        }
        true
    });
    let why = caught_only_by(&t, CheckId::RunTimestamps);
    assert!(why.contains("finished_at"), "{why}");
}

#[test]
fn output_not_a_hash() {
    let (_d, ledger) = verified_run();
    let mut done = false;
    let t = forged(&ledger, "output.jsonl", |e| {
        if is(e, "STAGE_EXIT") && !done {
            e.payload["output"] = json!("not-a-hash");
            done = true;
        }
        true
    });
    let why = caught_only_by(&t, CheckId::RunHashes);
    assert!(
        why.contains("\"output\"") && why.contains("not-a-hash"),
        "{why}"
    );
}

#[test]
fn input_not_a_hash() {
    let (_d, ledger) = verified_run();
    let mut done = false;
    let t = forged(&ledger, "input.jsonl", |e| {
        if is(e, "STAGE_ENTER") && !done {
            // Upper-case hex: a digest spelled the one way the format does not allow.
            e.payload["input"] = json!("AB".repeat(32));
            done = true;
        }
        true
    });
    caught_only_by(&t, CheckId::RunHashes);
}

#[test]
fn argv_sha256_not_a_hash() {
    let (_d, ledger) = verified_run();
    let t = forged(&ledger, "argv.jsonl", |e| {
        if is(e, "RUN_START") {
            e.payload["argv_sha256"] = json!("sha256:abc");
        }
        true
    });
    caught_only_by(&t, CheckId::RunHashes);
}

#[test]
fn unknown_finalize_status() {
    let (_d, ledger) = verified_run();
    let t = forged(&ledger, "status.jsonl", |e| {
        if is(e, "RUN_FINALIZE") {
            e.payload["status"] = json!("succeeded-honestly");
        }
        true
    });
    let why = caught_only_by(&t, CheckId::RunStatus);
    assert!(why.contains("succeeded-honestly"), "{why}");
}

#[test]
fn unknown_stage_outcome() {
    let (_d, ledger) = verified_run();
    let t = forged(&ledger, "outcome.jsonl", |e| {
        if is(e, "STAGE_EXIT") {
            e.payload["outcome"] = json!("fine");
        }
        true
    });
    caught_only_by(&t, CheckId::RunStatus);
}

#[test]
fn wall_ns_disagreeing_with_the_stage_times() {
    let (_d, ledger) = verified_run();
    let mut done = false;
    let t = forged(&ledger, "wall.jsonl", |e| {
        if is(e, "STAGE_EXIT") && !done {
            let w = e.payload["wall_ns"].as_u64().unwrap();
            e.payload["wall_ns"] = json!(w + 1);
            done = true;
        }
        true
    });
    let why = caught_only_by(&t, CheckId::RunWallNs);
    assert!(why.contains("wall_ns"), "{why}");
}

#[test]
fn stage_exiting_before_it_entered() {
    let (_d, ledger) = verified_run();
    let mut done = false;
    let t = forged(&ledger, "backwards.jsonl", |e| {
        if is(e, "STAGE_EXIT") && !done {
            // Exit time moved before the enter; wall_ns wraps to what the subtraction would give.
            let (t_ns, wall) = (
                e.payload["t_ns"].as_u64().unwrap(),
                e.payload["wall_ns"].as_u64().unwrap(),
            );
            let enter = t_ns - wall;
            e.payload["t_ns"] = json!(enter.saturating_sub(1));
            e.payload["wall_ns"] = json!(0);
            done = true;
        }
        true
    });
    let why = caught_only_by(&t, CheckId::RunWallNs);
    assert!(why.contains("before it entered"), "{why}");
}

#[test]
fn exit_depth_differing_from_its_enter() {
    let (_d, ledger) = verified_run();
    let mut done = false;
    let t = forged(&ledger, "depth.jsonl", |e| {
        if is(e, "STAGE_EXIT") && !done {
            let d = e.payload["depth"].as_u64().unwrap();
            e.payload["depth"] = json!(d + 1);
            done = true;
        }
        true
    });
    let why = caught_only_by(&t, CheckId::RunStages);
    assert!(why.contains("depth"), "{why}");
}

#[test]
fn run_start_or_finalize_naming_a_stage() {
    let (_d, ledger) = verified_run();
    for (k, (kind_, check)) in [
        ("RUN_START", CheckId::RunStart),
        ("RUN_FINALIZE", CheckId::RunFinalize),
    ]
    .into_iter()
    .enumerate()
    {
        let t = forged(&ledger, &format!("named{k}.jsonl"), |e| {
            if is(e, kind_) {
                e.stage = Some("main".into());
            }
            true
        });
        caught_only_by(&t, check);
    }
}

#[test]
fn head_merkle_root_not_the_ledgers() {
    let (_d, ledger) = verified_run();
    let t = copy_run(&ledger, "head-root.jsonl");
    let path = receipt_runtime::ledger::head_path(&t);
    let mut head = receipt_runtime::ledger::Head::read(&path).unwrap();
    head.merkle_root = receipt_primitives::Digest::of(b"another tree");
    std::fs::write(&path, receipt_primitives::jcs::to_vec(&head).unwrap()).unwrap();
    let why = caught_only_by(&t, CheckId::LedgerHead);
    assert!(why.contains("Merkle root"), "{why}");
}

#[test]
fn event_in_a_stage_that_is_not_open() {
    let (_d, ledger) = verified_run();
    let es = entries(&ledger);
    let event = es.iter().position(|e| is(e, "EVENT")).unwrap();
    // A stage that exited before the event: the first one to exit.
    let first_exit = es.iter().position(|e| is(e, "STAGE_EXIT")).unwrap();
    assert!(
        first_exit < event,
        "the fixture's first stage exits before its event"
    );
    let closed = es[first_exit].payload["id"].as_u64().unwrap();
    let stage = es[first_exit].stage.clone();
    let t = forged(&ledger, "event.jsonl", |e| {
        if is(e, "EVENT") {
            e.payload["stage_id"] = json!(closed);
            e.stage.clone_from(&stage);
        }
        true
    });
    let why = caught_only_by(&t, CheckId::RunStages);
    assert!(why.contains("not open"), "{why}");
}

#[test]
fn program_name_with_directories() {
    let (_d, ledger) = verified_run();
    for (k, bad) in ["../../bin/sh", "", "..", "a\nb"].into_iter().enumerate() {
        let t = forged(&ledger, &format!("program{k}.jsonl"), |e| {
            if is(e, "RUN_START") {
                e.payload["program"] = json!(bad);
            }
            true
        });
        let why = caught_only_by(&t, CheckId::RunStart);
        assert!(why.contains("program"), "{why}");
    }
}
