//! A record of git's untracked-file listing, reused while nothing it depends on has
//! changed, so that a warm scan of an unchanged tree runs no git at all.
//!
//! `git ls-files -z --others --exclude-standard` prints what git finds by reading every
//! directory of the work tree that is not ignored, sifted by the ignore rules and the index.
//! Its output is therefore a function of: the entries of those directories, the ignore
//! files (`.gitignore` in the tree and above the root, `info/exclude`, the user's global
//! excludes file), git's configuration and the index, git itself, and the environment that
//! locates them. A scan with a digest cache keeps, beside it, the listing together with the
//! stat keys (device, inode, mode, size, mtime, ctime) of all of these: every directory
//! under the root except `.git` and the producer's excluded prefixes (whose paths never
//! enter the set), ignored ones included, and every such file (or its absence).
//!
//! Adding, removing or renaming an entry changes its directory's mtime and ctime; editing a
//! file changes its own. So when every recorded key is unchanged, git would print the same
//! listing, and the record is used instead of running it. The keys a trusted record holds
//! were taken before git started reading, and none of them is within [`RACY`] of that
//! moment (a change in the same clock tick could leave a key as it was; as with git's
//! "racy" index entries, such a record is not trusted until a later scan). Anything
//! unusual makes no record: a file system other than the local ones known to keep
//! directory times this way (or another one mounted inside the tree), a non-UTF-8 name, a
//! symlinked `.gitignore`, a configured `core.excludesFile` or an `include` in a
//! configuration file, an unreadable directory. Git's own `core.untrackedCache` rests on
//! the same property of directory times.
//!
//! A record is built in two steps: a scan without a usable record walks the tree (beside
//! git) and writes an untrusted record naming what to watch; the next scan takes the keys
//! of exactly those before starting git and, if the walk finds the same directories and
//! ignore files again, writes them as a trusted record.

use std::ffi::OsStr;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::cache::{Cursor, StatKey};
use super::gitindex::{ConfigText, Repo};
use receipt_primitives::digest::Digest;

/// A recorded key is trusted only if its mtime and ctime are at least this much older than
/// the moment it was taken.
pub(super) const RACY: Duration = Duration::from_secs(1);

const MAGIC: &[u8; 8] = b"RCPTUC\0\x01";

/// What a record watches and what git printed, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Record {
    /// The environment variables that locate git and its configuration, as they were, and
    /// the excluded prefixes the walk left out.
    env: Vec<u8>,
    /// Files outside the walked directories and the `.gitignore` files inside them, as
    /// absolute paths (bytes), with their stat keys following symlinks (`None`: absent).
    files: Vec<(Vec<u8>, Option<StatKey>)>,
    /// Every walked directory, relative to the root (`""` for the root), sorted, with its
    /// key.
    dirs: Vec<(String, StatKey)>,
    /// git's untracked listing, sorted and deduplicated.
    pub(super) others: Vec<String>,
    /// Whether the keys were taken before git read the tree and none is racy.
    trusted: bool,
}

/// The keys of a record's files and directories as they are now.
#[derive(Debug)]
pub(super) struct Snapshot {
    files: Vec<Option<StatKey>>,
    dirs: Vec<Option<StatKey>>,
    /// Whether some key changed within [`RACY`] of the snapshot.
    racy: bool,
}

/// Where a record applies: the root, the files outside the tree that git's listing
/// depends on, the environment, and the prefixes left out of the walk.
#[derive(Debug)]
pub(super) struct Watch {
    root: PathBuf,
    outside: Vec<PathBuf>,
    env: Vec<u8>,
    exclude_prefixes: Vec<String>,
}

