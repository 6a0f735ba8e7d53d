//! The tracked set of a source tree as the protocol sees it (docs/SPEC.md §3): the files,
//! how each becomes a leaf, the RFC 6962 root over them and differences (a file's inclusion
//! proof is in [`crate::proof`]).
//! Producers fill it by scanning a tree (`receipt-scan`); verifiers rebuild it from a
//! receipt's listing.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use receipt_primitives::digest::Digest;
use receipt_primitives::merkle;
use receipt_primitives::sha256x2;

/// How the tracked set was listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TrackMode {
    /// `git ls-files -z --cached --others --exclude-standard`, run at the root.
    Git,
    /// A directory walk honouring `.gitignore` files, without `.git/`, `target/`, `.lake/`.
    Walk,
}

impl TrackMode {
    /// The mode's name as recorded in receipts: `git` or `walk`.
    pub fn as_str(self) -> &'static str {
        match self {
            TrackMode::Git => "git",
            TrackMode::Walk => "walk",
        }
    }
}

impl std::fmt::Display for TrackMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a tracked path is; its one-byte code enters the leaf hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum FileKind {
    /// A regular file without the owner execute bit: `f`.
    #[serde(rename = "f")]
    File,
    /// A regular file with the owner execute bit: `x`.
    #[serde(rename = "x")]
    Executable,
    /// A symbolic link, never followed; its content is the link target's bytes: `l`.
    #[serde(rename = "l")]
    Symlink,
}

impl FileKind {
    /// The byte that stands for this kind in the leaf hash.
    pub fn code(self) -> u8 {
        match self {
            FileKind::File => b'f',
            FileKind::Executable => b'x',
            FileKind::Symlink => b'l',
        }
    }

    /// The kind a code byte stands for, if any.
    pub fn from_code(code: u8) -> Option<FileKind> {
        match code {
            b'f' => Some(FileKind::File),
            b'x' => Some(FileKind::Executable),
            b'l' => Some(FileKind::Symlink),
            _ => None,
        }
    }
}

/// One file of the tracked set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrackedFile {
    /// Path relative to the scan root, `/`-separated, UTF-8.
    pub path: String,
    /// Regular file, executable or symlink.
    pub kind: FileKind,
    /// Content length in bytes (for a symlink, the length of its target).
    pub size: u64,
    /// SHA-256 of the content (for a symlink, of its target bytes).
    pub content_sha256: Digest,
}

impl TrackedFile {
    /// This file's leaf hash, see [`tracked_leaf_hash`].
    pub fn leaf_hash(&self) -> Digest {
        tracked_leaf_hash(&self.path, self.kind, &self.content_sha256)
    }
}

/// The leaf hash of one tracked file:
/// `SHA-256(0x00 ‖ path ‖ 0x00 ‖ kind ‖ SHA-256(content))`, which is
/// [`merkle::leaf_hash`] of `path ‖ 0x00 ‖ kind ‖ content_sha256`.
pub fn tracked_leaf_hash(path: &str, kind: FileKind, content_sha256: &Digest) -> Digest {
    Digest::of(leaf_message(path, kind, content_sha256, &mut Vec::new()))
}

/// The message whose SHA-256 is a tracked file's leaf hash,
/// `0x00 ‖ path ‖ 0x00 ‖ kind ‖ content_sha256`, written into `buf`.
fn leaf_message<'b>(
    path: &str,
    kind: FileKind,
    content_sha256: &Digest,
    buf: &'b mut Vec<u8>,
) -> &'b [u8] {
    buf.clear();
    buf.push(0);
    buf.extend_from_slice(path.as_bytes());
    buf.extend_from_slice(&[0, kind.code()]);
    buf.extend_from_slice(&content_sha256.0);
    buf
}

/// [`TrackedFile::leaf_hash`] of each of `files`, computed two at a time.
fn leaf_hashes_of(files: &[TrackedFile]) -> Vec<Digest> {
    fn message<'b>(f: &TrackedFile, buf: &'b mut Vec<u8>) -> &'b [u8] {
        leaf_message(&f.path, f.kind, &f.content_sha256, buf)
    }
    let (mut ma, mut mb) = (Vec::new(), Vec::new());
    let mut out = Vec::with_capacity(files.len());
    for pair in files.chunks(2) {
        match pair {
            [a, b] => {
                let (da, db) = sha256x2::digest2(message(a, &mut ma), message(b, &mut mb));
                out.extend([Digest(da), Digest(db)]);
            }
            [a] => out.push(a.leaf_hash()),
            _ => {}
        }
    }
    out
}

