//! The package configuration: `lakefile.toml` parsed as TOML, or `lakefile.lean` read by a
//! lexical scan (it is a Lean program and cannot be evaluated without a toolchain).

use std::fs;
use std::path::Path;

use serde::Deserialize;

use crate::error::Error;
use crate::glob::Glob;
use crate::name::ModName;

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

/// Reads the configuration of the package in `dir`, `None` when it has neither file.
/// `rel` is how `dir` is named in messages.
///
/// # Errors
/// [`Error::Io`] when a file cannot be read, [`Error::Config`] naming the file and field
/// when its content is invalid.
pub fn read_config(dir: &Path, rel: &str) -> Result<Option<LakeConfig>, Error> {
    let lean = dir.join(LAKEFILE_LEAN);
    let toml_path = dir.join(LAKEFILE_TOML);
    if lean.is_file() {
        let bytes = fs::read(&lean).map_err(Error::io(join(rel, LAKEFILE_LEAN)))?;
        let mut cfg = scan_lean(&join(rel, LAKEFILE_LEAN), &bytes)?;
        if toml_path.is_file() {
            cfg.notes.push(format!(
                "{LAKEFILE_TOML} is also present and was ignored, as Lake does when {LAKEFILE_LEAN} exists"
            ));
        }
        Ok(Some(cfg))
    } else if toml_path.is_file() {
        let bytes = fs::read(&toml_path).map_err(Error::io(join(rel, LAKEFILE_TOML)))?;
        parse_toml(&join(rel, LAKEFILE_TOML), bytes).map(Some)
    } else {
        Ok(None)
    }
}

fn join(dir: &str, file: &str) -> String {
    if dir.is_empty() || dir == "." {
        file.to_owned()
    } else {
        format!("{dir}/{file}")
    }
}

/// `a / b` for configuration paths: `.` components vanish, `/`-separated.
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

/// A target or root name as Lake reads it from TOML: a dotted name when it is one,
/// otherwise a single-part name.
fn toml_name(text: &str) -> ModName {
    ModName::parse(text).unwrap_or_else(|_| ModName::from_parts(vec![text.to_owned()]))
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
    let pkg_src = raw.src_dir.unwrap_or_else(|| ".".into());
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
            None => vec![toml_name(&l.name)],
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
            src_dir: join_dir(&pkg_src, l.src_dir.as_deref().unwrap_or(".")),
            name: l.name,
            roots,
            globs,
        });
    }
    let mut exes = Vec::new();
    for (i, x) in raw.lean_exe.into_iter().enumerate() {
        let root = match &x.root {
            Some(r) => {
                ModName::parse(r).map_err(|e| bad(format!("lean_exe[{i}].root"), e.to_string()))?
            }
            None => toml_name(&x.name),
        };
        exes.push(LeanExe {
            src_dir: join_dir(&pkg_src, x.src_dir.as_deref().unwrap_or(".")),
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
        packages_dir: raw.packages_dir,
        libs,
        exes,
        requires,
        notes,
        bytes,
    })
}

/// A token of the lexical scan: identifiers, string literals, backtick names and
/// punctuation, each with the column it starts at.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Ident(String),
    Str(String),
    Quoted(String),
    Punct(String),
}

struct Lexed {
    tok: Tok,
    line: u32,
    col0: bool,
}

