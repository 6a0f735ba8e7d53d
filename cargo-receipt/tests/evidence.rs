//! `verify-run` with evidence and a run policy, `gc` and `export-run`, on a real run that
//! keeps public and sealed evidence: the real binary, end to end.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use common::BIN;
use receipt_evidence::SealKey;
use receipt_runtime::{ReceiptLayer, receipt};
use receipt_testkit::fixture::{cargo_receipt, text};
use tracing_subscriber::prelude::*;

const TOKEN: &str = "ghp_0123456789abcdefghijklmnopqrstuvwxyzAB";

#[receipt(stage = "ask", evidence(question, sealed(credentials), return))]
fn ask(question: &str, credentials: &str) -> String {
    let _ = credentials;
    format!("42, answering {question}")
}

#[receipt(stage = "decide", evidence(return))]
fn decide(answer: &str) -> bool {
    answer.starts_with("42")
}

fn run(dir: &Path, args: &[&str]) -> Output {
    cargo_receipt(Path::new(BIN), dir, args, &[])
}

fn code(o: &Output) -> Option<i32> {
    o.status.code()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A run with three evidence values (one sealed) and the key file that sealed it.
fn evidence_run(dir: &Path) -> (PathBuf, PathBuf) {
    let key = SealKey::generate().unwrap();
    let key_file = dir.join("evidence.key");
    key.write_new_file(&key_file).unwrap();
    let ledger = dir.join("run.jsonl");
    let (layer, guard) = ReceiptLayer::builder(&ledger)
        .program("asker")
        .evidence_key(key)
        .build()
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        let answer = ask(
            &format!("what is 6*7? token={TOKEN}"),
            &format!("Bearer {TOKEN}"),
        );
        assert!(decide(&answer));
    });
    guard.finish().unwrap();
    (ledger, key_file)
}

