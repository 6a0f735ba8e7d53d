//! Git's index file, read directly: the tracked paths a scan starts from (what
//! `git ls-files -z --cached` prints, without starting git), and the size of each tracked
//! file as a hint for the order in which a scan hashes them.
//!
//! The listing must be exactly git's, so it is given only for an index this reader fully
//! understands: every entry and extension well-formed up to the trailing checksum (whose
//! length the repository's object format gives; git itself checks its value only in
//! `git fsck`, so neither does this reader), no split or sparse index, no environment or
//! repository configuration that could make git read another index or work tree. Anything
//! else gives `None`, and the scan asks git.
//!
//! The size hint: SHA-256 of one file is sequential, so a large file that starts late keeps
//! one core busy after the others ran out of work; large files often sit together in sorted
//! order (a `vendor/` or `assets/` directory), which makes that likely. Hashing them first
//! (longest-processing-time-first scheduling) ends a scan on small files instead. Only the
//! order of work depends on the hint: the set, the digests and the root do not, so it is
//! read leniently (no checksum; entries it cannot name are skipped).
//!
//! Format: git's `gitformat-index` documentation.

use std::fs;
use std::path::{Path, PathBuf};

/// Past this size (an index of millions of files) reading it is not worth the memory; git
/// is asked instead.
const MAX_INDEX: u64 = 256 << 20;

/// The index of the work tree holding a scan root.
#[derive(Debug)]
pub(super) struct Index {
    bytes: Vec<u8>,
    /// Where the repository is.
    pub(super) repo: Repo,
    /// The root's path inside the work tree: empty, or ending in `/`.
    prefix: String,
    /// When the listing may be taken from this file rather than from git: the length of
    /// the trailing checksum (20 bytes for SHA-1 repositories, 32 for SHA-256).
    listable: Option<usize>,
}

impl Index {
    /// The index of the work tree holding `root`; `None` when there is none to read, or
    /// git would be told by its environment to look elsewhere.
    pub(super) fn read(root: &Path) -> Option<Index> {
        Index::read_as(root, env_allows(std::env::vars_os().map(|(k, _)| k)))
    }

    /// [`Index::read`], told whether the environment lets the listing come from the file.
    fn read_as(root: &Path, env_allows: bool) -> Option<Index> {
        let found = locate(root)?;
        let index = found.repo.git_dir.join("index");
        if fs::metadata(&index).ok()?.len() > MAX_INDEX {
            return None;
        }
        let bytes = fs::read(&index).ok()?;
        let listable = found.repo_allows().filter(|_| env_allows);
        Some(Index {
            bytes,
            repo: found.repo,
            prefix: found.prefix,
            listable,
        })
    }

    /// An index of `bytes`, with the scan root at `prefix` (empty, or ending in `/`),
    /// listable with a checksum of `hash_len` bytes when that is given: the reader without
    /// a repository on disk, for the fuzz harnesses.
    #[cfg(feature = "fuzzing")]
    pub(super) fn from_bytes(bytes: Vec<u8>, prefix: &str, hash_len: Option<usize>) -> Index {
        let top = PathBuf::from(".");
        Index {
            bytes,
            repo: Repo {
                git_dir: top.join(".git"),
                common_dir: top.join(".git"),
                top,
            },
            prefix: prefix.to_owned(),
            listable: hash_len,
        }
    }

    /// Whether the listing may come from this file (see [`Index::tracked_paths`]).
    pub(super) fn listable(&self) -> bool {
        self.listable.is_some()
    }

    /// The paths `git ls-files -z --cached` prints at the root, sorted and deduplicated;
    /// `None` unless this reader is sure of that (see the module documentation).
    pub(super) fn tracked_paths(&self) -> Option<Vec<String>> {
        let hash_len = self.listable?;
        let (version, count) = header(&self.bytes)?;
        let body = &self.bytes[..self.bytes.len().checked_sub(hash_len)?];
        // The count is the file's claim: reserve no more than its bytes can hold (an entry
        // takes at least its stat fields and object name).
        let mut paths = Vec::with_capacity(count.min(body.len() / (NAME_OFFSET + hash_len)));
        let mut sure = true;
        let end = walk(body, version, count, hash_len, |mode, _, name| {
            // A sparse-directory entry (folded by a sparse index) stands for files git would
            // list one by one; an entry without a name belongs to a split index.
            if mode & TYPE_MASK == DIRECTORY || name.is_empty() {
                sure = false;
            }
            if let Some(rel) = name.strip_prefix(self.prefix.as_bytes()) {
                match std::str::from_utf8(rel) {
                    Ok(rel) => paths.push(rel.to_string()),
                    // git's own listing reports it, in the scan's words.
                    Err(_) => sure = false,
                }
            }
        })?;
        if !sure || !extensions_understood(&body[end..]) {
            return None;
        }
        // Index order is path order except for the stages of a conflicted path, which
        // repeat it.
        paths.sort_unstable();
        paths.dedup();
        Some(paths)
    }

