//! Verification with keys (docs/SPEC.md §14.9): every entry's envelopes, the ledger's
//! checkpoint, an older checkpoint the verifier kept (`--since`), and the tree store.
//!
//! With keys everything must be signed: a missing, malformed or wrong-key envelope is a
//! `FAIL`, and a signed statement must name the same receipt, manifest and artifacts as
//! the directory. Envelopes are verified in parallel; the checks are reported in chain
//! order.

use std::path::Path;

use rayon::prelude::*;
use receipt_attest::PublicKey;
use receipt_attest::checkpoint::{Checkpoint, CheckpointError, chain_leaf, origin_for_chain};
use receipt_attest::dsse::{Envelope, parse_jsonl};
use receipt_attest::intoto::Statement;
use receipt_attest::keys::KeyId;
use receipt_attest::tree::TreeStore;
use receipt_primitives::Digest;
use receipt_primitives::confine::{self, ReadError};
use serde_json::Value;

use super::tally::Tally;
use super::{CheckId, Entry, EntryDir, Report, Verdict, join, read, unreadable};
use crate::ledger::CHAIN_HEAD;
use crate::ledger::sign::{CHECKPOINT_FILE, TREE_DIR};
use crate::limits;
use crate::provenance::{
    INTOTO_PAYLOAD_TYPE, PROVENANCE_FILE, RECEIPT_ENVELOPE_FILE, check_statement,
};
use crate::receipt::Section;

/// What a verification with keys is given (docs/SPEC.md §14.9).
#[derive(Debug, Clone, Default)]
pub struct KeyOptions {
    /// The trusted public keys; with none, no signature check is made.
    pub keys: Vec<PublicKey>,
    /// An older signed checkpoint of the chain (`--since`).
    pub since: Option<std::path::PathBuf>,
}

/// What one verified provenance statement says that a policy may constrain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementFacts {
    /// The envelope file (`receipts/NNNNNN/provenance.intoto.jsonl`).
    pub file: String,
    /// `runDetails.builder.id`.
    pub builder_id: String,
    /// `externalParameters.source.repository`, when recorded.
    pub repository: Option<String>,
}

/// What the signature checks established, for the policy checks
/// ([`crate::policy::Policy::evaluate`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignedFacts {
    /// Number of entries on the chain.
    pub chain_length: u64,
    /// The source commit recorded by the latest entry, when it records one.
    pub latest_commit: Option<String>,
    /// Every statement that verified, in chain order.
    pub statements: Vec<StatementFacts>,
    /// Every signed file that verified, with the trusted keys that signed it.
    pub signers: Vec<(String, Vec<KeyId>)>,
    /// Whether the signature checks were made (keys were given).
    pub keys_given: bool,
}

type Outcome<T> = Result<T, (Verdict, String)>;

/// One entry's envelopes, checked.
#[derive(Debug)]
pub(super) struct EntryOutcome {
    receipt: Outcome<Vec<KeyId>>,
    provenance: Outcome<Vec<(Vec<KeyId>, StatementFacts)>>,
}

/// One entry's envelopes checked against `keys`, read from its directory.
pub(super) fn entry(at: &EntryDir<'_>, e: &Entry, keys: &[PublicKey]) -> EntryOutcome {
    EntryOutcome {
        receipt: receipt_envelope(at, e, keys),
        provenance: provenance(at, e, keys),
    }
}

