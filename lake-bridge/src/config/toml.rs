//! `lakefile.toml`: the package configuration parsed as TOML into [`LakeConfig`].

use serde::Deserialize;

use super::{
    LAKEFILE_LEAN, LAKEFILE_TOML, LakeConfig, LeanExe, LeanLib, ReadMethod, Require, config_dir,
    join_dir, target_name,
};
use crate::error::Error;
use crate::glob::Glob;
use crate::name::ModName;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawPackage {
    name: Option<String>,
    src_dir: Option<String>,
    packages_dir: Option<String>,
    #[serde(default, rename = "lean_lib")]
    lean_lib: Vec<RawLib>,
    #[serde(default, rename = "lean_exe")]
    lean_exe: Vec<RawExe>,
    #[serde(default)]
    require: Vec<RawRequire>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLib {
    name: String,
    src_dir: Option<String>,
    roots: Option<Vec<String>>,
    globs: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawExe {
    name: String,
    src_dir: Option<String>,
    root: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawGit {
    Url(String),
    Table {
        url: String,
        #[serde(rename = "subDir")]
        sub_dir: Option<String>,
    },
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawRequire {
    name: String,
    path: Option<String>,
    git: Option<RawGit>,
    rev: Option<String>,
    scope: Option<String>,
    version: Option<String>,
    source: Option<toml::Value>,
}

/// Parses a `lakefile.toml`. `file` names it in errors.
///
/// # Errors
/// [`Error::Config`] naming the file and the field.
pub fn parse_toml(file: &str, bytes: Vec<u8>) -> Result<LakeConfig, Error> {
    let bad = |field: String, why: String| Error::Config {
        file: file.to_owned(),
        field,
        why,
    };
    let text = std::str::from_utf8(&bytes)
        .map_err(|e| bad("(file)".into(), format!("is not UTF-8 ({e})")))?;
    let raw: RawPackage = toml::from_str(text).map_err(|e| {
        let msg = e.message().to_owned();
        let at = e
            .span()
            .map(|s| format!(" at line {}", text[..s.start].matches('\n').count() + 1))
            .unwrap_or_default();
        bad("(document)".into(), format!("{msg}{at}"))
    })?;
    let dir = |field: String, v: Option<&str>| {
        config_dir(v.unwrap_or(".")).map_err(|why| bad(field, why))
    };
    let pkg_src = dir("srcDir".into(), raw.src_dir.as_deref())?;
    let packages_dir = match raw.packages_dir.as_deref() {
        Some(d) => Some(dir("packagesDir".into(), Some(d))?),
        None => None,
    };
    let mut libs = Vec::new();
    for (i, l) in raw.lean_lib.into_iter().enumerate() {
        if l.name.is_empty() {
            return Err(bad(format!("lean_lib[{i}].name"), "is empty".into()));
        }
        let roots = match l.roots {
            Some(r) => r
                .iter()
                .enumerate()
                .map(|(j, s)| {
                    ModName::parse(s)
                        .map_err(|e| bad(format!("lean_lib[{i}].roots[{j}]"), e.to_string()))
                })
                .collect::<Result<Vec<_>, _>>()?,
            None => vec![target_name(&l.name)],
        };
        let globs = match l.globs {
            Some(g) => g
                .iter()
                .enumerate()
                .map(|(j, s)| {
                    Glob::parse(s)
                        .map_err(|e| bad(format!("lean_lib[{i}].globs[{j}]"), e.to_string()))
                })
                .collect::<Result<Vec<_>, _>>()?,
            None => roots.iter().cloned().map(Glob::One).collect(),
        };
        libs.push(LeanLib {
            src_dir: join_dir(
                &pkg_src,
                &dir(format!("lean_lib[{i}].srcDir"), l.src_dir.as_deref())?,
            ),
            name: l.name,
            roots,
            globs,
        });
    }
    let mut exes = Vec::new();
    for (i, x) in raw.lean_exe.into_iter().enumerate() {
        if x.name.is_empty() {
            return Err(bad(format!("lean_exe[{i}].name"), "is empty".into()));
        }
        let root = match &x.root {
            Some(r) => {
                ModName::parse(r).map_err(|e| bad(format!("lean_exe[{i}].root"), e.to_string()))?
            }
            None => target_name(&x.name),
        };
        exes.push(LeanExe {
            src_dir: join_dir(
                &pkg_src,
                &dir(format!("lean_exe[{i}].srcDir"), x.src_dir.as_deref())?,
            ),
            name: x.name,
            root,
        });
    }
    let mut notes = Vec::new();
    let requires = raw
        .require
        .into_iter()
        .map(|r| {
            let (source, location) = if let Some(p) = r.path {
                ("path", Some(p))
            } else if let Some(g) = r.git {
                let url = match g {
                    RawGit::Url(u) => u,
                    RawGit::Table { url, sub_dir } => match sub_dir {
                        Some(s) => format!("{url} (subDir {s})"),
                        None => url,
                    },
                };
                ("git", Some(url))
            } else if let Some(s) = r.source {
                let kind: &'static str = match s.get("type").and_then(|t| t.as_str()) {
                    Some("git") => "git",
                    Some("path") => "path",
                    _ => "unknown",
                };
                let loc = s
                    .get("url")
                    .or_else(|| s.get("path"))
                    .and_then(|v| v.as_str())
                    .map(str::to_owned);
                (kind, loc)
            } else {
                ("reservoir", r.scope.clone())
            };
            if source == "unknown" {
                notes.push(format!(
                    "the source of require {:?} is not a form this reader knows; the manifest is trusted for it",
                    r.name
                ));
            }
            Require {
                name: r.name,
                source: source.to_owned(),
                location,
                rev: r.rev.or(r.version),
            }
        })
        .collect();
    Ok(LakeConfig {
        file: if file.ends_with(LAKEFILE_TOML) {
            LAKEFILE_TOML
        } else {
            LAKEFILE_LEAN
        },
        method: ReadMethod::Toml,
        package: raw.name,
        packages_dir,
        libs,
        exes,
        requires,
        notes,
        bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_targets_and_requires() {
        let cfg = parse_toml(
            "lakefile.toml",
            br#"
name = "demo"
srcDir = "src"
[[lean_lib]]
name = "Demo"
globs = ["Demo.*", "Extra"]
[[lean_lib]]
name = "Other"
srcDir = "other"
roots = ["Other.Main"]
[[lean_exe]]
name = "demo-cli"
root = "Main"
[[require]]
name = "dep"
path = "deps/dep"
[[require]]
name = "batteries"
git = "https://example.invalid/batteries"
rev = "main"
"#
            .to_vec(),
        )
        .unwrap();
        assert_eq!(cfg.package.as_deref(), Some("demo"));
        assert_eq!(cfg.libs[0].src_dir, "src");
        assert_eq!(cfg.libs[0].roots[0].to_string(), "Demo");
        assert_eq!(cfg.libs[0].globs.len(), 2);
        assert_eq!(cfg.libs[1].src_dir, "src/other");
        assert_eq!(cfg.exes[0].root.to_string(), "Main");
        assert_eq!(cfg.requires[0].source, "path");
        assert_eq!(cfg.requires[1].rev.as_deref(), Some("main"));
    }

    #[test]
    fn toml_errors_name_file_and_field() {
        let e = parse_toml(
            "lakefile.toml",
            b"[[lean_lib]]\nname = \"A\"\nroots = [\"1bad\"]\n".to_vec(),
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("lakefile.toml")
                && e.to_string().contains("lean_lib[0].roots[0]"),
            "{e}"
        );
        let e = parse_toml("lakefile.toml", b"[[lean_lib]]\nsrcDir = 3\n".to_vec()).unwrap_err();
        assert!(e.to_string().contains("lakefile.toml"), "{e}");
    }
}
