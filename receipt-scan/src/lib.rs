//! The scanner of a source tree's tracked set (`docs/SPEC.md` §3): which files count, read
//! fast on every core with a digest cache, giving the protocol's [`TrackedTree`]; and the
//! git state (commit, dirty flag) of the tree, in [`git`].
//!
//! A scan lists the paths ([`TrackMode::Git`] or [`TrackMode::Walk`]), then reads every file
//! on all cores, skipping those whose digest the cache already holds for an identical
//! `(path, size, mtime, ctime, inode)`. Beside the cache it keeps a record of git's
//! untracked listing, reused while nothing that listing depends on has changed
//! (`untracked`), so a scan of an unchanged tree runs no git.

mod cache;
mod fsio;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod git;
mod gitindex;
mod lanes;
mod list;
mod mapped;
#[cfg(test)]
mod testutil;
mod untracked;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use receipt_primitives::digest::Digest;

pub use cache::CacheStatus;
pub use receipt_protocol::tracked::{FileKind, TrackMode, TrackedFile, TrackedTree, TreeDiff};

/// Lets scans hash large files from memory mappings, by installing a process-wide `SIGBUS`
/// handler (once; later calls do nothing). Returns whether mappings are in use.
///
/// Mapping saves the copy from the page cache (about a tenth of a cold scan's CPU), but a
/// mapped file that another process truncates raises `SIGBUS` when the lost pages are
/// read. The handler catches such a fault only inside a mapping the faulting thread made
/// for hashing, maps zeros over the lost pages and has the file read again; any other
/// `SIGBUS` goes to the previously installed action, so it still ends the process. Call it
/// from `main` of a program that owns its signal handling (the `cargo-receipt` and
/// `lake-receipt` binaries do); without it every file is read, with the same digests.
/// Always `false` off Linux.
pub fn install_sigbus_guard() -> bool {
    mapped::install()
}

/// Directory names a walk-mode scan skips at any depth by default.
pub const DEFAULT_EXCLUDE_DIRS: [&str; 3] = [".git", "target", ".lake"];

/// How to scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanOptions {
    /// Where to keep the digest cache; `None` reads every file.
    ///
    /// The cache must not itself be part of the tracked set (put it under `target/` or an
    /// ignored directory): a scan that finds it there refuses to run.
    pub cache_path: Option<PathBuf>,
    /// Directory names skipped at any depth in walk mode (a trailing `/` is ignored).
    /// Defaults to [`DEFAULT_EXCLUDE_DIRS`]. Git mode ignores this list.
    pub exclude_dirs: Vec<String>,
    /// Root-relative directory prefixes, each ending in `/`, whose paths are left out of the
    /// set in both modes, before anything is read: a producer's own output directories
    /// (docs/SPEC.md §3.1). Empty by default.
    pub exclude_prefixes: Vec<String>,
    /// Number of hashing threads; `None` uses every core.
    pub threads: Option<usize>,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            cache_path: None,
            exclude_dirs: DEFAULT_EXCLUDE_DIRS.iter().map(|s| s.to_string()).collect(),
            exclude_prefixes: Vec::new(),
            threads: None,
        }
    }
}

/// What a scan did, for benchmarks and command-line reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanStats {
    /// Files in the tracked set.
    pub files: u64,
    /// Total content bytes of the tracked set.
    pub bytes: u64,
    /// Files (and symlinks) whose content was read because the cache had no usable digest.
    pub files_hashed: u64,
    /// Content bytes read and hashed.
    pub bytes_hashed: u64,
    /// Files whose digest came from the cache.
    pub cache_hits: u64,
    /// Cached entries not trusted because the file changed in the same clock tick as the
    /// cache was written ("racy" entries); they are counted in `files_hashed` too.
    pub racy: u64,
    /// What happened to the cache on load.
    pub cache: CacheStatus,
    /// Whether a new cache file was written (it is rewritten only when something changed).
    pub cache_written: bool,
    /// Whether the untracked files came from the record kept beside the cache, with no
    /// git walk of the work tree, because nothing that listing depends on had changed.
    pub untracked_reused: bool,
}

