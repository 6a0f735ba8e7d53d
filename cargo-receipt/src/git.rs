//! The git state of the work tree a build came from: `HEAD` and whether the tree is dirty.

use std::path::Path;
use std::process::{Command, Stdio};

use receipt_core::receipt::{GitInfo, Section};

/// Runs git in `root`; `None` when git cannot run or fails.
fn git(root: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The commit and dirty flag of the work tree at `root`, or why they are not known.
pub fn git_info(root: &Path) -> Section<GitInfo> {
    match git(root, &["rev-parse", "--is-inside-work-tree"]) {
        Some(s) if s.trim() == "true" => {}
        _ => return Section::unavailable("the workspace is not in a git work tree"),
    }
    // A repository without commits has no HEAD: recorded as null, not as unknown.
    let commit = git(root, &["rev-parse", "--verify", "--quiet", "HEAD^{commit}"])
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty());
    let Some(status) = git(root, &["status", "--porcelain", "--untracked-files=normal"]) else {
        return Section::unavailable("`git status` failed in the workspace");
    };
    Section::Available(GitInfo {
        commit,
        dirty: !status.trim().is_empty(),
    })
}
