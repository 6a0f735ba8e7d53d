//! Where a Merkle tree's node hashes come from: the [`NodeSource`] trait the proofs of
//! [`crate::consistency`] read through, and the error of a store that cannot give a node.

use std::io;
use std::path::PathBuf;

use receipt_primitives::Digest;

/// Hashes of perfect subtrees of a log.
pub trait NodeSource {
    /// The number of leaves available.
    fn size(&self) -> u64;

    /// The hash of the perfect subtree at `level` with index `index`; the caller guarantees
    /// `(index + 1) << level <= self.size()`.
    ///
    /// # Errors
    /// [`TreeError`] when the node cannot be read.
    fn node(&self, level: u32, index: u64) -> Result<Digest, TreeError>;
}

/// Why the store could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    /// An I/O error on a file of the store.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// The store disagrees with itself: it is refused, never read silently wrong.
    #[error("{}: {detail}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What disagrees.
        detail: String,
    },
    /// `create` on a directory that already holds a store.
    #[error("{}: a tree store already exists here", path.display())]
    Exists {
        /// The head file.
        path: PathBuf,
    },
    /// The store does not hold the leaves it was given.
    #[error("the tree store disagrees with the chain at leaf {index}: {detail}")]
    Conflict {
        /// 0-based leaf index.
        index: u64,
        /// What differs.
        detail: String,
    },
}
