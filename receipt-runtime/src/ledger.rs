//! The run-ledger files (the JSONL ledger, its head file and its receipt), the exclusive
//! writer lock, and crash recovery of a torn tail.

use std::ffi::OsString;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{self, BufRead, BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use receipt_primitives::Digest;
use serde::{Deserialize, Serialize};

use crate::entry::{RawEntry, genesis, kind, parse_raw};

/// Schema tag of the head file.
pub const HEAD_SCHEMA: &str = "receipt.run-head/1";

/// `<ledger>.head`: the small head file rewritten at every fsync.
pub fn head_path(ledger: &Path) -> PathBuf {
    suffixed(ledger, ".head")
}

/// `<ledger>.receipt.json`: the run receipt written at finalize.
pub fn receipt_path(ledger: &Path) -> PathBuf {
    suffixed(ledger, ".receipt.json")
}

fn suffixed(path: &Path, suffix: &str) -> PathBuf {
    let mut s: OsString = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// The head file (RFC 8785 JSON): the ledger state at the last fsync.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Head {
    /// Always [`HEAD_SCHEMA`].
    pub schema: String,
    /// Run id of the ledger.
    pub run_id: String,
    /// Entries durable at the last fsync.
    pub entries: u64,
    /// `hash` of entry `entries - 1`.
    pub last_entry_sha256: Digest,
    /// RFC 6962 root over the first `entries` entry hashes.
    pub merkle_root: Digest,
}

/// Largest head file a reader accepts (docs/SPEC.md §10.5); a real one is under 400 bytes.
pub const MAX_HEAD_BYTES: u64 = 64 << 10;

/// Why a head file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum HeadError {
    /// The file is missing, not a regular file, too large or unreadable.
    #[error(transparent)]
    Read(#[from] receipt_primitives::confine::ReadError),
    /// The bytes are not canonical JSON.
    #[error("{0} is not canonical JSON")]
    NotCanonical(String),
    /// The JSON is not a head object.
    #[error("{path} is not a run head file: {message}")]
    Form {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The schema is not [`HEAD_SCHEMA`].
    #[error("{path}: field \"schema\" is {found:?}, expected {HEAD_SCHEMA:?}")]
    Schema {
        /// The file.
        path: String,
        /// The schema it names (cut to 200 characters).
        found: String,
    },
}

impl Head {
    /// Reads and checks a head file: a regular file of at most [`MAX_HEAD_BYTES`],
    /// canonical bytes, known schema.
    ///
    /// # Errors
    /// [`HeadError`], whose message is a sentence naming the file and what is wrong.
    pub fn read(path: &Path) -> Result<Head, HeadError> {
        let bytes =
            receipt_primitives::confine::read_file(path, MAX_HEAD_BYTES, "a run head file")?;
        let shown = || path.display().to_string();
        if !receipt_primitives::jcs::is_canonical(&bytes) {
            return Err(HeadError::NotCanonical(shown()));
        }
        let head: Head = serde_json::from_slice(&bytes).map_err(|e| HeadError::Form {
            path: shown(),
            message: receipt_primitives::check::echo(&e.to_string()),
        })?;
        if head.schema != HEAD_SCHEMA {
            return Err(HeadError::Schema {
                path: shown(),
                found: receipt_primitives::check::echo(&head.schema),
            });
        }
        Ok(head)
    }
}

/// Errors opening, locking or recovering a ledger.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// Another process (or another run in this one) holds the ledger's lock.
    #[error("{0} is locked by another writer; two runs cannot share one ledger file")]
    Locked(PathBuf),
    /// A new run was pointed at a ledger that already holds entries.
    #[error("{0} already holds a run; each run needs its own ledger file")]
    NotEmpty(PathBuf),
    /// A bad line is followed by more lines: this is damage, not a torn write.
    #[error(
        "{path}: line {line} {reason}, and lines follow it; refusing to truncate a damaged ledger"
    )]
    Corrupt {
        /// The ledger.
        path: PathBuf,
        /// 1-based line number of the first bad line.
        line: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// The head file says more entries were fsynced than the ledger still holds.
    #[error(
        "{path}: the head file records {head} fsynced entries but only {valid} valid entries remain; refusing to truncate"
    )]
    FsyncedLost {
        /// The ledger.
        path: PathBuf,
        /// Entries recorded as durable by the head file.
        head: u64,
        /// Valid entries found.
        valid: u64,
    },
    /// The head file names a different entry at its position.
    #[error("{path}: entry {index} does not have the hash the head file records")]
    HeadMismatch {
        /// The ledger.
        path: PathBuf,
        /// 0-based entry index.
        index: u64,
    },
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(io::Error) -> LedgerError + '_ {
    move |source| LedgerError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Opens `path` for appending and takes its exclusive lock (released when the file closes).
pub(crate) fn open_locked(path: &Path) -> Result<File, LedgerError> {
    let file = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(path)
        .map_err(io_err(path))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => Err(LedgerError::Locked(path.to_owned())),
        Err(TryLockError::Error(e)) => Err(io_err(path)(e)),
    }
}

/// Reads a ledger line by line: each item is the line without `\n`, whether it had one, and
/// its byte offset.
pub(crate) struct Lines<R> {
    reader: R,
    offset: u64,
    buf: Vec<u8>,
}

impl<R: BufRead> Lines<R> {
    pub(crate) fn new(reader: R) -> Self {
        Lines {
            reader,
            offset: 0,
            buf: Vec::with_capacity(512),
        }
    }

