//! `lake-manifest.json`: every version Lake reads (5, 6, 7, "1.0.0", "1.1.0", "1.2.0", and
//! a later 1.x minor with a note), with `git` and `path` entries.

use serde_json::{Map, Value};

use crate::error::Error;

/// File name of the manifest in a package directory.
pub const LAKE_MANIFEST: &str = "lake-manifest.json";

/// Where a dependency comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntrySource {
    /// A local directory, relative to the package whose manifest lists it.
    Path {
        /// The directory.
        dir: String,
    },
    /// A git repository, checked out under the packages directory by name.
    Git {
        /// Remote URL.
        url: String,
        /// Commit.
        rev: String,
        /// The branch or tag the commit was resolved from.
        input_rev: Option<String>,
        /// The package's directory inside the repository.
        sub_dir: Option<String>,
    },
}

/// One package entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageEntry {
    /// Package name.
    pub name: String,
    /// Reservoir scope (1.1.0 and later; empty otherwise).
    pub scope: String,
    /// The entry came from a dependency's manifest rather than the package's own requires.
    pub inherited: bool,
    /// The dependency's configuration file, when recorded.
    pub config_file: Option<String>,
    /// The dependency's manifest file, when recorded.
    pub manifest_file: Option<String>,
    /// Where it comes from.
    pub source: EntrySource,
}

/// A parsed manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LakeManifest {
    /// The version as written: `7` or `1.1.0`.
    pub version: String,
    /// The root package name, when recorded (6 and later).
    pub name: Option<String>,
    /// `lakeDir` (default `.lake`).
    pub lake_dir: String,
    /// `packagesDir` when written.
    pub packages_dir: Option<String>,
    /// The entries, in file order.
    pub packages: Vec<PackageEntry>,
    /// What was accepted with a caveat.
    pub notes: Vec<String>,
}

/// The parsed version: `(major, minor)` with the 0.x numbers as `(0, n)`.
fn parse_version(
    file: &str,
    v: &Value,
    notes: &mut Vec<String>,
) -> Result<(String, u64, u64), Error> {
    let bad = |why: String| Error::Manifest {
        file: file.to_owned(),
        field: "version".into(),
        why,
    };
    let (shown, major, minor) = match v {
        Value::Number(n) => {
            let n = n
                .as_u64()
                .ok_or_else(|| bad(format!("is {n}, not a natural number")))?;
            (n.to_string(), 0, n)
        }
        Value::String(s) => {
            // Lake ignores a `-suffix` when checking compatibility.
            let core = s.split('-').next().unwrap_or_default();
            let nums: Vec<Option<u64>> = core.split('.').map(|p| p.parse().ok()).collect();
            match nums.as_slice() {
                [Some(ma), Some(mi), Some(_)] => (s.clone(), *ma, *mi),
                _ => return Err(bad(format!("is {s:?}, not a version `x.y.z`"))),
            }
        }
        other => {
            return Err(bad(format!(
                "is {other}, neither a number nor a version string"
            )));
        }
    };
    if major > 1 {
        return Err(bad(format!(
            "is {shown:?}, a higher major version than the 1.x this reader knows"
        )));
    }
    if major == 0 && minor < 5 {
        return Err(bad(format!(
            "is {shown}, older than 5, which Lake itself no longer reads"
        )));
    }
    if major == 0 && minor > 7 {
        return Err(bad(format!(
            "is {shown}; after 7 Lake switched to string versions, so this number is not one it writes"
        )));
    }
    if major == 1 && minor > 2 {
        notes.push(format!(
            "manifest version {shown:?} is a newer minor version than 1.2.0; read as 1.2.0, since a minor version only adds optional fields"
        ));
    }
    Ok((shown, major, minor))
}

fn opt_str(
    file: &str,
    obj: &Map<String, Value>,
    key: &str,
    at: &str,
) -> Result<Option<String>, Error> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(Error::Manifest {
            file: file.to_owned(),
            field: format!("{at}.{key}"),
            why: format!("is {other}, not a string"),
        }),
    }
}

