//! A cache of the resolved build graph, so that a no-op rebuild does not run and parse
//! `cargo metadata` again (on this workspace that costs more than the build itself).
//!
//! An entry is used only when its key (producer version, arguments, target, toolchain,
//! working directory, cargo binary, every `CARGO*` / `RUST*` variable) is the same and
//! every input file cargo resolves from still has the recorded content: `Cargo.lock`, the
//! manifest of every local package, and every cargo configuration file cargo would read.
//! The build runs first and rewrites `Cargo.lock` whenever the resolution changes, so an
//! unchanged lock file and manifests mean an unchanged resolve.

use std::fs;
use std::path::{Path, PathBuf};

use cargo_metadata::Metadata;
use receipt_graph::CanonicalGraph;
use receipt_primitives::{Digest, jcs};
use serde::{Deserialize, Serialize};

use crate::cli::BuildArgs;
use crate::graph::BuildGraph;

/// The cache file, relative to the target directory.
pub const CACHE_FILE: &str = ".receipt-cache/graph-v1.json";

/// The workspace facts and graph a build's receipt needs from `cargo metadata`.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The workspace root.
    pub workspace_root: PathBuf,
    /// The target directory.
    pub target_dir: PathBuf,
    /// The build graph.
    pub graph: BuildGraph,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Entry {
    key: Digest,
    /// Absolute input files and their SHA-256, `None` for a file that did not exist.
    inputs: Vec<(PathBuf, Option<Digest>)>,
    workspace_root: PathBuf,
    target_dir: PathBuf,
    members: Vec<String>,
    dev: bool,
    graph_json: String,
}

/// Everything besides input files that `cargo metadata`'s answer depends on.
#[derive(Serialize)]
struct KeyDoc<'a> {
    producer: String,
    args: Vec<String>,
    metadata_flags: Vec<String>,
    target: &'a str,
    rustc_vv: &'a str,
    cwd: String,
    cargo: String,
    cargo_stamp: Option<(u64, u128)>,
    env: Vec<(String, String)>,
}

/// The cache key of a build.
pub fn key(args: &BuildArgs, target: &str, rustc_vv: &str) -> Option<Digest> {
    let cargo = crate::exec::cargo_program();
    let cargo_stamp = which(Path::new(&cargo)).and_then(|p| {
        let md = fs::metadata(p).ok()?;
        let mtime = md
            .modified()
            .ok()?
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?;
        Some((md.len(), mtime.as_nanos()))
    });
    let mut env: Vec<(String, String)> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.to_string_lossy().into_owned())))
        .filter(|(k, _)| k.starts_with("CARGO") || k.starts_with("RUST"))
        .collect();
    env.sort();
    let doc = KeyDoc {
        producer: crate::producer(),
        args: args.forwarded(),
        metadata_flags: args.metadata_feature_flags(),
        target,
        rustc_vv,
        cwd: std::env::current_dir().ok()?.to_string_lossy().into_owned(),
        cargo: cargo.to_string_lossy().into_owned(),
        cargo_stamp,
        env,
    };
    jcs::sha256(&doc).ok()
}

/// The program `cargo` resolves to on `PATH`, or the path itself when it has a separator.
fn which(program: &Path) -> Option<PathBuf> {
    if program.components().count() > 1 {
        return Some(program.to_path_buf());
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

/// Where the cache of a build whose artifacts are `artifact_files` lives: found by walking
/// up from the first artifact to the directory cargo tagged with `CACHEDIR.TAG`.
fn cache_path(artifact_files: &[PathBuf]) -> Option<PathBuf> {
    let first = artifact_files.first()?;
    first
        .ancestors()
        .skip(1)
        .find(|d| d.join("CACHEDIR.TAG").is_file())
        .map(|d| d.join(CACHE_FILE))
}

/// The cached resolution, when it is still valid.
pub fn lookup(artifact_files: &[PathBuf], key: &Digest) -> Option<Resolved> {
    let path = cache_path(artifact_files)?;
    let entry: Entry = serde_json::from_slice(&fs::read(&path).ok()?).ok()?;
    if entry.key != *key || path != entry.target_dir.join(CACHE_FILE) {
        return None;
    }
    for (file, digest) in &entry.inputs {
        if file_digest(file) != *digest {
            return None;
        }
    }
    let canonical = CanonicalGraph::from_json_bytes(entry.graph_json.as_bytes()).ok()?;
    Some(Resolved {
        workspace_root: entry.workspace_root,
        target_dir: entry.target_dir,
        graph: BuildGraph {
            canonical,
            members: entry.members,
            dev: entry.dev,
        },
    })
}

/// Records a resolution made from `meta`. Failing to write the cache is not an error: it
/// only saves time.
pub fn store(key: &Digest, meta: &Metadata, resolved: &Resolved) {
    let root = &resolved.workspace_root;
    let mut files: Vec<PathBuf> = vec![root.join("Cargo.lock"), root.join("Cargo.toml")];
    files.extend(
        meta.packages
            .iter()
            .filter(|p| p.source.is_none())
            .map(|p| p.manifest_path.as_std_path().to_path_buf()),
    );
    files.extend(config_files());
    files.sort();
    files.dedup();
    let inputs = files
        .into_iter()
        .map(|f| {
            let d = file_digest(&f);
            (f, d)
        })
        .collect();
    let entry = Entry {
        key: *key,
        inputs,
        workspace_root: root.clone(),
        target_dir: resolved.target_dir.clone(),
        members: resolved.graph.members.clone(),
        dev: resolved.graph.dev,
        graph_json: String::from_utf8_lossy(&resolved.graph.canonical.to_json_bytes()).into_owned(),
    };
    let path = resolved.target_dir.join(CACHE_FILE);
    let (Some(dir), Ok(bytes)) = (path.parent(), serde_json::to_vec(&entry)) else {
        return;
    };
    let _ = fs::create_dir_all(dir);
    let tmp = dir.join(format!(".graph-{}.tmp", std::process::id()));
    if fs::write(&tmp, bytes).is_ok() && fs::rename(&tmp, &path).is_err() {
        let _ = fs::remove_file(&tmp);
    }
}

/// Every cargo configuration file cargo reads for a build in the current directory: in
/// `.cargo/` of the directory and each ancestor, and in `$CARGO_HOME`.
fn config_files() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::current_dir()
        .map(|cwd| cwd.ancestors().map(|a| a.join(".cargo")).collect())
        .unwrap_or_default();
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    dirs.extend(home);
    dirs.iter()
        .flat_map(|d| [d.join("config.toml"), d.join("config")])
        .collect()
}

fn file_digest(path: &Path) -> Option<Digest> {
    fs::read(path).ok().map(|b| Digest::of(&b))
}
