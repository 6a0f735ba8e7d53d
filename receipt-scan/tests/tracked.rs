//! The tracked set: git and walk modes, path rules, leaf hashes, determinism and the cache.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime};

use receipt_primitives::Digest;
use receipt_primitives::merkle;
use receipt_protocol::tracked::tracked_leaf_hash;
use receipt_scan::{
    CacheStatus, FileKind, ScanOptions, TrackError, TrackMode, TrackedFile, TrackedTree, scan,
    scan_with_stats,
};

fn write(root: &Path, rel: &str, content: &str) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, content).unwrap();
}

fn chmod(root: &Path, rel: &str, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(root.join(rel), fs::Permissions::from_mode(mode)).unwrap();
}

fn symlink(root: &Path, rel: &str, target: &str) {
    std::os::unix::fs::symlink(target, root.join(rel)).unwrap();
}

fn git(root: &Path, args: &[&str]) {
    let out = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {out:?}");
}

fn paths(tree: &TrackedTree) -> Vec<&str> {
    tree.files.iter().map(|f| f.path.as_str()).collect()
}

/// A small project with every kind of entry the definition distinguishes.
fn populate(root: &Path) {
    write(root, ".gitignore", "/target/\n*.log\n");
    write(root, "a.txt", "alpha\n");
    write(root, "src/lib.rs", "pub fn f() {}\n");
    write(root, "src/nested/deep.rs", "// deep\n");
    write(root, "run.sh", "#!/bin/sh\necho hi\n");
    chmod(root, "run.sh", 0o755);
    symlink(root, "link", "a.txt");
    write(root, "target/debug/out", "build output\n");
    write(root, "x.log", "ignored\n");
}

fn no_cache() -> ScanOptions {
    ScanOptions::default()
}

#[test]
fn leaf_hash_is_the_merkle_leaf_of_path_nul_kind_digest() {
    let content = Digest::of(b"alpha\n");
    let mut data = b"src/a.rs\0x".to_vec();
    data.extend_from_slice(&content.0);
    assert_eq!(
        tracked_leaf_hash("src/a.rs", FileKind::Executable, &content),
        merkle::leaf_hash(&data)
    );
    let mut spelled = vec![0u8];
    spelled.extend_from_slice(&data);
    assert_eq!(
        tracked_leaf_hash("src/a.rs", FileKind::Executable, &content),
        Digest::of(&spelled)
    );
    // Kind bytes are exactly f, x, l.
    assert_eq!(
        [
            FileKind::File.code(),
            FileKind::Executable.code(),
            FileKind::Symlink.code()
        ],
        *b"fxl"
    );
}

/// The worked example of docs/SPEC.md, "Leaves".
#[test]
fn spec_worked_example() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "a.txt", "hello\n");
    write(root, "bin/run", "#!/bin/sh\n");
    chmod(root, "a.txt", 0o644);
    chmod(root, "bin/run", 0o755);
    symlink(root, "link", "a.txt");
    let tree = scan(root, &no_cache()).unwrap();
    let leaves: Vec<String> = tree.leaf_hashes().iter().map(Digest::to_hex).collect();
    assert_eq!(
        leaves,
        [
            "79db08eade1da2d6bd925e822be3ff54f511c7cdc7c11222b02458df1e182319",
            "b8d1ecd5d8714ecfb355b451895a06681116e888293162f76e2627cdd01f56eb",
            "70ebdd142060ea44a0caf4487e57070b09f999e265d9a621331e8632850575d5",
        ]
    );
    assert_eq!(
        tree.root().to_hex(),
        "f8cbab24947052768826ca7d879f84833dcb3c99c62c63247368eac13faca375"
    );
}

