//! The sizes git's index records for tracked files, read as a hint for the order in which a
//! scan hashes them: the largest first, so that none is left to finish alone at the end.
//!
//! SHA-256 of one file is sequential, so a large file that starts late keeps one core busy
//! after the others ran out of work; large files often sit together in sorted order (a
//! `vendor/` or `assets/` directory), which makes that likely. Hashing them first
//! (longest-processing-time-first scheduling) ends a scan on small files instead. Git keeps
//! each tracked file's size in its index (format: git's `gitformat-index` documentation),
//! so the hint costs one read of that file while git lists the paths.
//!
//! Only the order of work depends on this: the set, the digests and the root do not. Any
//! index this reader does not understand, or cannot find, gives no hint.

use std::fs;
use std::path::{Path, PathBuf};

/// Tracked regular files at or above `min_size` bytes by git's index, as paths relative to
/// `root` with the size the index records (the low 32 bits of the size, as git keeps it).
/// Empty when there is no index to read, or it cannot be read.
pub(super) fn large_files(root: &Path, min_size: u64) -> Vec<(String, u64)> {
    /// Past this size (an index of millions of files) the hint is not worth the memory.
    const MAX_INDEX: u64 = 256 << 20;
    let Some((index, prefix)) = locate(root) else {
        return Vec::new();
    };
    if fs::metadata(&index).map_or(true, |m| m.len() > MAX_INDEX) {
        return Vec::new();
    }
    let Ok(bytes) = fs::read(&index) else {
        return Vec::new();
    };
    parse(&bytes, &prefix, min_size).unwrap_or_default()
}

/// The index file of the work tree holding `root`, and `root`'s path inside that work tree
/// (empty, or ending in `/`). `None` when git would be told otherwise by its environment,
/// or there is no `.git` above `root`.
fn locate(root: &Path) -> Option<(PathBuf, String)> {
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
    Some((git_dir.join("index"), prefix))
}

/// The regular-file entries of an index at or above `min_size`, below `prefix` (stripped).
/// The object-name length (SHA-1 or SHA-256) is not recorded in the file; the one under
/// which every entry is well-formed is taken.
fn parse(bytes: &[u8], prefix: &str, min_size: u64) -> Option<Vec<(String, u64)>> {
    if bytes.get(..4)? != b"DIRC" {
        return None;
    }
    let version = be32(bytes, 4)?;
    if !(2..=4).contains(&version) {
        return None;
    }
    let count = be32(bytes, 8)? as usize;
    [20, 32]
        .into_iter()
        .find_map(|hash_len| entries(bytes, version, count, hash_len, prefix, min_size))
}

/// Mode bits of a regular file in an index entry (`0100644` or `0100755`).
const REGULAR: u32 = 0o100000;
const TYPE_MASK: u32 = 0o170000;
/// Offset of the object name in an entry: ten 32-bit stat and mode fields.
const NAME_OFFSET: usize = 40;
/// The flag of an entry followed by a second, extended flags word (version 3 and later).
const EXTENDED: u16 = 0x4000;

fn entries(
    bytes: &[u8],
    version: u32,
    count: usize,
    hash_len: usize,
    prefix: &str,
    min_size: u64,
) -> Option<Vec<(String, u64)>> {
    // The entries end before the trailing checksum, at the latest.
    let end = bytes.len().checked_sub(hash_len)?;
    let bytes = &bytes[..end];
    let mut out = Vec::new();
    let mut at = 12;
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
        // An entry of a split index that replaces one in the shared index has no name of
        // its own; which file it stands for is not known here.
        if mode & TYPE_MASK != REGULAR || u64::from(size) < min_size || name.is_empty() {
            continue;
        }
        if let Some(rel) = name.strip_prefix(prefix.as_bytes())
            && let Ok(rel) = std::str::from_utf8(rel)
        {
            out.push((rel.to_string(), u64::from(size)));
        }
    }
    Some(out)
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
    use crate::testutil::git;

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
        let got = sorted(parse(&bytes, "", 2048).unwrap());
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
        assert!(parse(&good, "", 0).is_some());
        assert_eq!(parse(b"", "", 0), None);
        assert_eq!(parse(b"not an index at all", "", 0), None);
        let mut wrong_version = good.clone();
        wrong_version[7] = 9;
        assert_eq!(parse(&wrong_version, "", 0), None);
        // A name length that disagrees with the name, and a cut-off file.
        let mut bad_len = good.clone();
        let flags_at = 12 + NAME_OFFSET + 20;
        bad_len[flags_at + 1] ^= 0x01;
        assert_eq!(parse(&bad_len, "", 0), None);
        assert_eq!(parse(&good[..good.len() / 2], "", 0), None);
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
