//! Shared fixtures: run the word-count pipeline under a scoped receipt subscriber, and
//! rewrite ledgers the way an attacker with write access could.
#![allow(dead_code)]

#[path = "../../examples/wordcount/pipeline.rs"]
pub mod pipeline;

use std::path::{Path, PathBuf};

use receipt_primitives::Digest;
use receipt_runtime::entry::{ParsedEntry, Sealed, Unsealed, genesis, kind, parse_line};
use receipt_runtime::verify::{Verdict, verify_run};
use receipt_runtime::{Durability, ReceiptLayer, RunOutcome};
use serde_json::Value;
use tracing_subscriber::prelude::*;

pub const TEXT: &str = "the cat sat on the mat\nthe dog sat too\n";

/// Runs the pipeline once in `dir`, with `ledger` as the ledger file name.
pub fn run_pipeline(dir: &Path, ledger: &str, durability: Durability) -> RunOutcome {
    let input = dir.join("input.txt");
    if !input.exists() {
        std::fs::write(&input, TEXT).unwrap();
    }
    let (layer, run) = ReceiptLayer::builder(dir.join(ledger))
        .durability(durability)
        .program("wordcount")
        .build()
        .unwrap();
    let sub = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(sub, || {
        pipeline::run(&input, &dir.join(format!("{ledger}.csv"))).unwrap();
    });
    run.finish().unwrap()
}

/// A pipeline run in a fresh directory whose every check passes: the ledger to tamper with.
pub fn verified_run() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let out = run_pipeline(dir.path(), "run.jsonl", Durability::OnFinalize);
    let report = verify_run(&out.ledger, None);
    assert!(report.ok(), "{report}");
    assert!(
        report
            .report
            .checks
            .iter()
            .all(|c| c.verdict == Verdict::Pass),
        "{report}"
    );
    (dir, out.ledger)
}

/// The ledger's entries, each parsed and checked on its own.
pub fn entries(ledger: &Path) -> Vec<ParsedEntry> {
    lines(ledger)
        .iter()
        .map(|l| parse_line(l.strip_suffix(b"\n").unwrap()).unwrap())
        .collect()
}

/// The payloads of the `kind_` entries of stage `stage`, in ledger order.
pub fn payloads<'a>(es: &'a [ParsedEntry], kind_: &str, stage: &str) -> Vec<&'a Value> {
    es.iter()
        .filter(|e| e.kind == kind_ && e.stage.as_deref() == Some(stage))
        .map(|e| &e.payload)
        .collect()
}

pub fn lines(path: &Path) -> Vec<Vec<u8>> {
    std::fs::read(path)
        .unwrap()
        .split_inclusive(|b| *b == b'\n')
        .map(<[u8]>::to_vec)
        .collect()
}

pub fn write_lines(path: &Path, lines: &[Vec<u8>]) {
    std::fs::write(path, lines.concat()).unwrap();
}

/// Copies the ledger, its receipt and head into `name` beside it; returns the new ledger.
pub fn copy_run(ledger: &Path, name: &str) -> PathBuf {
    let dir = ledger.parent().unwrap();
    let to = dir.join(name);
    std::fs::copy(ledger, &to).unwrap();
    for suffix in [".receipt.json", ".head"] {
        let mut from = ledger.as_os_str().to_owned();
        from.push(suffix);
        let mut dest = to.as_os_str().to_owned();
        dest.push(suffix);
        std::fs::copy(from, dest).unwrap();
    }
    to
}

/// The kind constant named `name` (a parsed entry carries its kind as a string).
fn kind_of(name: &str) -> &'static str {
    match name {
        "RUN_START" => kind::RUN_START,
        "STAGE_ENTER" => kind::STAGE_ENTER,
        "STAGE_EXIT" => kind::STAGE_EXIT,
        "EVENT" => kind::EVENT,
        "VIOLATION" => kind::VIOLATION,
        _ => kind::RUN_FINALIZE,
    }
}

/// Seals entry `seq` of `run_id`, linked to `prev` (to the run's genesis when `None`).
fn seal(
    seq: u64,
    prev: Option<Digest>,
    run_id: &str,
    kind_: &'static str,
    stage: Option<&str>,
    payload: Value,
) -> Sealed {
    Unsealed {
        seq,
        prev: prev.unwrap_or_else(|| genesis(run_id)),
        run_id,
        kind: kind_,
        stage,
        payload,
    }
    .seal()
    .unwrap()
}

