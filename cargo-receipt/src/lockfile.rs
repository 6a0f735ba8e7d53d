//! `Cargo.lock` read into the packages it pins, so a build's provenance lists every package
//! with what identifies it: the registry checksum as a SHA-256 digest, the git commit of a
//! git source, or only the name and version for path and workspace packages (never a
//! made-up digest).
//!
//! Lock files of every format version are read: checksums inline (versions 2 to 4) or in the
//! `[metadata]` table (version 1). The file is read whole, at most [`MAX_LOCKFILE_BYTES`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use receipt_primitives::Digest;
use receipt_primitives::check::echo;
use receipt_primitives::tomlfile::{self, TomlError};
use receipt_protocol::provenance::{DigestSet, ResourceDescriptor, git_dependency};
use serde_json::{Map, Value};

/// The largest `Cargo.lock` read, in bytes (64 MiB; lock files of very large workspaces are a
/// few MiB).
pub const MAX_LOCKFILE_BYTES: u64 = 64 << 20;

/// The source of crates.io packages, as `Cargo.lock` spells it (git index and sparse index).
const CRATES_IO: [&str; 2] = [
    "registry+https://github.com/rust-lang/crates.io-index",
    "sparse+https://index.crates.io/",
];

/// One `[[package]]` of `Cargo.lock`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockedPackage {
    /// The package name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// Where it comes from (`registry+…`, `sparse+…`, `git+…#<commit>`); `None` for path
    /// and workspace packages.
    pub source: Option<String>,
    /// The registry's SHA-256 of the `.crate` file, when the lock file records one.
    pub checksum: Option<Digest>,
}

/// Why a `Cargo.lock` could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LockfileError {
    /// Unreadable, or not TOML.
    #[error(transparent)]
    File(#[from] TomlError),
    /// A field of the wrong type or form.
    #[error("{}: field `{field}` {why}", path.display())]
    Field {
        /// The file.
        path: PathBuf,
        /// The field, e.g. `package[3].checksum`.
        field: String,
        /// What is wrong.
        why: String,
    },
}

/// Reads `Cargo.lock` at `path` (a regular file, at most [`MAX_LOCKFILE_BYTES`]).
///
/// # Errors
/// [`LockfileError`] naming the file and field.
pub fn read_lockfile(path: &Path) -> Result<Vec<LockedPackage>, LockfileError> {
    let table: toml::Table = tomlfile::read(path, MAX_LOCKFILE_BYTES, "Cargo.lock")?;
    packages(&table, path)
}

/// Parses the text of a `Cargo.lock`; `path` names the file in errors.
///
/// # Errors
/// [`LockfileError`] naming the field.
pub fn parse_lockfile(text: &str, path: &Path) -> Result<Vec<LockedPackage>, LockfileError> {
    let table: toml::Table = tomlfile::parse(text, path)?;
    packages(&table, path)
}