#[test]
fn git_mode_lists_cached_and_untracked_but_not_ignored_or_deleted_files() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    git(root, &["init", "-q"]);
    populate(root);
    write(root, "gone.txt", "deleted but still in the index\n");
    git(root, &["add", "-A"]);
    fs::remove_file(root.join("gone.txt")).unwrap();
    write(root, "untracked.txt", "not added\n");

    let tree = scan(root, &no_cache()).unwrap();
    assert_eq!(tree.mode, TrackMode::Git);
    assert_eq!(
        paths(&tree),
        [
            ".gitignore",
            "a.txt",
            "link",
            "run.sh",
            "src/lib.rs",
            "src/nested/deep.rs",
            "untracked.txt"
        ]
    );
    let get = |p| tree.get(p).unwrap();
    assert_eq!(get("a.txt").kind, FileKind::File);
    assert_eq!(get("run.sh").kind, FileKind::Executable);
    assert_eq!(get("link").kind, FileKind::Symlink);
    assert_eq!(get("link").content_sha256, Digest::of(b"a.txt"));
    assert_eq!(get("link").size, 5);
    assert_eq!(get("a.txt").content_sha256, Digest::of(b"alpha\n"));
    assert_eq!(get("a.txt").size, 6);

    let leaves: Vec<Digest> = tree
        .files
        .iter()
        .map(|f| tracked_leaf_hash(&f.path, f.kind, &f.content_sha256))
        .collect();
    assert_eq!(tree.leaf_hashes(), leaves);
    assert_eq!(tree.root(), merkle::root(&leaves));
}

#[test]
fn leaf_hashes_two_at_a_time_equal_one_at_a_time_for_any_path_lengths() {
    // Paths of 1..=150 bytes put the two lanes' messages at different block counts; up to
    // 6,145 files span several parallel tasks (and runs of 2,048 leaves reduced apart in
    // `root`), ending on a full run, a short one or an odd one.
    let files: Vec<TrackedFile> = (0..6_145usize)
        .map(|i| TrackedFile {
            path: format!("{i:05}{}", "p".repeat(i * 7 % 146)),
            kind: [FileKind::File, FileKind::Executable, FileKind::Symlink][i % 3],
            size: i as u64,
            content_sha256: Digest::of(&i.to_le_bytes()),
        })
        .collect();
    for n in [
        0, 1, 2, 3, 64, 2047, 2048, 2049, 4_095, 4_096, 4_097, 4_999, 6_144, 6_145,
    ] {
        let tree = TrackedTree {
            mode: TrackMode::Git,
            files: files[..n].to_vec(),
        };
        let leaves: Vec<Digest> = tree
            .files
            .iter()
            .map(|f| tracked_leaf_hash(&f.path, f.kind, &f.content_sha256))
            .collect();
        assert_eq!(tree.leaf_hashes(), leaves, "{n} files");
        let mut acc = merkle::MerkleAccumulator::new();
        leaves.iter().for_each(|l| acc.push(*l));
        assert_eq!(tree.root(), acc.root(), "{n} files");
    }
}

#[test]
fn git_mode_in_a_subdirectory_lists_paths_relative_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    git(root, &["init", "-q"]);
    populate(root);
    git(root, &["add", "-A"]);
    let tree = scan(&root.join("src"), &no_cache()).unwrap();
    assert_eq!(tree.mode, TrackMode::Git);
    assert_eq!(paths(&tree), ["lib.rs", "nested/deep.rs"]);
}

#[test]
fn git_mode_does_not_follow_a_directory_replaced_by_a_symlink() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    git(root, &["init", "-q"]);
    write(root, "real/file.txt", "x\n");
    write(root, "sub/file.txt", "y\n");
    git(root, &["add", "-A"]);
    // The index still names sub/file.txt, but sub/ is now a link: reaching the file would
    // follow it.
    fs::remove_dir_all(root.join("sub")).unwrap();
    symlink(root, "sub", "real");
    let tree = scan(root, &no_cache()).unwrap();
    assert_eq!(paths(&tree), ["real/file.txt", "sub"]);
    assert_eq!(tree.get("sub").unwrap().kind, FileKind::Symlink);
}