/// Why a scan failed. Each message is one sentence naming the path at fault.
#[derive(Debug, thiserror::Error)]
pub enum TrackError {
    /// The root is missing or not a directory.
    #[error("scan root {path} is not a readable directory: {source}")]
    Root {
        /// The root given.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: io::Error,
    },
    /// `git` could not be started or failed.
    #[error("`git {args}` failed in {root}: {detail}")]
    Git {
        /// The directory git ran in.
        root: PathBuf,
        /// The git arguments.
        args: String,
        /// git's error output, or why it could not start.
        detail: String,
    },
    /// A path of the tracked set is not valid UTF-8.
    #[error("path {path:?} under {root} is not valid UTF-8, and tracked paths must be")]
    NonUtf8Path {
        /// The scan root.
        root: PathBuf,
        /// The path with invalid bytes replaced by U+FFFD.
        path: String,
    },
    /// A directory could not be walked.
    #[error("cannot walk {path}: {detail}")]
    Walk {
        /// The directory or file that failed.
        path: PathBuf,
        /// The walker's error.
        detail: String,
    },
    /// A tracked file could not be read.
    #[error("cannot read tracked file {path}: {source}")]
    Read {
        /// The file (root joined with its tracked path).
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The digest cache file is itself in the tracked set, so every scan would change it.
    #[error(
        "digest cache {path} is in the tracked set; move it under target/ or an ignored directory"
    )]
    CacheInsideTree {
        /// The tracked path of the cache file.
        path: String,
    },
    /// The digest cache could not be written.
    #[error("cannot write digest cache {path}: {source}")]
    CacheWrite {
        /// The cache file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The hashing threads could not be started.
    #[error("cannot start {threads} hashing threads: {detail}")]
    Threads {
        /// The number asked for.
        threads: usize,
        /// rayon's error.
        detail: String,
    },
}

/// Scans the tree at `root` and returns its tracked set.
///
/// # Errors
/// [`TrackError`]: unreadable root or file, git failing inside a work tree, a non-UTF-8
/// path, a digest cache inside the tracked set or not writable.
///
/// # Examples
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use receipt_scan::{scan, ScanOptions};
/// let dir = tempfile::tempdir()?;
/// std::fs::write(dir.path().join("a.txt"), "hello\n")?;
/// let tree = scan(dir.path(), &ScanOptions::default())?;
/// assert_eq!(tree.files.len(), 1);
/// let proof = tree.proof("a.txt").expect("a.txt is tracked");
/// proof.verify_content(b"hello\n")?;
/// assert_eq!(proof.merkle_root, tree.root());
/// # Ok(()) }
/// ```
pub fn scan(root: &Path, opts: &ScanOptions) -> Result<TrackedTree, TrackError> {
    scan_with_stats(root, opts).map(|(tree, _)| tree)
}

/// [`scan`], also returning what the scan read and what the cache saved.
///
/// # Errors
/// As [`scan`].
pub fn scan_with_stats(
    root: &Path,
    opts: &ScanOptions,
) -> Result<(TrackedTree, ScanStats), TrackError> {
    let md = fs::metadata(root).map_err(|source| TrackError::Root {
        path: root.to_path_buf(),
        source,
    })?;
    if !md.is_dir() {
        return Err(TrackError::Root {
            path: root.to_path_buf(),
            source: io::Error::new(io::ErrorKind::NotADirectory, "not a directory"),
        });
    }
    match opts.threads {
        None => scan_in_pool(root, opts),
        Some(threads) => rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .map_err(|e| TrackError::Threads {
                threads,
                detail: e.to_string(),
            })?
            .install(|| scan_in_pool(root, opts)),
    }
}