/// Every signature check, in report order; returns what they established. `outcomes`
/// holds each entry's envelope checks (from [`entry`]) when keys were given.
pub(super) fn check(
    root: &Path,
    report: &mut Report,
    entries: &[Entry],
    opts: &KeyOptions,
    outcomes: Option<Vec<EntryOutcome>>,
) -> SignedFacts {
    let mut facts = SignedFacts {
        chain_length: entries.len() as u64,
        latest_commit: entries
            .last()
            .and_then(|e| e.receipt.as_ref())
            .and_then(|r| r.source.get())
            .and_then(|s| s.git.get())
            .and_then(|g| g.commit.clone()),
        keys_given: !opts.keys.is_empty(),
        ..SignedFacts::default()
    };
    if opts.keys.is_empty() {
        return facts;
    }
    let keys = &opts.keys;
    let outcomes = outcomes.unwrap_or_else(|| {
        entries
            .par_iter()
            .map(|e| entry(&EntryDir::open(root, &e.dir), e, keys))
            .collect()
    });

    let mut t = Tally::new(CheckId::SignReceipt);
    for (e, o) in entries.iter().zip(&outcomes) {
        let file = join(&e.dir, RECEIPT_ENVELOPE_FILE);
        match &o.receipt {
            Ok(ids) => {
                t.pass();
                facts.signers.push((file, ids.clone()));
            }
            Err((v, why)) => t.fail(*v, &file, why.clone()),
        }
    }
    t.finish(
        report,
        "every receipt.dsse.json verifies with a trusted key and signs its receipt file",
    );

    let mut t = Tally::new(CheckId::SignProvenance);
    for (e, o) in entries.iter().zip(outcomes) {
        let file = join(&e.dir, PROVENANCE_FILE);
        match o.provenance {
            Ok(lines) => {
                t.pass();
                for (ids, st) in lines {
                    facts.signers.push((file.clone(), ids));
                    facts.statements.push(st);
                }
            }
            Err((v, why)) => t.fail(v, &file, why),
        }
    }
    t.finish(
        report,
        "every provenance envelope verifies with a trusted key and agrees with its entry",
    );

    let leaves: Vec<Digest> = entries.iter().map(|e| chain_leaf(&e.line.sha256)).collect();
    let origin = entries.first().map(|e| origin_for_chain(&e.line.sha256));
    if let Some(origin) = &origin {
        checkpoint(root, report, &mut facts, origin, &leaves, keys);
        if let Some(since_path) = &opts.since {
            since(report, &mut facts, since_path, origin, &leaves, keys);
        }
        tree(root, report, &leaves);
    }
    facts
}

fn receipt_envelope(at: &EntryDir<'_>, e: &Entry, keys: &[PublicKey]) -> Outcome<Vec<KeyId>> {
    let file = join(&e.dir, RECEIPT_ENVELOPE_FILE);
    let bytes = match at.read(RECEIPT_ENVELOPE_FILE, limits::ENVELOPE_BYTES, "an envelope") {
        Ok(b) => b,
        Err(err) if err.is_missing() => {
            return Err((
                Verdict::Fail,
                format!(
                    "{} is not signed: {file} is missing, and with keys every entry must be signed",
                    e.line.path
                ),
            ));
        }
        Err(err) => return Err(unreadable(&err)),
    };
    let env = Envelope::parse(&bytes).map_err(|err| (Verdict::Fail, format!("{file}: {err}")))?;
    // The payload must be the receipt the chain head names, whatever the file now holds.
    let ids = env
        .verify(keys, crate::provenance::RECEIPT_PAYLOAD_TYPE)
        .map_err(|err| (Verdict::Fail, format!("{file}: {err}")))?
        .key_ids;
    // The receipt file, when it was read, hashes to the head line: a payload equal to its
    // bytes needs no hashing.
    let same_as_file = e.receipt_bytes.as_deref().map(|b| b == env.payload());
    if same_as_file != Some(true) {
        let got = Digest::of(env.payload());
        if got != e.line.sha256 {
            return Err((
                Verdict::Fail,
                format!(
                    "{file} signs a receipt with SHA-256 {got}, but {CHAIN_HEAD} names {} with {}",
                    e.line.path, e.line.sha256
                ),
            ));
        }
    }
    // The file itself, when it was read, is those bytes too (it hashes to the head line).
    if same_as_file == Some(false) {
        return Err((
            Verdict::Fail,
            format!("{file}: the envelope's payload is not the bytes of the receipt file"),
        ));
    }
    Ok(ids)
}