#[test]
fn git_mode_drops_paths_below_a_deep_symlinked_directory_and_keeps_its_neighbours() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    git(root, &["init", "-q"]);
    // Directory names that share prefixes ("a" and "ab", "b" and "b2"), so reusing an open
    // directory for the wrong path would show as a wrong digest or a missing file.
    let files = [
        ("a/b/c/1", "one\n"),
        ("a/b/c/d/2", "two\n"),
        ("a/b/x", "x\n"),
        ("a/b2/3", "three\n"),
        ("a/e", "e\n"),
        ("ab/b/c/1", "other one\n"),
        ("ab/f", "f\n"),
        ("top", "top\n"),
    ];
    for (rel, content) in files {
        write(root, rel, content);
    }
    git(root, &["add", "-A"]);
    // The index still names a/b/..., but a/b is now a link to ab/b.
    fs::remove_dir_all(root.join("a/b")).unwrap();
    symlink(root, "a/b", "../ab/b");

    let tree = scan(root, &no_cache()).unwrap();
    assert_eq!(
        paths(&tree),
        ["a/b", "a/b2/3", "a/e", "ab/b/c/1", "ab/f", "top"]
    );
    // One thread walks every directory in order, reusing the ones paths share.
    let one_thread = ScanOptions {
        threads: Some(1),
        ..ScanOptions::default()
    };
    assert_eq!(scan(root, &one_thread).unwrap(), tree);
    assert_eq!(tree.get("a/b").unwrap().kind, FileKind::Symlink);
    for (rel, content) in files.iter().filter(|(rel, _)| !rel.starts_with("a/b/")) {
        assert_eq!(
            tree.get(rel).unwrap().content_sha256,
            Digest::of(content.as_bytes()),
            "{rel}"
        );
    }
    // The same with a digest cache: its entries for a/b/... are not followed either.
    let cache = tempfile::tempdir().unwrap();
    let opts = ScanOptions {
        cache_path: Some(cache.path().join("digests")),
        ..ScanOptions::default()
    };
    fs::remove_file(root.join("a/b")).unwrap();
    fs::create_dir_all(root.join("a/b/c/d")).unwrap();
    for (rel, content) in files.iter().filter(|(rel, _)| rel.starts_with("a/b/")) {
        write(root, rel, content);
    }
    assert_eq!(scan(root, &opts).unwrap().files.len(), files.len());
    fs::remove_dir_all(root.join("a/b")).unwrap();
    symlink(root, "a/b", "../ab/b");
    assert_eq!(scan(root, &opts).unwrap(), tree);
}

#[test]
fn a_tracked_file_replaced_by_a_fifo_or_a_directory_leaves_the_set_without_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    git(root, &["init", "-q"]);
    write(root, "pipe", "was a file\n");
    write(root, "dir", "was a file\n");
    write(root, "kept", "kept\n");
    git(root, &["add", "-A"]);
    fs::remove_file(root.join("pipe")).unwrap();
    let status = Command::new("mkfifo")
        .arg(root.join("pipe"))
        .status()
        .unwrap();
    assert!(status.success());
    fs::remove_file(root.join("dir")).unwrap();
    fs::create_dir(root.join("dir")).unwrap();
    let tree = scan(root, &no_cache()).unwrap();
    assert_eq!(paths(&tree), ["kept"]);
}

#[test]
fn a_directory_replaced_between_scans_is_read_afresh() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "d/x", "first\n");
    let first = scan(root, &no_cache()).unwrap();
    fs::rename(root.join("d"), root.join("old")).unwrap();
    write(root, "d/x", "second\n");
    fs::remove_dir_all(root.join("old")).unwrap();
    let second = scan(root, &no_cache()).unwrap();
    assert_eq!(first.diff(&second).changed, ["d/x"]);
    assert_eq!(
        second.get("d/x").unwrap().content_sha256,
        Digest::of(b"second\n")
    );
}

#[test]
fn walk_mode_honours_gitignore_and_skips_git_target_and_lake_dirs() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    populate(root);
    write(root, "docs/.gitignore", "draft.md\n");
    write(root, "docs/draft.md", "ignored by the nested .gitignore\n");
    write(root, "docs/final.md", "kept\n");
    write(root, ".lake/build/x.olean", "lake output\n");
    write(
        root,
        "vendor/lib/.git/config",
        "a nested repository's metadata\n",
    );
    write(root, "vendor/lib/target/y", "nested target dir\n");
    write(root, "vendor/lib/keep.rs", "kept\n");
    write(root, ".hidden", "hidden files count\n");
    symlink(root, "dirlink", "src");

    let tree = scan(root, &no_cache()).unwrap();
    assert_eq!(tree.mode, TrackMode::Walk);
    assert_eq!(
        paths(&tree),
        [
            ".gitignore",
            ".hidden",
            "a.txt",
            "dirlink",
            "docs/.gitignore",
            "docs/final.md",
            "link",
            "run.sh",
            "src/lib.rs",
            "src/nested/deep.rs",
            "vendor/lib/keep.rs"
        ]
    );
    assert_eq!(tree.get("dirlink").unwrap().kind, FileKind::Symlink);
    assert_eq!(tree.get("run.sh").unwrap().kind, FileKind::Executable);
}

