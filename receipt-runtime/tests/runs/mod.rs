//! Small runs of an evaluation pipeline (fetch → train → evaluate → decide) for the
//! invariant and export tests: completed, failed, with a recorded violation, and crashed.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use receipt_runtime::graph::ViolationPolicy;
use receipt_runtime::{ReceiptLayer, RunStatus, receipt};
use tracing_subscriber::prelude::*;

/// Downloads the training data: a declared side effect.
#[receipt(stage = "fetch", hash(n), hash_output, evidence(n))]
pub fn fetch(n: u32) -> Vec<u32> {
    tracing::info!(
        side_effect = "http.request",
        status = 200,
        "GET training data"
    );
    (1..=n).collect()
}

/// Trains a "model" (the sum); fails on no data.
#[receipt(stage = "train", hash(data), hash_output, after = "fetch")]
pub fn train(data: &[u32]) -> Result<u32, String> {
    if data.is_empty() {
        tracing::error!("no training data");
        return Err("no training data".into());
    }
    tracing::info!(side_effect = "fs.write", bytes = 8, "model saved");
    Ok(data.iter().sum())
}

/// Scores the model.
#[receipt(stage = "evaluate", hash(model), hash_output, after = "train")]
pub fn evaluate(model: u32) -> u32 {
    tracing::warn!(score = model % 7, "score below target");
    model % 7
}

/// Decides whether to ship.
#[receipt(
    stage = "decide",
    hash(score),
    hash_output,
    after = "evaluate",
    evidence(return)
)]
pub fn decide(score: u32) -> bool {
    score > 2
}

/// A stage a policy may forbid.
#[receipt(stage = "debug_dump")]
pub fn debug_dump() {
    tracing::info!(side_effect = "NOT A CATEGORY", "dumped");
}

/// How a scenario goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// fetch → train → evaluate → decide, status ok.
    Completed,
    /// train fails; the run reports failure.
    Failed,
    /// train fails, and the run still reports ok.
    SilentDowngrade,
    /// evaluate runs before train (recorded as a violation), then the rest; status ok.
    Violation,
    /// evaluate is skipped.
    SkipsEvaluate,
    /// decide, then evaluate again: the decision is not last.
    DecisionNotLast,
    /// debug_dump is called twice besides the normal path.
    WithDebugDump,
}

/// Runs `scenario` with run id `run_id`, writing `dir/<name>.jsonl`; returns the ledger.
pub fn run(dir: &Path, name: &str, run_id: &str, scenario: Scenario) -> PathBuf {
    let ledger = dir.join(format!("{name}.jsonl"));
    let (layer, guard) = ReceiptLayer::builder(&ledger)
        .run_id(run_id)
        .program("evalpipe")
        .policy(ViolationPolicy::Record)
        .build()
        .unwrap();
    let sub = tracing_subscriber::registry().with(layer);
    let status = tracing::subscriber::with_default(sub, || match scenario {
        Scenario::Completed | Scenario::WithDebugDump => {
            let data = fetch(5);
            let model = train(&data).unwrap();
            if scenario == Scenario::WithDebugDump {
                debug_dump();
                debug_dump();
            }
            decide(evaluate(model));
            RunStatus::Ok
        }
        Scenario::Failed | Scenario::SilentDowngrade => {
            let data = fetch(0);
            let _ = train(&data);
            if scenario == Scenario::Failed {
                RunStatus::Failed
            } else {
                decide(evaluate(0));
                RunStatus::Ok
            }
        }
        Scenario::Violation => {
            let data = fetch(4);
            let early = evaluate(3);
            let model = train(&data).unwrap();
            let _ = early;
            decide(evaluate(model));
            RunStatus::Ok
        }
        Scenario::SkipsEvaluate => {
            let data = fetch(3);
            let model = train(&data).unwrap();
            decide(model);
            RunStatus::Ok
        }
        Scenario::DecisionNotLast => {
            let data = fetch(3);
            let model = train(&data).unwrap();
            decide(evaluate(model));
            evaluate(model);
            RunStatus::Ok
        }
    });
    guard.finish_with(status).unwrap();
    ledger
}

/// Turns a finished run into what a crash leaves after recovery: `RUN_FINALIZE` was never
/// written and the last `STAGE_EXIT` only in part, so the last stage is left open; there is
/// no receipt and no head file. `receipt_runtime::ledger::recover` removes the torn line.
pub fn crash(ledger: &Path) {
    let bytes = std::fs::read(ledger).unwrap();
    let lines: Vec<&[u8]> = bytes.split_inclusive(|b| *b == b'\n').collect();
    let keep = lines.len() - 2;
    let mut torn: Vec<u8> = lines[..keep].concat();
    torn.extend_from_slice(&lines[keep][..lines[keep].len() / 2]);
    std::fs::write(ledger, torn).unwrap();
    let _ = std::fs::remove_file(receipt_runtime::ledger::receipt_path(ledger));
    let _ = std::fs::remove_file(receipt_runtime::ledger::head_path(ledger));
    let out = receipt_runtime::ledger::recover(ledger).unwrap();
    assert!(out.truncated_bytes > 0, "the torn line was removed");
}
