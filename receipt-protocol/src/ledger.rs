//! The build ledger (docs/SPEC.md §6): an output directory holding every receipt
//! immutably, the chain head that lists them, and a view of the latest build.
//!
//! Layout of a ledger root:
//!
//! ```text
//! chain.head                      one line per receipt: "<sha256> receipts/NNNNNN/receipt.json\n"
//! chain.lock                      exclusive lock held while appending
//! receipts/NNNNNN/manifest.json   entry NNNNNN (1-based, six digits), never rewritten
//! receipts/NNNNNN/receipt.json
//! receipts/NNNNNN/graph.json      when the build has a graph
//! manifest.json receipt.json graph.json   copies of the latest entry (the view)
//! ```
//!
//! An append writes the entry into a temp directory, fsyncs it, renames it into place and
//! fsyncs `receipts/`; then replaces `chain.head` atomically with one more line (the commit
//! point); then refreshes the view. All of it under an exclusive lock on `chain.lock`, so
//! two writers never fork the chain, and a crash at any point leaves the previous head valid.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use crate::manifest::Manifest;
use crate::receipt::{PrevLink, Receipt, ReceiptError, Section};
use receipt_primitives::digest::Digest;
use receipt_primitives::fsutil::{atomic_write, create_synced, sync_dir};

/// File name of the chain head in a ledger root.
pub const CHAIN_HEAD: &str = "chain.head";
/// File name of the lock file in a ledger root.
pub const CHAIN_LOCK: &str = "chain.lock";
/// Directory of the immutable entries in a ledger root.
pub const RECEIPTS_DIR: &str = "receipts";
/// File name of a manifest, in an entry and in the view.
pub const MANIFEST_FILE: &str = "manifest.json";
/// File name of a receipt, in an entry and in the view.
pub const RECEIPT_FILE: &str = "receipt.json";
/// File name of a graph, in an entry and in the view.
pub const GRAPH_FILE: &str = "graph.json";

/// One line of the chain head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeadLine {
    /// SHA-256 of the receipt file's bytes.
    pub sha256: Digest,
    /// The receipt's path relative to the ledger root.
    pub path: String,
}

impl HeadLine {
    /// The line as stored, with its LF.
    pub fn to_line(&self) -> String {
        format!("{} {}\n", self.sha256, self.path)
    }
}

/// Why a chain head file is not well formed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line} of chain.head {why}")]
pub struct HeadError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong, as the end of a sentence.
    pub why: String,
}

/// Whether `path` is a ledger-relative path the chain may name: `/`-separated components,
/// none empty, `.` or `..`, no backslash, space, tab or control character.
pub fn is_ledger_path(path: &str) -> bool {
    !path.is_empty()
        && path
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..")
        && !path
            .chars()
            .any(|c| c == '\\' || c == ' ' || c.is_control())
}

