//! What the server verifies before it stores or reports anything: a build ledger directory
//! (as `cargo receipt verify DIR` does), an uploaded artifact (unpacked into a private
//! temporary directory first), and a run ledger with its run receipt.

use std::fmt;
use std::path::Path;

use receipt_primitives::check::Report;
use receipt_primitives::confine;
use receipt_primitives::digest::Digest;
use receipt_protocol::ledger::{CHAIN_HEAD, Ledger, MANIFEST_FILE};
use receipt_protocol::limits;
use receipt_protocol::receipt::Section;

pub use crate::config::VerifyConfig;
use crate::store::{BuildFields, NewBuild, NewRun, Origin};

/// Why an upload could not be verified at all (as opposed to verifying and failing).
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The archive could not be unpacked: it is not a ZIP or tar, is damaged, or breaks a
    /// limit (size, entry count, paths escaping the root).
    #[error("{0}")]
    Archive(String),
    /// A file the verification passed could not be read back.
    #[error("cannot read back a file of the verified directory: {0}")]
    Read(#[from] receipt_primitives::confine::ReadError),
    /// A temporary directory could not be made or written.
    #[error("cannot prepare a temporary directory for verification: {0}")]
    Temp(std::io::Error),
    /// A document the verification passed does not parse (should not happen).
    #[error("{0}")]
    Inconsistent(String),
    /// The uploaded run export is not the export of the uploaded ledger.
    #[error(
        "the export part is not the run export (receipt.run-export/1) of the uploaded ledger; leave it out and the server writes it"
    )]
    ExportMismatch,
}

impl VerifyConfig {
    fn options(&self) -> cargo_receipt::verify::Options {
        cargo_receipt::verify::Options {
            keys: receipt_protocol::verify::KeyOptions {
                keys: self.keys.clone(),
                since: None,
            },
            policy: self.policy.clone(),
            ..cargo_receipt::verify::Options::default()
        }
    }
}

/// The facts of a verified build ledger that are stored with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildFacts {
    /// What the ledger says about itself.
    pub fields: BuildFields,
    /// The latest receipt file's bytes.
    pub receipt: Vec<u8>,
    /// The latest manifest file's bytes.
    pub manifest: Vec<u8>,
    /// `chain.head`'s bytes.
    pub chain_head: Vec<u8>,
}

/// The outcome of verifying a build ledger.
#[derive(Debug, Clone)]
pub struct Verified {
    /// Every check made.
    pub report: Report,
    /// The facts to store, present exactly when the report passed.
    pub facts: Option<BuildFacts>,
}

impl Verified {
    /// The row to store for a passing verification; `None` when it failed.
    pub fn into_new_build(self, origin: Origin) -> Option<NewBuild> {
        let report_json = serde_json::to_string(&self.report).ok()?;
        let f = self.facts?;
        Some(NewBuild {
            fields: f.fields,
            origin,
            report_json,
            receipt: f.receipt,
            manifest: f.manifest,
            chain_head: f.chain_head,
        })
    }
}

/// Verifies an uploaded or downloaded artifact (its bytes) and reports the checks.
///
/// The server holds one: [`ArchiveVerifier`], which unpacks the archive with its limits
/// into a private temporary directory and calls [`verify_dir`].
pub trait ArtifactVerifier: Send + Sync + fmt::Debug {
    /// Verifies `bytes`, an artifact ZIP or a tarball of a ledger directory.
    ///
    /// # Errors
    /// [`VerifyError`] when the bytes cannot be unpacked or read at all; a ledger that
    /// unpacks but fails its checks is an `Ok` with a failing report.
    fn verify(&self, bytes: &[u8]) -> Result<Verified, VerifyError>;
}

/// Reads a file of the verified directory as the verifier does: confined to the
/// directory, no symlink followed, at most `limit` bytes.
/// The production verifier: [`verify_artifact`] with these settings and archive limits.
#[derive(Debug, Clone, Default)]
pub struct ArchiveVerifier {
    /// How the unpacked ledger is verified.
    pub config: VerifyConfig,
    /// What an archive may hold.
    pub limits: receipt_archive::Limits,
}

