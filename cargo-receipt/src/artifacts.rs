//! Hashing the files a build produced, relative to the target directory, with a digest
//! cache so that a no-op rebuild does not re-read hundreds of megabytes of libraries.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use receipt_primitives::Digest;
use receipt_protocol::receipt::Artifact;
use serde::{Deserialize, Serialize};

use crate::exit::Error;

/// The cache file, relative to the target directory.
pub const CACHE_FILE: &str = ".receipt-cache/artifacts-v1.json";

/// Identity of a file's current content as the file system reports it: when all of it is
/// unchanged, so is the content (the change time cannot be set back by ordinary tools).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Stamp {
    size: u64,
    mtime_ns: i128,
    ctime_ns: i128,
    inode: u64,
}

impl Stamp {
    fn of(md: &fs::Metadata) -> Stamp {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            Stamp {
                size: md.len(),
                mtime_ns: i128::from(md.mtime()) * 1_000_000_000 + i128::from(md.mtime_nsec()),
                ctime_ns: i128::from(md.ctime()) * 1_000_000_000 + i128::from(md.ctime_nsec()),
                inode: md.ino(),
            }
        }
        #[cfg(not(unix))]
        {
            let mtime_ns = md
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos() as i128);
            Stamp {
                size: md.len(),
                mtime_ns,
                ctime_ns: 0,
                inode: 0,
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct CacheEntry {
    stamp: Stamp,
    sha256: Digest,
}

/// Hashes every produced file that lies under `target_dir`, in parallel, reusing digests of
/// files whose stamp is unchanged since the last build. Files outside the target directory
/// (an `--artifact-dir` copy, say) are skipped: their paths could only be recorded
/// absolutely.
///
/// # Errors
/// [`Error::Io`] when a produced file cannot be read.
pub fn hash_artifacts(files: &[PathBuf], target_dir: &Path) -> Result<Vec<Artifact>, Error> {
    let mut wanted: BTreeMap<String, &Path> = BTreeMap::new();
    for f in files {
        if let Some(rel) = crate::paths::under(f, target_dir) {
            wanted.insert(rel, f);
        }
    }
    let cache_path = target_dir.join(CACHE_FILE);
    let cache: BTreeMap<String, CacheEntry> = fs::read(&cache_path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    // A file modified in the same clock tick as the cache was written could have changed
    // again without changing its stamp ("racy", as git calls it): only entries stamped
    // strictly before the cache file's own modification time are trusted.
    let written_ns = fs::metadata(&cache_path)
        .map(|md| Stamp::of(&md).mtime_ns)
        .unwrap_or(i128::MIN);
    let hashed: Vec<(String, Artifact, CacheEntry)> = wanted
        .into_par_iter()
        .map(|(rel, path)| {
            let md = fs::metadata(path).map_err(Error::io(path))?;
            let stamp = Stamp::of(&md);
            let sha256 = match cache.get(&rel) {
                Some(c) if c.stamp == stamp && stamp.mtime_ns < written_ns => c.sha256,
                _ => hash_file(path)?,
            };
            let artifact = Artifact {
                path: rel.clone(),
                sha256,
                size: stamp.size,
            };
            Ok((rel, artifact, CacheEntry { stamp, sha256 }))
        })
        .collect::<Result<_, Error>>()?;
    // Only this build's files: a cache of every file ever built would only grow.
    let mut new_cache = BTreeMap::new();
    let mut out = Vec::with_capacity(hashed.len());
    for (rel, a, c) in hashed {
        new_cache.insert(rel, c);
        out.push(a);
    }
    if new_cache != cache {
        write_cache(&cache_path, &new_cache);
    }
    Ok(out)
}

/// Replaces the cache file by rename. Not fsynced: a cache lost or torn by a crash fails to
/// parse and is rebuilt, and failing to write it must not fail the build's receipt.
fn write_cache(path: &Path, cache: &BTreeMap<String, CacheEntry>) {
    let (Some(dir), Ok(bytes)) = (path.parent(), serde_json::to_vec(cache)) else {
        return;
    };
    let _ = fs::create_dir_all(dir);
    let tmp = dir.join(format!(".artifacts-{}.tmp", std::process::id()));
    if fs::write(&tmp, bytes).is_ok() && fs::rename(&tmp, path).is_err() {
        let _ = fs::remove_file(&tmp);
    }
}

/// SHA-256 of a file's bytes.
///
/// # Errors
/// [`Error::Io`] naming the file.
pub fn hash_file(path: &Path) -> Result<Digest, Error> {
    let f = fs::File::open(path).map_err(Error::io(path))?;
    Digest::of_reader(f).map_err(Error::io(path))
}
