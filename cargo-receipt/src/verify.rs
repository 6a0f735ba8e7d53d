//! `cargo receipt verify`: the protocol checks of the output directory, plus the checks
//! only a Cargo producer can make (tracked listing, artifacts in the target directory, the
//! current work tree).

use std::path::{Path, PathBuf};

use receipt_primitives::check::{CheckId, Report, Verdict, echo};
use receipt_primitives::confine;
use receipt_protocol::ledger::{HeadLine, Ledger};
use receipt_protocol::manifest::Manifest;
use receipt_protocol::policy::Policy;
use receipt_protocol::receipt::{Receipt, Section};
use receipt_protocol::tracked::{TrackMode, TrackedTree};
use receipt_protocol::verify::{KeyOptions, verify_dir_with};

use crate::build::{CargoExtension, EXTENSION};

/// What to check beyond the protocol.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Re-hash the latest receipt's artifacts found in this target directory.
    pub artifacts_in: Option<PathBuf>,
    /// Compare the latest receipt's tracked set with this work tree (and its target dir
    /// for the digest cache).
    pub source_tree: Option<(PathBuf, PathBuf)>,
    /// Trusted keys and an older checkpoint: the signature checks (docs/SPEC.md §14.9).
    pub keys: KeyOptions,
    /// A policy checked last, over every other check (docs/SPEC.md §14.11).
    pub policy: Option<Policy>,
}

/// Every check of `dir`: the core protocol checks, the signature checks when keys are
/// given, the Cargo ones on the latest entry, then the policy's.
pub fn verify(dir: &Path, opts: &Options) -> Report {
    let (mut report, facts) = verify_dir_with(dir, &opts.keys);
    cargo_checks(dir, opts, &mut report);
    if let Some(policy) = &opts.policy {
        let repo = opts.source_tree.as_ref().map(|(root, _)| root.clone());
        policy.evaluate(&facts, &mut report, &|commit, branch| {
            repo.as_deref()
                .and_then(|r| receipt_scan::git::on_branch(r, commit, branch))
        });
    }
    report
}

fn cargo_checks(dir: &Path, opts: &Options, report: &mut Report) {
    let latest = match Ledger::existing(dir).and_then(|l| l.latest()) {
        Ok(Some(l)) => l,
        Ok(None) => return,
        Err(e) => {
            report.push(
                CheckId::ChainLatest,
                Verdict::Unknown,
                None,
                format!(
                    "the latest receipt cannot be read ({e}), so the cargo checks were not made"
                ),
            );
            return;
        }
    };
    let (line, manifest, receipt) = latest;
    let listing = tracked_listing(report, &line, &manifest, &receipt);
    if let Some(target_dir) = &opts.artifacts_in {
        check_artifacts(report, &line, &receipt, target_dir);
    }
    if let Some((root, target_dir)) = &opts.source_tree {
        check_commit(report, &receipt, root);
        check_source(report, &manifest, listing.as_ref(), root, target_dir);
    }
}

/// Why a receipt's tracked listing cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ListingError {
    /// The receipt has no `cargo` extension.
    #[error("the receipt has no `{EXTENSION}` extension")]
    NoExtension,
    /// The extension does not have the documented shape.
    #[error("the receipt's `{EXTENSION}` extension is malformed: {0}")]
    Malformed(String),
    /// `source.tracked.mode` is neither `git` nor `walk`.
    #[error("the receipt's field source.tracked.mode {0:?} is unknown")]
    UnknownMode(String),
    /// The source section is unavailable.
    #[error("the receipt's source section is unavailable")]
    NoSource,
}

/// The tracked listing of a receipt's `cargo` extension.
///
/// # Errors
/// [`ListingError`] saying why the listing is missing or malformed.
pub fn listing_of(receipt: &Receipt) -> Result<TrackedTree, ListingError> {
    let ext = receipt
        .extensions
        .get(EXTENSION)
        .ok_or(ListingError::NoExtension)?;
    let ext: CargoExtension = serde_json::from_value(ext.clone())
        .map_err(|e| ListingError::Malformed(receipt_primitives::check::echo(&e.to_string())))?;
    let mode = match receipt.source.get().map(|s| s.tracked.mode.as_str()) {
        Some("git") => TrackMode::Git,
        Some("walk") => TrackMode::Walk,
        Some(m) => {
            return Err(ListingError::UnknownMode(receipt_primitives::check::echo(
                m,
            )));
        }
        None => return Err(ListingError::NoSource),
    };
    Ok(TrackedTree {
        mode,
        files: ext.tracked_files,
    })
}

