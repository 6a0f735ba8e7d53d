//! A persisted append-only Merkle tree of leaf hashes: every complete (perfect) subtree
//! hash, one file per level, so roots of any earlier size and inclusion and consistency
//! proofs take O(log n) positioned reads, and an append writes O(log n) records.
//!
//! Layout of the store directory:
//!
//! ```text
//! lock        empty; writers hold an exclusive flock on it
//! head        the commit record, one line: "tau-crystal.tree/1 <size> <root hex>\n"
//! level-00    leaf hashes, 32 bytes each, in log order
//! level-01    hashes of perfect subtrees of 2 leaves: record i covers leaves 2i, 2i+1
//! level-NN    record i = SHA-256(0x01 ‖ level-(NN-1)[2i] ‖ level-(NN-1)[2i+1])
//! ```
//!
//! With `n` committed leaves, `level-NN` holds exactly `n >> NN` committed records.
//! An append writes the new records at their positions and the new `head` to a temp file,
//! makes the level files it wrote (two on average) and that temp file durable together
//! (concurrent fsyncs; a signed append adds the ledger's own files to the same round, see
//! [`TreeStore::prepare_extend_to`]), and then renames the temp file over `head`: that rename
//! is the commit point. Records past the committed counts (a torn or interrupted append) are
//! ignored by readers and overwritten or truncated by the next writer that extends that
//! level; the directory is not fsynced after the rename, so a power loss can leave the store
//! one append behind (never ahead, never wrong), which [`TreeStore::extend_to`] makes up from
//! the chain. A level file shorter than its
//! committed count, or stored nodes whose root is not the committed root, make the store
//! refuse to open ([`TreeError::Corrupt`]); [`TreeStore::rebuild`] rewrites it from the
//! leaves. A verifier never trusts the store: [`TreeStore::check`] recomputes every record
//! from the leaves.

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};

use receipt_primitives::Digest;
use receipt_primitives::confine::{self, ReadError};
use receipt_primitives::fsutil::atomic_write;
use receipt_primitives::merkle::node_hash;

use crate::consistency::{self, ProofError};
use crate::nodes::NodeSource;
pub use crate::nodes::TreeError;

/// The schema id on the head line.
pub const TREE_SCHEMA: &str = "tau-crystal.tree/1";

/// The head file's name.
pub const HEAD_FILE: &str = "head";

/// The lock file's name.
pub const LOCK_FILE: &str = "lock";

const HEAD_LIMIT: u64 = 256;

/// The file name of a level.
pub fn level_file(level: u32) -> String {
    format!("level-{level:02}")
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> TreeError + '_ {
    move |source| TreeError::Io {
        path: path.to_owned(),
        source,
    }
}

/// A tree store opened at its committed size.
#[derive(Debug)]
pub struct TreeStore {
    dir: PathBuf,
    size: u64,
    root: Digest,
    levels: Vec<File>,
}

fn open_level(path: &Path, write: bool) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut o = File::options();
    // O_NONBLOCK: a FIFO planted in the store must not block the open.
    o.read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    if write {
        o.write(true).create(true).truncate(false);
    }
    let f = o.open(path)?;
    if !f.metadata()?.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file; a tree level is one",
        ));
    }
    Ok(f)
}

fn parse_head(path: &Path, bytes: &[u8]) -> Result<(u64, Digest), TreeError> {
    let corrupt = |detail: &str| TreeError::Corrupt {
        path: path.to_owned(),
        detail: detail.to_owned(),
    };
    let text = std::str::from_utf8(bytes).map_err(|_| corrupt("not UTF-8"))?;
    let line = text
        .strip_suffix('\n')
        .ok_or_else(|| corrupt("the head line does not end with a newline"))?;
    let mut parts = line.split(' ');
    let (Some(schema), Some(size), Some(root), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(corrupt("expected `tau-crystal.tree/1 <size> <root>`"));
    };
    if schema != TREE_SCHEMA {
        return Err(corrupt("unknown schema on the head line"));
    }
    let size_ok = !size.is_empty()
        && size.bytes().all(|b| b.is_ascii_digit())
        && (size == "0" || !size.starts_with('0'));
    let size: u64 = size
        .parse()
        .ok()
        .filter(|_| size_ok)
        .ok_or_else(|| corrupt("the size is not a decimal number without leading zeros"))?;
    let root = Digest::from_hex(root).map_err(|e| corrupt(&format!("the root: {e}")))?;
    Ok((size, root))
}