fn req_str(file: &str, obj: &Map<String, Value>, key: &str, at: &str) -> Result<String, Error> {
    opt_str(file, obj, key, at)?.ok_or_else(|| Error::Manifest {
        file: file.to_owned(),
        field: format!("{at}.{key}"),
        why: "is missing".into(),
    })
}

fn opt_bool(file: &str, obj: &Map<String, Value>, key: &str, at: &str) -> Result<bool, Error> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(Error::Manifest {
            file: file.to_owned(),
            field: format!("{at}.{key}"),
            why: format!("is {other}, not a boolean"),
        }),
    }
}

fn as_object<'v>(file: &str, v: &'v Value, at: &str) -> Result<&'v Map<String, Value>, Error> {
    v.as_object().ok_or_else(|| Error::Manifest {
        file: file.to_owned(),
        field: at.to_owned(),
        why: "is not a JSON object".into(),
    })
}

/// Versions 5 and 6: `{"git": {…}}` or `{"path": {…}}`, optional fields spelled `inputRev?`.
fn entry_v6(file: &str, v: &Value, at: &str) -> Result<PackageEntry, Error> {
    let obj = as_object(file, v, at)?;
    let (kind, inner) = match (obj.get("git"), obj.get("path")) {
        (Some(g), None) => ("git", g),
        (None, Some(p)) => ("path", p),
        _ => {
            return Err(Error::Manifest {
                file: file.to_owned(),
                field: at.to_owned(),
                why: "is neither {\"git\": …} nor {\"path\": …}".into(),
            });
        }
    };
    let at = format!("{at}.{kind}");
    let o = as_object(file, inner, &at)?;
    let source = if kind == "git" {
        EntrySource::Git {
            url: req_str(file, o, "url", &at)?,
            rev: req_str(file, o, "rev", &at)?,
            input_rev: opt_str(file, o, "inputRev?", &at)?,
            sub_dir: opt_str(file, o, "subDir?", &at)?,
        }
    } else {
        EntrySource::Path {
            dir: req_str(file, o, "dir", &at)?,
        }
    };
    Ok(PackageEntry {
        name: req_str(file, o, "name", &at)?,
        scope: String::new(),
        inherited: opt_bool(file, o, "inherited", &at)?,
        config_file: None,
        manifest_file: None,
        source,
    })
}

/// Version 7 and 1.x: flat entries with `type`.
fn entry_v7(file: &str, v: &Value, at: &str) -> Result<PackageEntry, Error> {
    let o = as_object(file, v, at)?;
    let kind = req_str(file, o, "type", at)?;
    let source = match kind.as_str() {
        "git" => EntrySource::Git {
            url: req_str(file, o, "url", at)?,
            rev: req_str(file, o, "rev", at)?,
            input_rev: opt_str(file, o, "inputRev", at)?,
            sub_dir: opt_str(file, o, "subDir", at)?,
        },
        "path" => EntrySource::Path {
            dir: req_str(file, o, "dir", at)?,
        },
        other => {
            return Err(Error::Manifest {
                file: file.to_owned(),
                field: format!("{at}.type"),
                why: format!("is {other:?}, not \"git\" or \"path\""),
            });
        }
    };
    Ok(PackageEntry {
        name: req_str(file, o, "name", at)?,
        scope: opt_str(file, o, "scope", at)?.unwrap_or_default(),
        inherited: opt_bool(file, o, "inherited", at)?,
        config_file: opt_str(file, o, "configFile", at)?,
        manifest_file: opt_str(file, o, "manifestFile", at)?,
        source,
    })
}

