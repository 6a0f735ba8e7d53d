//! Every tampering the run ledger must catch, each by a named check.

mod common;

use std::path::Path;

use common::{copy_run, lines, reseal, verified_run, write_lines};
use receipt_runtime::verify::{CheckId, Verdict, verify_run};

fn verdict(ledger: &Path, check: CheckId) -> Verdict {
    let report = verify_run(ledger, None);
    report.check(check).unwrap().verdict
}

fn assert_caught(ledger: &Path, check: CheckId, want: Verdict) {
    let report = verify_run(ledger, None);
    let c = report.check(check).unwrap();
    assert_eq!(c.verdict, want, "{check}: {}\n{report}", c.detail);
    assert!(!report.ok(), "tampering passed:\n{report}");
}

#[test]
fn one_flipped_byte_fails_the_entry_hash() {
    let (_d, ledger) = verified_run();
    let t = copy_run(&ledger, "flip.jsonl");
    let mut ls = lines(&t);
    // Change one digit of a number inside the payload of entry 3: still JSON, still canonical.
    let line = &mut ls[3];
    let pos = line.windows(7).position(|w| w == b"\"t_ns\":").unwrap() + 7;
    line[pos] = if line[pos] == b'1' { b'2' } else { b'1' };
    write_lines(&t, &ls);
    assert_caught(&t, CheckId::LedgerHash, Verdict::Fail);
}

#[test]
fn deleted_middle_line_breaks_seq_and_chain() {
    let (_d, ledger) = verified_run();
    let t = copy_run(&ledger, "del.jsonl");
    let mut ls = lines(&t);
    ls.remove(4);
    write_lines(&t, &ls);
    assert_caught(&t, CheckId::LedgerSeq, Verdict::Fail);
    assert_eq!(verdict(&t, CheckId::LedgerChain), Verdict::Fail);
    assert_eq!(verdict(&t, CheckId::ReceiptCount), Verdict::Fail);
}

#[test]
fn deleted_last_lines_are_caught_by_finalize_head_and_receipt() {
    let (_d, ledger) = verified_run();
    for cut in [1, 2] {
        let t = copy_run(&ledger, &format!("tail{cut}.jsonl"));
        let mut ls = lines(&t);
        ls.truncate(ls.len() - cut);
        write_lines(&t, &ls);
        // The remaining prefix is a perfectly valid chain: only the tail anchors show it.
        assert_eq!(verdict(&t, CheckId::LedgerChain), Verdict::Pass);
        assert_caught(&t, CheckId::ReceiptCount, Verdict::Fail);
        assert_eq!(verdict(&t, CheckId::ReceiptMerkleRoot), Verdict::Fail);
        assert_eq!(verdict(&t, CheckId::LedgerHead), Verdict::Fail);
        if cut == 1 {
            assert_eq!(verdict(&t, CheckId::RunFinalize), Verdict::Fail);
        }
    }
}

#[test]
fn swapped_lines_break_seq_and_chain() {
    let (_d, ledger) = verified_run();
    let t = copy_run(&ledger, "swap.jsonl");
    let mut ls = lines(&t);
    ls.swap(3, 4);
    write_lines(&t, &ls);
    assert_caught(&t, CheckId::LedgerSeq, Verdict::Fail);
    assert_eq!(verdict(&t, CheckId::LedgerChain), Verdict::Fail);
}

#[test]
fn rewritten_history_with_recomputed_hashes_is_caught_by_the_receipt() {
    let (_d, ledger) = verified_run();
    let t = copy_run(&ledger, "forged.jsonl");
    reseal(&t, |seq, _, payload| {
        if seq == 3 {
            payload["outcome"] = "ok".into();
            payload["wall_ns"] = 1.into();
        }
        true
    });
    let report = verify_run(&t, None);
    // The forged chain is internally consistent …
    for c in [
        CheckId::LedgerHash,
        CheckId::LedgerChain,
        CheckId::LedgerSeq,
        CheckId::LedgerHead,
    ] {
        assert_eq!(report.check(c).unwrap().verdict, Verdict::Pass, "{report}");
    }
    // … but the receipt pins the real one.
    assert_caught(&t, CheckId::ReceiptMerkleRoot, Verdict::Fail);
    assert_eq!(verdict(&t, CheckId::ReceiptLastHash), Verdict::Fail);
}

#[test]
fn forged_removal_of_an_entry_is_caught_by_the_receipt_count() {
    let (_d, ledger) = verified_run();
    let t = copy_run(&ledger, "forged-del.jsonl");
    // Drop the EVENT entry and re-chain everything after it.
    let event_seq = lines(&t)
        .iter()
        .position(|l| l.windows(14).any(|w| w == b"\"type\":\"EVENT\""))
        .unwrap() as u64;
    reseal(&t, |seq, _, _| seq != event_seq);
    assert_caught(&t, CheckId::ReceiptCount, Verdict::Fail);
    assert_eq!(verdict(&t, CheckId::LedgerChain), Verdict::Pass);
}

#[test]
fn respelled_bytes_fail_the_canonical_check() {
    let (_d, ledger) = verified_run();
    for (name, from, to) in [
        ("ws.jsonl", &b"\"seq\":2,"[..], &b"\"seq\": 2,"[..]),
        ("num.jsonl", &b"\"seq\":2,"[..], &b"\"seq\":2.0,"[..]),
        ("exp.jsonl", &b"\"seq\":2,"[..], &b"\"seq\":2e0,"[..]),
    ] {
        let t = copy_run(&ledger, name);
        let mut ls = lines(&t);
        let line = &mut ls[2];
        let pos = line.windows(from.len()).position(|w| w == from).unwrap();
        line.splice(pos..pos + from.len(), to.iter().copied());
        write_lines(&t, &ls);
        assert_caught(&t, CheckId::LedgerCanonical, Verdict::Fail);
    }
}

