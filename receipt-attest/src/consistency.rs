//! RFC 9162 §2.1.3–§2.1.4 proofs over an append-only log of leaf hashes: tree heads of any
//! earlier size, inclusion proofs and consistency proofs, generated from complete-subtree
//! hashes only (so a stored log answers with O(log n) reads). Their verification is the
//! Merkle module's (`receipt_primitives::merkle::{verify_inclusion, verify_consistency}`),
//! re-exported here.
//!
//! A [`NodeSource`] supplies the hash of a *perfect* subtree: level `l`, index `i` covers
//! leaves `i·2^l … (i+1)·2^l − 1`. Every node of the RFC 6962 tree of size `n` is either such
//! a subtree or a node on the right edge, which is the hash of the perfect subtrees along
//! the binary digits of its width; [`subtree_hash`] combines them. A proof has at most one
//! right-edge node (once the recursion turns left it stays inside a perfect subtree), so
//! generating a proof reads O(log n) stored hashes.

use receipt_primitives::Digest;
use receipt_primitives::merkle::{empty_root, node_hash};
use serde::{Deserialize, Serialize};

use crate::checkpoint::Checkpoint;
pub use crate::nodes::{NodeSource, TreeError};

pub use receipt_primitives::merkle::{
    ConsistencyError, ProofError as InclusionError, verify_consistency, verify_inclusion,
};

/// Why a tree head or proof could not be generated.
#[derive(Debug, thiserror::Error)]
pub enum ProofError {
    /// A size beyond the log.
    #[error("tree size {size} is larger than the log's {available} leaves")]
    Size {
        /// The size asked for.
        size: u64,
        /// The log's size.
        available: u64,
    },
    /// An old size larger than the new one.
    #[error("old tree size {old} is larger than new tree size {new}")]
    Order {
        /// The old size.
        old: u64,
        /// The new size.
        new: u64,
    },
    /// A leaf index not below the tree size.
    #[error("leaf index {index} is not below tree size {size}")]
    Index {
        /// The leaf index.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// The node store failed.
    #[error(transparent)]
    Store(#[from] TreeError),
}

/// Largest power of two strictly smaller than `n` (`n >= 2`).
fn split(n: u64) -> u64 {
    receipt_primitives::merkle::split_point(
        usize::try_from(n).expect("a log of at most usize leaves"),
    ) as u64
}

/// The RFC 6962 hash of leaves `start … end − 1` as a node of a larger tree: `[start, end)`
/// must be a node of the tree of size `end` split RFC 6962 style (every range the proof
/// algorithms produce is). Reads one stored node per binary digit of `end − start`.
///
/// # Errors
/// [`ProofError::Store`] when a node cannot be read.
pub fn subtree_hash<S: NodeSource + ?Sized>(
    src: &S,
    start: u64,
    end: u64,
) -> Result<Digest, ProofError> {
    let len = end - start;
    if len == 0 {
        return Ok(empty_root());
    }
    if len.is_power_of_two() && start.is_multiple_of(len) {
        return Ok(src.node(len.trailing_zeros(), start / len)?);
    }
    if len == 1 {
        unreachable!("a single leaf is a perfect subtree");
    }
    let k = split(len);
    let left = subtree_hash(src, start, start + k)?;
    let right = subtree_hash(src, start + k, end)?;
    Ok(node_hash(&left, &right))
}

fn check_size<S: NodeSource + ?Sized>(src: &S, size: u64) -> Result<(), ProofError> {
    if size > src.size() {
        return Err(ProofError::Size {
            size,
            available: src.size(),
        });
    }
    Ok(())
}

/// The root of the first `size` leaves.
///
/// # Errors
/// [`ProofError::Size`] beyond the log, [`ProofError::Store`].
pub fn root<S: NodeSource + ?Sized>(src: &S, size: u64) -> Result<Digest, ProofError> {
    check_size(src, size)?;
    subtree_hash(src, 0, size)
}

/// The RFC 9162 §2.1.4.1 consistency proof from size `old` to size `new` (empty when
/// `old` is 0 or equals `new`).
///
/// # Errors
/// [`ProofError`] for sizes out of order or beyond the log, or a store failure.
pub fn consistency_proof<S: NodeSource + ?Sized>(
    src: &S,
    old: u64,
    new: u64,
) -> Result<Vec<Digest>, ProofError> {
    if old > new {
        return Err(ProofError::Order { old, new });
    }
    check_size(src, new)?;
    let mut out = Vec::new();
    if old > 0 {
        subproof(src, old, 0, new, true, &mut out)?;
    }
    Ok(out)
}

/// SUBPROOF(m, D[start:end], b) of RFC 9162 §2.1.4.1, `m` counted from `start`.
fn subproof<S: NodeSource + ?Sized>(
    src: &S,
    m: u64,
    start: u64,
    end: u64,
    b: bool,
    out: &mut Vec<Digest>,
) -> Result<(), ProofError> {
    let n = end - start;
    if m == n {
        if !b {
            out.push(subtree_hash(src, start, end)?);
        }
        return Ok(());
    }
    let k = split(n);
    if m <= k {
        subproof(src, m, start, start + k, b, out)?;
        out.push(subtree_hash(src, start + k, end)?);
    } else {
        subproof(src, m - k, start + k, end, false, out)?;
        out.push(subtree_hash(src, start, start + k)?);
    }
    Ok(())
}

/// The RFC 9162 §2.1.3.1 inclusion proof (audit path) of leaf `index` in the tree of size
/// `size`.
///
/// # Errors
/// [`ProofError`] for an index or size out of range, or a store failure.
pub fn inclusion_proof<S: NodeSource + ?Sized>(
    src: &S,
    index: u64,
    size: u64,
) -> Result<Vec<Digest>, ProofError> {
    check_size(src, size)?;
    if index >= size {
        return Err(ProofError::Index { index, size });
    }
    let mut out = Vec::new();
    path(src, index, 0, size, &mut out)?;
    Ok(out)
}

fn path<S: NodeSource + ?Sized>(
    src: &S,
    m: u64,
    start: u64,
    end: u64,
    out: &mut Vec<Digest>,
) -> Result<(), ProofError> {
    let n = end - start;
    if n == 1 {
        return Ok(());
    }
    let k = split(n);
    if m < k {
        path(src, m, start, start + k, out)?;
        out.push(subtree_hash(src, start + k, end)?);
    } else {
        path(src, m - k, start + k, end, out)?;
        out.push(subtree_hash(src, start, start + k)?);
    }
    Ok(())
}

/// An in-memory log keeping every perfect subtree hash: for verifiers that recompute the
/// tree from the chain, and for tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemoryTree {
    levels: Vec<Vec<Digest>>,
}

impl MemoryTree {
    /// An empty log.
    pub fn new() -> MemoryTree {
        MemoryTree::default()
    }

