//! `cargo receipt build`: run the build, then write its manifest, receipt and graph and
//! append them to the chain.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use cargo_metadata::{Metadata, MetadataCommand};
use receipt_primitives::{Digest, Timestamp};
use receipt_protocol::assemble::{BuildFacts, assemble};
use receipt_protocol::ledger::Ledger;
use receipt_protocol::receipt::{Artifacts, Section, Work};
use receipt_scan::git::git_info;
use receipt_scan::{ScanOptions, TrackedTree};
use serde::Serialize;
use serde_json::Value;

use crate::cli::BuildArgs;
use crate::exec::{BuildRun, cargo_program, run_cargo_build};
use crate::exit::Error;
use crate::graph::{BuildGraph, build_graph};
use crate::graph_cache::{self, Resolved};
use crate::ingress::{Features, INGRESS_SCHEMA, Ingress, host_triple, recorded_env};

/// The receipt's `kind` for Cargo builds.
pub const KIND: &str = receipt_protocol::receipt::KIND_CARGO;

/// The name of the receipt extension this producer writes.
pub const EXTENSION: &str = "cargo";

/// The digest cache of the tracked-set scan, relative to the target directory.
pub const TRACKED_CACHE: &str = ".receipt-cache/tracked-v1";

/// The output directory inside the target directory when `--out` is not given.
pub const DEFAULT_OUT: &str = "receipt";

/// The `cargo` receipt extension.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CargoExtension {
    /// Keys of the selected workspace members, sorted.
    pub members: Vec<String>,
    /// The profile name.
    pub profile: String,
    /// The platform triple the build was for.
    pub target: String,
    /// Whether the members' dev-dependency edges are in the graph.
    pub dev_dependencies: bool,
    /// The tracked set whose root the manifest carries, file by file, so that proofs and
    /// source comparisons can be made from the output directory alone.
    pub tracked_files: Vec<receipt_protocol::tracked::TrackedFile>,
}

/// What `cargo receipt build` reports when it is done.
#[derive(Debug, Clone)]
pub struct Built {
    /// The output directory.
    pub out: PathBuf,
    /// 1-based position of the new receipt on the chain.
    pub seq: u64,
    /// Whether the build succeeded.
    pub success: bool,
    /// cargo's exit code for a failed build (128 + signal when it was killed).
    pub failure_code: u8,
    /// With `--sign`: the size of the signed checkpoint written.
    pub checkpoint_size: Option<u64>,
}

/// Runs `cargo receipt build`.
///
/// # Errors
/// [`Error`] when the build could not be started or its receipt not written; a build that
/// ran and failed is not an error here (see [`Built::success`]).
pub fn build(args: &BuildArgs) -> Result<Built, Error> {
    // A key that cannot be used is refused before anything is built.
    let keys = crate::sign::load_signing_keys(&args.sign)?;
    let project_dir = project_dir(args.manifest_path.as_deref())?;
    // `rustc -vV` runs while cargo builds. `cargo metadata` runs after the build: run
    // concurrently, the two cargos would wait for each other's package-cache lock, and the
    // user would see cargo's "Blocking waiting for file lock" message.
    let (run, toolchain) = std::thread::scope(|s| {
        let toolchain = s.spawn(|| rustc_vv(&project_dir));
        let run = run_cargo_build(&args.forwarded());
        let toolchain = toolchain
            .join()
            .unwrap_or_else(|_| Err(Error::Usage("running `rustc -vV` panicked".into())));
        (run, toolchain)
    });
    let run = run?;
    let failure_code = failure_code(&run);
    let prep = toolchain.and_then(|rustc_vv| prepare(args, rustc_vv));
    match prep.and_then(|p| record(args, p, &run, &keys)) {
        Ok((out, seq)) => Ok(Built {
            out,
            seq,
            success: run.success(),
            failure_code,
            checkpoint_size: (!keys.is_empty()).then_some(seq),
        }),
        Err(e) if !run.success() => Err(Error::BuildFailedUnrecorded {
            code: failure_code,
            why: e.to_string(),
        }),
        Err(e) => Err(e),
    }
}

/// What is known about the project independently of the build's outcome.
struct Prepared {
    rustc_vv: String,
    target: String,
}

