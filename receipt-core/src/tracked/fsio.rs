//! File-system access for the scan: `lstat` and reading one tracked path, never following
//! a final symlink.
//!
//! On Unix each hashing thread keeps its current directory open and works relative to it
//! (`fstatat`, `openat`, `readlinkat`), so a path lookup walks one component instead of the
//! whole absolute path; on a tree of 50,000 files that lookup is most of a warm scan.

use std::fs::File;
use std::io::{self, Read};

use sha2::{Digest as _, Sha256};

use super::FileKind;
use super::cache::StatKey;
use crate::digest::Digest;

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

/// Read buffer per hashing thread: large enough that most source files take one `read`,
/// small enough to stay in the L2 cache while SHA-256 consumes it.
const BUF_SIZE: usize = 256 * 1024;

thread_local! {
    static BUF: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0u8; BUF_SIZE]);
}

/// SHA-256 and length of an open file, streamed through the thread's buffer.
fn hash_file(mut file: File, expected: u64) -> io::Result<(Digest, u64)> {
    BUF.with(|buf| {
        let mut buf = buf.borrow_mut();
        let mut h = Sha256::new();
        let mut total = 0u64;
        loop {
            let n = match file.read(&mut buf[..]) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
            total += n as u64;
            // A short read of a regular file that reached its stat size is its end; this
            // saves the extra `read` returning 0 for every small file.
            if n < buf.len() && total >= expected {
                break;
            }
        }
        Ok((Digest(h.finalize().into()), total))
    })
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

pub(super) use imp::{begin_scan, end_scan, lstat, read};

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

    use super::{Content, Lstat, hash_file, present};
    use crate::digest::Digest;
    use crate::tracked::FileKind;
    use crate::tracked::cache::StatKey;

    /// Bumped by every scan, so no thread reuses a directory opened by an earlier scan
    /// (the directory may have been replaced since).
    static GENERATION: AtomicU64 = AtomicU64::new(0);

    /// The directory a thread last worked in. One scan has one root, so the generation
    /// stands for it.
    struct OpenDir {
        generation: u64,
        rel: String,
        fd: OwnedFd,
    }

    thread_local! {
        static DIR: RefCell<Option<OpenDir>> = const { RefCell::new(None) };
    }

    /// Marks the start of a scan: directories opened before it are not reused.
    pub(in crate::tracked) fn begin_scan() -> u64 {
        GENERATION.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// Closes the directory each thread of the current pool kept open, so no descriptor
    /// outlives the scan.
    pub(in crate::tracked) fn end_scan() {
        rayon::broadcast(|_| DIR.with(|d| d.borrow_mut().take()));
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
        DIR.with(|slot| {
            let mut slot = slot.borrow_mut();
            let fresh = slot
                .as_ref()
                .is_some_and(|d| d.generation == generation && d.rel == dir);
            if !fresh {
                // Listing guarantees no directory on the way is a symlink; NOFOLLOW keeps a
                // link swapped in since from being followed at the last step.
                let fd = rustix::fs::open(root.join(dir), DIR_FLAGS, Mode::empty())?;
                *slot = Some(OpenDir {
                    generation,
                    rel: dir.to_string(),
                    fd,
                });
            }
            let open = slot.as_ref().expect("just filled");
            f(&open.fd, name)
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
    pub(in crate::tracked) fn lstat(
        generation: u64,
        root: &Path,
        rel: &str,
    ) -> io::Result<Option<Lstat>> {
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

    /// Reads `root/rel`; `None` when it is missing or neither a file nor a symlink.
    pub(in crate::tracked) fn read(
        generation: u64,
        root: &Path,
        rel: &str,
    ) -> io::Result<Option<Content>> {
        present(in_dir(generation, root, rel, |dir, name| {
            // Never follow a final symlink; never block on a FIFO that replaced a file.
            let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
            match rustix::fs::openat(dir.as_fd(), name, flags, Mode::empty()) {
                Ok(fd) => {
                    // The key of the file actually opened, taken before reading: a later
                    // change to it alters the key, so the next scan re-reads it.
                    let st = rustix::fs::fstat(&fd)?;
                    // Something else in the file's place counts as the file having vanished.
                    let Some(kind @ (FileKind::File | FileKind::Executable)) = kind_of(&st) else {
                        return Err(io::ErrorKind::NotFound.into());
                    };
                    let (digest, size) = hash_file(File::from(fd), st.st_size as u64)?;
                    Ok(Content {
                        kind,
                        key: key_of(&st),
                        size,
                        digest,
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
                    Ok(Content {
                        kind: FileKind::Symlink,
                        key: key_of(&st),
                        size: bytes.len() as u64,
                        digest: Digest::of(bytes),
                    })
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

    use super::{Content, Lstat, hash_file, present};
    use crate::digest::Digest;
    use crate::tracked::FileKind;
    use crate::tracked::cache::StatKey;

    pub(in crate::tracked) fn begin_scan() -> u64 {
        0
    }

    pub(in crate::tracked) fn end_scan() {}

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

    pub(in crate::tracked) fn lstat(_: u64, root: &Path, rel: &str) -> io::Result<Option<Lstat>> {
        let md = present(fs::symlink_metadata(root.join(rel)))?;
        Ok(md.and_then(|md| {
            Some(Lstat {
                kind: kind_of(&md)?,
                key: key_of(&md),
            })
        }))
    }

    pub(in crate::tracked) fn read(_: u64, root: &Path, rel: &str) -> io::Result<Option<Content>> {
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
                Ok(Some(Content {
                    kind: FileKind::Symlink,
                    key: key_of(&md),
                    size: bytes.len() as u64,
                    digest: Digest::of(&bytes),
                }))
            }
            Some(kind) => {
                let Some(file) = present(fs::File::open(&full))? else {
                    return Ok(None);
                };
                let (digest, size) = hash_file(file, md.len())?;
                Ok(Some(Content {
                    kind,
                    key: key_of(&md),
                    size,
                    digest,
                }))
            }
            None => Ok(None),
        }
    }
}
