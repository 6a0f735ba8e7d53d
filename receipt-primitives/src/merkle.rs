//! RFC 6962 Merkle Tree Hash, audit paths and their verification (RFC 9162 §2.1.3.2).
//!
//! Leaves are given as *leaf hashes* (`SHA-256(0x00 ‖ data)`, see [`leaf_hash`]); interior
//! nodes are `SHA-256(0x01 ‖ left ‖ right)`, split at the largest power of two smaller than
//! the number of leaves; the empty tree hashes to `SHA-256("")`.

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::digest::Digest;
use crate::sha256x2::{self, Block};

/// `SHA-256(0x00 ‖ data)`: the hash of one leaf.
pub fn leaf_hash(data: &[u8]) -> Digest {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    Digest(h.finalize().into())
}

/// `SHA-256(0x01 ‖ left ‖ right)`: the hash of an interior node.
pub fn node_hash(left: &Digest, right: &Digest) -> Digest {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left.0);
    h.update(right.0);
    Digest(h.finalize().into())
}

/// The hash of the empty tree, `SHA-256("")`.
pub fn empty_root() -> Digest {
    Digest::of(b"")
}

/// Largest power of two strictly smaller than `n` (`n >= 2`): where RFC 6962 splits a tree
/// of `n` leaves.
pub fn split_point(n: usize) -> usize {
    debug_assert!(n >= 2);
    1 << (usize::BITS - 1 - (n - 1).leading_zeros())
}

/// RFC 6962 Merkle Tree Hash of a list of leaf hashes.
///
/// Computed level by level: adjacent nodes are paired and a level's odd last node moves up
/// unchanged, which builds the same tree as splitting at the largest power of two. Each
/// level's node hashes run two at a time on interleaved SHA-256 lanes, and a large level is
/// shared among the threads of the current rayon pool.
pub fn root(leaves: &[Digest]) -> Digest {
    /// Nodes per parallel task (even, so only the last task can hold an odd node).
    const TASK: usize = 4096;
    let Some((first, _)) = leaves.split_first() else {
        return empty_root();
    };
    if leaves.len() == 1 {
        return *first;
    }
    let up = |nodes: &[Digest]| {
        if nodes.len() > TASK {
            use rayon::prelude::*;
            nodes
                .par_chunks(TASK)
                .map(parent_level)
                .collect::<Vec<_>>()
                .concat()
        } else {
            parent_level(nodes)
        }
    };
    let mut level = up(leaves);
    while level.len() > 1 {
        level = up(&level);
    }
    level[0]
}

/// The level above `nodes`: the hash of each adjacent pair, then the odd last node as is.
fn parent_level(nodes: &[Digest]) -> Vec<Digest> {
    let mut up = pair_hashes(nodes);
    up.extend(nodes.chunks_exact(2).remainder());
    up
}

/// The node hash of each adjacent pair of `nodes` (an odd last node is left out), two
/// nodes at a time on the interleaved lanes.
fn pair_hashes(nodes: &[Digest]) -> Vec<Digest> {
    let mut up = Vec::with_capacity(nodes.len() / 2);
    let mut quads = nodes.chunks_exact(4);
    for q in &mut quads {
        let a = node_blocks(&q[0], &q[1]);
        let b = node_blocks(&q[2], &q[3]);
        let (da, db) = sha256x2::digest_padded2(&a, &b);
        up.extend([Digest(da), Digest(db)]);
    }
    if let [l, r, ..] = quads.remainder() {
        up.push(Digest(sha256x2::digest_padded(&node_blocks(l, r))));
    }
    up
}

/// Streaming RFC 6962 root: push leaf hashes one at a time, in `O(log n)` memory.
///
/// The tree of `n` leaves is the perfect subtrees of the binary decomposition of `n`,
/// merged right to left; the accumulator keeps exactly those subtrees.
#[derive(Debug, Clone, Default)]
pub struct MerkleAccumulator {
    /// Perfect subtrees, largest first, as (height, hash).
    stack: Vec<(u32, Digest)>,
    count: u64,
}