    /// The log of these leaf hashes.
    pub fn from_leaves(leaves: &[Digest]) -> MemoryTree {
        let mut t = MemoryTree::new();
        for l in leaves {
            t.push(*l);
        }
        t
    }

    /// Appends a leaf hash.
    pub fn push(&mut self, leaf: Digest) {
        let mut node = leaf;
        let mut level = 0;
        loop {
            if self.levels.len() == level {
                self.levels.push(Vec::new());
            }
            self.levels[level].push(node);
            let n = self.levels[level].len();
            if n % 2 == 1 {
                break;
            }
            node = node_hash(&self.levels[level][n - 2], &self.levels[level][n - 1]);
            level += 1;
        }
    }

    /// The records of one level (perfect subtrees of `2^level` leaves, left to right).
    pub fn level(&self, level: usize) -> &[Digest] {
        self.levels.get(level).map_or(&[], Vec::as_slice)
    }
}

impl NodeSource for MemoryTree {
    fn size(&self) -> u64 {
        self.levels.first().map_or(0, |l| l.len() as u64)
    }

    fn node(&self, level: u32, index: u64) -> Result<Digest, TreeError> {
        Ok(self.levels[level as usize][index as usize])
    }
}

/// The schema id of a consistency proof document.
pub const CONSISTENCY_SCHEMA: &str = "tau-crystal.consistency/1";

/// A consistency proof between two tree heads of one log, as `cargo receipt consistency`
/// prints it: RFC 8785 canonical JSON, hashes in lowercase hex.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyProof {
    /// Always [`CONSISTENCY_SCHEMA`].
    pub schema: String,
    /// The log's origin (the checkpoints' first line).
    pub origin: String,
    /// Size of the old tree head.
    pub old_size: u64,
    /// Root of the old tree head.
    pub old_root: Digest,
    /// Size of the new tree head.
    pub new_size: u64,
    /// Root of the new tree head.
    pub new_root: Digest,
    /// The RFC 9162 consistency proof, in order.
    pub proof: Vec<Digest>,
}

