//! Listing the candidate paths of the tracked set: `git ls-files` inside a git work tree, a
//! `.gitignore`-aware directory walk outside one.

use std::ffi::OsStr;
use std::fs;
use std::path::{Component, Path};
use std::process::{Child, Command, Stdio};

use super::gitindex::Index;
use super::untracked::{Record, Watch};
use super::{TrackError, TrackMode};

/// `git ls-files` for the tracked files: only reads the index.
const CACHED_ARGS: [&str; 3] = ["ls-files", "-z", "--cached"];
/// `git ls-files` for the untracked, not ignored files: a walk of the work tree. Together
/// the two print what `git ls-files -z --cached --others --exclude-standard` prints.
const OTHERS_ARGS: [&str; 4] = ["ls-files", "-z", "--others", "--exclude-standard"];

/// Candidate paths, the second part of which may still be being listed.
pub(super) struct Listing {
    pub(super) mode: TrackMode,
    /// Sorted, deduplicated candidates, available now.
    pub(super) first: Vec<String>,
    /// Git mode: the untracked files, from the record of an earlier listing that still
    /// holds or from a git process that may still run.
    rest: Option<Pending>,
    /// Git mode, when asked for: the tracked files git's index records as large, with
    /// their sizes (a hint for the order of work, see [`Index::large_files`]).
    pub(super) large: Vec<(String, u64)>,
}

/// The untracked part of a git-mode listing.
#[derive(Debug, Default)]
pub(super) struct Untracked {
    /// Sorted and deduplicated; paths of the tracked part may recur.
    pub(super) paths: Vec<String>,
    /// A new record of this listing to store (see [`super::untracked`]), if one was made.
    pub(super) record: Option<Record>,
    /// Whether the listing came from a stored record, without running git.
    pub(super) reused: bool,
}

enum Pending {
    Ready(Untracked),
    Running(std::thread::JoinHandle<Result<Untracked, TrackError>>),
}

impl Listing {
    /// Waits for the rest of the listing.
    pub(super) fn rest(&mut self) -> Result<Untracked, TrackError> {
        match self.rest.take() {
            None => Ok(Untracked::default()),
            Some(Pending::Ready(u)) => Ok(u),
            Some(Pending::Running(h)) => h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)),
        }
    }
}

/// Where a git-mode listing keeps the record of its untracked part, and the prefixes left
/// out of the tracked set (which the record need not watch).
#[derive(Debug, Clone, Copy)]
pub(super) struct RecordAt<'a> {
    pub(super) path: &'a Path,
    pub(super) exclude_prefixes: &'a [String],
}

/// The mode and the candidate paths of the tree at `root`, and, in git mode, the tracked
/// files of at least `large_from` bytes when that is given.
///
/// Git mode applies when `root` is inside a git work tree: a `.git` entry exists at or above
/// it and git agrees. There the tracked files are listed first, from git's index (read
/// directly when [`Index::tracked_paths`] is sure of git's answer, else by `git ls-files`),
/// while a git process walks the work tree for untracked files, so the caller can start on
/// the tracked files before the walk ends. With `record`, the untracked listing of an
/// earlier scan is used instead of git's walk while everything it depends on is unchanged,
/// and a new record is made when it is not (see [`super::untracked`]). Candidates may still
/// turn out to be directories or missing; the caller keeps only regular files and symlinks.
pub(super) fn list(
    root: &Path,
    exclude_dirs: &[String],
    large_from: Option<u64>,
    record: Option<RecordAt<'_>>,
) -> Result<Listing, TrackError> {
    let walk_mode = |root: &Path| -> Result<Listing, TrackError> {
        Ok(Listing {
            mode: TrackMode::Walk,
            first: walk(root, exclude_dirs)?,
            rest: None,
            large: Vec::new(),
        })
    };
    if !has_git_marker(root) {
        return walk_mode(root);
    }
    let index = Index::read(root);
    // The keys a record is checked against are taken before git starts reading the tree.
    let watch = record
        .zip(index.as_ref().filter(|i| i.listable()))
        .and_then(|(at, index)| Some((at, Watch::new(root, &index.repo, at.exclude_prefixes)?)));
    let prior = watch
        .as_ref()
        .and_then(|(at, _)| Record::load(at.path, root));
    let snapshot = watch
        .as_ref()
        .zip(prior.as_ref())
        .and_then(|((_, w), r)| w.snapshot(r));
    let reuse = prior
        .as_ref()
        .zip(snapshot.as_ref())
        .is_some_and(|(r, snap)| r.holds(snap));
    let watch = watch.map(|(_, w)| w);
    let others = (!reuse).then(|| spawn_git(root, &OTHERS_ARGS));
    let large = index
        .as_ref()
        .zip(large_from)
        .map(|(index, min)| index.large_files(min))
        .unwrap_or_default();
    let cached = match index.as_ref().and_then(Index::tracked_paths) {
        Some(paths) => Ok(finish_paths(root, paths)),
        None => spawn_git(root, &CACHED_ARGS).and_then(|c| git_paths(root, &CACHED_ARGS, c)),
    };
    let stop = |others: Option<Result<Child, TrackError>>| {
        if let Some(Ok(mut child)) = others {
            let _ = child.kill();
            let _ = child.wait();
        }
    };
    match (cached, others) {
        (Ok(first), None) => Ok(Listing {
            mode: TrackMode::Git,
            first,
            rest: Some(Pending::Ready(Untracked {
                paths: prior.map(|r| r.others).unwrap_or_default(),
                record: None,
                reused: true,
            })),
            large,
        }),
        (Ok(first), Some(others)) => {
            let owned_root = root.to_path_buf();
            let rest = std::thread::spawn(move || {
                // The walk for a new record goes on while git walks the same tree.
                let walked = watch.as_ref().and_then(Watch::walk);
                let paths = git_paths(&owned_root, &OTHERS_ARGS, others?)?;
                let record = watch.zip(walked).map(|(w, walked)| {
                    w.record(paths.clone(), walked, prior.as_ref().zip(snapshot.as_ref()))
                });
                Ok(Untracked {
                    paths,
                    record,
                    reused: false,
                })
            });
            Ok(Listing {
                mode: TrackMode::Git,
                first,
                rest: Some(Pending::Running(rest)),
                large,
            })
        }
        // `ls-files` fails outside a work tree (inside `.git/`, say); only then is it worth
        // another process to ask git where we are.
        (Err(e @ TrackError::Git { .. }), others) => {
            stop(others);
            if in_git_work_tree(root)? {
                Err(e)
            } else {
                walk_mode(root)
            }
        }
        (Err(e), others) => {
            stop(others);
            Err(e)
        }
    }
}