/// `tracked-listing`: the recorded file list hashes to the manifest's root.
fn tracked_listing(
    report: &mut Report,
    line: &HeadLine,
    manifest: &Manifest,
    receipt: &Receipt,
) -> Option<TrackedTree> {
    let file = Some(line.path.as_str());
    match listing_of(receipt) {
        Ok(tree) => {
            let root = tree.root();
            let recorded = receipt.source.get().map(|s| s.tracked.files);
            if recorded != Some(tree.files.len() as u64) {
                report.push(
                    CheckId::SourceListing,
                    Verdict::Fail,
                    file,
                    format!(
                        "{} lists {} tracked files, but its source.tracked.files is {}",
                        line.path,
                        tree.files.len(),
                        recorded.map_or_else(|| "unavailable".to_owned(), |n| n.to_string())
                    ),
                );
                None
            } else if root == manifest.merkle_root {
                report.push(
                    CheckId::SourceListing,
                    Verdict::Pass,
                    file,
                    format!(
                        "the {} tracked files listed in {} hash to the manifest's merkle_root",
                        tree.files.len(),
                        line.path
                    ),
                );
                Some(tree)
            } else {
                report.push(
                    CheckId::SourceListing,
                    Verdict::Fail,
                    file,
                    format!(
                        "the tracked files listed in {} hash to {root}, but the manifest's merkle_root is {}",
                        line.path, manifest.merkle_root
                    ),
                );
                None
            }
        }
        Err(why) => {
            report.push(
                CheckId::SourceListing,
                Verdict::Fail,
                file,
                format!("{}: {why}", line.path),
            );
            None
        }
    }
}

/// `artifacts.hashes`: every recorded artifact present in the target directory has its
/// recorded size and hash; absent ones are a warning (a cleaned or other machine's target
/// dir). Artifact paths are read through [`confine`]: a path that breaks the path rule or
/// goes through a symlink is a FAIL and is never opened, a FIFO or device is never read,
/// and no file is hashed past its recorded size.
fn check_artifacts(report: &mut Report, line: &HeadLine, receipt: &Receipt, target_dir: &Path) {
    let Section::Available(arts) = &receipt.artifacts else {
        report.push(
            CheckId::ArtifactsHashes,
            Verdict::Unknown,
            Some(&line.path),
            format!("{} has no artifacts section to check", line.path),
        );
        return;
    };
    let mut checked = 0usize;
    let mut missing = Vec::new();
    let mut failed = false;
    for a in &arts.files {
        let shown = format!("{}/{}", echo(&arts.root), echo(&a.path));
        let outcome = confine::open_under(target_dir, &a.path).and_then(|f| {
            let size = f.size;
            if size != a.size {
                return Ok(Err(format!(
                    "{shown} has {size} bytes, but {} records {}",
                    line.path, a.size
                )));
            }
            let (d, n) = f.sha256_bounded(&shown, a.size)?;
            Ok(if n != a.size {
                Err(format!("{shown} changed size while it was read"))
            } else if d != a.sha256 {
                Err(format!(
                    "{shown} has SHA-256 {d}, but {} records {}",
                    line.path, a.sha256
                ))
            } else {
                Ok(())
            })
        });
        let (verdict, detail) = match outcome {
            Ok(Ok(())) => {
                checked += 1;
                continue;
            }
            Err(e) if e.is_missing() => {
                missing.push(shown);
                continue;
            }
            Ok(Err(why)) => (Verdict::Fail, why),
            Err(e @ confine::ReadError::Io { .. }) => (Verdict::Unknown, e.to_string()),
            Err(e @ confine::ReadError::Path { .. }) => (Verdict::Fail, format!("artifact {e}")),
            // The reader names the path relative to the target directory.
            Err(e) => (Verdict::Fail, format!("{}/{e}", echo(&arts.root))),
        };
        failed = true;
        report.push(CheckId::ArtifactsHashes, verdict, Some(&shown), detail);
    }
    if !missing.is_empty() {
        report.push(
            CheckId::ArtifactsHashes,
            Verdict::Warn,
            None,
            format!(
                "{} of {} recorded artifacts are not in the target directory (first: {})",
                missing.len(),
                arts.files.len(),
                missing[0]
            ),
        );
    }
    if !failed && checked > 0 {
        report.push(
            CheckId::ArtifactsHashes,
            Verdict::Pass,
            None,
            format!("{checked} artifacts in the target directory have their recorded SHA-256"),
        );
    }
    if !failed && checked == 0 && missing.is_empty() {
        report.push(
            CheckId::ArtifactsHashes,
            Verdict::Pass,
            None,
            "the receipt records no artifacts",
        );
    }
}

