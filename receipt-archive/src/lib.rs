//! Opens a downloaded CI artifact (a ZIP file, a tar file or a gzip-compressed tar file) into
//! a fresh private temporary directory, so the directory verifier can run on it unchanged.
//!
//! Every member of the archive is hostile until checked. [`open`] refuses, with one sentence
//! naming the member: names with a `..` component (zip-slip), absolute names (`/x`, `C:`),
//! backslashes, NUL or other control characters, names that are not UTF-8; symbolic links,
//! hard links, devices and FIFOs; two members with the same name once empty and `.`
//! components are dropped; encrypted ZIP members and compression methods other than stored
//! and deflate; a member larger than [`Limits::max_entry_bytes`] (by its header *and* by the
//! bytes it actually decompresses to, which must also equal what its header says); an archive
//! whose members add up to more than [`Limits::max_total_bytes`] or number more than
//! [`Limits::max_entries`]; an archive file larger than [`Limits::max_archive_bytes`].
//!
//! Nothing is ever written outside the temporary directory: every file is created with
//! `O_CREAT|O_EXCL` below a directory this crate created, no link is ever made, and the
//! directory (mode 0700) is removed when the [`Extracted`] value is dropped.
//!
//! The ledger root is found by its `chain.head`: at the archive's top (GitHub's
//! `actions/upload-artifact` puts the uploaded directory's files at the ZIP root), or inside
//! the single top-level directory that wraps everything (`zip -r artifact.zip receipt/`).
#![deny(missing_docs)]

mod name;
mod tarball;
mod zipfile;

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::name::EntryPath;

/// The file that marks a ledger root (docs/SPEC.md §6).
pub const LEDGER_MARKER: &str = "chain.head";

/// How much an archive may hold. [`Limits::default`] is what `cargo receipt verify` uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest uncompressed size of one member: 256 MiB.
    pub max_entry_bytes: u64,
    /// Largest sum of the members' uncompressed sizes: 1 GiB.
    pub max_total_bytes: u64,
    /// Most members (files and directories): 100,000.
    pub max_entries: u64,
    /// Largest archive file, as stored (compressed): 1 GiB.
    pub max_archive_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_entry_bytes: 256 << 20,
            max_total_bytes: 1 << 30,
            max_entries: 100_000,
            max_archive_bytes: 1 << 30,
        }
    }
}

/// What kind of archive a file is, by its first bytes (never by its name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A ZIP file (`PK\x03\x04`, or `PK\x05\x06` for an empty one).
    Zip,
    /// A POSIX or GNU tar file (`ustar` at offset 257).
    Tar,
    /// A gzip stream (`1f 8b`) holding a tar file.
    TarGz,
}

impl Format {
    /// The format of the archive whose first bytes are `head` (at least 262 bytes are
    /// needed to recognize a tar file).
    pub fn sniff(head: &[u8]) -> Option<Format> {
        if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
            Some(Format::Zip)
        } else if head.starts_with(&[0x1f, 0x8b]) {
            Some(Format::TarGz)
        } else if head.get(257..262) == Some(b"ustar") {
            Some(Format::Tar)
        } else {
            None
        }
    }

    /// The format's name for messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Zip => "ZIP",
            Format::Tar => "tar",
            Format::TarGz => "tar.gz",
        }
    }
}