/// The packages of a parsed `Cargo.lock`; `path` names the file in errors.
fn packages(table: &toml::Table, path: &Path) -> Result<Vec<LockedPackage>, LockfileError> {
    let field = |field: String, why: &str| LockfileError::Field {
        path: path.to_owned(),
        field,
        why: why.to_owned(),
    };
    let checksum_of = |field_name: String, s: &str| {
        Digest::from_hex(s).map_err(|_| field(field_name, "is not 64 lowercase hex characters"))
    };
    // Version 1 keeps checksums in [metadata] as "checksum NAME VERSION (SOURCE)" = HEX.
    let mut metadata: BTreeMap<(String, String, String), Option<Digest>> = BTreeMap::new();
    if let Some(meta) = table.get("metadata") {
        let meta = meta
            .as_table()
            .ok_or_else(|| field("metadata".into(), "is not a table"))?;
        for (k, v) in meta {
            let Some(rest) = k.strip_prefix("checksum ") else {
                continue;
            };
            let at = format!("metadata.{:?}", echo(k));
            let mut parts = rest.splitn(3, ' ');
            let (Some(name), Some(version), Some(source)) =
                (parts.next(), parts.next(), parts.next())
            else {
                return Err(field(at, "is not `checksum NAME VERSION (SOURCE)`"));
            };
            let source = source
                .strip_prefix('(')
                .and_then(|s| s.strip_suffix(')'))
                .ok_or_else(|| field(at.clone(), "has no parenthesized source"))?;
            let v = v
                .as_str()
                .ok_or_else(|| field(at.clone(), "is not a string"))?;
            let sum = if v == "<none>" {
                None
            } else {
                Some(checksum_of(at, v)?)
            };
            metadata.insert((name.into(), version.into(), source.into()), sum);
        }
    }
    let packages = match table.get("package") {
        None => return Ok(Vec::new()),
        Some(p) => p
            .as_array()
            .ok_or_else(|| field("package".into(), "is not an array of tables"))?,
    };
    let mut out = Vec::with_capacity(packages.len());
    for (i, p) in packages.iter().enumerate() {
        let at = |k: &str| format!("package[{i}].{k}");
        let p = p
            .as_table()
            .ok_or_else(|| field(format!("package[{i}]"), "is not a table"))?;
        let string = |k: &str, required: bool| -> Result<Option<String>, LockfileError> {
            match p.get(k) {
                None if required => Err(field(at(k), "is missing")),
                None => Ok(None),
                Some(v) => v
                    .as_str()
                    .map(|s| Some(s.to_owned()))
                    .ok_or_else(|| field(at(k), "is not a string")),
            }
        };
        let name = string("name", true)?.unwrap_or_default();
        let version = string("version", true)?.unwrap_or_default();
        let source = string("source", false)?;
        let checksum = match string("checksum", false)? {
            Some(s) => Some(checksum_of(at("checksum"), &s)?),
            None => source.as_ref().and_then(|src| {
                metadata
                    .get(&(name.clone(), version.clone(), src.clone()))
                    .copied()
                    .flatten()
            }),
        };
        out.push(LockedPackage {
            name,
            version,
            source,
            checksum,
        });
    }
    Ok(out)
}

