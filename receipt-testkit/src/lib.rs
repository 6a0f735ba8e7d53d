//! Test support shared by the workspace's test suites (a dev-dependency only): forging a
//! build ledger the way an attacker without a signing key can — edit a receipt or manifest,
//! then recompute every hash forward so that only the protocol's own rules can catch it.
#![deny(missing_docs)]

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

/// Fixture projects and the commands tests run on them.
pub mod fixture {
    use std::fs;
    use std::path::Path;
    use std::process::{Command, Output};

    /// Writes `text` to `root/rel`, creating the directories on the way.
    ///
    /// # Panics
    /// On an I/O error (a test fixture error).
    pub fn write(root: &Path, rel: &str, text: &str) {
        let p = root.join(rel);
        fs::create_dir_all(p.parent().expect("a file under the root")).expect("mkdir");
        fs::write(p, text).expect("write a fixture file");
    }

    /// A command's exit status, stdout and stderr, for assertion messages.
    pub fn text(o: &Output) -> String {
        format!(
            "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
            o.status.code(),
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    }

    /// Runs `git args…` in `dir` as a fixed author at a fixed time, without the user's or
    /// the system's configuration, so commits are the same on every machine.
    ///
    /// # Panics
    /// When git fails.
    pub fn git(dir: &Path, args: &[&str]) {
        let o = Command::new("git")
            .args(args)
            .current_dir(dir)
            .env("GIT_AUTHOR_NAME", "Fixture")
            .env("GIT_AUTHOR_EMAIL", "fixture@example.invalid")
            .env("GIT_AUTHOR_DATE", "2023-11-14T22:13:20Z")
            .env("GIT_COMMITTER_NAME", "Fixture")
            .env("GIT_COMMITTER_EMAIL", "fixture@example.invalid")
            .env("GIT_COMMITTER_DATE", "2023-11-14T22:13:20Z")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .output()
            .expect("git runs");
        assert!(o.status.success(), "git {args:?}: {}", text(&o));
    }

    /// Runs `BIN receipt args…` (the `cargo-receipt` binary at `bin`) in `dir` with its own
    /// target directory and no build-affecting variables of the calling environment, then
    /// `env` on top.
    ///
    /// # Panics
    /// When the binary cannot be started.
    pub fn cargo_receipt(bin: &Path, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new(bin);
        cmd.arg("receipt")
            .args(args)
            .current_dir(dir)
            .env("CARGO_TARGET_DIR", dir.join("target"))
            .env("CARGO_TERM_COLOR", "never")
            .env_remove("RUSTFLAGS")
            .env_remove("RUSTC")
            .env_remove("RUSTC_WRAPPER")
            .env_remove("CARGO_BUILD_TARGET")
            .env_remove("SOURCE_DATE_EPOCH");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().expect("cargo-receipt runs")
    }
}
