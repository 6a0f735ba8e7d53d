//! Reading a TOML file a user hands us (feature `toml`): opened and bounded by
//! [`crate::confine`], UTF-8, parsed into the caller's type, each error naming the file.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

use crate::check::echo;
use crate::confine::{self, ReadError};

/// Why a TOML file could not be read into its type.
#[derive(Debug, thiserror::Error)]
pub enum TomlError {
    /// Missing, not a regular file, too large, unreadable.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// Not UTF-8, not TOML, or TOML that does not have the type's shape.
    #[error("{}: {detail}", path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// What is wrong, with its line when the parser knows it (cut to 200 characters).
        detail: String,
    },
}

/// Reads the file at `path` (a regular file, at most `limit` bytes; `what` names it in
/// errors, e.g. `"a policy file"`) and parses it as a `T`.
///
/// # Errors
/// [`TomlError`] naming the file.
pub fn read<T: DeserializeOwned>(
    path: &Path,
    limit: u64,
    what: &'static str,
) -> Result<T, TomlError> {
    let bytes = confine::read_file(path, limit, what)?;
    let text = std::str::from_utf8(&bytes).map_err(|e| TomlError::Syntax {
        path: path.to_owned(),
        detail: format!("not UTF-8 (byte {})", e.valid_up_to()),
    })?;
    parse(text, path)
}

/// Parses `text` as a `T`; `path` names the file in errors.
///
/// # Errors
/// [`TomlError::Syntax`] with the parser's message and line.
pub fn parse<T: DeserializeOwned>(text: &str, path: &Path) -> Result<T, TomlError> {
    toml::from_str(text).map_err(|e| {
        let message = echo(e.message().trim_end());
        let detail = match e.span() {
            Some(span) => {
                let line = text.as_bytes()[..span.start.min(text.len())]
                    .iter()
                    .filter(|&&b| b == b'\n')
                    .count()
                    + 1;
                format!("line {line}: {message}")
            }
            None => message,
        };
        TomlError::Syntax {
            path: path.to_owned(),
            detail,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Doc {
        #[allow(dead_code)]
        name: String,
    }

    #[test]
    fn errors_name_the_file_and_line() {
        let p = Path::new("x.toml");
        let e = parse::<Doc>("name = \"a\"\n\nextra = 1\n", p)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("x.toml: line 3: unknown field `extra`"),
            "{e}"
        );
        let e = parse::<Doc>("name = \n", p).unwrap_err().to_string();
        assert!(e.starts_with("x.toml: line 1: "), "{e}");
        assert!(parse::<Doc>("name = \"ok\"\n", p).is_ok());
    }

    #[test]
    fn a_file_that_is_not_utf8_or_not_regular_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("bad.toml");
        std::fs::write(&f, b"name = \"\xff\"\n").unwrap();
        let e = read::<Doc>(&f, 1 << 10, "a test file").unwrap_err();
        assert!(e.to_string().contains("not UTF-8 (byte 8)"), "{e}");
        assert!(matches!(
            read::<Doc>(dir.path(), 1 << 10, "a test file"),
            Err(TomlError::Read(ReadError::NotRegular { .. }))
        ));
    }
}