impl MerkleAccumulator {
    /// An empty accumulator.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends one leaf hash.
    pub fn push(&mut self, leaf: Digest) {
        let mut node = (0u32, leaf);
        while let Some(&(h, left)) = self.stack.last() {
            if h != node.0 {
                break;
            }
            self.stack.pop();
            node = (h + 1, node_hash(&left, &node.1));
        }
        self.stack.push(node);
        self.count += 1;
    }

    /// Appends one leaf per item of `data`, each the leaf hash of those 32 bytes (see
    /// [`leaf_hash`]): the same as `push(leaf_hash(d))` for each item in turn, but the
    /// leaf and node hashes of the batch are computed level by level, two at a time on
    /// interleaved SHA-256 lanes ([`crate::sha256x2`]). Logs such as a run ledger, whose
    /// leaves are entry hashes, spend a third of their hashing here.
    pub fn extend_leaf_data(&mut self, data: &[[u8; 32]]) {
        let blocks: Vec<[Block; 1]> = data.iter().map(|d| [leaf_block(d)]).collect();
        let mut level = hash_pairwise(&blocks);
        self.count += data.len() as u64;
        let mut height = 0;
        // What is left over at each height, lowest first: at most one per height.
        let mut leftovers = Vec::new();
        while !level.is_empty() {
            // A perfect subtree of this height already on the stack is the left sibling
            // of the first new one.
            if let Some(&(h, left)) = self.stack.last()
                && h == height
            {
                self.stack.pop();
                level.insert(0, left);
            }
            if level.len() % 2 == 1 {
                leftovers.extend(level.pop().map(|d| (height, d)));
            }
            level = pair_hashes(&level);
            height += 1;
        }
        self.stack.extend(leftovers.into_iter().rev());
    }

    /// Number of leaves pushed so far.
    pub fn len(&self) -> u64 {
        self.count
    }

    /// Whether no leaf has been pushed.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The root of the leaves pushed so far.
    pub fn root(&self) -> Digest {
        let mut iter = self.stack.iter().rev();
        let Some(&(_, mut acc)) = iter.next() else {
            return empty_root();
        };
        for (_, left) in iter {
            acc = node_hash(left, &acc);
        }
        acc
    }
}

/// The one padded block of the leaf hash of 32 bytes: `0x00 ‖ data`, then the padding of
/// a 33-byte message.
fn leaf_block(data: &[u8; 32]) -> Block {
    let mut message = [0u8; 33];
    message[1..].copy_from_slice(data);
    sha256x2::padded_tail(&message, 33).0[0]
}

/// The two padded blocks of a node hash: `0x01 ‖ left ‖ right`, then the padding of a
/// 65-byte message.
fn node_blocks(left: &Digest, right: &Digest) -> [Block; 2] {
    let mut first = [0u8; 64];
    first[0] = 1;
    first[1..33].copy_from_slice(&left.0);
    first[33..].copy_from_slice(&right.0[..31]);
    let (last, _) = sha256x2::padded_tail(&right.0[31..], 65);
    [first, last[0]]
}

/// The digests of padded messages of `N` blocks each, two at a time.
fn hash_pairwise<const N: usize>(messages: &[[Block; N]]) -> Vec<Digest> {
    let mut out = Vec::with_capacity(messages.len());
    for pair in messages.chunks(2) {
        match pair {
            [a, b] => {
                let (da, db) = sha256x2::digest_padded2(a, b);
                out.extend([Digest(da), Digest(db)]);
            }
            [a] => out.push(Digest(sha256x2::digest_padded(a))),
            _ => {}
        }
    }
    out
}

/// The RFC 6962 audit path of leaf `index` in the tree over `leaves`.
///
/// Returns `None` when `index` is out of range.
pub fn inclusion_proof(leaves: &[Digest], index: usize) -> Option<Vec<Digest>> {
    if index >= leaves.len() {
        return None;
    }
    let mut path = Vec::new();
    audit_path(leaves, index, &mut path);
    Some(path)
}

