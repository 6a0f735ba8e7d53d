//! File-system access for the scan: `lstat` and opening one tracked path, never following
//! a symlink on the way.
//!
//! On Unix each hashing thread keeps open the directories on the way to its current one,
//! each opened from its parent with `O_NOFOLLOW`, and works relative to the last
//! (`fstatat`, `openat`, `readlinkat`): a path lookup walks one component instead of the
//! whole absolute path (on a tree of 50,000 files that lookup is most of a warm scan), and
//! a path below a symlinked directory is not reached, even if the link appeared after git
//! listed the path.

use std::fs::File;
use std::io;

use super::FileKind;
use super::cache::StatKey;
use receipt_primitives::digest::Digest;

/// What `lstat` says about a path that is a regular file or a symlink.
#[derive(Debug, Clone, Copy)]
pub(super) struct Lstat {
    pub(super) kind: FileKind,
    pub(super) key: StatKey,
}

/// A path's kind, stat key, content size and content digest.
pub(super) struct Content {
    pub(super) kind: FileKind,
    pub(super) key: StatKey,
    pub(super) size: u64,
    pub(super) digest: Digest,
}

/// A tracked path opened for hashing: a symlink is read at once (its content is the short
/// link target); a regular file is left open for the hashing lanes to stream.
pub(super) enum Opened {
    /// A symlink, already hashed.
    Ready(Content),
    /// A regular file, with the kind and stat key of the file actually opened (taken before
    /// reading: a later change to it alters the key, so the next scan re-reads it).
    File {
        file: File,
        kind: FileKind,
        key: StatKey,
    },
}

/// Errors meaning the path vanished, or something without content (a directory, a
/// socket) took its place, between listing and reading.
fn gone(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
    ) || is_no_such_device(e)
}

#[cfg(unix)]
fn is_no_such_device(e: &io::Error) -> bool {
    // open(2) of a socket.
    e.raw_os_error() == Some(libc::ENXIO)
}

#[cfg(not(unix))]
fn is_no_such_device(_: &io::Error) -> bool {
    false
}

