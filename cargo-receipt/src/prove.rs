//! `cargo receipt prove` and `verify-proof`: inclusion proofs of one tracked file against a
//! receipt's tracked-set root, made from the output directory alone.

use std::path::Path;

use receipt_protocol::ledger::Ledger;
use receipt_protocol::proof::FileProof;

use crate::exit::Error;
use crate::verify::listing_of;

/// The proof that `path` is in the latest receipt's tracked set, as canonical JSON.
///
/// # Errors
/// [`Error::Usage`] when the directory has no receipt or the path is not tracked,
/// [`Error::BadFile`] when the recorded listing does not hash to the manifest's root.
pub fn prove(dir: &Path, path: &str) -> Result<Vec<u8>, Error> {
    let ledger = Ledger::open(dir)?;
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

/// Checks a proof file; optionally that `file` has the proven content and that the root is
/// the tracked-set root of a receipt on the chain in `against`. Returns one sentence.
///
/// # Errors
/// [`Error::VerificationFailed`] when the proof does not hold, [`Error::Io`] when a file
/// cannot be read.
pub fn verify_proof(
    proof_path: &Path,
    file: Option<&Path>,
    against: Option<&Path>,
) -> Result<String, Error> {
    let bytes = std::fs::read(proof_path).map_err(Error::io(proof_path))?;
    // A trailing newline, as `prove` prints, is not part of the canonical document.
    let doc = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
    let fail = |e: String| Error::VerificationFailed(format!("{}: {e}", proof_path.display()));
    let proof = FileProof::from_json_bytes(doc).map_err(|e| fail(e.to_string()))?;
    match file {
        Some(f) => {
            let content = read_content(f)?;
            proof
                .verify_content(&content)
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
    if let Some(dir) = against {
        let ledger = Ledger::open(dir)?;
        let head = ledger.head()?;
        let mut found = None;
        for line in &head {
            let mpath = dir
                .join(&line.path)
                .with_file_name(receipt_protocol::ledger::MANIFEST_FILE);
            let Ok(b) = std::fs::read(&mpath) else {
                continue;
            };
            if let Ok(m) = receipt_protocol::manifest::Manifest::parse(&b)
                && m.merkle_root == proof.merkle_root
            {
                found = Some(line.path.clone());
            }
        }
        match found {
            Some(p) => sentence.push_str(&format!(", which is the root of {p}")),
            None => {
                return Err(fail(format!(
                    "the proof's root {} is the tracked-set root of no receipt on the chain in {}",
                    proof.merkle_root,
                    dir.display()
                )));
            }
        }
    }
    Ok(sentence)
}

/// The content a proof names: a symlink's target bytes, else the file's bytes.
fn read_content(f: &Path) -> Result<Vec<u8>, Error> {
    let md = std::fs::symlink_metadata(f).map_err(Error::io(f))?;
    if md.file_type().is_symlink() {
        let target = std::fs::read_link(f).map_err(Error::io(f))?;
        Ok(target.into_os_string().into_encoded_bytes())
    } else {
        std::fs::read(f).map_err(Error::io(f))
    }
}
