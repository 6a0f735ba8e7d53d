//! Crash-safe file writing: temp file, fsync, rename, fsync the directory; and the same in
//! two halves ([`stage`], [`Staged::persist`]) so that several files are made durable by
//! concurrent fsyncs ([`sync_all_concurrently`]), which a journaling file system commits
//! together.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Opens a directory and fsyncs it, so a rename or create inside it survives a crash.
///
/// # Errors
/// I/O errors of open and fsync.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Fsyncs every file, all at once: each on its own thread, so a journaling file system
/// (ext4, XFS) folds the concurrent fsyncs into one journal commit and `n` files cost about
/// one fsync instead of `n`. Returns when every fsync has returned.
///
/// # Errors
/// The first failure in `files` order, with the index of its file.
pub fn sync_all_concurrently(files: &[&File]) -> Result<(), (usize, io::Error)> {
    match files {
        [] => Ok(()),
        [f] => f.sync_all().map_err(|e| (0, e)),
        [first, rest @ ..] => std::thread::scope(|s| {
            let others: Vec<_> = rest.iter().map(|f| s.spawn(|| f.sync_all())).collect();
            let mut results = vec![first.sync_all()];
            results.extend(others.into_iter().map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(io::Error::other("an fsync thread panicked")))
            }));
            match results.into_iter().enumerate().find(|(_, r)| r.is_err()) {
                Some((i, Err(e))) => Err((i, e)),
                _ => Ok(()),
            }
        }),
    }
}

/// A file written beside its target, not yet durable and not yet visible under the
/// target's name: the first half of [`atomic_write`]. Make [`Staged::file`] durable (with
/// other files: [`sync_all_concurrently`]), then [`Staged::persist`] it and fsync the
/// directory. Dropped without persisting, the temp file is removed.
#[derive(Debug)]
pub struct Staged {
    tmp: tempfile::NamedTempFile,
    target: PathBuf,
}

/// Writes `bytes` to a temp file beside `path` (mode 0644 on Unix, as [`atomic_write`]
/// makes it), without fsync; see [`Staged`].
///
/// # Errors
/// I/O errors; `path` is untouched.
pub fn stage(path: &Path, bytes: &[u8]) -> io::Result<Staged> {
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(parent_dir(path))?;
    tmp.write_all(bytes)?;
    // Temp files are created private (0600); the files we publish are ordinary, readable
    // files, as `create_synced` makes them.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(fs::Permissions::from_mode(0o644))?;
    }
    Ok(Staged {
        tmp,
        target: path.to_owned(),
    })
}

impl Staged {
    /// The temp file, to be made durable before [`Staged::persist`].
    pub fn file(&self) -> &File {
        self.tmp.as_file()
    }

    /// The target path.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Renames the temp file over the target (replacing the name, never writing through
    /// it). The caller fsynced [`Staged::file`] before and fsyncs the directory after.
    ///
    /// # Errors
    /// I/O errors of the rename; the target is untouched then.
    pub fn persist(self) -> io::Result<()> {
        self.tmp
            .persist(&self.target)
            .map(drop)
            .map_err(|e| e.error)
    }
}

/// Writes `bytes` to `path` atomically: a reader (or a crash) sees the old file or the new
/// one, never a mix. The temp file lives beside the target and is fsynced before the rename;
/// the directory is fsynced after it.
///
/// # Errors
/// I/O errors; the target is untouched when any step fails.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let staged = stage(path, bytes)?;
    staged.file().sync_all()?;
    staged.persist()?;
    sync_dir(parent_dir(path))
}

/// The directory `path` is in (`.` for a bare file name).
fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// Writes a new file (failing if it exists) and fsyncs it.
///
/// # Errors
/// I/O errors, including `AlreadyExists`.
pub fn create_synced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    create_unsynced(path, bytes)?.sync_all()
}

/// Writes a new file (failing if it exists) without fsync, and returns it open, to be made
/// durable with others ([`sync_all_concurrently`]).
///
/// # Errors
/// I/O errors, including `AlreadyExists`.
pub fn create_unsynced(path: &Path, bytes: &[u8]) -> io::Result<File> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?;
    f.write_all(bytes)?;
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_whole_files_readable_by_others() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("f.json");
        atomic_write(&p, b"one").unwrap();
        atomic_write(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                fs::metadata(&p).unwrap().permissions().mode() & 0o777,
                0o644
            );
        }
        // No temp file is left behind.
        assert_eq!(fs::read_dir(t.path()).unwrap().count(), 1);
    }

    #[test]
    fn staged_files_appear_only_when_persisted() {
        let t = tempfile::tempdir().unwrap();
        let (a, b) = (t.path().join("a"), t.path().join("b"));
        fs::write(&a, b"old").unwrap();
        let sa = stage(&a, b"new a").unwrap();
        let sb = stage(&b, b"new b").unwrap();
        assert_eq!(fs::read(&a).unwrap(), b"old");
        assert!(!b.exists());
        sync_all_concurrently(&[sa.file(), sb.file()]).unwrap();
        sa.persist().unwrap();
        assert_eq!(fs::read(&a).unwrap(), b"new a");
        // Dropped without persisting: nothing is left.
        drop(sb);
        assert!(!b.exists());
        assert_eq!(fs::read_dir(t.path()).unwrap().count(), 1);
        let c = create_unsynced(&t.path().join("c"), b"c").unwrap();
        assert!(create_unsynced(&t.path().join("c"), b"c").is_err());
        let dir = File::open(t.path()).unwrap();
        sync_all_concurrently(&[&c, &dir, &c]).unwrap();
        sync_all_concurrently(&[]).unwrap();
    }
}