fn provenance(
    at: &EntryDir<'_>,
    e: &Entry,
    keys: &[PublicKey],
) -> Outcome<Vec<(Vec<KeyId>, StatementFacts)>> {
    let file = join(&e.dir, PROVENANCE_FILE);
    let (Some(r), Some((_, m))) = (&e.receipt, &e.manifest) else {
        return Err((
            Verdict::Unknown,
            format!(
                "{file} cannot be checked because the receipt or manifest of {} is unreadable or altered",
                e.line.path
            ),
        ));
    };
    let has_artifacts = matches!(&r.artifacts, Section::Available(a) if !a.files.is_empty());
    let bytes = match at.read(PROVENANCE_FILE, limits::ENVELOPE_BYTES, "a provenance file") {
        Ok(b) => b,
        Err(err) if err.is_missing() && !has_artifacts => return Ok(Vec::new()),
        Err(err) if err.is_missing() => {
            return Err((
                Verdict::Fail,
                format!(
                    "{} records artifacts but has no {PROVENANCE_FILE}; with keys every build's provenance must be signed",
                    e.line.path
                ),
            ));
        }
        Err(err) => return Err(unreadable(&err)),
    };
    let envs = parse_jsonl(&bytes).map_err(|err| (Verdict::Fail, format!("{file}: {err}")))?;
    let mut out = Vec::with_capacity(envs.len());
    for (i, env) in envs.iter().enumerate() {
        let at = format!("{file} line {}", i + 1);
        let v = env
            .verify(keys, INTOTO_PAYLOAD_TYPE)
            .map_err(|err| (Verdict::Fail, format!("{at}: {err}")))?;
        let st = Statement::parse(v.payload)
            .and_then(|s| s.provenance())
            .map_err(|err| (Verdict::Fail, format!("{at}: {err}")))?;
        check_statement(&st, r, &e.line.sha256, m)
            .map_err(|err| (Verdict::Fail, format!("{at}: {err}")))?;
        let repository = st
            .predicate
            .build_definition
            .external_parameters
            .get("source")
            .and_then(|s| s.get("repository"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        out.push((
            v.key_ids,
            StatementFacts {
                file: file.clone(),
                builder_id: st.predicate.run_details.builder.id.clone(),
                repository,
            },
        ));
    }
    Ok(out)
}

/// `sign.checkpoint`: the ledger's checkpoint verifies and is the tree head of the whole
/// chain.
fn checkpoint(
    root: &Path,
    report: &mut Report,
    facts: &mut SignedFacts,
    origin: &str,
    leaves: &[Digest],
    keys: &[PublicKey],
) {
    let file = Some(CHECKPOINT_FILE);
    let bytes = match read(
        root,
        CHECKPOINT_FILE,
        limits::CHECKPOINT_BYTES,
        "a checkpoint",
    ) {
        Ok(b) => b,
        Err(err) if err.is_missing() => {
            report.push(
                CheckId::SignCheckpoint,
                Verdict::Fail,
                file,
                format!("{CHECKPOINT_FILE} is missing; with keys the chain must carry a signed checkpoint"),
            );
            return;
        }
        Err(err) => {
            let (v, why) = unreadable(&err);
            report.push(CheckId::SignCheckpoint, v, file, why);
            return;
        }
    };
    let (cp, ids) = match Checkpoint::open(&bytes, keys) {
        Ok(x) => x,
        Err(err) => {
            report.push(
                CheckId::SignCheckpoint,
                Verdict::Fail,
                file,
                format!("{CHECKPOINT_FILE}: {err}"),
            );
            return;
        }
    };
    let n = leaves.len() as u64;
    let outcome = match cp.check_prefix_of(origin, leaves) {
        Err(err) => Err(prefix_failure(&err, CHECKPOINT_FILE)),
        Ok(()) if cp.size != n => Err(format!(
            "{CHECKPOINT_FILE} covers {} of the chain's {n} receipts: {} appended without signing it (run cargo receipt sign)",
            cp.size,
            if cp.size + 1 == n {
                format!("entry {n} was")
            } else {
                format!("entries {}–{n} were", cp.size + 1)
            }
        )),
        Ok(()) => Ok(()),
    };
    match outcome {
        Ok(()) => {
            facts.signers.push((CHECKPOINT_FILE.to_owned(), ids));
            report.push(
                CheckId::SignCheckpoint,
                Verdict::Pass,
                file,
                format!("{CHECKPOINT_FILE} is signed by a trusted key and is the tree head of all {n} receipts"),
            );
        }
        Err(why) => report.push(CheckId::SignCheckpoint, Verdict::Fail, file, why),
    }
}

fn prefix_failure(err: &CheckpointError, name: &str) -> String {
    match err {
        CheckpointError::Beyond { size, chain } => format!(
            "{name} covers {size} receipts but the chain has only {chain}: entry {} onwards was removed (the chain was rolled back)",
            chain + 1
        ),
        CheckpointError::Rewritten { size } => format!(
            "{name}: the first {size} receipts of {CHAIN_HEAD} do not give its root: an entry among 1–{size} was rewritten or the chain forked"
        ),
        other => format!("{name}: {other}"),
    }
}

/// `sign.since`: the older checkpoint verifies, is of this chain, and is a tree head of a
/// prefix of it.
fn since(
    report: &mut Report,
    facts: &mut SignedFacts,
    path: &Path,
    origin: &str,
    leaves: &[Digest],
    keys: &[PublicKey],
) {
    let shown = path.display().to_string();
    let file = Some(shown.as_str());
    let bytes = match confine::read_file(path, limits::CHECKPOINT_BYTES, "a checkpoint") {
        Ok(b) => b,
        Err(err) => {
            let v = match err {
                ReadError::Missing { .. } | ReadError::Io { .. } => Verdict::Unknown,
                _ => Verdict::Fail,
            };
            report.push(CheckId::SignSince, v, file, err.to_string());
            return;
        }
    };
    let (cp, ids) = match Checkpoint::open(&bytes, keys) {
        Ok(x) => x,
        Err(err) => {
            report.push(
                CheckId::SignSince,
                Verdict::Fail,
                file,
                format!("{shown}: {err}"),
            );
            return;
        }
    };
    match cp.check_prefix_of(origin, leaves) {
        Ok(()) => {
            facts.signers.push((shown.clone(), ids));
            report.push(
                CheckId::SignSince,
                Verdict::Pass,
                file,
                format!(
                    "the chain only grew since {shown}: its first {} receipts give that checkpoint's root, and it now has {}",
                    cp.size,
                    leaves.len()
                ),
            );
        }
        Err(err) => report.push(
            CheckId::SignSince,
            Verdict::Fail,
            file,
            prefix_failure(&err, &shown),
        ),
    }
}

/// `sign.tree`: when `tree/` exists, it holds exactly the chain's tree (WARN otherwise: the
/// store is a cache the next signing rebuilds).
fn tree(root: &Path, report: &mut Report, leaves: &[Digest]) {
    match confine::dir_under(root, TREE_DIR) {
        Ok(true) => {}
        Ok(false) => return,
        Err(err) => {
            report.push(
                CheckId::SignTree,
                Verdict::Warn,
                Some(TREE_DIR),
                format!("{err}; the tree store is not used"),
            );
            return;
        }
    }
    let outcome = TreeStore::open(&root.join(TREE_DIR)).and_then(|s| s.check(leaves));
    match outcome {
        Ok(()) => report.push(
            CheckId::SignTree,
            Verdict::Pass,
            Some(TREE_DIR),
            format!("{TREE_DIR}/ holds the tree of the chain's {} receipts", leaves.len()),
        ),
        Err(err) => report.push(
            CheckId::SignTree,
            Verdict::Warn,
            Some(TREE_DIR),
            format!("{TREE_DIR}/ disagrees with the chain ({err}); it is a cache, and the next signing rebuilds it"),
        ),
    }
}