fn prepare(args: &BuildArgs, rustc_vv: String) -> Result<Prepared, Error> {
    let target = match (&args.target, std::env::var("CARGO_BUILD_TARGET")) {
        (Some(t), _) => t.clone(),
        (None, Ok(t)) if !t.is_empty() => t,
        _ => host_triple(&rustc_vv)
            .ok_or_else(|| Error::Usage("`rustc -vV` printed no `host:` line".into()))?
            .to_owned(),
    };
    Ok(Prepared { rustc_vv, target })
}

/// The workspace and its build graph: from the cache when nothing it depends on changed,
/// else from `cargo metadata`.
fn resolve(args: &BuildArgs, prep: &Prepared, run: &BuildRun) -> Result<Resolved, Error> {
    let key = graph_cache::key(args, &prep.target, &prep.rustc_vv);
    if let Some(hit) = key
        .as_ref()
        .and_then(|k| graph_cache::lookup(&run.artifact_files, k))
    {
        return Ok(hit);
    }
    let meta = metadata(args, &prep.target)?;
    let resolved = Resolved {
        workspace_root: meta.workspace_root.as_std_path().to_path_buf(),
        target_dir: meta.target_directory.as_std_path().to_path_buf(),
        graph: build_graph(&meta, args)?,
    };
    if let Some(k) = &key {
        graph_cache::store(k, &meta, &resolved);
    }
    Ok(resolved)
}

/// Everything after the build: graph, tracked set, ingress, manifest, receipt, ledger.
fn record(
    args: &BuildArgs,
    prep: Prepared,
    run: &BuildRun,
    keys: &[receipt_attest::SigningKey],
) -> Result<(PathBuf, u64), Error> {
    let Resolved {
        workspace_root: root,
        target_dir,
        graph,
    } = resolve(args, &prep, run)?;
    let Prepared { rustc_vv, target } = prep;
    let out = match &args.out {
        Some(o) => std::path::absolute(o).map_err(Error::io(o))?,
        None => target_dir.join(DEFAULT_OUT),
    };

    let tree = scan_tree(&root, &target_dir, true)?;

    let ingress = Ingress {
        schema: INGRESS_SCHEMA,
        args: args.recorded(&root),
        profile: args.profile_name(),
        target: target.clone(),
        features: Features {
            all: args.all_features,
            default: !args.no_default_features,
            list: args.feature_list(),
        },
        members: graph.members.clone(),
        rustc_vv,
        cargo_lock_sha256: cargo_lock_sha256(&root)?,
        env: recorded_env(std::env::vars_os()),
    };
    let ingress = serde_json::to_value(&ingress)
        .map_err(|e| Error::Usage(format!("the ingress preimage cannot be serialized: {e}")))?;
    let timestamp = Timestamp::now_or_source_date_epoch()
        .map_err(|e| Error::Usage(format!("environment variable SOURCE_DATE_EPOCH: {e}")))?;
    let artifacts = crate::artifacts::hash_artifacts(&run.artifact_files, &target_dir)?;
    let record = assemble(BuildFacts {
        kind: KIND,
        producer: crate::producer(),
        timestamp,
        ingress,
        tree: &tree,
        git: git_info(&root),
        graph_kind: KIND,
        graph: &graph.canonical,
        work: Section::Available(work(run)),
        artifacts: Section::Available(Artifacts {
            root: "target".to_owned(),
            files: artifacts,
        }),
        extensions: extensions(&graph, args, &target, &tree)?,
    })
    .map_err(|e| Error::Usage(e.to_string()))?;
    let ledger = Ledger::create(&out)?;
    let appended = if keys.is_empty() {
        ledger.append(record)?
    } else {
        let facts = crate::sign::cargo_facts(&root, None)?;
        ledger.append_signed(record, &receipt_protocol::sign::Signer { keys }, &facts)?
    };
    Ok((out, appended.seq))
}

/// The exit code a failed build is reported with (exit 0 with a failed `build-finished`
/// message is still a failure: 101, cargo's own).
fn failure_code(run: &BuildRun) -> u8 {
    receipt_protocol::exit::build_failure(run.exit_code, run.signal, 101)
}

fn work(run: &BuildRun) -> Work {
    Work {
        status: if run.success() { "success" } else { "failed" }.to_owned(),
        exit_code: run.exit_code,
        wall_ms: run.wall_ms,
        cpu_ms: run.cpu_ms,
        peak_rss_kb: run.peak_rss_kb,
    }
}

