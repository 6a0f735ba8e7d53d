//! A Lake workspace as read from its files: the root package's configuration, its
//! `lake-manifest.json` and `lean-toolchain`, and every dependency found under the packages
//! directory, with the package graph between them.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use receipt_primitives::confine;

use crate::config::{LakeConfig, config_dir, join_dir, read_config};
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

/// The largest `lake-manifest.json` or `lean-toolchain` read.
pub const PROJECT_FILE_BYTES: u64 = 16 << 20;

/// Reads `root/rel` safely (no symlink, regular, bounded); `None` when it is absent.
fn read_optional(root: &Path, rel: &str, what: &'static str) -> Result<Option<Vec<u8>>, Error> {
    match confine::read_under(root, rel, PROJECT_FILE_BYTES, what) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.is_missing() => Ok(None),
        Err(e) => Err(Error::Read(e)),
    }
}

fn read_manifest(root: &Path, rel: &str) -> Result<(Option<Vec<u8>>, Option<LakeManifest>), Error> {
    let file = join_dir(rel, LAKE_MANIFEST);
    match read_optional(root, &file, "a lake-manifest.json")? {
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
        let toolchain = read_optional(root, LEAN_TOOLCHAIN, "a lean-toolchain file")?
            .map(|b| String::from_utf8_lossy(&b).trim().to_owned());
        let (manifest_bytes, manifest) = read_manifest(root, ".")?;
        let (packages_dir, packages_dir_from) = match (&config.packages_dir, &manifest) {
            (Some(d), _) => (d.clone(), "config"),
            (
                None,
                Some(LakeManifest {
                    packages_dir: Some(d),
                    ..
                }),
            ) => (
                config_dir(d).map_err(|why| Error::Manifest {
                    file: LAKE_MANIFEST.to_owned(),
                    field: "packagesDir".to_owned(),
                    why,
                })?,
                "manifest",
            ),
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
        let mut outside = Vec::new();
        for entry in entries {
            // A dependency is read only when its directory lies inside the project and is
            // reached without symlinks: the receipt covers only what is under the root.
            let dir = match &entry.source {
                EntrySource::Path { dir } => config_dir(dir),
                EntrySource::Git { sub_dir, .. } => config_dir(&entry.name).and_then(|name| {
                    config_dir(sub_dir.as_deref().unwrap_or("."))
                        .map(|sub| join_dir(&join_dir(&packages_dir, &name), &sub))
                }),
            };
            let readable = match &dir {
                Ok(d) => match confine::dir_under(root, d) {
                    Ok(present) => Ok(present),
                    Err(e) => Err(e.to_string()),
                },
                Err(why) => Err(format!("its directory {why}")),
            };
            let (dir, config, manifest) = match readable {
                Ok(true) => {
                    let d = dir.unwrap_or_default();
                    let config = read_config(root, &d)?;
                    let manifest = if config.is_some() {
                        read_manifest(root, &d)?.1
                    } else {
                        None
                    };
                    (d, config, manifest)
                }
                Ok(false) => (dir.unwrap_or_default(), None, None),
                Err(why) => {
                    outside.push(format!(
                        "dependency {}: {why}; it is treated as not present",
                        receipt_primitives::check::echo(&entry.name)
                    ));
                    let declared = match &entry.source {
                        EntrySource::Path { dir } => dir.clone(),
                        EntrySource::Git { .. } => format!("{packages_dir}/{}", entry.name),
                    };
                    (receipt_primitives::check::echo(&declared), None, None)
                }
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
        if let Some(cfg) = packages[0].config.as_mut() {
            cfg.notes.extend(outside);
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
