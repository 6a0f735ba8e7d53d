//! Signing a build ledger (docs/SPEC.md §14): the envelopes of an entry
//! (`receipt.dsse.json`, `provenance.intoto.jsonl`), the chain's tree store (`tree/`) and its
//! signed `checkpoint`, written under the ledger lock with temp file, fsync and rename.
//!
//! A build signed as it is appended ([`super::Ledger::append_signed`]) gets its
//! envelopes inside the entry directory before that directory is renamed into place, so no
//! entry is ever half signed. [`sign_chain`] signs the entries of an existing chain that
//! have no envelope yet: it writes `provenance.intoto.jsonl` first and `receipt.dsse.json`
//! last, each atomically, so an entry counts as signed (has `receipt.dsse.json`) only when
//! both are in place; an interrupted run is simply repeated. Both then bring `tree/` up to
//! the chain and replace `checkpoint`.

use std::collections::BTreeMap;

use receipt_attest::SigningKey;
use receipt_attest::checkpoint::{Checkpoint, CheckpointError, chain_leaf, origin_for_chain};
use receipt_attest::dsse::to_jsonl;
use receipt_attest::tree::{Pending, TreeError, TreeStore};
use receipt_primitives::Digest;
use receipt_primitives::fsutil::{Staged, atomic_write, stage, sync_all_concurrently, sync_dir};

use super::{HeadLine, Ledger, LedgerError, MANIFEST_FILE, RECEIPTS_DIR, sibling};
pub use crate::layout::{CHECKPOINT_FILE, TREE_DIR};
use crate::limits;
use crate::manifest::Manifest;
use crate::provenance::{
    PROVENANCE_FILE, ProvenanceError, ProvenanceInput, RECEIPT_ENVELOPE_FILE, ResourceDescriptor,
    sign_receipt, sign_statement, statement,
};
use crate::receipt::Receipt;

/// What the producer says about a build besides its receipt and manifest: the provenance's
/// builder, repository and dependencies (docs/SPEC.md §14.4).
#[derive(Debug, Clone, Default)]
pub struct BuildFacts {
    /// `runDetails.builder.id`.
    pub builder_id: String,
    /// `runDetails.builder.version` (omitted when empty).
    pub builder_version: BTreeMap<String, String>,
    /// The source repository URL, when known.
    pub repository: Option<String>,
    /// The resolved dependencies after the source commit, in the order to record.
    pub dependencies: Vec<ResourceDescriptor>,
}

/// The keys to sign with, in the order their signatures are written.
#[derive(Debug, Clone, Copy)]
pub struct Signer<'a> {
    /// At least one key.
    pub keys: &'a [SigningKey],
}

/// Why signing failed. Nothing on the chain is changed by a failed signing; a checkpoint
/// that could not be replaced is left as it was.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// No key was given.
    #[error("no signing key was given")]
    NoKey,
    /// An envelope or statement could not be made.
    #[error("{entry}: {source}")]
    Provenance {
        /// The entry's receipt path.
        entry: String,
        /// What went wrong.
        source: ProvenanceError,
    },
    /// The tree store could not be brought up to the chain.
    #[error("{TREE_DIR}/: {0}")]
    Tree(#[from] TreeError),
    /// The checkpoint could not be made.
    #[error("{CHECKPOINT_FILE}: {0}")]
    Checkpoint(#[from] CheckpointError),
    /// An entry's files are not those the chain head names, so it is not signed.
    #[error("{0}")]
    Refused(String),
}

/// The two envelope files of one entry.
#[derive(Debug, Clone)]
pub struct EntryEnvelopes {
    /// `receipt.dsse.json`.
    pub receipt: Vec<u8>,
    /// `provenance.intoto.jsonl`; `None` for an entry without artifacts.
    pub provenance: Option<Vec<u8>>,
}

fn key_refs<'a>(signer: &Signer<'a>) -> Result<Vec<&'a SigningKey>, SignError> {
    if signer.keys.is_empty() {
        return Err(SignError::NoKey);
    }
    Ok(signer.keys.iter().collect())
}

