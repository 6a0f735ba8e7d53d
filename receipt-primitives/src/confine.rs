//! Reading files named by hostile documents (docs/SPEC.md §1 "Paths" and §7.1 "Limits"):
//! one path rule, opened from a root one component at a time without following any
//! symlink, regular files only, every read bounded.
//!
//! A receipt, a proof, a head line, a lakefile or an archive can name any path; a verifier
//! or producer that simply joined it to a directory would read `/etc/passwd` for
//! `../../etc/passwd`, hang on a FIFO, or fill memory from `/dev/zero`. Everything read on
//! behalf of such a document goes through [`check_path`] and [`open_under`] /
//! [`read_under`]; files a user names on the command line go through [`read_file`], which
//! follows the user's own symlinks but still refuses what is not a regular file and
//! bounds the read.
//!
//! One file over 600 lines on purpose: the path rule and the two platform implementations of
//! the confined open must be read together for the guarantee to be checked.

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use crate::check::echo;

/// Why a path named inside a document breaks the path rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathRuleError {
    /// The path is empty.
    #[error("is empty")]
    Empty,
    /// The path starts with `/` (or a drive letter, or `\`).
    #[error("is absolute")]
    Absolute,
    /// A component is empty (`a//b`, a trailing `/`).
    #[error("has an empty component")]
    EmptyComponent,
    /// A component is `.` or `..`.
    #[error("has a `{0}` component")]
    Dots(&'static str),
    /// A character is NUL, another control character or a backslash.
    #[error("contains the character {0:?}, which no path of the protocol may contain")]
    Character(char),
    /// The path is longer than [`MAX_PATH_BYTES`].
    #[error("is longer than {MAX_PATH_BYTES} bytes")]
    TooLong,
}

/// The longest path accepted, in bytes (Linux's `PATH_MAX`).
pub const MAX_PATH_BYTES: usize = 4096;

/// Checks the path rule: relative, `/`-separated, non-empty components, none `.` or `..`,
/// no NUL or other control character (U+0000–U+001F, U+007F–U+009F), no backslash, at most
/// [`MAX_PATH_BYTES`] bytes.
///
/// # Errors
/// [`PathRuleError`] naming the first rule broken.
pub fn check_path(path: &str) -> Result<(), PathRuleError> {
    if path.is_empty() {
        return Err(PathRuleError::Empty);
    }
    if path.len() > MAX_PATH_BYTES {
        return Err(PathRuleError::TooLong);
    }
    if let Some(c) = path.chars().find(|&c| c.is_control() || c == '\\') {
        return Err(PathRuleError::Character(c));
    }
    let b = path.as_bytes();
    if b[0] == b'/' || (b.len() >= 2 && b[1] == b':' && b[0].is_ascii_alphabetic()) {
        return Err(PathRuleError::Absolute);
    }
    for part in path.split('/') {
        match part {
            "" => return Err(PathRuleError::EmptyComponent),
            "." => return Err(PathRuleError::Dots(".")),
            ".." => return Err(PathRuleError::Dots("..")),
            _ => {}
        }
    }
    Ok(())
}

/// What a non-regular file is, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileType {
    /// A directory.
    Directory,
    /// A symbolic link.
    Symlink,
    /// A named pipe.
    Fifo,
    /// A socket.
    Socket,
    /// A character device (such as `/dev/zero`).
    CharDevice,
    /// A block device.
    BlockDevice,
    /// Anything else.
    Other,
}

impl fmt::Display for FileType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FileType::Directory => "a directory",
            FileType::Symlink => "a symbolic link",
            FileType::Fifo => "a FIFO",
            FileType::Socket => "a socket",
            FileType::CharDevice => "a character device",
            FileType::BlockDevice => "a block device",
            FileType::Other => "not a regular file",
        })
    }
}

