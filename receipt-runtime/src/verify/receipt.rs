//! The run receipt against the ledger: its form, run id, counts, last hash, Merkle root,
//! trajectory digest and summary.

use std::path::Path;

use receipt_primitives::check::{CheckId, Verdict, echo};

use super::MAX_RECEIPT_BYTES;
use super::findings::Findings;
use crate::receipt::{RunFold, RunReceipt};

pub(super) fn check_receipt(path: &Path, fold: &RunFold, f: &mut Findings) {
    // The receipt checks after `receipt.read`, which cannot be made without a receipt.
    let after_read = CheckId::RUN
        .into_iter()
        .skip_while(|&n| n != CheckId::ReceiptRead)
        .skip(1);
    let unknown_rest = |f: &mut Findings, why: &str| {
        for n in after_read.clone() {
            f.add(n, Verdict::Unknown, format!("not checked: {why}"));
        }
    };
    let bytes =
        match receipt_primitives::confine::read_file(path, MAX_RECEIPT_BYTES, "a run receipt") {
            Ok(b) => b,
            Err(e) => {
                f.add(
                    CheckId::ReceiptRead,
                    Verdict::Unknown,
                    format!("{e}; without the receipt a removed tail cannot be ruled out."),
                );
                unknown_rest(f, "there is no readable receipt.");
                return;
            }
        };
    let claimed: RunReceipt = match serde_json::from_slice(&bytes) {
        Ok(r) => r,
        Err(e) => {
            f.add(
                CheckId::ReceiptRead,
                Verdict::Unknown,
                format!(
                    "{} is not a run receipt: {}.",
                    path.display(),
                    echo(&e.to_string())
                ),
            );
            unknown_rest(f, "the receipt is unreadable.");
            return;
        }
    };
    if !receipt_primitives::jcs::is_canonical(&bytes) {
        f.add(
            CheckId::ReceiptRead,
            Verdict::Fail,
            format!("{} is not canonical RFC 8785 JSON.", path.display()),
        );
    } else if claimed.schema != crate::receipt::RECEIPT_SCHEMA {
        f.add(
            CheckId::ReceiptRead,
            Verdict::Fail,
            format!(
                "{}: field \"schema\" is {:?}.",
                path.display(),
                echo(&claimed.schema)
            ),
        );
    } else {
        f.pass(CheckId::ReceiptRead, format!("{} read.", path.display()));
    }
    let Some(a) = fold.ledger_summary() else {
        unknown_rest(f, "the ledger has no entries to compare with.");
        return;
    };
    let run_id = fold.run_id().unwrap_or_default();
    let trajectory = fold.trajectory();
    let mut cmp = |name: CheckId, same: bool, what: String, ok: String| {
        if same {
            f.pass(name, ok);
        } else {
            f.add(name, Verdict::Fail, what);
        }
    };
    let c = &claimed.ledger;
    cmp(
        CheckId::ReceiptRunId,
        claimed.run_id == run_id,
        format!(
            "the receipt is for run {:?} but the ledger holds run {:?}.",
            echo(&claimed.run_id),
            echo(run_id)
        ),
        format!("receipt and ledger are for run {:?}.", echo(run_id)),
    );
    cmp(
        CheckId::ReceiptCount,
        c.entries == a.entries && c.first_seq == a.first_seq && c.last_seq == a.last_seq,
        format!(
            "the receipt records {} entries (seq {}..={}) but the ledger has {} (seq {}..={}).",
            c.entries, c.first_seq, c.last_seq, a.entries, a.first_seq, a.last_seq
        ),
        format!(
            "the receipt and the ledger both have {} entries.",
            a.entries
        ),
    );
    cmp(
        CheckId::ReceiptLastHash,
        c.last_entry_sha256 == a.last_entry_sha256,
        format!(
            "the receipt's last entry hash {} differs from the ledger's {}.",
            c.last_entry_sha256, a.last_entry_sha256
        ),
        "the receipt's last entry hash is the ledger's.".into(),
    );
    cmp(
        CheckId::ReceiptMerkleRoot,
        c.merkle_root == a.merkle_root,
        format!(
            "the receipt's Merkle root {} differs from the root over the ledger's entries, {}.",
            c.merkle_root, a.merkle_root
        ),
        "the Merkle root over the entry hashes matches the receipt.".into(),
    );
    cmp(
        CheckId::ReceiptTrajectory,
        claimed.trajectory_sha256 == trajectory,
        format!(
            "the receipt's trajectory digest {} differs from the ledger's, {trajectory}.",
            claimed.trajectory_sha256
        ),
        format!("the trajectory digest {trajectory} recomputes."),
    );
    let Some(actual) = fold.receipt() else {
        f.add(
            CheckId::ReceiptSummary,
            Verdict::Unknown,
            "not checked: the ledger lacks its RUN_START or RUN_FINALIZE.".into(),
        );
        return;
    };
    let summary_same = claimed.program == actual.program
        && claimed.status == actual.status
        && claimed.started_at == actual.started_at
        && claimed.finished_at == actual.finished_at
        && claimed.stages == actual.stages
        && claimed.resources == actual.resources;
    cmp(CheckId::ReceiptSummary, summary_same,
        "the receipt's program, status, times, stage summary or resource totals differ from what the ledger records.".into(),
        format!("status {:?}, {} stages, {} failures, {} violations: as the ledger records.", echo(&actual.status), actual.stages.count, actual.stages.failures, actual.stages.violations));
}
