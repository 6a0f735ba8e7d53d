//! Helpers shared by this crate's unit tests.

use std::path::Path;
use std::process::{Command, Output};

/// Runs `git -C dir ARGS` with no system or global configuration and a fixed identity.
pub(crate) fn git_output(dir: &Path, args: &[&str]) -> Output {
    Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.invalid")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.invalid")
        .output()
        .unwrap()
}

/// [`git_output`], panicking unless git succeeds; returns what it printed.
pub(crate) fn git(dir: &Path, args: &[&str]) -> Vec<u8> {
    let out = git_output(dir, args);
    assert!(out.status.success(), "git {args:?}: {out:?}");
    out.stdout
}