fn head_line(size: u64, root: &Digest) -> String {
    format!("{TREE_SCHEMA} {size} {root}\n")
}

/// Number of levels holding at least one record for `size` leaves.
fn level_count(size: u64) -> u32 {
    64 - size.leading_zeros()
}

impl TreeStore {
    /// Creates an empty store in `dir` (created if missing).
    ///
    /// # Errors
    /// [`TreeError::Exists`] when `dir` already holds a head, or I/O errors.
    pub fn create(dir: &Path) -> Result<TreeStore, TreeError> {
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        let head = dir.join(HEAD_FILE);
        if fs::symlink_metadata(&head).is_ok() {
            return Err(TreeError::Exists { path: head });
        }
        let lock = dir.join(LOCK_FILE);
        File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock)
            .map_err(io_err(&lock))?;
        let root = receipt_primitives::merkle::empty_root();
        atomic_write(&head, head_line(0, &root).as_bytes()).map_err(io_err(&head))?;
        Ok(TreeStore {
            dir: dir.to_owned(),
            size: 0,
            root,
            levels: Vec::new(),
        })
    }

    /// Opens the store in `dir` at its committed size, read-only. Records past the committed
    /// counts are ignored; a level shorter than its committed count or stored nodes that do
    /// not give the committed root are refused.
    ///
    /// # Errors
    /// [`TreeError::Corrupt`] or I/O errors (a missing head is `NotFound`).
    pub fn open(dir: &Path) -> Result<TreeStore, TreeError> {
        let head = dir.join(HEAD_FILE);
        let bytes = confine::read_file(&head, HEAD_LIMIT, "a tree head").map_err(|e| match e {
            ReadError::Missing { .. } => TreeError::Io {
                path: head.clone(),
                source: std::io::ErrorKind::NotFound.into(),
            },
            ReadError::Io { source, .. } => TreeError::Io {
                path: head.clone(),
                source,
            },
            other => TreeError::Corrupt {
                path: head.clone(),
                detail: other.to_string(),
            },
        })?;
        let (size, root) = parse_head(&head, &bytes)?;
        let mut levels = Vec::new();
        for level in 0..level_count(size) {
            let p = dir.join(level_file(level));
            let f = open_level(&p, false).map_err(|e| {
                if e.kind() == io::ErrorKind::NotFound {
                    TreeError::Corrupt {
                        path: p.clone(),
                        detail: format!("missing; the head commits {size} leaves"),
                    }
                } else {
                    io_err(&p)(e)
                }
            })?;
            let len = f.metadata().map_err(io_err(&p))?.len();
            let want = (size >> level) * 32;
            if len < want {
                return Err(TreeError::Corrupt {
                    path: p,
                    detail: format!(
                        "holds {len} bytes but the head commits {} records of 32 bytes",
                        size >> level
                    ),
                });
            }
            levels.push(f);
        }
        let store = TreeStore {
            dir: dir.to_owned(),
            size,
            root,
            levels,
        };
        let computed = consistency::root(&store, size).map_err(|e| match e {
            ProofError::Store(t) => t,
            other => TreeError::Corrupt {
                path: head.clone(),
                detail: other.to_string(),
            },
        })?;
        if computed != root {
            return Err(TreeError::Corrupt {
                path: head,
                detail: format!(
                    "the stored nodes give root {computed} for {size} leaves, the head says {root}"
                ),
            });
        }
        Ok(store)
    }

    /// Opens the store in `dir`, creating an empty one when `dir` has no head.
    ///
    /// # Errors
    /// As [`TreeStore::open`] and [`TreeStore::create`].
    pub fn open_or_create(dir: &Path) -> Result<TreeStore, TreeError> {
        match TreeStore::open(dir) {
            Err(TreeError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                TreeStore::create(dir)
            }
            r => r,
        }
    }

    /// The store directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The committed number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The root of all committed leaves.
    pub fn root_now(&self) -> Digest {
        self.root
    }

    /// The root of the first `size` leaves, for any `size` up to [`TreeStore::size`].
    ///
    /// # Errors
    /// [`ProofError::Size`] beyond the store, or a read error.
    pub fn root(&self, size: u64) -> Result<Digest, ProofError> {
        consistency::root(self, size)
    }

    /// The leaf hash at `index`.
    ///
    /// # Errors
    /// [`ProofError::Index`] past the end, or a read error.
    pub fn leaf(&self, index: u64) -> Result<Digest, ProofError> {
        if index >= self.size {
            return Err(ProofError::Index {
                index,
                size: self.size,
            });
        }
        Ok(self.node(0, index)?)
    }

    /// The consistency proof from size `old` to size `new` (RFC 9162 §2.1.4.1).
    ///
    /// # Errors
    /// [`ProofError`].
    pub fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<Digest>, ProofError> {
        consistency::consistency_proof(self, old, new)
    }

    /// The inclusion proof of leaf `index` in the tree of size `size` (RFC 9162 §2.1.3.1).
    ///
    /// # Errors
    /// [`ProofError`].
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Digest>, ProofError> {
        consistency::inclusion_proof(self, index, size)
    }

    /// Appends one leaf hash and commits; returns its index.
    ///
    /// # Errors
    /// I/O errors or [`TreeError::Corrupt`]; on error nothing is committed.
    pub fn append(&mut self, leaf: Digest) -> Result<u64, TreeError> {
        let lock = self.lock()?;
        self.reload()?;
        let index = self.size;
        self.write(&[leaf], lock)?.sync_and_commit(self)?;
        Ok(index)
    }

    /// Makes the store hold exactly `leaves` (the chain's leaf hashes, oldest first): checks
    /// that every stored leaf is the chain's leaf at its index and appends the ones the store
    /// does not have yet, in one commit. Idempotent, so calling it after every chain append
    /// also repairs a store left behind by a crash. Returns how many leaves were appended.
    ///
    /// # Errors
    /// [`TreeError::Conflict`] when the store holds other leaves or more leaves than given;
    /// I/O errors or [`TreeError::Corrupt`]. On error nothing is committed.
    pub fn extend_to(&mut self, leaves: &[Digest]) -> Result<u64, TreeError> {
        match self.prepare_extend_to(leaves)? {
            Some(p) => {
                let n = p.size() - self.size;
                p.sync_and_commit(self)?;
                Ok(n)
            }
            None => Ok(0),
        }
    }

    /// [`TreeStore::extend_to`] up to its commit point: checks the stored leaves, writes
    /// the new records and the new head to a temp file, and returns them with the store's
    /// lock held, so the caller can make them durable together with files of its own
    /// ([`Pending::files`]) before [`Pending::commit`]. `None` when the store already holds
    /// every leaf (it is then unchanged and unlocked).
    ///
    /// # Errors
    /// As [`TreeStore::extend_to`]; nothing is committed.
    pub fn prepare_extend_to(&mut self, leaves: &[Digest]) -> Result<Option<Pending>, TreeError> {
        let lock = self.lock()?;
        self.reload()?;
        let have = self.size;
        if have > leaves.len() as u64 {
            return Err(TreeError::Conflict {
                index: leaves.len() as u64,
                detail: format!(
                    "the store holds {have} leaves but the chain has only {}",
                    leaves.len()
                ),
            });
        }
        if have > 0 {
            let p = self.dir.join(level_file(0));
            let mut stored = vec![0u8; (have * 32) as usize];
            self.levels[0]
                .read_exact_at(&mut stored, 0)
                .map_err(io_err(&p))?;
            for (i, (s, l)) in stored.chunks_exact(32).zip(leaves).enumerate() {
                if s != l.0 {
                    return Err(TreeError::Conflict {
                        index: i as u64,
                        detail: "the stored leaf hash is not the chain's".into(),
                    });
                }
            }
        }
        let new = &leaves[have as usize..];
        if new.is_empty() {
            return Ok(None);
        }
        self.write(new, lock).map(Some)
    }

    /// Recomputes every committed record of every level from `leaves` and compares: the
    /// check a verifier makes instead of trusting the store.
    ///
    /// # Errors
    /// [`TreeError::Conflict`] or [`TreeError::Corrupt`] naming the first difference.
    pub fn check(&self, leaves: &[Digest]) -> Result<(), TreeError> {
        if leaves.len() as u64 != self.size {
            return Err(TreeError::Conflict {
                index: self.size.min(leaves.len() as u64),
                detail: format!(
                    "the store holds {} leaves, the chain {}",
                    self.size,
                    leaves.len()
                ),
            });
        }
        let mut level: Vec<Digest> = leaves.to_vec();
        let mut l = 0u32;
        while !level.is_empty() {
            let p = self.dir.join(level_file(l));
            let mut stored = vec![0u8; level.len() * 32];
            self.levels[l as usize]
                .read_exact_at(&mut stored, 0)
                .map_err(io_err(&p))?;
            for (i, (s, want)) in stored.chunks_exact(32).zip(&level).enumerate() {
                if s != want.0 {
                    return Err(TreeError::Corrupt {
                        path: p,
                        detail: format!("record {i} is not the hash recomputed from the leaves"),
                    });
                }
            }
            level = level
                .chunks_exact(2)
                .map(|pair| node_hash(&pair[0], &pair[1]))
                .collect();
            l += 1;
        }
        let want = receipt_primitives::merkle::root(leaves);
        if want != self.root {
            return Err(TreeError::Corrupt {
                path: self.dir.join(HEAD_FILE),
                detail: format!("the head's root is not {want}, the root of the leaves"),
            });
        }
        Ok(())
    }

    /// Rewrites the store in `dir` from `leaves`, whatever state it is in: each level file is
    /// replaced atomically, then the head. Use it when [`TreeStore::open`] reports
    /// [`TreeError::Corrupt`]; the leaves come from the chain.
    ///
    /// # Errors
    /// I/O errors.
    pub fn rebuild(dir: &Path, leaves: &[Digest]) -> Result<TreeStore, TreeError> {
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        let lock_path = dir.join(LOCK_FILE);
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_err(&lock_path))?;
        lock.lock().map_err(io_err(&lock_path))?;
        let mut level: Vec<Digest> = leaves.to_vec();
        let mut l = 0u32;
        while !level.is_empty() {
            let p = dir.join(level_file(l));
            let bytes: Vec<u8> = level.iter().flat_map(|d| d.0).collect();
            atomic_write(&p, &bytes).map_err(io_err(&p))?;
            level = level
                .chunks_exact(2)
                .map(|pair| node_hash(&pair[0], &pair[1]))
                .collect();
            l += 1;
        }
        let head = dir.join(HEAD_FILE);
        let root = receipt_primitives::merkle::root(leaves);
        atomic_write(&head, head_line(leaves.len() as u64, &root).as_bytes())
            .map_err(io_err(&head))?;
        drop(lock);
        TreeStore::open(dir)
    }

    fn lock(&self) -> Result<File, TreeError> {
        let p = self.dir.join(LOCK_FILE);
        let f = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&p)
            .map_err(io_err(&p))?;
        f.lock().map_err(io_err(&p))?;
        Ok(f)
    }

    /// Re-reads the committed state (another writer may have appended since `open`).
    fn reload(&mut self) -> Result<(), TreeError> {
        *self = TreeStore::open(&self.dir)?;
        Ok(())
    }

    /// Writes the records `new` leaves add on top of the committed size and the new head
    /// to a temp file; nothing is synced or committed yet. `lock` is the store's lock.
    fn write(&mut self, new: &[Digest], lock: File) -> Result<Pending, TreeError> {
        let old = self.size;
        let total = old + new.len() as u64;
        // Per level: the new records, starting at index old >> level.
        let mut level_new: Vec<Digest> = new.to_vec();
        let mut level = 0u32;
        let mut files: Vec<File> = Vec::new();
        let mut written = Vec::new();
        while level < level_count(total) {
            let first = old >> level;
            let p = self.dir.join(level_file(level));
            let f = open_level(&p, true).map_err(io_err(&p))?;
            // Only levels that gain records are written and synced (two on average); a
            // stale tail on another level stays past its committed count, unread.
            if !level_new.is_empty() {
                let bytes: Vec<u8> = level_new.iter().flat_map(|d| d.0).collect();
                f.write_all_at(&bytes, first * 32).map_err(io_err(&p))?;
                let want = (total >> level) * 32;
                if f.metadata().map_err(io_err(&p))?.len() != want {
                    // Exactly the committed records of the new size: drops a torn tail.
                    f.set_len(want).map_err(io_err(&p))?;
                }
                written.push((files.len(), p.clone()));
            }
            // Parents of the next level: pairs (2j, 2j+1) with 2j+1 in the new range.
            let next_first = old >> (level + 1);
            let next_end = total >> (level + 1);
            let mut parents = Vec::with_capacity((next_end - next_first) as usize);
            for j in next_first..next_end {
                let get = |i: u64| -> Result<Digest, TreeError> {
                    if i >= first {
                        Ok(level_new[(i - first) as usize])
                    } else {
                        read_node(&f, &p, i)
                    }
                };
                parents.push(node_hash(&get(2 * j)?, &get(2 * j + 1)?));
            }
            files.push(f);
            level_new = parents;
            level += 1;
        }
        let staged = TreeStore {
            dir: self.dir.clone(),
            size: total,
            root: Digest::default(),
            levels: files,
        };
        let root = consistency::root(&staged, total).map_err(|e| match e {
            ProofError::Store(t) => t,
            other => TreeError::Corrupt {
                path: self.dir.join(HEAD_FILE),
                detail: other.to_string(),
            },
        })?;
        let head = stage_head(&self.dir, total, &root)?;
        Ok(Pending {
            store: TreeStore { root, ..staged },
            written,
            head,
            _lock: lock,
        })
    }
}