/// Why a file could not be read under the rules of this module. Its `Display` is one
/// sentence naming the file.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The path breaks the path rule.
    #[error("the path {path:?} {why}")]
    Path {
        /// The path, cut to 200 characters.
        path: String,
        /// The rule broken.
        why: PathRuleError,
    },
    /// The file does not exist.
    #[error("{path} does not exist")]
    Missing {
        /// The file.
        path: String,
    },
    /// A component of the path is a symbolic link, which is never followed.
    #[error("{path} is reached through the symbolic link {link}, which is not followed")]
    Symlink {
        /// The file.
        path: String,
        /// The component that is a link.
        link: String,
    },
    /// The file is a FIFO, device, directory, socket…
    #[error("{path} is {kind}, not a regular file")]
    NotRegular {
        /// The file.
        path: String,
        /// What it is.
        kind: FileType,
    },
    /// A directory was expected.
    #[error("{path} is a file, not a directory")]
    NotDirectory {
        /// The path.
        path: String,
    },
    /// The file is larger than the limit for its kind.
    #[error("{path} is larger than the {limit}-byte limit for {what}")]
    TooLarge {
        /// The file.
        path: String,
        /// The limit in bytes.
        limit: u64,
        /// What kind of file it was meant to be (e.g. `a manifest`).
        what: &'static str,
    },
    /// Another I/O error.
    #[error("{path} cannot be read: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        source: io::Error,
    },
}

impl ReadError {
    /// `Missing` for "not found", `Io` for every other failure of `path`.
    fn from_io(path: &str, e: io::Error) -> ReadError {
        if e.kind() == io::ErrorKind::NotFound {
            ReadError::Missing {
                path: path.to_owned(),
            }
        } else {
            ReadError::Io {
                path: path.to_owned(),
                source: e,
            }
        }
    }

    /// Whether the file simply does not exist.
    pub fn is_missing(&self) -> bool {
        matches!(self, ReadError::Missing { .. })
    }
}

/// An open regular file and its size.
#[derive(Debug)]
pub struct Opened {
    /// The file, open for reading.
    pub file: File,
    /// Its size when opened.
    pub size: u64,
}

impl Opened {
    /// Reads the whole file, refusing more than `limit` bytes (also when it grew since it
    /// was opened).
    ///
    /// # Errors
    /// [`ReadError::TooLarge`] or [`ReadError::Io`]; `shown` and `what` name the file.
    pub fn read_bounded(
        self,
        shown: &str,
        limit: u64,
        what: &'static str,
    ) -> Result<Vec<u8>, ReadError> {
        let too_large = || ReadError::TooLarge {
            path: shown.to_owned(),
            limit,
            what,
        };
        if self.size > limit {
            return Err(too_large());
        }
        let mut buf = Vec::with_capacity(self.size as usize);
        self.file
            .take(limit.saturating_add(1))
            .read_to_end(&mut buf)
            .map_err(|source| ReadError::Io {
                path: shown.to_owned(),
                source,
            })?;
        if buf.len() as u64 > limit {
            return Err(too_large());
        }
        Ok(buf)
    }
}

impl Opened {
    /// The SHA-256 of the file's first `limit + 1` bytes at most, and how many were read:
    /// a caller expecting `limit` bytes sees a longer file as longer, without hashing an
    /// endless one.
    ///
    /// # Errors
    /// [`ReadError::Io`] naming `shown`.
    pub fn sha256_bounded(
        self,
        shown: &str,
        limit: u64,
    ) -> Result<(crate::Digest, u64), ReadError> {
        let mut counted = Counted {
            inner: self.file.take(limit.saturating_add(1)),
            n: 0,
        };
        let d = crate::Digest::of_reader(&mut counted).map_err(|source| ReadError::Io {
            path: shown.to_owned(),
            source,
        })?;
        Ok((d, counted.n))
    }
}

/// A reader that counts the bytes it yields.
struct Counted<R> {
    inner: R,
    n: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let k = self.inner.read(buf)?;
        self.n += k as u64;
        Ok(k)
    }
}

/// Opens `root/rel` for reading: `rel` must pass [`check_path`]; every directory on the
/// way is opened with `O_NOFOLLOW` from `root` (which itself may be a symlink the caller
/// chose), the file too, and it must be a regular file. A FIFO is opened non-blocking and
/// refused, so it never hangs the reader.
///
/// # Errors
/// [`ReadError`] naming `rel`.
pub fn open_under(root: &Path, rel: &str) -> Result<Opened, ReadError> {
    check_path(rel).map_err(|why| ReadError::Path {
        path: echo(rel),
        why,
    })?;
    imp::open_under(root, rel)
}

/// [`open_under`], then reads at most `limit` bytes; `what` names the kind of file in the
/// error (e.g. `a manifest`).
///
/// # Errors
/// [`ReadError`] naming `rel`.
pub fn read_under(
    root: &Path,
    rel: &str,
    limit: u64,
    what: &'static str,
) -> Result<Vec<u8>, ReadError> {
    open_under(root, rel)?.read_bounded(&echo(rel), limit, what)
}

