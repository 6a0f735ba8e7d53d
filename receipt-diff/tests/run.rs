//! `diff-run` on real runs: the word-count example (`receipt-runtime/examples/wordcount`)
//! run as its own process on different inputs, a run that ends early, a ledger cut short
//! as a crash leaves it, and a two-thread run recorded in this process.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Barrier, OnceLock};

use receipt_diff::run::{RunDiff, diff_runs};
use receipt_diff::{What, run_exit_code};
use receipt_runtime::{ReceiptLayer, receipt};
use serde_json::Value;
use tracing_subscriber::prelude::*;

/// The word-count example's executable, built once.
fn wordcount() -> &'static Path {
    static EXE: OnceLock<PathBuf> = OnceLock::new();
    EXE.get_or_init(|| {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
        let o = Command::new(cargo)
            .args([
                "build",
                "--offline",
                "-q",
                "-p",
                "receipt-runtime",
                "--example",
                "wordcount",
            ])
            .args(["--message-format=json", "--manifest-path"])
            .arg(&manifest)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout)
            .unwrap()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "wordcount")
            .find_map(|m| m["executable"].as_str().map(PathBuf::from))
            .expect("the wordcount executable")
    })
}

/// Runs word count on `text` (or on a missing file when `None`); returns the ledger.
fn count(dir: &Path, name: &str, text: Option<&str>) -> PathBuf {
    let input = dir.join(format!("{name}.txt"));
    if let Some(t) = text {
        std::fs::write(&input, t).unwrap();
    }
    let ledger = dir.join(format!("{name}.jsonl"));
    let o = Command::new(wordcount())
        .arg(&input)
        .arg(dir.join(format!("{name}.csv")))
        .arg(&ledger)
        .output()
        .unwrap();
    // A missing input is a failed run, still finalized and verified (the example exits 0
    // when its run verifies).
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    ledger
}

fn diff(a: &Path, b: &Path) -> RunDiff {
    let d = diff_runs(a, b, ("A", "B")).unwrap();
    // The JSON form is canonical and names its schema.
    let json = d.to_json().unwrap();
    let v: Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(v["schema"], "receipt.run-diff/1");
    assert!(receipt_primitives::jcs::is_canonical(
        &json[..json.len() - 1]
    ));
    d
}

#[test]
fn the_same_input_gives_no_divergence() {
    let t = tempfile::tempdir().unwrap();
    let a = count(t.path(), "a", Some("the cat sat on the mat\n"));
    let b = count(t.path(), "b", Some("the cat sat on the mat\n"));
    let d = diff(&a, &b);
    assert!(d.a.verified && d.b.verified);
    assert_eq!(d.a.trajectory_sha256, d.b.trajectory_sha256);
    assert!(!d.differs && d.first_divergence.is_none());
    assert_eq!(run_exit_code(&d), 0);
    let tokenize = d.stages.iter().find(|s| s.stage == "tokenize").unwrap();
    assert_eq!((tokenize.calls_a, tokenize.calls_b), (1, 1));
}

#[test]
fn different_inputs_diverge_where_the_text_is_read_then_at_tokenize() {
    let t = tempfile::tempdir().unwrap();
    let a = count(t.path(), "a", Some("the cat sat on the mat\n"));
    let b = count(t.path(), "b", Some("the dog sat on the log\n"));
    let d = diff(&a, &b);
    assert_eq!(run_exit_code(&d), 1);
    // `read` hashes no argument (its path), only its output: the text read. That output is
    // the first hashed value that differs; `tokenize` is the first stage whose input does.
    let first = d.first_divergence.as_ref().unwrap();
    assert_eq!((first.stage.as_str(), first.what), ("read", What::Output));
    assert_eq!(first.path, ["wordcount"]);
    let (pa, pb) = (first.a.as_ref().unwrap(), first.b.as_ref().unwrap());
    assert_eq!(pa.seq, pb.seq);
    assert_ne!(pa.value, pb.value);
    let second = &d.divergences[1];
    assert_eq!(
        (second.stage.as_str(), second.what),
        ("tokenize", What::Input)
    );
    assert_eq!(second.path, ["wordcount"]);
    assert!(second.a.as_ref().unwrap().seq > pa.seq);
    let text = d.to_text();
    assert!(
        text.contains("first divergence: wordcount > read: output hash differs"),
        "{text}"
    );
    assert!(
        text.contains("then: wordcount > tokenize: input hash differs"),
        "{text}"
    );
}

#[test]
fn a_run_that_ends_early_is_reported_where_it_ends() {
    let t = tempfile::tempdir().unwrap();
    let a = count(t.path(), "a", Some("the cat sat on the mat\n"));
    let b = count(t.path(), "b", None);
    let d = diff(&a, &b);
    assert!(
        d.b.verified,
        "a failed run still verifies: {:?}",
        d.b.failed_checks
    );
    assert_eq!(d.b.status.as_deref(), Some("failed"));
    assert_eq!(run_exit_code(&d), 1);
    let first = d.first_divergence.as_ref().unwrap();
    assert_eq!(first.stage, "read");
    assert!(matches!(first.what, What::Output | What::Outcome));
    let missing = d
        .divergences
        .iter()
        .find(|x| x.stage == "tokenize")
        .expect("tokenize is missing in B");
    assert_eq!(missing.what, What::Missing);
    assert!(missing.a.is_some() && missing.b.is_none());
    let text = d.to_text();
    assert!(
        text.contains(&format!(
            "absent (its ledger has {} entries and finalized with status failed)",
            d.b.entries
        )),
        "{text}"
    );
}