    /// The next line: `Ok(None)` at end of file. A line longer than
    /// [`crate::entry::MAX_LINE_BYTES`] is an error once that many bytes of it are read.
    pub(crate) fn next_line(&mut self) -> io::Result<Option<(&[u8], bool, u64)>> {
        use std::io::Read as _;
        const LIMIT: u64 = crate::entry::MAX_LINE_BYTES;
        self.buf.clear();
        let n = (&mut self.reader)
            .take(LIMIT + 1)
            .read_until(b'\n', &mut self.buf)?;
        if n == 0 {
            return Ok(None);
        }
        if self.buf.len() as u64 > LIMIT && self.buf.last() != Some(&b'\n') {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "the line at byte {} is longer than {LIMIT} bytes (64 MiB), the limit for a ledger line",
                    self.offset
                ),
            ));
        }
        let start = self.offset;
        self.offset += n as u64;
        let complete = self.buf.last() == Some(&b'\n');
        let end = if complete { n - 1 } else { n };
        Ok(Some((&self.buf[..end], complete, start)))
    }
}

/// What [`recover`] found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoverOutcome {
    /// Valid entries kept.
    pub entries: u64,
    /// Bytes removed from the end of the ledger (0 when it was intact).
    pub truncated_bytes: u64,
    /// What was wrong with the removed tail, if anything.
    pub torn: Option<String>,
    /// Whether the kept entries end with `RUN_FINALIZE`.
    pub finalized: bool,
    /// Entries the head file recorded as fsynced, when there is a readable head file.
    pub head_entries: Option<u64>,
}

/// Checks chain links of consecutive entries: seq, prev, run id.
pub(crate) fn link_error(
    entry: &RawEntry<'_>,
    expected_seq: u64,
    prev: Option<(&str, Digest)>,
) -> Option<String> {
    if entry.seq != expected_seq {
        return Some(format!(
            "has seq {} where {expected_seq} was expected",
            entry.seq
        ));
    }
    match prev {
        None if entry.prev != genesis(&entry.run_id) => Some(format!(
            "does not link to the genesis of run {:?}",
            entry.run_id
        )),
        Some((run_id, _)) if entry.run_id != run_id => {
            Some(format!("belongs to run {:?}, not {run_id:?}", entry.run_id))
        }
        Some((_, hash)) if entry.prev != hash => {
            Some("does not link to the hash of the entry before it".to_owned())
        }
        _ => None,
    }
}

/// Brings a ledger left by a crash back to its longest valid prefix.
///
/// A torn last line (no newline, or not a valid entry) is removed and reported. A bad
/// line followed by other lines is damage, not a crash, and is refused. Nothing the head
/// file records as fsynced is ever removed: if fewer valid entries remain than it records,
/// the ledger is left untouched and an error says so. The ledger's lock is held throughout.
///
/// # Errors
/// [`LedgerError`]: I/O, lock held by a running writer, mid-file damage, lost fsynced entries.
pub fn recover(path: &Path) -> Result<RecoverOutcome, LedgerError> {
    let mut file = open_locked(path)?;
    let len = file.metadata().map_err(io_err(path))?.len();
    let head_file = head_path(path);
    let head = head_file
        .exists()
        .then(|| Head::read(&head_file))
        .and_then(Result::ok);

    let mut lines = Lines::new(BufReader::new(&file));
    let mut valid: u64 = 0;
    let mut valid_end: u64 = 0;
    let mut last: Option<(String, Digest)> = None;
    let mut last_kind = String::new();
    let mut head_hash_ok = true;
    let mut torn = None;
    let mut line_no = 0u64;
    while let Some((line, complete, start)) = lines.next_line().map_err(io_err(path))? {
        line_no += 1;
        let problem = if !complete {
            Some("has no terminating newline (torn write)".to_owned())
        } else {
            match parse_raw(line) {
                Err(e) => Some(e.to_string()),
                Ok(entry) => {
                    match link_error(&entry, valid, last.as_ref().map(|(r, h)| (r.as_str(), *h))) {
                        Some(e) => Some(e),
                        None => {
                            if let Some(h) = &head
                                && valid + 1 == h.entries
                            {
                                head_hash_ok = entry.hash == h.last_entry_sha256;
                            }
                            valid += 1;
                            valid_end = start + line.len() as u64 + 1;
                            last_kind = entry.kind.into_owned();
                            last = Some((entry.run_id.into_owned(), entry.hash));
                            None
                        }
                    }
                }
            }
        };
        if let Some(reason) = problem {
            // Only the final line may be torn; read on to see whether anything follows.
            let end_of_this = start + line.len() as u64 + u64::from(complete);
            if end_of_this < len {
                return Err(LedgerError::Corrupt {
                    path: path.to_owned(),
                    line: line_no,
                    reason,
                });
            }
            torn = Some(format!("line {line_no} {reason}"));
            break;
        }
    }
    drop(lines);
    if let Some(h) = &head {
        if h.entries > valid {
            return Err(LedgerError::FsyncedLost {
                path: path.to_owned(),
                head: h.entries,
                valid,
            });
        }
        if !head_hash_ok {
            return Err(LedgerError::HeadMismatch {
                path: path.to_owned(),
                index: h.entries - 1,
            });
        }
    }
    let truncated_bytes = len - valid_end;
    if truncated_bytes > 0 {
        file.set_len(valid_end).map_err(io_err(path))?;
        file.seek(SeekFrom::End(0)).map_err(io_err(path))?;
        file.sync_all().map_err(io_err(path))?;
    }
    Ok(RecoverOutcome {
        entries: valid,
        truncated_bytes,
        torn,
        finalized: last_kind == kind::RUN_FINALIZE,
        head_entries: head.map(|h| h.entries),
    })
}

/// A temp file name beside `path`, unique to this process.
pub(crate) fn tmp_sibling(path: &Path) -> PathBuf {
    suffixed(path, &format!(".tmp-{}", std::process::id()))
}