/// Files per parallel task of [`TrackedTree::root`]: a power of two, so each full run is a
/// perfect subtree of the Merkle tree.
const ROOT_RUN: usize = 2048;

/// The tracked set of a tree: its files sorted by path bytes, and how they were listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrackedTree {
    /// How the set was listed.
    pub mode: TrackMode,
    /// The files, sorted by the bytes of their paths, without duplicates.
    pub files: Vec<TrackedFile>,
}

/// The differences between two tracked sets, each list sorted by path.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TreeDiff {
    /// Paths present only in the other tree.
    pub added: Vec<String>,
    /// Paths present only in this tree.
    pub removed: Vec<String>,
    /// Paths present in both whose kind or content differs.
    pub changed: Vec<String>,
}

impl TreeDiff {
    /// Whether the two trees have the same files with the same kinds and contents.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }
}

impl TrackedTree {
    /// The leaf hashes in path order, two files at a time on interleaved SHA-256 lanes and
    /// shared among the threads of the current rayon pool.
    pub fn leaf_hashes(&self) -> Vec<Digest> {
        self.files
            .par_chunks(2048)
            .map(leaf_hashes_of)
            .collect::<Vec<_>>()
            .concat()
    }

    /// The RFC 6962 Merkle root over the leaf hashes in path order (`SHA-256("")` when empty).
    ///
    /// Each thread of the current rayon pool takes aligned runs of `ROOT_RUN` (2,048) files and
    /// reduces their leaves to the root of that run, which is a subtree of the whole tree
    /// (the tree splits at powers of two, so an aligned power-of-two run of leaves is never
    /// split otherwise, and a short last run is the tree's rightmost subtree); the roots of
    /// the runs then make the tree above them.
    pub fn root(&self) -> Digest {
        if self.files.len() <= ROOT_RUN {
            return merkle::root(&leaf_hashes_of(&self.files));
        }
        let runs: Vec<Digest> = self
            .files
            .par_chunks(ROOT_RUN)
            .map(|run| merkle::root(&leaf_hashes_of(run)))
            .collect();
        merkle::root(&runs)
    }

    /// The file at `path`, if it is in the set.
    pub fn get(&self, path: &str) -> Option<&TrackedFile> {
        self.index_of(path).map(|i| &self.files[i])
    }

    /// The position of `path` in [`TrackedTree::files`] (its leaf index).
    pub(crate) fn index_of(&self, path: &str) -> Option<usize> {
        self.files
            .binary_search_by(|f| f.path.as_str().cmp(path))
            .ok()
    }

    /// What changed from `self` to `other`: paths only in `other` are `added`, paths only in
    /// `self` are `removed`, paths in both with another kind or content are `changed`.
    pub fn diff(&self, other: &TrackedTree) -> TreeDiff {
        let mut d = TreeDiff::default();
        let (mut a, mut b) = (self.files.iter().peekable(), other.files.iter().peekable());
        loop {
            match (a.peek(), b.peek()) {
                (None, None) => break,
                (Some(x), None) => {
                    d.removed.push(x.path.clone());
                    a.next();
                }
                (None, Some(y)) => {
                    d.added.push(y.path.clone());
                    b.next();
                }
                (Some(x), Some(y)) => match x.path.cmp(&y.path) {
                    std::cmp::Ordering::Less => {
                        d.removed.push(x.path.clone());
                        a.next();
                    }
                    std::cmp::Ordering::Greater => {
                        d.added.push(y.path.clone());
                        b.next();
                    }
                    std::cmp::Ordering::Equal => {
                        if x.kind != y.kind || x.content_sha256 != y.content_sha256 {
                            d.changed.push(x.path.clone());
                        }
                        a.next();
                        b.next();
                    }
                },
            }
        }
        d
    }
}