fn audit_path(leaves: &[Digest], m: usize, out: &mut Vec<Digest>) {
    let n = leaves.len();
    if n <= 1 {
        return;
    }
    let k = split_point(n);
    if m < k {
        audit_path(&leaves[..k], m, out);
        out.push(root(&leaves[k..]));
    } else {
        audit_path(&leaves[k..], m - k, out);
        out.push(root(&leaves[..k]));
    }
}

/// Why an inclusion proof does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// The leaf index is not below the tree size.
    #[error("leaf index {index} is not below tree size {size}")]
    IndexOutOfRange {
        /// The claimed leaf index.
        index: u64,
        /// The claimed tree size.
        size: u64,
    },
    /// The audit path has the wrong number of hashes for this index and size.
    #[error("audit path has the wrong length for leaf {index} of a tree of {size}")]
    WrongLength {
        /// The claimed leaf index.
        index: u64,
        /// The claimed tree size.
        size: u64,
    },
    /// The path leads to a different root.
    #[error("the audit path leads to root {computed}, not to {expected}")]
    RootMismatch {
        /// The root the path computes.
        computed: Digest,
        /// The root it was checked against.
        expected: Digest,
    },
}

/// Verifies an audit path, following RFC 9162 §2.1.3.2 step by step.
///
/// # Errors
/// [`ProofError`] saying which step failed.
pub fn verify_inclusion(
    leaf: &Digest,
    index: u64,
    size: u64,
    path: &[Digest],
    expected_root: &Digest,
) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let mut r = *leaf;
    let fits = walk_path(index, size - 1, path, |p, left| {
        r = if left {
            node_hash(p, &r)
        } else {
            node_hash(&r, p)
        };
    });
    if !fits {
        return Err(ProofError::WrongLength { index, size });
    }
    if r != *expected_root {
        return Err(ProofError::RootMismatch {
            computed: r,
            expected: *expected_root,
        });
    }
    Ok(())
}

/// The walk both RFC 9162 verifications make along a path (§2.1.3.2 step 5, §2.1.4.2
/// step 6), from the node numbers `fnode` and `snode`: `step(p, true)` when `p` is a left
/// sibling of the running hash, `step(p, false)` when it is a right one. Whether the path
/// has exactly the length the two numbers call for.
fn walk_path<'p>(
    mut fnode: u64,
    mut snode: u64,
    path: impl IntoIterator<Item = &'p Digest>,
    mut step: impl FnMut(&Digest, bool),
) -> bool {
    for p in path {
        if snode == 0 {
            return false;
        }
        if fnode & 1 == 1 || fnode == snode {
            step(p, true);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            step(p, false);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    snode == 0
}

/// Why a consistency proof does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConsistencyError {
    /// The old size is larger than the new size.
    #[error("old tree size {old} is larger than new tree size {new}")]
    Order {
        /// Old size.
        old: u64,
        /// New size.
        new: u64,
    },
    /// Equal sizes (or an empty old tree) need an empty proof.
    #[error("the proof must be empty for old size {old} and new size {new}")]
    NotEmpty {
        /// Old size.
        old: u64,
        /// New size.
        new: u64,
    },
    /// Equal sizes with different roots: the log forked.
    #[error("the two tree heads have the same size but different roots")]
    SameSizeDifferentRoots,
    /// The empty tree has one root.
    #[error("the old root is not the root of the empty tree")]
    EmptyRoot,
    /// A proof with the wrong number of hashes.
    #[error("the proof has the wrong number of hashes for sizes {old} and {new}")]
    WrongLength {
        /// Old size.
        old: u64,
        /// New size.
        new: u64,
    },
    /// The proof does not lead to the old root.
    #[error(
        "the proof does not lead to the old root (the old tree is not a prefix of the new one)"
    )]
    OldRoot,
    /// The proof does not lead to the new root.
    #[error("the proof does not lead to the new root")]
    NewRoot,
}

