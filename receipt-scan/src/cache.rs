//! The digest cache: content digests keyed by `(path, size, mtime, ctime, inode)`, so an
//! unchanged tree is not read again. Not part of any binding format; a cache that is
//! missing, corrupt or written for another root is ignored, never trusted.
//!
//! Layout (all integers little-endian), followed by the SHA-256 of everything before it:
//! `"RCPTDC\0\x01"`, `u32` length + bytes of the canonical absolute root, `u64` entry count,
//! then per entry, sorted by path bytes: `u32` length + path bytes, `u64` dev, `u64` inode,
//! `u32` mode, `u64` size, `i64` mtime seconds, `u32` mtime nanoseconds, `i64` ctime seconds,
//! `u32` ctime nanoseconds, 32-byte content digest.

use std::fs;
use std::io::{self, Read};
use std::path::Path;

use rayon::prelude::*;

use receipt_primitives::digest::Digest;

const MAGIC: &[u8; 8] = b"RCPTDC\0\x01";

/// What happened to the digest cache when a scan started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheStatus {
    /// No cache path was given.
    Disabled,
    /// The cache file does not exist yet.
    Absent,
    /// The cache was read and its entries were used where they still match.
    Loaded {
        /// Number of entries in the cache file.
        entries: u64,
    },
    /// The cache file exists but was not used.
    Ignored {
        /// Why, in one sentence.
        reason: String,
    },
}

/// The identity of one version of a file, as far as `lstat` can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) struct StatKey {
    dev: u64,
    ino: u64,
    mode: u32,
    pub(super) size: u64,
    mtime: (i64, u32),
    ctime: (i64, u32),
}

impl StatKey {
    /// A key from `lstat`/`fstat` fields.
    pub(super) fn new(
        dev: u64,
        ino: u64,
        mode: u32,
        size: u64,
        mtime: (i64, u32),
        ctime: (i64, u32),
    ) -> StatKey {
        StatKey {
            dev,
            ino,
            mode,
            size,
            mtime,
            ctime,
        }
    }

    /// Encoded size of a key: dev, inode, mode, size, mtime, ctime.
    pub(super) const LEN: usize = 8 + 8 + 4 + 8 + 8 + 4 + 8 + 4;

    /// The key's fields, little-endian, in the cache's order.
    pub(super) fn to_bytes(self) -> [u8; StatKey::LEN] {
        let mut out = [0u8; StatKey::LEN];
        let mut at = 0;
        let mut put = |b: &[u8]| {
            out[at..at + b.len()].copy_from_slice(b);
            at += b.len();
        };
        put(&self.dev.to_le_bytes());
        put(&self.ino.to_le_bytes());
        put(&self.mode.to_le_bytes());
        put(&self.size.to_le_bytes());
        put(&self.mtime.0.to_le_bytes());
        put(&self.mtime.1.to_le_bytes());
        put(&self.ctime.0.to_le_bytes());
        put(&self.ctime.1.to_le_bytes());
        out
    }

    /// The device the file is on.
    pub(super) fn dev(&self) -> u64 {
        self.dev
    }

    /// Whether the file changed (mtime or ctime) at or after `since`, seconds and
    /// nanoseconds since the epoch.
    pub(super) fn changed_since(&self, since: (i64, u32)) -> bool {
        self.mtime >= since || self.ctime >= since
    }
}

/// One cached digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Entry {
    pub(super) path: String,
    pub(super) key: StatKey,
    pub(super) digest: Digest,
}

/// A cache read from disk, with the modification time of its file.
#[derive(Debug)]
pub(super) struct Loaded {
    pub(super) entries: Vec<Entry>,
    written: (i64, u32),
}

/// A cached digest whose key matched.
pub(super) struct Hit {
    pub(super) digest: Digest,
    /// The file changed no earlier than the clock tick in which the cache was written, so
    /// a later change in that same tick would leave its key unchanged: not to be trusted.
    pub(super) racy: bool,
}

impl Loaded {
    /// The entry's digest, if `key` still matches it.
    pub(super) fn hit(&self, entry: &Entry, key: &StatKey) -> Option<Hit> {
        (entry.key == *key).then(|| Hit {
            digest: entry.digest,
            racy: key.changed_since(self.written),
        })
    }
}

/// The canonical absolute root as bytes: what a cache file names its tree by.
pub(super) fn root_id(root: &Path) -> Vec<u8> {
    let abs = fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    super::os_bytes(abs.as_os_str())
}