/// Why one member of an archive is refused; the end of a sentence naming the member.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// A `..` component: extracting it would leave the directory (zip-slip).
    ParentComponent,
    /// A name starting with `/` or a drive prefix such as `C:`.
    Absolute,
    /// A backslash in the name.
    Backslash,
    /// NUL or another control character in the name.
    ControlCharacter,
    /// Name bytes that are not UTF-8.
    NotUtf8,
    /// A symbolic link.
    Symlink,
    /// A hard link.
    Hardlink,
    /// A device, FIFO, socket or other special file (the kind named).
    Special(&'static str),
    /// Another member has the same name after normalization.
    Duplicate,
    /// Its name is also a directory, or a file lies below a file.
    Conflict,
    /// An encrypted ZIP member.
    Encrypted,
    /// A compression method this reader does not decompress (its name).
    Compression(String),
    /// Larger than [`Limits::max_entry_bytes`] (by its header or its actual bytes).
    EntryTooLarge {
        /// The limit.
        limit: u64,
    },
    /// It decompressed to another number of bytes than its header says.
    SizeMismatch {
        /// The header's size.
        declared: u64,
        /// What it decompressed to, or the header's size plus one when it yields more.
        actual: u64,
    },
    /// With it, the members add up to more than [`Limits::max_total_bytes`].
    TotalTooLarge {
        /// The limit.
        limit: u64,
    },
    /// It is past [`Limits::max_entries`].
    TooManyEntries {
        /// The limit.
        limit: u64,
    },
    /// Its data cannot be read: corrupt compressed data, a CRC mismatch, a truncated archive.
    Unreadable(String),
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::ParentComponent => {
                f.write_str("has a `..` component and would be written outside the extraction directory (zip-slip)")
            }
            Refusal::Absolute => f.write_str("is an absolute path"),
            Refusal::Backslash => f.write_str("contains a backslash, which is not a path separator here"),
            Refusal::ControlCharacter => f.write_str("contains NUL or another control character"),
            Refusal::NotUtf8 => f.write_str("is not valid UTF-8"),
            Refusal::Symlink => f.write_str("is a symbolic link, and an artifact holds only regular files and directories"),
            Refusal::Hardlink => f.write_str("is a hard link, and an artifact holds only regular files and directories"),
            Refusal::Special(kind) => write!(f, "is a {kind}, and an artifact holds only regular files and directories"),
            Refusal::Duplicate => f.write_str("appears twice (after dropping empty and `.` components)"),
            Refusal::Conflict => f.write_str("is both a file and a directory in the archive"),
            Refusal::Encrypted => f.write_str("is encrypted"),
            Refusal::Compression(m) => write!(f, "uses compression method {m}, and only stored and deflate are read"),
            Refusal::EntryTooLarge { limit } => write!(f, "is larger than the limit of {limit} bytes for one member"),
            Refusal::SizeMismatch { declared, actual } if actual > declared => write!(
                f,
                "decompresses to more than the {declared} bytes its header says"
            ),
            Refusal::SizeMismatch { declared, actual } => write!(
                f,
                "decompresses to {actual} bytes, but its header says {declared} bytes"
            ),
            Refusal::TotalTooLarge { limit } => write!(f, "brings the archive past the limit of {limit} uncompressed bytes in total"),
            Refusal::TooManyEntries { limit } => write!(f, "is past the limit of {limit} members in one archive"),
            Refusal::Unreadable(why) => write!(f, "cannot be read: {why}"),
        }
    }
}

/// Why an archive could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// The archive file, or the temporary directory, could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// The file is not a regular file, or not an archive this crate reads.
    #[error("{}: {why}", path.display())]
    NotAnArchive {
        /// The file.
        path: PathBuf,
        /// One sentence.
        why: String,
    },
    /// The archive's own structure is broken or over the limits.
    #[error("{}: {why}", path.display())]
    Malformed {
        /// The archive.
        path: PathBuf,
        /// One sentence.
        why: String,
    },
    /// One member is refused.
    #[error("{}: refusing member {entry:?}, which {why}", path.display())]
    Refused {
        /// The archive.
        path: PathBuf,
        /// The member's name, lossily decoded and cut to 200 characters.
        entry: String,
        /// Why.
        why: Refusal,
    },
    /// The archive holds no ledger.
    #[error(
        "{}: no `chain.head` at the archive's top or inside a single top-level directory, so it holds no receipt ledger",
        path.display()
    )]
    NoLedger {
        /// The archive.
        path: PathBuf,
    },
}

/// An archive extracted into a private temporary directory, removed when this is dropped.
#[derive(Debug)]
pub struct Extracted {
    dir: tempfile::TempDir,
    root: PathBuf,
    format: Format,
}

impl Extracted {
    /// The ledger root: the directory holding `chain.head`.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The temporary directory everything was extracted into.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The archive's format.
    pub fn format(&self) -> Format {
        self.format
    }
}

/// Whether `path` is a file whose first bytes say it is an archive this crate reads.
///
/// # Errors
/// [`ArchiveError::Io`] when it cannot be opened or read.
pub fn is_archive(path: &Path) -> Result<bool, ArchiveError> {
    let (mut file, _) = open_regular(path)?;
    Ok(Format::sniff(&read_head(&mut file, path)?).is_some())
}

/// Extracts the archive at `path` with the default [`Limits`] and finds its ledger root.
///
/// # Errors
/// [`ArchiveError`]: the first refused member, a broken or oversized archive, an archive
/// without `chain.head`, or an I/O error.
pub fn open(path: &Path) -> Result<Extracted, ArchiveError> {
    open_with(path, &Limits::default())
}

/// [`open`] with explicit limits.
///
/// # Errors
/// As [`open`].
pub fn open_with(path: &Path, limits: &Limits) -> Result<Extracted, ArchiveError> {
    let (extracted, format) = extract(path, limits)?;
    let root = ledger_root(extracted.path()).ok_or_else(|| ArchiveError::NoLedger {
        path: path.to_owned(),
    })?;
    Ok(Extracted {
        dir: extracted,
        root,
        format,
    })
}

