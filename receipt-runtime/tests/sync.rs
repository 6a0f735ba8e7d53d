//! `sync()`: a caller is told an entry is durable only once it is in the ledger and
//! fsynced (the head file then describes it), and `always` group-commits.

use std::sync::{Arc, Barrier};

use receipt_runtime::ledger::{Head, head_path};
use receipt_runtime::verify::verify_run;
use receipt_runtime::{Durability, ReceiptLayer, receipt};
use tracing_subscriber::prelude::*;

#[receipt(stage = "work", skip_all)]
fn work(events: u64) -> Vec<u64> {
    let mut durable = Vec::new();
    for i in 0..events {
        tracing::info!(task = "example", step = i, "event");
        durable.push(receipt_runtime::sync().unwrap());
    }
    durable
}

fn lines(path: &std::path::Path) -> u64 {
    std::fs::read(path)
        .unwrap()
        .iter()
        .filter(|&&b| b == b'\n')
        .count() as u64
}

#[test]
fn sync_returns_once_the_entries_are_written_fsynced_and_in_the_head() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("run.jsonl");
    let (layer, run) = ReceiptLayer::builder(&ledger)
        .durability(Durability::OnFinalize)
        .build()
        .unwrap();
    let durable = tracing::subscriber::with_default(
        tracing_subscriber::registry().with(layer.clone()),
        || {
            let durable = work(3);
            // RUN_START, STAGE_ENTER and the first event; then one more event each time.
            assert_eq!(durable, vec![3, 4, 5]);
            let head = Head::read(&head_path(&ledger)).unwrap();
            assert_eq!(head.entries, 5);
            durable
        },
    );
    // STAGE_EXIT is queued by now: the guard's sync covers it too.
    assert_eq!(run.sync().unwrap(), durable[2] + 1);
    assert_eq!(layer.sync().unwrap(), lines(&ledger));
    assert_eq!(
        Head::read(&head_path(&ledger)).unwrap().entries,
        lines(&ledger)
    );
    let outcome = run.finish().unwrap();
    assert_eq!(outcome.receipt.ledger.entries, 7);
    assert!(verify_run(&ledger, None).ok());
    // The run is over: nothing can be made durable any more.
    assert!(layer.sync().is_err());
}

#[test]
fn sync_under_never_writes_but_claims_nothing_in_a_head_file() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("run.jsonl");
    let (layer, run) = ReceiptLayer::builder(&ledger)
        .durability(Durability::Never)
        .build()
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        assert_eq!(work(2), vec![3, 4]);
        assert_eq!(lines(&ledger), 4);
        assert!(!head_path(&ledger).exists());
    });
    run.finish().unwrap();
    assert!(verify_run(&ledger, None).ok());
}

#[test]
fn always_group_commits_and_concurrent_syncs_all_see_their_entries() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("run.jsonl");
    let (layer, run) = ReceiptLayer::builder(&ledger)
        .durability(Durability::Always)
        .build()
        .unwrap();
    let threads = 4;
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let layer = layer.clone();
            let barrier = barrier.clone();
            let head_file = head_path(&ledger);
            std::thread::spawn(move || {
                tracing::subscriber::with_default(
                    tracing_subscriber::registry().with(layer),
                    || {
                        barrier.wait();
                        let durable = work(25);
                        // Each answer covers at least RUN_START and this thread's entries
                        // so far, and the head file never lags behind an answer.
                        for (i, d) in durable.iter().enumerate() {
                            assert!(*d >= i as u64 + 3);
                        }
                        let head = Head::read(&head_file).unwrap();
                        assert!(head.entries >= *durable.last().unwrap());
                    },
                )
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let outcome = run.finish().unwrap();
    // RUN_START, 4 × (enter, 25 events, exit), RUN_FINALIZE.
    assert_eq!(outcome.receipt.ledger.entries, 2 + 4 * 27);
    assert!(verify_run(&ledger, None).ok());
}
