//! The typed errors of `cargo receipt` and the one function that maps them to the exit
//! codes of [`receipt_protocol::exit`].

use std::io;
use std::path::PathBuf;
use std::process::ExitCode;

pub use receipt_protocol::exit::{SUCCESS, USAGE_OR_IO, VERIFY_FAILED};

/// Everything that can stop a command.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The arguments are not usable.
    #[error("{0}")]
    Usage(String),
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// A program could not be started.
    #[error("cannot run `{program}`: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// Why.
        source: io::Error,
    },
    /// `cargo metadata` failed.
    #[error("{0}")]
    Metadata(#[from] cargo_metadata::Error),
    /// A file has the wrong content.
    #[error("{}: {what}", path.display())]
    BadFile {
        /// The file.
        path: PathBuf,
        /// One sentence.
        what: String,
    },
    /// The ledger refused the append.
    #[error(transparent)]
    Ledger(#[from] receipt_protocol::ledger::LedgerError),
    /// A check or proof did not hold; already reported to the user.
    #[error("{0}")]
    VerificationFailed(String),
    /// The build failed, and its receipt could not be written either.
    #[error("the build failed, and its receipt could not be written: {why}")]
    BuildFailedUnrecorded {
        /// cargo's exit code.
        code: u8,
        /// Why the receipt could not be written.
        why: String,
    },
    /// A CI artifact archive was refused or could not be opened.
    #[error(transparent)]
    Archive(#[from] receipt_archive::ArchiveError),
    /// Two receipts or run ledgers could not be compared.
    #[error(transparent)]
    Diff(#[from] receipt_diff::DiffError),
    /// A key file could not be used (missing, malformed, readable by others).
    #[error(transparent)]
    Key(#[from] receipt_attest::keys::KeyError),
    /// A policy file could not be used.
    #[error(transparent)]
    Policy(#[from] receipt_protocol::policy::PolicyError),
    /// `Cargo.lock` could not be read for the provenance.
    #[error(transparent)]
    Lockfile(#[from] crate::lockfile::LockfileError),
    /// The build itself failed with this exit code; its receipt was written.
    #[error("the build failed; its receipt was written to {}", out.display())]
    BuildFailed {
        /// cargo's exit code.
        code: u8,
        /// The output directory.
        out: PathBuf,
    },
}

impl Error {
    /// Shorthand for an I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { path, source }
    }

    /// The exit code of this error: the one place errors become exit codes.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::BuildFailed { code, .. } | Error::BuildFailedUnrecorded { code, .. } => *code,
            Error::VerificationFailed(_) => VERIFY_FAILED,
            Error::Usage(_)
            | Error::Io { .. }
            | Error::Spawn { .. }
            | Error::Metadata(_)
            | Error::BadFile { .. }
            | Error::Ledger(_)
            | Error::Archive(_)
            | Error::Diff(_)
            | Error::Key(_)
            | Error::Policy(_)
            | Error::Lockfile(_) => USAGE_OR_IO,
        }
    }
}

/// The process exit code of a command's outcome, printing the error (if any) to stderr.
pub fn report(result: Result<(), Error>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::from(SUCCESS),
        Err(e) => {
            match &e {
                // Already explained line by line on stdout.
                Error::VerificationFailed(_) => {}
                _ => eprintln!("error: {e}"),
            }
            ExitCode::from(e.exit_code())
        }
    }
}
