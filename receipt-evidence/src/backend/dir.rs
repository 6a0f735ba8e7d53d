//! The directory backend: objects are files under one root directory, reached only through
//! directory descriptors opened with `O_NOFOLLOW`, so no symbolic link inside the store is
//! ever followed; only regular files are read, listed or deleted. Writes go to a temporary
//! file in the target directory, are fsynced, renamed into place, and the directory is
//! fsynced.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

use super::{Backend, BackendError, Listed, check_key};

/// Objects under a root directory.
#[derive(Debug)]
pub struct DirBackend {
    root: PathBuf,
    fd: OwnedFd,
}

const DIR_FLAGS: OFlags = OFlags::DIRECTORY
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC)
    .union(OFlags::RDONLY);

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

impl DirBackend {
    /// Opens the store directory `root`, creating it (mode 0755, parents included) when
    /// `create` is set and it does not exist.
    ///
    /// # Errors
    /// [`BackendError::Location`] when `root` is a symbolic link, not a directory, or missing
    /// without `create`; I/O errors.
    pub fn open(root: &Path, create: bool) -> Result<DirBackend, BackendError> {
        let location = root.display().to_string();
        let refuse = |reason: &str| BackendError::Location {
            location: location.clone(),
            reason: reason.to_owned(),
        };
        match std::fs::symlink_metadata(root) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(refuse(
                    "the store directory is a symbolic link; name the real directory",
                ));
            }
            Ok(m) if !m.is_dir() => return Err(refuse("not a directory")),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => {
                std::fs::create_dir_all(root).map_err(|source| BackendError::Io {
                    op: "create",
                    location: location.clone(),
                    key: String::new(),
                    source,
                })?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(refuse("no such store directory"));
            }
            Err(source) => {
                return Err(BackendError::Io {
                    op: "open",
                    location,
                    key: String::new(),
                    source,
                });
            }
        }
        let fd = rustix::fs::open(root, DIR_FLAGS, Mode::empty()).map_err(|e| match e {
            Errno::LOOP | Errno::NOTDIR => {
                refuse("the store directory is a symbolic link or not a directory")
            }
            e => BackendError::Io {
                op: "open",
                location: location.clone(),
                key: String::new(),
                source: e.into(),
            },
        })?;
        Ok(DirBackend {
            root: root.to_owned(),
            fd,
        })
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn io(&self, op: &'static str, key: &str, e: impl Into<std::io::Error>) -> BackendError {
        BackendError::Io {
            op,
            location: self.location(),
            key: key.to_owned(),
            source: e.into(),
        }
    }

    fn not_regular(&self, key: &str) -> BackendError {
        BackendError::NotRegular {
            location: self.location(),
            key: key.to_owned(),
        }
    }

    /// Opens the directory holding `key`'s last segment, creating missing directories when
    /// `create` is set. `Ok(None)` when a directory is missing and `create` is not set.
    fn parent(
        &self,
        key: &str,
        segs: &[&str],
        create: bool,
    ) -> Result<Option<OwnedFd>, BackendError> {
        let mut cur: Option<OwnedFd> = None;
        for seg in &segs[..segs.len() - 1] {
            let at = cur.as_ref().map_or(self.fd.as_fd(), |f| f.as_fd());
            let next = match rustix::fs::openat(at, *seg, DIR_FLAGS, Mode::empty()) {
                Ok(f) => f,
                Err(Errno::NOENT) if create => {
                    match rustix::fs::mkdirat(at, *seg, Mode::from_raw_mode(0o755)) {
                        Ok(()) | Err(Errno::EXIST) => {}
                        Err(e) => return Err(self.io("create a directory for", key, e)),
                    }
                    rustix::fs::openat(at, *seg, DIR_FLAGS, Mode::empty()).map_err(|e| match e {
                        Errno::LOOP | Errno::NOTDIR => self.not_regular(key),
                        e => self.io("open a directory for", key, e),
                    })?
                }
                Err(Errno::NOENT) => return Ok(None),
                Err(Errno::LOOP | Errno::NOTDIR) => return Err(self.not_regular(key)),
                Err(e) => return Err(self.io("open a directory for", key, e)),
            };
            cur = Some(next);
        }
        Ok(Some(match cur {
            Some(f) => f,
            None => rustix::fs::openat(&self.fd, ".", DIR_FLAGS, Mode::empty())
                .map_err(|e| self.io("open", key, e))?,
        }))
    }

    /// Writes `bytes` to a new temporary file beside `name` in `dir`; returns its name.
    fn write_temp(
        &self,
        dir: &OwnedFd,
        key: &str,
        name: &str,
        bytes: &[u8],
    ) -> Result<(String, File), BackendError> {
        // Sealed objects are private to the owner; the others are ordinary readable files.
        let mode = if name.ends_with(".enc") { 0o600 } else { 0o644 };
        let (tmp_name, tmp) = loop {
            let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
            let tmp_name = format!(".tmp-{}-{n}", std::process::id());
            match rustix::fs::openat(
                dir,
                tmp_name.as_str(),
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC | OFlags::NOFOLLOW,
                Mode::from_raw_mode(mode),
            ) {
                Ok(f) => break (tmp_name, File::from(f)),
                Err(Errno::EXIST) => continue,
                Err(e) => return Err(self.io("write", key, e)),
            }
        };
        let mut tmp = tmp;
        if let Err(e) = tmp.write_all(bytes) {
            let _ = rustix::fs::unlinkat(dir, tmp_name.as_str(), AtFlags::empty());
            return Err(self.io("write", key, e));
        }
        Ok((tmp_name, tmp))
    }

    fn list_into(
        &self,
        dir: OwnedFd,
        prefix: &str,
        depth: usize,
        out: &mut Vec<Listed>,
    ) -> Result<(), BackendError> {
        let mut names = Vec::new();
        {
            let mut d = rustix::fs::Dir::read_from(&dir).map_err(|e| self.io("list", prefix, e))?;
            while let Some(entry) = d.read() {
                let entry = entry.map_err(|e| self.io("list", prefix, e))?;
                let name = entry.file_name().to_bytes();
                if name.starts_with(b".") {
                    continue; // ".", "..", and temporary files of writes in progress
                }
                if let Ok(name) = std::str::from_utf8(name) {
                    names.push(name.to_owned());
                }
            }
        }
        names.sort();
        for name in names {
            let key = format!("{prefix}{name}");
            if check_key(&key).is_err() {
                continue;
            }
            let st = match rustix::fs::statat(&dir, name.as_str(), AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) => st,
                Err(Errno::NOENT) => continue,
                Err(e) => return Err(self.io("list", &key, e)),
            };
            match FileType::from_raw_mode(st.st_mode) {
                FileType::RegularFile => out.push(Listed {
                    key,
                    size: st.st_size as u64,
                }),
                FileType::Directory if depth < 8 => {
                    let sub =
                        match rustix::fs::openat(&dir, name.as_str(), DIR_FLAGS, Mode::empty()) {
                            Ok(f) => f,
                            Err(Errno::NOENT | Errno::LOOP | Errno::NOTDIR) => continue,
                            Err(e) => return Err(self.io("list", &key, e)),
                        };
                    self.list_into(sub, &format!("{key}/"), depth + 1, out)?;
                }
                _ => {} // symbolic links, FIFOs, devices: not ours, never followed
            }
        }
        Ok(())
    }
}

