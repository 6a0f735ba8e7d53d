//! `cargo receipt prove` and `verify-proof`: inclusion proofs of one tracked file against a
//! receipt's tracked-set root, made from the output directory alone.

use std::path::Path;

use receipt_primitives::Digest;
use receipt_primitives::confine;
use receipt_protocol::ledger::Ledger;
use receipt_protocol::limits;
use receipt_protocol::proof::FileProof;
use receipt_protocol::verify::verify_dir;

use crate::exit::Error;
use crate::verify::listing_of;

/// The proof that `path` is in the latest receipt's tracked set, as canonical JSON.
///
/// # Errors
/// [`Error::Usage`] when the directory has no receipt or the path is not tracked,
/// [`Error::BadFile`] when the recorded listing does not hash to the manifest's root.
pub fn prove(dir: &Path, path: &str) -> Result<Vec<u8>, Error> {
    let ledger = Ledger::existing(dir)?;
    let (line, manifest, receipt) = ledger
        .latest()?
        .ok_or_else(|| Error::Usage(format!("{} holds no receipt yet", dir.display())))?;
    let receipt_path = dir.join(&line.path);
    let tree = listing_of(&receipt).map_err(|e| Error::BadFile {
        path: receipt_path.clone(),
        what: e.to_string(),
    })?;
    if tree.root() != manifest.merkle_root {
        return Err(Error::BadFile {
            path: receipt_path,
            what:
                "the tracked files listed in the receipt do not hash to its manifest's merkle_root"
                    .into(),
        });
    }
    let path = path.strip_prefix("./").unwrap_or(path);
    let proof = tree.proof(path).ok_or_else(|| {
        Error::Usage(format!(
            "{path} is not in the tracked set of {} ({} files)",
            line.path,
            tree.files.len()
        ))
    })?;
    let mut bytes = proof.to_json_bytes();
    bytes.push(b'\n');
    Ok(bytes)
}

/// Checks a proof file; optionally that `file` has the proven content and that the proof
/// is anchored in the chain in `against`. Returns one sentence.
///
/// A proof on its own only says its audit path leads to the root it names; anyone can
/// make such a proof for any file. With `against`, the chain there must verify (every
/// check of `cargo receipt verify`), the proof's root must be the tracked-set root of a
/// receipt on it, and the proof's position must be the file's: `tree_size` is that
/// receipt's tracked file count, and where the receipt lists its tracked files, the file
/// at `leaf_index` is the proven one.
///
/// # Errors
/// [`Error::VerificationFailed`] when the proof does not hold, [`Error::BadFile`] when a
/// file cannot be read safely.
pub fn verify_proof(
    proof_path: &Path,
    file: Option<&Path>,
    against: Option<&Path>,
) -> Result<String, Error> {
    let bytes = confine::read_file(proof_path, limits::PROOF_BYTES, "a proof").map_err(|e| {
        Error::BadFile {
            path: proof_path.to_path_buf(),
            what: e.to_string(),
        }
    })?;
    // A trailing newline, as `prove` prints, is not part of the canonical document.
    let doc = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
    let fail = |e: String| Error::VerificationFailed(format!("{}: {e}", proof_path.display()));
    let proof = FileProof::from_json_bytes(doc).map_err(|e| fail(e.to_string()))?;
    match file {
        Some(f) => {
            let content = content_sha256(f)?;
            proof
                .verify_content_sha256(&content)
                .map_err(|e| fail(e.to_string()))?;
        }
        None => proof.verify().map_err(|e| fail(e.to_string()))?,
    }
    let mut sentence = format!(
        "{} is leaf {} of {} under tracked-set root {}",
        proof.path, proof.leaf_index, proof.tree_size, proof.merkle_root
    );
    if let Some(f) = file {
        sentence.push_str(&format!(", and {} has the proven content", f.display()));
    }
    match against {
        Some(dir) => {
            let anchor = anchor(&proof, dir).map_err(fail)?;
            sentence.push_str(&format!(
                ", which is the root of {anchor} on a chain that verifies"
            ));
        }
        None => sentence.push_str(
            "; the root is not anchored (give --against DIR to check it is a verified build's)",
        ),
    }
    Ok(sentence)
}

/// The receipt on the verified chain in `dir` whose tracked set the proof is in, at the
/// proof's position; one sentence when there is none.
fn anchor(proof: &FileProof, dir: &Path) -> Result<String, String> {
    let report = verify_dir(dir);
    if !report.ok() {
        return Err(format!(
            "the chain in {} does not verify ({} check(s) failed; run `cargo receipt verify {}`), so it cannot vouch for the proof's root",
            dir.display(),
            report.failures().count(),
            dir.display()
        ));
    }
    let ledger = Ledger::existing(dir).map_err(|e| e.to_string())?;
    let head = ledger.head().map_err(|e| e.to_string())?;
    let mut why_not = None;
    for line in head.iter().rev() {
        let (manifest, receipt) = ledger.entry(line).map_err(|e| e.to_string())?;
        if manifest.merkle_root != proof.merkle_root {
            continue;
        }
        let files = receipt.source.get().map(|s| s.tracked.files);
        if files != Some(proof.tree_size) {
            why_not = Some(format!(
                "the proof says the tree has {} files, but {} records {}",
                proof.tree_size,
                line.path,
                files.map_or_else(|| "no tracked set".to_owned(), |n| n.to_string())
            ));
            continue;
        }
        if let Ok(tree) = listing_of(&receipt) {
            let at = usize::try_from(proof.leaf_index)
                .ok()
                .and_then(|i| tree.files.get(i));
            match at {
                Some(f)
                    if f.path == proof.path
                        && f.kind == proof.kind
                        && f.content_sha256 == proof.content_sha256 => {}
                _ => {
                    why_not = Some(format!(
                        "leaf {} of {} is not {} with the proven content",
                        proof.leaf_index, line.path, proof.path
                    ));
                    continue;
                }
            }
        }
        return Ok(line.path.clone());
    }
    Err(why_not.unwrap_or_else(|| {
        format!(
            "the proof's root {} is the tracked-set root of no receipt on the chain in {}",
            proof.merkle_root,
            dir.display()
        )
    }))
}

/// The SHA-256 of the content a proof names: a symlink's target bytes, else the file's
/// bytes (a regular file: a FIFO or device is refused, never read).
fn content_sha256(f: &Path) -> Result<Digest, Error> {
    let md = std::fs::symlink_metadata(f).map_err(Error::io(f))?;
    if md.file_type().is_symlink() {
        let target = std::fs::read_link(f).map_err(Error::io(f))?;
        return Ok(Digest::of(target.as_os_str().as_encoded_bytes()));
    }
    let bad = |e: confine::ReadError| Error::BadFile {
        path: f.to_path_buf(),
        what: e.to_string(),
    };
    let opened = confine::open_file(f).map_err(bad)?;
    let size = opened.size;
    let (digest, _) = opened
        .sha256_bounded(&f.display().to_string(), size)
        .map_err(bad)?;
    Ok(digest)
}