/// An extension of a [`TreeStore`] written but not committed
/// ([`TreeStore::prepare_extend_to`]); the store's lock is held until it is committed or
/// dropped. Dropped, it commits nothing: the records past the committed counts are ignored
/// and the next writer overwrites them.
#[derive(Debug)]
pub struct Pending {
    store: TreeStore,
    /// The level files written (index into `store.levels`, path).
    written: Vec<(usize, PathBuf)>,
    head: receipt_primitives::fsutil::Staged,
    _lock: File,
}

impl Pending {
    /// The size the store will have.
    pub fn size(&self) -> u64 {
        self.store.size
    }

    /// The root the store will have.
    pub fn root(&self) -> Digest {
        self.store.root
    }

    /// The files to make durable before [`Pending::commit`]: the level files written and
    /// the new head's temp file.
    pub fn files(&self) -> Vec<&File> {
        let mut f: Vec<&File> = self
            .written
            .iter()
            .map(|(i, _)| &self.store.levels[*i])
            .collect();
        f.push(self.head.file());
        f
    }

    /// The path of `files()[i]`, for messages.
    pub fn path(&self, i: usize) -> PathBuf {
        match self.written.get(i) {
            Some((_, p)) => p.clone(),
            None => self.store.dir.join(HEAD_FILE),
        }
    }

