//! Signed receipts from the command line (docs/SPEC.md §14): `keygen`, the keys and
//! provenance facts of `build --sign` and `sign`, `consistency`, and the key, `--since` and
//! policy side of `verify`.

use std::path::{Path, PathBuf};

use receipt_attest::checkpoint::{Checkpoint, chain_leaf, origin_for_chain};
use receipt_attest::consistency::{ConsistencyProof, MemoryTree};
use receipt_attest::keys::{self, GeneratedKey, SigningKey};
use receipt_attest::note::Note;
use receipt_attest::tree::TreeStore;
use receipt_primitives::check::echo;
use receipt_primitives::tomlfile::TomlError;
use receipt_primitives::{Digest, confine};
use receipt_protocol::ledger::Ledger;
use receipt_protocol::limits;
use receipt_protocol::receipt::{Receipt, Section};
use receipt_protocol::sign::{BuildFacts, CHECKPOINT_FILE, SignedChain, Signer, TREE_DIR};

use crate::exit::Error;
use crate::lockfile;

/// `runDetails.builder.id` of the provenance this version writes.
pub fn builder_id() -> String {
    format!(
        "https://receipt.dev/cargo-receipt@{}",
        env!("CARGO_PKG_VERSION")
    )
}

/// `cargo receipt keygen --out DIR`: a new Ed25519 key pair.
///
/// # Errors
/// [`Error::Key`] when a key file exists or cannot be written.
pub fn keygen(dir: &Path) -> Result<GeneratedKey, Error> {
    Ok(keys::generate(dir)?)
}

/// Reads private keys for signing (each refused when group or others may read it).
///
/// # Errors
/// [`Error::Key`] naming the file.
pub fn load_signing_keys(paths: &[PathBuf]) -> Result<Vec<SigningKey>, Error> {
    paths
        .iter()
        .map(|p| SigningKey::load(p).map_err(Error::from))
        .collect()
}

/// The provenance facts of a Cargo build of the workspace at `root`: builder id, the
/// repository, and every package of `Cargo.lock` (docs/SPEC.md §14.4). With `receipt`
/// given (signing an entry after the fact), the packages are recorded only when the
/// current `Cargo.lock` is the one the entry's ingress names; otherwise they are unknown
/// and left out.
///
/// # Errors
/// [`Error::Lockfile`] for a `Cargo.lock` that cannot be read.
pub fn cargo_facts(root: &Path, receipt: Option<&Receipt>) -> Result<BuildFacts, Error> {
    let lock = root.join("Cargo.lock");
    let dependencies = match confine::read_file(&lock, lockfile::MAX_LOCKFILE_BYTES, "Cargo.lock") {
        Ok(bytes) => {
            let recorded = receipt.map(|r| match &r.ingress {
                Section::Available(v) => v
                    .get("cargo_lock_sha256")
                    .and_then(|s| s.as_str())
                    .map(str::to_owned),
                Section::Unavailable { .. } => None,
            });
            let same = recorded.is_none_or(|want| want == Some(Digest::of(&bytes).to_hex()));
            if same {
                let text = std::str::from_utf8(&bytes).map_err(|_| Error::BadFile {
                    path: lock.clone(),
                    what: "is not UTF-8".into(),
                })?;
                lockfile::dependencies(&lockfile::parse_lockfile(text, &lock)?)
            } else {
                Vec::new()
            }
        }
        Err(e) if e.is_missing() => Vec::new(),
        Err(e) => return Err(lockfile::LockfileError::from(TomlError::from(e)).into()),
    };
    Ok(BuildFacts {
        builder_id: builder_id(),
        builder_version: Default::default(),
        repository: receipt_scan::git::repository(root),
        dependencies,
    })
}