impl ArtifactVerifier for ArchiveVerifier {
    fn verify(&self, bytes: &[u8]) -> Result<Verified, VerifyError> {
        verify_artifact(bytes, &self.config, &self.limits)
    }
}

/// The archive reader's error as one sentence about "the archive", without the name of
/// the private temporary file it was read from.
fn archive_sentence(e: receipt_archive::ArchiveError) -> VerifyError {
    use receipt_archive::ArchiveError as A;
    match e {
        A::Io { source, .. } => VerifyError::Temp(source),
        A::NotAnArchive { why, .. } | A::Malformed { why, .. } => VerifyError::Archive(why),
        A::Refused { entry, why, .. } => {
            VerifyError::Archive(format!("refusing member {entry:?}, which {why}"))
        }
        A::NoLedger { .. } => VerifyError::Archive(
            "there is no `chain.head` at the archive's top or inside a single top-level directory, so it holds no receipt ledger".into(),
        ),
    }
}

/// Verifies an artifact as `cargo receipt verify ARTIFACT.zip` does: the bytes (a ZIP, a
/// tar or a gzip-compressed tar) are written to a private temporary directory, unpacked
/// there by `receipt_archive` within `limits` (no member outside it, no links, bounded
/// sizes and counts), and the ledger found in it is verified with [`verify_dir`]. Every
/// temporary file is removed before this returns.
///
/// # Errors
/// [`VerifyError::Archive`] with one sentence when the archive is refused;
/// [`VerifyError::Temp`] when the temporary files cannot be written.
pub fn verify_artifact(
    bytes: &[u8],
    cfg: &VerifyConfig,
    limits: &receipt_archive::Limits,
) -> Result<Verified, VerifyError> {
    let tmp = tempfile::Builder::new()
        .prefix("receipt-server-artifact-")
        .tempdir()
        .map_err(VerifyError::Temp)?;
    let path = tmp.path().join("artifact");
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(VerifyError::Temp)?;
        f.write_all(bytes).map_err(VerifyError::Temp)?;
    }
    let extracted = receipt_archive::open_with(&path, limits).map_err(archive_sentence)?;
    verify_dir(extracted.root(), cfg)
}

fn read(dir: &Path, rel: &str, limit: u64, what: &'static str) -> Result<Vec<u8>, VerifyError> {
    Ok(confine::read_under(dir, rel, limit, what)?)
}

/// Every check of `cargo receipt verify DIR` on the ledger directory `dir`, and, when they
/// all pass, the facts of its latest entry.
///
/// # Errors
/// [`VerifyError`] when a file that passed verification cannot be read back.
pub fn verify_dir(dir: &Path, cfg: &VerifyConfig) -> Result<Verified, VerifyError> {
    let report = cargo_receipt::verify::verify(dir, &cfg.options());
    if !report.ok() {
        return Ok(Verified {
            report,
            facts: None,
        });
    }
    let chain_head = read(dir, CHAIN_HEAD, limits::CHAIN_HEAD_BYTES, "a chain head")?;
    let ledger = Ledger::existing(dir).map_err(|e| VerifyError::Inconsistent(e.to_string()))?;
    let lines = ledger
        .head()
        .map_err(|e| VerifyError::Inconsistent(e.to_string()))?;
    let (line, manifest, receipt) = ledger
        .latest()
        .map_err(|e| VerifyError::Inconsistent(e.to_string()))?
        .ok_or_else(|| VerifyError::Inconsistent("the verified chain is empty".into()))?;
    let receipt_bytes = read(dir, &line.path, limits::RECEIPT_BYTES, "a receipt")?;
    let entry_dir = line.path.rsplit_once('/').map_or("", |(d, _)| d).to_owned();
    let manifest_rel = if entry_dir.is_empty() {
        MANIFEST_FILE.to_owned()
    } else {
        format!("{entry_dir}/{MANIFEST_FILE}")
    };
    let manifest_bytes = read(dir, &manifest_rel, limits::MANIFEST_BYTES, "a manifest")?;
    let git = receipt.source.get().and_then(|s| s.git.get());
    let facts = BuildFacts {
        fields: BuildFields {
            chain_sha256: Digest::of(&chain_head).to_hex(),
            receipt_sha256: Digest::of(&receipt_bytes).to_hex(),
            chain_length: i64::try_from(lines.len()).unwrap_or(i64::MAX),
            kind: receipt.kind.clone(),
            producer: receipt.producer.clone(),
            merkle_root: manifest.merkle_root.to_hex(),
            commit: git.and_then(|g| g.commit.clone()),
            dirty: git.map(|g| g.dirty),
            work_status: match &receipt.work {
                Section::Available(w) => Some(w.status.clone()),
                _ => None,
            },
            timestamp: manifest.timestamp.to_string(),
        },
        receipt: receipt_bytes,
        manifest: manifest_bytes,
        chain_head,
    };
    Ok(Verified {
        report,
        facts: Some(facts),
    })
}

