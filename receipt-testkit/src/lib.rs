//! Test support shared by the workspace's test suites and benches (a dev-dependency only):
//! forging a build ledger the way an attacker without a signing key can (edit a receipt or
//! manifest, then recompute every hash forward so that only the protocol's own rules can
//! catch it), sample build records and graphs, fixture projects and the commands run on them,
//! the third-party Python verifiers, and the RFC 6962 known-answer vectors.
//!
//! Everything that needs the protocol crates is behind the `ledger` feature, so that the
//! crates below the protocol (`receipt-primitives`, `receipt-attest`) can use the vectors
//! without depending on themselves.
#![deny(missing_docs)]

#[cfg(feature = "ledger")]
mod forge;
pub mod graphs;
pub mod python;
pub mod rfc6962;
#[cfg(feature = "ledger")]
pub mod sample;

#[cfg(feature = "ledger")]
pub use forge::{chain_len, last_receipt, reseal_last, reseal_last_manifest};

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

    /// Writes each `(rel, text)` of `files` under `root`, as [`write()`] does.
    ///
    /// # Panics
    /// On an I/O error (a test fixture error).
    pub fn write_tree(root: &Path, files: &[(&str, &str)]) {
        for (rel, text) in files {
            write(root, rel, text);
        }
    }

    /// The root of a virtual Cargo workspace of `members` (resolver 2) at `root`, its
    /// `target` ignored by git.
    ///
    /// # Panics
    /// On an I/O error (a test fixture error).
    pub fn cargo_workspace(root: &Path, members: &[&str]) {
        write(root, ".gitignore", "/target\n");
        let members: Vec<String> = members.iter().map(|m| format!("\"{m}\"")).collect();
        let manifest = format!(
            "[workspace]\nmembers = [{}]\nresolver = \"2\"\n",
            members.join(", ")
        );
        write(root, "Cargo.toml", &manifest);
    }

    /// Copies the tree `from` to `to` (created), file by file.
    ///
    /// # Panics
    /// On an I/O error (a test fixture error).
    pub fn copy_dir(from: &Path, to: &Path) {
        fs::create_dir_all(to).expect("mkdir");
        for e in fs::read_dir(from).expect("read the directory") {
            let e = e.expect("a directory entry");
            let dest = to.join(e.file_name());
            if e.file_type().expect("a file type").is_dir() {
                copy_dir(&e.path(), &dest);
            } else {
                fs::copy(e.path(), dest).expect("copy a file");
            }
        }
    }

    /// Every file under `dir` with its bytes, by path relative to `dir`, sorted.
    ///
    /// # Panics
    /// On an I/O error or a path that is not UTF-8 (a test fixture error).
    pub fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        let mut stack = vec![dir.to_owned()];
        while let Some(d) = stack.pop() {
            for e in fs::read_dir(&d).expect("read the directory") {
                let p = e.expect("a directory entry").path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    let rel = p.strip_prefix(dir).expect("under the root");
                    let rel = rel.to_str().expect("a UTF-8 path").to_owned();
                    out.push((rel, fs::read(&p).expect("read a file")));
                }
            }
        }
        out.sort();
        out
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