fn scan_in_pool(root: &Path, opts: &ScanOptions) -> Result<(TrackedTree, ScanStats), TrackError> {
    let generation = fsio::begin_scan();
    let _close_dirs = CloseDirs;
    let record_path = opts.cache_path.as_deref().map(untracked_record_path);
    // Listing waits on git; meanwhile the hashing threads load the cache and lstat every
    // path it names as they parse it. The tracked files come quickly from git's index (read
    // directly, see `gitindex`), the untracked ones from git's walk of the work tree, which
    // goes on while the tracked files are read.
    let (listing, loaded) = std::thread::scope(|s| {
        // Without a cache to load every file is read, and git's index tells which are large
        // enough to start first; with one, few files are read and their order is moot.
        let cold = opts.cache_path.as_deref().is_none_or(|p| !p.exists());
        let large_from = cold.then_some(LARGE_FILE);
        let record_at = record_path.as_deref().map(|path| list::RecordAt {
            path,
            exclude_prefixes: &opts.exclude_prefixes,
        });
        let lister = s.spawn(move || list::list(root, &opts.exclude_dirs, large_from, record_at));
        let loaded = opts.cache_path.as_deref().map(|p| {
            let lstat = |path: &str| fsio::lstat(generation, root, path);
            cache::load_with(p, root, lstat).map(|(cache, lstats)| Warm { cache, lstats })
        });
        let listing = lister
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (listing, loaded)
    });
    let mut listing = listing?;
    let large = std::mem::take(&mut listing.large);
    let (warm, status) = match loaded {
        None => (None, CacheStatus::Disabled),
        Some(Ok(w)) => {
            let n = w.cache.entries.len() as u64;
            (Some(w), CacheStatus::Loaded { entries: n })
        }
        Some(Err(status)) => (None, status),
    };
    let excluded = |p: &String| {
        opts.exclude_prefixes
            .iter()
            .any(|x| p.starts_with(x.as_str()))
    };
    // Tracked files are read while git still lists the untracked ones.
    let mut first = std::mem::take(&mut listing.first);
    first.retain(|p| !excluded(p));
    let first_examined = examine_all(generation, root, &first, &large, warm.as_ref());
    let untracked = listing.rest()?;
    let mut rest = untracked.paths;
    rest.retain(|p| !excluded(p) && first.binary_search(p).is_err());
    let rest_examined = examine_all(generation, root, &rest, &[], warm.as_ref());
    let mode = listing.mode;
    let (first_len, rest_len) = (first.len(), rest.len());
    let examined = merge_sorted(
        first.into_iter().zip(first_examined),
        rest.into_iter().zip(rest_examined),
    );

    let n = first_len + rest_len;
    let mut files = Vec::with_capacity(n);
    let mut keys = Vec::with_capacity(n);
    let mut stats = ScanStats {
        files: 0,
        bytes: 0,
        files_hashed: 0,
        bytes_hashed: 0,
        cache_hits: 0,
        racy: 0,
        cache: status,
        cache_written: false,
        untracked_reused: untracked.reused,
    };
    for (path, e) in examined {
        let Some(e) = e? else { continue };
        stats.files += 1;
        stats.bytes += e.size;
        match e.outcome {
            Outcome::Hit => stats.cache_hits += 1,
            Outcome::Hashed { racy } => {
                stats.files_hashed += 1;
                stats.bytes_hashed += e.size;
                stats.racy += u64::from(racy);
            }
        }
        keys.push(e.key);
        files.push(TrackedFile {
            path,
            kind: e.kind,
            size: e.size,
            content_sha256: e.digest,
        });
    }

    if let Some(cache_path) = &opts.cache_path {
        for own in std::iter::once(cache_path).chain(&record_path) {
            if let Some(inside) = tracked_path_of(root, own)
                && files.binary_search_by(|f| f.path.cmp(&inside)).is_ok()
            {
                return Err(TrackError::CacheInsideTree { path: inside });
            }
        }
        if let (Some(record), Some(path)) = (&untracked.record, &record_path) {
            record
                .store(path, root)
                .map_err(|source| TrackError::CacheWrite {
                    path: path.clone(),
                    source,
                })?;
        }
        let unchanged = stats.files_hashed == 0
            && warm.as_ref().is_some_and(|w| {
                let c = &w.cache;
                c.entries.len() == files.len()
                    && c.entries.iter().zip(&files).all(|(a, b)| a.path == b.path)
            });
        if !unchanged {
            let entries = files
                .iter()
                .zip(&keys)
                .map(|(f, k)| (f.path.as_str(), k, &f.content_sha256));
            cache::store(cache_path, root, entries).map_err(|source| TrackError::CacheWrite {
                path: cache_path.clone(),
                source,
            })?;
            stats.cache_written = true;
        }
    }
    Ok((TrackedTree { mode, files }, stats))
}