/// Maps "vanished" errors to `None`.
fn present<T>(r: io::Result<T>) -> io::Result<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) if gone(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

pub(super) use imp::{begin_scan, end_scan, lstat, open};

#[cfg(unix)]
mod imp {
    use std::cell::RefCell;
    use std::fs::File;
    use std::io;
    use std::os::fd::{AsFd, OwnedFd};
    use std::path::Path;
    use std::sync::atomic::{AtomicU64, Ordering};

    use rustix::fs::{AtFlags, FileType, Mode, OFlags, Stat};
    use rustix::io::Errno;

    use super::{Content, Lstat, Opened, present};
    use crate::FileKind;
    use crate::cache::StatKey;
    use receipt_primitives::digest::Digest;

    /// Bumped by every scan, so no thread reuses a directory opened by an earlier scan
    /// (the directory may have been replaced since).
    static GENERATION: AtomicU64 = AtomicU64::new(0);

    /// The directories a thread has open: the scan root and, below it, every directory on
    /// the way to the one it last worked in, each opened from its parent without following
    /// a symlink. One scan has one root, so the generation stands for it.
    struct OpenDirs {
        generation: u64,
        root: OwnedFd,
        /// The deepest directory, relative to the root (empty for the root itself).
        path: String,
        /// For each open directory below the root, outermost first: where its relative
        /// path ends in `path`, and its handle.
        levels: Vec<(usize, OwnedFd)>,
    }

    impl OpenDirs {
        /// Opens `dir` (relative to the root) one component at a time, reusing the levels it
        /// shares with the directory opened last; returns its handle.
        ///
        /// A component that is a symlink or not a directory ends the walk with `NotFound`:
        /// everything below it is outside the tracked set, as git treats index entries
        /// below a symlink as deleted. Walking from the root this way means a directory
        /// swapped for a symlink at any moment is never followed.
        fn descend(&mut self, dir: &str) -> io::Result<&OwnedFd> {
            let shared = self
                .levels
                .iter()
                .take_while(|(end, _)| {
                    let end = *end;
                    dir.len() >= end
                        && dir.as_bytes()[..end] == self.path.as_bytes()[..end]
                        && dir.as_bytes().get(end).is_none_or(|&b| b == b'/')
                })
                .count();
            self.levels.truncate(shared);
            self.path.clear();
            self.path.push_str(dir);
            let mut start = self.levels.last().map_or(0, |(end, _)| end + 1);
            while start < dir.len() {
                let end = dir[start..].find('/').map_or(dir.len(), |i| start + i);
                let parent = self.levels.last().map_or(&self.root, |(_, fd)| fd);
                let fd = rustix::fs::openat(parent, &dir[start..end], DIR_FLAGS, Mode::empty())
                    .map_err(|e| match e {
                        // A symlink (ELOOP where O_NOFOLLOW refuses it, ENOTDIR where the
                        // link itself is opened) or a file in a directory's place.
                        Errno::LOOP | Errno::NOTDIR => io::ErrorKind::NotFound.into(),
                        e => io::Error::from(e),
                    })?;
                self.levels.push((end, fd));
                start = end + 1;
            }
            Ok(self.levels.last().map_or(&self.root, |(_, fd)| fd))
        }
    }

    thread_local! {
        static DIRS: RefCell<Option<OpenDirs>> = const { RefCell::new(None) };
    }

    /// Marks the start of a scan: directories opened before it are not reused.
    pub(crate) fn begin_scan() -> u64 {
        GENERATION.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// Closes the directories each thread of the current pool kept open, so no descriptor
    /// outlives the scan.
    pub(crate) fn end_scan() {
        rayon::broadcast(|_| DIRS.with(|d| d.borrow_mut().take()));
    }

    #[cfg(any(target_os = "linux", target_os = "android"))]
    const DIR_FLAGS: OFlags = OFlags::PATH
        .union(OFlags::DIRECTORY)
        .union(OFlags::CLOEXEC)
        .union(OFlags::NOFOLLOW);
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    const DIR_FLAGS: OFlags = OFlags::RDONLY
        .union(OFlags::DIRECTORY)
        .union(OFlags::CLOEXEC)
        .union(OFlags::NOFOLLOW);

    /// Runs `f` with the directory holding `rel` open, and the file name within it.
    fn in_dir<R>(
        generation: u64,
        root: &Path,
        rel: &str,
        f: impl FnOnce(&OwnedFd, &str) -> io::Result<R>,
    ) -> io::Result<R> {
        let (dir, name) = rel.rsplit_once('/').unwrap_or(("", rel));
        DIRS.with(|slot| {
            let mut slot = slot.borrow_mut();
            if slot.as_ref().is_none_or(|d| d.generation != generation) {
                // The root is the one the caller named: a symlink there is followed.
                let flags = DIR_FLAGS.difference(OFlags::NOFOLLOW);
                *slot = Some(OpenDirs {
                    generation,
                    root: rustix::fs::open(root, flags, Mode::empty())?,
                    path: String::new(),
                    levels: Vec::new(),
                });
            }
            let dirs = slot.as_mut().expect("just filled");
            f(dirs.descend(dir)?, name)
        })
    }

    #[allow(clippy::unnecessary_cast)] // field types differ between targets
    fn key_of(st: &Stat) -> StatKey {
        StatKey::new(
            st.st_dev as u64,
            st.st_ino as u64,
            st.st_mode as u32,
            st.st_size as u64,
            (st.st_mtime as i64, st.st_mtime_nsec as u32),
            (st.st_ctime as i64, st.st_ctime_nsec as u32),
        )
    }

    #[allow(clippy::unnecessary_cast)]
    fn kind_of(st: &Stat) -> Option<FileKind> {
        match FileType::from_raw_mode(st.st_mode as _) {
            FileType::Symlink => Some(FileKind::Symlink),
            FileType::RegularFile if st.st_mode as u32 & 0o100 != 0 => Some(FileKind::Executable),
            FileType::RegularFile => Some(FileKind::File),
            _ => None,
        }
    }

    /// `lstat` of `root/rel`; `None` when it is missing or neither a file nor a symlink.
    pub(crate) fn lstat(generation: u64, root: &Path, rel: &str) -> io::Result<Option<Lstat>> {
        let st = present(in_dir(generation, root, rel, |dir, name| {
            Ok(rustix::fs::statat(
                dir.as_fd(),
                name,
                AtFlags::SYMLINK_NOFOLLOW,
            )?)
        }))?;
        Ok(st.and_then(|st| {
            Some(Lstat {
                kind: kind_of(&st)?,
                key: key_of(&st),
            })
        }))
    }

    /// Opens `root/rel`; `None` when it is missing or neither a file nor a symlink.
    pub(crate) fn open(generation: u64, root: &Path, rel: &str) -> io::Result<Option<Opened>> {
        present(in_dir(generation, root, rel, |dir, name| {
            // Never follow a final symlink; never block on a FIFO that replaced a file.
            let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
            match rustix::fs::openat(dir.as_fd(), name, flags, Mode::empty()) {
                Ok(fd) => {
                    let st = rustix::fs::fstat(&fd)?;
                    // Something else in the file's place counts as the file having vanished.
                    let Some(kind @ (FileKind::File | FileKind::Executable)) = kind_of(&st) else {
                        return Err(io::ErrorKind::NotFound.into());
                    };
                    Ok(Opened::File {
                        file: File::from(fd),
                        kind,
                        key: key_of(&st),
                    })
                }
                // O_NOFOLLOW refuses a final symlink with ELOOP.
                Err(Errno::LOOP) => {
                    let st = rustix::fs::statat(dir.as_fd(), name, AtFlags::SYMLINK_NOFOLLOW)?;
                    if kind_of(&st) != Some(FileKind::Symlink) {
                        return Err(io::ErrorKind::NotFound.into());
                    }
                    let target = rustix::fs::readlinkat(dir.as_fd(), name, Vec::new())?;
                    let bytes = target.as_bytes();
                    Ok(Opened::Ready(Content {
                        kind: FileKind::Symlink,
                        key: key_of(&st),
                        size: bytes.len() as u64,
                        digest: Digest::of(bytes),
                    }))
                }
                Err(e) => Err(e.into()),
            }
        }))
    }
}

#[cfg(not(unix))]
mod imp {
    use std::fs::{self, Metadata};
    use std::io;
    use std::path::Path;

    use super::{Content, Lstat, Opened, present};
    use crate::FileKind;
    use crate::cache::StatKey;
    use receipt_primitives::digest::Digest;

    pub(crate) fn begin_scan() -> u64 {
        0
    }

    pub(crate) fn end_scan() {}

    fn key_of(md: &Metadata) -> StatKey {
        let t = md
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or((0, 0), |d| (d.as_secs() as i64, d.subsec_nanos()));
        StatKey::new(0, 0, 0, md.len(), t, t)
    }

    fn kind_of(md: &Metadata) -> Option<FileKind> {
        let t = md.file_type();
        if t.is_symlink() {
            Some(FileKind::Symlink)
        } else if t.is_file() {
            Some(FileKind::File)
        } else {
            None
        }
    }

    pub(crate) fn lstat(_: u64, root: &Path, rel: &str) -> io::Result<Option<Lstat>> {
        let md = present(fs::symlink_metadata(root.join(rel)))?;
        Ok(md.and_then(|md| {
            Some(Lstat {
                kind: kind_of(&md)?,
                key: key_of(&md),
            })
        }))
    }

    pub(crate) fn open(_: u64, root: &Path, rel: &str) -> io::Result<Option<Opened>> {
        let full = root.join(rel);
        let Some(md) = present(fs::symlink_metadata(&full))? else {
            return Ok(None);
        };
        match kind_of(&md) {
            Some(FileKind::Symlink) => {
                let Some(target) = present(fs::read_link(&full))? else {
                    return Ok(None);
                };
                let bytes = target.to_string_lossy().replace('\\', "/").into_bytes();
                Ok(Some(Opened::Ready(Content {
                    kind: FileKind::Symlink,
                    key: key_of(&md),
                    size: bytes.len() as u64,
                    digest: Digest::of(&bytes),
                })))
            }
            Some(kind) => Ok(present(fs::File::open(&full))?.map(|file| Opened::File {
                file,
                kind,
                key: key_of(&md),
            })),
            None => Ok(None),
        }
    }
}