    /// Tracked regular files at or above `min_size` bytes by the index, relative to the
    /// root, with the size the index records (the low 32 bits of the size, as git keeps
    /// it). Empty when the index cannot be read.
    pub(super) fn large_files(&self, min_size: u64) -> Vec<(String, u64)> {
        large_in(&self.bytes, &self.prefix, min_size).unwrap_or_default()
    }
}

/// The regular-file entries of an index at or above `min_size`, below `prefix` (stripped).
/// The object-name length (SHA-1 or SHA-256) is not recorded in the file; the one under
/// which every entry is well-formed is taken.
fn large_in(bytes: &[u8], prefix: &str, min_size: u64) -> Option<Vec<(String, u64)>> {
    let (version, count) = header(bytes)?;
    [20, 32].into_iter().find_map(|hash_len| {
        let end = bytes.len().checked_sub(hash_len)?;
        let mut out = Vec::new();
        walk(
            &bytes[..end],
            version,
            count,
            hash_len,
            |mode, size, name| {
                // An entry of a split index that replaces one in the shared index has no name
                // of its own; which file it stands for is not known here.
                if mode & TYPE_MASK != REGULAR || u64::from(size) < min_size || name.is_empty() {
                    return;
                }
                if let Some(rel) = name.strip_prefix(prefix.as_bytes())
                    && let Ok(rel) = std::str::from_utf8(rel)
                {
                    out.push((rel.to_string(), u64::from(size)));
                }
            },
        )?;
        Some(out)
    })
}

/// Where a repository is, as far as git's discovery goes without running git.
#[derive(Debug)]
pub(super) struct Repo {
    /// The top of the work tree (the directory holding `.git`).
    pub(super) top: PathBuf,
    /// The `.git` directory (for a linked worktree or submodule, the one its `.git` file
    /// names).
    pub(super) git_dir: PathBuf,
    /// The directory shared by all worktrees (`commondir`), else `git_dir`: configuration
    /// and `info/exclude` are there.
    pub(super) common_dir: PathBuf,
}

/// A root's repository and the root's place in its work tree.
struct Located {
    repo: Repo,
    prefix: String,
}

impl Located {
    /// Whether git, run at the root, would surely list this index's entries as far as the
    /// repository goes: it has a `HEAD`, the root is not inside a `.git` directory, and no
    /// repository configuration names a work tree, makes paths case-insensitive or
    /// includes other files. If so, the length of the index checksum: 32 bytes where the
    /// configuration sets `extensions.objectFormat = sha256`, else 20.
    fn repo_allows(&self) -> Option<usize> {
        let repo = &self.repo;
        if !repo.git_dir.join("HEAD").is_file() || self.prefix.split('/').any(|c| c == ".git") {
            return None;
        }
        let mut hash_len = 20;
        for dir in [&repo.git_dir, &repo.common_dir] {
            for name in ["config", "config.worktree"] {
                let Some(text) = ConfigText::read(&dir.join(name)).ok()? else {
                    continue;
                };
                if text.mentions(b"worktree")
                    || text.mentions(b"ignorecase=true")
                    || text.mentions(b"include")
                {
                    return None;
                }
                if text.mentions(b"objectformat=sha256") {
                    hash_len = 32;
                }
            }
        }
        Some(hash_len)
    }
}

/// A git configuration file's bytes, lowercased and without whitespace, for a search of its
/// settings that errs towards finding them: `objectFormat = sha256` reads
/// `objectformat=sha256`, and a comment mentioning a setting counts as the setting.
pub(super) struct ConfigText(Vec<u8>);

