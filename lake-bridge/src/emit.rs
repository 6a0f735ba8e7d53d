//! Assembling the receipt of a Lake project (manifest, receipt, module graph, and the `lake`
//! extension) and appending it to the ledger in the output directory.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::PathBuf;

use receipt_attest::SigningKey;
use receipt_graph::CanonicalGraph;
use receipt_primitives::{Digest, Timestamp};
use receipt_protocol::assemble::{BuildFacts, assemble};
use receipt_protocol::ledger::{Appended, BuildRecord, Ledger};
use receipt_protocol::provenance::{ResourceDescriptor, git_dependency};
use receipt_protocol::receipt::{Artifacts, Section, Work};
use receipt_scan::git::git_info;
use receipt_scan::{ScanOptions, TrackedTree, scan};
use serde_json::{Value, json};

use crate::config::LakeConfig;
use crate::error::Error;
use crate::lake::{BUILD_DIR, BuildOutputs, LakeRun, collect_outputs, run_lake_build};
use crate::lake_manifest::EntrySource;
use crate::modules::ModuleGraph;
use crate::project::Project;

/// The producer string of manifests and receipts written by this crate.
pub const PRODUCER: &str = concat!("lake-receipt ", env!("CARGO_PKG_VERSION"));

/// The default output directory, relative to the project root.
pub const DEFAULT_OUT_DIR: &str = ".lake/receipt";

/// The tracked-set digest cache, relative to the project root (inside the build directory,
/// so it is never part of the tracked set).
pub const TRACKED_CACHE: &str = ".lake/receipt-cache/tracked";

/// The receipt's `kind`.
pub const KIND: &str = receipt_protocol::receipt::KIND_LAKE;

/// The graph kind of a Lean module graph.
pub const GRAPH_KIND: &str = "lean-modules";

/// What to build and where to write the receipt.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// The project root (the directory holding the lakefile).
    pub project: PathBuf,
    /// The ledger directory; `None` is `<project>/.lake/receipt`.
    pub out: Option<PathBuf>,
    /// The `lake` program to run, or why it is not run.
    pub lake: LakeProgram,
    /// Arguments forwarded to `lake build`.
    pub lake_args: Vec<OsString>,
    /// The build's timestamp (from `SOURCE_DATE_EPOCH` when set, in the command line tool).
    pub timestamp: Timestamp,
}

/// Whether `lake build` runs, and with which program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LakeProgram {
    /// Run this `lake` executable.
    Run(PathBuf),
    /// Do not run lake, for this reason (one sentence, recorded in the receipt).
    NotRun(String),
}

/// What a build did.
#[derive(Debug, Clone)]
pub struct BuildOutcome {
    /// The ledger directory written.
    pub out_dir: PathBuf,
    /// The ledger entry.
    pub appended: Appended,
    /// `lake build`'s run, when it ran.
    pub lake: Option<LakeRun>,
}

/// Paths of the tracked set that are not sources: build output, and the packages directory
/// (dependencies are pinned by `lake-manifest.json`, which is tracked and in the ingress).
fn tracked_excludes(project: &Project) -> Vec<String> {
    let mut v = vec![".lake/".to_owned()];
    let p = format!("{}/", project.packages_dir);
    if !p.starts_with(".lake/") {
        v.push(p);
    }
    v
}

/// The tracked set of the project root without the excluded prefixes.
fn tracked_tree(project: &Project, excludes: &[String]) -> Result<TrackedTree, Error> {
    let opts = ScanOptions {
        cache_path: Some(project.root.join(TRACKED_CACHE)),
        exclude_prefixes: excludes.to_vec(),
        ..ScanOptions::default()
    };
    scan(&project.root, &opts).map_err(|e| Error::Tracked(e.to_string()))
}

/// The ingress preimage: what the build was asked to do.
fn ingress(project: &Project, lake_args: &[OsString]) -> Value {
    let cfg = project.config();
    json!({
        "kind": KIND,
        "lean_toolchain": project.toolchain,
        "lake_manifest_sha256": project.manifest_bytes.as_ref().map(|b| Digest::of(b).to_hex()),
        "lakefile": {"path": cfg.file, "sha256": Digest::of(&cfg.bytes).to_hex()},
        "lake_build_args": lake_args.iter().map(|a| a.to_string_lossy().into_owned()).collect::<Vec<_>>(),
    })
}