/// Verifies a consistency proof from tree size `old` to `new` exactly as RFC 9162
/// §2.1.4.2 describes.
///
/// # Errors
/// [`ConsistencyError`] saying which step failed.
pub fn verify_consistency(
    old: u64,
    new: u64,
    old_root: &Digest,
    new_root: &Digest,
    proof: &[Digest],
) -> Result<(), ConsistencyError> {
    if old > new {
        return Err(ConsistencyError::Order { old, new });
    }
    if old == new {
        if !proof.is_empty() {
            return Err(ConsistencyError::NotEmpty { old, new });
        }
        if old_root != new_root {
            return Err(ConsistencyError::SameSizeDifferentRoots);
        }
        return Ok(());
    }
    if old == 0 {
        if !proof.is_empty() {
            return Err(ConsistencyError::NotEmpty { old, new });
        }
        if *old_root != empty_root() {
            return Err(ConsistencyError::EmptyRoot);
        }
        return Ok(());
    }
    // Step 1: an empty path fails.
    if proof.is_empty() {
        return Err(ConsistencyError::WrongLength { old, new });
    }
    // Step 2: with a power-of-two old size the old root is the path's first hash.
    let mut path: Vec<&Digest> = Vec::with_capacity(proof.len() + 1);
    if old.is_power_of_two() {
        path.push(old_root);
    }
    path.extend(proof);
    // Steps 3 and 4.
    let (mut fnode, mut snode) = (old - 1, new - 1);
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    // Steps 5 and 6.
    let (mut fr, mut sr) = (*path[0], *path[0]);
    let fits = walk_path(fnode, snode, path[1..].iter().copied(), |c, left| {
        if left {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
        } else {
            sr = node_hash(&sr, c);
        }
    });
    // Step 7.
    if !fits {
        return Err(ConsistencyError::WrongLength { old, new });
    }
    if fr != *old_root {
        return Err(ConsistencyError::OldRoot);
    }
    if sr != *new_root {
        return Err(ConsistencyError::NewRoot);
    }
    Ok(())
}