/// Reads the cache at `path` for the tree at `root`, running `per_entry` on each entry's
/// path while the cache is parsed and checked, on every thread of the pool; returns the
/// cache and what `per_entry` gave for each entry, in entry order. `Err` says why the cache
/// is not used (then every result of `per_entry` is discarded).
pub(super) fn load_with<R: Send>(
    path: &Path,
    root: &Path,
    per_entry: impl Fn(&str) -> R + Sync,
) -> Result<(Loaded, Vec<R>), CacheStatus> {
    let ignored = |what: &str, e: io::Error| CacheStatus::Ignored {
        reason: format!("cannot {what} {}: {e}", path.display()),
    };
    let mut file = match fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(CacheStatus::Absent),
        Err(e) => return Err(ignored("open", e)),
    };
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)
        .map_err(|e| ignored("read", e))?;
    // The file system's own clock, the one file timestamps are compared against.
    let written = file
        .metadata()
        .and_then(|md| md.modified())
        .map_err(|e| ignored("stat", e))?
        .duration_since(std::time::UNIX_EPOCH)
        .map_or((0, 0), |d| (d.as_secs() as i64, d.subsec_nanos()));
    let (entries, results) =
        decode_with(&bytes, &root_id(root), per_entry).map_err(|why| CacheStatus::Ignored {
            reason: format!("{} {why}", path.display()),
        })?;
    Ok((Loaded { entries, written }, results))
}

/// A bounds-checked reader over the cache bytes (and the untracked record's).
pub(super) struct Cursor<'a>(pub(super) &'a [u8]);

impl<'a> Cursor<'a> {
    pub(super) fn take(&mut self, n: usize) -> Result<&'a [u8], &'static str> {
        if self.0.len() < n {
            return Err("is truncated");
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    pub(super) fn array<const N: usize>(&mut self) -> Result<[u8; N], &'static str> {
        Ok(self.take(N)?.try_into().expect("take returns N bytes"))
    }
    pub(super) fn u32(&mut self) -> Result<u32, &'static str> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    pub(super) fn u64(&mut self) -> Result<u64, &'static str> {
        Ok(u64::from_le_bytes(self.array()?))
    }
    pub(super) fn i64(&mut self) -> Result<i64, &'static str> {
        Ok(i64::from_le_bytes(self.array()?))
    }
    pub(super) fn bytes(&mut self) -> Result<&'a [u8], &'static str> {
        let n = self.u32()? as usize;
        self.take(n)
    }
    /// A stat key, in the order [`StatKey::to_bytes`] writes it.
    pub(super) fn key(&mut self) -> Result<StatKey, &'static str> {
        Ok(StatKey {
            dev: self.u64()?,
            ino: self.u64()?,
            mode: self.u32()?,
            size: self.u64()?,
            mtime: (self.i64()?, self.u32()?),
            ctime: (self.i64()?, self.u32()?),
        })
    }
}

/// Encoded entry fields after the path: the stat key, then the digest.
const FIXED: usize = StatKey::LEN + 32;

/// Smallest encoded entry: path length, empty path and the fixed fields.
const MIN_ENTRY: usize = 4 + FIXED;

/// [`decode_with`] without a per-entry task.
#[cfg(test)]
fn decode(bytes: &[u8], root: &[u8]) -> Result<Vec<Entry>, &'static str> {
    decode_with(bytes, root, |_| ()).map(|(entries, _)| entries)
}

/// Decodes a cache file's bytes and runs `per_entry` on each path, in parallel.
///
/// One quick pass finds where each entry starts (checking every length against the bytes
/// left); then the checksum and the path checks (UTF-8, sorted) run beside the parse of
/// the entries and `per_entry`, and everything is trusted only when both hold.
fn decode_with<R: Send>(
    bytes: &[u8],
    root: &[u8],
    per_entry: impl Fn(&str) -> R + Sync,
) -> Result<(Vec<Entry>, Vec<R>), &'static str> {
    let Some(body_len) = bytes.len().checked_sub(32) else {
        return Err("is truncated");
    };
    let (body, sum) = bytes.split_at(body_len);
    let starts = entry_starts(body, root)?;
    let path_at = |start: usize| {
        let len = u32::from_le_bytes(body[start..start + 4].try_into().expect("4 bytes"));
        &body[start + 4..start + 4 + len as usize]
    };
    let (checked, parsed) = rayon::join(
        || {
            if Digest::of(body).0 != sum {
                return Err("fails its checksum");
            }
            let mut previous: Option<&[u8]> = None;
            for &start in &starts {
                let path = path_at(start);
                if std::str::from_utf8(path).is_err() {
                    return Err("holds a non-UTF-8 path");
                }
                if previous.is_some_and(|p| p >= path) {
                    return Err("is not sorted by path");
                }
                previous = Some(path);
            }
            Ok(())
        },
        || -> (Vec<Entry>, Vec<R>) {
            starts
                .par_iter()
                .map(|&start| {
                    let path_bytes = path_at(start);
                    // Checked beside this parse; a cache failing the check is dropped whole.
                    let path = String::from_utf8_lossy(path_bytes).into_owned();
                    let after_path = start + 4 + path_bytes.len();
                    let (key, digest) = fixed_fields(&mut Cursor(&body[after_path..]))
                        .expect("entry_starts checked the length");
                    let entry = Entry { path, key, digest };
                    let result = per_entry(&entry.path);
                    (entry, result)
                })
                .unzip()
        },
    );
    checked?;
    Ok(parsed)
}