#[test]
fn mislabelled_run_id_is_caught() {
    let (_d, ledger) = verified_run();
    // One entry relabelled, hashes recomputed from there on.
    let t = copy_run(&ledger, "label1.jsonl");
    reseal(&t, |seq, run_id, _| {
        if seq == 5 {
            *run_id = "someone-else".into();
        }
        true
    });
    assert_caught(&t, CheckId::LedgerRunId, Verdict::Fail);
    // Every entry relabelled and re-chained from a new genesis: the receipt names the run.
    let t = copy_run(&ledger, "label-all.jsonl");
    reseal(&t, |_, run_id, _| {
        *run_id = "someone-else".into();
        true
    });
    assert_caught(&t, CheckId::ReceiptRunId, Verdict::Fail);
    // Relabelling without recomputing the hashes: every relabelled entry's hash fails.
    let t = copy_run(&ledger, "label-raw.jsonl");
    let text = std::fs::read_to_string(&t).unwrap();
    let id = receipt_runtime::entry::parse_line(lines(&t)[0].strip_suffix(b"\n").unwrap())
        .unwrap()
        .run_id;
    std::fs::write(&t, text.replace(&id, "x")).unwrap();
    assert_caught(&t, CheckId::LedgerHash, Verdict::Fail);
}

#[test]
fn unreadable_evidence_is_unknown_never_pass() {
    let (d, ledger) = verified_run();
    let missing = d.path().join("nope.jsonl");
    let report = verify_run(&missing, None);
    assert_eq!(
        report.check(CheckId::LedgerRead).unwrap().verdict,
        Verdict::Unknown
    );
    assert!(!report.ok());

    let t = copy_run(&ledger, "noreceipt.jsonl");
    std::fs::remove_file(receipt_runtime::ledger::receipt_path(&t)).unwrap();
    assert_caught(&t, CheckId::ReceiptRead, Verdict::Unknown);

    let t = copy_run(&ledger, "garbage.jsonl");
    let mut ls = lines(&t);
    ls[2] = b"this is not json\n".to_vec();
    write_lines(&t, &ls);
    assert_caught(&t, CheckId::LedgerParse, Verdict::Unknown);

    let t = copy_run(&ledger, "badreceipt.jsonl");
    std::fs::write(receipt_runtime::ledger::receipt_path(&t), b"{\"schema\":1}").unwrap();
    assert_caught(&t, CheckId::ReceiptRead, Verdict::Unknown);
}

/// A ledger several read buffers long (the verifier reads 4 MiB at a time), so lines
/// straddle buffer boundaries; a change far past the first buffer is still caught.
#[test]
fn ledger_longer_than_the_read_buffer_verifies_and_late_tampering_is_caught() {
    #[receipt_runtime::receipt(stage = "step", hash(i), hash_output)]
    fn step(i: u64) -> u64 {
        i.wrapping_mul(3)
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("long.jsonl");
    let (layer, run) = receipt_runtime::ReceiptLayer::builder(&path)
        .build()
        .unwrap();
    tracing::subscriber::with_default(
        tracing_subscriber::layer::SubscriberExt::with(tracing_subscriber::registry(), layer),
        || {
            for i in 0..12_000 {
                step(i);
            }
        },
    );
    run.finish().unwrap();
    assert!(std::fs::metadata(&path).unwrap().len() > 9 << 20);
    let report = verify_run(&path, None);
    assert!(report.ok(), "{report}");
    assert_eq!(
        report.check(CheckId::ReceiptCount).unwrap().verdict,
        Verdict::Pass
    );
    // Same length, one digit of a late entry's input hash changed.
    let mut lines = common::lines(&path);
    let n = lines.len() - 7;
    let at = lines[n]
        .windows(9)
        .position(|w| w == b"\"input\":\"")
        .unwrap()
        + 9;
    lines[n][at] = if lines[n][at] == b'0' { b'1' } else { b'0' };
    common::write_lines(&path, &lines);
    assert_caught(&path, CheckId::LedgerHash, Verdict::Fail);
}

/// Tens of thousands of tiny lines in one read buffer, and a torn last line: every line is
/// read and judged once.
#[test]
fn many_short_lines_are_each_read_once() {
    let mut text = "{}\n".repeat(40_000);
    text.push_str("{}");
    // 40,001 lines that are not entries, plus one torn line.
    assert_parse_problems(&text, 40_002);
}

/// Verifies a ledger of `text` and asserts that its parse check is UNKNOWN, that the
/// first problem is on line 1 and that there are `problems` in all.
fn assert_parse_problems(text: &str, problems: usize) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("raw.jsonl");
    std::fs::write(&path, text).unwrap();
    let report = verify_run(&path, None);
    let c = report.check(CheckId::LedgerParse).unwrap();
    assert_eq!(c.verdict, Verdict::Unknown, "{report}");
    let more = format!("({} more problems of this kind)", problems - 1);
    assert!(
        c.detail.starts_with("line 1 ") && c.detail.ends_with(&more),
        "{}",
        c.detail
    );
    assert!(!report.ok());
}

/// One line longer than two read blocks between short ones: it is held whole and judged
/// once, not cut into pieces that would each count as a line.
#[test]
fn a_line_longer_than_a_read_block_is_judged_whole() {
    let mut text = String::from("{}\n");
    text.push_str(&format!("[\"{}\"]\n", "x".repeat(9 << 20)));
    text.push_str("{}\n{}");
    // Four lines that are not entries, and the last one torn: five problems.
    assert_parse_problems(&text, 5);
}
