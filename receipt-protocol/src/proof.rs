//! Inclusion proofs for one file of a tracked set (`docs/SPEC.md`, "File inclusion proofs"):
//! a self-contained JSON document that lets anyone holding only the Merkle root check that a
//! file with a given path, kind and content was in the tree.

use serde::{Deserialize, Serialize};

use crate::tracked::{FileKind, TrackedFile, TrackedTree, tracked_leaf_hash};
use receipt_primitives::digest::Digest;
use receipt_primitives::merkle::{self, ProofError};

impl TrackedTree {
    /// An inclusion proof that `path` (with its kind and content) is in this tree, or `None`
    /// when the path is not in the set. (Defined here, beside the proof format, so the
    /// leaf model does not depend on its proofs.)
    pub fn proof(&self, path: &str) -> Option<FileProof> {
        let index = self.index_of(path)?;
        let leaves = self.leaf_hashes();
        let audit_path = merkle::inclusion_proof(&leaves, index)?;
        let file = &self.files[index];
        Some(FileProof::new(
            merkle::root(&leaves),
            file,
            index as u64,
            leaves.len() as u64,
            audit_path,
        ))
    }
}

/// The schema id every file proof carries.
pub const PROOF_SCHEMA: &str = "tau-crystal.tracked-proof/1";

/// An RFC 6962 inclusion proof of one tracked file.
///
/// Stored as RFC 8785 canonical JSON (see [`FileProof::to_json_bytes`]); unknown fields are
/// refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileProof {
    /// Always [`PROOF_SCHEMA`].
    pub schema: String,
    /// The tracked-set root the proof leads to.
    pub merkle_root: Digest,
    /// The file's tracked path.
    pub path: String,
    /// The file's kind.
    pub kind: FileKind,
    /// SHA-256 of the file's content (of the link target for a symlink).
    pub content_sha256: Digest,
    /// Zero-based position of the file in path order.
    pub leaf_index: u64,
    /// Number of files in the tracked set.
    pub tree_size: u64,
    /// Sibling hashes from the leaf up to the root (RFC 6962 audit path).
    pub audit_path: Vec<Digest>,
}

/// Why a file proof is not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileProofError {
    /// The bytes are not a proof document.
    #[error("not a file proof: {0}")]
    Json(String),
    /// The bytes are JSON of a proof but not in RFC 8785 canonical form.
    #[error("the file proof is not in RFC 8785 canonical form")]
    NotCanonical,
    /// The schema id is not one this version reads.
    #[error("field `schema` is {0:?}, expected \"tau-crystal.tracked-proof/1\"")]
    Schema(String),
    /// The path is not a tracked path.
    #[error("field `path` {path:?} is not a tracked path: {why}")]
    Path {
        /// The path found.
        path: String,
        /// The rule it breaks.
        why: &'static str,
    },
    /// The content given does not hash to `content_sha256`.
    #[error("the content hashes to {actual}, but field `content_sha256` is {claimed}")]
    Content {
        /// SHA-256 of the content given.
        actual: Digest,
        /// The proof's `content_sha256`.
        claimed: Digest,
    },
    /// The proof's root is not the root the verifier trusts.
    #[error("field `merkle_root` is {claimed}, but the trusted root is {trusted}")]
    Root {
        /// The proof's `merkle_root`.
        claimed: Digest,
        /// The root the verifier holds.
        trusted: Digest,
    },
    /// The audit path does not lead from the leaf to `merkle_root`.
    #[error("the audit path does not verify: {0}")]
    Inclusion(#[from] ProofError),
}

/// Checks the path rules of `docs/SPEC.md`: non-empty, relative, `/`-separated, no empty,
/// `.` or `..` segment, no NUL byte.
///
/// # Errors
/// The rule broken, in a few words.
pub fn check_tracked_path(path: &str) -> Result<(), &'static str> {
    if path.is_empty() {
        return Err("it is empty");
    }
    if path.contains('\0') {
        return Err("it contains a NUL byte");
    }
    for seg in path.split('/') {
        match seg {
            "" => return Err("it has an empty segment (leading, trailing or doubled `/`)"),
            "." | ".." => return Err("it has a `.` or `..` segment"),
            _ => {}
        }
    }
    Ok(())
}