impl Watch {
    /// What to watch for the tree at `root` in `repo`, or `None` when no record can be
    /// trusted there (see the module documentation).
    pub(super) fn new(root: &Path, repo: &Repo, exclude_prefixes: &[String]) -> Option<Watch> {
        let root = fs::canonicalize(root).ok()?;
        if !keeps_directory_times(&root) {
            return None;
        }
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        let mut env = Vec::new();
        for name in ["PATH", "HOME", "XDG_CONFIG_HOME"] {
            env.extend_from_slice(name.as_bytes());
            if let Some(v) = var(name) {
                env.push(b'=');
                env.extend_from_slice(v.as_encoded_bytes());
            }
            env.push(0);
        }
        // Directories below excluded prefixes are not watched: a record made with other
        // prefixes does not apply.
        for prefix in exclude_prefixes {
            env.extend_from_slice(b"exclude:");
            env.extend_from_slice(prefix.as_bytes());
            env.push(0);
        }
        // The `git` the scan runs: the first executable one on `PATH`.
        let git = var("PATH").and_then(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("git"))
                .find(|g| fs::metadata(g).is_ok_and(|m| m.is_file() && executable(&m)))
        })?;
        let config_home = var("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .or_else(|| var("HOME").map(|h| PathBuf::from(h).join(".config")));
        let mut configs = vec![
            repo.git_dir.join("config"),
            repo.git_dir.join("config.worktree"),
            repo.common_dir.join("config"),
            repo.common_dir.join("config.worktree"),
            PathBuf::from("/etc/gitconfig"),
            PathBuf::from("/usr/local/etc/gitconfig"),
        ];
        if let Some(prefix) = git.parent().and_then(Path::parent) {
            configs.push(prefix.join("etc/gitconfig"));
        }
        if let Some(home) = var("HOME") {
            configs.push(PathBuf::from(home).join(".gitconfig"));
        }
        let mut outside = vec![
            repo.git_dir.join("index"),
            repo.common_dir.join("info/exclude"),
            git,
        ];
        if let Some(dir) = config_home {
            configs.push(dir.join("git/config"));
            // The default global excludes file.
            outside.push(dir.join("git/ignore"));
        }
        // A configured excludes file could be anywhere: not watched, so no record.
        for config in &configs {
            let Some(text) = ConfigText::read(config).ok()? else {
                continue;
            };
            // An included file (`include`, `includeIf`) is not watched either.
            if text.mentions(b"excludesfile") || text.mentions(b"include") {
                return None;
            }
        }
        outside.extend(configs);
        // `.gitignore` files between the top of the work tree and the root apply too.
        let mut dir = root.parent();
        while let Some(d) = dir.filter(|d| d.starts_with(&repo.top)) {
            outside.push(d.join(".gitignore"));
            dir = d.parent();
        }
        outside.sort();
        outside.dedup();
        Some(Watch {
            root,
            outside,
            env,
            exclude_prefixes: exclude_prefixes.to_vec(),
        })
    }

    /// The keys of `record`'s files and directories now; `None` when the record was made
    /// for another environment.
    pub(super) fn snapshot(&self, record: &Record) -> Option<Snapshot> {
        if record.env != self.env {
            return None;
        }
        let since = since_epoch(SystemTime::now().checked_sub(RACY)?)?;
        let mut racy = false;
        let mut key = |k: Option<StatKey>| {
            racy |= k.is_some_and(|k| k.changed_since(since));
            k
        };
        let files = record
            .files
            .iter()
            .map(|(path, _)| key(file_key(Path::new(bytes_os(path)))))
            .collect();
        let dirs = record
            .dirs
            .iter()
            .map(|(rel, _)| key(dir_key(&self.root.join(rel))))
            .collect();
        Some(Snapshot { files, dirs, racy })
    }

    /// Walks the tree: every directory except `.git` and the excluded prefixes, with its
    /// key, and the `.gitignore` files in them. `None` when no record can be made.
    pub(super) fn walk(&self) -> Option<Walked> {
        let mut dirs: Vec<(String, StatKey)> = Vec::new();
        let mut ignores = Vec::new();
        let mut pending = vec![String::new()];
        while let Some(rel) = pending.pop() {
            let at = self.root.join(&rel);
            let key = dir_key(&at)?;
            // Another file system mounted inside the tree may not keep directory times.
            if dirs
                .first()
                .is_some_and(|(_, root)| root.dev() != key.dev())
            {
                return None;
            }
            dirs.push((rel.clone(), key));
            for entry in fs::read_dir(&at).ok()? {
                let entry = entry.ok()?;
                let name = entry.file_name();
                let name = name.to_str()?;
                let child = if rel.is_empty() {
                    name.to_string()
                } else {
                    format!("{rel}/{name}")
                };
                let kind = entry.file_type().ok()?;
                if kind.is_dir() {
                    let as_dir = format!("{child}/");
                    if name != ".git"
                        && !self
                            .exclude_prefixes
                            .iter()
                            .any(|x| as_dir.starts_with(x.as_str()))
                    {
                        pending.push(child);
                    }
                } else if name == ".gitignore" {
                    if !kind.is_file() {
                        return None;
                    }
                    ignores.push(self.root.join(&child));
                }
            }
        }
        dirs.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        Some(Walked { dirs, ignores })
    }

    /// The record to keep after git listed `others` while `walked` was taken. It is trusted
    /// when `before` (a snapshot of `previous`, taken before git started) covers exactly
    /// the directories and files found now and none of its keys is missing or racy;
    /// otherwise it is an untrusted record of what to watch, with keys taken now.
    pub(super) fn record(
        &self,
        others: Vec<String>,
        walked: Walked,
        before: Option<(&Record, &Snapshot)>,
    ) -> Record {
        let mut files: Vec<Vec<u8>> = self
            .outside
            .iter()
            .chain(&walked.ignores)
            .map(|p| p.as_os_str().as_encoded_bytes().to_vec())
            .collect();
        files.sort_unstable();
        files.dedup();
        if let Some((prev, snap)) = before {
            let same_files = prev.files.len() == files.len()
                && prev.files.iter().zip(&files).all(|((a, _), b)| a == b);
            let same_dirs = prev.dirs.len() == walked.dirs.len()
                && prev
                    .dirs
                    .iter()
                    .zip(&walked.dirs)
                    .all(|((a, _), (b, _))| a == b);
            let dir_keys: Option<Vec<StatKey>> = snap.dirs.iter().copied().collect();
            if same_files
                && same_dirs
                && !snap.racy
                && let Some(dir_keys) = dir_keys
            {
                return Record {
                    env: self.env.clone(),
                    files: files.into_iter().zip(snap.files.iter().copied()).collect(),
                    dirs: walked
                        .dirs
                        .into_iter()
                        .map(|(d, _)| d)
                        .zip(dir_keys)
                        .collect(),
                    others,
                    trusted: true,
                };
            }
        }
        let files = files
            .into_iter()
            .map(|p| {
                let key = file_key(Path::new(bytes_os(&p)));
                (p, key)
            })
            .collect();
        Record {
            env: self.env.clone(),
            files,
            dirs: walked.dirs,
            others,
            trusted: false,
        }
    }
}