/// A directory reached from a root the way [`open_under`] reaches files (every component
/// opened with `O_NOFOLLOW`), kept open so that several files in it are opened relative to
/// it: the same guarantees as [`open_under`] on `root/dir/rel`, without walking from the
/// root again for each file.
#[derive(Debug)]
pub struct Dir {
    imp: imp::Dir,
    /// The directory's path under the root (`""` for the root itself).
    rel: String,
}

impl Dir {
    /// Opens `root/rel` as a directory (`rel` empty: the root itself), never following a
    /// symlink below `root`.
    ///
    /// # Errors
    /// [`ReadError`] naming `rel`: it breaks the path rule, a component is a symlink, or
    /// something else than a directory is there.
    pub fn open(root: &Path, rel: &str) -> Result<Dir, ReadError> {
        if !rel.is_empty() {
            check_path(rel).map_err(|why| ReadError::Path {
                path: echo(rel),
                why,
            })?;
        }
        Ok(Dir {
            imp: imp::Dir::open(root, rel)?,
            rel: rel.to_owned(),
        })
    }

    /// The path under the root of `rel` in this directory.
    fn joined(&self, rel: &str) -> String {
        if self.rel.is_empty() {
            rel.to_owned()
        } else {
            format!("{}/{rel}", self.rel)
        }
    }

    /// [`open_under`] of `root/dir/rel`, walking from this directory: the error names the
    /// path under the root.
    ///
    /// # Errors
    /// [`ReadError`] naming the path under the root.
    pub fn open_file(&self, rel: &str) -> Result<Opened, ReadError> {
        let full = self.joined(rel);
        check_path(&full).map_err(|why| ReadError::Path {
            path: echo(&full),
            why,
        })?;
        self.imp.open_file(&self.rel, rel, &full)
    }

    /// [`read_under`] of `root/dir/rel`, walking from this directory.
    ///
    /// # Errors
    /// [`ReadError`] naming the path under the root.
    pub fn read(&self, rel: &str, limit: u64, what: &'static str) -> Result<Vec<u8>, ReadError> {
        let full = self.joined(rel);
        self.open_file(rel)?.read_bounded(&echo(&full), limit, what)
    }
}

/// Opens a file a user named (on the command line, say): its symlinks are followed, as
/// the user asked for that path, but it must be a regular file; a FIFO is refused without
/// blocking.
///
/// # Errors
/// [`ReadError`] naming the path.
pub fn open_file(path: &Path) -> Result<Opened, ReadError> {
    imp::open_file(path)
}

/// [`open_file`], then reads at most `limit` bytes.
///
/// # Errors
/// [`ReadError`] naming the path.
pub fn read_file(path: &Path, limit: u64, what: &'static str) -> Result<Vec<u8>, ReadError> {
    open_file(path)?.read_bounded(&path.display().to_string(), limit, what)
}

/// What is at `root/rel` without following symlinks on the way: `Ok(None)` when nothing
/// is there, the type otherwise (`None` type for a regular file). For writers that must
/// refuse a symlink or special file where they are about to write.
///
/// # Errors
/// [`ReadError`] when `rel` breaks the path rule or a component is a symlink.
pub fn kind_under(root: &Path, rel: &str) -> Result<Option<Option<FileType>>, ReadError> {
    match open_under(root, rel) {
        Ok(_) => Ok(Some(None)),
        Err(ReadError::Missing { .. }) => Ok(None),
        Err(ReadError::NotRegular { kind, .. }) => Ok(Some(Some(kind))),
        Err(e) => Err(e),
    }
}

/// Whether `root/rel` is a directory reached without following any symlink: `Ok(false)`
/// when nothing is there. For walkers that list a directory named by a document.
///
/// # Errors
/// [`ReadError`] when `rel` breaks the path rule, a component is a symlink, or something
/// other than a directory is there.
pub fn dir_under(root: &Path, rel: &str) -> Result<bool, ReadError> {
    match open_under(root, rel) {
        Err(ReadError::NotRegular {
            kind: FileType::Directory,
            ..
        }) => Ok(true),
        Err(ReadError::Missing { .. }) => Ok(false),
        Ok(_) => Err(ReadError::NotDirectory { path: echo(rel) }),
        Err(e) => Err(e),
    }
}