fn config_json(cfg: &LakeConfig) -> Value {
    json!({
        "file": cfg.file,
        "method": cfg.method.as_str(),
        "package": cfg.package,
        "packages_dir": cfg.packages_dir,
        "libs": cfg.libs.iter().map(|l| json!({
            "name": l.name,
            "src_dir": l.src_dir,
            "roots": l.roots.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "globs": l.globs.iter().map(ToString::to_string).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "exes": cfg.exes.iter().map(|x| json!({
            "name": x.name, "src_dir": x.src_dir, "root": x.root.to_string(),
        })).collect::<Vec<_>>(),
        "requires": cfg.requires,
        "notes": cfg.notes,
    })
}

fn section_value(s: Section<Value>) -> Value {
    serde_json::to_value(s).expect("a section of a JSON object always serializes")
}

/// The `extensions.lake` object.
fn lake_extension(
    project: &Project,
    graph: &ModuleGraph,
    excludes: &[String],
    run: Option<&LakeRun>,
    outputs: Option<&BuildOutputs>,
    lake: &LakeProgram,
) -> Value {
    let root_manifest = project.root_package().manifest.as_ref();
    let manifest = match root_manifest {
        Some(m) => Section::Available(json!({
            "file": crate::lake_manifest::LAKE_MANIFEST,
            "version": m.version,
            "name": m.name,
            "packages_dir": m.packages_dir,
            "notes": m.notes,
        })),
        None => Section::unavailable(
            "the project has no lake-manifest.json; dependencies are those its configuration requires",
        ),
    };
    let toolchain = match &project.toolchain {
        Some(t) => Section::Available(json!({ "value": t })),
        None => Section::unavailable("the project has no lean-toolchain file"),
    };
    let packages: Vec<Value> = project
        .packages
        .iter()
        .map(|p| {
            let mut o = json!({
                "name": p.name,
                "dir": p.dir,
                "present": p.present(),
                "requires": p.requires,
                "requires_from": p.requires_from,
            });
            let m = o.as_object_mut().expect("an object");
            if let Some(e) = &p.entry {
                m.insert("inherited".into(), e.inherited.into());
                m.insert("scope".into(), e.scope.clone().into());
                match &e.source {
                    EntrySource::Path { dir } => {
                        m.insert("source".into(), json!({"type": "path", "dir": dir}));
                    }
                    EntrySource::Git { url, rev, input_rev, sub_dir } => {
                        m.insert(
                            "source".into(),
                            json!({"type": "git", "url": url, "rev": rev, "input_rev": input_rev, "sub_dir": sub_dir}),
                        );
                    }
                }
            } else {
                m.insert("source".into(), json!({"type": "root"}));
            }
            if let Some(c) = &p.config {
                m.insert("config_file".into(), c.file.into());
                m.insert("config_method".into(), c.method.as_str().into());
            }
            o
        })
        .collect();
    let mut package_edges: Vec<(&str, &str)> = project
        .packages
        .iter()
        .flat_map(|p| {
            p.requires
                .iter()
                .map(move |r| (p.name.as_str(), r.as_str()))
        })
        .collect();
    package_edges.sort_unstable();
    package_edges.dedup();
    let build = match (run, outputs, lake) {
        (Some(run), Some(out), _) => Section::Available(json!({
            "command": run.argv,
            "exit_code": run.work.exit_code,
            "traces": out.traces,
        })),
        (_, _, LakeProgram::NotRun(reason)) => Section::unavailable(reason.clone()),
        _ => Section::unavailable("lake was not run"),
    };
    let per_package: BTreeMap<&str, usize> =
        graph.sources.values().fold(BTreeMap::new(), |mut acc, m| {
            *acc.entry(project.packages[m.package].name.as_str())
                .or_default() += 1;
            acc
        });
    json!({
        "config": config_json(project.config()),
        "manifest": section_value(manifest),
        "toolchain": section_value(toolchain),
        "packages_dir": {"path": project.packages_dir, "from": project.packages_dir_from},
        "packages": packages,
        "package_edges": package_edges,
        "modules": {
            "with_source": graph.sources.len(),
            "module_system": graph.sources.values().filter(|m| m.is_module).count(),
            "per_package": per_package,
            "external": graph.external.iter().map(|(n, r)| json!({"name": n, "reason": r.as_str()})).collect::<Vec<_>>(),
        },
        "build": section_value(build),
        "tracked_excludes": excludes,
    })
}

/// The manifest, receipt and graph file of one build, not yet on the ledger.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The ledger record.
    pub record: BuildRecord,
    /// `lake build`'s run, when it ran.
    pub lake: Option<LakeRun>,
    /// The provenance's resolved dependencies: every git package of `lake-manifest.json`
    /// with its rev (docs/SPEC.md §14.4).
    pub dependencies: Vec<ResourceDescriptor>,
}

/// `runDetails.builder.id` of the provenance this version writes.
pub fn builder_id() -> String {
    format!(
        "https://receipt.dev/lake-receipt@{}",
        env!("CARGO_PKG_VERSION")
    )
}

/// The root manifest's git packages as provenance dependencies, in file order:
/// `git+<url>@<rev>`, with a `gitCommit` digest when the rev is a commit id.
fn dependencies(project: &Project) -> Vec<ResourceDescriptor> {
    project
        .packages
        .iter()
        .filter_map(|p| match &p.entry.as_ref()?.source {
            EntrySource::Git { url, rev, .. } => Some(git_dependency(&p.name, url, rev)),
            EntrySource::Path { .. } => None,
        })
        .collect()
}

/// Reads the project, runs `lake build` when a program is given, and assembles the record.
///
/// # Errors
/// Any [`Error`] of reading the project, its headers, the tracked set or the build outputs;
/// a failing `lake build` is not an error (its exit code is in the receipt).
pub fn prepare(opts: &BuildOptions) -> Result<Prepared, Error> {
    let project = Project::load(&opts.project)?;
    let graph = ModuleGraph::build(&project)?;
    let (run, outputs) = match &opts.lake {
        LakeProgram::Run(program) => {
            let run = run_lake_build(program, &project.root, &opts.lake_args)?;
            let outputs = collect_outputs(&project.root)?;
            (Some(run), Some(outputs))
        }
        LakeProgram::NotRun(_) => (None, None),
    };
    let excludes = tracked_excludes(&project);
    let tree = tracked_tree(&project, &excludes)?;
    let canonical: CanonicalGraph = graph.canonical()?;
    let not_run = || match &opts.lake {
        LakeProgram::NotRun(reason) => reason.clone(),
        LakeProgram::Run(_) => "lake was not run".to_owned(),
    };
    let work: Section<Work> = match &run {
        Some(r) => Section::Available(r.work.clone()),
        None => Section::unavailable(not_run()),
    };
    let artifacts = match &outputs {
        Some(o) => Section::Available(Artifacts {
            root: BUILD_DIR.to_owned(),
            files: o.files.clone(),
        }),
        None => Section::unavailable(not_run()),
    };
    let extension = lake_extension(
        &project,
        &graph,
        &excludes,
        run.as_ref(),
        outputs.as_ref(),
        &opts.lake,
    );
    let record = assemble(BuildFacts {
        kind: KIND,
        producer: PRODUCER.to_owned(),
        timestamp: opts.timestamp,
        ingress: ingress(&project, &opts.lake_args),
        tree: &tree,
        git: git_info(&project.root),
        graph_kind: GRAPH_KIND,
        graph: &canonical,
        work,
        artifacts,
        extensions: BTreeMap::from([(KIND.to_owned(), extension)]),
    })
    .map_err(|e| Error::Serialize(e.to_string()))?;
    Ok(Prepared {
        record,
        lake: run,
        dependencies: dependencies(&project),
    })
}

/// [`prepare`], then appends the record to the ledger in the output directory.
///
/// # Errors
/// As [`prepare`], and [`Error::Ledger`] when the append fails (the chain is unchanged).
pub fn build(opts: &BuildOptions) -> Result<BuildOutcome, Error> {
    build_signed(opts, &[])
}

/// [`build`], signed with `keys` when there are any (docs/SPEC.md §14): the entry's
/// `receipt.dsse.json` and `provenance.intoto.jsonl` are written with it, then the tree
/// store and the signed `checkpoint`.
///
/// # Errors
/// As [`build`].
pub fn build_signed(opts: &BuildOptions, keys: &[SigningKey]) -> Result<BuildOutcome, Error> {
    let prepared = prepare(opts)?;
    let out_dir = opts
        .out
        .clone()
        .unwrap_or_else(|| opts.project.join(DEFAULT_OUT_DIR));
    let ledger = Ledger::create(&out_dir)?;
    let appended = if keys.is_empty() {
        ledger.append(prepared.record)?
    } else {
        let facts = receipt_protocol::sign::BuildFacts {
            builder_id: builder_id(),
            builder_version: BTreeMap::new(),
            repository: receipt_scan::git::repository(&opts.project),
            dependencies: prepared.dependencies,
        };
        ledger.append_signed(
            prepared.record,
            &receipt_protocol::sign::Signer { keys },
            &facts,
        )?
    };
    Ok(BuildOutcome {
        out_dir,
        appended,
        lake: prepared.lake,
    })
}