fn blob_files(store: &Path, class: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![store.join(class)];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if !p.to_string_lossy().ends_with(".meta.json") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn verify_run_checks_every_blob_with_the_key_and_presence_without_it() {
    let tmp = tempfile::tempdir().unwrap();
    let (ledger, key) = evidence_run(tmp.path());
    let l = ledger.to_str().unwrap();
    let o = run(
        tmp.path(),
        &["verify-run", l, "--evidence-key", key.to_str().unwrap()],
    );
    assert_eq!(code(&o), Some(0), "{}", text(&o));
    let out = stdout(&o);
    assert_eq!(out.matches("content verified").count(), 4, "{out}");
    assert!(out.contains("PASS    run.evidence"), "{out}");

    let o = run(tmp.path(), &["verify-run", l]);
    assert_eq!(code(&o), Some(0), "{}", text(&o));
    let out = stdout(&o);
    assert_eq!(out.matches("presence only").count(), 1, "{out}");
    assert_eq!(out.matches("content verified").count(), 3, "{out}");

    // The secret reached neither the ledger nor the store.
    let mut bytes = fs::read(&ledger).unwrap();
    for f in blob_files(&tmp.path().join("run.jsonl.evidence"), "public") {
        bytes.extend(fs::read(f).unwrap());
    }
    assert!(
        !String::from_utf8_lossy(&bytes).contains("ghp_"),
        "a token reached disk"
    );
}

#[test]
fn a_flipped_sealed_blob_fails_with_the_key_and_a_removed_one_is_unknown() {
    let tmp = tempfile::tempdir().unwrap();
    let (ledger, key) = evidence_run(tmp.path());
    let l = ledger.to_str().unwrap();
    let store = tmp.path().join("run.jsonl.evidence");
    let sealed = blob_files(&store, "sealed");
    assert_eq!(sealed.len(), 1);
    let mut b = fs::read(&sealed[0]).unwrap();
    b[30] ^= 1;
    fs::write(&sealed[0], b).unwrap();
    let o = run(
        tmp.path(),
        &["verify-run", l, "--evidence-key", key.to_str().unwrap()],
    );
    assert_eq!(code(&o), Some(1), "{}", text(&o));
    assert!(stdout(&o).contains("FAIL    evidence.blob"), "{}", text(&o));

    fs::remove_file(&blob_files(&store, "public")[0]).unwrap();
    let o = run(tmp.path(), &["verify-run", l]);
    assert_eq!(code(&o), Some(1), "{}", text(&o));
    assert!(
        stdout(&o).contains("missing from the store"),
        "{}",
        text(&o)
    );
}

#[test]
fn gc_expires_by_policy_leaving_tombstones_that_verify_run_reports_as_warnings() {
    let tmp = tempfile::tempdir().unwrap();
    let (ledger, _) = evidence_run(tmp.path());
    let store = tmp.path().join("run.jsonl.evidence");
    let s = store.to_str().unwrap();
    fs::write(
        tmp.path().join("retention.toml"),
        "[retention.sealed]\nmax_age = \"1d\"\n",
    )
    .unwrap();
    let later = "2099-01-01T00:00:00Z";
    let o = run(
        tmp.path(),
        &[
            "gc",
            s,
            "--policy",
            "retention.toml",
            "--now",
            later,
            "--dry-run",
        ],
    );
    assert_eq!(code(&o), Some(0), "{}", text(&o));
    assert!(stdout(&o).contains("would expire sealed/"), "{}", text(&o));
    assert_eq!(
        blob_files(&store, "sealed").len(),
        1,
        "a dry run changes nothing"
    );

    let o = run(
        tmp.path(),
        &["gc", s, "--policy", "retention.toml", "--now", later],
    );
    assert_eq!(code(&o), Some(0), "{}", text(&o));
    assert!(
        stdout(&o).contains("1 blob(s) expired at 2099-01-01T00:00:00Z"),
        "{}",
        text(&o)
    );
    assert!(blob_files(&store, "sealed").is_empty());
    assert_eq!(blob_files(&store, "tombstones").len(), 1);

    let o = run(tmp.path(), &["verify-run", ledger.to_str().unwrap()]);
    assert_eq!(
        code(&o),
        Some(0),
        "an expired blob is a warning:\n{}",
        text(&o)
    );
    assert!(stdout(&o).contains("WARN    evidence.blob"), "{}", text(&o));
    assert!(
        stdout(&o).contains("expired by policy (max_age)"),
        "{}",
        text(&o)
    );

    // Not a store, or a bad policy: exit 2 with the reason.
    let o = run(tmp.path(), &["gc", tmp.path().to_str().unwrap()]);
    assert_eq!(code(&o), Some(2), "{}", text(&o));
    fs::write(
        tmp.path().join("bad.toml"),
        "[retention.sealed]\nmax_age = \"soon\"\n",
    )
    .unwrap();
    let o = run(tmp.path(), &["gc", s, "--policy", "bad.toml"]);
    assert_eq!(code(&o), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("bad.toml"),
        "{}",
        text(&o)
    );
}

#[test]
fn verify_run_with_a_policy_reports_invariants_and_refuses_a_bad_policy() {
    let tmp = tempfile::tempdir().unwrap();
    let (ledger, key) = evidence_run(tmp.path());
    let l = ledger.to_str().unwrap();
    let k = key.to_str().unwrap();
    fs::write(
        tmp.path().join("good.toml"),
        "[stages]\nrequired = [\"ask\", \"decide\"]\n\n[evidence]\nrequired = [\"question\"]\nsealed = [\"credentials\"]\n\n\
         [finalize]\ndecision_stage = \"decide\"\ndecision_evidence = \"return\"\n",
    )
    .unwrap();
    let o = run(
        tmp.path(),
        &[
            "verify-run",
            l,
            "--evidence-key",
            k,
            "--policy",
            "good.toml",
        ],
    );
    assert_eq!(code(&o), Some(0), "{}", text(&o));
    for id in [
        "invariant.ledger_chain_valid",
        "invariant.receipt_completeness",
        "invariant.evaluation_completeness",
        "invariant.finalization_completeness",
        "invariant.run_shape.single_finalize",
        "invariant.run_shape.stage_required_path",
    ] {
        assert!(
            stdout(&o).contains(&format!("PASS    {id}")),
            "{id}\n{}",
            text(&o)
        );
    }

    // The question was kept public: a policy requiring it sealed sees a downgrade.
    fs::write(
        tmp.path().join("sealed.toml"),
        "[evidence]\nsealed = [\"question\"]\n",
    )
    .unwrap();
    let o = run(tmp.path(), &["verify-run", l, "--policy", "sealed.toml"]);
    assert_eq!(code(&o), Some(1), "{}", text(&o));
    assert!(stdout(&o).contains("downgrade"), "{}", text(&o));

    fs::write(
        tmp.path().join("bad.toml"),
        "[[invariant]]\nid = \"x\"\nmax_calls = 1\n",
    )
    .unwrap();
    let o = run(tmp.path(), &["verify-run", l, "--policy", "bad.toml"]);
    assert_eq!(code(&o), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("bad.toml: field invariant[0].max_calls: needs a stage"),
        "{err}"
    );
}

#[test]
fn export_run_is_byte_identical_and_carries_references_not_content() {
    let tmp = tempfile::tempdir().unwrap();
    let (ledger, key) = evidence_run(tmp.path());
    let l = ledger.to_str().unwrap();
    let k = key.to_str().unwrap();
    let a = run(
        tmp.path(),
        &["export-run", l, "--evidence-key", k, "-o", "a.json"],
    );
    assert_eq!(code(&a), Some(0), "{}", text(&a));
    let b = run(
        tmp.path(),
        &["export-run", l, "--evidence-key", k, "--format", "json"],
    );
    assert_eq!(code(&b), Some(0), "{}", text(&b));
    let file = fs::read(tmp.path().join("a.json")).unwrap();
    assert_eq!(file, b.stdout, "the file and stdout differ");
    let doc: serde_json::Value = serde_json::from_slice(&file).unwrap();
    assert_eq!(doc["evidence"].as_array().unwrap().len(), 4);
    assert_eq!(doc["evidence"][1]["class"], "sealed");
    assert!(
        doc["claim_ceiling"]["claims"]
            .to_string()
            .contains("evidence_verified"),
        "{doc}"
    );
    assert!(
        !String::from_utf8_lossy(&file).contains("6*7"),
        "content leaked into the export"
    );

    let o = run(tmp.path(), &["export-run", "absent.jsonl"]);
    assert_eq!(code(&o), Some(2), "{}", text(&o));
}