/// What a walk of the tree found.
#[derive(Debug)]
pub(super) struct Walked {
    dirs: Vec<(String, StatKey)>,
    ignores: Vec<PathBuf>,
}

impl Record {
    /// Whether `snapshot` shows nothing changed since this trusted record was made.
    pub(super) fn holds(&self, snapshot: &Snapshot) -> bool {
        self.trusted
            && !snapshot.racy
            && self.files.len() == snapshot.files.len()
            && self.dirs.len() == snapshot.dirs.len()
            && self
                .files
                .iter()
                .zip(&snapshot.files)
                .all(|((_, a), b)| a == b)
            && self
                .dirs
                .iter()
                .zip(&snapshot.dirs)
                .all(|((_, a), b)| Some(*a) == *b)
    }

    /// The record stored at `path` for the tree at `root`; `None` when there is none, or it
    /// is damaged or for another root.
    pub(super) fn load(path: &Path, root: &Path) -> Option<Record> {
        decode(&fs::read(path).ok()?, &super::cache::root_id(root))
    }

    /// Writes the record atomically (temp file, fsync, rename, fsync the directory).
    pub(super) fn store(&self, path: &Path, root: &Path) -> io::Result<()> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir)?;
        }
        receipt_primitives::fsutil::atomic_write(path, &encode(self, &super::cache::root_id(root)))
    }
}

/// Whether the file system holding `root` updates a directory's mtime and ctime on every
/// change of its entries: the common local Linux file systems.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn keeps_directory_times(root: &Path) -> bool {
    const KNOWN: [i64; 7] = [
        0xEF53,      // ext2/3/4
        0x5846_5342, // xfs
        0x9123_683E, // btrfs
        0x0102_1994, // tmpfs
        0xF2F5_2010, // f2fs
        0x2FC1_2FC1, // zfs
        0x794C_7630, // overlayfs
    ];
    #[allow(clippy::unnecessary_cast)] // `f_type`'s type differs between targets
    let known = |t| KNOWN.contains(&(t as i64));
    rustix::fs::statfs(root).is_ok_and(|s| known(s.f_type))
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn keeps_directory_times(_: &Path) -> bool {
    false
}

