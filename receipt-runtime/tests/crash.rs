//! Crash recovery with real crashes: a child process writing a ledger is killed with
//! SIGKILL, then the ledger is recovered and verified.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use receipt_runtime::ledger::{Head, LedgerError, head_path, recover};
use receipt_runtime::verify::{CheckId, Verdict, verify_run};
use receipt_runtime::{Durability, ReceiptLayer, receipt};
use tracing_subscriber::prelude::*;

const CHILD_ENV: &str = "RECEIPT_CRASH_CHILD_LEDGER";

#[receipt(stage = "step", hash(i), hash_output)]
fn step(i: u64) -> u64 {
    i.wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// The child: writes stages forever with fsync per entry until it is killed. Does nothing
/// when run as an ordinary test.
#[test]
fn crash_child() {
    let Some(path) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let (layer, _run) = ReceiptLayer::builder(PathBuf::from(path))
        .durability(Durability::Always)
        .build()
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        let mut i = 0u64;
        loop {
            std::hint::black_box(step(i));
            i += 1;
            if i.is_multiple_of(64) {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    });
}

fn spawn_child(ledger: &Path) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["crash_child", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, ledger)
        .spawn()
        .unwrap()
}

/// Waits until the head file records at least `n` fsynced entries.
fn wait_for_head(ledger: &Path, n: u64) -> Head {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(h) = Head::read(&head_path(ledger))
            && h.entries >= n
        {
            return h;
        }
        assert!(
            Instant::now() < deadline,
            "the child never fsynced {n} entries"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn killed_writer_is_recovered_without_losing_fsynced_entries() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("crash.jsonl");
    let mut child = spawn_child(&ledger);
    wait_for_head(&ledger, 40);

    // While the child runs, nobody else may write or recover its ledger.
    let err = ReceiptLayer::builder(&ledger).build().unwrap_err();
    assert!(err.to_string().contains("locked"), "{err}");
    assert!(matches!(recover(&ledger), Err(LedgerError::Locked(_))));

    child.kill().unwrap();
    child.wait().unwrap();
    let head = Head::read(&head_path(&ledger)).unwrap();

    // A write torn by the crash: half a line at the end.
    let mut bytes = std::fs::read(&ledger).unwrap();
    let before = bytes.len() as u64;
    let last_line_start = bytes[..bytes.len() - 1]
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |p| p + 1);
    let half = bytes[last_line_start..last_line_start + 40].to_vec();
    bytes.extend_from_slice(&half);
    std::fs::write(&ledger, &bytes).unwrap();

    let out = recover(&ledger).unwrap();
    assert!(out.torn.is_some(), "{out:?}");
    assert!(out.truncated_bytes >= 40);
    assert!(
        out.entries >= head.entries,
        "{out:?} dropped fsynced entries of {head:?}"
    );
    assert!(!out.finalized);
    assert_eq!(out.head_entries, Some(head.entries));
    assert!(std::fs::metadata(&ledger).unwrap().len() <= before);

    // A second recovery finds nothing to do.
    let again = recover(&ledger).unwrap();
    assert_eq!(again.truncated_bytes, 0);
    assert_eq!(again.entries, out.entries);

    // The recovered chain verifies, but the run is visibly unfinished.
    let report = verify_run(&ledger, None);
    for c in [
        CheckId::LedgerHash,
        CheckId::LedgerChain,
        CheckId::LedgerSeq,
        CheckId::LedgerCanonical,
        CheckId::LedgerHead,
    ] {
        assert_eq!(report.check(c).unwrap().verdict, Verdict::Pass, "{report}");
    }
    assert_eq!(
        report.check(CheckId::RunFinalize).unwrap().verdict,
        Verdict::Fail
    );
    assert_eq!(
        report.check(CheckId::ReceiptRead).unwrap().verdict,
        Verdict::Unknown
    );
    assert!(!report.ok());
}

#[test]
fn recover_refuses_to_cut_fsynced_entries_or_mid_file_damage() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("r.jsonl");
    let (layer, run) = ReceiptLayer::builder(&ledger)
        .durability(Durability::EveryN(4))
        .build()
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        for i in 0..10 {
            step(i);
        }
    });
    run.finish().unwrap();
    let original = std::fs::read(&ledger).unwrap();
    let lines: Vec<&[u8]> = original.split_inclusive(|b| *b == b'\n').collect();

    // Fewer valid entries than the head file says were fsynced: refuse, touch nothing.
    let short = lines[..lines.len() - 3].concat();
    std::fs::write(&ledger, &short).unwrap();
    assert!(matches!(
        recover(&ledger),
        Err(LedgerError::FsyncedLost { .. })
    ));
    assert_eq!(std::fs::read(&ledger).unwrap(), short);

    // A damaged line with valid lines after it is not a torn tail: refuse.
    let mut damaged: Vec<Vec<u8>> = lines.iter().map(|l| l.to_vec()).collect();
    damaged[5][20] ^= 0x01;
    let damaged = damaged.concat();
    std::fs::write(&ledger, &damaged).unwrap();
    let err = recover(&ledger).unwrap_err();
    assert!(matches!(err, LedgerError::Corrupt { line: 6, .. }), "{err}");
    assert_eq!(std::fs::read(&ledger).unwrap(), damaged);

    // The intact ledger recovers to itself.
    std::fs::write(&ledger, &original).unwrap();
    let out = recover(&ledger).unwrap();
    assert_eq!(out.truncated_bytes, 0);
    assert!(out.finalized);
    assert_eq!(out.entries, lines.len() as u64);
}