fn extensions(
    graph: &BuildGraph,
    args: &BuildArgs,
    target: &str,
    tree: &TrackedTree,
) -> Result<BTreeMap<String, Value>, Error> {
    let ext = CargoExtension {
        members: graph.members.clone(),
        profile: args.profile_name(),
        target: target.to_owned(),
        dev_dependencies: graph.dev,
        tracked_files: tree.files.clone(),
    };
    let v = serde_json::to_value(ext)
        .map_err(|e| Error::Usage(format!("the cargo extension cannot be serialized: {e}")))?;
    Ok(BTreeMap::from([(EXTENSION.to_owned(), v)]))
}

/// The tracked set of the workspace; with `cached`, digests of unchanged files come from
/// the cache under the target directory (verification reads every file instead).
///
/// # Errors
/// [`Error::BadFile`] naming the file or directory the scan could not read.
pub fn scan_tree(root: &Path, target_dir: &Path, cached: bool) -> Result<TrackedTree, Error> {
    // A target directory inside the workspace holds the build's outputs and the receipts
    // themselves: it is never part of the tracked set, whether or not git ignores it.
    let exclude_prefixes = target_dir
        .strip_prefix(root)
        .ok()
        .and_then(|rel| rel.to_str())
        .filter(|rel| !rel.is_empty())
        .map(|rel| vec![format!("{}/", rel.replace('\\', "/"))])
        .unwrap_or_default();
    let opts = ScanOptions {
        cache_path: cached.then(|| target_dir.join(TRACKED_CACHE)),
        exclude_prefixes,
        ..ScanOptions::default()
    };
    receipt_scan::scan(root, &opts).map_err(|e| Error::BadFile {
        path: root.to_path_buf(),
        what: format!("the tracked set cannot be scanned: {e}"),
    })
}

/// The directory cargo and rustc run in: the manifest's directory, else the current one.
fn project_dir(manifest_path: Option<&Path>) -> Result<PathBuf, Error> {
    let cwd = std::env::current_dir().map_err(Error::io("."))?;
    Ok(match manifest_path.and_then(Path::parent) {
        Some(p) if !p.as_os_str().is_empty() => cwd.join(p),
        _ => cwd,
    })
}

/// `rustc -vV`, run where cargo would run it so a `rust-toolchain.toml` applies.
fn rustc_vv(dir: &Path) -> Result<String, Error> {
    let program = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = Command::new(&program)
        .arg("-vV")
        .current_dir(dir)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|source| Error::Spawn {
            program: program.to_string_lossy().into_owned(),
            source,
        })?;
    if !out.status.success() {
        return Err(Error::Usage(format!(
            "`{} -vV` failed with {}",
            program.to_string_lossy(),
            out.status
        )));
    }
    String::from_utf8(out.stdout)
        .map_err(|_| Error::Usage("`rustc -vV` printed invalid UTF-8".into()))
}

/// `cargo metadata` resolved for `target` with the build's features.
fn metadata(args: &BuildArgs, target: &str) -> Result<Metadata, Error> {
    let mut cmd = MetadataCommand::new();
    cmd.cargo_path(cargo_program());
    if let Some(m) = &args.manifest_path {
        cmd.manifest_path(m);
    }
    let mut opts = vec![format!("--filter-platform={target}")];
    opts.extend(args.metadata_feature_flags());
    for (flag, on) in [
        ("--locked", args.locked),
        ("--offline", args.offline),
        ("--frozen", args.frozen),
    ] {
        if on {
            opts.push(flag.to_owned());
        }
    }
    cmd.other_options(opts);
    Ok(cmd.exec()?)
}

/// Metadata without dependencies, to find the workspace root and target directory.
///
/// # Errors
/// [`Error::Metadata`] when cargo cannot read the project.
pub fn locate(manifest_path: Option<&Path>) -> Result<Metadata, Error> {
    let mut cmd = MetadataCommand::new();
    cmd.cargo_path(cargo_program()).no_deps();
    if let Some(m) = manifest_path {
        cmd.manifest_path(m);
    }
    Ok(cmd.exec()?)
}

/// SHA-256 of the workspace's `Cargo.lock`, `None` when there is none.
fn cargo_lock_sha256(root: &Path) -> Result<Option<Digest>, Error> {
    let path = root.join("Cargo.lock");
    match std::fs::read(&path) {
        Ok(b) => Ok(Some(Digest::of(&b))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(path)(e)),
    }
}
