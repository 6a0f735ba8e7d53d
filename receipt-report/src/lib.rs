//! Reports to look at: one self-contained HTML page for a build chain (chain timeline,
//! the latest build's dependency graph, artifacts, verification) or for a run ledger
//! (stage flame chart per thread, resources per stage, violations and events,
//! verification).
//!
//! The page loads nothing: styles and a small script are inline, pinned by hash in a
//! Content-Security-Policy that forbids everything else. Every string from the input is
//! escaped, and the same input always gives the same bytes. Large inputs are aggregated
//! (see [`graph`] and [`run`]) so the page stays small and responsive.
//!
//! ```no_run
//! # fn main() -> Result<(), receipt_report::ReportError> {
//! let written = receipt_report::write(
//!     std::path::Path::new("target/receipt"),
//!     std::path::Path::new("report.html"),
//! )?;
//! println!("{} bytes, verification {}", written.bytes, if written.verified { "passed" } else { "FAILED" });
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

pub mod chain;
pub mod graph;
pub mod html;
pub mod layout;
pub mod read;
pub mod run;

use std::path::{Path, PathBuf};

/// Why no report was made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A file could not be read or the report could not be written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file could not be read safely (a symlink, FIFO, device, a path outside the
    /// ledger, or over its size limit); the sentence names it.
    #[error("{0}")]
    Read(#[from] receipt_primitives::confine::ReadError),
    /// The input is larger than the documented limit.
    #[error("{} is larger than {limit} bytes, the most a report reads", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The limit in bytes.
        limit: u64,
    },
    /// A run-ledger line is longer than the line bound.
    #[error("{} line {line} is longer than {limit} bytes, the longest line a report reads", path.display())]
    LineTooLong {
        /// The ledger.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// The bound in bytes.
        limit: usize,
    },
    /// The directory holds no build chain.
    #[error("{} holds no chain.head, so it is not a build ledger (run `cargo receipt build` first)", dir.display())]
    NoChain {
        /// The directory.
        dir: PathBuf,
    },
}

/// What [`write()`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// Size of the page in bytes.
    pub bytes: u64,
    /// Whether the input's verification passed (no check FAIL or UNKNOWN).
    pub verified: bool,
    /// What the input was.
    pub kind: InputKind,
}

/// What a report is made from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    /// A build chain directory (docs/SPEC.md §6).
    Chain,
    /// A run ledger file (docs/SPEC.md §10).
    Run,
}

/// A finished page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// The HTML document.
    pub html: String,
    /// Whether the input's verification passed.
    pub verified: bool,
    /// What the input was.
    pub kind: InputKind,
}

/// Renders the report of `input`: a directory is read as a build chain, a file as a run
/// ledger.
///
/// # Errors
/// [`ReportError`] when the input cannot be read at all; damage inside a readable input
/// is shown in the page (and fails its verification), not returned.
pub fn render(input: &Path) -> Result<Page, ReportError> {
    let meta = std::fs::metadata(input).map_err(|source| ReportError::Io {
        path: input.to_path_buf(),
        source,
    })?;
    if meta.is_dir() {
        chain::render(input)
    } else {
        run::render(input)
    }
}

/// Renders the report of `input` (see [`render`]) and writes it to `output` atomically
/// (temp file, fsync, rename).
///
/// # Errors
/// [`ReportError`] when the input cannot be read or the page cannot be written.
pub fn write(input: &Path, output: &Path) -> Result<Written, ReportError> {
    let page = render(input)?;
    receipt_primitives::fsutil::atomic_write(output, page.html.as_bytes()).map_err(|source| {
        ReportError::Io {
            path: output.to_path_buf(),
            source,
        }
    })?;
    Ok(Written {
        bytes: page.html.len() as u64,
        verified: page.verified,
        kind: page.kind,
    })
}