impl ConfigText {
    /// The file at `path`; `Ok(None)` when there is none.
    pub(super) fn read(path: &Path) -> std::io::Result<Option<ConfigText>> {
        match fs::read(path) {
            Ok(text) => Ok(Some(ConfigText(
                text.into_iter()
                    .filter(|b| !b.is_ascii_whitespace())
                    .map(|b| b.to_ascii_lowercase())
                    .collect(),
            ))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Whether `what` (lowercase, without whitespace) occurs in the file.
    pub(super) fn mentions(&self, what: &[u8]) -> bool {
        self.0.windows(what.len()).any(|w| w == what)
    }
}

/// Variables that name another repository, index, work tree or search for one.
const REDIRECTING: [&str; 7] = [
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_COMMON_DIR",
    "GIT_CEILING_DIRECTORIES",
    "GIT_DISCOVERY_ACROSS_FILESYSTEM",
    "GIT_NAMESPACE",
];

/// Whether no environment variable among `names` could make git, run at the root, read
/// another index, work tree or configuration: `GIT_DIR`, `GIT_WORK_TREE`, `GIT_INDEX_FILE`,
/// `GIT_COMMON_DIR`, `GIT_CEILING_DIRECTORIES`, `GIT_DISCOVERY_ACROSS_FILESYSTEM`,
/// `GIT_NAMESPACE`, and every `GIT_CONFIG*` and `GIT_TEST_*` variable.
pub(super) fn env_allows(mut names: impl Iterator<Item = std::ffi::OsString>) -> bool {
    !names.any(|name| {
        let name = name.as_encoded_bytes();
        REDIRECTING.iter().any(|e| e.as_bytes() == name)
            || name.starts_with(b"GIT_CONFIG")
            || name.starts_with(b"GIT_TEST_")
    })
}

/// Finds the repository of the work tree holding `root`; `None` when git would be told
/// otherwise by its environment, or there is no `.git` above `root`.
fn locate(root: &Path) -> Option<Located> {
    const OVERRIDES: [&str; 4] = [
        "GIT_DIR",
        "GIT_INDEX_FILE",
        "GIT_WORK_TREE",
        "GIT_COMMON_DIR",
    ];
    if OVERRIDES.iter().any(|v| std::env::var_os(v).is_some()) {
        return None;
    }
    let root = fs::canonicalize(root).ok()?;
    let top = root.ancestors().find(|d| d.join(".git").exists())?;
    let dot_git = top.join(".git");
    let git_dir = if dot_git.is_dir() {
        dot_git
    } else {
        // A linked worktree or submodule: `.git` is a file naming the real directory.
        let text = fs::read_to_string(&dot_git).ok()?;
        let target = text.strip_prefix("gitdir:")?.trim();
        top.join(target)
    };
    let mut prefix = String::new();
    for part in root.strip_prefix(top).ok()?.components() {
        prefix.push_str(part.as_os_str().to_str()?);
        prefix.push('/');
    }
    let common_dir = fs::read_to_string(git_dir.join("commondir"))
        .ok()
        .map_or_else(|| git_dir.clone(), |c| git_dir.join(c.trim_end()));
    Some(Located {
        repo: Repo {
            top: top.to_path_buf(),
            git_dir,
            common_dir,
        },
        prefix,
    })
}

/// The version and entry count of an index, if it is one of versions 2 to 4.
fn header(bytes: &[u8]) -> Option<(u32, usize)> {
    if bytes.get(..4)? != b"DIRC" {
        return None;
    }
    let version = be32(bytes, 4)?;
    if !(2..=4).contains(&version) {
        return None;
    }
    Some((version, be32(bytes, 8)? as usize))
}

/// Whether the extensions after the entries are well-formed and none changes which paths
/// the index holds: a split index (`link`), a sparse index (`sdir`) or any other required
/// extension this reader does not know. As git reads them, only a signature starting with
/// an uppercase ASCII letter is optional; any other (lowercase, or not a letter) is required.
fn extensions_understood(mut rest: &[u8]) -> bool {
    while !rest.is_empty() {
        let (Some(signature), Some(len)) = (rest.get(..4), be32(rest, 4)) else {
            return false;
        };
        if !signature[0].is_ascii_uppercase() {
            return false;
        }
        let Some(next) = rest.get(8 + len as usize..) else {
            return false;
        };
        rest = next;
    }
    true
}

/// Mode bits of a regular file in an index entry (`0100644` or `0100755`).
const REGULAR: u32 = 0o100000;
/// Mode bits of a sparse-directory entry.
const DIRECTORY: u32 = 0o040000;
const TYPE_MASK: u32 = 0o170000;
/// Offset of the object name in an entry: ten 32-bit stat and mode fields.
const NAME_OFFSET: usize = 40;
/// The flag of an entry followed by a second, extended flags word (version 3 and later).
const EXTENDED: u16 = 0x4000;
/// The extended flags git reads: intent-to-add and skip-worktree.
const INTENT_TO_ADD: u16 = 0x2000;
const SKIP_WORKTREE: u16 = 0x4000;

/// Calls `each(mode, size, name)` for the `count` entries at the start of `bytes` (after the
/// 12-byte header) and returns where they end; `None` when an entry is malformed.
fn walk(
    bytes: &[u8],
    version: u32,
    count: usize,
    hash_len: usize,
    mut each: impl FnMut(u32, u32, &[u8]),
) -> Option<usize> {
    let mut at = 12;
    // The header may reach into the checksum, which `bytes` leaves out.
    if bytes.len() < at {
        return None;
    }
    let mut name: Vec<u8> = Vec::new();
    for _ in 0..count {
        let start = at;
        let mode = be32(bytes, start + 24)?;
        let size = be32(bytes, start + 36)?;
        let flags_at = start + NAME_OFFSET + hash_len;
        let flags = u16::from_be_bytes(bytes.get(flags_at..flags_at + 2)?.try_into().ok()?);
        let mut path_at = flags_at + 2;
        if flags & EXTENDED != 0 {
            if version < 3 {
                return None;
            }
            // Git refuses an entry with any extended flag besides these two ("unknown index
            // entry format").
            let extended = u16::from_be_bytes(bytes.get(path_at..path_at + 2)?.try_into().ok()?);
            if extended & !(INTENT_TO_ADD | SKIP_WORKTREE) != 0 {
                return None;
            }
            path_at += 2;
        }
        let stated_len = usize::from(flags & 0x0fff);
        if version == 4 {
            // The name is the previous one less its last `strip` bytes, plus a
            // NUL-terminated suffix; no padding follows.
            let (strip, used) = varint(bytes.get(path_at..)?)?;
            name.truncate(name.len().checked_sub(strip)?);
            let suffix_at = path_at + used;
            let nul = bytes.get(suffix_at..)?.iter().position(|&b| b == 0)?;
            name.extend_from_slice(&bytes[suffix_at..suffix_at + nul]);
            at = suffix_at + nul + 1;
        } else {
            let nul = bytes.get(path_at..)?.iter().position(|&b| b == 0)?;
            name.clear();
            name.extend_from_slice(&bytes[path_at..path_at + nul]);
            // Padded with 1 to 8 NULs to a multiple of eight bytes from the entry's start.
            let entry_len = (path_at - start + nul + 8) & !7;
            let padding = bytes.get(path_at + nul..start + entry_len)?;
            if padding.iter().any(|&b| b != 0) {
                return None;
            }
            at = start + entry_len;
        }
        if stated_len < 0x0fff && stated_len != name.len() {
            return None;
        }
        each(mode, size, &name);
    }
    Some(at)
}

fn be32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

/// Git's offset varint (`decode_varint`): seven bits per byte, most significant first, each
/// continuation adding one. Returns the value and the bytes it took.
fn varint(bytes: &[u8]) -> Option<(usize, usize)> {
    let mut value: usize = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if i > 0 {
            value = value.checked_add(1)?.checked_mul(128)?;
        }
        value |= usize::from(b & 0x7f);
        if b & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{git, git_output};

    /// What `git ls-files -z --cached` prints at `dir`, sorted and deduplicated.
    fn git_listing(dir: &Path) -> Vec<String> {
        let out = git(dir, &["ls-files", "-z", "--cached"]);
        let mut paths: Vec<String> = out
            .split(|&b| b == 0)
            .filter(|p| !p.is_empty())
            .map(|p| String::from_utf8(p.to_vec()).unwrap())
            .collect();
        paths.sort();
        paths.dedup();
        paths
    }

    /// The listing taken from the index file, whatever this process's environment holds.
    fn listed(dir: &Path) -> Option<Vec<String>> {
        Index::read_as(dir, true)?.tracked_paths()
    }

    /// Adds entries of every kind the index holds: a skip-worktree entry, an intent-to-add
    /// entry (extended flags), a submodule (gitlink) and an executable.
    fn add_every_kind(root: &Path, hash_hex_len: usize) {
        git(root, &["update-index", "--skip-worktree", "src/lib.rs"]);
        write(root, "new/intent.bin", 9000);
        git(root, &["add", "-N", "new/intent.bin"]);
        let gitlink = format!("160000,{},vendor/sub", "1".repeat(hash_hex_len));
        git(root, &["update-index", "--add", "--cacheinfo", &gitlink]);
        write(root, "bin/run.sh", 20);
        let run = root.join("bin/run.sh");
        let mut perm = fs::metadata(&run).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o755);
        fs::set_permissions(&run, perm).unwrap();
        git(root, &["add", "bin/run.sh"]);
    }

    #[test]
    fn the_listing_from_the_index_is_gits_for_every_version_hash_and_entry_kind() {
        for (init, hex) in [(&[][..], 40), (&["--object-format=sha256"][..], 64)] {
            for version in [None, Some("2"), Some("3"), Some("4")] {
                let dir = repo(init, None);
                let root = dir.path();
                add_every_kind(root, hex);
                if let Some(v) = version {
                    git(root, &["update-index", "--index-version", v]);
                }
                let what = format!("{init:?} index version {version:?}");
                let want = git_listing(root);
                assert!(want.contains(&"vendor/sub".to_string()), "{what}: {want:?}");
                assert!(want.contains(&"new/intent.bin".to_string()), "{what}");
                assert_eq!(listed(root).as_ref(), Some(&want), "{what}");
                for sub in ["assets", "assets/sub", "new"] {
                    let at = root.join(sub);
                    assert_eq!(listed(&at), Some(git_listing(&at)), "{what}, at {sub}");
                }
            }
        }
    }

    #[test]
    fn a_conflicted_path_is_listed_once_as_git_lists_it() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        git(root, &["init", "-q", "-b", "main"]);
        write(root, "f", 1);
        write(root, "g", 1);
        git(root, &["add", "-A"]);
        git(root, &["commit", "-qm", "base"]);
        git(root, &["checkout", "-qb", "other"]);
        fs::write(root.join("f"), "other").unwrap();
        git(root, &["commit", "-qam", "other"]);
        git(root, &["checkout", "-q", "main"]);
        fs::write(root.join("f"), "main").unwrap();
        git(root, &["commit", "-qam", "main"]);
        let merge = git_output(root, &["merge", "-q", "other"]);
        assert!(!merge.status.success(), "the merge conflicts");
        let stages = git(root, &["ls-files", "-s", "f"]);
        assert_eq!(
            stages
                .split(|&b| b == b'\n')
                .filter(|l| !l.is_empty())
                .count(),
            3
        );
        assert_eq!(listed(root), Some(vec!["f".to_string(), "g".to_string()]));
        assert_eq!(listed(root), Some(git_listing(root)));
    }

    #[test]
    fn a_linked_worktree_and_a_skip_hash_index_are_read_as_git_reads_them() {
        let dir = repo(&[], None);
        let root = dir.path();
        git(root, &["commit", "-qm", "files"]);
        let wt = tempfile::tempdir().unwrap();
        let wt_root = wt.path().join("wt");
        git(root, &["worktree", "add", "-q", wt_root.to_str().unwrap()]);
        write(&wt_root, "only-here.txt", 3);
        git(&wt_root, &["add", "only-here.txt"]);
        let want = git_listing(&wt_root);
        assert!(want.contains(&"only-here.txt".to_string()));
        assert_eq!(listed(&wt_root), Some(want));
        assert_eq!(listed(root), Some(git_listing(root)));

        let dir = repo(&[], None);
        let root = dir.path();
        write(root, "later.txt", 3);
        git(root, &["-c", "index.skipHash=true", "add", "later.txt"]);
        let bytes = fs::read(root.join(".git/index")).unwrap();
        assert!(
            bytes[bytes.len() - 20..].iter().all(|&b| b == 0),
            "skipHash trailer"
        );
        assert_eq!(listed(root), Some(git_listing(root)));
    }

    #[test]
    fn indexes_and_repositories_it_is_not_sure_of_give_no_listing() {
        // A split index keeps entries in a shared file; a sparse index folds directories.
        let dir = repo(&[], None);
        git(dir.path(), &["update-index", "--split-index"]);
        assert_eq!(listed(dir.path()), None, "split index");
        let dir = repo(&[], None);
        git(dir.path(), &["commit", "-qm", "files"]);
        git(dir.path(), &["config", "index.sparse", "true"]);
        git(dir.path(), &["sparse-checkout", "set", "--cone", "src"]);
        assert_eq!(listed(dir.path()), None, "sparse index");

        // A damaged index: a byte flipped in a path is read as git reads it (neither checks
        // the trailing checksum); a cut-off index gives no listing, leaving git to answer
        // (it refuses most cuts, and reads a cut in the checksum as if it were whole).
        let dir = repo(&[], None);
        let index = dir.path().join(".git/index");
        let mut bytes = fs::read(&index).unwrap();
        let at = bytes.windows(6).position(|w| w == b"assets").unwrap();
        bytes[at] = b'A';
        fs::write(&index, &bytes).unwrap();
        let flipped = git_listing(dir.path());
        assert!(
            flipped.contains(&"Assets/big.bin".to_string()),
            "{flipped:?}"
        );
        assert_eq!(listed(dir.path()), Some(flipped));
        for cut in [bytes.len() - 1, bytes.len() - 21, bytes.len() / 2, 13] {
            fs::write(&index, &bytes[..cut]).unwrap();
            assert_eq!(listed(dir.path()), None, "cut to {cut} bytes");
        }

        // Configuration that moves the work tree or pulls in other files, and a root inside
        // the repository directory.
        for (key, value) in [("core.worktree", "/elsewhere"), ("include.path", "extra")] {
            let dir = repo(&[], None);
            git(dir.path(), &["config", key, value]);
            assert_eq!(listed(dir.path()), None, "{key}");
        }
        let dir = repo(&[], None);
        assert_eq!(listed(&dir.path().join(".git")), None, "inside .git");
        assert_eq!(
            listed(&dir.path().join(".git/objects")),
            None,
            "inside .git"
        );

        // No index yet, or no repository.
        let dir = tempfile::tempdir().unwrap();
        git(dir.path(), &["init", "-q"]);
        assert!(Index::read_as(dir.path(), true).is_none());
    }

    #[test]
    fn only_variables_that_redirect_git_keep_the_listing_from_the_index() {
        let allows = |names: &[&str]| env_allows(names.iter().map(std::ffi::OsString::from));
        assert!(allows(&[]));
        assert!(allows(&[
            "PATH",
            "GIT_SSL_CAINFO",
            "GIT_AUTHOR_NAME",
            "GIT_PAGER"
        ]));
        assert!(REDIRECTING.contains(&"GIT_DIR") && REDIRECTING.contains(&"GIT_INDEX_FILE"));
        let prefixed = [
            "GIT_CONFIG_PARAMETERS",
            "GIT_CONFIG_COUNT",
            "GIT_CONFIG_GLOBAL",
            "GIT_TEST_SPLIT_INDEX",
        ];
        for redirecting in REDIRECTING.into_iter().chain(prefixed) {
            assert!(!allows(&["PATH", redirecting]), "{redirecting}");
        }
    }

    fn write(root: &Path, rel: &str, len: usize) {
        let p = root.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, vec![b'x'; len]).unwrap();
    }