/// Percent-encodes everything but the purl-safe characters `A-Z a-z 0-9 . - _ ~`.
fn pct(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The package URL of a registry or path package: `pkg:cargo/<name>@<version>`, with a
/// `repository_url` qualifier for registries other than crates.io.
fn purl(p: &LockedPackage) -> String {
    let base = format!("pkg:cargo/{}@{}", pct(&p.name), pct(&p.version));
    match p.source.as_deref() {
        Some(src) if !CRATES_IO.contains(&src) => {
            let url = src
                .strip_prefix("registry+")
                .or_else(|| src.strip_prefix("sparse+"))
                .unwrap_or(src);
            format!("{base}?repository_url={}", pct(url))
        }
        _ => base,
    }
}

/// The `resolvedDependencies` entries of the packages, in lock-file order:
///
/// - registry packages: `uri` `pkg:cargo/<name>@<version>` (plus `?repository_url=` for
///   other registries), `digest` `{"sha256": checksum}` when the lock file has one;
/// - git packages: `uri` `git+<url>@<commit>` (query and fragment dropped), `digest`
///   `{"gitCommit": commit}`, annotation `version`;
/// - path and workspace packages: `uri` `pkg:cargo/<name>@<version>` only.
pub fn dependencies(packages: &[LockedPackage]) -> Vec<ResourceDescriptor> {
    packages
        .iter()
        .map(|p| match p.source.as_deref() {
            Some(src) if src.starts_with("git+") => {
                let (url, rev) = match src.split_once('#') {
                    Some((u, r)) => (u, r),
                    None => (src, ""),
                };
                let url = url.split('?').next().unwrap_or(url);
                let mut rd = if rev.is_empty() {
                    ResourceDescriptor {
                        name: Some(p.name.clone()),
                        uri: Some(url.to_owned()),
                        ..ResourceDescriptor::default()
                    }
                } else {
                    git_dependency(&p.name, url, rev)
                };
                rd.annotations = Some(Map::from_iter([(
                    "version".to_owned(),
                    Value::String(p.version.clone()),
                )]));
                rd
            }
            _ => ResourceDescriptor {
                name: Some(p.name.clone()),
                uri: Some(purl(p)),
                digest: p
                    .checksum
                    .map(|c| DigestSet::from([("sha256".to_owned(), c.to_hex())])),
                ..ResourceDescriptor::default()
            },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUM: &str = "0f01b4e9d5c4a4b9b7f0a49e2a3b7d0b8c6e1f2a3b4c5d6e7f8091a2b3c4d5e6";

    #[test]
    fn every_package_with_what_is_known() {
        let text = format!(
            r#"version = 4

[[package]]
name = "app"
version = "0.1.0"
dependencies = ["serde"]

[[package]]
name = "serde"
version = "1.0.0+build"
source = "registry+https://github.com/rust-lang/crates.io-index"
checksum = "{SUM}"

[[package]]
name = "private"
version = "2.0.0"
source = "sparse+https://registry.example.com/index/"
checksum = "{SUM}"

[[package]]
name = "gitdep"
version = "0.3.0"
source = "git+https://github.com/o/gitdep?rev=abc#0123456789abcdef0123456789abcdef01234567"
"#
        );
        let pkgs = parse_lockfile(&text, Path::new("Cargo.lock")).unwrap();
        assert_eq!(pkgs.len(), 4);
        assert_eq!(pkgs[0].source, None);
        let deps = dependencies(&pkgs);
        assert_eq!(deps[0].uri.as_deref(), Some("pkg:cargo/app@0.1.0"));
        assert!(deps[0].digest.is_none());
        assert_eq!(
            deps[1].uri.as_deref(),
            Some("pkg:cargo/serde@1.0.0%2Bbuild")
        );
        assert_eq!(deps[1].sha256(), Some(SUM));
        assert_eq!(
            deps[2].uri.as_deref(),
            Some(
                "pkg:cargo/private@2.0.0?repository_url=https%3A%2F%2Fregistry.example.com%2Findex%2F"
            )
        );
        assert_eq!(
            deps[3].uri.as_deref(),
            Some("git+https://github.com/o/gitdep@0123456789abcdef0123456789abcdef01234567")
        );
        assert_eq!(
            deps[3].digest.as_ref().unwrap()["gitCommit"],
            "0123456789abcdef0123456789abcdef01234567"
        );
        assert!(deps[3].sha256().is_none());
    }

    #[test]
    fn version_one_metadata_checksums() {
        let text = format!(
            r#"[[package]]
name = "a"
version = "1.0.0"
source = "registry+https://github.com/rust-lang/crates.io-index"

[[package]]
name = "b"
version = "1.0.0"
source = "registry+https://github.com/rust-lang/crates.io-index"

[metadata]
"checksum a 1.0.0 (registry+https://github.com/rust-lang/crates.io-index)" = "{SUM}"
"checksum b 1.0.0 (registry+https://github.com/rust-lang/crates.io-index)" = "<none>"
"#
        );
        let pkgs = parse_lockfile(&text, Path::new("Cargo.lock")).unwrap();
        assert_eq!(pkgs[0].checksum.unwrap().to_hex(), SUM);
        assert_eq!(pkgs[1].checksum, None);
    }

    #[test]
    fn wrong_fields_are_named() {
        for (text, want) in [
            ("[[package]]\nversion = \"1\"\n", "package[0].name"),
            (
                "[[package]]\nname = \"a\"\nversion = 1\n",
                "package[0].version",
            ),
            (
                "[[package]]\nname = \"a\"\nversion = \"1\"\nchecksum = \"ABC\"\n",
                "package[0].checksum",
            ),
            ("package = 3\n", "package"),
        ] {
            let e = parse_lockfile(text, Path::new("Cargo.lock"))
                .unwrap_err()
                .to_string();
            assert!(
                e.starts_with("Cargo.lock: field `") && e.contains(want),
                "{e}"
            );
        }
        assert!(matches!(
            parse_lockfile("[[package]\n", Path::new("Cargo.lock")),
            Err(LockfileError::File(TomlError::Syntax { .. }))
        ));
    }

    #[test]
    fn the_workspace_lock_file_reads_whole() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let pkgs = read_lockfile(&root.join("Cargo.lock")).unwrap();
        assert!(
            pkgs.iter()
                .any(|p| p.name == "cargo-receipt" && p.source.is_none())
        );
        let serde = pkgs.iter().find(|p| p.name == "serde").unwrap();
        assert!(serde.checksum.is_some());
        assert_eq!(dependencies(&pkgs).len(), pkgs.len());
        assert!(matches!(
            read_lockfile(&root),
            Err(LockfileError::File(TomlError::Read(
                receipt_primitives::confine::ReadError::NotRegular { .. }
            )))
        ));
    }
}