/// `cargo receipt sign [DIR] --key KEY`: verifies the chain, then signs its unsigned
/// entries and writes the tree store and checkpoint.
///
/// # Errors
/// [`Error::VerificationFailed`] when the chain does not verify (nothing is signed), key
/// and ledger errors.
pub fn sign_dir(
    dir: &Path,
    key_paths: &[PathBuf],
    root: Option<&Path>,
) -> Result<SignedChain, Error> {
    let keys = load_signing_keys(key_paths)?;
    let ledger = Ledger::existing(dir)?;
    let report = receipt_protocol::verify::verify_dir(dir);
    if !report.ok() {
        let first = report
            .failures()
            .next()
            .map_or_else(String::new, |c| format!(": {} {}", c.id, c.detail));
        return Err(Error::VerificationFailed(format!(
            "{} does not verify, so it is not signed{first}",
            dir.display()
        )));
    }
    let mut err = None;
    let signed = receipt_protocol::sign::sign_chain(&ledger, &Signer { keys: &keys }, &mut |r| {
        let facts = match root {
            Some(root) if r.kind == receipt_protocol::receipt::KIND_CARGO => {
                cargo_facts(root, Some(r))
            }
            _ => Ok(BuildFacts {
                builder_id: builder_id(),
                ..BuildFacts::default()
            }),
        };
        facts.unwrap_or_else(|e| {
            err.get_or_insert(e);
            BuildFacts::default()
        })
    });
    if let Some(e) = err {
        return Err(e);
    }
    Ok(signed?)
}

/// Reads a checkpoint file given on the command line (at most 64 KiB, a regular file) and
/// its body, without checking signatures (the verifier of the proof does that).
fn read_checkpoint(path: &Path) -> Result<Checkpoint, Error> {
    let bytes =
        confine::read_file(path, limits::CHECKPOINT_BYTES, "a checkpoint").map_err(|e| {
            Error::BadFile {
                path: path.to_owned(),
                what: e.to_string(),
            }
        })?;
    let bad = |what: String| Error::BadFile {
        path: path.to_owned(),
        what,
    };
    let note = Note::parse(&bytes).map_err(|e| bad(e.to_string()))?;
    Checkpoint::parse(note.text()).map_err(|e| bad(e.to_string()))
}

/// `cargo receipt consistency OLD_CHECKPOINT [DIR]`: the RFC 9162 proof that the chain in
/// `dir` (as its `checkpoint` names it) extends the chain `old` named (docs/SPEC.md §14.8).
///
/// # Errors
/// [`Error::VerificationFailed`] when the old checkpoint is of another chain, larger, or
/// not a tree head of this chain's first receipts; file errors.
pub fn consistency(old_path: &Path, dir: &Path) -> Result<ConsistencyProof, Error> {
    let old = read_checkpoint(old_path)?;
    let new = read_checkpoint(&dir.join(CHECKPOINT_FILE))?;
    let head = Ledger::existing(dir)?.head()?;
    let Some(first) = head.first() else {
        return Err(Error::Usage(format!(
            "{} holds an empty chain",
            dir.display()
        )));
    };
    let origin = origin_for_chain(&first.sha256);
    let leaves: Vec<Digest> = head.iter().map(|l| chain_leaf(&l.sha256)).collect();
    for (name, cp) in [
        (old_path.display().to_string(), &old),
        (CHECKPOINT_FILE.to_owned(), &new),
    ] {
        cp.check_prefix_of(&origin, &leaves)
            .map_err(|e| Error::VerificationFailed(format!("{name}: {e}")))?;
    }
    if old.size > new.size {
        return Err(Error::VerificationFailed(format!(
            "{} covers {} receipts, more than the {} of {CHECKPOINT_FILE}",
            old_path.display(),
            old.size,
            new.size
        )));
    }
    // The tree store gives the proof in O(log n) reads; without one (or a store that
    // disagrees with the chain) the tree is recomputed from chain.head.
    let from_store = TreeStore::open(&dir.join(TREE_DIR))
        .ok()
        .filter(|s| s.size() == new.size && s.root_now() == new.root)
        .and_then(|s| ConsistencyProof::generate(&s, &origin, old.size, new.size).ok());
    let proof = match from_store {
        Some(p) => p,
        None => {
            let tree = MemoryTree::from_leaves(&leaves);
            ConsistencyProof::generate(&tree, &origin, old.size, new.size)
                .map_err(|e| Error::Usage(echo(&e.to_string())))?
        }
    };
    if proof.old_root != old.root || proof.new_root != new.root {
        return Err(Error::VerificationFailed(
            "the chain's tree does not give the checkpoints' roots".into(),
        ));
    }
    Ok(proof)
}