    /// Commits: renames the new head into place (the commit point) and makes `store` the
    /// extended store. The caller has made [`Pending::files`] durable (fsync) first. The
    /// directory is not fsynced: after a power loss the store may be one append behind,
    /// which is never wrong and which [`TreeStore::extend_to`] makes up from the chain.
    ///
    /// # Errors
    /// I/O errors of the rename; nothing is committed then.
    pub fn commit(self, store: &mut TreeStore) -> Result<(), TreeError> {
        let head = self.store.dir.join(HEAD_FILE);
        self.head.persist().map_err(io_err(&head))?;
        *store = self.store;
        Ok(())
    }

    /// Makes [`Pending::files`] durable, all at once, then commits.
    ///
    /// # Errors
    /// I/O errors naming the file; nothing is committed then.
    pub fn sync_and_commit(self, store: &mut TreeStore) -> Result<(), TreeError> {
        receipt_primitives::fsutil::sync_all_concurrently(&self.files())
            .map_err(|(i, e)| io_err(&self.path(i))(e))?;
        self.commit(store)
    }
}

/// The new head, written to a temp file beside `head` (not synced, not renamed).
fn stage_head(
    dir: &Path,
    size: u64,
    root: &Digest,
) -> Result<receipt_primitives::fsutil::Staged, TreeError> {
    let head = dir.join(HEAD_FILE);
    receipt_primitives::fsutil::stage(&head, head_line(size, root).as_bytes())
        .map_err(io_err(&head))
}

