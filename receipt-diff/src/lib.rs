//! What changed between two build receipts (`cargo receipt diff`), and where two run
//! ledgers first diverge (`cargo receipt diff-run`).
//!
//! A build diff reads each side from a receipt file, an output directory, a CI artifact
//! archive (through `receipt-archive`) or a chain position (`DIR@3`, `@-1`), and lists every
//! difference as a [`build::Change`] in report order: toolchain, build request, dependencies,
//! graph, sources, outcome, artifacts, fingerprints, the rest. A change *counts* unless it is
//! a measured field (work times and memory, and an artifact's hash or size at an unchanged
//! path, which depend on the build's absolute paths). A run diff aligns the stage calls of
//! two run ledgers and reports the first divergence. The JSON forms (`receipt.diff/1`,
//! `receipt.run-diff/1`) are canonical JSON; both are specified in
//! `docs/SPEC.md` §12.
//!
//! Exit codes follow `diff`: 0 nothing that counts differs, 1 something does, 2 an error
//! (or, for run diffs, a ledger that does not verify); see [`exit_code`] and
//! [`run_exit_code`].
#![deny(missing_docs)]

pub mod build;
pub mod input;
pub mod provenance;
pub mod run;

use std::io;
use std::path::{Path, PathBuf};

pub use build::{BuildDiff, Change, ChangeKind, Section};
pub use input::{Position, Side, Spec};
pub use run::{Divergence, RunDiff, What};

use receipt_protocol::exit::{SUCCESS, USAGE_OR_IO, VERIFY_FAILED};

/// Why a diff could not be made.
#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    /// The arguments do not name something to compare.
    #[error("{0}")]
    Usage(String),
    /// A file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// A file is not what it should be.
    #[error("{}: {what}", path.display())]
    BadFile {
        /// The file.
        path: PathBuf,
        /// One sentence, starting after the path.
        what: String,
    },
    /// An artifact archive was refused or could not be opened.
    #[error(transparent)]
    Archive(#[from] receipt_archive::ArchiveError),
}

/// Compares the receipts `a` and `b` name (see [`Spec::parse`]); a bare `@N` reads
/// `default_dir`.
///
/// # Errors
/// [`DiffError`] when either side cannot be read.
pub fn diff_receipts(a: &str, b: &str, default_dir: Option<&Path>) -> Result<BuildDiff, DiffError> {
    let (sa, sb) = (Spec::parse(a)?, Spec::parse(b)?);
    // The two sides are read on two threads: parsing a large receipt is most of the work.
    let (sa, sb) = std::thread::scope(|s| {
        let other = s.spawn(|| input::load(&sb, b, default_dir));
        let sa = input::load(&sa, a, default_dir);
        let sb = other
            .join()
            .unwrap_or_else(|_| Err(DiffError::Usage(format!("reading {b:?} panicked"))));
        (sa, sb)
    });
    Ok(build::diff(&sa?, &sb?))
}

/// The exit code of a build diff: 0 when nothing that counts differs, else 1.
pub fn exit_code(d: &BuildDiff) -> u8 {
    if d.differs { VERIFY_FAILED } else { SUCCESS }
}

/// The exit code of a run diff: 2 when either ledger does not verify (the diff is still
/// reported), else 1 when the runs diverge, else 0.
pub fn run_exit_code(d: &RunDiff) -> u8 {
    if !d.verified() {
        USAGE_OR_IO
    } else if d.differs {
        VERIFY_FAILED
    } else {
        SUCCESS
    }
}