/// The envelopes of one entry: the receipt file's bytes, and (when it recorded artifacts)
/// its SLSA provenance statement, each signed by every key.
///
/// # Errors
/// [`SignError`] naming the entry.
pub fn entry_envelopes(
    signer: &Signer<'_>,
    facts: &BuildFacts,
    entry: &str,
    receipt: &Receipt,
    receipt_bytes: &[u8],
    manifest: &Manifest,
) -> Result<EntryEnvelopes, SignError> {
    let keys = key_refs(signer)?;
    let wrap = |source| SignError::Provenance {
        entry: entry.to_owned(),
        source,
    };
    let receipt_env = sign_receipt(receipt_bytes, &keys).map_err(wrap)?;
    let input = ProvenanceInput {
        receipt,
        receipt_sha256: Digest::of(receipt_bytes),
        manifest,
        builder_id: &facts.builder_id,
        builder_version: facts.builder_version.clone(),
        source_repository: facts.repository.as_deref(),
        dependencies: &facts.dependencies,
    };
    let provenance = match statement(&input) {
        Ok(st) => Some(to_jsonl(&[sign_statement(&st, &keys).map_err(wrap)?])),
        Err(ProvenanceError::NoArtifacts(_)) => None,
        Err(e) => return Err(wrap(e)),
    };
    Ok(EntryEnvelopes {
        receipt: receipt_env.to_json(),
        provenance,
    })
}

/// Brings `tree/` up to the chain `head` and replaces `checkpoint` with the chain's tree
/// head signed by every key. The caller holds the ledger lock.
///
/// A tree store that is corrupt is rebuilt from the chain (it is a cache); one holding
/// other leaves than the chain is refused: the chain was rewritten since it was stored.
///
/// # Errors
/// [`LedgerError`]; the checkpoint is unchanged on error.
pub fn write_checkpoint(
    ledger: &Ledger,
    signer: &Signer<'_>,
    head: &[HeadLine],
) -> Result<Checkpoint, LedgerError> {
    let pending = prepare_checkpoint(ledger, signer, head)?;
    let files = pending.files();
    sync_all_concurrently(&files.iter().map(|(f, _)| *f).collect::<Vec<_>>()).map_err(
        |(i, source)| LedgerError::Io {
            path: files[i].1.clone(),
            source,
        },
    )?;
    drop(files);
    let cp = pending.finish()?;
    let root = ledger.root();
    sync_dir(root).map_err(|source| LedgerError::Io {
        path: root.to_owned(),
        source,
    })?;
    Ok(cp)
}

/// The tree store extended to a chain and the signed checkpoint, written to temp files but
/// neither durable nor in place: the first half of [`write_checkpoint`], so that a signed
/// append makes them durable together with the view (one round of concurrent fsyncs).
pub(crate) struct PendingCheckpoint {
    store: TreeStore,
    /// The tree store's new records and head; `None` when it already held the chain (or
    /// was rebuilt).
    tree: Option<Pending>,
    file: Staged,
    checkpoint: Checkpoint,
}

impl PendingCheckpoint {
    /// The files to make durable before [`PendingCheckpoint::finish`], with their paths.
    pub(crate) fn files(&self) -> Vec<(&std::fs::File, std::path::PathBuf)> {
        let mut out: Vec<_> = match &self.tree {
            Some(p) => p
                .files()
                .into_iter()
                .enumerate()
                .map(|(i, f)| (f, p.path(i)))
                .collect(),
            None => Vec::new(),
        };
        out.push((self.file.file(), self.file.target().to_owned()));
        out
    }

    /// Commits the tree store (its own commit point, the rename of `tree/head`), then
    /// renames the checkpoint into place; the caller made [`PendingCheckpoint::files`]
    /// durable before and fsyncs the ledger root after.
    pub(crate) fn finish(mut self) -> Result<Checkpoint, LedgerError> {
        if let Some(p) = self.tree {
            p.commit(&mut self.store).map_err(SignError::from)?;
        }
        let path = self.file.target().to_owned();
        self.file
            .persist()
            .map_err(|source| LedgerError::Io { path, source })?;
        Ok(self.checkpoint)
    }
}

/// [`write_checkpoint`] up to the renames: see [`PendingCheckpoint`].
pub(crate) fn prepare_checkpoint(
    ledger: &Ledger,
    signer: &Signer<'_>,
    head: &[HeadLine],
) -> Result<PendingCheckpoint, LedgerError> {
    let keys = key_refs(signer)?;
    let Some(first) = head.first() else {
        return Err(LedgerError::Inconsistent(
            "the chain is empty, so there is nothing to checkpoint".into(),
        ));
    };
    let leaves: Vec<Digest> = head.iter().map(|l| chain_leaf(&l.sha256)).collect();
    let dir = ledger.root().join(TREE_DIR);
    ledger.refuse_symlink_in_root(TREE_DIR)?;
    let (store, tree) = match TreeStore::open_or_create(&dir) {
        Ok(mut s) => {
            let pending = s.prepare_extend_to(&leaves).map_err(SignError::from)?;
            (s, pending)
        }
        Err(TreeError::Corrupt { .. }) => (
            TreeStore::rebuild(&dir, &leaves).map_err(SignError::from)?,
            None,
        ),
        Err(e) => return Err(SignError::from(e).into()),
    };
    let (size, root) = match &tree {
        Some(p) => (p.size(), p.root()),
        None => (store.size(), store.root_now()),
    };
    let checkpoint = Checkpoint {
        origin: origin_for_chain(&first.sha256),
        size,
        root,
        extensions: Vec::new(),
    };
    let bytes = checkpoint.sign(&keys).map_err(SignError::from)?;
    ledger.refuse_special(CHECKPOINT_FILE)?;
    let path = ledger.root().join(CHECKPOINT_FILE);
    let file = stage(&path, &bytes).map_err(|source| LedgerError::Io { path, source })?;
    Ok(PendingCheckpoint {
        store,
        tree,
        file,
        checkpoint,
    })
}

