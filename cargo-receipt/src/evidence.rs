//! `cargo receipt verify-run` with evidence and a run policy, `cargo receipt export-run` and
//! `cargo receipt gc`: the command-line side of docs/SPEC.md §16 and §17.

use std::fmt::Write as _;
use std::path::Path;

use receipt_evidence::policy::EvidencePolicy;
use receipt_evidence::{EvidenceStore, OpenOptions, SealKey, retention};
use receipt_primitives::Timestamp;
use receipt_runtime::audit::{Audit, AuditOptions, StoreChoice};
use receipt_runtime::invariants::RunPolicy;

use crate::cli::{ExportFormat, ExportRunArgs, GcArgs, RunEvidenceArgs, VerifyRunArgs};
use crate::exit::Error;

/// The evidence key: from the file named, else from `RECEIPT_EVIDENCE_KEY`, else none.
fn key(a: &RunEvidenceArgs) -> Result<Option<SealKey>, Error> {
    match &a.evidence_key {
        Some(path) => SealKey::from_file(path)
            .map(Some)
            .map_err(|e| Error::BadFile {
                path: path.clone(),
                what: format!("is not a usable evidence key: {e}"),
            }),
        None => SealKey::from_env().map_err(|e| Error::Usage(e.to_string())),
    }
}

fn policy(path: Option<&Path>) -> Result<Option<RunPolicy>, Error> {
    path.map(|p| RunPolicy::load(p).map_err(|e| Error::Usage(e.to_string())))
        .transpose()
}

fn options(
    receipt: Option<&Path>,
    ev: &RunEvidenceArgs,
    policy_file: Option<&Path>,
) -> Result<AuditOptions, Error> {
    Ok(AuditOptions {
        receipt: receipt.map(Path::to_owned),
        store: ev
            .evidence
            .clone()
            .map_or(StoreChoice::BesideLedger, StoreChoice::At),
        key: key(ev)?,
        policy: policy(policy_file)?,
    })
}

/// Verifies a run as `cargo receipt verify-run` does: chain and receipt, `EVIDENCE`
/// entries and blobs, and the invariants of `--policy`.
///
/// # Errors
/// [`Error::Usage`] or [`Error::BadFile`] for a policy or key that cannot be used.
pub fn audit(a: &VerifyRunArgs) -> Result<Audit, Error> {
    let opts = options(a.receipt.as_deref(), &a.evidence, a.policy.as_deref())?;
    Ok(receipt_runtime::audit::audit(&a.ledger, &opts))
}

/// `cargo receipt export-run`: the export document to stdout or `-o FILE` (atomically).
///
/// # Errors
/// A policy or key that cannot be used, an unreadable ledger, or a failed write.
pub fn export_run(a: &ExportRunArgs) -> Result<(), Error> {
    let opts = options(a.receipt.as_deref(), &a.evidence, a.policy.as_deref())?;
    let bytes = match a.format {
        ExportFormat::Json => receipt_runtime::export::export_run(&a.ledger, &opts),
    }
    .map_err(|e| Error::BadFile {
        path: a.ledger.clone(),
        what: format!("cannot be exported: {e}"),
    })?;
    match &a.output {
        Some(out) => receipt_primitives::fsutil::atomic_write(out, &bytes).map_err(Error::io(out)),
        None => crate::print_out(&String::from_utf8_lossy(&bytes)),
    }
}

/// `cargo receipt gc`: expires blobs by the retention policy (or, with `--dry-run`, says
/// what it would expire) and prints one line per blob and a summary.
///
/// # Errors
/// A bad policy file or `--now`, a store that cannot be opened, or a backend error.
pub fn gc(a: &GcArgs) -> Result<(), Error> {
    let retention = match &a.policy {
        Some(p) => {
            EvidencePolicy::load(p)
                .map_err(|e| Error::Usage(e.to_string()))?
                .retention
        }
        None => EvidencePolicy::default().retention,
    };
    let now = match &a.now {
        Some(t) => Timestamp::parse(t).map_err(|e| Error::Usage(format!("option --now: {e}")))?,
        None => Timestamp::now_or_source_date_epoch()
            .map_err(|e| Error::Usage(format!("environment variable SOURCE_DATE_EPOCH: {e}")))?,
    };
    let store = EvidenceStore::open(&a.store, &OpenOptions::default())
        .map_err(|e| Error::Usage(e.to_string()))?;
    let report = if a.dry_run {
        retention::plan(&store, &retention, now)
    } else {
        retention::gc(&store, &retention, now)
    }
    .map_err(|e| Error::Usage(e.to_string()))?;
    let verb = if a.dry_run { "would expire" } else { "expired" };
    let mut out = String::new();
    for t in &report.expired {
        let _ = writeln!(
            out,
            "{verb} {}/{} ({} bytes, created {}, {})",
            t.class,
            t.digest,
            t.size,
            t.created,
            t.reason.as_str()
        );
    }
    for (class, digest) in &report.orphan_meta_removed {
        let _ = writeln!(
            out,
            "{} {class}/{digest}: a metadata record without its blob",
            if a.dry_run { "would remove" } else { "removed" }
        );
    }
    for (class, digest) in &report.unmanaged {
        let _ = writeln!(
            out,
            "left alone {class}/{digest}: no valid metadata record, so its age is unknown"
        );
    }
    for (class, (n, bytes)) in &report.kept {
        let _ = writeln!(out, "kept {n} {class} blob(s), {bytes} bytes stored");
    }
    let _ = writeln!(
        out,
        "{} blob(s) {verb} at {now}; tombstones say \"expired by policy\" to verify-run",
        report.expired.len()
    );
    crate::print_out(&out)
}
