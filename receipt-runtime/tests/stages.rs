//! What the layer records for each kind of stage: nesting, results, panics, async, events,
//! transitions, measurements; and the trajectory digest across runs.

mod common;

use receipt_runtime::entry::ParsedEntry;
use receipt_runtime::graph::{StageGraph, ViolationPolicy};
use receipt_runtime::verify::{CheckId, Verdict, verify_run};
use receipt_runtime::{Durability, ReceiptLayer, RunOutcome, receipt};
use serde_json::Value;
use tracing_subscriber::prelude::*;

use common::entries;

fn exits<'a>(es: &'a [ParsedEntry], stage: &str) -> Vec<&'a Value> {
    common::payloads(es, "STAGE_EXIT", stage)
}

/// Runs `f` under a fresh receipt layer (configured by `cfg`) with its ledger in a fresh
/// directory; returns the directory and the finished run.
fn with_run(
    cfg: impl FnOnce(receipt_runtime::ReceiptLayerBuilder) -> receipt_runtime::ReceiptLayerBuilder,
    f: impl FnOnce(),
) -> (tempfile::TempDir, RunOutcome) {
    let dir = tempfile::tempdir().unwrap();
    let (layer, run) = cfg(ReceiptLayer::builder(dir.path().join("run.jsonl")))
        .build()
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), f);
    (dir, run.finish().unwrap())
}

#[test]
fn same_input_twice_gives_the_same_trajectory_and_different_chains() {
    let dir = tempfile::tempdir().unwrap();
    let a = common::run_pipeline(dir.path(), "a.jsonl", Durability::OnFinalize);
    let b = common::run_pipeline(dir.path(), "b.jsonl", Durability::Always);
    assert!(verify_run(&a.ledger, None).ok());
    assert!(verify_run(&b.ledger, None).ok());
    assert_eq!(a.receipt.trajectory_sha256, b.receipt.trajectory_sha256);
    assert_ne!(a.receipt.run_id, b.receipt.run_id);
    assert_ne!(a.receipt.ledger.merkle_root, b.receipt.ledger.merkle_root);
    assert_eq!(a.receipt.stages.count, 5);
    // A different input changes the trajectory (the hashed inputs and outputs differ).
    let other = tempfile::tempdir().unwrap();
    std::fs::write(other.path().join("input.txt"), "a different text").unwrap();
    let c = common::run_pipeline(other.path(), "c.jsonl", Durability::Never);
    assert!(verify_run(&c.ledger, None).ok());
    assert_ne!(a.receipt.trajectory_sha256, c.receipt.trajectory_sha256);
}

#[test]
fn nested_stages_record_parent_depth_hashes_and_events() {
    let dir = tempfile::tempdir().unwrap();
    let out = common::run_pipeline(dir.path(), "n.jsonl", Durability::OnFinalize);
    let es = entries(&out.ledger);
    let enter = |s: &str| {
        es.iter()
            .find(|e| e.kind == "STAGE_ENTER" && e.stage.as_deref() == Some(s))
            .unwrap()
            .payload
            .clone()
    };
    let top = enter("wordcount");
    assert_eq!(top["depth"], 0);
    assert_eq!(top["parent"], Value::Null);
    assert_eq!(top["args"], serde_json::json!([])); // skip_all
    let tok = enter("tokenize");
    assert_eq!(tok["depth"], 1);
    assert_eq!(tok["parent"], top["id"]);
    assert_eq!(tok["args"], serde_json::json!(["text"]));
    assert_eq!(tok["after"], "read");
    // hash(text) is SHA-256 of the canonical {"text": …}.
    let want =
        receipt_primitives::jcs::sha256(&serde_json::json!({ "text": common::TEXT })).unwrap();
    assert_eq!(tok["input"], want.to_hex());
    let tok_exit = exits(&es, "tokenize")[0];
    assert_eq!(tok_exit["outcome"], "ok");
    assert!(receipt_runtime::entry::is_hex64(
        tok_exit["output"].as_str().unwrap()
    ));
    // The info! event inside `count` is recorded with its fields.
    let ev = es.iter().find(|e| e.kind == "EVENT").unwrap();
    assert_eq!(ev.stage.as_deref(), Some("count"));
    assert_eq!(ev.payload["fields"]["message"], "counted words");
    assert_eq!(ev.payload["fields"]["distinct"], 7);
    // Measurements: a number, or unavailable with a reason, never a silent 0.
    assert!(tok_exit["cpu_ns"].is_u64());
    assert!(tok_exit["peak_rss_kb"].as_u64().unwrap() > 0);
    // Run-wide unavailability: null per stage, the reason once in RUN_START.
    assert!(tok_exit["alloc_bytes"].is_null());
    assert!(tok_exit["io_read_bytes"].is_null());
    let start = &es[0].payload;
    assert_eq!(
        start["unmeasured"]["alloc_bytes"],
        "CountingAlloc is not the global allocator"
    );
    assert_eq!(start["unmeasured"]["io"], "I/O sampling is off");
}