/// What [`sign_chain`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedChain {
    /// The 1-based positions of the entries signed now (entries already signed are left as
    /// they are).
    pub signed: Vec<u64>,
    /// The checkpoint written.
    pub checkpoint: Checkpoint,
}

/// Signs every entry of the chain at `ledger` that has no `receipt.dsse.json`, then writes
/// the tree store and the checkpoint, all under the ledger lock. `facts` gives the
/// provenance facts of an entry (called only for entries signed now).
///
/// Refuses (before writing anything) an entry whose receipt file does not hash to its head
/// line or whose manifest is not the one it names: signing must not launder a forgery. The
/// caller should also verify the chain ([`crate::verify::verify_dir`]) first.
///
/// # Errors
/// [`LedgerError`]; entries signed before an error stay signed (each completely).
pub fn sign_chain(
    ledger: &Ledger,
    signer: &Signer<'_>,
    facts: &mut dyn FnMut(&Receipt) -> BuildFacts,
) -> Result<SignedChain, LedgerError> {
    key_refs(signer)?;
    let lock = ledger.lock()?;
    let head = ledger.head()?;
    if head.is_empty() {
        return Err(LedgerError::NotALedger {
            root: ledger.root().to_owned(),
        });
    }
    let mut todo = Vec::new();
    for (i, line) in head.iter().enumerate() {
        let env = sibling(&line.path, RECEIPT_ENVELOPE_FILE);
        match ledger.kind(&env)? {
            Some(None) => continue,
            Some(Some(kind)) => {
                return Err(LedgerError::Foreign {
                    path: ledger.root().join(&env),
                    what: format!("is {kind}, not an envelope this tool wrote"),
                });
            }
            None => {}
        }
        let bytes = ledger.read_file(&line.path, limits::RECEIPT_BYTES, "a receipt")?;
        if Digest::of(&bytes) != line.sha256 {
            return Err(SignError::Refused(format!(
                "{} does not hash to line {} of chain.head; the chain is not signed (verify it)",
                line.path,
                i + 1
            ))
            .into());
        }
        let receipt = Receipt::parse(&bytes)?;
        let mpath = sibling(&line.path, MANIFEST_FILE);
        let mbytes = ledger.read_file(&mpath, limits::MANIFEST_BYTES, "a manifest")?;
        if Digest::of(&mbytes) != receipt.manifest_sha256 {
            return Err(SignError::Refused(format!(
                "{mpath} is not the manifest {} names; the chain is not signed (verify it)",
                line.path
            ))
            .into());
        }
        let manifest = Manifest::parse(&mbytes)
            .map_err(|e| LedgerError::Inconsistent(format!("{mpath}: {e}")))?;
        let f = facts(&receipt);
        let envs = entry_envelopes(signer, &f, &line.path, &receipt, &bytes, &manifest)?;
        todo.push((i as u64 + 1, line.path.clone(), envs));
    }
    let mut signed = Vec::new();
    for (seq, path, envs) in todo {
        let dir = ledger.root().join(RECEIPTS_DIR).join(format!("{seq:06}"));
        let write = |name: &str, bytes: &[u8]| -> Result<(), LedgerError> {
            let p = ledger.root().join(sibling(&path, name));
            atomic_write(&p, bytes).map_err(|source| LedgerError::Io { path: p, source })
        };
        if let Some(p) = &envs.provenance {
            write(PROVENANCE_FILE, p)?;
        }
        write(RECEIPT_ENVELOPE_FILE, &envs.receipt)?;
        sync_dir(&dir).map_err(|source| LedgerError::Io {
            path: dir.clone(),
            source,
        })?;
        signed.push(seq);
    }
    let checkpoint = write_checkpoint(ledger, signer, &head)?;
    drop(lock);
    Ok(SignedChain { signed, checkpoint })
}
