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
//!
//! One file over 600 lines on purpose: the crash-safe append, the lock and the strict head
//! reader guard one on-disk invariant together and must change together.

pub mod sign;

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use receipt_primitives::confine::{self, ReadError};
use receipt_primitives::digest::Digest;
use receipt_primitives::fsutil::{
    atomic_write, create_unsynced, stage, sync_all_concurrently, sync_dir,
};

use self::sign::{BuildFacts, SignError, Signer};
pub use crate::layout::{
    CHAIN_HEAD, CHAIN_LOCK, ENTRY_FILES, GRAPH_FILE, MANIFEST_FILE, RECEIPT_FILE, RECEIPTS_DIR,
};
use crate::layout::{CHECKPOINT_FILE, PROVENANCE_FILE, RECEIPT_ENVELOPE_FILE, TREE_DIR};
use crate::limits;
use crate::manifest::Manifest;
use crate::receipt::{PrevLink, Receipt, ReceiptError, Section};

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
#[error("{}", match line { 0 => format!("chain.head {why}"), n => format!("line {n} of chain.head {why}") })]
pub struct HeadError {
    /// 1-based line number; 0 when the file as a whole is at fault.
    pub line: usize,
    /// What is wrong, as the end of a sentence.
    pub why: String,
}

/// The path of entry `seq` (1-based) of a ledger, as the chain head names it:
/// `receipts/NNNNNN/receipt.json`.
pub fn entry_path(seq: u64) -> String {
    format!("{RECEIPTS_DIR}/{seq:06}/{RECEIPT_FILE}")
}

/// Parses a chain head strictly: LF-terminated lines of `<64 lowercase hex> <path>`, a single
/// space, no CR, tab, trailing space, uppercase, or empty line, no byte order mark, and
/// line N naming entry N, `receipts/NNNNNN/receipt.json`.
///
/// # Errors
/// [`HeadError`] naming the first bad line.
pub fn parse_head(bytes: &[u8]) -> Result<Vec<HeadLine>, HeadError> {
    if bytes.starts_with(&[0xEF, 0xBB, 0xBF]) {
        return Err(HeadError {
            line: 0,
            why: "starts with a byte order mark (U+FEFF); it is plain UTF-8 without one".into(),
        });
    }
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
        let want = entry_path(n as u64);
        if path != want {
            return Err(bad(&format!(
                "names {:?}, but line {n} names entry {n}, {want}",
                receipt_primitives::check::echo(path)
            )));
        }
        out.push(HeadLine {
            sha256,
            path: path.to_owned(),
        });
    }
    Ok(out)
}

/// Why a ledger could not be read or extended. Nothing on the chain changed when it did.
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
    /// A file of the ledger could not be read safely (a symlink, a FIFO, too large…).
    #[error("{}: {source}", root.display())]
    Read {
        /// The ledger root.
        root: PathBuf,
        /// What went wrong, naming the file.
        source: ReadError,
    },
    /// The existing chain head is malformed, so the chain is not extended.
    #[error("{}: {source}", root.display())]
    Head {
        /// The ledger root.
        root: PathBuf,
        /// What is wrong with it.
        source: HeadError,
    },
    /// Something in the output directory is not what this tool writes there, so it
    /// neither writes through it nor deletes it.
    #[error("{}: {what}", path.display())]
    Foreign {
        /// The path.
        path: PathBuf,
        /// One sentence.
        what: String,
    },
    /// The directory is not a ledger (it has no chain head).
    #[error("{} holds no chain.head, so it is not a receipt directory", root.display())]
    NotALedger {
        /// The directory.
        root: PathBuf,
    },
    /// The record contradicts itself (for example a graph digest that is not the graph's).
    #[error("{0}")]
    Inconsistent(String),
    /// The receipt cannot be serialized.
    #[error(transparent)]
    Receipt(#[from] ReceiptError),
    /// Signing the entry or writing the checkpoint failed.
    #[error(transparent)]
    Sign(Box<SignError>),
}