/// `path` shown for messages: as given, cut to 200 characters.
fn shown(path: &Path) -> String {
    echo(&path.display().to_string())
}

#[cfg(unix)]
mod imp {
    use std::fs::File;
    use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
    use std::path::Path;

    use rustix::fs::{FileType as Ft, Mode, OFlags};

    use super::{FileType, Opened, ReadError, shown};

    const DIR: OFlags = OFlags::RDONLY
        .union(OFlags::DIRECTORY)
        .union(OFlags::CLOEXEC)
        .union(OFlags::NOFOLLOW);
    const FILE: OFlags = OFlags::RDONLY
        .union(OFlags::NOFOLLOW)
        .union(OFlags::NONBLOCK)
        .union(OFlags::CLOEXEC)
        .union(OFlags::NOCTTY);

    fn kind(ft: Ft) -> Option<FileType> {
        match ft {
            Ft::RegularFile => None,
            Ft::Directory => Some(FileType::Directory),
            Ft::Symlink => Some(FileType::Symlink),
            Ft::Fifo => Some(FileType::Fifo),
            Ft::Socket => Some(FileType::Socket),
            Ft::CharacterDevice => Some(FileType::CharDevice),
            Ft::BlockDevice => Some(FileType::BlockDevice),
            _ => Some(FileType::Other),
        }
    }

    /// Checks the open descriptor is a regular file and wraps it.
    fn regular(fd: OwnedFd, path: &str) -> Result<Opened, ReadError> {
        let st = rustix::fs::fstat(&fd).map_err(|e| ReadError::Io {
            path: path.to_owned(),
            source: e.into(),
        })?;
        if let Some(kind) = kind(Ft::from_raw_mode(st.st_mode as _)) {
            return Err(ReadError::NotRegular {
                path: path.to_owned(),
                kind,
            });
        }
        let file = File::from(fd);
        // Reads of a regular file never block; clear O_NONBLOCK anyway for clean semantics.
        let _ = rustix::fs::fcntl_setfl(&file, OFlags::empty());
        Ok(Opened {
            file,
            size: st.st_size as u64,
        })
    }

    fn io_err(path: &str, e: rustix::io::Errno) -> ReadError {
        ReadError::from_io(path, e.into())
    }

    /// Opens the root itself (a symlink there is the caller's choice and is followed).
    fn open_root(root: &Path, shown: &str) -> Result<OwnedFd, ReadError> {
        rustix::fs::open(root, DIR.difference(OFlags::NOFOLLOW), Mode::empty()).map_err(|e| {
            match io_err(&root.display().to_string(), e) {
                ReadError::Missing { .. } => ReadError::Missing {
                    path: shown.to_owned(),
                },
                other => other,
            }
        })
    }

    pub(super) fn open_under(root: &Path, rel: &str) -> Result<Opened, ReadError> {
        let shown = super::echo(rel);
        let dir = open_root(root, &shown)?;
        walk(dir.as_fd(), "", rel, rel, &shown)
    }

    /// Opens `rel` from `start` (the directory `prefix` under the root) one component at a
    /// time with `O_NOFOLLOW`; `full` is `prefix/rel`, `shown` its form for messages.
    fn walk(
        start: BorrowedFd<'_>,
        prefix: &str,
        rel: &str,
        full: &str,
        shown: &str,
    ) -> Result<Opened, ReadError> {
        let mut parts = rel.split('/');
        let last = parts.next_back().expect("a checked path has a component");
        let owned = descend(start, prefix, parts, shown).map_err(|(e, _)| e)?;
        let at = owned.as_ref().map_or(start, |f| f.as_fd());
        match rustix::fs::openat(at, last, FILE, Mode::empty()) {
            Ok(fd) => regular(fd, shown),
            Err(e) => Err(component_error(at, last, full, shown, e)),
        }
    }