/// Splits a `lakefile.lean` into tokens, skipping comments (nested) and whitespace.
fn lex(file: &str, text: &str) -> Result<Vec<Lexed>, Error> {
    let b: Vec<char> = text.chars().collect();
    let (mut i, mut line, mut col) = (0usize, 1u32, 0u32);
    let mut out = Vec::new();
    let bad = |line: u32, why: &str| Error::Config {
        file: file.to_owned(),
        field: format!("line {line}"),
        why: why.to_owned(),
    };
    macro_rules! adv {
        () => {{
            if b[i] == '\n' {
                line += 1;
                col = 0;
            } else {
                col += 1;
            }
            i += 1;
        }};
    }
    while i < b.len() {
        let c = b[i];
        let start_line = line;
        let col0 = col == 0;
        if c.is_whitespace() {
            adv!();
        } else if c == '-' && b.get(i + 1) == Some(&'-') {
            while i < b.len() && b[i] != '\n' {
                adv!();
            }
        } else if c == '/' && b.get(i + 1) == Some(&'-') {
            let mut depth = 0u32;
            loop {
                if i >= b.len() {
                    return Err(bad(start_line, "unterminated comment"));
                }
                if b[i] == '/' && b.get(i + 1) == Some(&'-') {
                    depth += 1;
                    adv!();
                    adv!();
                } else if b[i] == '-' && b.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    adv!();
                    adv!();
                    if depth == 0 {
                        break;
                    }
                } else {
                    adv!();
                }
            }
        } else if c == '"' {
            adv!();
            let mut s = String::new();
            loop {
                if i >= b.len() {
                    return Err(bad(start_line, "unterminated string literal"));
                }
                match b[i] {
                    '"' => {
                        adv!();
                        break;
                    }
                    '\\' if i + 1 < b.len() => {
                        adv!();
                        s.push(match b[i] {
                            'n' => '\n',
                            't' => '\t',
                            other => other,
                        });
                        adv!();
                    }
                    other => {
                        s.push(other);
                        adv!();
                    }
                }
            }
            out.push(Lexed {
                tok: Tok::Str(s),
                line: start_line,
                col0,
            });
        } else if c == '`' || c == '«' || crate::name::is_id_first(c) {
            let quoted = c == '`';
            if quoted {
                adv!();
            }
            let mut s = String::new();
            while i < b.len() {
                let ch = b[i];
                if ch == '«' {
                    while i < b.len() && b[i] != '»' {
                        s.push(b[i]);
                        adv!();
                    }
                    if i < b.len() {
                        s.push('»');
                        adv!();
                    }
                } else if crate::name::is_id_rest(ch)
                    || (ch == '.'
                        && b.get(i + 1)
                            .is_some_and(|&n| crate::name::is_id_first(n) || n == '«'))
                {
                    s.push(ch);
                    adv!();
                } else {
                    break;
                }
            }
            out.push(Lexed {
                tok: if quoted {
                    Tok::Quoted(s)
                } else {
                    Tok::Ident(s)
                },
                line: start_line,
                col0,
            });
        } else {
            let two: String = b[i..(i + 2).min(b.len())].iter().collect();
            let p = if [":=", "#[", "@["].contains(&two.as_str()) {
                adv!();
                adv!();
                two
            } else {
                adv!();
                c.to_string()
            };
            out.push(Lexed {
                tok: Tok::Punct(p),
                line: start_line,
                col0,
            });
        }
    }
    Ok(out)
}

/// The literal value after `field :=` in a declaration's tokens.
fn field_value<'t>(toks: &'t [Lexed], field: &str) -> Option<&'t [Lexed]> {
    let at = toks.windows(2).position(|w| {
        w[0].tok == Tok::Ident(field.to_owned()) && w[1].tok == Tok::Punct(":=".into())
    })?;
    let rest = &toks[at + 2..];
    // The value runs to the next `ident :=` or the end of the declaration.
    let end = rest
        .windows(2)
        .position(|w| matches!(w[0].tok, Tok::Ident(_)) && w[1].tok == Tok::Punct(":=".into()))
        .unwrap_or(rest.len());
    Some(&rest[..end])
}

fn decl_name(tok: Option<&Lexed>) -> Option<String> {
    match tok.map(|t| &t.tok) {
        Some(Tok::Ident(s)) => Some(match ModName::parse(s) {
            Ok(n) if n.parts().len() == 1 => n.parts()[0].clone(),
            _ => s.clone(),
        }),
        Some(Tok::Str(s)) => Some(s.clone()),
        _ => None,
    }
}