#[test]
fn walk_mode_exclusions_are_configurable() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "target/a", "a\n");
    write(root, "out/b", "b\n");
    let opts = ScanOptions {
        exclude_dirs: vec!["out/".to_string()],
        ..ScanOptions::default()
    };
    assert_eq!(paths(&scan(root, &opts).unwrap()), ["target/a"]);
}

fn non_utf8_name() -> &'static std::ffi::OsStr {
    use std::os::unix::ffi::OsStrExt;
    std::ffi::OsStr::from_bytes(b"bad-\xff.txt")
}

#[test]
fn a_non_utf8_path_is_an_error_naming_it_in_both_modes() {
    for use_git in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        if use_git {
            git(root, &["init", "-q"]);
        }
        write(root, "ok.txt", "fine\n");
        fs::create_dir(root.join("sub")).unwrap();
        fs::write(root.join("sub").join(non_utf8_name()), "x").unwrap();
        let err = scan(root, &no_cache()).unwrap_err();
        assert!(
            matches!(err, TrackError::NonUtf8Path { .. }),
            "git={use_git}: {err}"
        );
        let msg = err.to_string();
        assert!(msg.contains("sub/bad-\u{fffd}.txt"), "{msg}");
        assert!(msg.contains("not valid UTF-8"), "{msg}");
    }
}

#[test]
fn the_same_tree_at_two_paths_has_the_same_root() {
    for use_git in [false, true] {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let b_root = b.path().join("some/deeper/checkout");
        fs::create_dir_all(&b_root).unwrap();
        let mut roots = Vec::new();
        for root in [a.path(), b_root.as_path()] {
            if use_git {
                git(root, &["init", "-q"]);
            }
            populate(root);
            if use_git {
                git(root, &["add", "-A"]);
            }
            roots.push(scan(root, &no_cache()).unwrap());
        }
        assert_eq!(roots[0], roots[1]);
        assert_eq!(roots[0].root(), roots[1].root());
        // And a scan with one thread matches a scan with many.
        let one = ScanOptions {
            threads: Some(1),
            ..ScanOptions::default()
        };
        assert_eq!(scan(a.path(), &one).unwrap(), roots[0]);
    }
}

#[test]
fn the_empty_set_hashes_to_sha256_of_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let tree = scan(dir.path(), &no_cache()).unwrap();
    assert!(tree.files.is_empty());
    assert_eq!(
        tree.root().to_hex(),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    // A git repository whose files are all ignored is empty too.
    git(dir.path(), &["init", "-q"]);
    write(dir.path(), "x.tmp", "x");
    fs::write(dir.path().join(".git/info/exclude"), "*.tmp\n").unwrap();
    let tree = scan(dir.path(), &no_cache()).unwrap();
    assert_eq!((tree.mode, tree.files.len()), (TrackMode::Git, 0));
    assert_eq!(tree.root(), Digest::of(b""));
}

#[test]
fn a_missing_root_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    let err = scan(&missing, &no_cache()).unwrap_err();
    assert!(matches!(err, TrackError::Root { .. }));
    assert!(err.to_string().contains("nope"), "{err}");
}

#[test]
fn diff_names_added_removed_and_changed_paths() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    populate(a.path());
    populate(b.path());
    write(b.path(), "a.txt", "changed\n");
    chmod(b.path(), "src/lib.rs", 0o755);
    fs::remove_file(b.path().join("src/nested/deep.rs")).unwrap();
    write(b.path(), "new.rs", "\n");
    let (ta, tb) = (
        scan(a.path(), &no_cache()).unwrap(),
        scan(b.path(), &no_cache()).unwrap(),
    );
    let d = ta.diff(&tb);
    assert_eq!(d.added, ["new.rs"]);
    assert_eq!(d.removed, ["src/nested/deep.rs"]);
    assert_eq!(d.changed, ["a.txt", "src/lib.rs"]);
    assert!(ta.diff(&ta).is_empty());
    let back = tb.diff(&ta);
    assert_eq!((back.added, back.removed), (d.removed, d.added));
}