    /// Opens the directories `parts`, each inside the one before, from `start` (which
    /// `prefix` names), never following a symlink; `None` when there are none. An error
    /// comes with the path walked up to the component that failed.
    fn descend<'p>(
        start: BorrowedFd<'_>,
        prefix: &str,
        parts: impl Iterator<Item = &'p str>,
        shown: &str,
    ) -> Result<Option<OwnedFd>, (ReadError, String)> {
        let mut walked = prefix.to_owned();
        let mut owned: Option<OwnedFd> = None;
        for part in parts {
            if !walked.is_empty() {
                walked.push('/');
            }
            walked.push_str(part);
            let at = owned.as_ref().map_or(start, |f| f.as_fd());
            owned = Some(match rustix::fs::openat(at, part, DIR, Mode::empty()) {
                Ok(fd) => fd,
                Err(e) => return Err((component_error(at, part, &walked, shown, e), walked)),
            });
        }
        Ok(owned)
    }

    /// A directory opened from the root without following symlinks.
    #[derive(Debug)]
    pub(super) struct Dir(OwnedFd);

    impl Dir {
        pub(super) fn open(root: &Path, rel: &str) -> Result<Dir, ReadError> {
            let shown = super::echo(rel);
            let root_fd = open_root(root, &shown)?;
            if rel.is_empty() {
                return Ok(Dir(root_fd));
            }
            match descend(root_fd.as_fd(), "", rel.split('/'), &shown) {
                Ok(dir) => Ok(Dir(dir.expect("a non-empty path has a component"))),
                // The last component is there but is no directory.
                Err((ReadError::Io { source, .. }, walked))
                    if walked == rel && source.raw_os_error() == Some(libc_enotdir()) =>
                {
                    Err(ReadError::NotDirectory { path: shown })
                }
                Err((e, _)) => Err(e),
            }
        }

        pub(super) fn open_file(
            &self,
            prefix: &str,
            rel: &str,
            full: &str,
        ) -> Result<Opened, ReadError> {
            walk(self.0.as_fd(), prefix, rel, full, &super::echo(full))
        }
    }

    fn libc_enotdir() -> i32 {
        rustix::io::Errno::NOTDIR.raw_os_error()
    }

    /// Says why opening component `name` of `dir` failed: a symlink (ELOOP, or ENOTDIR for
    /// a directory component that is a link), a non-directory on the way, or plain I/O.
    fn component_error(
        dir: BorrowedFd<'_>,
        name: &str,
        walked: &str,
        shown: &str,
        e: rustix::io::Errno,
    ) -> ReadError {
        let st = rustix::fs::statat(dir, name, rustix::fs::AtFlags::SYMLINK_NOFOLLOW);
        match st {
            Ok(st) if Ft::from_raw_mode(st.st_mode as _) == Ft::Symlink => ReadError::Symlink {
                path: shown.to_owned(),
                link: super::echo(walked),
            },
            Ok(st) if walked != shown => match kind(Ft::from_raw_mode(st.st_mode as _)) {
                // A file where a directory should be: the path does not exist as named.
                Some(FileType::Directory) => io_err(shown, e),
                _ => ReadError::Missing {
                    path: shown.to_owned(),
                },
            },
            _ => io_err(shown, e),
        }
    }

    pub(super) fn open_file(path: &Path) -> Result<Opened, ReadError> {
        let shown = shown(path);
        let fd = rustix::fs::open(path, FILE.difference(OFlags::NOFOLLOW), Mode::empty())
            .map_err(|e| io_err(&shown, e))?;
        regular(fd, &shown)
    }
}

#[cfg(not(unix))]
mod imp {
    //! Portable fallback: checks each component with `symlink_metadata` before opening
    //! (a race with a concurrent writer is possible here, not on Unix).
    use std::fs::{self, File};
    use std::io;
    use std::path::Path;

    use super::{FileType, Opened, ReadError, shown};

    fn kind(m: &fs::Metadata) -> Option<FileType> {
        let t = m.file_type();
        if t.is_file() {
            None
        } else if t.is_dir() {
            Some(FileType::Directory)
        } else if t.is_symlink() {
            Some(FileType::Symlink)
        } else {
            Some(FileType::Other)
        }
    }

    fn err(path: &str, e: io::Error) -> ReadError {
        ReadError::from_io(path, e)
    }

