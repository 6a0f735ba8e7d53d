//! Transition checks: a stage's predecessor is the last stage under the same parent stage,
//! or at top level the last stage on the same thread; a `VIOLATION` entry directly precedes
//! the `STAGE_ENTER` it concerns.

mod common;

use std::path::Path;

use receipt_runtime::entry::ParsedEntry;
use receipt_runtime::graph::{StageGraph, ViolationPolicy};
use receipt_runtime::verify::verify_run;
use receipt_runtime::{ReceiptLayer, receipt};
use serde_json::Value;
use tracing_subscriber::prelude::*;

// Two functions share the stage name `x`.
#[receipt(stage = "x")]
fn x_one() {}
#[receipt(stage = "x")]
fn x_two() {}
#[receipt(stage = "y")]
fn y() {}
#[receipt(stage = "z")]
fn z() {}
#[receipt(stage = "parent", skip_all)]
fn parent(body: fn()) {
    body();
}

/// `y` may only follow `x`; every other stage is unconstrained.
fn y_after_x() -> StageGraph {
    StageGraph::builder().edge("x", "y").build()
}

/// Runs `f` under a layer with the `y_after_x` graph and the record policy; returns the
/// ledger's entries after checking that the run verifies.
fn record_run(dir: &Path, f: impl FnOnce()) -> Vec<ParsedEntry> {
    let ledger = dir.join("t.jsonl");
    let (layer, run) = ReceiptLayer::builder(&ledger)
        .graph(y_after_x())
        .policy(ViolationPolicy::Record)
        .build()
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), f);
    run.finish().unwrap();
    let report = verify_run(&ledger, None);
    assert!(report.ok(), "{report}");
    common::entries(&ledger)
}

/// The recorded violations as (stage, refused predecessor, payload), each checked to be
/// directly followed by the `STAGE_ENTER` of the same stage on the same thread.
fn violations(es: &[ParsedEntry]) -> Vec<(String, String, Value)> {
    es.iter()
        .enumerate()
        .filter(|(_, e)| e.kind == "VIOLATION")
        .map(|(i, v)| {
            let next = &es[i + 1];
            assert_eq!(next.kind, "STAGE_ENTER", "entry after {v:?}");
            assert_eq!(next.stage, v.stage);
            assert_eq!(next.payload["thread"], v.payload["thread"]);
            assert_eq!(next.payload["parent"], v.payload["parent"]);
            (
                v.stage.clone().unwrap(),
                v.payload["after"].as_str().unwrap().to_owned(),
                v.payload.clone(),
            )
        })
        .collect()
}

fn enters<'a>(es: &'a [ParsedEntry], stage: &str) -> Vec<&'a Value> {
    common::payloads(es, "STAGE_ENTER", stage)
}

#[test]
fn top_level_predecessor_is_the_last_stage_on_the_thread() {
    let dir = tempfile::tempdir().unwrap();
    let es = record_run(dir.path(), || {
        x_one();
        x_two(); // the same stage name from another function
        y(); // after `x`: allowed
        z();
        y(); // after `z`: refused
        y(); // after `y`: refused
        x_one();
        y(); // after `x` again: allowed
    });
    let v = violations(&es);
    let pairs: Vec<(&str, &str)> = v.iter().map(|(s, a, _)| (&s[..], &a[..])).collect();
    assert_eq!(pairs, [("y", "z"), ("y", "y")]);
    assert_eq!(enters(&es, "y").len(), 4);
    assert!(v.iter().all(|(_, _, p)| p["parent"].is_null()));
}

#[test]
fn children_are_checked_against_their_siblings_only() {
    let dir = tempfile::tempdir().unwrap();
    let es = record_run(dir.path(), || {
        x_one();
        parent(|| {
            y(); // first under its parent: refused, although `x` ran last at top level
            x_two();
            y(); // after its sibling `x`: allowed
        });
        y(); // at top level after `parent`: refused
        parent(|| {
            x_one();
            parent(y); // first under the inner parent: refused
            y(); // after the sibling `parent`: refused
        });
    });
    let parents = enters(&es, "parent");
    assert_eq!(parents.len(), 3);
    assert_eq!(parents[2]["parent"], parents[1]["id"]);
    assert_eq!(parents[2]["depth"], 1);
    let v = violations(&es);
    let got: Vec<(&str, &Value)> = v.iter().map(|(_, a, p)| (&a[..], &p["parent"])).collect();
    assert_eq!(
        got,
        [
            ("<start>", &parents[0]["id"]),
            ("parent", &Value::Null),
            ("<start>", &parents[2]["id"]),
            ("parent", &parents[1]["id"]),
        ]
    );
    let ys = enters(&es, "y");
    assert_eq!(ys.len(), 5);
    assert_eq!(ys[3]["depth"], 2);
}

#[test]
fn each_thread_has_its_own_top_level_predecessor() {
    let dir = tempfile::tempdir().unwrap();
    let es = record_run(dir.path(), || {
        x_one();
        let dispatch = tracing::dispatcher::get_default(Clone::clone);
        std::thread::spawn(move || {
            tracing::dispatcher::with_default(&dispatch, || {
                y(); // first on this thread: refused
                x_two();
                y(); // allowed
            });
        })
        .join()
        .unwrap();
        y(); // this thread last ran `x`: allowed
    });
    let main_thread = &enters(&es, "x")[0]["thread"];
    let v = violations(&es);
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].1, "<start>");
    assert_ne!(&v[0].2["thread"], main_thread);
    let ys = enters(&es, "y");
    assert_eq!(ys.len(), 3);
    assert_eq!(&ys[2]["thread"], main_thread);
}
