//! Lean module names: the character classes of Lean identifiers, the canonical spelling
//! used as graph keys, and the module-name → source-path mapping.

use std::fmt;

/// Lean's `isLetterLike`: the non-ASCII characters that may start an identifier.
pub fn is_letter_like(c: char) -> bool {
    let v = c as u32;
    ((0x3b1..=0x3c9).contains(&v) && v != 0x3bb)
        || ((0x391..=0x3a9).contains(&v) && v != 0x3a0 && v != 0x3a3)
        || (0x3ca..=0x3fb).contains(&v)
        || (0x1f00..=0x1ffe).contains(&v)
        || (0x2100..=0x214f).contains(&v)
        || (0x1d49c..=0x1d59f).contains(&v)
        || ((0xc0..=0xff).contains(&v) && v != 0xd7 && v != 0xf7)
        || (0x100..=0x17f).contains(&v)
}

/// Lean's `isSubScriptAlnum`.
pub fn is_subscript_alnum(c: char) -> bool {
    let v = c as u32;
    (0x2080..=0x2089).contains(&v)
        || (0x2090..=0x209c).contains(&v)
        || (0x1d62..=0x1d6a).contains(&v)
        || v == 0x2c7c
}

/// Lean's `isIdFirst`: ASCII letter, `_`, or letter-like.
pub fn is_id_first(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || is_letter_like(c)
}

/// Lean's `isIdRest` as the fast header parser uses it (`isIdRestFast`).
pub fn is_id_rest(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || (c != '.'
            && c != '\n'
            && c != ' '
            && (c == '_'
                || c == '\''
                || c == '!'
                || c == '?'
                || is_letter_like(c)
                || is_subscript_alnum(c)))
}

/// A hierarchical module name such as `Foo.Bar`, as a list of non-empty parts.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ModName(Vec<String>);

/// Why a string is not a module name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not a Lean module name: {why}")]
pub struct NameError {
    /// The text.
    pub text: String,
    /// What is wrong.
    pub why: &'static str,
}

impl ModName {
    /// A name from its parts.
    ///
    /// # Panics
    /// When `parts` is empty or a part is empty: such a name cannot be written in Lean.
    pub fn from_parts(parts: Vec<String>) -> ModName {
        assert!(
            !parts.is_empty() && parts.iter().all(|p| !p.is_empty()),
            "a module name has at least one part and no empty part"
        );
        ModName(parts)
    }

    /// The parts.
    pub fn parts(&self) -> &[String] {
        &self.0
    }

    /// Parses a dotted name as Lean spells it (`Foo.Bar`, `Foo.«my part»`).
    ///
    /// # Errors
    /// [`NameError`] for anything that is not a complete identifier.
    pub fn parse(text: &str) -> Result<ModName, NameError> {
        let err = |why| NameError {
            text: text.to_owned(),
            why,
        };
        let mut parts = Vec::new();
        let mut rest = text;
        loop {
            let mut chars = rest.chars();
            match chars.next() {
                Some('«') => {
                    let body = &rest['«'.len_utf8()..];
                    let end = body.find('»').ok_or_else(|| err("unterminated `«`"))?;
                    if end == 0 {
                        return Err(err("an escaped part is empty"));
                    }
                    parts.push(body[..end].to_owned());
                    rest = &body[end + '»'.len_utf8()..];
                }
                Some(c) if is_id_first(c) => {
                    let end = rest
                        .char_indices()
                        .skip(1)
                        .find(|&(_, c)| !is_id_rest(c))
                        .map_or(rest.len(), |(i, _)| i);
                    parts.push(rest[..end].to_owned());
                    rest = &rest[end..];
                }
                Some(_) => return Err(err("a part does not start with a letter, `_` or `«`")),
                None => return Err(err("a part is empty")),
            }
            match rest.strip_prefix('.') {
                Some(r) => rest = r,
                None if rest.is_empty() => return Ok(ModName(parts)),
                None => return Err(err("unexpected character after a part")),
            }
        }
    }

    /// Whether `self` is `other` or one of its submodules.
    pub fn starts_with(&self, other: &ModName) -> bool {
        self.0.starts_with(&other.0)
    }

    /// The source file relative to a library's source directory: each part a directory,
    /// `.lean` appended to the last, `/`-separated.
    pub fn rel_path(&self) -> String {
        let mut s = self.0.join("/");
        s.push_str(".lean");
        s
    }

    /// The first part (`Init` for `Init.Prelude`).
    pub fn root(&self) -> &str {
        &self.0[0]
    }
}

/// A part is written bare when it reads back as one identifier part, else in `«»`.
fn needs_escape(part: &str) -> bool {
    let mut chars = part.chars();
    match chars.next() {
        Some(c) if is_id_first(c) => !chars.all(is_id_rest),
        _ => true,
    }
}

impl fmt::Display for ModName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, part) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            if needs_escape(part) {
                write!(f, "«{part}»")?;
            } else {
                f.write_str(part)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_display_round_trip() {
        for text in [
            "Foo",
            "Foo.Bar",
            "Foo.«my part»",
            "«1st».x",
            "α.β₁",
            "Foo'.bar?",
        ] {
            assert_eq!(ModName::parse(text).unwrap().to_string(), text);
        }
        assert_eq!(
            ModName::parse("Foo.«Bar»").unwrap().to_string(),
            "Foo.Bar",
            "a part that needs no escape is written bare"
        );
    }

    #[test]
    fn parse_refuses_non_names() {
        for text in [
            "", "Foo.", ".Foo", "1x", "Foo..Bar", "Foo.«", "Foo bar", "λ",
        ] {
            assert!(ModName::parse(text).is_err(), "{text:?} accepted");
        }
    }

    #[test]
    fn rel_path_is_one_directory_per_part() {
        let n = ModName::parse("Foo.«a b».Baz").unwrap();
        assert_eq!(n.rel_path(), "Foo/a b/Baz.lean");
    }
}