impl Backend for DirBackend {
    fn location(&self) -> String {
        self.root.display().to_string()
    }

    fn put(&self, key: &str, bytes: &[u8]) -> Result<(), BackendError> {
        let segs = check_key(key)?;
        let dir = self.parent(key, &segs, true)?.expect("parents are created");
        let name = segs[segs.len() - 1];
        let (tmp_name, tmp) = self.write_temp(&dir, key, name, bytes)?;
        let done = (|| -> std::io::Result<()> {
            tmp.sync_all()?;
            rustix::fs::renameat(&dir, tmp_name.as_str(), &dir, name)?;
            rustix::fs::fsync(&dir)?;
            Ok(())
        })();
        if let Err(e) = done {
            let _ = rustix::fs::unlinkat(&dir, tmp_name.as_str(), AtFlags::empty());
            return Err(self.io("write", key, e));
        }
        Ok(())
    }

    /// The batch is written as temporary files, made durable with one `syncfs`, renamed into
    /// place in order, and the renames made durable with a second `syncfs`: two filesystem
    /// syncs per batch instead of two fsyncs per object.
    fn put_many(&self, items: &[(String, Vec<u8>)]) -> Result<(), BackendError> {
        // Each directory of the batch is opened (through `parent`, component by component)
        // once: a blob and its metadata share one, and so do the blobs of a fan-out prefix.
        let mut dirs: Vec<OwnedFd> = Vec::new();
        let mut dir_of: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
        let mut staged: Vec<(usize, String, &str, &str)> = Vec::with_capacity(items.len());
        let cleanup = |dirs: &[OwnedFd], staged: &[(usize, String, &str, &str)]| {
            for (dir, tmp, _, _) in staged {
                let _ = rustix::fs::unlinkat(&dirs[*dir], tmp.as_str(), AtFlags::empty());
            }
        };
        for (key, bytes) in items {
            let written = check_key(key).and_then(|segs| {
                let name = segs[segs.len() - 1];
                let prefix = &key[..key.len() - name.len()];
                let dir = match dir_of.get(prefix) {
                    Some(&i) => i,
                    None => {
                        let fd = self.parent(key, &segs, true)?.expect("parents are created");
                        dirs.push(fd);
                        dir_of.insert(prefix, dirs.len() - 1);
                        dirs.len() - 1
                    }
                };
                let (tmp, _file) = self.write_temp(&dirs[dir], key, name, bytes)?;
                Ok((dir, tmp, key.as_str(), name))
            });
            match written {
                Ok(s) => staged.push(s),
                Err(e) => {
                    cleanup(&dirs, &staged);
                    return Err(e);
                }
            }
        }
        if let Err(e) = rustix::fs::syncfs(&self.fd) {
            cleanup(&dirs, &staged);
            return Err(self.io("sync", "the batch", e));
        }
        for (i, (dir, tmp, key, name)) in staged.iter().enumerate() {
            let dir = &dirs[*dir];
            if let Err(e) = rustix::fs::renameat(dir, tmp.as_str(), dir, *name) {
                cleanup(&dirs, &staged[i..]);
                return Err(self.io("write", key, e));
            }
        }
        rustix::fs::syncfs(&self.fd).map_err(|e| self.io("sync", "the batch", e))
    }