/// Writes `ledger`'s head file: `entries` entries of `run_id`, the last hashing to `last`,
/// under the Merkle root `root`.
fn write_head(ledger: &Path, run_id: String, entries: u64, last: Digest, root: Digest) {
    let head = receipt_runtime::ledger::Head {
        schema: receipt_runtime::ledger::HEAD_SCHEMA.into(),
        run_id,
        entries,
        last_entry_sha256: last,
        merkle_root: root,
    };
    std::fs::write(
        receipt_runtime::ledger::head_path(ledger),
        receipt_primitives::jcs::to_vec(&head).unwrap(),
    )
    .unwrap();
}

/// Re-seals every entry after applying `edit` to each parsed entry, recomputing every
/// hash and link, the way a forger rewriting history would. Also rewrites the head file.
pub fn reseal(ledger: &Path, mut edit: impl FnMut(u64, &mut String, &mut Value) -> bool) {
    let mut out = Vec::new();
    let mut prev: Option<Digest> = None;
    let mut acc = receipt_primitives::merkle::MerkleAccumulator::new();
    let mut last = None;
    for line in lines(ledger) {
        let e = parse_line(line.strip_suffix(b"\n").unwrap()).unwrap();
        let mut run_id = e.run_id.clone();
        let mut payload = e.payload.clone();
        if !edit(e.seq, &mut run_id, &mut payload) {
            continue;
        }
        let seq = out.len() as u64;
        let kind_ = kind_of(&e.kind);
        let sealed = seal(seq, prev, &run_id, kind_, e.stage.as_deref(), payload);
        acc.push(receipt_primitives::merkle::leaf_hash(&sealed.hash.0));
        prev = Some(sealed.hash);
        last = Some((run_id, sealed.hash));
        out.push(sealed.line);
    }
    write_lines(ledger, &out);
    if let Some((run_id, hash)) = last {
        write_head(ledger, run_id, out.len() as u64, hash, acc.root());
    }
}

/// Rewrites history the way a forger with write access to every file would: applies `edit`
/// to every parsed entry (dropping those for which it returns false), re-seals the chain
/// from the genesis of the (possibly edited) run id, and rewrites the head file and the
/// receipt from the forged entries, so that only a rule about the content can tell.
pub fn forge(ledger: &Path, mut edit: impl FnMut(&mut ParsedEntry) -> bool) {
    let mut sealed_lines = Vec::new();
    let mut prev: Option<Digest> = None;
    let mut fold = receipt_runtime::receipt::RunFold::new();
    let mut acc = receipt_primitives::merkle::MerkleAccumulator::new();
    let mut last = None;
    for mut e in entries(ledger) {
        if !edit(&mut e) {
            continue;
        }
        let seq = sealed_lines.len() as u64;
        let kind_ = kind_of(&e.kind);
        let sealed = seal(
            seq,
            prev,
            &e.run_id,
            kind_,
            e.stage.as_deref(),
            e.payload.clone(),
        );
        let payload = serde_json::to_vec(&e.payload).unwrap();
        let view = receipt_runtime::receipt::PayloadView::parse(&payload).unwrap();
        fold.push(
            seq,
            sealed.hash,
            &e.run_id,
            kind_,
            e.stage.as_deref(),
            &view,
        );
        acc.push(receipt_primitives::merkle::leaf_hash(&sealed.hash.0));
        prev = Some(sealed.hash);
        last = Some((e.run_id.clone(), sealed.hash));
        sealed_lines.push(sealed.line);
    }
    write_lines(ledger, &sealed_lines);
    let (run_id, hash) = last.expect("a forged ledger keeps at least one entry");
    write_head(ledger, run_id, sealed_lines.len() as u64, hash, acc.root());
    let receipt = fold
        .receipt()
        .expect("the forged ledger starts and finalizes");
    std::fs::write(
        receipt_runtime::ledger::receipt_path(ledger),
        receipt_primitives::jcs::to_vec(&receipt).unwrap(),
    )
    .unwrap();
}