    /// A repository with files of several sizes, names of several lengths (so the padding
    /// differs) and shared prefixes (so version 4 compresses them).
    fn repo(init: &[&str], index_version: Option<&str>) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        git(root, &[&["init", "-q"], init].concat());
        write(root, "a", 10);
        write(root, "assets/big.bin", 3000);
        write(root, "assets/bigger.bin", 5000);
        write(root, "assets/sub/very-long-name-to-vary-padding.dat", 4000);
        write(root, "src/lib.rs", 100);
        write(root, "zz", 2048);
        std::os::unix::fs::symlink("assets/bigger.bin", root.join("link")).unwrap();
        git(root, &["add", "-A"]);
        if let Some(v) = index_version {
            git(root, &["update-index", "--index-version", v]);
        }
        dir
    }

    fn large_files(root: &Path, min_size: u64) -> Vec<(String, u64)> {
        Index::read(root).map_or_else(Vec::new, |i| i.large_files(min_size))
    }

    fn sorted(mut v: Vec<(String, u64)>) -> Vec<(String, u64)> {
        v.sort();
        v
    }

    #[test]
    fn every_index_version_and_hash_gives_the_sizes_of_large_regular_files() {
        let want = [
            ("assets/big.bin", 3000),
            ("assets/bigger.bin", 5000),
            ("assets/sub/very-long-name-to-vary-padding.dat", 4000),
            ("zz", 2048),
        ]
        .map(|(p, s)| (p.to_string(), s))
        .to_vec();
        for init in [&[][..], &["--object-format=sha256"][..]] {
            for version in [None, Some("2"), Some("3"), Some("4")] {
                let dir = repo(init, version);
                let got = sorted(large_files(dir.path(), 2048));
                assert_eq!(got, want, "{init:?} index version {version:?}");
            }
        }
    }

    #[test]
    fn a_root_below_the_top_gets_its_own_paths_only() {
        let dir = repo(&[], Some("4"));
        let got = sorted(large_files(&dir.path().join("assets"), 4000));
        assert_eq!(
            got,
            [
                ("bigger.bin".to_string(), 5000),
                ("sub/very-long-name-to-vary-padding.dat".to_string(), 4000)
            ]
        );
    }

    #[test]
    fn extended_flags_of_version_3_are_skipped() {
        let dir = repo(&[], None);
        // Intent-to-add needs the extended flags word, so git writes version 3.
        write(dir.path(), "new/intent.bin", 9000);
        git(dir.path(), &["add", "-N", "new/intent.bin"]);
        let bytes = fs::read(dir.path().join(".git/index")).unwrap();
        assert_eq!(be32(&bytes, 4), Some(3));
        // An intent-to-add entry records no size; `zz`, after it, is read correctly only if
        // the extended word was skipped.
        let got = sorted(large_in(&bytes, "", 2048).unwrap());
        let want = [
            ("assets/big.bin", 3000),
            ("assets/bigger.bin", 5000),
            ("assets/sub/very-long-name-to-vary-padding.dat", 4000),
            ("zz", 2048),
        ]
        .map(|(p, s)| (p.to_string(), s));
        assert_eq!(got, want);
    }

    #[test]
    fn split_and_sparse_indexes_give_a_true_hint_or_none() {
        let all = sorted(large_files(repo(&[], None).path(), 0));
        // A split index keeps most entries in a shared file this reader does not follow.
        let dir = repo(&[], None);
        git(dir.path(), &["update-index", "--split-index"]);
        let split = large_files(dir.path(), 0);
        assert!(split.iter().all(|e| all.contains(e)), "{split:?}");
        // A sparse index folds directories outside the cone into one directory entry.
        let dir = repo(&[], None);
        git(dir.path(), &["commit", "-qm", "files"]);
        git(dir.path(), &["config", "index.sparse", "true"]);
        git(dir.path(), &["sparse-checkout", "set", "--cone", "src"]);
        let sparse = large_files(dir.path(), 0);
        assert!(sparse.iter().all(|e| all.contains(e)), "{sparse:?}");
        assert!(
            sparse.contains(&("src/lib.rs".to_string(), 100)),
            "{sparse:?}"
        );
    }

    #[test]
    fn damaged_or_foreign_bytes_give_no_hint() {
        let dir = repo(&[], None);
        let good = fs::read(dir.path().join(".git/index")).unwrap();
        assert!(large_in(&good, "", 0).is_some());
        assert_eq!(large_in(b"", "", 0), None);
        assert_eq!(large_in(b"not an index at all", "", 0), None);
        let mut wrong_version = good.clone();
        wrong_version[7] = 9;
        assert_eq!(large_in(&wrong_version, "", 0), None);
        // A name length that disagrees with the name, and a cut-off file.
        let mut bad_len = good.clone();
        let flags_at = 12 + NAME_OFFSET + 20;
        bad_len[flags_at + 1] ^= 0x01;
        assert_eq!(large_in(&bad_len, "", 0), None);
        assert_eq!(large_in(&good[..good.len() / 2], "", 0), None);
    }

    #[test]
    fn varint_is_gits_offset_encoding() {
        assert_eq!(varint(&[0x00]), Some((0, 1)));
        assert_eq!(varint(&[0x7f]), Some((127, 1)));
        // 128 = (0 + 1) << 7 | 0
        assert_eq!(varint(&[0x80, 0x00]), Some((128, 2)));
        assert_eq!(varint(&[0x80, 0x7f]), Some((255, 2)));
        assert_eq!(varint(&[0x81, 0x00]), Some((256, 2)));
        assert_eq!(varint(&[0x80]), None);
    }
}
