//! A Lake workspace as read from its files: the root package's configuration, its
//! `lake-manifest.json` and `lean-toolchain`, and every dependency found under the packages
//! directory, with the package graph between them.

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::config::{LakeConfig, join_dir, read_config};
use crate::error::Error;
use crate::lake_manifest::{
    EntrySource, LAKE_MANIFEST, LakeManifest, PackageEntry, parse_manifest,
};

/// File name of the toolchain pin.
pub const LEAN_TOOLCHAIN: &str = "lean-toolchain";
/// The packages directory when neither the configuration nor the manifest names one.
pub const DEFAULT_PACKAGES_DIR: &str = ".lake/packages";

/// One package of the workspace.
#[derive(Debug, Clone)]
pub struct Package {
    /// Package name (the root's from its configuration, else its manifest, else `root`).
    pub name: String,
    /// Directory relative to the project root, `/`-separated (`.` for the root).
    pub dir: String,
    /// Its configuration, when the package is present.
    pub config: Option<LakeConfig>,
    /// Its own `lake-manifest.json`, when present.
    pub manifest: Option<LakeManifest>,
    /// The root manifest's entry for it (`None` for the root).
    pub entry: Option<PackageEntry>,
    /// Names of the packages it requires directly.
    pub requires: BTreeSet<String>,
    /// Where [`Package::requires`] was read from: `lake-manifest.json`, a configuration
    /// file, or `unknown` when the package is not present.
    pub requires_from: String,
}

impl Package {
    /// Whether the package's sources are checked out (its configuration was found).
    pub fn present(&self) -> bool {
        self.config.is_some()
    }
}

/// The workspace.
#[derive(Debug, Clone)]
pub struct Project {
    /// The project root as given.
    pub root: PathBuf,
    /// `lean-toolchain`, trimmed, when present.
    pub toolchain: Option<String>,
    /// The root `lake-manifest.json` bytes, when present.
    pub manifest_bytes: Option<Vec<u8>>,
    /// The packages directory used, relative to the root.
    pub packages_dir: String,
    /// Where [`Project::packages_dir`] came from: `config`, `manifest`, or `default`.
    pub packages_dir_from: &'static str,
    /// The root package first, then the manifest's entries in file order.
    pub packages: Vec<Package>,
}

fn read_optional(path: &Path, rel: &str) -> Result<Option<Vec<u8>>, Error> {
    match fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(rel)(e)),
    }
}

fn read_manifest(dir: &Path, rel: &str) -> Result<(Option<Vec<u8>>, Option<LakeManifest>), Error> {
    let file = join_dir(rel, LAKE_MANIFEST);
    match read_optional(&dir.join(LAKE_MANIFEST), &file)? {
        Some(bytes) => {
            let m = parse_manifest(&file, &bytes)?;
            Ok((Some(bytes), Some(m)))
        }
        None => Ok((None, None)),
    }
}

/// The direct requirements of a package: its manifest's non-inherited entries, else its
/// configuration's requires.
fn direct_requires(
    config: Option<&LakeConfig>,
    manifest: Option<&LakeManifest>,
) -> (BTreeSet<String>, String) {
    if let Some(m) = manifest {
        let mut names: BTreeSet<String> = m
            .packages
            .iter()
            .filter(|p| !p.inherited)
            .map(|p| p.name.clone())
            .collect();
        if let Some(c) = config {
            names.extend(c.requires.iter().map(|r| r.name.clone()));
        }
        return (names, LAKE_MANIFEST.to_owned());
    }
    match config {
        Some(c) => (
            c.requires.iter().map(|r| r.name.clone()).collect(),
            c.file.to_owned(),
        ),
        None => (BTreeSet::new(), "unknown".to_owned()),
    }
}

impl Project {
    /// Reads the workspace rooted at `root`.
    ///
    /// # Errors
    /// [`Error::NoConfig`] when the root has no lakefile; [`Error::Config`],
    /// [`Error::Manifest`] and [`Error::Io`] naming the file at fault.
    pub fn load(root: &Path) -> Result<Project, Error> {
        let config = read_config(root, ".")?.ok_or_else(|| Error::NoConfig {
            dir: root.display().to_string(),
        })?;
        let toolchain = read_optional(&root.join(LEAN_TOOLCHAIN), LEAN_TOOLCHAIN)?
            .map(|b| String::from_utf8_lossy(&b).trim().to_owned());
        let (manifest_bytes, manifest) = read_manifest(root, ".")?;
        let (packages_dir, packages_dir_from) = match (&config.packages_dir, &manifest) {
            (Some(d), _) => (join_dir(".", d), "config"),
            (
                None,
                Some(LakeManifest {
                    packages_dir: Some(d),
                    ..
                }),
            ) => (join_dir(".", d), "manifest"),
            _ => (DEFAULT_PACKAGES_DIR.to_owned(), "default"),
        };
        let root_name = config
            .package
            .clone()
            .or_else(|| manifest.as_ref().and_then(|m| m.name.clone()))
            // Not the directory name: the receipt must not depend on the checkout path.
            .unwrap_or_else(|| "root".into());
        let (requires, requires_from) = direct_requires(Some(&config), manifest.as_ref());
        let entries = manifest
            .as_ref()
            .map(|m| m.packages.clone())
            .unwrap_or_default();
        let mut packages = vec![Package {
            name: root_name,
            dir: ".".into(),
            config: Some(config),
            manifest,
            entry: None,
            requires,
            requires_from,
        }];
        for entry in entries {
            let dir = match &entry.source {
                EntrySource::Path { dir } => join_dir(".", dir),
                EntrySource::Git { sub_dir, .. } => join_dir(
                    &join_dir(&packages_dir, &entry.name),
                    sub_dir.as_deref().unwrap_or("."),
                ),
            };
            let abs = root.join(&dir);
            let config = if abs.is_dir() {
                read_config(&abs, &dir)?
            } else {
                None
            };
            let manifest = if config.is_some() {
                read_manifest(&abs, &dir)?.1
            } else {
                None
            };
            let (requires, requires_from) = direct_requires(config.as_ref(), manifest.as_ref());
            packages.push(Package {
                name: entry.name.clone(),
                dir,
                config,
                manifest,
                entry: Some(entry),
                requires,
                requires_from,
            });
        }
        Ok(Project {
            root: root.to_path_buf(),
            toolchain,
            manifest_bytes,
            packages_dir,
            packages_dir_from,
            packages,
        })
    }

    /// The root package.
    pub fn root_package(&self) -> &Package {
        &self.packages[0]
    }

    /// The root package's configuration.
    pub fn config(&self) -> &LakeConfig {
        self.packages[0]
            .config
            .as_ref()
            .expect("the root package is always read from its configuration")
    }
}