fn git_error(root: &Path, args: &[&str], detail: String) -> TrackError {
    TrackError::Git {
        root: root.to_path_buf(),
        args: args.join(" "),
        detail,
    }
}

/// Whether `root`, which has a `.git` at or above it, is inside a git work tree.
///
/// A failing `git rev-parse` (git missing, a repository git refuses to read) fails the scan
/// rather than silently switching to walk mode and producing another root.
fn in_git_work_tree(root: &Path) -> Result<bool, TrackError> {
    let args = ["rev-parse", "--is-inside-work-tree"];
    let out = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| git_error(root, &args, format!("git could not be started ({e})")))?;
    if out.status.success() {
        Ok(out.stdout.trim_ascii() == b"true")
    } else {
        let detail = String::from_utf8_lossy(out.stderr.trim_ascii()).into_owned();
        Err(git_error(root, &args, detail))
    }
}

fn has_git_marker(root: &Path) -> bool {
    let Ok(abs) = fs::canonicalize(root) else {
        return false;
    };
    abs.ancestors()
        .any(|d| fs::symlink_metadata(d.join(".git")).is_ok())
}

/// Starts `git -C root ARGS` with its output piped.
fn spawn_git(root: &Path, args: &[&str]) -> Result<Child, TrackError> {
    Command::new("git")
        .arg("-C")
        .arg(root)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| git_error(root, args, format!("git could not be started ({e})")))
}

/// The paths a `git ls-files -z` child prints: sorted, deduplicated, none below a symlink.
fn git_paths(root: &Path, args: &[&str], child: Child) -> Result<Vec<String>, TrackError> {
    let out = child
        .wait_with_output()
        .map_err(|e| git_error(root, args, format!("reading git's output failed ({e})")))?;
    if !out.status.success() {
        let detail = String::from_utf8_lossy(out.stderr.trim_ascii()).into_owned();
        return Err(git_error(root, args, detail));
    }
    let mut paths = out
        .stdout
        .split(|&b| b == 0)
        .filter(|p| !p.is_empty())
        .map(|p| {
            String::from_utf8(p.to_vec()).map_err(|_| TrackError::NonUtf8Path {
                root: root.to_path_buf(),
                path: String::from_utf8_lossy(p).into_owned(),
            })
        })
        .collect::<Result<Vec<String>, TrackError>>()?;
    paths.sort_unstable();
    paths.dedup();
    Ok(finish_paths(root, paths))
}

/// Listed paths as the scan takes them: on Unix unchanged (the scan itself never descends
/// through a symlink, see `fsio`, which drops paths below one at no extra cost and without
/// a window between the test and the read); elsewhere without the paths below a symlink.
#[cfg_attr(unix, allow(clippy::missing_const_for_fn))]
fn finish_paths(root: &Path, paths: Vec<String>) -> Vec<String> {
    #[cfg(not(unix))]
    let paths = without_symlinked_parents(root, paths);
    #[cfg(unix)]
    let _ = root;
    paths
}