/// Extracts every member of the archive at `path` into a new private temporary directory.
///
/// # Errors
/// As [`open`], except that an archive without a ledger is fine.
pub fn extract(path: &Path, limits: &Limits) -> Result<(tempfile::TempDir, Format), ArchiveError> {
    let (mut file, len) = open_regular(path)?;
    if len > limits.max_archive_bytes {
        return Err(ArchiveError::Malformed {
            path: path.to_owned(),
            why: format!(
                "the archive is {len} bytes, over the limit of {} bytes",
                limits.max_archive_bytes
            ),
        });
    }
    let head = read_head(&mut file, path)?;
    let format = Format::sniff(&head).ok_or_else(|| ArchiveError::NotAnArchive {
        path: path.to_owned(),
        why: "the file is not a ZIP, tar or gzip-compressed tar archive (by its first bytes)"
            .into(),
    })?;
    let dir = tempfile::Builder::new()
        .prefix("receipt-archive-")
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .tempdir()
        .map_err(io_err(std::env::temp_dir()))?;
    let mut sink = Sink::new(path, dir.path(), limits);
    match format {
        Format::Zip => zipfile::extract(file, len, &mut sink)?,
        Format::Tar => tarball::extract(file, &mut sink)?,
        Format::TarGz => tarball::extract(flate2::read::GzDecoder::new(file), &mut sink)?,
    }
    Ok((dir, format))
}

/// The ledger root of an extraction: the top, or its only entry when that is a directory;
/// either must hold `chain.head`.
fn ledger_root(top: &Path) -> Option<PathBuf> {
    if top.join(LEDGER_MARKER).is_file() {
        return Some(top.to_owned());
    }
    let mut entries = fs::read_dir(top).ok()?;
    let only = entries.next()?.ok()?;
    if entries.next().is_some() || !only.file_type().ok()?.is_dir() {
        return None;
    }
    let inner = only.path();
    inner.join(LEDGER_MARKER).is_file().then_some(inner)
}

fn io_err(path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> ArchiveError {
    let path = path.into();
    move |source| ArchiveError::Io { path, source }
}

/// Opens `path` for reading without blocking on a FIFO, and refuses anything but a regular
/// file; returns it with its length.
fn open_regular(path: &Path) -> Result<(File, u64), ArchiveError> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(io_err(path))?;
    let meta = file.metadata().map_err(io_err(path))?;
    if !meta.is_file() {
        return Err(ArchiveError::NotAnArchive {
            path: path.to_owned(),
            why: "not a regular file".into(),
        });
    }
    Ok((file, meta.len()))
}

/// The first 512 bytes (fewer for a shorter file), with the file rewound.
fn read_head(file: &mut File, path: &Path) -> Result<Vec<u8>, ArchiveError> {
    use std::io::Seek;
    let mut head = Vec::with_capacity(512);
    (&mut *file)
        .take(512)
        .read_to_end(&mut head)
        .map_err(io_err(path))?;
    file.rewind().map_err(io_err(path))?;
    Ok(head)
}

/// What kind of member a reader found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    File,
    Dir,
}

/// Where members go: checks names, duplicates and every limit, and writes below the
/// extraction directory only. Shared by the ZIP and tar readers.
struct Sink<'a> {
    archive: &'a Path,
    dir: &'a Path,
    limits: &'a Limits,
    entries: u64,
    total: u64,
    /// Normalized names seen, with their kind.
    seen: std::collections::BTreeMap<String, Kind>,
}

impl<'a> Sink<'a> {
    fn new(archive: &'a Path, dir: &'a Path, limits: &'a Limits) -> Self {
        Sink {
            archive,
            dir,
            limits,
            entries: 0,
            total: 0,
            seen: std::collections::BTreeMap::new(),
        }
    }

    fn refuse(&self, raw: &[u8], why: Refusal) -> ArchiveError {
        ArchiveError::Refused {
            path: self.archive.to_owned(),
            entry: name::shown(raw),
            why,
        }
    }

    fn malformed(&self, why: impl Into<String>) -> ArchiveError {
        ArchiveError::Malformed {
            path: self.archive.to_owned(),
            why: why.into(),
        }
    }

    /// Counts one more member; refuses the one past the limit.
    fn count(&mut self, raw: &[u8]) -> Result<(), ArchiveError> {
        self.entries += 1;
        if self.entries > self.limits.max_entries {
            return Err(self.refuse(
                raw,
                Refusal::TooManyEntries {
                    limit: self.limits.max_entries,
                },
            ));
        }
        Ok(())
    }