/// Where the record of git's untracked listing is kept: beside the digest cache, its name
/// with `.untracked` appended.
fn untracked_record_path(cache: &Path) -> PathBuf {
    let mut name = cache.as_os_str().to_owned();
    name.push(".untracked");
    PathBuf::from(name)
}

/// The cache file's path relative to `root` in tracked-path form, if it lies under `root`.
fn tracked_path_of(root: &Path, file: &Path) -> Option<String> {
    let root = fs::canonicalize(root).ok()?;
    let parent = fs::canonicalize(file.parent()?).ok()?;
    let rel = parent.strip_prefix(&root).ok()?.join(file.file_name()?);
    let parts: Option<Vec<&str>> = rel.components().map(|c| c.as_os_str().to_str()).collect();
    Some(parts?.join("/"))
}

/// How a file's digest was obtained.
enum Outcome {
    Hit,
    Hashed { racy: bool },
}

/// What a scan learned about one path (its path is the candidate's).
struct Examined {
    kind: FileKind,
    size: u64,
    digest: Digest,
    key: cache::StatKey,
    outcome: Outcome,
}

/// What the hashing lanes must remember of a file they hash.
struct Remember {
    kind: FileKind,
    key: cache::StatKey,
    /// Whether its cache entry matched but was racy.
    racy: bool,
}

/// Files at least this large by git's index are hashed first, largest first.
const LARGE_FILE: u64 = 1 << 20;

/// Examines `candidates` (sorted) on every thread of the pool, hashing files two at a time
/// per thread; results in the candidates' order. Candidates named in `large` (with their
/// expected sizes) are taken first, largest first; the others in order.
fn examine_all(
    generation: u64,
    root: &Path,
    candidates: &[String],
    large: &[(String, u64)],
    warm: Option<&Warm>,
) -> Vec<Result<Option<Examined>, TrackError>> {
    let read_err = |i: usize, source| TrackError::Read {
        path: root.join(&candidates[i]),
        source,
    };
    // Opens and hashes the candidates at `to_read` (index, racy), handing out `first` (positions
    // in `to_read`) before the others.
    let hash = |to_read: &[(usize, bool)], first: &[usize]| {
        lanes::run(
            to_read.len(),
            first,
            |k| {
                let (i, racy) = to_read[k];
                prepare(generation, root, &candidates[i], racy).map_err(|e| read_err(i, e))
            },
            |k, Remember { kind, key, racy }, read| {
                let (digest, size) = read.map_err(|e| read_err(to_read[k].0, e))?;
                Ok(Some(Examined {
                    kind,
                    size,
                    digest,
                    key,
                    outcome: Outcome::Hashed { racy },
                }))
            },
        )
    };
    let Some(w) = warm else {
        // Cold: every file is opened; the large ones go first, largest first.
        let mut first: Vec<(u64, usize)> = large
            .iter()
            .filter_map(|(path, size)| Some((*size, candidates.binary_search(path).ok()?)))
            .collect();
        first.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        first.dedup_by_key(|e| e.1);
        let first: Vec<usize> = first.into_iter().map(|(_, i)| i).collect();
        let all: Vec<(usize, bool)> = (0..candidates.len()).map(|i| (i, false)).collect();
        return hash(&all, &first);
    };
    // Warm: what the cache and the lstat taken already settle (most paths) costs no
    // syscall; only the rest is opened and hashed.
    let settled: Vec<Settled> = cache_positions(candidates, &w.cache.entries)
        .par_iter()
        .map(|pos| pos.map_or(Settled::Read { racy: false }, |p| w.settle(p)))
        .collect();
    let to_read: Vec<(usize, bool)> = settled
        .iter()
        .enumerate()
        .filter_map(|(i, s)| match s {
            Settled::Read { racy } => Some((i, *racy)),
            Settled::Done(_) => None,
        })
        .collect();
    let mut hashed = hash(&to_read, &[]).into_iter();
    settled
        .into_iter()
        .enumerate()
        .map(|(i, s)| match s {
            Settled::Done(r) => r.map_err(|e| read_err(i, e)),
            Settled::Read { .. } => hashed.next().expect("one result per file read"),
        })
        .collect()
}

