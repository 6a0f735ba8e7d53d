//! `lakefile.lean`: a lexical scan of the Lean configuration program (tokens, then
//! declarations of literal settings), since it cannot be evaluated without a toolchain.

use super::{
    LAKEFILE_LEAN, LakeConfig, LeanExe, LeanLib, ReadMethod, Require, config_dir, join_dir,
    target_name,
};
use crate::error::Error;
use crate::glob::Glob;
use crate::name::ModName;

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
        let bad_dir = |field: &str, why: String| Error::Config {
            file: file.to_owned(),
            field: format!("line {line}: {field}"),
            why,
        };
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
                    Some(Ok(s)) => pkg_src = config_dir(&s).map_err(|w| bad_dir("srcDir", w))?,
                    Some(Err(())) => cfg.notes.push(format!(
                        "line {line}: the package srcDir is not a string literal; \".\" was assumed"
                    )),
                    None => {}
                }
                match str_field("packagesDir") {
                    Some(Ok(s)) => {
                        cfg.packages_dir =
                            Some(config_dir(&s).map_err(|w| bad_dir("packagesDir", w))?);
                    }
                    Some(Err(())) => cfg.notes.push(format!(
                        "line {line}: packagesDir is not a string literal; the manifest's is used"
                    )),
                    None => {}
                }
            }
            "lean_lib" | "lean_exe" => {
                // An empty string literal names nothing either.
                let Some(name) = name.filter(|n| !n.is_empty()) else {
                    cfg.notes.push(format!(
                        "line {line}: a {kw} without a literal name was skipped"
                    ));
                    continue;
                };
                let src = match str_field("srcDir") {
                    Some(Ok(s)) => config_dir(&s).map_err(|w| bad_dir("srcDir", w))?,
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
                        None => vec![target_name(&name)],
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
                            target_name(&name)
                        }),
                        None => target_name(&name),
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
#[cfg(test)]
mod tests {
    use super::*;

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