#[allow(clippy::unnecessary_cast)] // field types differ between targets
fn key_of(md: &fs::Metadata) -> StatKey {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        StatKey::new(
            md.dev(),
            md.ino(),
            md.mode(),
            md.size(),
            (md.mtime(), md.mtime_nsec() as u32),
            (md.ctime(), md.ctime_nsec() as u32),
        )
    }
    #[cfg(not(unix))]
    {
        let _ = md;
        StatKey::default()
    }
}

#[cfg(unix)]
fn executable(md: &fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    md.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
fn executable(_: &fs::Metadata) -> bool {
    true
}

/// A directory's key (`lstat`); `None` when it is missing or not a directory.
fn dir_key(path: &Path) -> Option<StatKey> {
    fs::symlink_metadata(path)
        .ok()
        .filter(|m| m.is_dir())
        .map(|m| key_of(&m))
}

/// A file's key following symlinks; `None` when it is missing.
fn file_key(path: &Path) -> Option<StatKey> {
    fs::metadata(path).ok().map(|m| key_of(&m))
}

fn since_epoch(t: SystemTime) -> Option<(i64, u32)> {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).ok()?;
    Some((i64::try_from(d.as_secs()).ok()?, d.subsec_nanos()))
}

#[cfg(unix)]
fn bytes_os(b: &[u8]) -> &OsStr {
    use std::os::unix::ffi::OsStrExt;
    OsStr::from_bytes(b)
}

#[cfg(not(unix))]
fn bytes_os(b: &[u8]) -> &OsStr {
    OsStr::new(std::str::from_utf8(b).unwrap_or(""))
}

/// Layout (integers little-endian), then the SHA-256 of everything before it: the magic,
/// `u32` length + bytes of the canonical absolute root, `u8` trusted, `u32` length + bytes
/// of the environment, then three lists, each a `u32` count: files (`u32` length + path
/// bytes, `u8` present, the key if present), directories (`u32` length + path, key), and the
/// listing (`u32` length + path).
fn encode(r: &Record, root: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let put_bytes = |out: &mut Vec<u8>, b: &[u8]| {
        out.extend_from_slice(&(b.len() as u32).to_le_bytes());
        out.extend_from_slice(b);
    };
    out.extend_from_slice(MAGIC);
    put_bytes(&mut out, root);
    out.push(u8::from(r.trusted));
    put_bytes(&mut out, &r.env);
    out.extend_from_slice(&(r.files.len() as u32).to_le_bytes());
    for (path, key) in &r.files {
        put_bytes(&mut out, path);
        out.push(u8::from(key.is_some()));
        if let Some(k) = key {
            out.extend_from_slice(&k.to_bytes());
        }
    }
    out.extend_from_slice(&(r.dirs.len() as u32).to_le_bytes());
    for (path, key) in &r.dirs {
        put_bytes(&mut out, path.as_bytes());
        out.extend_from_slice(&key.to_bytes());
    }
    out.extend_from_slice(&(r.others.len() as u32).to_le_bytes());
    for path in &r.others {
        put_bytes(&mut out, path.as_bytes());
    }
    let sum = Digest::of(&out);
    out.extend_from_slice(&sum.0);
    out
}

fn decode(bytes: &[u8], root: &[u8]) -> Option<Record> {
    let (body, sum) = bytes.split_at(bytes.len().checked_sub(32)?);
    if Digest::of(body).0 != sum {
        return None;
    }
    decode_body(&mut Cursor(body), root).ok().flatten()
}

