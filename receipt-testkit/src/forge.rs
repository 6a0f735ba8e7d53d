//! Forging a ledger as an attacker without a signing key: edit a receipt or manifest, then
//! recompute every hash forward so that only the protocol's own rules can catch it.

use std::fs;
use std::path::Path;

use receipt_primitives::{Digest, jcs};
use receipt_protocol::manifest::Manifest;
use receipt_protocol::receipt::Receipt;
use serde_json::Value;

/// Number of entries on the chain in `dir`.
///
/// # Panics
/// When `dir` has no readable chain head (a test fixture error).
pub fn chain_len(dir: &Path) -> usize {
    fs::read_to_string(dir.join("chain.head"))
        .expect("chain.head")
        .lines()
        .count()
}

/// Rewrites the last entry's receipt with `edit`, then recomputes everything an attacker
/// without a key can: the receipt's canonical bytes, its head line, and the view.
///
/// # Panics
/// When the ledger is not a well-formed fixture.
pub fn reseal_last(dir: &Path, edit: impl FnOnce(&mut Value)) {
    let head = fs::read_to_string(dir.join("chain.head")).expect("chain.head");
    let mut lines: Vec<String> = head.lines().map(str::to_owned).collect();
    let last = lines.last().expect("a non-empty chain").clone();
    let (_, path) = last.split_once(' ').expect("a head line");
    let mut v: Value = serde_json::from_slice(&fs::read(dir.join(path)).expect("the receipt"))
        .expect("receipt JSON");
    edit(&mut v);
    let bytes = jcs::to_vec(&v).expect("canonical JSON");
    fs::write(dir.join(path), &bytes).expect("write the receipt");
    fs::write(dir.join("receipt.json"), &bytes).expect("write the view");
    *lines.last_mut().expect("a line") = format!("{} {path}", Digest::of(&bytes));
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    fs::write(dir.join("chain.head"), text).expect("write the head");
}

/// Rewrites the last entry's manifest with `edit` and re-seals its receipt around it.
///
/// # Panics
/// When the ledger is not a well-formed fixture.
pub fn reseal_last_manifest(dir: &Path, edit: impl FnOnce(&mut Manifest)) {
    let n = chain_len(dir);
    let mpath = dir.join(format!("receipts/{n:06}/manifest.json"));
    let mut m = Manifest::parse(&fs::read(&mpath).expect("the manifest")).expect("a manifest");
    edit(&mut m);
    let bytes = m.to_bytes();
    fs::write(&mpath, &bytes).expect("write the manifest");
    fs::write(dir.join("manifest.json"), &bytes).expect("write the view");
    let digest = Digest::of(&bytes).to_hex();
    reseal_last(dir, |r| r["manifest_sha256"] = Value::String(digest));
}

/// The receipt of the last entry, parsed.
///
/// # Panics
/// When the ledger is not a well-formed fixture.
pub fn last_receipt(dir: &Path) -> Receipt {
    let n = chain_len(dir);
    Receipt::parse(&fs::read(dir.join(format!("receipts/{n:06}/receipt.json"))).expect("receipt"))
        .expect("a receipt")
}