    pub(super) fn open_under(root: &Path, rel: &str) -> Result<Opened, ReadError> {
        let shown = super::echo(rel);
        let mut at = root.to_path_buf();
        let mut walked = String::new();
        for part in rel.split('/') {
            if !walked.is_empty() {
                walked.push('/');
            }
            walked.push_str(part);
            at.push(part);
            let m = fs::symlink_metadata(&at).map_err(|e| err(&shown, e))?;
            if m.file_type().is_symlink() {
                return Err(ReadError::Symlink {
                    path: shown,
                    link: super::echo(&walked),
                });
            }
        }
        open_file(&at).map_err(|e| match e {
            ReadError::NotRegular { kind, .. } => ReadError::NotRegular { path: shown, kind },
            other => other,
        })
    }

    /// A directory under the root: files in it are opened from the root.
    #[derive(Debug)]
    pub(super) struct Dir(std::path::PathBuf);

    impl Dir {
        pub(super) fn open(root: &Path, rel: &str) -> Result<Dir, ReadError> {
            if !rel.is_empty() {
                match open_under(root, rel) {
                    Err(ReadError::NotRegular {
                        kind: FileType::Directory,
                        ..
                    }) => {}
                    Ok(_) => {
                        return Err(ReadError::NotDirectory {
                            path: super::echo(rel),
                        });
                    }
                    Err(e) => return Err(e),
                }
            }
            Ok(Dir(root.to_path_buf()))
        }

        pub(super) fn open_file(
            &self,
            _prefix: &str,
            _rel: &str,
            full: &str,
        ) -> Result<Opened, ReadError> {
            open_under(&self.0, full)
        }
    }

    pub(super) fn open_file(path: &Path) -> Result<Opened, ReadError> {
        let shown = shown(path);
        let m = fs::metadata(path).map_err(|e| err(&shown, e))?;
        if let Some(kind) = kind(&m) {
            return Err(ReadError::NotRegular { path: shown, kind });
        }
        let file = File::open(path).map_err(|e| err(&shown, e))?;
        Ok(Opened {
            file,
            size: m.len(),
        })
    }
}