/// Why a consistency proof document does not parse or does not match its checkpoints.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofDocError {
    /// Not JSON of the schema.
    #[error("not a consistency proof: {0}")]
    Json(String),
    /// Not in canonical form.
    #[error("the consistency proof is not RFC 8785 canonical JSON")]
    NotCanonical,
    /// Another schema id.
    #[error("field `schema` is {0:?}, expected \"tau-crystal.consistency/1\"")]
    Schema(String),
    /// A field disagrees with a checkpoint.
    #[error("field `{0}` disagrees with the checkpoint")]
    Checkpoint(&'static str),
    /// The proof does not verify.
    #[error(transparent)]
    Proof(#[from] ConsistencyError),
}

impl ConsistencyProof {
    /// The proof from the first `old` to the first `new` leaves of `src`, for log `origin`.
    ///
    /// # Errors
    /// [`ProofError`] as [`consistency_proof`].
    pub fn generate<S: NodeSource + ?Sized>(
        src: &S,
        origin: &str,
        old: u64,
        new: u64,
    ) -> Result<ConsistencyProof, ProofError> {
        Ok(ConsistencyProof {
            schema: CONSISTENCY_SCHEMA.to_owned(),
            origin: origin.to_owned(),
            old_size: old,
            old_root: root(src, old)?,
            new_size: new,
            new_root: root(src, new)?,
            proof: consistency_proof(src, old, new)?,
        })
    }

    /// The canonical bytes (no trailing newline).
    pub fn to_json(&self) -> Vec<u8> {
        receipt_primitives::jcs::to_vec(self)
            .expect("a proof of strings and integers has a canonical form")
    }

    /// Parses the canonical bytes strictly.
    ///
    /// # Errors
    /// [`ProofDocError`] naming what is wrong.
    pub fn parse(bytes: &[u8]) -> Result<ConsistencyProof, ProofDocError> {
        let p: ConsistencyProof = serde_json::from_slice(bytes)
            .map_err(|e| ProofDocError::Json(receipt_primitives::check::echo(&e.to_string())))?;
        if p.schema != CONSISTENCY_SCHEMA {
            return Err(ProofDocError::Schema(receipt_primitives::check::echo(
                &p.schema,
            )));
        }
        if p.to_json() != bytes {
            return Err(ProofDocError::NotCanonical);
        }
        Ok(p)
    }

    /// Verifies the proof between its own two tree heads.
    ///
    /// # Errors
    /// [`ConsistencyError`].
    pub fn verify(&self) -> Result<(), ConsistencyError> {
        verify_consistency(
            self.old_size,
            self.new_size,
            &self.old_root,
            &self.new_root,
            &self.proof,
        )
    }

    /// Verifies the proof and that its tree heads are those of two (already verified)
    /// checkpoints of the same log.
    ///
    /// # Errors
    /// [`ProofDocError::Checkpoint`] naming the field that disagrees, or
    /// [`ProofDocError::Proof`].
    pub fn verify_between(&self, old: &Checkpoint, new: &Checkpoint) -> Result<(), ProofDocError> {
        let checks: [(&'static str, bool); 5] = [
            (
                "origin",
                self.origin == old.origin && self.origin == new.origin,
            ),
            ("old_size", self.old_size == old.size),
            ("old_root", self.old_root == old.root),
            ("new_size", self.new_size == new.size),
            ("new_root", self.new_root == new.root),
        ];
        if let Some((field, _)) = checks.iter().find(|(_, ok)| !ok) {
            return Err(ProofDocError::Checkpoint(field));
        }
        Ok(self.verify()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use receipt_primitives::merkle::{self, leaf_hash};
    use receipt_testkit::rfc6962;

    fn d(s: &str) -> Digest {
        Digest::from_hex(s).unwrap()
    }

    /// The RFC 6962 reference leaves and the roots of sizes 1 to 8 (see
    /// [`receipt_testkit::rfc6962`]).
    fn reference() -> (Vec<Digest>, Vec<Digest>) {
        (
            rfc6962::LEAF_DATA.iter().map(|l| leaf_hash(l)).collect(),
            rfc6962::ROOTS[1..].iter().map(|h| d(h)).collect(),
        )
    }

    #[test]
    fn transparency_dev_known_answers() {
        let (leaves, roots) = reference();
        let t = MemoryTree::from_leaves(&leaves);
        for (i, r) in roots.iter().enumerate() {
            assert_eq!(root(&t, i as u64 + 1).unwrap(), *r);
        }
        for (m, n, want) in rfc6962::CONSISTENCY_PROOFS {
            let want: Vec<Digest> = want.iter().map(|h| d(h)).collect();
            let got = consistency_proof(&t, m, n).unwrap();
            assert_eq!(got, want, "{m} -> {n}");
            let (r1, r2) = (roots[m as usize - 1], roots[n as usize - 1]);
            verify_consistency(m, n, &r1, &r2, &got).unwrap();
            // The corruptions of transparency-dev's corruptConsistencyProof.
            if got.is_empty() {
                continue;
            }
            let some = d("abacaba000000000000000000000000000000000000000000060061e00123456");
            let mut probes: Vec<(u64, u64, Digest, Digest, Vec<Digest>)> = vec![
                (m - 1, n, r1, r2, got.clone()),
                (m + 1, n, r1, r2, got.clone()),
                (m ^ 2, n, r1, r2, got.clone()),
                (m, n * 2, r1, r2, got.clone()),
                (m, n / 2, r1, r2, got.clone()),
                (m, n, some, r2, got.clone()),
                (m, n, r1, some, got.clone()),
                (m, n, r2, r1, got.clone()),
                (m, n, r1, r2, Vec::new()),
                (m, n, r1, r2, [&got[..], &[r1]].concat()),
                (m, n, r1, r2, [&got[..], &[r2]].concat()),
                (m, n, r1, r2, [&[r1][..], &got].concat()),
                (m, n, r1, r2, [&[r2][..], &got].concat()),
                (m, n, r1, r2, [&[got[0]][..], &got].concat()),
                (m, n, r1, r2, got[..got.len() - 1].to_vec()),
            ];
            for i in 0..got.len() {
                let mut p = got.clone();
                p[i].0[0] ^= 16;
                probes.push((m, n, r1, r2, p));
            }
            for (a, b, x, y, p) in probes {
                if (a, b, x, y, &p) == (m, n, r1, r2, &got) {
                    continue;
                }
                assert!(
                    verify_consistency(a, b, &x, &y, &p).is_err(),
                    "accepted {a} {b} {p:?}"
                );
            }
        }
        // Inclusion proofs of the same vectors.
        for (i, n, want) in rfc6962::INCLUSION_PROOFS {
            let want: Vec<Digest> = want.iter().map(|h| d(h)).collect();
            assert_eq!(inclusion_proof(&t, i, n).unwrap(), want);
            verify_inclusion(&leaves[i as usize], i, n, &want, &roots[n as usize - 1]).unwrap();
        }
    }

    /// Counts the stored nodes a proof reads.
    struct Counting<'a>(&'a MemoryTree, std::cell::Cell<u64>);

    impl NodeSource for Counting<'_> {
        fn size(&self) -> u64 {
            self.0.size()
        }
        fn node(&self, level: u32, index: u64) -> Result<Digest, TreeError> {
            self.1.set(self.1.get() + 1);
            self.0.node(level, index)
        }
    }

    #[test]
    fn proofs_read_logarithmically_many_nodes() {
        let n = 70_001u64;
        let leaves: Vec<Digest> = (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        let t = MemoryTree::from_leaves(&leaves);
        let c = Counting(&t, std::cell::Cell::new(0));
        let log = 64 - n.leading_zeros() as u64;
        for m in [1, 2, 3, 1000, 4096, 65_535, 65_536, 65_537, 69_999, 70_000] {
            c.1.set(0);
            consistency_proof(&c, m, n).unwrap();
            assert!(c.1.get() <= 2 * log, "{} reads for {m} -> {n}", c.1.get());
            c.1.set(0);
            inclusion_proof(&c, m - 1, n).unwrap();
            assert!(c.1.get() <= 2 * log, "{} reads for leaf {m}", c.1.get());
        }
    }

    #[test]
    fn trivial_sizes_follow_the_transparency_dev_rules() {
        let r1 = Digest::of(b"1");
        let r2 = Digest::of(b"2");
        let e = empty_root();
        assert!(verify_consistency(0, 0, &e, &e, &[]).is_ok());
        assert!(verify_consistency(0, 1, &e, &r2, &[]).is_ok());
        assert!(verify_consistency(1, 1, &r2, &r2, &[]).is_ok());
        assert!(verify_consistency(0, 0, &r1, &r2, &[]).is_err());
        assert!(verify_consistency(1, 1, &r1, &r2, &[]).is_err());
        assert!(verify_consistency(1, 0, &r1, &r2, &[]).is_err());
        assert!(verify_consistency(2, 1, &r1, &r2, &[]).is_err());
        assert!(verify_consistency(1, 2, &r1, &r2, &[]).is_err());
        assert!(verify_consistency(0, 0, &e, &e, &[e]).is_err());
        assert!(verify_consistency(0, 1, &e, &e, &[e]).is_err());
        assert!(verify_consistency(1, 1, &e, &e, &[e]).is_err());
    }

    #[test]
    fn a_forked_log_fails_consistency() {
        let leaves: Vec<Digest> = (0u32..40).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        let honest = MemoryTree::from_leaves(&leaves);
        for changed in [0usize, 5, 17, 31] {
            let mut forked_leaves = leaves.clone();
            forked_leaves[changed] = leaf_hash(b"rewritten");
            let forked = MemoryTree::from_leaves(&forked_leaves);
            for old in (changed as u64 + 1)..=32 {
                // The old checkpoint is of the honest log; the new one of the forked log.
                let old_root = root(&honest, old).unwrap();
                let new_root = root(&forked, 40).unwrap();
                let p = consistency_proof(&forked, old, 40).unwrap();
                assert!(
                    verify_consistency(old, 40, &old_root, &new_root, &p).is_err(),
                    "changed leaf {changed}, old size {old}"
                );
            }
        }
    }

    #[test]
    fn proof_document_round_trips_and_checks_checkpoints() {
        let leaves: Vec<Digest> = (0u32..13).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        let t = MemoryTree::from_leaves(&leaves);
        let doc = ConsistencyProof::generate(&t, "receipt/x", 5, 13).unwrap();
        let bytes = doc.to_json();
        assert_eq!(ConsistencyProof::parse(&bytes).unwrap(), doc);
        doc.verify().unwrap();
        let cp = |size, root| Checkpoint {
            origin: "receipt/x".into(),
            size,
            root,
            extensions: vec![],
        };
        doc.verify_between(&cp(5, doc.old_root), &cp(13, doc.new_root))
            .unwrap();
        assert_eq!(
            doc.verify_between(&cp(5, doc.new_root), &cp(13, doc.new_root)),
            Err(ProofDocError::Checkpoint("old_root"))
        );
        let mut pretty = bytes.clone();
        pretty.push(b'\n');
        assert_eq!(
            ConsistencyProof::parse(&pretty),
            Err(ProofDocError::NotCanonical)
        );
    }

    proptest! {
        #[test]
        fn every_m_le_n_proof_verifies_and_wrong_sizes_or_roots_do_not(
            n in 1u64..300,
            m_frac in 0.0f64..=1.0,
            salt in any::<u32>(),
        ) {
            let m = ((n as f64) * m_frac) as u64;
            // One leaf more than the tree, so the true roots of wrong sizes exist.
            let leaves: Vec<Digest> = (0..=n)
                .map(|i| leaf_hash(&[salt.to_be_bytes(), (i as u32).to_be_bytes()].concat()))
                .collect();
            let r = |size: u64| merkle::root(&leaves[..size as usize]);
            let t = MemoryTree::from_leaves(&leaves[..n as usize]);
            let (r_m, r_n) = (r(m), r(n));
            prop_assert_eq!(root(&t, m).unwrap(), r_m);
            prop_assert_eq!(root(&t, n).unwrap(), r_n);
            let p = consistency_proof(&t, m, n).unwrap();
            prop_assert!(verify_consistency(m, n, &r_m, &r_n, &p).is_ok());
            if m > 0 && m < n {
                // A wrong root of either tree.
                let other = leaf_hash(b"other");
                prop_assert!(verify_consistency(m, n, &other, &r_n, &p).is_err());
                prop_assert!(verify_consistency(m, n, &r_m, &other, &p).is_err());
                prop_assert!(verify_consistency(m, n, &r_n, &r_m, &p).is_err());
                // A wrong size, with the true root of that size.
                let mut wrong = vec![(m + 1, n), (m, n + 1)];
                if m > 1 {
                    wrong.push((m - 1, n));
                }
                if n > m + 1 {
                    wrong.push((m, n - 1));
                }
                for (a, b) in wrong {
                    prop_assert!(
                        verify_consistency(a, b, &r(a), &r(b), &p).is_err(),
                        "proof for {} -> {} accepted as {} -> {}", m, n, a, b
                    );
                }
            }
            let i = m.min(n - 1);
            let path = inclusion_proof(&t, i, n).unwrap();
            prop_assert_eq!(
                &path,
                &merkle::inclusion_proof(&leaves[..n as usize], i as usize).unwrap()
            );
        }
    }
}