/// `source.commit`: a commit recorded in the receipt is the work tree's `HEAD`.
fn check_commit(report: &mut Report, receipt: &Receipt, root: &Path) {
    let recorded = receipt
        .source
        .get()
        .and_then(|s| s.git.get())
        .and_then(|g| g.commit.clone());
    let Some(recorded) = recorded else {
        return;
    };
    let now = receipt_scan::git::git_info(root);
    match now.get().and_then(|g| g.commit.as_deref()) {
        Some(head) if head == recorded => report.push(
            CheckId::SourceCommit,
            Verdict::Pass,
            None,
            format!("the work tree's HEAD is the recorded commit {head}"),
        ),
        Some(head) => report.push(
            CheckId::SourceCommit,
            Verdict::Fail,
            None,
            format!(
                "the receipt records commit {}, but the work tree's HEAD is {head}",
                echo(&recorded)
            ),
        ),
        None => report.push(
            CheckId::SourceCommit,
            Verdict::Unknown,
            None,
            format!(
                "the receipt records commit {}, but the work tree's HEAD cannot be read",
                echo(&recorded)
            ),
        ),
    }
}

/// `source`: the current work tree has the tracked-set root of the latest manifest; when it
/// does not, the first differing files are named.
fn check_source(
    report: &mut Report,
    manifest: &Manifest,
    listing: Option<&TrackedTree>,
    root: &Path,
    target_dir: &Path,
) {
    let now = match crate::build::scan_tree(root, target_dir, false) {
        Ok(t) => t,
        Err(e) => {
            report.push(CheckId::SourceTree, Verdict::Unknown, None, e.to_string());
            return;
        }
    };
    let got = now.root();
    if got == manifest.merkle_root {
        report.push(
            CheckId::SourceTree,
            Verdict::Pass,
            None,
            format!(
                "the work tree's {} tracked files hash to the manifest's merkle_root",
                now.files.len()
            ),
        );
        return;
    }
    let Some(recorded) = listing else {
        report.push(
            CheckId::SourceTree,
            Verdict::Fail,
            None,
            format!(
                "the work tree hashes to {got}, not the manifest's merkle_root {}",
                manifest.merkle_root
            ),
        );
        return;
    };
    let d = recorded.diff(&now);
    let mut named: Vec<(&str, &str)> = Vec::new();
    named.extend(d.changed.iter().map(|p| ("changed", p.as_str())));
    named.extend(d.added.iter().map(|p| ("added", p.as_str())));
    named.extend(d.removed.iter().map(|p| ("removed", p.as_str())));
    named.sort_by(|a, b| a.1.cmp(b.1));
    if named.is_empty() {
        report.push(
            CheckId::SourceTree,
            Verdict::Fail,
            None,
            format!(
                "the work tree has the recorded files but is listed in {} mode, not {} mode",
                now.mode, recorded.mode
            ),
        );
    }
    const SHOWN: usize = 10;
    for (what, path) in named.iter().take(SHOWN) {
        report.push(
            CheckId::SourceTree,
            Verdict::Fail,
            Some(path),
            format!("{path} was {what} since the build (the work tree no longer matches the manifest's merkle_root)"),
        );
    }
    if named.len() > SHOWN {
        report.push(
            CheckId::SourceTree,
            Verdict::Fail,
            None,
            format!("{} more files differ", named.len() - SHOWN),
        );
    }
}
