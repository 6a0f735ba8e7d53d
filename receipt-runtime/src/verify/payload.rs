//! The rules of docs/SPEC.md §10.1 and §10.3 that each entry satisfies on its own: the run
//! id grammar, the ledger schema, timestamps, hashes, outcomes and statuses, and which
//! entry types carry a stage name.

use receipt_primitives::check::{CheckId, Verdict, echo};
use receipt_primitives::time::Timestamp;

use super::findings::Findings;
use crate::entry::{LEDGER_SCHEMA, is_hex64, is_program_name, is_valid_run_id, kind};
use crate::receipt::PayloadView;

/// The outcomes a `STAGE_EXIT` can record.
const OUTCOMES: [&str; 3] = ["ok", "err", "panic"];
/// The statuses a `RUN_FINALIZE` can record.
const STATUSES: [&str; 3] = ["ok", "failed", "panicked"];

/// Checks the run id of line 1 against the run-id grammar (§10.1); every other line has
/// the same run id or fails `ledger.run_id`.
pub(super) fn check_run_id(f: &mut Findings, run_id: &str) {
    if !is_valid_run_id(run_id) {
        f.add(
            CheckId::RunId,
            Verdict::Fail,
            format!(
                "line 1 has run id {:?} ({} bytes), which is not 1 to 128 characters of [A-Za-z0-9._-] starting with a letter or digit.",
                echo(run_id),
                run_id.len()
            ),
        );
    }
}

/// Checks the fields of one entry's payload that §10.3 constrains and that the
/// verifier reads, and that `stage` is null exactly for the run's own entries.
pub(super) fn check_payload(
    f: &mut Findings,
    line: u64,
    kind_: &str,
    stage: Option<&str>,
    p: &PayloadView<'_>,
) {
    let run = p.run.as_deref();
    match kind_ {
        kind::RUN_START => {
            if stage.is_some() {
                f.add(
                    CheckId::RunStart,
                    Verdict::Fail,
                    format!("line {line}: RUN_START has a stage name; it must be null."),
                );
            }
            match run.and_then(|r| r.program.as_deref()) {
                Some(name) if is_program_name(name) => {}
                Some(name) => f.add(
                    CheckId::RunStart,
                    Verdict::Fail,
                    format!(
                        "line {line}: RUN_START field \"program\" is {:?}, not a file name (non-empty, no `/`, no control character, not `.` or `..`).",
                        echo(name)
                    ),
                ),
                None => f.add(
                    CheckId::RunStart,
                    Verdict::Fail,
                    format!("line {line}: RUN_START has no field \"program\"."),
                ),
            }
            match run.and_then(|r| r.schema.as_deref()) {
                Some(LEDGER_SCHEMA) => {}
                Some(other) => f.add(
                    CheckId::RunSchema,
                    Verdict::Fail,
                    format!(
                        "line {line}: RUN_START field \"schema\" is {:?}; this verifier reads only {LEDGER_SCHEMA:?}.",
                        echo(other)
                    ),
                ),
                None => f.add(
                    CheckId::RunSchema,
                    Verdict::Fail,
                    format!("line {line}: RUN_START has no field \"schema\"."),
                ),
            }
            timestamp(
                f,
                line,
                "RUN_START",
                "started_at",
                run.and_then(|r| r.started_at.as_deref()),
            );
            hash_or_null(
                f,
                line,
                "RUN_START",
                "argv_sha256",
                run.and_then(|r| r.argv_sha256.as_deref()),
            );
        }
        kind::RUN_FINALIZE => {
            if stage.is_some() {
                f.add(
                    CheckId::RunFinalize,
                    Verdict::Fail,
                    format!("line {line}: RUN_FINALIZE has a stage name; it must be null."),
                );
            }
            one_of(
                f,
                line,
                "RUN_FINALIZE",
                "status",
                run.and_then(|r| r.status.as_deref()),
                &STATUSES,
            );
            timestamp(
                f,
                line,
                "RUN_FINALIZE",
                "finished_at",
                run.and_then(|r| r.finished_at.as_deref()),
            );
        }
        kind::STAGE_ENTER => {
            named(f, line, kind_, stage);
            hash_or_null(f, line, "STAGE_ENTER", "input", p.input.as_deref());
        }
        kind::STAGE_EXIT => {
            named(f, line, kind_, stage);
            hash_or_null(f, line, "STAGE_EXIT", "output", p.output.as_deref());
            one_of(
                f,
                line,
                "STAGE_EXIT",
                "outcome",
                p.outcome.as_deref(),
                &OUTCOMES,
            );
        }
        kind::EVENT | kind::VIOLATION | kind::EVIDENCE => named(f, line, kind_, stage),
        _ => {}
    }
}

/// A stage, event or violation entry names its stage.
fn named(f: &mut Findings, line: u64, kind_: &str, stage: Option<&str>) {
    if stage.is_none() {
        f.add(
            CheckId::RunStages,
            Verdict::Fail,
            format!("line {line}: {kind_} has no stage name."),
        );
    }
}

/// `value` is a timestamp of the form `YYYY-MM-DDTHH:MM:SSZ` naming a real instant.
fn timestamp(f: &mut Findings, line: u64, kind_: &str, field: &str, value: Option<&str>) {
    match value {
        Some(v) if Timestamp::parse(v).is_ok() => {}
        Some(v) => f.add(
            CheckId::RunTimestamps,
            Verdict::Fail,
            format!(
                "line {line}: {kind_} field {field:?} is {:?}, not a timestamp of the form YYYY-MM-DDTHH:MM:SSZ.",
                echo(v)
            ),
        ),
        None => f.add(
            CheckId::RunTimestamps,
            Verdict::Fail,
            format!("line {line}: {kind_} has no field {field:?}."),
        ),
    }
}

/// `value` is 64 lowercase hex digits, or null.
fn hash_or_null(f: &mut Findings, line: u64, kind_: &str, field: &str, value: Option<&str>) {
    if let Some(v) = value
        && !is_hex64(v)
    {
        f.add(
            CheckId::RunHashes,
            Verdict::Fail,
            format!(
                "line {line}: {kind_} field {field:?} is {:?}, not a SHA-256 digest (64 lowercase hex digits) or null.",
                echo(v)
            ),
        );
    }
}

/// `value` is one of `allowed`.
fn one_of(
    f: &mut Findings,
    line: u64,
    kind_: &str,
    field: &str,
    value: Option<&str>,
    allowed: &[&str],
) {
    match value {
        Some(v) if allowed.contains(&v) => {}
        Some(v) => f.add(
            CheckId::RunStatus,
            Verdict::Fail,
            format!(
                "line {line}: {kind_} field {field:?} is {:?}, not one of {}.",
                echo(v),
                allowed.join(", ")
            ),
        ),
        None => f.add(
            CheckId::RunStatus,
            Verdict::Fail,
            format!("line {line}: {kind_} has no field {field:?}."),
        ),
    }
}