/// A path joined under a root for display and for writers, after [`check_path`].
///
/// # Errors
/// [`ReadError::Path`] when `rel` breaks the path rule.
pub fn join_checked(root: &Path, rel: &str) -> Result<PathBuf, ReadError> {
    check_path(rel).map_err(|why| ReadError::Path {
        path: echo(rel),
        why,
    })?;
    Ok(rel.split('/').fold(root.to_path_buf(), |p, c| p.join(c)))
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::symlink;

    #[test]
    fn the_path_rule_refuses_escapes_and_control_characters() {
        for ok in ["a", "a/b.json", "receipts/000001/receipt.json", "ünï/çødé"] {
            assert_eq!(check_path(ok), Ok(()), "{ok}");
        }
        let bad = [
            ("", PathRuleError::Empty),
            ("/etc/passwd", PathRuleError::Absolute),
            ("C:/x", PathRuleError::Absolute),
            ("../../etc/hostname", PathRuleError::Dots("..")),
            ("a/./b", PathRuleError::Dots(".")),
            ("a//b", PathRuleError::EmptyComponent),
            ("a/", PathRuleError::EmptyComponent),
            ("a\0b", PathRuleError::Character('\0')),
            ("a\nb", PathRuleError::Character('\n')),
            ("a\u{85}b", PathRuleError::Character('\u{85}')),
            ("a\\..\\b", PathRuleError::Character('\\')),
        ];
        for (p, want) in bad {
            assert_eq!(check_path(p), Err(want), "{p:?}");
        }
        assert_eq!(check_path(&"a".repeat(4097)), Err(PathRuleError::TooLong));
    }

    #[test]
    fn reads_are_confined_regular_and_bounded() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("root");
        fs::create_dir_all(root.join("d")).unwrap();
        fs::write(root.join("d/f"), b"hello").unwrap();
        fs::write(t.path().join("outside"), b"secret").unwrap();
        symlink(t.path().join("outside"), root.join("link")).unwrap();
        symlink(t.path(), root.join("dirlink")).unwrap();
        symlink("/dev/zero", root.join("zero")).unwrap();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            root.join("fifo"),
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();

        assert_eq!(
            read_under(&root, "d/f", 5, "a test file").unwrap(),
            b"hello"
        );
        let e = read_under(&root, "d/f", 4, "a test file").unwrap_err();
        assert!(matches!(e, ReadError::TooLarge { limit: 4, .. }), "{e}");
        assert_eq!(
            e.to_string(),
            "d/f is larger than the 4-byte limit for a test file"
        );
        for (rel, want) in [
            (
                "link",
                "link is reached through the symbolic link link, which is not followed",
            ),
            (
                "dirlink/outside",
                "dirlink/outside is reached through the symbolic link dirlink, which is not followed",
            ),
            (
                "zero",
                "zero is reached through the symbolic link zero, which is not followed",
            ),
            ("fifo", "fifo is a FIFO, not a regular file"),
            ("d", "d is a directory, not a regular file"),
            ("missing", "missing does not exist"),
            ("../outside", "the path \"../outside\" has a `..` component"),
        ] {
            let e = read_under(&root, rel, 100, "a test file").unwrap_err();
            assert_eq!(e.to_string(), want);
        }
        assert!(
            read_under(&root, "missing/x", 1, "x")
                .unwrap_err()
                .is_missing()
        );
        assert!(read_under(&root, "d/f/x", 1, "x").unwrap_err().is_missing());
        // A file the user names: symlinks followed, still regular only and bounded.
        assert_eq!(read_file(&root.join("link"), 6, "x").unwrap(), b"secret");
        let e = read_file(Path::new("/dev/zero"), 1 << 20, "x").unwrap_err();
        assert!(
            matches!(
                e,
                ReadError::NotRegular {
                    kind: FileType::CharDevice,
                    ..
                }
            ),
            "{e}"
        );
        let e = read_file(&root.join("fifo"), 1, "x").unwrap_err();
        assert!(
            matches!(
                e,
                ReadError::NotRegular {
                    kind: FileType::Fifo,
                    ..
                }
            ),
            "{e}"
        );
        assert_eq!(
            kind_under(&root, "fifo").unwrap(),
            Some(Some(FileType::Fifo))
        );
        assert_eq!(kind_under(&root, "d/f").unwrap(), Some(None));
        assert_eq!(kind_under(&root, "nothing").unwrap(), None);
        assert!(kind_under(&root, "link").is_err());
        assert!(dir_under(&root, "d").unwrap());
        assert!(!dir_under(&root, "nothing").unwrap());
        assert_eq!(
            dir_under(&root, "d/f").unwrap_err().to_string(),
            "d/f is a file, not a directory"
        );
        assert!(matches!(
            dir_under(&root, "dirlink"),
            Err(ReadError::Symlink { .. })
        ));

        // Reading through an open directory: the same bytes and the same errors, naming
        // the path under the root.
        fs::create_dir_all(root.join("d/e")).unwrap();
        fs::write(root.join("d/e/g"), b"deep").unwrap();
        symlink(t.path().join("outside"), root.join("d/link")).unwrap();
        symlink(t.path(), root.join("d/dirlink")).unwrap();
        let top = Dir::open(&root, "").unwrap();
        let d = Dir::open(&root, "d").unwrap();
        for rel in [
            "d/f",
            "d/e/g",
            "d/link",
            "d/dirlink/outside",
            "d/e",
            "d/missing",
            "d/f/x",
            "d/missing/x",
            "link",
            "fifo",
            "zero",
            "d/../d/f",
            "d//f",
        ] {
            let want = read_under(&root, rel, 100, "a test file").map_err(|e| e.to_string());
            assert_eq!(
                top.read(rel, 100, "a test file").map_err(|e| e.to_string()),
                want,
                "{rel}"
            );
            if let Some(in_d) = rel.strip_prefix("d/") {
                assert_eq!(
                    d.read(in_d, 100, "a test file").map_err(|e| e.to_string()),
                    want,
                    "{rel}"
                );
            }
        }
        assert_eq!(
            d.read("f", 4, "a test file").unwrap_err().to_string(),
            "d/f is larger than the 4-byte limit for a test file"
        );
        assert_eq!(
            Dir::open(&root, "d/e").unwrap().read("g", 4, "x").unwrap(),
            b"deep"
        );
        for (rel, want) in [
            (
                "dirlink",
                "dirlink is reached through the symbolic link dirlink, which is not followed",
            ),
            (
                "d/dirlink",
                "d/dirlink is reached through the symbolic link d/dirlink, which is not followed",
            ),
            ("d/f", "d/f is a file, not a directory"),
            ("nothing", "nothing does not exist"),
            ("../d", "the path \"../d\" has a `..` component"),
        ] {
            assert_eq!(
                Dir::open(&root, rel).unwrap_err().to_string(),
                want,
                "{rel}"
            );
        }
    }
}