/// Reads a `lakefile.lean` by a lexical scan. `file` names it in messages.
///
/// # Errors
/// [`Error::Config`] for text that cannot be tokenized (an unterminated comment or string).
pub fn scan_lean(file: &str, bytes: &[u8]) -> Result<LakeConfig, Error> {
    let text = std::str::from_utf8(bytes).map_err(|e| Error::Config {
        file: file.to_owned(),
        field: "(file)".into(),
        why: format!("is not UTF-8 ({e})"),
    })?;
    let toks = lex(file, text)?;
    // A declaration runs from a token in column 0 to the next one: Lake configurations are
    // written as top-level commands, each starting at the left margin.
    let mut decls: Vec<&[Lexed]> = Vec::new();
    let mut start = 0;
    for i in 1..=toks.len() {
        if i == toks.len() || toks[i].col0 {
            decls.push(&toks[start..i]);
            start = i;
        }
    }
    let mut cfg = LakeConfig {
        file: LAKEFILE_LEAN,
        method: ReadMethod::LeanScan,
        package: None,
        packages_dir: None,
        libs: Vec::new(),
        exes: Vec::new(),
        requires: Vec::new(),
        notes: Vec::new(),
        bytes: bytes.to_vec(),
    };
    let mut pkg_src = ".".to_owned();
    let mut pending_libs = Vec::new();
    let mut pending_exes = Vec::new();
    for d in decls {
        // Attributes such as `@[default_target]` precede the keyword.
        let mut k = 0;
        if d.first().map(|t| &t.tok) == Some(&Tok::Punct("@[".into())) {
            k = d
                .iter()
                .position(|t| t.tok == Tok::Punct("]".into()))
                .map_or(d.len(), |p| p + 1);
        }
        let Some(Tok::Ident(kw)) = d.get(k).map(|t| &t.tok) else {
            continue;
        };
        let name = decl_name(d.get(k + 1));
        let line = d[k].line;
        let body = &d[(k + 2).min(d.len())..];
        let str_field = |f: &str| match field_value(body, f) {
            Some(
                [
                    Lexed {
                        tok: Tok::Str(s), ..
                    },
                ],
            ) => Some(Ok(s.clone())),
            Some(_) => Some(Err(())),
            None => None,
        };
        match kw.as_str() {
            "package" => {
                cfg.package = name;
                match str_field("srcDir") {
                    Some(Ok(s)) => pkg_src = s,
                    Some(Err(())) => cfg.notes.push(format!(
                        "line {line}: the package srcDir is not a string literal; \".\" was assumed"
                    )),
                    None => {}
                }
                match str_field("packagesDir") {
                    Some(Ok(s)) => cfg.packages_dir = Some(s),
                    Some(Err(())) => cfg.notes.push(format!(
                        "line {line}: packagesDir is not a string literal; the manifest's is used"
                    )),
                    None => {}
                }
            }
            "lean_lib" | "lean_exe" => {
                let Some(name) = name else {
                    cfg.notes.push(format!(
                        "line {line}: a {kw} without a literal name was skipped"
                    ));
                    continue;
                };
                let src = match str_field("srcDir") {
                    Some(Ok(s)) => s,
                    Some(Err(())) => {
                        cfg.notes.push(format!(
                            "line {line}: srcDir of {kw} {name} is not a string literal; \".\" was assumed"
                        ));
                        ".".into()
                    }
                    None => ".".into(),
                };
                if kw == "lean_lib" {
                    let roots = match field_value(body, "roots") {
                        Some(v) => names_in(v),
                        None => vec![toml_name(&name)],
                    };
                    let globs = match field_value(body, "globs") {
                        Some(v) => globs_in(v),
                        None => roots.iter().cloned().map(Glob::One).collect(),
                    };
                    if roots.is_empty() {
                        cfg.notes.push(format!(
                            "line {line}: roots of lean_lib {name} are not literal names; the library has no roots here"
                        ));
                    }
                    pending_libs.push((name, src, roots, globs));
                } else {
                    let root = match field_value(body, "root") {
                        Some(v) => names_in(v).into_iter().next().unwrap_or_else(|| {
                            cfg.notes.push(format!(
                                "line {line}: root of lean_exe {name} is not a literal name; the target name was used"
                            ));
                            toml_name(&name)
                        }),
                        None => toml_name(&name),
                    };
                    pending_exes.push((name, src, root));
                }
            }
            "require" => {
                let (name, source, location) = scan_require(&d[k + 1..]);
                match name {
                    Some(name) => cfg.requires.push(Require {
                        name,
                        source,
                        location,
                        rev: None,
                    }),
                    None => cfg.notes.push(format!(
                        "line {line}: a require without a literal name was skipped"
                    )),
                }
            }
            _ => {}
        }
    }
    cfg.libs = pending_libs
        .into_iter()
        .map(|(name, src, roots, globs)| LeanLib {
            name,
            src_dir: join_dir(&pkg_src, &src),
            roots,
            globs,
        })
        .collect();
    cfg.exes = pending_exes
        .into_iter()
        .map(|(name, src, root)| LeanExe {
            name,
            src_dir: join_dir(&pkg_src, &src),
            root,
        })
        .collect();
    cfg.notes.push(
        "lakefile.lean is a Lean program and was not evaluated: targets and their literal srcDir, roots, globs and root settings were read by a lexical scan, and dependencies are taken from lake-manifest.json"
            .into(),
    );
    Ok(cfg)
}

