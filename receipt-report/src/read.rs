//! The limits of what a report reads, and a bounded line reader for run ledgers; files are
//! opened through `receipt_primitives::confine` (regular files only, paths named by a
//! ledger confined to its root, every read bounded).

use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};

use crate::ReportError;

/// Largest run ledger read: 1 GiB (a few million entries).
pub const MAX_LEDGER_BYTES: u64 = 1 << 30;
/// Longest run-ledger line read: the run ledger's limit,
/// [`receipt_runtime::entry::MAX_LINE_BYTES`].
pub const MAX_LINE_BYTES: usize = receipt_runtime::entry::MAX_LINE_BYTES as usize;

/// Reads LF-terminated lines of at most [`MAX_LINE_BYTES`] from a run ledger.
pub(crate) struct Lines<R> {
    reader: R,
    path: PathBuf,
    line: u64,
}

/// One line read by [`Lines`].
pub(crate) enum Line {
    /// A whole line, without its LF.
    Full,
    /// The last bytes of the file, without a final LF.
    Torn,
}

impl<R: BufRead> Lines<R> {
    pub(crate) fn new(reader: R, path: &Path) -> Self {
        Lines {
            reader,
            path: path.to_path_buf(),
            line: 0,
        }
    }

    /// Reads the next line into `buf` (cleared first); `None` at the end of the file.
    pub(crate) fn next_into(&mut self, buf: &mut Vec<u8>) -> Result<Option<Line>, ReportError> {
        buf.clear();
        self.line += 1;
        let n = (&mut self.reader)
            .take(MAX_LINE_BYTES as u64 + 1)
            .read_until(b'\n', buf)
            .map_err(|source| ReportError::Io {
                path: self.path.clone(),
                source,
            })?;
        if n == 0 {
            return Ok(None);
        }
        if buf.last() == Some(&b'\n') {
            buf.pop();
            if buf.len() <= MAX_LINE_BYTES {
                return Ok(Some(Line::Full));
            }
        }
        if buf.len() > MAX_LINE_BYTES {
            return Err(ReportError::LineTooLong {
                path: self.path.clone(),
                line: self.line,
                limit: MAX_LINE_BYTES,
            });
        }
        Ok(Some(Line::Torn))
    }
}