/// Drops paths that lie below a symlink (or a non-directory) in the work tree: reaching
/// them would follow the link, and git itself treats such index entries as deleted.
#[cfg(not(unix))]
fn without_symlinked_parents(root: &Path, paths: Vec<String>) -> Vec<String> {
    // Sorted by bytes, a directory comes before everything below it, so each directory's
    // verdict can reuse its parent's.
    let mut dirs: std::collections::BTreeMap<&str, bool> = Default::default();
    let mut last_parent = None;
    for p in &paths {
        let parent = p.rfind('/').map(|i| &p[..i]);
        if parent == last_parent {
            continue;
        }
        last_parent = parent;
        let mut end = 0;
        while let Some(i) = p[end..].find('/') {
            dirs.insert(&p[..end + i], false);
            end += i + 1;
        }
    }
    let keys: Vec<&str> = dirs.keys().copied().collect();
    let is_dir = real_dir_test(root);
    for d in keys {
        let parent_ok = d.rfind('/').is_none_or(|i| dirs[&d[..i]]);
        let ok = parent_ok && is_dir(d);
        dirs.insert(d, ok);
    }
    let keep: Vec<bool> = paths
        .iter()
        .map(|p| p.rfind('/').is_none_or(|i| dirs[&p[..i]]))
        .collect();
    drop(dirs);
    paths
        .into_iter()
        .zip(keep)
        .filter_map(|(p, k)| k.then_some(p))
        .collect()
}

/// A test of whether `root/rel` is a directory itself (not a symlink to one).
#[cfg(not(unix))]
fn real_dir_test(root: &Path) -> impl Fn(&str) -> bool {
    let root = root.to_path_buf();
    move |rel| fs::symlink_metadata(root.join(rel)).is_ok_and(|m| m.file_type().is_dir())
}

/// Every regular file and symlink under `root`, honouring `.gitignore` files at or below the
/// root (and nothing else: no global excludes, no parent directories), skipping directories
/// named in `exclude_dirs` at any depth, never following symlinks.
fn walk(root: &Path, exclude_dirs: &[String]) -> Result<Vec<String>, TrackError> {
    let excluded: Vec<String> = exclude_dirs
        .iter()
        .map(|d| d.trim_end_matches('/').to_string())
        .collect();
    let walker = ignore::WalkBuilder::new(root)
        .standard_filters(false)
        .git_ignore(true)
        .require_git(false)
        .parents(false)
        .follow_links(false)
        .filter_entry(move |e| {
            let is_dir = e.file_type().is_some_and(|t| t.is_dir());
            !(is_dir && e.depth() > 0 && excluded.iter().any(|x| e.file_name() == OsStr::new(x)))
        })
        .build();
    let mut paths = Vec::new();
    for entry in walker {
        let entry = entry.map_err(|e| TrackError::Walk {
            path: walk_error_path(&e).unwrap_or_else(|| root.to_path_buf()),
            detail: e.to_string(),
        })?;
        let Some(ft) = entry.file_type() else {
            continue;
        };
        if !(ft.is_file() || ft.is_symlink()) {
            continue;
        }
        let rel = entry
            .path()
            .strip_prefix(root)
            .map_err(|_| TrackError::Walk {
                path: entry.path().to_path_buf(),
                detail: "the walker returned a path outside the root".to_string(),
            })?;
        paths.push(tracked_path(root, rel)?);
    }
    paths.sort_unstable();
    paths.dedup();
    Ok(paths)
}

fn walk_error_path(e: &ignore::Error) -> Option<std::path::PathBuf> {
    match e {
        ignore::Error::WithPath { path, .. } => Some(path.clone()),
        ignore::Error::WithDepth { err, .. } | ignore::Error::WithLineNumber { err, .. } => {
            walk_error_path(err)
        }
        _ => None,
    }
}

/// The `/`-separated UTF-8 form of a relative path.
fn tracked_path(root: &Path, rel: &Path) -> Result<String, TrackError> {
    let mut out = String::new();
    for c in rel.components() {
        let Component::Normal(part) = c else {
            return Err(TrackError::Walk {
                path: root.join(rel),
                detail: "the path is not a plain relative path".to_string(),
            });
        };
        let part = part.to_str().ok_or_else(|| TrackError::NonUtf8Path {
            root: root.to_path_buf(),
            path: rel.to_string_lossy().into_owned(),
        })?;
        if !out.is_empty() {
            out.push('/');
        }
        out.push_str(part);
    }
    Ok(out)
}
