//! Crash-safe file writing: temp file, fsync, rename, fsync the directory.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

/// Opens a directory and fsyncs it, so a rename or create inside it survives a crash.
///
/// # Errors
/// I/O errors of open and fsync.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Writes `bytes` to `path` atomically: a reader (or a crash) sees the old file or the new
/// one, never a mix. The temp file lives beside the target and is fsynced before the rename;
/// the directory is fsynced after it.
///
/// # Errors
/// I/O errors; the target is untouched when any step fails.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new().prefix(".tmp-").tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    sync_dir(dir)
}

/// Writes a new file (failing if it exists) and fsyncs it.
///
/// # Errors
/// I/O errors, including `AlreadyExists`.
pub fn create_synced(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}