#[test]
fn tree_round_trips_through_json() {
    let dir = tempfile::tempdir().unwrap();
    populate(dir.path());
    let tree = scan(dir.path(), &no_cache()).unwrap();
    let json = serde_json::to_string(&tree).unwrap();
    assert!(json.contains(r#""mode":"walk""#), "{json}");
    assert!(json.contains(r#""kind":"x""#), "{json}");
    let back: TrackedTree = serde_json::from_str(&json).unwrap();
    assert_eq!(back, tree);
}

// ---- the digest cache ----

/// Lets the file-system clock move past every timestamp just written, so the entries of the
/// next cache are not "racy" (1.1 s covers file systems with one-second timestamps).
fn let_clock_tick() {
    std::thread::sleep(Duration::from_millis(1100));
}

fn cached(dir: &Path) -> ScanOptions {
    ScanOptions {
        cache_path: Some(dir.join("digest-cache")),
        ..ScanOptions::default()
    }
}

#[test]
fn an_unchanged_tree_is_not_read_again_and_a_modified_file_is() {
    let tree_dir = tempfile::tempdir().unwrap();
    let cache_dir = tempfile::tempdir().unwrap();
    let root = tree_dir.path();
    populate(root);
    let opts = cached(cache_dir.path());
    let_clock_tick();

    let (first, s1) = scan_with_stats(root, &opts).unwrap();
    assert_eq!(s1.cache, CacheStatus::Absent);
    assert_eq!(
        (s1.files_hashed, s1.cache_hits),
        (first.files.len() as u64, 0)
    );
    assert_eq!(s1.bytes_hashed, s1.bytes);
    assert!(s1.cache_written);

    let (second, s2) = scan_with_stats(root, &opts).unwrap();
    assert_eq!(second, first);
    assert_eq!(
        s2.cache,
        CacheStatus::Loaded {
            entries: first.files.len() as u64
        }
    );
    assert_eq!((s2.files_hashed, s2.bytes_hashed), (0, 0));
    assert_eq!(s2.cache_hits, first.files.len() as u64);
    assert!(!s2.cache_written, "nothing changed, so the cache is kept");

    // A real edit changes content, size and mtime; only that file is read again.
    write(root, "src/lib.rs", "pub fn f() { /* edited */ }\n");
    let (third, s3) = scan_with_stats(root, &opts).unwrap();
    assert_eq!(s3.files_hashed, 1);
    assert_eq!(third, scan(root, &no_cache()).unwrap());
    assert_ne!(third.root(), first.root());
    assert_eq!(first.diff(&third).changed, ["src/lib.rs"]);

    // A chmod alone (same content and mtime) changes the kind and is noticed.
    chmod(root, "a.txt", 0o755);
    let (fourth, s4) = scan_with_stats(root, &opts).unwrap();
    assert_eq!(fourth.get("a.txt").unwrap().kind, FileKind::Executable);
    assert_eq!(fourth, scan(root, &no_cache()).unwrap());
    assert!(s4.files_hashed <= 2, "{s4:?}");
}

#[test]
fn a_racy_entry_is_read_again() {
    let tree_dir = tempfile::tempdir().unwrap();
    let cache_dir = tempfile::tempdir().unwrap();
    let root = tree_dir.path();
    populate(root);
    let_clock_tick();
    // An mtime at or after the cache's own write time means the file could change again
    // within the same tick without its key changing.
    let future = SystemTime::now() + Duration::from_secs(3600);
    fs::File::options()
        .write(true)
        .open(root.join("a.txt"))
        .unwrap()
        .set_modified(future)
        .unwrap();
    let opts = cached(cache_dir.path());
    let (first, _) = scan_with_stats(root, &opts).unwrap();
    let (second, s) = scan_with_stats(root, &opts).unwrap();
    assert_eq!(second, first);
    assert_eq!((s.files_hashed, s.racy), (1, 1), "{s:?}");
    assert_eq!(s.cache_hits, first.files.len() as u64 - 1);
}

#[test]
fn a_corrupt_or_foreign_cache_is_ignored() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let cache_dir = tempfile::tempdir().unwrap();
    populate(a.path());
    populate(b.path());
    let_clock_tick();
    let opts = cached(cache_dir.path());
    let (tree_a, _) = scan_with_stats(a.path(), &opts).unwrap();

    // Written for a, used for b: not trusted, even though paths and contents agree.
    let (tree_b, s) = scan_with_stats(b.path(), &opts).unwrap();
    assert_eq!(tree_b, tree_a);
    assert!(
        matches!(&s.cache, CacheStatus::Ignored { reason } if reason.contains("another root")),
        "{s:?}"
    );
    assert_eq!(s.files_hashed, tree_b.files.len() as u64);

    // Now written for b; flip one byte in the middle.
    let cache_file = cache_dir.path().join("digest-cache");
    let mut bytes = fs::read(&cache_file).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 1;
    fs::write(&cache_file, &bytes).unwrap();
    let (again, s) = scan_with_stats(b.path(), &opts).unwrap();
    assert_eq!(again, tree_b);
    assert!(
        matches!(&s.cache, CacheStatus::Ignored { reason } if reason.contains("checksum")),
        "{s:?}"
    );
    assert_eq!(s.cache_hits, 0);

    fs::write(&cache_file, b"not a cache").unwrap();
    let (_, s) = scan_with_stats(b.path(), &opts).unwrap();
    assert!(matches!(s.cache, CacheStatus::Ignored { .. }), "{s:?}");
    assert_eq!(s.cache_hits, 0);
}

#[test]
fn a_cache_inside_the_tracked_set_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "a.txt", "a\n");
    let opts = cached(root);
    // The first scan creates it; from then on it would be part of what it describes.
    scan(root, &opts).unwrap();
    let err = scan(root, &opts).unwrap_err();
    assert!(matches!(err, TrackError::CacheInsideTree { .. }), "{err}");
    assert!(err.to_string().contains("digest-cache"), "{err}");
    // Under an excluded directory it is fine.
    let opts = ScanOptions {
        cache_path: Some(root.join("target/digest-cache")),
        ..ScanOptions::default()
    };
    fs::remove_file(root.join("digest-cache")).unwrap();
    scan(root, &opts).unwrap();
    scan(root, &opts).unwrap();
}

#[test]
fn excluded_prefixes_are_left_out_in_both_modes_even_when_git_does_not_ignore_them() {
    for git_mode in [false, true] {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        write(root, "src/lib.rs", "fn f() {}");
        write(root, "out/receipt.json", "{}");
        write(root, "outside.txt", "kept: the prefix is a directory");
        if git_mode {
            git(root, &["init", "-q"]);
        }
        let opts = ScanOptions {
            exclude_prefixes: vec!["out/".into()],
            ..no_cache()
        };
        let tree = scan(root, &opts).unwrap();
        assert_eq!(
            tree.mode,
            if git_mode {
                TrackMode::Git
            } else {
                TrackMode::Walk
            }
        );
        assert_eq!(paths(&tree), ["outside.txt", "src/lib.rs"]);
        let all = scan(root, &no_cache()).unwrap();
        assert!(paths(&all).contains(&"out/receipt.json"));
        assert_ne!(all.root(), tree.root());
    }
}

/// Files of many sizes around the SHA-256 block, the read chunk (128 KiB) and its multiples,
/// and around the size from which files are memory-mapped instead of read (1 MiB), hashed
/// two at a time per thread in interleaved lanes: every digest equals a plain one-file
/// SHA-256 of the bytes, whatever the number of threads, and whether or not large files
/// are mapped.
#[test]
fn interleaved_lanes_give_each_file_its_own_digest() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let chunk = 128 * 1024;
    let mut sizes = vec![0, 1, 55, 56, 63, 64, 65, 119, 120, 4096, 8191];
    for base in [chunk, 2 * chunk, 3 * chunk + 17] {
        sizes.extend([base - 65, base - 1, base, base + 1, base + 64]);
    }
    sizes.extend([(1 << 20) - 1, 1 << 20, (1 << 20) + 1, (3 << 20) + 17]);
    // Some of each size, in an order that pairs small with large in the lanes.
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut expected = Vec::new();
    for (k, &size) in sizes.iter().chain(sizes.iter().rev()).enumerate() {
        let bytes: Vec<u8> = (0..size)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect();
        let name = format!("f{k:03}");
        fs::write(root.join(&name), &bytes).unwrap();
        expected.push((name, Digest::of(&bytes), bytes.len() as u64));
    }
    // Read first (this test binary has not installed the guard yet), then mapped.
    for (mapped, threads) in [(false, 1), (false, 2), (true, 1), (true, 2), (true, 3)] {
        if mapped {
            assert!(receipt_scan::install_sigbus_guard());
        }
        let opts = ScanOptions {
            threads: Some(threads),
            ..ScanOptions::default()
        };
        let tree = scan(root, &opts).unwrap();
        assert_eq!(tree.files.len(), expected.len());
        for (f, (name, digest, size)) in tree.files.iter().zip(&expected) {
            assert_eq!(&f.path, name);
            assert_eq!(f.size, *size, "{name}");
            assert_eq!(
                f.content_sha256, *digest,
                "{name} ({size} bytes, {threads} threads)"
            );
        }
    }
}