    /// Checks a member's name, that it is new, and that its declared size fits the limits.
    fn admit(
        &mut self,
        raw: &[u8],
        kind: Kind,
        declared: u64,
    ) -> Result<Option<EntryPath>, ArchiveError> {
        let path = name::check(raw).map_err(|why| self.refuse(raw, why))?;
        if path.components.is_empty() {
            // `./` and the like: the extraction directory itself.
            return match kind {
                Kind::Dir => Ok(None),
                Kind::File => Err(self.refuse(raw, Refusal::Absolute)),
            };
        }
        let key = path.normalized();
        if self.seen.contains_key(&key) {
            return Err(self.refuse(raw, Refusal::Duplicate));
        }
        // A parent that is a file, or a file whose name an earlier member used as a parent.
        let mut prefix = String::new();
        for c in &path.components[..path.components.len() - 1] {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(c);
            if self.seen.get(&prefix) == Some(&Kind::File) {
                return Err(self.refuse(raw, Refusal::Conflict));
            }
        }
        if kind == Kind::File
            && self
                .seen
                .range(format!("{key}/")..)
                .next()
                .is_some_and(|(k, _)| k.starts_with(&format!("{key}/")))
        {
            return Err(self.refuse(raw, Refusal::Conflict));
        }
        if declared > self.limits.max_entry_bytes {
            return Err(self.refuse(
                raw,
                Refusal::EntryTooLarge {
                    limit: self.limits.max_entry_bytes,
                },
            ));
        }
        self.seen.insert(key, kind);
        Ok(Some(path))
    }

    /// Creates the directories of `components` below the extraction directory.
    fn make_dirs(&self, components: &[String]) -> Result<PathBuf, ArchiveError> {
        let mut at = self.dir.to_owned();
        for c in components {
            at.push(c);
            match fs::DirBuilder::new().mode(0o700).create(&at) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    // Only ever a directory this sink made: files are refused above.
                    let meta = fs::symlink_metadata(&at).map_err(io_err(&at))?;
                    if !meta.is_dir() {
                        return Err(io_err(&at)(e));
                    }
                }
                Err(e) => return Err(io_err(&at)(e)),
            }
        }
        Ok(at)
    }

    /// A directory member.
    fn dir(&mut self, raw: &[u8]) -> Result<(), ArchiveError> {
        self.count(raw)?;
        if let Some(p) = self.admit(raw, Kind::Dir, 0)? {
            self.make_dirs(&p.components)?;
        }
        Ok(())
    }

    /// A regular-file member of `declared` uncompressed bytes whose data `data` yields.
    /// The bytes actually read are counted against the limits, and must equal `declared`.
    fn file(&mut self, raw: &[u8], declared: u64, data: &mut dyn Read) -> Result<(), ArchiveError> {
        self.count(raw)?;
        let Some(p) = self.admit(raw, Kind::File, declared)? else {
            return Ok(());
        };
        if self.total.saturating_add(declared) > self.limits.max_total_bytes {
            return Err(self.refuse(
                raw,
                Refusal::TotalTooLarge {
                    limit: self.limits.max_total_bytes,
                },
            ));
        }
        let (parents, leaf) = p.components.split_at(p.components.len() - 1);
        let target = self.make_dirs(parents)?.join(&leaf[0]);
        let mut out = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&target)
            .map_err(io_err(&target))?;
        // One byte past the limit shows a member that is larger than it may be, whatever
        // its header says.
        let allowed = declared.min(self.limits.max_entry_bytes);
        let mut limited = data.take(allowed + 1);
        let mut buf = vec![0u8; 64 * 1024];
        let mut written = 0u64;
        loop {
            let n = match limited.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.refuse(raw, Refusal::Unreadable(e.to_string()))),
            };
            written += n as u64;
            if written > allowed {
                return Err(self.refuse(
                    raw,
                    if written > self.limits.max_entry_bytes {
                        Refusal::EntryTooLarge {
                            limit: self.limits.max_entry_bytes,
                        }
                    } else {
                        Refusal::SizeMismatch {
                            declared,
                            actual: written,
                        }
                    },
                ));
            }
            out.write_all(&buf[..n]).map_err(io_err(&target))?;
        }
        if written != declared {
            return Err(self.refuse(
                raw,
                Refusal::SizeMismatch {
                    declared,
                    actual: written,
                },
            ));
        }
        self.total += written;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_recognized_by_their_first_bytes() {
        assert_eq!(Format::sniff(b"PK\x03\x04rest"), Some(Format::Zip));
        assert_eq!(Format::sniff(b"PK\x05\x06rest"), Some(Format::Zip));
        assert_eq!(Format::sniff(&[0x1f, 0x8b, 8, 0]), Some(Format::TarGz));
        let mut tar = vec![0u8; 512];
        tar[257..262].copy_from_slice(b"ustar");
        assert_eq!(Format::sniff(&tar), Some(Format::Tar));
        assert_eq!(Format::sniff(b"{\"schema\":1}"), None);
    }
}
