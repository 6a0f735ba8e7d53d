//! Lake's module globs (`N`, `N.*`, `N.+`) and their expansion over a source directory.

use std::fmt;
use std::fs;
use std::io;
use std::path::Path;

use crate::name::{ModName, NameError};

/// A Lake module glob.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Glob {
    /// `N`: the module itself.
    One(ModName),
    /// `N.*`: the module and all its submodules.
    AndSubmodules(ModName),
    /// `N.+`: the submodules only.
    Submodules(ModName),
}

impl Glob {
    /// Parses Lake's string form: `Foo`, `Foo.*`, `Foo.+`.
    ///
    /// # Errors
    /// [`NameError`] when the name part is not a module name.
    pub fn parse(text: &str) -> Result<Glob, NameError> {
        if let Some(n) = text.strip_suffix(".*") {
            Ok(Glob::AndSubmodules(ModName::parse(n)?))
        } else if let Some(n) = text.strip_suffix(".+") {
            Ok(Glob::Submodules(ModName::parse(n)?))
        } else {
            Ok(Glob::One(ModName::parse(text)?))
        }
    }

    /// The name the glob is about.
    pub fn name(&self) -> &ModName {
        match self {
            Glob::One(n) | Glob::AndSubmodules(n) | Glob::Submodules(n) => n,
        }
    }

    /// Whether `m` matches the glob.
    pub fn matches(&self, m: &ModName) -> bool {
        match self {
            Glob::One(n) => m == n,
            Glob::AndSubmodules(n) => m.starts_with(n),
            Glob::Submodules(n) => m.starts_with(n) && m != n,
        }
    }

    /// The modules the glob names under `src_dir`, sorted. `N` and `N.*` always name `N`
    /// (whose file must then exist); the submodules are the `.lean` files under `N/`.
    ///
    /// # Errors
    /// I/O errors reading the directory tree (an absent `N/` directory is no submodules).
    pub fn expand(&self, src_dir: &Path) -> io::Result<Vec<ModName>> {
        let mut out = Vec::new();
        if !matches!(self, Glob::Submodules(_)) {
            out.push(self.name().clone());
        }
        if !matches!(self, Glob::One(_)) {
            let mut dir = src_dir.to_path_buf();
            for p in self.name().parts() {
                dir.push(p);
            }
            walk(&dir, self.name().parts().to_vec(), &mut out)?;
        }
        out.sort();
        out.dedup();
        Ok(out)
    }
}

fn walk(dir: &Path, prefix: Vec<String>, out: &mut Vec<ModName>) -> io::Result<()> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let mut entries: Vec<_> = entries.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        // Names that are not UTF-8 cannot be Lean module names; Lake skips them too.
        let Ok(name) = e.file_name().into_string() else {
            continue;
        };
        let ty = e.file_type()?;
        if ty.is_dir() {
            let mut p = prefix.clone();
            p.push(name);
            walk(&e.path(), p, out)?;
        } else if let Some(stem) = name.strip_suffix(".lean")
            && !stem.is_empty()
        {
            let mut p = prefix.clone();
            p.push(stem.to_owned());
            out.push(ModName::from_parts(p));
        }
    }
    Ok(())
}

impl fmt::Display for Glob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Glob::One(n) => write!(f, "{n}"),
            Glob::AndSubmodules(n) => write!(f, "{n}.*"),
            Glob::Submodules(n) => write!(f, "{n}.+"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_match() {
        let m = |s| ModName::parse(s).unwrap();
        let g = Glob::parse("Foo.*").unwrap();
        assert!(g.matches(&m("Foo")) && g.matches(&m("Foo.Bar")) && !g.matches(&m("FooBar")));
        let g = Glob::parse("Foo.+").unwrap();
        assert!(!g.matches(&m("Foo")) && g.matches(&m("Foo.Bar.Baz")));
        let g = Glob::parse("Foo").unwrap();
        assert!(g.matches(&m("Foo")) && !g.matches(&m("Foo.Bar")));
        assert_eq!(Glob::parse("A.B.+").unwrap().to_string(), "A.B.+");
    }

    #[test]
    fn expand_walks_the_directory() {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir_all(d.path().join("Foo/Sub")).unwrap();
        for f in ["Foo.lean", "Foo/A.lean", "Foo/Sub/B.lean", "Foo/notes.txt"] {
            fs::write(d.path().join(f), "").unwrap();
        }
        let names = |g: &str| -> Vec<String> {
            Glob::parse(g)
                .unwrap()
                .expand(d.path())
                .unwrap()
                .iter()
                .map(ToString::to_string)
                .collect()
        };
        assert_eq!(names("Foo.*"), ["Foo", "Foo.A", "Foo.Sub.B"]);
        assert_eq!(names("Foo.+"), ["Foo.A", "Foo.Sub.B"]);
        assert_eq!(names("Foo"), ["Foo"]);
        assert_eq!(names("Bar.+"), Vec::<String>::new());
    }
}
