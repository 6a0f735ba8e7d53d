//! The module graph: module name → source path resolution across the workspace's
//! libraries, header parsing of every module reachable from the root package's targets, and
//! the importer → imported edges.

use receipt_primitives::confine;
use std::collections::{BTreeMap, BTreeSet};

use rayon::prelude::*;

use crate::config::join_dir;
use crate::error::Error;
use crate::header::{Header, parse_header};
use crate::name::ModName;
use crate::project::Project;

/// Module roots provided by the Lean toolchain, never by a package's sources.
pub const TOOLCHAIN_ROOTS: [&str; 4] = ["Init", "Std", "Lean", "Lake"];

/// Why a module of the graph has no source here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ExternalReason {
    /// `Init`, `Std`, `Lean`, `Lake`: shipped with the toolchain.
    Toolchain,
    /// No present package provides it (a dependency that is not checked out).
    NotPresent,
    /// A present dependency claims it, but its file is missing there.
    MissingInDependency,
}

impl ExternalReason {
    /// The name recorded in the receipt.
    pub fn as_str(self) -> &'static str {
        match self {
            ExternalReason::Toolchain => "toolchain",
            ExternalReason::NotPresent => "not-present",
            ExternalReason::MissingInDependency => "missing-in-dependency",
        }
    }
}

/// A module whose source was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceModule {
    /// Index of its package in [`Project::packages`].
    pub package: usize,
    /// Source path relative to the project root.
    pub path: String,
    /// Whether its header says `module`.
    pub is_module: bool,
}

/// The module graph of the root package's targets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModuleGraph {
    /// Modules with sources, by name.
    pub sources: BTreeMap<String, SourceModule>,
    /// Modules without sources (leaves), by name.
    pub external: BTreeMap<String, ExternalReason>,
    /// Importer → imported, by name.
    pub edges: BTreeSet<(String, String)>,
}

/// Where a library or executable keeps a module.
#[derive(Clone, Copy)]
struct Home<'p> {
    package: usize,
    src_dir: &'p str,
}

struct Resolver<'p> {
    project: &'p Project,
    /// Libraries and executables of present packages, in package order.
    homes: Vec<(Home<'p>, Claim<'p>)>,
}