    fn get(&self, key: &str, max: u64) -> Result<Option<Vec<u8>>, BackendError> {
        let segs = check_key(key)?;
        let Some(dir) = self.parent(key, &segs, false)? else {
            return Ok(None);
        };
        let name = segs[segs.len() - 1];
        let fd = match rustix::fs::openat(
            &dir,
            name,
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Ok(f) => f,
            Err(Errno::NOENT) => return Ok(None),
            Err(Errno::LOOP) => return Err(self.not_regular(key)),
            Err(e) => return Err(self.io("read", key, e)),
        };
        let st = rustix::fs::fstat(&fd).map_err(|e| self.io("read", key, e))?;
        if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
            return Err(self.not_regular(key));
        }
        let size = st.st_size as u64;
        if size > max {
            return Err(BackendError::TooLarge {
                location: self.location(),
                key: key.to_owned(),
                size,
                max,
            });
        }
        let mut buf = Vec::with_capacity(size as usize);
        File::from(fd)
            .take(max + 1)
            .read_to_end(&mut buf)
            .map_err(|e| self.io("read", key, e))?;
        if buf.len() as u64 > max {
            return Err(BackendError::TooLarge {
                location: self.location(),
                key: key.to_owned(),
                size: buf.len() as u64,
                max,
            });
        }
        Ok(Some(buf))
    }

    fn size(&self, key: &str) -> Result<Option<u64>, BackendError> {
        let segs = check_key(key)?;
        let Some(dir) = self.parent(key, &segs, false)? else {
            return Ok(None);
        };
        match rustix::fs::statat(&dir, segs[segs.len() - 1], AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::RegularFile => {
                Ok(Some(st.st_size as u64))
            }
            Ok(_) => Err(self.not_regular(key)),
            Err(Errno::NOENT) => Ok(None),
            Err(e) => Err(self.io("stat", key, e)),
        }
    }

    fn list(&self, prefix: &str) -> Result<Vec<Listed>, BackendError> {
        let trimmed = prefix.trim_end_matches('/');
        let mut out = Vec::new();
        let dir = if trimmed.is_empty() {
            rustix::fs::openat(&self.fd, ".", DIR_FLAGS, Mode::empty())
                .map_err(|e| self.io("list", prefix, e))?
        } else {
            let probe = format!("{trimmed}/x");
            let segs = check_key(&probe)?;
            let Some(parent) = self.parent(&probe, &segs, false)? else {
                return Ok(out);
            };
            parent
        };
        let base = if trimmed.is_empty() {
            String::new()
        } else {
            format!("{trimmed}/")
        };
        self.list_into(dir, &base, 0, &mut out)?;
        out.sort();
        Ok(out)
    }

    /// Any entry at all in the root (hidden ones included) makes it non-empty.
    fn is_empty(&self) -> Result<bool, BackendError> {
        let mut d = rustix::fs::Dir::read_from(&self.fd).map_err(|e| self.io("list", "", e))?;
        while let Some(entry) = d.read() {
            let entry = entry.map_err(|e| self.io("list", "", e))?;
            let name = entry.file_name().to_bytes();
            if name != b"." && name != b".." {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn delete(&self, key: &str) -> Result<(), BackendError> {
        let segs = check_key(key)?;
        let Some(dir) = self.parent(key, &segs, false)? else {
            return Ok(());
        };
        let name = segs[segs.len() - 1];
        match rustix::fs::statat(&dir, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::RegularFile => {}
            Ok(_) => return Err(self.not_regular(key)),
            Err(Errno::NOENT) => return Ok(()),
            Err(e) => return Err(self.io("delete", key, e)),
        }
        match rustix::fs::unlinkat(&dir, name, AtFlags::empty()) {
            Ok(()) | Err(Errno::NOENT) => {}
            Err(e) => return Err(self.io("delete", key, e)),
        }
        rustix::fs::fsync(&dir).map_err(|e| self.io("delete", key, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_get_list_delete() {
        let t = tempfile::tempdir().unwrap();
        let b = DirBackend::open(&t.path().join("store"), true).unwrap();
        b.put("public/sha256/ab/abc", b"one").unwrap();
        b.put("public/sha256/ab/abc", b"two").unwrap();
        b.put("public/sha256/cd/cde", b"three").unwrap();
        assert_eq!(b.get("public/sha256/ab/abc", 10).unwrap().unwrap(), b"two");
        assert_eq!(b.get("public/sha256/ab/nope", 10).unwrap(), None);
        assert_eq!(b.get("public/sha256/zz/nope", 10).unwrap(), None);
        assert!(matches!(
            b.get("public/sha256/cd/cde", 4),
            Err(BackendError::TooLarge {
                size: 5,
                max: 4,
                ..
            })
        ));
        assert_eq!(b.size("public/sha256/cd/cde").unwrap(), Some(5));
        let l = b.list("public/").unwrap();
        assert_eq!(
            l.iter().map(|x| x.key.as_str()).collect::<Vec<_>>(),
            ["public/sha256/ab/abc", "public/sha256/cd/cde"]
        );
        b.delete("public/sha256/ab/abc").unwrap();
        b.delete("public/sha256/ab/abc").unwrap();
        assert_eq!(b.size("public/sha256/ab/abc").unwrap(), None);
        // No temporary file is left behind.
        let names: Vec<_> = std::fs::read_dir(t.path().join("store/public/sha256/ab"))
            .unwrap()
            .collect();
        assert!(names.is_empty());
    }

    #[test]
    fn a_symlinked_store_directory_is_refused() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir(t.path().join("real")).unwrap();
        std::os::unix::fs::symlink(t.path().join("real"), t.path().join("link")).unwrap();
        let e = DirBackend::open(&t.path().join("link"), true).unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        assert!(DirBackend::open(&t.path().join("missing"), false).is_err());
    }

    #[test]
    fn symlinks_inside_the_store_are_never_followed() {
        let t = tempfile::tempdir().unwrap();
        let outside = t.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        std::fs::write(outside.join("victim"), b"keep me").unwrap();
        let root = t.path().join("store");
        let b = DirBackend::open(&root, true).unwrap();
        std::fs::create_dir_all(root.join("public/sha256")).unwrap();
        // A directory on the path is a link out of the store.
        std::os::unix::fs::symlink(&outside, root.join("public/sha256/ab")).unwrap();
        assert!(matches!(
            b.get("public/sha256/ab/victim", 100),
            Err(BackendError::NotRegular { .. })
        ));
        assert!(matches!(
            b.delete("public/sha256/ab/victim"),
            Err(BackendError::NotRegular { .. })
        ));
        assert!(b.put("public/sha256/ab/new", b"x").is_err());
        assert!(!outside.join("new").exists());
        // The object itself is a link.
        std::fs::create_dir_all(root.join("public/sha256/cd")).unwrap();
        std::os::unix::fs::symlink(outside.join("victim"), root.join("public/sha256/cd/obj"))
            .unwrap();
        assert!(matches!(
            b.get("public/sha256/cd/obj", 100),
            Err(BackendError::NotRegular { .. })
        ));
        assert!(b.delete("public/sha256/cd/obj").is_err());
        assert!(b.list("public/").unwrap().is_empty());
        assert_eq!(std::fs::read(outside.join("victim")).unwrap(), b"keep me");
        // A FIFO in place of an object is not opened for reading (it would block).
        let fifo = root.join("public/sha256/cd/fifo");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            FileType::Fifo,
            Mode::from_raw_mode(0o644),
            0,
        )
        .unwrap();
        assert!(matches!(
            b.get("public/sha256/cd/fifo", 100),
            Err(BackendError::NotRegular { .. })
        ));
    }
}
