//! The package configuration: what a Lake package declares (libraries, executables,
//! requirements), read from `lakefile.toml` (`toml`) or, by a lexical scan, from
//! `lakefile.lean` (`lean`; it is a Lean program and cannot be evaluated without a
//! toolchain).

mod lean;
mod toml;

use std::path::Path;

use receipt_primitives::confine;

use crate::error::Error;
use crate::glob::Glob;
use crate::name::ModName;

pub use lean::scan_lean;
pub use toml::parse_toml;

/// File name of a TOML configuration.
pub const LAKEFILE_TOML: &str = "lakefile.toml";
/// File name of a Lean configuration; it wins when both exist, as in Lake.
pub const LAKEFILE_LEAN: &str = "lakefile.lean";

/// How the configuration was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadMethod {
    /// Parsed as TOML: every field is exact.
    Toml,
    /// Scanned for `package`, `lean_lib`, `lean_exe` and `require` and their literal
    /// `srcDir`, `roots`, `globs`, `root` and `packagesDir` settings.
    LeanScan,
}

impl ReadMethod {
    /// The name recorded in the receipt.
    pub fn as_str(self) -> &'static str {
        match self {
            ReadMethod::Toml => "toml",
            ReadMethod::LeanScan => "lean-lexical-scan",
        }
    }
}

/// A `lean_lib` target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeanLib {
    /// Target name.
    pub name: String,
    /// Source directory relative to the package directory (package `srcDir` / lib `srcDir`).
    pub src_dir: String,
    /// Root modules.
    pub roots: Vec<ModName>,
    /// Module globs (default: each root as `N`).
    pub globs: Vec<Glob>,
}

impl LeanLib {
    /// Whether this library is where `m` lives: a root is a prefix of it, or a glob
    /// matches it (Lake's `isLocalModule`).
    pub fn claims(&self, m: &ModName) -> bool {
        self.roots.iter().any(|r| m.starts_with(r)) || self.globs.iter().any(|g| g.matches(m))
    }
}

/// A `lean_exe` target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeanExe {
    /// Target name.
    pub name: String,
    /// Source directory relative to the package directory.
    pub src_dir: String,
    /// The root module (default: the target name).
    pub root: ModName,
}

/// A `[[require]]` / `require` entry: the name and the source as written.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Require {
    /// Package name.
    pub name: String,
    /// `path`, `git`, `reservoir`, or `unknown` (a `lakefile.lean` form not recognized).
    pub source: String,
    /// The path, URL or scope, when given literally.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// `rev` / version, when given literally.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rev: Option<String>,
}

/// What was read from the package configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LakeConfig {
    /// `lakefile.toml` or `lakefile.lean`.
    pub file: &'static str,
    /// How it was read.
    pub method: ReadMethod,
    /// The package name, when found.
    pub package: Option<String>,
    /// `packagesDir`, when set.
    pub packages_dir: Option<String>,
    /// Library targets.
    pub libs: Vec<LeanLib>,
    /// Executable targets.
    pub exes: Vec<LeanExe>,
    /// Required packages.
    pub requires: Vec<Require>,
    /// What could not be read exactly, one sentence each.
    pub notes: Vec<String>,
    /// The bytes of the file (hashed into the ingress preimage).
    pub bytes: Vec<u8>,
}

/// Reads the configuration of the package in `rel` (a directory under `root`, `.` for
/// the root itself), `None` when it has neither file. Files are read through
/// [`receipt_primitives::confine`]: no symlink is followed, only regular files of at most
/// [`CONFIG_BYTES`] are read.
///
/// # Errors
/// [`Error::Read`] when a file cannot be read safely, [`Error::Config`] naming the file and
/// field when its content is invalid.
pub fn read_config(root: &Path, rel: &str) -> Result<Option<LakeConfig>, Error> {
    let lean = join(rel, LAKEFILE_LEAN);
    let toml_path = join(rel, LAKEFILE_TOML);
    let read = |path: &str| match confine::read_under(root, path, CONFIG_BYTES, "a lakefile") {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.is_missing() => Ok(None),
        Err(e) => Err(Error::Read(e)),
    };
    if let Some(bytes) = read(&lean)? {
        let mut cfg = scan_lean(&lean, &bytes)?;
        if confine::kind_under(root, &toml_path).is_ok_and(|k| k.is_some()) {
            cfg.notes.push(format!(
                "{LAKEFILE_TOML} is also present and was ignored, as Lake does when {LAKEFILE_LEAN} exists"
            ));
        }
        Ok(Some(cfg))
    } else if let Some(bytes) = read(&toml_path)? {
        parse_toml(&toml_path, bytes).map(Some)
    } else {
        Ok(None)
    }
}

/// The largest configuration file read (a lakefile is a few kilobytes).
pub const CONFIG_BYTES: u64 = 4 << 20;

fn join(dir: &str, file: &str) -> String {
    if dir.is_empty() || dir == "." {
        file.to_owned()
    } else {
        format!("{dir}/{file}")
    }
}

/// A directory setting of a configuration (`srcDir`, `packagesDir`), checked: relative to
/// the package, inside it, `/`-separated (`./` and a trailing `/` are accepted and
/// dropped). `Err` is the end of a sentence naming the rule broken: a directory outside
/// the project is never read, because the receipt's Merkle root covers only the project.
pub(crate) fn config_dir(value: &str) -> Result<String, String> {
    let trimmed = value.trim_end_matches('/');
    let parts: Vec<&str> = trimmed.split('/').filter(|p| *p != ".").collect();
    if trimmed.is_empty() || parts.is_empty() {
        return Ok(".".to_owned());
    }
    let joined = if value.starts_with('/') {
        value.to_owned()
    } else {
        parts.join("/")
    };
    receipt_primitives::confine::check_path(&joined).map_err(|why| {
        format!(
            "{:?} {why}; only directories inside the package are read, since the receipt covers only the project",
            receipt_primitives::check::echo(value)
        )
    })?;
    Ok(joined)
}

/// `a / b` for configuration paths that passed [`config_dir`]: `.` components vanish,
/// `/`-separated.
pub(crate) fn join_dir(a: &str, b: &str) -> String {
    let parts: Vec<&str> = a
        .split('/')
        .chain(b.split('/'))
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    if parts.is_empty() {
        ".".to_owned()
    } else {
        parts.join("/")
    }
}

/// A target or root name as Lake reads it: a dotted name when it is one, otherwise a
/// single-part name.
fn target_name(text: &str) -> ModName {
    ModName::parse(text).unwrap_or_else(|_| ModName::from_parts(vec![text.to_owned()]))
}