#[receipt(stage = "parse_num", hash(s))]
fn parse_num(s: &str) -> Result<u32, std::num::ParseIntError> {
    s.trim().parse::<u32>()
}

#[test]
fn err_is_a_failed_stage_with_its_display() {
    let (_dir, out) = with_run(
        |b| b,
        || {
            assert_eq!(parse_num(" 7 "), Ok(7));
            assert!(parse_num("x").is_err());
        },
    );
    let es = entries(&out.ledger);
    let ex = exits(&es, "parse_num");
    assert_eq!(ex[0]["outcome"], "ok");
    assert_eq!(ex[1]["outcome"], "err");
    assert_eq!(ex[1]["error"], "invalid digit found in string");
    assert_eq!(out.receipt.stages.failures, 1);
    assert!(verify_run(&out.ledger, None).ok());
}

#[receipt(stage = "explode")]
fn explode(n: u32) -> u32 {
    if n > 1 {
        panic!("boom at {n}");
    }
    n
}

#[receipt(stage = "outer")]
fn outer(n: u32) -> u32 {
    explode(n) + 1
}

#[test]
fn panic_is_recorded_then_continues() {
    let (_dir, out) = with_run(
        |b| b,
        || {
            let caught = std::panic::catch_unwind(|| outer(5));
            assert!(caught.is_err());
            assert_eq!(outer(1), 2);
        },
    );
    let es = entries(&out.ledger);
    assert_eq!(exits(&es, "explode")[0]["outcome"], "panic");
    assert_eq!(exits(&es, "outer")[0]["outcome"], "panic");
    assert_eq!(exits(&es, "outer")[1]["outcome"], "ok");
    assert_eq!(out.receipt.stages.failures, 2);
    assert!(verify_run(&out.ledger, None).ok());
}

#[test]
fn guard_dropped_during_a_panic_finalizes_as_panicked() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("g.jsonl");
    let l2 = ledger.clone();
    let res = std::thread::spawn(move || {
        let (layer, _run) = ReceiptLayer::builder(&l2).build().unwrap();
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
            outer(9);
        });
    })
    .join();
    assert!(res.is_err());
    let report = verify_run(&ledger, None);
    assert!(report.ok(), "{report}");
    let es = entries(&ledger);
    let last = es.last().unwrap();
    assert_eq!(last.kind, "RUN_FINALIZE");
    assert_eq!(last.payload["status"], "panicked");
    assert_eq!(es.iter().filter(|e| e.kind == "RUN_FINALIZE").count(), 1);
}

struct Store {
    items: Vec<u64>,
}

impl Store {
    #[receipt(stage = "store.push", hash(x))]
    fn push(&mut self, x: u64) {
        self.items.push(x);
    }

    #[receipt(stage = "store.sum", hash(self), hash_output)]
    fn sum(&self) -> u64 {
        self.items.iter().sum()
    }
}

impl serde::Serialize for Store {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.items.serialize(s)
    }
}

#[receipt(stage = "generic.len", hash(v), hash_output)]
fn generic_len<T: serde::Serialize + Clone>(v: &[T]) -> usize {
    v.len()
}

#[receipt(stage = "async.fetch", hash(n), hash_output)]
async fn fetch(n: u64) -> u64 {
    futures::future::ready(()).await;
    n * 2
}

#[receipt(stage = "async.both")]
async fn both(n: u64) -> Result<u64, String> {
    let a = fetch(n).await;
    futures::future::ready(()).await;
    let b = fetch(a).await;
    if b > 100 {
        Err(format!("{b} is too big"))
    } else {
        Ok(b)
    }
}