/// An audit path together with the position it proves, as carried in proof files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditPath {
    /// Zero-based index of the leaf.
    pub leaf_index: u64,
    /// Number of leaves in the tree.
    pub tree_size: u64,
    /// Sibling hashes from the leaf up to the root.
    pub path: Vec<Digest>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use receipt_testkit::rfc6962;

    /// Straight transcription of RFC 6962 §2.1, for cross-checking.
    fn mth(leaves: &[Digest]) -> Digest {
        match leaves.len() {
            0 => empty_root(),
            1 => leaves[0],
            n => {
                let k = split_point(n);
                node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
            }
        }
    }

    fn leaves(n: usize) -> Vec<Digest> {
        (0..n)
            .map(|i| leaf_hash(&(i as u64).to_be_bytes()))
            .collect()
    }

    fn d(s: &str) -> Digest {
        Digest::from_hex(s).unwrap()
    }

    /// The RFC 6962 reference leaves and tree heads, as published with transparency-dev/merkle.
    #[test]
    fn rfc6962_known_answer_roots_and_proofs() {
        let leaves: Vec<Digest> = rfc6962::LEAF_DATA.iter().map(|l| leaf_hash(l)).collect();
        for (n, want) in rfc6962::ROOTS.iter().enumerate() {
            assert_eq!(root(&leaves[..n]).to_hex(), *want, "size {n}");
        }
        for (index, size, path) in rfc6962::INCLUSION_PROOFS {
            let (index, size) = (index as usize, size as usize);
            let want: Vec<Digest> = path.iter().map(|h| d(h)).collect();
            assert_eq!(inclusion_proof(&leaves[..size], index).unwrap(), want);
            let r = d(rfc6962::ROOTS[size]);
            verify_inclusion(&leaves[index], index as u64, size as u64, &want, &r).unwrap();
        }
    }

    #[test]
    fn accumulator_matches_recursive_definition() {
        for n in 0..=70 {
            let l = leaves(n);
            assert_eq!(root(&l), mth(&l), "n = {n}");
        }
    }

    #[test]
    fn every_index_of_every_size_up_to_130_verifies_and_tampering_fails() {
        for n in 1..=130usize {
            let l = leaves(n);
            let r = root(&l);
            for i in 0..n {
                let p = inclusion_proof(&l, i).unwrap();
                verify_inclusion(&l[i], i as u64, n as u64, &p, &r).unwrap();
                // Wrong leaf, wrong index, wrong size, dropped or extra hash: all refused.
                let other = l[(i + 1) % n];
                if n > 1 {
                    assert!(verify_inclusion(&other, i as u64, n as u64, &p, &r).is_err());
                    assert!(
                        verify_inclusion(&l[i], ((i + 1) % n) as u64, n as u64, &p, &r).is_err()
                    );
                }
                // An index past the end is refused outright.
                assert!(verify_inclusion(&l[i], n as u64, n as u64, &p, &r).is_err());
                if !p.is_empty() {
                    assert!(
                        verify_inclusion(&l[i], i as u64, n as u64, &p[..p.len() - 1], &r).is_err()
                    );
                    let mut flipped = p.clone();
                    flipped[0].0[0] ^= 1;
                    assert!(verify_inclusion(&l[i], i as u64, n as u64, &flipped, &r).is_err());
                }
                let mut longer = p.clone();
                longer.push(r);
                assert!(verify_inclusion(&l[i], i as u64, n as u64, &longer, &r).is_err());
            }
            assert!(inclusion_proof(&l, n).is_none());
        }
    }

    #[test]
    fn batches_of_leaf_data_give_the_roots_of_single_pushes() {
        let data: Vec<[u8; 32]> = (0u32..200)
            .map(|i| Digest::of(&i.to_le_bytes()).0)
            .collect();
        for before in 0..=40 {
            for batch in 0..=70 {
                let mut one = MerkleAccumulator::new();
                let mut many = MerkleAccumulator::new();
                for d in &data[..before] {
                    one.push(leaf_hash(d));
                    many.push(leaf_hash(d));
                }
                for d in &data[before..before + batch] {
                    one.push(leaf_hash(d));
                }
                many.extend_leaf_data(&data[before..before + batch]);
                assert_eq!(many.len(), one.len());
                assert_eq!(many.root(), one.root(), "{before} then {batch}");
                // And the accumulator goes on as if pushed one by one.
                one.push(leaf_hash(&data[199]));
                many.push(leaf_hash(&data[199]));
                assert_eq!(many.root(), one.root(), "{before} then {batch} then 1");
            }
        }
        // Batches of every size in a row, against the tree root of all leaves.
        let mut acc = MerkleAccumulator::new();
        let mut at = 0;
        for size in 1..=19 {
            acc.extend_leaf_data(&data[at..at + size]);
            at += size;
            let leaves: Vec<Digest> = data[..at].iter().map(|d| leaf_hash(d)).collect();
            assert_eq!(acc.root(), root(&leaves), "{at} leaves");
        }
    }

    #[test]
    fn root_by_levels_matches_the_accumulator_across_parallel_task_sizes() {
        let leaves: Vec<Digest> = (0u32..12_300)
            .map(|i| leaf_hash(&i.to_be_bytes()))
            .collect();
        let mut acc = MerkleAccumulator::new();
        let mut checked = 0;
        for (i, l) in leaves.iter().enumerate() {
            acc.push(*l);
            let n = i + 1;
            // Around one and several parallel tasks, powers of two, and some odd sizes.
            if n < 40
                || n.is_power_of_two()
                || [4095, 4097, 8191, 8193, 12_299, 12_300].contains(&n)
            {
                assert_eq!(root(&leaves[..n]), acc.root(), "{n} leaves");
                checked += 1;
            }
        }
        assert!(checked > 50);
    }
}