impl From<SignError> for LedgerError {
    fn from(e: SignError) -> Self {
        LedgerError::Sign(Box::new(e))
    }
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
    /// Opens the ledger at `root` for writing, creating it (and `receipts/`) when needed.
    /// Refuses a root or `receipts/` that is a symbolic link, and a `chain.head`,
    /// `chain.lock` or view file that is not a regular file: a writer never writes through
    /// something it did not create.
    ///
    /// # Errors
    /// [`LedgerError::Io`] when the directory cannot be created, [`LedgerError::Foreign`]
    /// for a symlink or special file in the way.
    pub fn create(root: impl Into<PathBuf>) -> Result<Ledger, LedgerError> {
        let root = root.into();
        refuse_symlink(&root)?;
        fs::create_dir_all(&root).map_err(io_err(&root))?;
        refuse_symlink(&root)?;
        let receipts = root.join(RECEIPTS_DIR);
        refuse_symlink(&receipts)?;
        match fs::create_dir(&receipts) {
            Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(io_err(&receipts)(e)),
            _ => {}
        }
        refuse_symlink(&receipts)?;
        if !fs::symlink_metadata(&receipts)
            .map_err(io_err(&receipts))?
            .is_dir()
        {
            return Err(LedgerError::Foreign {
                path: receipts,
                what: "is not a directory".into(),
            });
        }
        let ledger = Ledger { root };
        for f in [
            CHAIN_HEAD,
            CHAIN_LOCK,
            MANIFEST_FILE,
            RECEIPT_FILE,
            GRAPH_FILE,
            CHECKPOINT_FILE,
        ] {
            ledger.refuse_special(f)?;
        }
        ledger.refuse_symlink_in_root(TREE_DIR)?;
        Ok(ledger)
    }