enum Claim<'p> {
    Lib(&'p crate::config::LeanLib),
    Exe(&'p ModName),
}

enum Resolved {
    Source(String, usize),
    Missing(String),
    External(ExternalReason),
    /// The module's file is reached through a symlink or breaks the path rule.
    Unreadable(Error),
}

impl<'p> Resolver<'p> {
    fn new(project: &'p Project) -> Self {
        let mut homes = Vec::new();
        for (i, p) in project.packages.iter().enumerate() {
            let Some(cfg) = &p.config else { continue };
            for l in &cfg.libs {
                homes.push((
                    Home {
                        package: i,
                        src_dir: &l.src_dir,
                    },
                    Claim::Lib(l),
                ));
            }
            for x in &cfg.exes {
                homes.push((
                    Home {
                        package: i,
                        src_dir: &x.src_dir,
                    },
                    Claim::Exe(&x.root),
                ));
            }
        }
        Resolver { project, homes }
    }

    fn path_in(&self, home: Home<'_>, m: &ModName) -> String {
        let pkg = &self.project.packages[home.package].dir;
        join_dir(&join_dir(pkg, home.src_dir), &m.rel_path())
    }

    fn resolve(&self, m: &ModName) -> Resolved {
        for (home, claim) in &self.homes {
            let claims = match claim {
                Claim::Lib(l) => l.claims(m),
                Claim::Exe(root) => *root == m,
            };
            if claims {
                let path = self.path_in(*home, m);
                return match is_source(self.project, &path) {
                    Ok(true) => Resolved::Source(path, home.package),
                    Ok(false) => Resolved::Missing(path),
                    Err(e) => Resolved::Unreadable(e),
                };
            }
        }
        if TOOLCHAIN_ROOTS.contains(&m.root()) {
            Resolved::External(ExternalReason::Toolchain)
        } else {
            Resolved::External(ExternalReason::NotPresent)
        }
    }
}

/// The largest Lean source file read.
pub const SOURCE_BYTES: u64 = 64 << 20;

/// Whether `path` is a module source: a regular file under the project root, reached
/// without symlinks. A symlinked module (or one below a symlinked directory) is an error,
/// never read: its content would not be what the tracked set's leaf describes.
fn is_source(project: &Project, path: &str) -> Result<bool, Error> {
    match confine::kind_under(&project.root, path) {
        Ok(Some(None)) => Ok(true),
        Ok(_) => Ok(false),
        Err(e) => Err(Error::Read(e)),
    }
}

fn parse_file(project: &Project, path: &str) -> Result<Header, Error> {
    let bytes = confine::read_under(&project.root, path, SOURCE_BYTES, "a Lean source file")?;
    let text = std::str::from_utf8(&bytes).map_err(|_| Error::NotUtf8 {
        file: path.to_owned(),
    })?;
    parse_header(text).map_err(|e| Error::Header {
        file: path.to_owned(),
        line: e.line,
        column: e.column,
        message: e.message,
    })
}

/// The modules the root package's targets name directly: each library's globs expanded
/// over its source directory, and each executable's root.
fn target_modules(project: &Project, r: &Resolver<'_>) -> Result<Vec<(ModName, String)>, Error> {
    let cfg = project.config();
    let mut out = Vec::new();
    let missing = |target: String, m: &ModName, path: String| Error::MissingRoot {
        config: cfg.file.to_owned(),
        target,
        module: m.to_string(),
        expected: path,
    };
    for l in &cfg.libs {
        let home = Home {
            package: 0,
            src_dir: &l.src_dir,
        };
        let src_rel = join_dir(".", &l.src_dir);
        // The source directory itself is reached without symlinks, or not walked at all.
        let walkable = src_rel == "." || confine::dir_under(&project.root, &src_rel)?;
        let src_abs = project.root.join(&src_rel);
        for g in &l.globs {
            if !walkable {
                continue;
            }
            let mods = g
                .expand(&src_abs)
                .map_err(Error::io(join_dir(".", &l.src_dir)))?;
            for m in mods {
                let path = r.path_in(home, &m);
                // Submodules were found as files by the directory walk; only the glob's own
                // name may lack a file.
                if &m != g.name() || is_source(project, &path)? {
                    out.push((m, path));
                } else if matches!(g, crate::glob::Glob::One(_)) {
                    return Err(missing(format!("lean_lib {}", l.name), &m, path));
                }
            }
        }
    }
    for x in &cfg.exes {
        let path = r.path_in(
            Home {
                package: 0,
                src_dir: &x.src_dir,
            },
            &x.root,
        );
        if !is_source(project, &path)? {
            return Err(missing(format!("lean_exe {}", x.name), &x.root, path));
        }
        out.push((x.root.clone(), path));
    }
    Ok(out)
}

impl ModuleGraph {
    /// Reads the headers of every module reachable from the root package's library globs
    /// and executable roots, following imports into present dependencies.
    ///
    /// # Errors
    /// [`Error::Header`] for a header that does not parse, [`Error::BadImport`] for an
    /// import of the root package's sources whose file is missing (the first in path and
    /// line order), [`Error::MissingRoot`], [`Error::NotUtf8`], [`Error::Io`].
    pub fn build(project: &Project) -> Result<ModuleGraph, Error> {
        let r = Resolver::new(project);
        let mut g = ModuleGraph::default();
        let mut frontier: BTreeMap<String, (ModName, String, usize)> = BTreeMap::new();
        for (m, path) in target_modules(project, &r)? {
            frontier.insert(m.to_string(), (m, path, 0));
        }
        // The first bad import in (file, line) order, whatever the traversal order was.
        let mut bad: Option<(String, u32, Error)> = None;
        while !frontier.is_empty() {
            let level: Vec<(String, ModName, String, usize)> = frontier
                .into_iter()
                .filter(|(k, _)| !g.sources.contains_key(k))
                .map(|(k, (m, p, pkg))| (k, m, p, pkg))
                .collect();
            // Known before parsing, so imports between modules of one level are not
            // resolved against the file system again.
            for (k, _, p, pkg) in &level {
                g.sources.insert(
                    k.clone(),
                    SourceModule {
                        package: *pkg,
                        path: p.clone(),
                        is_module: false,
                    },
                );
            }
            let parsed: Vec<Result<Header, Error>> = level
                .par_iter()
                .map(|(_, _, p, _)| parse_file(project, p))
                .collect();
            frontier = BTreeMap::new();
            for ((key, _, path, pkg), header) in level.into_iter().zip(parsed) {
                let header = header?;
                let implicit_init =
                    (!header.prelude).then(|| (ModName::parse("Init").expect("a name"), 0));
                for (target, line) in header
                    .imports
                    .iter()
                    .map(|i| (i.module.clone(), i.line))
                    .chain(implicit_init)
                {
                    let tkey = target.to_string();
                    g.edges.insert((key.clone(), tkey.clone()));
                    let known = match g.external.get(&tkey) {
                        // The root package's own imports must resolve even when a
                        // dependency's import of the same module was tolerated.
                        Some(ExternalReason::MissingInDependency) => pkg != 0,
                        Some(_) => true,
                        None => g.sources.contains_key(&tkey) || frontier.contains_key(&tkey),
                    };
                    if known {
                        continue;
                    }
                    match r.resolve(&target) {
                        Resolved::Source(p, tpkg) => {
                            frontier.insert(tkey, (target, p, tpkg));
                        }
                        Resolved::Missing(expected) if pkg == 0 => {
                            if bad.as_ref().is_none_or(|(f, l, _)| (&path, line) < (f, *l)) {
                                let e = Error::BadImport {
                                    file: path.clone(),
                                    line,
                                    module: tkey,
                                    expected,
                                };
                                bad = Some((path.clone(), line, e));
                            }
                        }
                        Resolved::Missing(_) => {
                            g.external.insert(tkey, ExternalReason::MissingInDependency);
                        }
                        Resolved::External(reason) => {
                            g.external.insert(tkey, reason);
                        }
                        Resolved::Unreadable(e) => return Err(e),
                    }
                }
                if let Some(m) = g.sources.get_mut(&key) {
                    m.is_module = header.is_module;
                }
            }
        }
        if let Some((_, _, e)) = bad {
            return Err(e);
        }
        Ok(g)
    }

    /// The canonical graph: every module a node, keyed by name; importer → imported edges.
    ///
    /// # Errors
    /// [`receipt_graph::GraphError`] (not expected: module names are never empty).
    pub fn canonical(&self) -> Result<receipt_graph::CanonicalGraph, receipt_graph::GraphError> {
        receipt_graph::CanonicalGraph::new(
            self.sources
                .keys()
                .chain(self.external.keys())
                .map(String::as_str),
            self.edges.iter().map(|(a, b)| (a.as_str(), b.as_str())),
        )
    }
}