#[test]
fn a_ledger_cut_short_does_not_verify_and_is_still_compared() {
    let t = tempfile::tempdir().unwrap();
    let a = count(t.path(), "a", Some("the cat sat on the mat\n"));
    // The first five lines, as a crash after them would leave the file: no finalize, no
    // receipt.
    let cut = t.path().join("cut.jsonl");
    let bytes = std::fs::read(&a).unwrap();
    let end = bytes
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .nth(4)
        .unwrap()
        .0;
    std::fs::write(&cut, &bytes[..=end]).unwrap();
    let d = diff(&a, &cut);
    assert!(!d.b.verified && d.b.status.is_none());
    assert!(
        d.b.failed_checks
            .iter()
            .any(|c| c.starts_with("run.finalize")),
        "{:?}",
        d.b.failed_checks
    );
    assert_eq!(run_exit_code(&d), 2, "an unverified ledger is an error");
    let first = d.first_divergence.as_ref().unwrap();
    assert!(
        matches!(first.what, What::Unfinished | What::Missing),
        "{first:?}"
    );
    assert!(first.b.is_none());
    assert!(d.to_text().contains("DOES NOT VERIFY"));
}

#[test]
fn a_ledger_line_over_the_limit_or_not_an_entry_is_an_error() {
    let t = tempfile::tempdir().unwrap();
    let a = count(t.path(), "a", Some("x\n"));
    let bad = t.path().join("bad.jsonl");
    let mut bytes = std::fs::read(&a).unwrap();
    bytes[20] ^= 1;
    std::fs::write(&bad, &bytes).unwrap();
    let e = diff_runs(&a, &bad, ("A", "B")).unwrap_err().to_string();
    assert!(e.contains("bad.jsonl: line 1: "), "{e}");
    // One line of 64 MiB and one byte, without its end: refused, not read whole.
    let long = t.path().join("long.jsonl");
    std::fs::write(&long, vec![b'{'; receipt_diff::run::MAX_LINE_BYTES + 1]).unwrap();
    let e = diff_runs(&a, &long, ("A", "B")).unwrap_err().to_string();
    assert!(
        e.contains("long.jsonl: line 1: a line is longer than 67108864 bytes"),
        "{e}"
    );
}

// --- two threads -----------------------------------------------------------------------------

#[receipt(stage = "work", hash(n), hash_output)]
fn work(n: u64) -> u64 {
    n * n
}

/// Two worker threads, each calling `work` on its inputs; worker 1 enters its first stage
/// before worker 2 starts, then both run concurrently.
fn two_threads(ledger: &Path, first: [u64; 3], second: [u64; 3]) {
    let (layer, run) = ReceiptLayer::builder(ledger)
        .program("threads")
        .build()
        .unwrap();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    let started = Arc::new(Barrier::new(2));
    let spawn = |inputs: [u64; 3], wait_before: bool, signal_after_first: bool| {
        let (dispatch, started) = (dispatch.clone(), started.clone());
        std::thread::spawn(move || {
            tracing::dispatcher::with_default(&dispatch, || {
                if wait_before {
                    started.wait();
                }
                for (i, n) in inputs.into_iter().enumerate() {
                    work(n);
                    if i == 0 && signal_after_first {
                        started.wait();
                    }
                }
            });
        })
    };
    let w1 = spawn(first, false, true);
    let w2 = spawn(second, true, false);
    w1.join().unwrap();
    w2.join().unwrap();
    drop(dispatch);
    run.finish().unwrap();
}

#[test]
fn two_thread_runs_align_per_thread_and_name_the_diverging_call() {
    let t = tempfile::tempdir().unwrap();
    let a = t.path().join("a.jsonl");
    let same = t.path().join("same.jsonl");
    let b = t.path().join("b.jsonl");
    two_threads(&a, [1, 2, 3], [10, 20, 30]);
    two_threads(&same, [1, 2, 3], [10, 20, 30]);
    two_threads(&b, [1, 2, 3], [10, 21, 30]);

    // However the two threads interleaved, the same inputs line up.
    let d = diff(&a, &same);
    assert!(
        d.a.verified && d.b.verified,
        "{:?} {:?}",
        d.a.failed_checks,
        d.b.failed_checks
    );
    assert!(!d.differs, "{:?}", d.first_divergence);
    assert_eq!(run_exit_code(&d), 0);

    let d = diff(&a, &b);
    assert_eq!(run_exit_code(&d), 1);
    let first = d.first_divergence.as_ref().unwrap();
    assert_eq!(
        (first.stage.as_str(), first.what, first.call.as_slice()),
        ("work", What::Input, &[1u64, 1][..]),
        "the second call of the second thread"
    );
    // Its input and output differ, and nothing else.
    assert_eq!(d.divergence_count, 2, "{:?}", d.divergences);
    assert_eq!(d.divergences[1].what, What::Output);
    let work = d.stages.iter().find(|s| s.stage == "work").unwrap();
    assert_eq!((work.calls_a, work.calls_b), (6, 6));
}