#[test]
fn methods_generics_and_async_are_stages() {
    let (_dir, out) = with_run(
        |b| b,
        || {
            let mut s = Store { items: vec![] };
            s.push(2);
            s.push(3);
            assert_eq!(s.sum(), 5);
            assert_eq!(generic_len(&["a", "b"]), 2);
            assert_eq!(futures::executor::block_on(both(3)), Ok(12));
            assert!(futures::executor::block_on(both(30)).is_err());
        },
    );
    let es = entries(&out.ledger);
    assert_eq!(exits(&es, "store.push").len(), 2);
    let sum_enter = es
        .iter()
        .find(|e| e.stage.as_deref() == Some("store.sum") && e.kind == "STAGE_ENTER")
        .unwrap();
    let want = receipt_primitives::jcs::sha256(&serde_json::json!({ "self": [2, 3] })).unwrap();
    assert_eq!(sum_enter.payload["input"], want.to_hex());
    let want_out = receipt_primitives::jcs::sha256(&5).unwrap();
    assert_eq!(exits(&es, "store.sum")[0]["output"], want_out.to_hex());
    assert_eq!(exits(&es, "generic.len")[0]["outcome"], "ok");
    // Async stages nest under the awaiting stage.
    let both_id = es
        .iter()
        .find(|e| e.stage.as_deref() == Some("async.both") && e.kind == "STAGE_ENTER")
        .unwrap()
        .payload["id"]
        .clone();
    let fetches: Vec<_> = es
        .iter()
        .filter(|e| e.stage.as_deref() == Some("async.fetch") && e.kind == "STAGE_ENTER")
        .collect();
    assert_eq!(fetches.len(), 4);
    assert_eq!(fetches[0].payload["parent"], both_id);
    assert_eq!(fetches[0].payload["depth"], 1);
    let both_exits = exits(&es, "async.both");
    assert_eq!(both_exits[0]["outcome"], "ok");
    assert_eq!(both_exits[1]["outcome"], "err");
    assert_eq!(both_exits[1]["error"], "120 is too big");
    assert!(verify_run(&out.ledger, None).ok());
}

#[receipt(stage = "load")]
fn load() {}
#[receipt(stage = "check")]
fn check() {}
#[receipt(stage = "store", after = "check")]
fn store() {}

fn declared() -> StageGraph {
    StageGraph::builder()
        .first("load")
        .edge("load", "check")
        .build()
}

#[test]
fn illegal_transition_fails_hard_by_default_naming_both_stages() {
    let (_dir, out) = with_run(
        |b| b.graph(declared()),
        || {
            load();
            check();
            store();
            let err = std::panic::catch_unwind(check).unwrap_err();
            let msg = err.downcast_ref::<String>().unwrap();
            assert!(msg.contains("`check`") && msg.contains("`store`"), "{msg}");
            let err = std::panic::catch_unwind(store).unwrap_err();
            let msg = err.downcast_ref::<String>().unwrap();
            assert!(msg.contains("`store` may not follow `store`"), "{msg}");
        },
    );
    assert_eq!(out.receipt.stages.violations, 2);
    assert_eq!(out.receipt.stages.count, 3);
    let report = verify_run(&out.ledger, None);
    assert_eq!(
        report.check(CheckId::RunTransitions).unwrap().verdict,
        Verdict::Warn
    );
    assert!(report.ok(), "{report}");
}

/// A run under the `record` policy with one violation: `store` straight after `load` (only
/// allowed after `check`: recorded, and it runs).
fn recorded_violation() -> (tempfile::TempDir, RunOutcome) {
    with_run(
        |b| b.graph(declared()).policy(ViolationPolicy::Record),
        || {
            load();
            store();
        },
    )
}

#[test]
fn record_policy_only_records_and_unrecorded_violations_fail_verification() {
    let (_dir, out) = recorded_violation();
    assert_eq!(out.receipt.stages.violations, 1);
    assert_eq!(out.receipt.stages.count, 2);
    assert!(verify_run(&out.ledger, None).ok());
    // Hiding the VIOLATION entry (and re-chaining) is caught by replaying the graph.
    let t = common::copy_run(&out.ledger, "hidden.jsonl");
    common::reseal(&t, |seq, _, _| seq != 3);
    let report = verify_run(&t, None);
    assert_eq!(
        report.check(CheckId::RunTransitions).unwrap().verdict,
        Verdict::Fail,
        "{report}"
    );
}