/// Parses manifest bytes. `file` names the file in errors.
///
/// # Errors
/// [`Error::Manifest`] naming the field that is wrong.
pub fn parse_manifest(file: &str, bytes: &[u8]) -> Result<LakeManifest, Error> {
    let root: Value = serde_json::from_slice(bytes).map_err(|e| Error::Manifest {
        file: file.to_owned(),
        field: "(document)".into(),
        why: format!("is not JSON: {e}"),
    })?;
    let obj = as_object(file, &root, "(document)")?;
    let mut notes = Vec::new();
    let ver = obj
        .get("version")
        .or_else(|| obj.get("schemaVersion"))
        .ok_or_else(|| Error::Manifest {
            file: file.to_owned(),
            field: "version".into(),
            why: "is missing".into(),
        })?;
    let (version, major, minor) = parse_version(file, ver, &mut notes)?;
    let old = major == 0 && minor < 7;
    let packages = match obj.get("packages") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let at = format!("packages[{i}]");
                if old {
                    entry_v6(file, v, &at)
                } else {
                    entry_v7(file, v, &at)
                }
            })
            .collect::<Result<_, _>>()?,
        Some(other) => {
            return Err(Error::Manifest {
                file: file.to_owned(),
                field: "packages".into(),
                why: format!("is {other}, not an array"),
            });
        }
    };
    Ok(LakeManifest {
        version,
        name: opt_str(file, obj, "name", "(document)")?,
        lake_dir: opt_str(file, obj, "lakeDir", "(document)")?.unwrap_or_else(|| ".lake".into()),
        packages_dir: opt_str(file, obj, "packagesDir", "(document)")?,
        packages,
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v5_and_v6_nested_entries() {
        let m = parse_manifest(
            "lake-manifest.json",
            br#"{"version": 5, "packagesDir": "lake-packages", "packages": [
              {"git": {"url": "https://example.invalid/std4", "subDir?": null, "rev": "abc",
                       "opts": {}, "name": "std", "inputRev?": "main", "inherited": false}},
              {"path": {"opts": {}, "name": "local", "inherited": true, "dir": "./local"}}]}"#,
        )
        .unwrap();
        assert_eq!(m.version, "5");
        assert_eq!(m.packages_dir.as_deref(), Some("lake-packages"));
        assert_eq!(m.packages.len(), 2);
        assert!(
            matches!(&m.packages[0].source, EntrySource::Git { input_rev: Some(r), .. } if r == "main")
        );
        assert!(m.packages[1].inherited);
    }

    #[test]
    fn v7_and_1x_flat_entries() {
        for v in ["7", "\"1.0.0\"", "\"1.1.0\"", "\"1.2.0\""] {
            let text = format!(
                r#"{{"version": {v}, "packagesDir": ".lake/packages", "name": "root", "lakeDir": ".lake",
                 "packages": [{{"url": "https://example.invalid/b", "type": "git", "subDir": null,
                   "scope": "leanprover", "rev": "0123", "name": "batteries", "manifestFile": "lake-manifest.json",
                   "inputRev": "main", "inherited": false, "configFile": "lakefile.toml"}}]}}"#
            );
            let m = parse_manifest("lake-manifest.json", text.as_bytes()).unwrap();
            assert_eq!(m.name.as_deref(), Some("root"));
            assert_eq!(m.packages[0].name, "batteries");
            assert_eq!(m.packages[0].config_file.as_deref(), Some("lakefile.toml"));
            assert!(m.notes.is_empty(), "{v}: {:?}", m.notes);
        }
    }

    #[test]
    fn newer_minor_is_accepted_with_a_note_and_newer_major_refused() {
        let m = parse_manifest("m", br#"{"version": "1.7.0-rc1", "packages": []}"#).unwrap();
        assert_eq!(m.notes.len(), 1);
        let e = parse_manifest("m", br#"{"version": "2.0.0"}"#).unwrap_err();
        assert!(e.to_string().contains("field `version`"), "{e}");
        assert!(parse_manifest("m", br#"{"version": 4}"#).is_err());
    }

    #[test]
    fn errors_name_the_field() {
        let e = parse_manifest(
            "lake-manifest.json",
            br#"{"version": 7, "packages": [{"type": "git", "name": "x", "url": "u", "inherited": false}]}"#,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "lake-manifest.json: field `packages[0].rev` is missing"
        );
    }
}
