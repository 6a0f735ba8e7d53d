//! Bounded, confined reads of the files a report is made from: regular files only (no
//! FIFO, device or symlink is opened), paths named by a ledger stay under its root, and
//! every read stops at a documented size.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, Read};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use receipt_primitives::check::echo;
use receipt_protocol::ledger::is_ledger_path;

use crate::ReportError;

/// Largest `chain.head` read: 64 MiB (over a million entries).
pub const MAX_HEAD_BYTES: u64 = 64 << 20;
/// Largest receipt, manifest or `graph.json` read from a build chain: 256 MiB.
pub const MAX_CHAIN_FILE_BYTES: u64 = 256 << 20;
/// Largest run ledger read: 1 GiB (a few million entries).
pub const MAX_LEDGER_BYTES: u64 = 1 << 30;
/// Longest run-ledger line read: 64 MiB.
pub const MAX_LINE_BYTES: usize = 64 << 20;

/// Opens `path` for reading when it is a regular file (not following a final symlink,
/// never blocking on a FIFO) of at most `limit` bytes.
pub(crate) fn open_regular(path: &Path, limit: u64) -> Result<(File, u64), ReportError> {
    let io = |source: io::Error| ReportError::Io {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::symlink_metadata(path).map_err(io)?;
    if !meta.file_type().is_file() {
        return Err(ReportError::NotRegular {
            path: path.to_path_buf(),
        });
    }
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(io)?;
    // The file opened is the one checked: still regular, and not too large.
    let meta = file.metadata().map_err(io)?;
    if !meta.file_type().is_file() {
        return Err(ReportError::NotRegular {
            path: path.to_path_buf(),
        });
    }
    if meta.len() > limit {
        return Err(ReportError::TooLarge {
            path: path.to_path_buf(),
            limit,
        });
    }
    Ok((file, meta.len()))
}

/// Reads the regular file `path` whole, refusing more than `limit` bytes (also when it
/// grows while being read).
pub(crate) fn read_regular(path: &Path, limit: u64) -> Result<Vec<u8>, ReportError> {
    let (file, len) = open_regular(path, limit)?;
    let mut buf = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    file.take(limit + 1)
        .read_to_end(&mut buf)
        .map_err(|source| ReportError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    if buf.len() as u64 > limit {
        return Err(ReportError::TooLarge {
            path: path.to_path_buf(),
            limit,
        });
    }
    Ok(buf)
}

/// Reads `rel`, a path named by the ledger at `root`, confined to it: a ledger path (§6:
/// relative, `/`-separated, no `.`/`..`), every directory on the way a real directory (not
/// a symlink), the file itself a regular file of at most `limit` bytes.
pub(crate) fn read_confined(root: &Path, rel: &str, limit: u64) -> Result<Vec<u8>, ReportError> {
    if !is_ledger_path(rel) {
        return Err(ReportError::Confined {
            root: root.to_path_buf(),
            path: echo(rel),
        });
    }
    let mut at = root.to_path_buf();
    let parts: Vec<&str> = rel.split('/').collect();
    for dir in &parts[..parts.len() - 1] {
        at.push(dir);
        let meta = std::fs::symlink_metadata(&at).map_err(|source| ReportError::Io {
            path: at.clone(),
            source,
        })?;
        if !meta.file_type().is_dir() {
            return Err(ReportError::Confined {
                root: root.to_path_buf(),
                path: echo(rel),
            });
        }
    }
    at.push(parts[parts.len() - 1]);
    read_regular(&at, limit)
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confined_reads_refuse_escapes_symlinks_and_fifos() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("ledger");
        std::fs::create_dir_all(root.join("receipts/000001")).unwrap();
        std::fs::write(root.join("receipts/000001/receipt.json"), b"{}").unwrap();
        std::fs::write(t.path().join("secret"), b"outside").unwrap();
        assert_eq!(
            read_confined(&root, "receipts/000001/receipt.json", 10).unwrap(),
            b"{}"
        );
        for bad in [
            "../secret",
            "/etc/passwd",
            "receipts/../../secret",
            "a//b",
            "",
        ] {
            assert!(
                matches!(
                    read_confined(&root, bad, 10),
                    Err(ReportError::Confined { .. })
                ),
                "{bad}"
            );
        }
        std::os::unix::fs::symlink(t.path().join("secret"), root.join("link")).unwrap();
        assert!(matches!(
            read_confined(&root, "link", 10),
            Err(ReportError::NotRegular { .. })
        ));
        std::os::unix::fs::symlink(t.path(), root.join("dirlink")).unwrap();
        assert!(matches!(
            read_confined(&root, "dirlink/secret", 10),
            Err(ReportError::Confined { .. })
        ));
        let fifo = root.join("fifo");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        assert!(matches!(
            read_confined(&root, "fifo", 10),
            Err(ReportError::NotRegular { .. })
        ));
        assert!(matches!(
            read_confined(&root, "receipts/000001/receipt.json", 1),
            Err(ReportError::TooLarge { limit: 1, .. })
        ));
    }

    #[test]
    fn lines_end_at_lf_and_report_a_torn_tail() {
        let data = b"one\ntwo\nthree";
        let mut lines = Lines::new(&data[..], Path::new("l"));
        let mut buf = Vec::new();
        assert!(matches!(lines.next_into(&mut buf), Ok(Some(Line::Full))));
        assert_eq!(buf, b"one");
        assert!(matches!(lines.next_into(&mut buf), Ok(Some(Line::Full))));
        assert_eq!(buf, b"two");
        assert!(matches!(lines.next_into(&mut buf), Ok(Some(Line::Torn))));
        assert_eq!(buf, b"three");
        assert!(matches!(lines.next_into(&mut buf), Ok(None)));
    }
}