/// Backtick names in a value (`#[`A, `B.C]`).
fn names_in(v: &[Lexed]) -> Vec<ModName> {
    v.iter()
        .filter_map(|t| match &t.tok {
            Tok::Quoted(s) => ModName::parse(s).ok(),
            _ => None,
        })
        .collect()
}

/// Glob constructors in a value: `.one `A`, `.submodules `A`, `.andSubmodules `A`, or
/// `Glob.…`; a bare backtick name is `.one`.
fn globs_in(v: &[Lexed]) -> Vec<Glob> {
    let mut out = Vec::new();
    let mut ctor: Option<&str> = None;
    for t in v {
        match &t.tok {
            Tok::Ident(s) => {
                let s = s.strip_prefix("Glob.").unwrap_or(s);
                if ["one", "submodules", "andSubmodules"].contains(&s) {
                    ctor = Some(match s {
                        "one" => "one",
                        "submodules" => "submodules",
                        _ => "andSubmodules",
                    });
                }
            }
            Tok::Quoted(s) => {
                if let Ok(n) = ModName::parse(s) {
                    out.push(match ctor.take() {
                        Some("submodules") => Glob::Submodules(n),
                        Some("andSubmodules") => Glob::AndSubmodules(n),
                        _ => Glob::One(n),
                    });
                }
            }
            _ => {}
        }
    }
    out
}

/// `require name from git "url" @ "rev"`, `require name from "path"`,
/// `require "scope" / "name" …`.
fn scan_require(t: &[Lexed]) -> (Option<String>, String, Option<String>) {
    let tok = |i: usize| t.get(i).map(|l| &l.tok);
    match (tok(0), tok(1), tok(2)) {
        (Some(Tok::Str(scope)), Some(Tok::Punct(p)), Some(Tok::Str(n))) if p == "/" => {
            (Some(n.clone()), "reservoir".into(), Some(scope.clone()))
        }
        (Some(Tok::Ident(n) | Tok::Str(n)), from, _) => {
            let n = Some(n.clone());
            if from != Some(&Tok::Ident("from".into())) {
                return (n, "reservoir".into(), None);
            }
            match (tok(2), tok(3)) {
                (Some(Tok::Ident(g)), Some(Tok::Str(url))) if g == "git" => {
                    (n, "git".into(), Some(url.clone()))
                }
                (Some(Tok::Str(p)), _) => (n, "path".into(), Some(p.clone())),
                _ => (n, "unknown".into(), None),
            }
        }
        _ => (None, "unknown".into(), None),
    }
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

    #[test]
    fn lean_scan_reads_literal_settings() {
        let src = r#"import Lake
open Lake DSL

/- lean_lib Commented where srcDir := "no" -/
package «my-pkg» where
  srcDir := "src"

require batteries from git "https://example.invalid/b" @ "main"
require "leanprover-community" / "mathlib"

@[default_target]
lean_lib MyLib where
  roots := #[`MyLib, `MyLib.Extra]
  globs := #[.andSubmodules `MyLib, Glob.one `Top]

lean_lib Second where
  srcDir := "second"

lean_exe cli where
  root := `Main
"#;
        let cfg = scan_lean("lakefile.lean", src.as_bytes()).unwrap();
        assert_eq!(cfg.package.as_deref(), Some("my-pkg"));
        assert_eq!(cfg.libs.len(), 2);
        assert_eq!(cfg.libs[0].name, "MyLib");
        assert_eq!(cfg.libs[0].src_dir, "src");
        assert_eq!(cfg.libs[0].roots.len(), 2);
        assert_eq!(
            cfg.libs[0].globs,
            [
                Glob::AndSubmodules(ModName::parse("MyLib").unwrap()),
                Glob::One(ModName::parse("Top").unwrap())
            ]
        );
        assert_eq!(cfg.libs[1].src_dir, "src/second");
        assert_eq!(cfg.exes[0].root.to_string(), "Main");
        assert_eq!(cfg.requires.len(), 2);
        assert_eq!(cfg.requires[1].name, "mathlib");
        assert_eq!(cfg.requires[0].source, "git");
    }
}
