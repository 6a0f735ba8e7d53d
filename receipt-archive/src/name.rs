//! Entry names: the one place an archive member's name becomes a relative path inside the
//! extraction directory, or a refusal saying why it cannot.

use crate::Refusal;

/// What an entry's name stands for once checked: the path's components (no empty, `.` or
/// `..` component) and whether the name ended with `/` (a directory in ZIP archives).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EntryPath {
    /// The components, in order; empty for a name that is only `/`-separated `.` parts.
    pub components: Vec<String>,
    /// Whether the name ended with `/`.
    pub trailing_slash: bool,
}

impl EntryPath {
    /// The normalized name, `/`-joined: the key duplicates are found by.
    pub fn normalized(&self) -> String {
        self.components.join("/")
    }
}

/// The text of a raw name for messages: lossy UTF-8, cut to 200 characters.
pub(crate) fn shown(raw: &[u8]) -> String {
    receipt_primitives::check::echo(&String::from_utf8_lossy(raw))
}

/// Checks one raw entry name and splits it into components.
///
/// Refused: bytes that are not UTF-8; NUL or any other control character; a backslash
/// (a Windows separator that Unix tools would keep inside one component); an absolute name
/// (leading `/`, or a drive prefix such as `C:`); a `..` component. Empty and `.` components
/// are dropped (`a//./b` is `a/b`).
pub(crate) fn check(raw: &[u8]) -> Result<EntryPath, Refusal> {
    let name = std::str::from_utf8(raw).map_err(|_| Refusal::NotUtf8)?;
    if name.chars().any(char::is_control) {
        return Err(Refusal::ControlCharacter);
    }
    if name.contains('\\') {
        return Err(Refusal::Backslash);
    }
    if name.starts_with('/') || has_drive_prefix(name) {
        return Err(Refusal::Absolute);
    }
    let mut components = Vec::new();
    for c in name.split('/') {
        match c {
            "" | "." => {}
            ".." => return Err(Refusal::ParentComponent),
            c => components.push(c.to_owned()),
        }
    }
    Ok(EntryPath {
        components,
        trailing_slash: name.ends_with('/'),
    })
}

/// `C:`, `c:foo`: a Windows drive-relative or absolute name.
fn has_drive_prefix(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_split_into_components_and_dot_parts_drop() {
        let p = check(b"a//./b/c.json").unwrap();
        assert_eq!(p.components, ["a", "b", "c.json"]);
        assert!(!p.trailing_slash);
        assert_eq!(p.normalized(), "a/b/c.json");
        assert!(check(b"dir/").unwrap().trailing_slash);
        assert!(check(b"./").unwrap().components.is_empty());
    }

    #[test]
    fn hostile_names_are_refused_with_their_reason() {
        assert_eq!(check(b"../x"), Err(Refusal::ParentComponent));
        assert_eq!(check(b"a/../../x"), Err(Refusal::ParentComponent));
        assert_eq!(check(b"/etc/passwd"), Err(Refusal::Absolute));
        assert_eq!(check(b"C:/Windows"), Err(Refusal::Absolute));
        assert_eq!(check(b"c:x"), Err(Refusal::Absolute));
        assert_eq!(check(b"a\\..\\x"), Err(Refusal::Backslash));
        assert_eq!(check(b"a\0b"), Err(Refusal::ControlCharacter));
        assert_eq!(check(b"a\nb"), Err(Refusal::ControlCharacter));
        assert_eq!(check(b"a\x7fb"), Err(Refusal::ControlCharacter));
        assert_eq!(check(b"a\xffb"), Err(Refusal::NotUtf8));
    }
}