/// Merges two lists sorted by path (with no path in both) into one sorted sequence.
fn merge_sorted<T>(
    a: impl IntoIterator<Item = (String, T)>,
    b: impl IntoIterator<Item = (String, T)>,
) -> impl Iterator<Item = (String, T)> {
    let (mut a, mut b) = (a.into_iter().peekable(), b.into_iter().peekable());
    std::iter::from_fn(move || match (a.peek(), b.peek()) {
        (Some((pa, _)), Some((pb, _))) if pb < pa => b.next(),
        (Some(_), _) => a.next(),
        (None, _) => b.next(),
    })
}

/// Closes the hashing threads' open directories when the scan ends, however it ends.
struct CloseDirs;

impl Drop for CloseDirs {
    fn drop(&mut self) {
        fsio::end_scan();
    }
}

/// A loaded cache and the `lstat` of each of its paths, taken while the listing ran.
struct Warm {
    cache: cache::Loaded,
    lstats: Vec<io::Result<Option<fsio::Lstat>>>,
}

/// What a cache entry and its path's `lstat` settle without opening the file.
enum Settled {
    /// A cache hit, a path gone (or no longer a file or symlink), or the `lstat` error.
    Done(io::Result<Option<Examined>>),
    /// The file must be read; `racy` when its entry matched but is not to be trusted.
    Read { racy: bool },
}

impl Warm {
    /// What the cache entry at `i` and its path's `lstat` settle.
    fn settle(&self, i: usize) -> Settled {
        let st = match &self.lstats[i] {
            Ok(st) => *st,
            Err(e) => return Settled::Done(Err(io::Error::new(e.kind(), e.to_string()))),
        };
        let Some(st) = st else {
            return Settled::Done(Ok(None));
        };
        match self.cache.hit(&self.cache.entries[i], &st.key) {
            None => Settled::Read { racy: false },
            Some(hit) if hit.racy => Settled::Read { racy: true },
            Some(hit) => Settled::Done(Ok(Some(Examined {
                kind: st.kind,
                size: st.key.size,
                digest: hit.digest,
                key: st.key,
                outcome: Outcome::Hit,
            }))),
        }
    }
}

/// For each candidate, the position of its cache entry, by merging the two sorted lists.
fn cache_positions(candidates: &[String], entries: &[cache::Entry]) -> Vec<Option<usize>> {
    let mut j = 0;
    candidates
        .iter()
        .map(|c| {
            while j < entries.len() && entries[j].path.as_str() < c.as_str() {
                j += 1;
            }
            (j < entries.len() && entries[j].path == *c).then_some(j)
        })
        .collect()
}

/// Opens one candidate path for hashing: a symlink is read at once, a path that is not
/// (or no longer) a regular file or symlink gives `None`, a regular file is handed to the
/// hashing lanes. `racy` says the path's cache entry matched but is not to be trusted.
fn prepare(
    generation: u64,
    root: &Path,
    cand: &str,
    racy: bool,
) -> lanes::Step<Option<Examined>, io::Error, Remember> {
    match fsio::open(generation, root, cand) {
        Err(e) => lanes::Step::Done(Err(e)),
        Ok(None) => lanes::Step::Done(Ok(None)),
        Ok(Some(fsio::Opened::Ready(c))) => lanes::Step::Done(Ok(Some(Examined {
            kind: c.kind,
            size: c.size,
            digest: c.digest,
            key: c.key,
            outcome: Outcome::Hashed { racy },
        }))),
        Ok(Some(fsio::Opened::File { file, kind, key })) => lanes::Step::Hash(
            lanes::Job {
                file,
                expected: key.size,
            },
            Remember { kind, key, racy },
        ),
    }
}

#[cfg(unix)]
fn os_bytes(s: &std::ffi::OsStr) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    s.as_bytes().to_vec()
}

#[cfg(not(unix))]
fn os_bytes(s: &std::ffi::OsStr) -> Vec<u8> {
    s.to_string_lossy().replace('\\', "/").into_bytes()
}