/// A run ledger and its receipt as uploaded.
#[derive(Debug, Clone)]
pub struct RunUpload {
    /// The ledger file's bytes.
    pub ledger: Vec<u8>,
    /// The ledger's head file, when uploaded.
    pub head: Option<Vec<u8>>,
    /// The run receipt's bytes.
    pub receipt: Vec<u8>,
    /// The run export document the client made, if any: it must be byte-identical to the
    /// export the server computes from the ledger (`receipt_runtime::export`).
    pub export: Option<Vec<u8>>,
}

/// The outcome of verifying a run.
#[derive(Debug, Clone)]
pub struct RunVerified {
    /// Every check of `verify_run`.
    pub report: Report,
    /// The row to store, present exactly when the report passed.
    pub run: Option<NewRun>,
}

/// Verifies a run ledger against its run receipt (`receipt_runtime::verify::verify_run`),
/// in a private temporary directory.
///
/// # Errors
/// [`VerifyError`] when the temporary files cannot be written.
pub fn verify_run_upload(up: RunUpload) -> Result<RunVerified, VerifyError> {
    let tmp = tempfile::Builder::new()
        .prefix("receipt-server-run-")
        .tempdir()
        .map_err(VerifyError::Temp)?;
    let ledger = tmp.path().join("run.ledger");
    std::fs::write(&ledger, &up.ledger).map_err(VerifyError::Temp)?;
    if let Some(h) = &up.head {
        std::fs::write(receipt_runtime::ledger::head_path(&ledger), h)
            .map_err(VerifyError::Temp)?;
    }
    let receipt_path = receipt_runtime::ledger::receipt_path(&ledger);
    std::fs::write(&receipt_path, &up.receipt).map_err(VerifyError::Temp)?;
    let report = receipt_runtime::verify::verify_run(&ledger, Some(&receipt_path)).report;
    if !report.ok() {
        return Ok(RunVerified { report, run: None });
    }
    // The export served for the run is the one computed here, by the same function as
    // `cargo receipt export-run`; an uploaded one is only compared with it.
    let export = receipt_runtime::export::export_run(
        &ledger,
        &receipt_runtime::audit::AuditOptions {
            receipt: Some(receipt_path.clone()),
            ..Default::default()
        },
    )
    .map_err(|e| VerifyError::Inconsistent(format!("the verified run cannot be exported: {e}")))?;
    if up.export.as_ref().is_some_and(|x| *x != export) {
        return Err(VerifyError::ExportMismatch);
    }
    let receipt: receipt_runtime::receipt::RunReceipt = serde_json::from_slice(&up.receipt)
        .map_err(|e| {
            VerifyError::Inconsistent(format!("the verified run receipt does not parse: {e}"))
        })?;
    let report_json =
        serde_json::to_string(&report).map_err(|e| VerifyError::Inconsistent(e.to_string()))?;
    let run = NewRun {
        run_id: receipt.run_id,
        receipt_sha256: Digest::of(&up.receipt).to_hex(),
        ledger_sha256: Digest::of(&up.ledger).to_hex(),
        entries: i64::try_from(receipt.ledger.entries).unwrap_or(i64::MAX),
        program: receipt.program,
        status: receipt.status,
        report_json,
        receipt: up.receipt,
        export: Some(export),
    };
    Ok(RunVerified {
        report,
        run: Some(run),
    })
}