/// An entry's fields after its path.
fn fixed_fields(c: &mut Cursor<'_>) -> Result<(StatKey, Digest), &'static str> {
    let key = c.key()?;
    Ok((key, Digest(c.array()?)))
}

/// Checks the header (magic, root, entry count) and returns where each entry starts, each
/// one whole within `body`, with nothing after the last.
fn entry_starts(body: &[u8], root: &[u8]) -> Result<Vec<usize>, &'static str> {
    let mut c = Cursor(body);
    if c.take(MAGIC.len())? != MAGIC {
        return Err("is not a digest cache of this version");
    }
    if c.bytes()? != root {
        return Err("was written for another root");
    }
    let count = c.u64()?;
    if count > (c.0.len() / MIN_ENTRY) as u64 {
        return Err("claims more entries than it holds");
    }
    let mut starts = Vec::with_capacity(count as usize);
    let mut at = body.len() - c.0.len();
    for _ in 0..count {
        starts.push(at);
        let len = c.u32()? as usize;
        c.take(len)?;
        c.take(FIXED)?;
        at += 4 + len + FIXED;
    }
    if !c.0.is_empty() {
        return Err("has trailing bytes");
    }
    Ok(starts)
}

/// One entry to write: path, key, digest.
pub(super) type EntryRef<'a> = (&'a str, &'a StatKey, &'a Digest);

fn encode<'a>(root: &[u8], entries: impl ExactSizeIterator<Item = EntryRef<'a>>) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + entries.len() * (MIN_ENTRY + 48));
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(root.len() as u32).to_le_bytes());
    out.extend_from_slice(root);
    let count_at = out.len();
    out.extend_from_slice(&0u64.to_le_bytes());
    let mut count = 0u64;
    for (path, k, digest) in entries {
        out.extend_from_slice(&(path.len() as u32).to_le_bytes());
        out.extend_from_slice(path.as_bytes());
        out.extend_from_slice(&k.to_bytes());
        out.extend_from_slice(&digest.0);
        count += 1;
    }
    out[count_at..count_at + 8].copy_from_slice(&count.to_le_bytes());
    let sum = Digest::of(&out);
    out.extend_from_slice(&sum.0);
    out
}

/// Writes the cache atomically (temp file, fsync, rename, fsync the directory).
/// Concurrent scans may race to write it; each writes a complete, valid cache and the
/// last rename wins, so no lock is needed.
pub(super) fn store<'a>(
    path: &Path,
    root: &Path,
    entries: impl ExactSizeIterator<Item = EntryRef<'a>>,
) -> io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir)?;
    }
    receipt_primitives::fsutil::atomic_write(path, &encode(&root_id(root), entries))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, n: u8) -> Entry {
        Entry {
            path: path.to_string(),
            key: StatKey {
                dev: 1,
                ino: u64::from(n),
                mode: 0o100644,
                size: 10,
                mtime: (1_700_000_000, 5),
                ctime: (1_700_000_001, 6),
            },
            digest: Digest::of(&[n]),
        }
    }

    fn encode_all(entries: &[Entry]) -> Vec<u8> {
        let refs = entries.iter().map(|e| (e.path.as_str(), &e.key, &e.digest));
        encode(b"/r", refs)
    }

    #[test]
    fn round_trips_and_refuses_every_single_byte_flip() {
        let entries = vec![entry("a", 1), entry("b/c", 2)];
        let bytes = encode_all(&entries);
        assert_eq!(decode(&bytes, b"/r").unwrap(), entries);
        assert_eq!(
            decode(&bytes, b"/other"),
            Err("was written for another root")
        );
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x20;
            assert!(decode(&bad, b"/r").is_err(), "flip at {i} accepted");
        }
        for n in 0..bytes.len() {
            assert!(
                decode(&bytes[..n], b"/r").is_err(),
                "truncation to {n} accepted"
            );
        }
    }

    #[test]
    fn unsorted_entries_are_refused_even_with_a_valid_checksum() {
        let bytes = encode_all(&[entry("b", 1), entry("a", 2)]);
        assert_eq!(decode(&bytes, b"/r"), Err("is not sorted by path"));
    }
}
