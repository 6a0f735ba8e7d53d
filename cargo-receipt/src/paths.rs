//! Relative, `/`-separated path spelling, so nothing recorded depends on the checkout path.

use std::path::{Component, Path};

/// `path` relative to `base`, `/`-separated, with `..` steps when `path` is not under
/// `base`; `.` when they are equal. Both should be absolute; the computation is lexical.
pub fn relative_slash(path: &Path, base: &Path) -> String {
    let p: Vec<Component<'_>> = path.components().collect();
    let b: Vec<Component<'_>> = base.components().collect();
    let common = p.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut parts: Vec<String> = Vec::new();
    for _ in common..b.len() {
        parts.push("..".into());
    }
    for c in &p[common..] {
        parts.push(c.as_os_str().to_string_lossy().into_owned());
    }
    if parts.is_empty() {
        ".".into()
    } else {
        parts.join("/")
    }
}

/// `path` relative to `base` when it lies under it, `/`-separated.
pub fn under(path: &Path, base: &Path) -> Option<String> {
    let rest = path.strip_prefix(base).ok()?;
    let parts: Vec<String> = rest
        .components()
        .map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect::<Option<_>>()?;
    (!parts.is_empty()).then(|| parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_never_start_at_the_root() {
        assert_eq!(relative_slash(Path::new("/a/b/c"), Path::new("/a")), "b/c");
        assert_eq!(relative_slash(Path::new("/a/x"), Path::new("/a/b")), "../x");
        assert_eq!(relative_slash(Path::new("/a"), Path::new("/a")), ".");
        assert_eq!(
            under(Path::new("/t/debug/x"), Path::new("/t")).as_deref(),
            Some("debug/x")
        );
        assert_eq!(under(Path::new("/u/x"), Path::new("/t")), None);
    }
}