/// Parses a chain head strictly: LF-terminated lines of `<64 lowercase hex> <path>`, a single
/// space, no CR, tab, trailing space, uppercase, or empty line.
///
/// # Errors
/// [`HeadError`] naming the first bad line.
pub fn parse_head(bytes: &[u8]) -> Result<Vec<HeadLine>, HeadError> {
    let text = std::str::from_utf8(bytes).map_err(|e| HeadError {
        line: bytes[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1,
        why: "is not valid UTF-8".into(),
    })?;
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    let body = match text.strip_suffix('\n') {
        Some(b) => b,
        None => {
            return Err(HeadError {
                line: text.split('\n').count(),
                why: "does not end with LF (a torn or hand-edited last line)".into(),
            });
        }
    };
    for (i, line) in body.split('\n').enumerate() {
        let n = i + 1;
        let bad = |why: &str| HeadError {
            line: n,
            why: why.into(),
        };
        if line.contains('\r') {
            return Err(bad("contains a CR; line endings are LF only"));
        }
        if line.contains('\t') {
            return Err(bad("contains a tab; the separator is one space"));
        }
        if line.is_empty() {
            return Err(bad("is empty"));
        }
        if line.ends_with(' ') {
            return Err(bad("has a trailing space"));
        }
        let Some((hash, path)) = line.split_once(' ') else {
            return Err(bad("is not `<sha256> <path>`"));
        };
        let sha256 = Digest::from_hex(hash)
            .map_err(|e| bad(&format!("has a hash that is not lowercase 64-hex ({e})")))?;
        if !is_ledger_path(path) {
            return Err(bad(&format!(
                "names {path:?}, which is not a relative ledger path (`/`-separated, no `..`, no spaces)"
            )));
        }
        out.push(HeadLine {
            sha256,
            path: path.to_owned(),
        });
    }
    Ok(out)
}

/// Why an append failed. Nothing on the chain changed when it did.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// A file of the ledger could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// The existing chain head is malformed; the ledger refuses to extend a broken chain.
    #[error("{path}: {source}; refusing to extend a broken chain")]
    Head {
        /// The chain head file.
        path: PathBuf,
        /// What is wrong with it.
        source: HeadError,
    },
    /// The record contradicts itself (for example a graph digest that is not the graph's).
    #[error("{0}")]
    Inconsistent(String),
    /// The receipt cannot be serialized.
    #[error(transparent)]
    Receipt(#[from] ReceiptError),
}

fn io_err(path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> LedgerError {
    let path = path.into();
    move |source| LedgerError::Io { path, source }
}

/// What one build contributes to the ledger.
#[derive(Debug, Clone)]
pub struct BuildRecord {
    /// The manifest.
    pub manifest: Manifest,
    /// The receipt; `prev`, `manifest_sha256`, `producer` and `reflective` are set by the
    /// ledger from the chain and the manifest.
    pub receipt: Receipt,
    /// The canonical graph file, when the receipt's graph section is available.
    pub graph_json: Option<Vec<u8>>,
}

/// The result of an append.
#[derive(Debug, Clone)]
pub struct Appended {
    /// 1-based position on the chain.
    pub seq: u64,
    /// The line appended to the chain head.
    pub head: HeadLine,
    /// The receipt as stored.
    pub receipt: Receipt,
}

/// A ledger root directory.
#[derive(Debug, Clone)]
pub struct Ledger {
    root: PathBuf,
}

impl Ledger {
    /// Opens (creating if needed) the ledger at `root`.
    ///
    /// # Errors
    /// [`LedgerError::Io`] when the directory cannot be created.
    pub fn open(root: impl Into<PathBuf>) -> Result<Ledger, LedgerError> {
        let root = root.into();
        fs::create_dir_all(root.join(RECEIPTS_DIR)).map_err(io_err(&root))?;
        Ok(Ledger { root })
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Reads the chain head (an absent file is an empty chain).
    ///
    /// # Errors
    /// [`LedgerError`] when it cannot be read or is malformed.
    pub fn head(&self) -> Result<Vec<HeadLine>, LedgerError> {
        let path = self.root.join(CHAIN_HEAD);
        match fs::read(&path) {
            Ok(b) => parse_head(&b).map_err(|source| LedgerError::Head { path, source }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(io_err(path)(e)),
        }
    }

    /// The latest entry on the chain: its head line, manifest and receipt, or `None` for an
    /// empty chain. The files are read as stored and checked only for form; use
    /// [`crate::verify::verify_dir`] to check the chain.
    ///
    /// # Errors
    /// [`LedgerError`] when a file cannot be read or parsed.
    pub fn latest(&self) -> Result<Option<(HeadLine, Manifest, Receipt)>, LedgerError> {
        let Some(line) = self.head()?.pop() else {
            return Ok(None);
        };
        let receipt_path = self.root.join(&line.path);
        let bytes = fs::read(&receipt_path).map_err(io_err(&receipt_path))?;
        let receipt = Receipt::parse(&bytes)?;
        let manifest_path = receipt_path.with_file_name(MANIFEST_FILE);
        let mbytes = fs::read(&manifest_path).map_err(io_err(&manifest_path))?;
        let manifest = Manifest::parse(&mbytes)
            .map_err(|e| LedgerError::Inconsistent(format!("{}: {e}", manifest_path.display())))?;
        Ok(Some((line, manifest, receipt)))
    }

    /// Appends one build: crash-safe, and serialized against other writers by an exclusive
    /// lock on `chain.lock`.
    ///
    /// # Errors
    /// [`LedgerError`]; the chain is unchanged when an error is returned.
    pub fn append(&self, record: BuildRecord) -> Result<Appended, LedgerError> {
        self.append_with(record, &mut |_| {})
    }

    /// [`Ledger::append`] with a callback at each step, so tests can kill the process at
    /// every point of the protocol.
    #[doc(hidden)]
    pub fn append_with(
        &self,
        record: BuildRecord,
        at: &mut dyn FnMut(AppendStep),
    ) -> Result<Appended, LedgerError> {
        let BuildRecord {
            manifest,
            mut receipt,
            graph_json,
        } = record;
        let lock_path = self.root.join(CHAIN_LOCK);
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_err(&lock_path))?;
        lock.lock().map_err(io_err(&lock_path))?;
        at(AppendStep::Locked);

        let head = self.head()?;
        let seq = head.len() as u64 + 1;
        receipt.prev = head.last().map(|l| PrevLink {
            sha256: l.sha256,
            path: l.path.clone(),
        });
        let manifest_bytes = manifest.to_bytes();
        receipt.manifest_sha256 = Digest::of(&manifest_bytes);
        receipt.producer = manifest.producer.clone();
        receipt.reflective.merkle_root = manifest.merkle_root;
        check_record(&manifest, &receipt, graph_json.as_deref())?;
        let receipt_bytes = receipt.to_bytes()?;

        // 1. The entry, written whole into a temp directory and renamed into place.
        let receipts = self.root.join(RECEIPTS_DIR);
        let name = format!("{seq:06}");
        let entry = receipts.join(&name);
        if entry.exists() {
            // Left by a writer that crashed before its head line: not on the chain, so no
            // one can rely on it.
            fs::remove_dir_all(&entry).map_err(io_err(&entry))?;
        }
        // Temp directories of writers that crashed mid-entry; the lock says none is live.
        for d in fs::read_dir(&receipts).map_err(io_err(&receipts))? {
            let d = d.map_err(io_err(&receipts))?;
            if d.file_name().to_string_lossy().starts_with(".tmp-") {
                fs::remove_dir_all(d.path()).map_err(io_err(d.path()))?;
            }
        }
        let tmp = receipts.join(format!(".tmp-{name}-{}", std::process::id()));
        fs::create_dir(&tmp).map_err(io_err(&tmp))?;
        let mut files: Vec<(&str, &[u8])> = vec![
            (MANIFEST_FILE, &manifest_bytes),
            (RECEIPT_FILE, &receipt_bytes),
        ];
        if let Some(g) = &graph_json {
            files.push((GRAPH_FILE, g));
        }
        for (f, bytes) in &files {
            let p = tmp.join(f);
            create_synced(&p, bytes).map_err(io_err(&p))?;
        }
        sync_dir(&tmp).map_err(io_err(&tmp))?;
        at(AppendStep::EntryWritten);
        fs::rename(&tmp, &entry).map_err(io_err(&entry))?;
        sync_dir(&receipts).map_err(io_err(&receipts))?;
        at(AppendStep::EntryRenamed);

        // 2. The commit point: the chain head with one more line, replaced atomically.
        let line = HeadLine {
            sha256: Digest::of(&receipt_bytes),
            path: format!("{RECEIPTS_DIR}/{name}/{RECEIPT_FILE}"),
        };
        let head_path = self.root.join(CHAIN_HEAD);
        let mut text: String = head.iter().map(HeadLine::to_line).collect();
        text.push_str(&line.to_line());
        atomic_write(&head_path, text.as_bytes()).map_err(io_err(&head_path))?;
        at(AppendStep::HeadWritten);

        // 3. The view of the latest build.
        for (f, bytes) in &files {
            let p = self.root.join(f);
            atomic_write(&p, bytes).map_err(io_err(&p))?;
        }
        if graph_json.is_none() {
            let p = self.root.join(GRAPH_FILE);
            match fs::remove_file(&p) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(io_err(p)(e)),
                _ => {}
            }
        }
        at(AppendStep::ViewWritten);
        drop(lock);
        Ok(Appended {
            seq,
            head: line,
            receipt,
        })
    }
}

/// The points of an append, in order; see [`Ledger::append_with`].
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendStep {
    /// The lock is held, nothing written.
    Locked,
    /// The entry is complete in its temp directory.
    EntryWritten,
    /// The entry is in place; the head does not name it yet.
    EntryRenamed,
    /// The head names the entry; the view is not refreshed.
    HeadWritten,
    /// Everything is written; the lock is about to be released.
    ViewWritten,
}

/// Refuses a record whose parts disagree, before anything is written.
fn check_record(
    manifest: &Manifest,
    receipt: &Receipt,
    graph_json: Option<&[u8]>,
) -> Result<(), LedgerError> {
    match (&receipt.graph, graph_json) {
        (Section::Available(g), Some(bytes)) => {
            if g.digest != Digest::of(bytes) {
                return Err(LedgerError::Inconsistent(
                    "the receipt's graph.digest is not the SHA-256 of the graph file".into(),
                ));
            }
            if g.path != GRAPH_FILE {
                return Err(LedgerError::Inconsistent(format!(
                    "the receipt's graph.path is {:?}, but the ledger stores the graph as {GRAPH_FILE:?}",
                    g.path
                )));
            }
        }
        (Section::Available(_), None) => {
            return Err(LedgerError::Inconsistent(
                "the receipt has a graph section but no graph file was given".into(),
            ));
        }
        (Section::Unavailable { .. }, Some(_)) => {
            return Err(LedgerError::Inconsistent(
                "a graph file was given but the receipt's graph section is unavailable".into(),
            ));
        }
        (Section::Unavailable { .. }, None) => {}
    }
    let ingress = match &receipt.ingress {
        Section::Available(v) => Some(receipt_primitives::jcs::sha256(v).map_err(|e| {
            LedgerError::Inconsistent(format!("the ingress preimage has no canonical form: {e}"))
        })?),
        Section::Unavailable { .. } => None,
    };
    if ingress != manifest.ingress_preimage_sha256 {
        return Err(LedgerError::Inconsistent(
            "the manifest's ingress_preimage_sha256 is not the SHA-256 of the receipt's ingress preimage".into(),
        ));
    }
    Ok(())
}