    /// Opens an existing ledger for reading; creates and changes nothing.
    ///
    /// # Errors
    /// [`LedgerError::NotALedger`] when `root` has no `chain.head`.
    pub fn existing(root: impl Into<PathBuf>) -> Result<Ledger, LedgerError> {
        let ledger = Ledger { root: root.into() };
        match confine::kind_under(&ledger.root, CHAIN_HEAD) {
            Ok(Some(_)) | Err(_) => Ok(ledger),
            Ok(None) => Err(LedgerError::NotALedger { root: ledger.root }),
        }
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Refuses `name` in the root when it is a symbolic link.
    pub(crate) fn refuse_symlink_in_root(&self, name: &str) -> Result<(), LedgerError> {
        refuse_symlink(&self.root.join(name))
    }

    /// What `rel` is: `None` missing, `Some(None)` a regular file, `Some(Some(kind))`
    /// something else; never following a symlink.
    pub(crate) fn kind(&self, rel: &str) -> Result<Option<Option<confine::FileType>>, LedgerError> {
        confine::kind_under(&self.root, rel).map_err(|source| LedgerError::Read {
            root: self.root.clone(),
            source,
        })
    }

    /// Reads a ledger file safely (no symlink, regular, at most `limit` bytes).
    pub(crate) fn read_file(
        &self,
        rel: &str,
        limit: u64,
        what: &'static str,
    ) -> Result<Vec<u8>, LedgerError> {
        self.read(rel, limit, what)
    }

    /// Refuses `name` in the root when it is a symlink, FIFO, device or directory.
    pub(crate) fn refuse_special(&self, name: &str) -> Result<(), LedgerError> {
        match confine::kind_under(&self.root, name) {
            Ok(None | Some(None)) => Ok(()),
            Ok(Some(Some(kind))) => Err(LedgerError::Foreign {
                path: self.root.join(name),
                what: format!(
                    "is {kind}, not a file this tool wrote; refusing to write through it"
                ),
            }),
            Err(source) => Err(LedgerError::Foreign {
                path: self.root.join(name),
                what: source.to_string(),
            }),
        }
    }

    /// Reads a ledger file safely (no symlink, regular, at most `limit` bytes).
    fn read(&self, rel: &str, limit: u64, what: &'static str) -> Result<Vec<u8>, LedgerError> {
        confine::read_under(&self.root, rel, limit, what).map_err(|source| LedgerError::Read {
            root: self.root.clone(),
            source,
        })
    }

    /// Reads the chain head (an absent file is an empty chain).
    ///
    /// # Errors
    /// [`LedgerError`] when it cannot be read or is malformed.
    pub fn head(&self) -> Result<Vec<HeadLine>, LedgerError> {
        match self.read(CHAIN_HEAD, limits::CHAIN_HEAD_BYTES, "a chain head") {
            Ok(b) => parse_head(&b).map_err(|source| LedgerError::Head {
                root: self.root.clone(),
                source,
            }),
            Err(LedgerError::Read { source, .. }) if source.is_missing() => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    /// The latest entry on the chain: its head line, manifest and receipt, or `None` for an
    /// empty chain. The files are read safely and checked only for form; use
    /// [`crate::verify::verify_dir`] to check the chain.
    ///
    /// # Errors
    /// [`LedgerError`] when a file cannot be read or parsed.
    pub fn latest(&self) -> Result<Option<(HeadLine, Manifest, Receipt)>, LedgerError> {
        let Some(line) = self.head()?.pop() else {
            return Ok(None);
        };
        let (manifest, receipt) = self.entry(&line)?;
        Ok(Some((line, manifest, receipt)))
    }

    /// The manifest and receipt of the entry a head line names, read safely and checked
    /// only for form.
    ///
    /// # Errors
    /// [`LedgerError`] when a file cannot be read or parsed.
    pub fn entry(&self, line: &HeadLine) -> Result<(Manifest, Receipt), LedgerError> {
        let bytes = self.read(&line.path, limits::RECEIPT_BYTES, "a receipt")?;
        let receipt = Receipt::parse(&bytes)?;
        let manifest_path = sibling(&line.path, MANIFEST_FILE);
        let mbytes = self.read(&manifest_path, limits::MANIFEST_BYTES, "a manifest")?;
        let manifest = Manifest::parse(&mbytes)
            .map_err(|e| LedgerError::Inconsistent(format!("{manifest_path}: {e}")))?;
        Ok((manifest, receipt))
    }

    /// Appends one build: crash-safe, and serialized against other writers by an exclusive
    /// lock on `chain.lock`.
    ///
    /// # Errors
    /// [`LedgerError`]; the chain is unchanged when an error is returned.
    pub fn append(&self, record: BuildRecord) -> Result<Appended, LedgerError> {
        self.append_with(record, None, &mut |_| {})
    }

    /// [`Ledger::append`], signed (docs/SPEC.md §14): the entry's `receipt.dsse.json` and
    /// `provenance.intoto.jsonl` are written into the entry directory before it is renamed
    /// into place, so the entry appears signed or not at all; after the commit point the
    /// tree store is extended and `checkpoint` replaced, still under the lock. A crash
    /// between the two leaves a stale checkpoint, which `verify --key` reports and
    /// [`self::sign::sign_chain`] replaces.
    ///
    /// # Errors
    /// [`LedgerError`]; the chain is unchanged when an error is returned before the commit
    /// point (every signing error of the entry is).
    pub fn append_signed(
        &self,
        record: BuildRecord,
        signer: &Signer<'_>,
        facts: &BuildFacts,
    ) -> Result<Appended, LedgerError> {
        self.append_with(record, Some((signer, facts)), &mut |_| {})
    }

    /// [`Ledger::append`] with a callback at each step, so tests can kill the process at
    /// every point of the protocol.
    #[doc(hidden)]
    pub fn append_with(
        &self,
        record: BuildRecord,
        sign: Option<(&Signer<'_>, &BuildFacts)>,
        at: &mut dyn FnMut(AppendStep),
    ) -> Result<Appended, LedgerError> {
        let BuildRecord {
            manifest,
            mut receipt,
            graph_json,
        } = record;
        let lock = self.lock()?;
        at(AppendStep::Locked);

        let head = self.head()?;
        let seq = head.len() as u64 + 1;
        if let Some(last) = head.last() {
            self.check_order(last, &manifest)?;
        }
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
        let envelopes = match sign {
            Some((signer, facts)) => Some(self::sign::entry_envelopes(
                signer,
                facts,
                &entry_path(seq),
                &receipt,
                &receipt_bytes,
                &manifest,
            )?),
            None => None,
        };

        // 1. The entry, written whole into a temp directory and renamed into place.
        let receipts = self.root.join(RECEIPTS_DIR);
        let name = format!("{seq:06}");
        let entry = receipts.join(&name);
        // Left by a writer that crashed before its head line: not on the chain, so no one
        // can rely on it; removed only when it holds nothing but files this tool writes.
        remove_own_dir(&entry)?;
        // Temp directories of writers that crashed mid-entry; the lock says none is live.
        for d in fs::read_dir(&receipts).map_err(io_err(&receipts))? {
            let d = d.map_err(io_err(&receipts))?;
            if is_own_temp_name(&d.file_name().to_string_lossy()) {
                remove_own_dir(&d.path())?;
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
        let mut entry_only: Vec<(&str, &[u8])> = Vec::new();
        if let Some(e) = &envelopes {
            entry_only.push((RECEIPT_ENVELOPE_FILE, &e.receipt));
            if let Some(p) = &e.provenance {
                entry_only.push((PROVENANCE_FILE, p));
            }
        }
        // Every file and the directory made durable at once: concurrent fsyncs, which the
        // file system commits together.
        let mut written: Vec<(File, PathBuf)> = Vec::new();
        for (f, bytes) in files.iter().chain(&entry_only) {
            let p = tmp.join(f);
            written.push((create_unsynced(&p, bytes).map_err(io_err(&p))?, p));
        }
        written.push((File::open(&tmp).map_err(io_err(&tmp))?, tmp.clone()));
        sync_all_concurrently(&written.iter().map(|(f, _)| f).collect::<Vec<_>>())
            .map_err(|(i, e)| io_err(&written[i].1)(e))?;
        drop(written);
        at(AppendStep::EntryWritten);
        fs::rename(&tmp, &entry).map_err(io_err(&entry))?;
        sync_dir(&receipts).map_err(io_err(&receipts))?;
        at(AppendStep::EntryRenamed);

        // 2. The commit point: the chain head with one more line, replaced atomically.
        let line = HeadLine {
            sha256: Digest::of(&receipt_bytes),
            path: entry_path(seq),
        };
        let head_path = self.root.join(CHAIN_HEAD);
        let mut text: String = head.iter().map(HeadLine::to_line).collect();
        text.push_str(&line.to_line());
        atomic_write(&head_path, text.as_bytes()).map_err(io_err(&head_path))?;
        at(AppendStep::HeadWritten);

        // 3. The view of the latest build and, signed, the tree store and the checkpoint:
        // written to temp files, made durable together (concurrent fsyncs), renamed into
        // place (each rename replaces the name, never writes through it), and the directory
        // fsynced once. A checkpoint that cannot be prepared does not keep the view from
        // being refreshed; its error is returned after.
        let mut view = Vec::with_capacity(files.len());
        for (f, bytes) in &files {
            let p = self.root.join(f);
            view.push(stage(&p, bytes).map_err(io_err(&p))?);
        }
        let (pending, checkpoint_error) = match sign {
            Some((signer, _)) => {
                let mut lines = head;
                lines.push(line.clone());
                match self::sign::prepare_checkpoint(self, signer, &lines) {
                    Ok(p) => (Some(p), None),
                    Err(e) => (None, Some(e)),
                }
            }
            None => (None, None),
        };
        {
            let mut durable: Vec<(&File, PathBuf)> = view
                .iter()
                .map(|s| (s.file(), s.target().to_owned()))
                .collect();
            if let Some(p) = &pending {
                durable.extend(p.files());
            }
            sync_all_concurrently(&durable.iter().map(|(f, _)| *f).collect::<Vec<_>>())
                .map_err(|(i, e)| io_err(&durable[i].1)(e))?;
        }
        for s in view {
            let p = s.target().to_owned();
            s.persist().map_err(io_err(&p))?;
        }
        if graph_json.is_none() {
            self.refuse_special(GRAPH_FILE)?;
            let p = self.root.join(GRAPH_FILE);
            match fs::remove_file(&p) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(io_err(p)(e)),
                _ => {}
            }
        }
        let sync_root = || sync_dir(&self.root).map_err(io_err(&self.root));
        match pending {
            None => {
                sync_root()?;
                at(AppendStep::ViewWritten);
                if let Some(e) = checkpoint_error {
                    return Err(e);
                }
            }
            Some(p) => {
                at(AppendStep::ViewWritten);
                p.finish()?;
                sync_root()?;
                at(AppendStep::CheckpointWritten);
            }
        }
        drop(lock);
        Ok(Appended {
            seq,
            head: line,
            receipt,
        })
    }

    /// Refuses a manifest whose timestamp is earlier than the chain's latest entry's: a
    /// chain records builds in the order they happened, and verification fails a chain
    /// whose timestamps go back (a build of an older commit with `SOURCE_DATE_EPOCH` from
    /// that commit belongs in another output directory).
    fn check_order(&self, last: &HeadLine, manifest: &Manifest) -> Result<(), LedgerError> {
        let path = sibling(&last.path, MANIFEST_FILE);
        let bytes = self.read(&path, limits::MANIFEST_BYTES, "a manifest")?;
        let latest = Manifest::parse(&bytes).map_err(|e| {
            LedgerError::Inconsistent(format!("{path}: {e}, so the chain is not extended"))
        })?;
        if manifest.timestamp < latest.timestamp {
            return Err(LedgerError::Inconsistent(format!(
                "the new manifest's timestamp {} is earlier than {} of the chain's latest entry ({path}); a chain records builds in order, so write this build to another output directory",
                manifest.timestamp, latest.timestamp
            )));
        }
        Ok(())
    }

    /// Takes the exclusive writer lock on `chain.lock`, never following a symlink there.
    ///
    /// # Errors
    /// [`LedgerError`] when the lock file cannot be opened or locked.
    pub fn lock(&self) -> Result<File, LedgerError> {
        let lock_path = self.root.join(CHAIN_LOCK);
        let mut opts = File::options();
        opts.create(true).truncate(false).write(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
        }
        let lock = opts.open(&lock_path).map_err(io_err(&lock_path))?;
        if !lock.metadata().map_err(io_err(&lock_path))?.is_file() {
            return Err(LedgerError::Foreign {
                path: lock_path,
                what: "is not a regular file; refusing to use it as the lock".into(),
            });
        }
        lock.lock().map_err(io_err(&lock_path))?;
        Ok(lock)
    }
}

/// `path`'s sibling `file` (same directory).
pub fn sibling(path: &str, file: &str) -> String {
    match path.rsplit_once('/') {
        Some((d, _)) => format!("{d}/{file}"),
        None => file.to_owned(),
    }
}

/// Refuses `path` when it is a symbolic link.
fn refuse_symlink(path: &Path) -> Result<(), LedgerError> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => Err(LedgerError::Foreign {
            path: path.to_path_buf(),
            what: "is a symbolic link; the output directory and its receipts/ are never written through one".into(),
        }),
        _ => Ok(()),
    }
}

/// Whether `name` is a temp directory name this tool makes: `.tmp-NNNNNN-PID`.
fn is_own_temp_name(name: &str) -> bool {
    let Some(rest) = name.strip_prefix(".tmp-") else {
        return false;
    };
    let Some((seq, pid)) = rest.split_once('-') else {
        return false;
    };
    seq.len() == 6
        && seq.bytes().all(|b| b.is_ascii_digit())
        && !pid.is_empty()
        && pid.bytes().all(|b| b.is_ascii_digit())
}

/// Removes an entry (or temp) directory left by a crashed writer, when it is a real
/// directory holding only regular files named in [`ENTRY_FILES`]; anything else there is
/// not ours, and is refused rather than deleted.
fn remove_own_dir(dir: &Path) -> Result<(), LedgerError> {
    let meta = match fs::symlink_metadata(dir) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_err(dir)(e)),
    };
    let foreign = |what: String| LedgerError::Foreign {
        path: dir.to_path_buf(),
        what,
    };
    if !meta.is_dir() {
        return Err(foreign(format!(
            "is in the way of a new entry and is not a directory this tool wrote ({}); move it away",
            if meta.file_type().is_symlink() {
                "a symbolic link"
            } else {
                "not a directory"
            }
        )));
    }
    let mut ours = Vec::new();
    for d in fs::read_dir(dir).map_err(io_err(dir))? {
        let d = d.map_err(io_err(dir))?;
        let name = d.file_name().to_string_lossy().into_owned();
        let kind = d.file_type().map_err(io_err(d.path()))?;
        if !kind.is_file() || !ENTRY_FILES.contains(&name.as_str()) {
            return Err(foreign(format!(
                "is not on the chain but holds {}, which this tool did not write; move it away",
                receipt_primitives::check::echo(&name)
            )));
        }
        ours.push(d.path());
    }
    for f in ours {
        fs::remove_file(&f).map_err(io_err(&f))?;
    }
    fs::remove_dir(dir).map_err(io_err(dir))
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
    /// The view is written (unsigned: everything is written, the lock is about to be
    /// released).
    ViewWritten,
    /// Signed appends: the tree store and the checkpoint are written.
    CheckpointWritten,
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
