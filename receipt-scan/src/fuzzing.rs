//! The git index reader over bytes, for the fuzz harnesses in `fuzz/` (built only with the
//! `fuzzing` feature; not a stable API).

use crate::gitindex::Index;

/// The tracked paths the reader lists from index `bytes` (see the `gitindex` module) for a
/// scan root at `prefix` (empty, or ending in `/`) in a repository whose index checksum is
/// `hash_len` bytes; `None` when the reader leaves the listing to git.
pub fn index_tracked_paths(bytes: &[u8], prefix: &str, hash_len: usize) -> Option<Vec<String>> {
    Index::from_bytes(bytes.to_vec(), prefix, Some(hash_len)).tracked_paths()
}

/// The regular files of at least `min_size` bytes by index `bytes`, below `prefix`, as the
/// scan's size hint reads them.
pub fn index_large_files(bytes: &[u8], prefix: &str, min_size: u64) -> Vec<(String, u64)> {
    Index::from_bytes(bytes.to_vec(), prefix, None).large_files(min_size)
}