impl FileProof {
    /// A proof of `file` at `leaf_index` in a tree of `tree_size` leaves with root
    /// `merkle_root`.
    pub fn new(
        merkle_root: Digest,
        file: &TrackedFile,
        leaf_index: u64,
        tree_size: u64,
        audit_path: Vec<Digest>,
    ) -> FileProof {
        FileProof {
            schema: PROOF_SCHEMA.to_string(),
            merkle_root,
            path: file.path.clone(),
            kind: file.kind,
            content_sha256: file.content_sha256,
            leaf_index,
            tree_size,
            audit_path,
        }
    }

    /// The leaf hash the proof starts from.
    pub fn leaf_hash(&self) -> Digest {
        tracked_leaf_hash(&self.path, self.kind, &self.content_sha256)
    }

    /// Checks that the proof is well formed and that its audit path leads from the leaf of
    /// (`path`, `kind`, `content_sha256`) to `merkle_root` (RFC 9162 §2.1.3.2).
    ///
    /// This says nothing about whether `merkle_root` is a root anyone should trust; see
    /// [`FileProof::verify_against`].
    ///
    /// # Errors
    /// [`FileProofError`] naming the field or step that fails.
    pub fn verify(&self) -> Result<(), FileProofError> {
        if self.schema != PROOF_SCHEMA {
            return Err(FileProofError::Schema(self.schema.clone()));
        }
        check_tracked_path(&self.path).map_err(|why| FileProofError::Path {
            path: self.path.clone(),
            why,
        })?;
        merkle::verify_inclusion(
            &self.leaf_hash(),
            self.leaf_index,
            self.tree_size,
            &self.audit_path,
            &self.merkle_root,
        )?;
        Ok(())
    }

    /// [`FileProof::verify`], and that `content` (for a symlink, the link target's bytes)
    /// is the content the proof names.
    ///
    /// # Errors
    /// [`FileProofError::Content`] when the content differs, otherwise as
    /// [`FileProof::verify`].
    pub fn verify_content(&self, content: &[u8]) -> Result<(), FileProofError> {
        self.verify_content_sha256(&Digest::of(content))
    }

    /// [`FileProof::verify_content`] given the content's SHA-256 (hashed by streaming).
    ///
    /// # Errors
    /// As [`FileProof::verify_content`].
    pub fn verify_content_sha256(&self, actual: &Digest) -> Result<(), FileProofError> {
        let actual = *actual;
        if actual != self.content_sha256 {
            return Err(FileProofError::Content {
                actual,
                claimed: self.content_sha256,
            });
        }
        self.verify()
    }

    /// Everything a third party holding only `trusted_root` needs: the proof leads to that
    /// root, and `content` is the file's content.
    ///
    /// # Errors
    /// [`FileProofError::Root`] when the proof is for another root, otherwise as
    /// [`FileProof::verify_content`].
    pub fn verify_against(
        &self,
        trusted_root: &Digest,
        content: &[u8],
    ) -> Result<(), FileProofError> {
        if self.merkle_root != *trusted_root {
            return Err(FileProofError::Root {
                claimed: self.merkle_root,
                trusted: *trusted_root,
            });
        }
        self.verify_content(content)
    }

    /// The proof as RFC 8785 canonical JSON, without a trailing newline.
    pub fn to_json_bytes(&self) -> Vec<u8> {
        // Strings, integers and digests only: canonicalization cannot fail.
        receipt_primitives::jcs::to_vec(self).expect("a file proof always has a canonical form")
    }

    /// Parses a proof document: canonical JSON of exactly the fields above, with the known
    /// schema id. Call [`FileProof::verify`] (or a stronger check) before relying on it.
    ///
    /// # Errors
    /// [`FileProofError::Json`], [`FileProofError::NotCanonical`] or
    /// [`FileProofError::Schema`].
    pub fn from_json_bytes(bytes: &[u8]) -> Result<FileProof, FileProofError> {
        let proof: FileProof =
            serde_json::from_slice(bytes).map_err(|e| FileProofError::Json(e.to_string()))?;
        if proof.schema != PROOF_SCHEMA {
            return Err(FileProofError::Schema(proof.schema));
        }
        if proof.to_json_bytes() != bytes {
            return Err(FileProofError::NotCanonical);
        }
        Ok(proof)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_rules() {
        for ok in ["a", "a/b", "src/lib.rs", ".gitignore", "a/.b/c", "..a"] {
            assert_eq!(check_tracked_path(ok), Ok(()), "{ok}");
        }
        for bad in ["", "/a", "a/", "a//b", "./a", "a/../b", "..", "a\0b"] {
            assert!(check_tracked_path(bad).is_err(), "{bad:?}");
        }
    }
}