/// Forged policies in a run that recorded a violation, with the chain, head and receipt
/// re-sealed: a VIOLATION whose policy is not the run's, a run relabelled as `fail` (under
/// which a refused stage never runs, so its entry is an unexcused transition), and an
/// unknown policy are each caught by `run.transitions`.
#[test]
fn forged_violation_policies_fail_the_transitions() {
    let (_dir, out) = recorded_violation();
    let cases: [(&str, &str, &str); 3] = [
        ("record", "fail", "VIOLATION records policy"),
        (
            "fail",
            "fail",
            "does not allow, and no VIOLATION was recorded",
        ),
        ("lenient", "lenient", "not \"fail\" or \"record\""),
    ];
    for (k, (start, violation, why)) in cases.into_iter().enumerate() {
        let t = common::copy_run(&out.ledger, &format!("policy{k}.jsonl"));
        common::forge(&t, |e| {
            match e.kind.as_str() {
                "RUN_START" => e.payload["policy"] = Value::from(start),
                "VIOLATION" => e.payload["policy"] = Value::from(violation),
                _ => {}
            }
            true
        });
        let report = verify_run(&t, None);
        let c = report.check(CheckId::RunTransitions).unwrap();
        assert_eq!(c.verdict, Verdict::Fail, "{report}");
        assert!(c.detail.contains(why), "{}", c.detail);
        for other in report
            .report
            .checks
            .iter()
            .filter(|c| c.id != CheckId::RunTransitions)
        {
            assert_eq!(
                other.verdict,
                Verdict::Pass,
                "{}: {}",
                other.id,
                other.detail
            );
        }
    }
}

#[test]
fn second_writer_on_the_same_ledger_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("l.jsonl");
    let (_layer, run) = ReceiptLayer::builder(&path).build().unwrap();
    let err = ReceiptLayer::builder(&path).build().unwrap_err();
    assert!(
        err.to_string().contains("locked by another writer"),
        "{err}"
    );
    assert!(receipt_runtime::ledger::recover(&path).is_err());
    run.finish().unwrap();
    let err = ReceiptLayer::builder(&path).build().unwrap_err();
    assert!(err.to_string().contains("already holds a run"), "{err}");
}

#[test]
fn io_sampling_records_numbers_when_enabled() {
    let (_dir, out) = with_run(
        |b| b.sample_io(true),
        || {
            load();
        },
    );
    let es = entries(&out.ledger);
    let ex = exits(&es, "load")[0];
    if std::fs::read_to_string("/proc/self/io").is_ok() {
        assert!(ex["io_read_bytes"].is_u64(), "{ex}");
        assert!(out.receipt.resources["io_write_bytes"].is_u64());
    } else {
        assert!(ex["io_read_bytes"]["unavailable"].is_string(), "{ex}");
    }
}

#[test]
fn without_a_layer_instrumented_functions_behave_as_plain_ones() {
    assert_eq!(parse_num("41"), Ok(41));
    assert!(parse_num("x").is_err());
    assert_eq!(futures::executor::block_on(fetch(2)), 4);
}

#[receipt(stage = "tick")]
fn tick(x: u64) -> u64 {
    x.wrapping_mul(3)
}

#[test]
fn receipt_and_head_pin_the_rfc6962_root_of_the_entry_hashes() {
    // Entry counts on both sides of the fold's leaf batches, with fsyncs (and head files)
    // in between.
    for calls in [0u64, 30, 31, 32, 63, 64, 100] {
        let (_dir, out) = with_run(
            |b| b.durability(Durability::EveryN(7)),
            || {
                for i in 0..calls {
                    tick(i);
                }
            },
        );
        let leaves: Vec<receipt_primitives::Digest> = entries(&out.ledger)
            .iter()
            .map(|e| receipt_primitives::merkle::leaf_hash(&e.hash.0))
            .collect();
        assert_eq!(leaves.len() as u64, 2 * calls + 2);
        let expected = receipt_primitives::merkle::root(&leaves);
        assert_eq!(out.receipt.ledger.merkle_root, expected, "{calls} calls");
        let head =
            receipt_runtime::ledger::Head::read(&receipt_runtime::ledger::head_path(&out.ledger))
                .unwrap();
        assert_eq!(head.merkle_root, expected, "{calls} calls");
        assert!(verify_run(&out.ledger, None).ok());
    }
}

/// A run id or program name a verifier would refuse is refused by the builder first,
/// before any file is created.
#[test]
fn builder_refuses_run_ids_and_program_names_outside_the_grammar() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("runs").join("l.jsonl");
    let huge = "a".repeat(129);
    for bad in [
        "",
        "..",
        ".hidden",
        "a/b",
        "run\u{202E}di",
        "nul\0",
        huge.as_str(),
    ] {
        let err = ReceiptLayer::builder(&ledger)
            .run_id(bad)
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("run_id"), "{err}");
    }
    for bad in ["", ".", "..", "bin/sh", "tab\there"] {
        let err = ReceiptLayer::builder(&ledger)
            .program(bad)
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("program"), "{err}");
    }
    assert!(!dir.path().join("runs").exists());
    let (_layer, run) = ReceiptLayer::builder(&ledger)
        .run_id("A-1.b_2")
        .program("prog.v2")
        .build()
        .unwrap();
    assert_eq!(run.run_id(), "A-1.b_2");
}