fn read_node(f: &File, path: &Path, index: u64) -> Result<Digest, TreeError> {
    let mut b = [0u8; 32];
    f.read_exact_at(&mut b, index * 32).map_err(io_err(path))?;
    Ok(Digest(b))
}

impl NodeSource for TreeStore {
    fn size(&self) -> u64 {
        self.size
    }

    fn node(&self, level: u32, index: u64) -> Result<Digest, TreeError> {
        let p = || self.dir.join(level_file(level));
        let f = self
            .levels
            .get(level as usize)
            .ok_or_else(|| TreeError::Corrupt {
                path: p(),
                detail: format!("no level {level} for {} leaves", self.size),
            })?;
        read_node(f, &p(), index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consistency::MemoryTree;
    use receipt_primitives::merkle::{self, leaf_hash};

    fn leaves(n: u32) -> Vec<Digest> {
        (0..n)
            .map(|i| leaf_hash(&Digest::of(&i.to_be_bytes()).0))
            .collect()
    }

    #[test]
    fn appends_match_the_in_memory_tree_at_every_size() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("tree");
        let mut store = TreeStore::create(&dir).unwrap();
        let all = leaves(70);
        let mem = MemoryTree::from_leaves(&all);
        for (i, l) in all.iter().enumerate() {
            assert_eq!(store.append(*l).unwrap(), i as u64);
        }
        let store = TreeStore::open(&dir).unwrap();
        store.check(&all).unwrap();
        for n in 0..=70u64 {
            assert_eq!(store.root(n).unwrap(), merkle::root(&all[..n as usize]));
            for m in 0..=n {
                assert_eq!(
                    store.consistency_proof(m, n).unwrap(),
                    consistency::consistency_proof(&mem, m, n).unwrap()
                );
            }
            if n > 0 {
                for i in [0, n / 2, n - 1] {
                    assert_eq!(
                        store.inclusion_proof(i, n).unwrap(),
                        merkle::inclusion_proof(&all[..n as usize], i as usize).unwrap()
                    );
                }
            }
        }
        for level in 0..7 {
            let bytes = fs::read(dir.join(level_file(level))).unwrap();
            let want: Vec<u8> = mem.level(level as usize).iter().flat_map(|d| d.0).collect();
            assert_eq!(bytes, want, "level {level}");
        }
        assert!(store.root(71).is_err());
    }

    #[test]
    fn a_prepared_extension_commits_nothing_until_committed() {
        let t = tempfile::tempdir().unwrap();
        let all = leaves(21);
        let mut store = TreeStore::open_or_create(t.path()).unwrap();
        store.extend_to(&all[..9]).unwrap();
        let p = store.prepare_extend_to(&all).unwrap().unwrap();
        assert_eq!((p.size(), p.root()), (21, merkle::root(&all)));
        // The written levels and the head's temp file are what must be made durable.
        assert!(p.files().len() >= 2);
        drop(p);
        let reopened = TreeStore::open(t.path()).unwrap();
        assert_eq!(reopened.size(), 9);
        reopened.check(&all[..9]).unwrap();
        let p = store.prepare_extend_to(&all).unwrap().unwrap();
        p.sync_and_commit(&mut store).unwrap();
        assert_eq!(store.root_now(), merkle::root(&all));
        TreeStore::open(t.path()).unwrap().check(&all).unwrap();
        assert!(store.prepare_extend_to(&all).unwrap().is_none());
    }

    #[test]
    fn extend_to_appends_only_the_missing_suffix_and_refuses_another_chain() {
        let t = tempfile::tempdir().unwrap();
        let mut store = TreeStore::open_or_create(t.path()).unwrap();
        let all = leaves(40);
        assert_eq!(store.extend_to(&all[..10]).unwrap(), 10);
        assert_eq!(store.extend_to(&all[..10]).unwrap(), 0);
        assert_eq!(store.extend_to(&all).unwrap(), 30);
        store.check(&all).unwrap();
        let mut other = all.clone();
        other[3] = leaf_hash(b"rewritten history");
        other.push(leaf_hash(b"next"));
        assert!(matches!(
            store.extend_to(&other),
            Err(TreeError::Conflict { index: 3, .. })
        ));
        assert!(matches!(
            store.extend_to(&all[..39]),
            Err(TreeError::Conflict { .. })
        ));
        assert_eq!(store.size(), 40);
    }

    #[test]
    fn a_torn_append_is_truncated_and_never_read() {
        let t = tempfile::tempdir().unwrap();
        let mut store = TreeStore::create(t.path()).unwrap();
        let all = leaves(12);
        store.extend_to(&all[..11]).unwrap();
        // A writer died after writing part of the next records but before the head.
        for level in 0..4 {
            let p = t.path().join(level_file(level));
            let mut f = fs::OpenOptions::new().append(true).open(&p).unwrap();
            std::io::Write::write_all(&mut f, &[0xab; 45]).unwrap();
        }
        let store = TreeStore::open(t.path()).unwrap();
        assert_eq!(store.size(), 11);
        assert_eq!(store.root_now(), merkle::root(&all[..11]));
        let mut store = store;
        store.append(all[11]).unwrap();
        let store = TreeStore::open(t.path()).unwrap();
        store.check(&all).unwrap();
        // The levels that gained a record (0, 1 and 2: 11 -> 12 leaves) were cut to exactly
        // their committed records; level 3 keeps a tail that no reader looks at.
        for level in 0..4u32 {
            let len = fs::metadata(t.path().join(level_file(level)))
                .unwrap()
                .len();
            let committed = (12u64 >> level) * 32;
            if (11u64 >> level) != (12u64 >> level) {
                assert_eq!(len, committed, "level {level}");
            } else {
                assert!(len > committed, "level {level}");
            }
        }
    }

    #[test]
    fn a_truncated_or_altered_store_is_refused_and_can_be_rebuilt() {
        let t = tempfile::tempdir().unwrap();
        let all = leaves(9);
        TreeStore::rebuild(t.path(), &all)
            .unwrap()
            .check(&all)
            .unwrap();
        // Level 0 loses its last record: refused.
        let p0 = t.path().join(level_file(0));
        let f = fs::OpenOptions::new().write(true).open(&p0).unwrap();
        f.set_len(8 * 32).unwrap();
        assert!(matches!(
            TreeStore::open(t.path()),
            Err(TreeError::Corrupt { .. })
        ));
        TreeStore::rebuild(t.path(), &all).unwrap();
        // A stored node on the right edge flipped: the head's root no longer matches.
        let p3 = t.path().join(level_file(3));
        let mut b = fs::read(&p3).unwrap();
        b[0] ^= 1;
        fs::write(&p3, &b).unwrap();
        assert!(matches!(
            TreeStore::open(t.path()),
            Err(TreeError::Corrupt { .. })
        ));
        TreeStore::rebuild(t.path(), &all).unwrap();
        // A node off the right edge flipped: open cannot see it, check does.
        let p1 = t.path().join(level_file(1));
        let mut b = fs::read(&p1).unwrap();
        b[0] ^= 1;
        fs::write(&p1, &b).unwrap();
        let store = TreeStore::open(t.path()).unwrap();
        assert!(matches!(store.check(&all), Err(TreeError::Corrupt { .. })));
        // A head line that is not ours.
        fs::write(t.path().join(HEAD_FILE), b"tau-crystal.tree/1 09 00\n").unwrap();
        assert!(matches!(
            TreeStore::open(t.path()),
            Err(TreeError::Corrupt { .. })
        ));
        assert!(matches!(
            TreeStore::create(t.path()),
            Err(TreeError::Exists { .. })
        ));
    }
}