/// The fields of a record whose checksum holds: `Ok(None)` when it is for another root or
/// has bytes left over, `Err` when it is malformed.
fn decode_body(c: &mut Cursor<'_>, root: &[u8]) -> Result<Option<Record>, &'static str> {
    let flag = |c: &mut Cursor<'_>| match c.take(1)?[0] {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err("bad flag"),
    };
    let string =
        |c: &mut Cursor<'_>| String::from_utf8(c.bytes()?.to_vec()).map_err(|_| "non-UTF-8 path");
    if c.take(MAGIC.len())? != MAGIC || c.bytes()? != root {
        return Ok(None);
    }
    let trusted = flag(c)?;
    let env = c.bytes()?.to_vec();
    let mut files = Vec::new();
    for _ in 0..c.u32()? {
        let path = c.bytes()?.to_vec();
        let key = if flag(c)? { Some(c.key()?) } else { None };
        files.push((path, key));
    }
    let mut dirs = Vec::new();
    for _ in 0..c.u32()? {
        dirs.push((string(c)?, c.key()?));
    }
    let mut others = Vec::new();
    for _ in 0..c.u32()? {
        others.push(string(c)?);
    }
    Ok(c.0.is_empty().then_some(Record {
        env,
        files,
        dirs,
        others,
        trusted,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> Record {
        let key =
            |n: u64| StatKey::new(1, n, 0o40755, 4096, (1_700_000_000, 5), (1_700_000_001, 6));
        Record {
            env: b"PATH=/usr/bin\0HOME=/root\0XDG_CONFIG_HOME\0".to_vec(),
            files: vec![
                (b"/repo/.git/index".to_vec(), Some(key(7))),
                (b"/repo/.gitignore".to_vec(), None),
            ],
            dirs: vec![(String::new(), key(1)), ("src".to_string(), key(2))],
            others: vec!["new.txt".to_string(), "src/b.rs".to_string()],
            trusted: true,
        }
    }

    #[test]
    fn a_record_round_trips_and_refuses_every_single_byte_flip_and_cut() {
        let r = record();
        let bytes = encode(&r, b"/repo");
        assert_eq!(decode(&bytes, b"/repo"), Some(r));
        assert_eq!(decode(&bytes, b"/other"), None);
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x01;
            assert_eq!(decode(&bad, b"/repo"), None, "flip at {i} accepted");
        }
        for n in 0..bytes.len() {
            assert_eq!(decode(&bytes[..n], b"/repo"), None, "cut to {n} accepted");
        }
    }

    #[test]
    fn a_record_holds_only_when_trusted_and_every_key_is_the_same_and_settled() {
        let r = record();
        let same = Snapshot {
            files: r.files.iter().map(|(_, k)| *k).collect(),
            dirs: r.dirs.iter().map(|(_, k)| Some(*k)).collect(),
            racy: false,
        };
        assert!(r.holds(&same));
        assert!(
            !Record {
                trusted: false,
                ..r.clone()
            }
            .holds(&same)
        );
        assert!(!r.holds(&Snapshot {
            racy: true,
            ..same_as(&same)
        }));
        let mut moved = same_as(&same);
        moved.dirs[1] = Some(StatKey::new(
            1,
            2,
            0o40755,
            4096,
            (1_700_000_002, 0),
            (1_700_000_002, 0),
        ));
        assert!(!r.holds(&moved));
        let mut gone = same_as(&same);
        gone.dirs[0] = None;
        assert!(!r.holds(&gone));
        let mut appeared = same_as(&same);
        appeared.files[1] = Some(StatKey::default());
        assert!(!r.holds(&appeared));
    }

    use crate::testutil::git;
    use crate::{ScanOptions, scan_with_stats};

    fn write(root: &Path, rel: &str, content: &str) {
        let p = root.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, content).unwrap();
    }

    /// What `git ls-files -z --cached --others --exclude-standard` prints at `root`, sorted,
    /// without the paths below `out/` (the excluded prefix of these tests); git runs with
    /// the configuration the scan's git sees.
    fn git_listing(root: &Path) -> Vec<String> {
        let args = [
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ];
        let out = std::process::Command::new("git")
            .arg("-C")
            .arg(root)
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let mut v: Vec<String> = out
            .stdout
            .split(|&b| b == 0)
            .filter(|p| !p.is_empty() && !p.starts_with(b"out/"))
            .map(|p| String::from_utf8(p.to_vec()).unwrap())
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// Scans and checks the set is git's; returns whether the untracked listing came from
    /// the record.
    fn scan_checked(root: &Path, opts: &ScanOptions, what: &str) -> bool {
        let (tree, stats) = scan_with_stats(root, opts).unwrap();
        let got: Vec<&str> = tree.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(got, git_listing(root), "{what}");
        stats.untracked_reused
    }

    /// Scans, letting the clock pass the racy window before each, until the record is used
    /// (it takes two scans to become trusted).
    fn until_reused(root: &Path, opts: &ScanOptions, what: &str) {
        for _ in 0..4 {
            std::thread::sleep(RACY + Duration::from_millis(100));
            if scan_checked(root, opts, what) {
                return;
            }
        }
        panic!("{what}: the record was never used (is the temp dir on a file system it knows?)");
    }

    fn repo_with_cache() -> (tempfile::TempDir, tempfile::TempDir, ScanOptions) {
        let dir = tempfile::tempdir().unwrap();
        let cache_dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        git(root, &["init", "-q"]);
        write(root, ".gitignore", "*.log\nbuild/\n");
        write(root, "a.txt", "alpha\n");
        write(root, "src/lib.rs", "pub fn f() {}\n");
        write(root, "src/nested/deep.rs", "// deep\n");
        write(root, "x.log", "ignored\n");
        write(root, "build/.keep", "");
        write(root, "out/receipt.json", "{}");
        git(root, &["add", "-A"]);
        write(root, "untracked.txt", "new\n");
        let opts = ScanOptions {
            cache_path: Some(cache_dir.path().join("digests")),
            exclude_prefixes: vec!["out/".to_string()],
            ..ScanOptions::default()
        };
        (dir, cache_dir, opts)
    }

    /// The record is used only while nothing git's listing depends on has changed: each
    /// kind of change makes the next scan ask git again, and every scan's set is git's.
    #[test]
    fn the_record_is_used_only_while_nothing_the_listing_depends_on_changed() {
        if !crate::gitindex::env_allows(std::env::vars_os().map(|(k, _)| k)) {
            // This environment points git elsewhere: no record is ever made.
            return;
        }
        let (dir, _cache, opts) = repo_with_cache();
        let root = dir.path();
        assert!(!scan_checked(root, &opts, "first scan"));
        until_reused(root, &opts, "unchanged tree");

        // A tracked file edited in place changes no directory: the record still holds, and
        // the file is read again by its own changed key.
        write(root, "src/lib.rs", "pub fn g() {}\n");
        assert!(scan_checked(root, &opts, "file edited in place"));
        // Nor does anything below an excluded prefix matter.
        write(root, "out/receipt-2.json", "{}");
        assert!(scan_checked(root, &opts, "excluded prefix"));

        type Change = fn(&Path);
        let changes: [(&str, Change); 7] = [
            ("new untracked file", |r| write(r, "src/new.rs", "// new\n")),
            ("new directory", |r| {
                write(r, "docs/guide/intro.md", "# intro\n")
            }),
            ("file in an ignored directory", |r| {
                write(r, "build/obj.o", "x")
            }),
            ("a .gitignore edited in place", |r| {
                write(r, ".gitignore", "build/\n")
            }),
            ("info/exclude edited", |r| {
                write(r, ".git/info/exclude", "untracked.txt\n")
            }),
            ("a file added to the index", |r| {
                git(r, &["add", "docs/guide/intro.md"]);
            }),
            ("an untracked file removed", |r| {
                fs::remove_file(r.join("src/new.rs")).unwrap()
            }),
        ];
        for (what, change) in changes {
            change(root);
            assert!(!scan_checked(root, &opts, what), "{what}: record used");
            until_reused(root, &opts, what);
        }

        // A scan leaving out other prefixes does not use a record that did not watch them.
        let all = ScanOptions {
            exclude_prefixes: Vec::new(),
            ..opts.clone()
        };
        let (tree, stats) = scan_with_stats(root, &all).unwrap();
        assert!(!stats.untracked_reused);
        assert!(tree.files.iter().any(|f| f.path == "out/receipt.json"));
    }

    /// A configured `core.excludesFile` could name any file, so no record is trusted.
    #[test]
    fn no_record_is_used_with_a_configured_excludes_file() {
        let (dir, _cache, opts) = repo_with_cache();
        let root = dir.path();
        git(
            root,
            &["config", "core.excludesFile", "/nonexistent/ignore"],
        );
        for _ in 0..3 {
            assert!(!scan_checked(root, &opts, "excludesFile"));
            std::thread::sleep(RACY + Duration::from_millis(100));
        }
    }

    fn same_as(s: &Snapshot) -> Snapshot {
        Snapshot {
            files: s.files.clone(),
            dirs: s.dirs.clone(),
            racy: s.racy,
        }
    }
}
