//! The git state of the directory a build came from: the `HEAD` commit and whether the
//! files under it differ from that commit.

use std::path::Path;
use std::process::{Command, Stdio};

use receipt_protocol::receipt::{GitInfo, Section};

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
///
/// `dirty` is true when a tracked file under `root` differs from `HEAD` or an untracked,
/// unignored file exists under `root`. A repository without commits has `commit: null`.
pub fn git_info(root: &Path) -> Section<GitInfo> {
    match git(root, &["rev-parse", "--is-inside-work-tree"]) {
        Some(s) if s.trim() == "true" => {}
        _ => return Section::unavailable("the directory is not in a git work tree"),
    }
    let commit = git(root, &["rev-parse", "--verify", "--quiet", "HEAD^{commit}"])
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty());
    let Some(status) = git(
        root,
        &[
            "status",
            "--porcelain",
            "-z",
            "--untracked-files=normal",
            "--",
            ".",
        ],
    ) else {
        return Section::unavailable("`git status` failed in the directory");
    };
    Section::Available(GitInfo {
        commit,
        dirty: !status.is_empty(),
    })
}

/// The source repository URL of the work tree at `root` for provenance: `remote.origin.url`
/// when it is a URL with a scheme (a local path would record where this checkout happens
/// to be, which is neither portable nor deterministic).
pub fn repository(root: &Path) -> Option<String> {
    let url = git(root, &["config", "--get", "remote.origin.url"])?
        .trim()
        .to_owned();
    (url.contains("://") && !url.starts_with("file:")).then_some(url)
}

/// Whether `commit` is on `branch` (its tip or an ancestor of it) in the repository at
/// `root`: the local branch first, then `origin`'s. `None` when git cannot tell (no such
/// branch or commit, no repository).
pub fn on_branch(root: &Path, commit: &str, branch: &str) -> Option<bool> {
    for r in [
        format!("refs/heads/{branch}"),
        format!("refs/remotes/origin/{branch}"),
    ] {
        if git(root, &["rev-parse", "--verify", "--quiet", &r]).is_none() {
            continue;
        }
        let st = Command::new("git")
            .arg("-C")
            .arg(root)
            .args(["merge-base", "--is-ancestor", commit, &r])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .ok()?;
        return match st.code() {
            Some(0) => Some(true),
            Some(1) => Some(false),
            _ => None,
        };
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::git as run;

    #[test]
    fn commit_and_dirty_flag_follow_the_work_tree() {
        let t = tempfile::tempdir().unwrap();
        assert!(git_info(t.path()).get().is_none());
        run(t.path(), &["init", "-q"]);
        std::fs::write(t.path().join("a"), "1").unwrap();
        let s = git_info(t.path());
        let g = s.get().unwrap();
        assert_eq!((g.commit.as_deref(), g.dirty), (None, true));
        run(t.path(), &["add", "a"]);
        run(t.path(), &["commit", "-qm", "x"]);
        let g = git_info(t.path()).get().cloned().unwrap();
        assert_eq!(g.commit.as_ref().map(String::len), Some(40));
        assert!(!g.dirty);
        std::fs::write(t.path().join("a"), "2").unwrap();
        assert!(git_info(t.path()).get().unwrap().dirty);
    }
}
