//! Running `lake build` when `lake` is on `PATH`, and reading what it left under
//! `.lake/build`: the produced files with their SHA-256, and Lake's trace hashes as opaque
//! values (they depend on the toolchain, so they are recorded, never recomputed).

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::fs;

use receipt_primitives::confine;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use receipt_primitives::Digest;
use receipt_protocol::receipt::{Artifact, Work};

use crate::error::Error;

/// Where Lake writes build outputs, relative to the package root.
pub const BUILD_DIR: &str = ".lake/build";

/// Finds an executable named `lake` in the directories of `path` (a `PATH` value).
pub fn find_lake(path: Option<&OsStr>) -> Option<PathBuf> {
    let path = path?;
    std::env::split_paths(path)
        .filter(|d| !d.as_os_str().is_empty())
        .map(|d| d.join("lake"))
        .find(|p| fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
}

/// What one `lake build` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LakeRun {
    /// The command line, program name first (`lake`, not its absolute path).
    pub argv: Vec<String>,
    /// Work counters; `exit_code` is `None` when lake was killed by a signal.
    pub work: Work,
    /// The signal that killed lake, if one did.
    pub signal: Option<i32>,
}

/// CPU milliseconds and peak RSS (KiB) of all waited-for children of this process so far.
fn children_usage() -> Option<(u64, u64)> {
    let mut ru = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes a complete `rusage` into the pointer on success.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, ru.as_mut_ptr()) };
    if rc != 0 {
        return None;
    }
    // SAFETY: rc == 0, so the struct was initialized.
    let ru = unsafe { ru.assume_init() };
    let ms = |t: libc::timeval| t.tv_sec as u64 * 1000 + t.tv_usec as u64 / 1000;
    // Linux reports ru_maxrss in KiB.
    Some((ms(ru.ru_utime) + ms(ru.ru_stime), ru.ru_maxrss as u64))
}

/// Runs `lake build ARGS…` in `root` with the terminal's stdin, stdout and stderr.
///
/// # Errors
/// [`Error::Spawn`] when the program cannot be started.
pub fn run_lake_build(lake: &Path, root: &Path, args: &[OsString]) -> Result<LakeRun, Error> {
    let before = children_usage();
    let start = Instant::now();
    let status = Command::new(lake)
        .arg("build")
        .args(args)
        .current_dir(root)
        .status()
        .map_err(|source| Error::Spawn {
            program: lake.display().to_string(),
            source,
        })?;
    let wall_ms = start.elapsed().as_millis() as u64;
    let after = children_usage();
    let (cpu_ms, peak_rss_kb) = match (before, after) {
        (Some((c0, _)), Some((c1, rss))) => (Some(c1.saturating_sub(c0)), Some(rss)),
        _ => (None, None),
    };
    let mut argv = vec!["lake".to_owned(), "build".to_owned()];
    argv.extend(args.iter().map(|a| a.to_string_lossy().into_owned()));
    Ok(LakeRun {
        argv,
        work: Work {
            status: if status.success() {
                "success"
            } else {
                "failed"
            }
            .to_owned(),
            exit_code: status.code(),
            wall_ms,
            cpu_ms,
            peak_rss_kb,
        },
        signal: std::os::unix::process::ExitStatusExt::signal(&status),
    })
}

/// The files under `<root>/.lake/build`, sorted by path bytes, and the trace values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildOutputs {
    /// Every regular file, path relative to `.lake/build`.
    pub files: Vec<Artifact>,
    /// For each `*.trace` file (path relative to `.lake/build`), Lake's trace hash as
    /// written: the `depHash` of a JSON trace, or the whole trimmed content of a legacy one.
    pub traces: BTreeMap<String, String>,
}

/// Reads `.lake/build` under `root` (absent: no outputs).
///
/// # Errors
/// [`Error::Io`] naming the file that cannot be read.
pub fn collect_outputs(root: &Path) -> Result<BuildOutputs, Error> {
    // The build directory is reached without symlinks, and inside it only regular files
    // are listed (symlinks and special files are skipped by the walk).
    if !confine::dir_under(root, BUILD_DIR)? {
        return Ok(BuildOutputs::default());
    }
    let base = root.join(BUILD_DIR);
    let mut paths = Vec::new();
    walk(&base, "", &mut paths)?;
    paths.sort();
    let mut out = BuildOutputs::default();
    for rel in paths {
        let shown = format!("{BUILD_DIR}/{rel}");
        let file = confine::open_under(root, &shown)?;
        let size = file.size;
        if rel.ends_with(".trace") {
            let bytes = file.read_bounded(&shown, TRACE_BYTES, "a Lake trace file")?;
            if let Some(v) = trace_value(&bytes) {
                out.traces.insert(rel.clone(), v);
            }
            out.files.push(Artifact {
                path: rel,
                sha256: Digest::of(&bytes),
                size: bytes.len() as u64,
            });
            continue;
        }
        let (sha256, read) = file.sha256_bounded(&shown, size)?;
        if read != size {
            return Err(Error::Io {
                path: shown,
                source: io::Error::other("the file changed size while it was hashed"),
            });
        }
        out.files.push(Artifact {
            path: rel,
            sha256,
            size,
        });
    }
    Ok(out)
}

/// The largest `*.trace` file read for its trace value.
pub const TRACE_BYTES: u64 = 16 << 20;

fn trace_value(bytes: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(bytes).ok()?.trim();
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(o)) => o.get("depHash").map(|v| match v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        }),
        Ok(serde_json::Value::Number(n)) => Some(n.to_string()),
        Ok(serde_json::Value::String(s)) => Some(s),
        _ if !text.is_empty() && !text.contains(char::is_whitespace) => Some(text.to_owned()),
        _ => None,
    }
}

fn walk(dir: &Path, rel: &str, out: &mut Vec<String>) -> Result<(), Error> {
    let shown = if rel.is_empty() {
        BUILD_DIR.to_owned()
    } else {
        format!("{BUILD_DIR}/{rel}")
    };
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(shown)(e)),
    };
    for e in entries {
        let e = e.map_err(Error::io(&shown))?;
        let name = e.file_name().into_string().map_err(|n| Error::Io {
            path: format!("{shown}/{}", n.to_string_lossy()),
            source: io::Error::new(io::ErrorKind::InvalidData, "file name is not UTF-8"),
        })?;
        let child = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        let ty = e.file_type().map_err(Error::io(&shown))?;
        if ty.is_dir() {
            walk(&e.path(), &child, out)?;
        } else if ty.is_file() {
            out.push(child);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_values_are_opaque_strings() {
        assert_eq!(
            trace_value(b"{\"depHash\": \"12ab\", \"log\": []}").as_deref(),
            Some("12ab")
        );
        assert_eq!(trace_value(b"{\"depHash\": 42}").as_deref(), Some("42"));
        assert_eq!(
            trace_value(b"1234567890123\n").as_deref(),
            Some("1234567890123")
        );
        assert_eq!(trace_value(b"{\"other\": 1}"), None);
    }

    #[test]
    fn outputs_are_sorted_and_hashed() {
        let d = tempfile::tempdir().unwrap();
        let b = d.path().join(BUILD_DIR);
        fs::create_dir_all(b.join("lib/Foo")).unwrap();
        fs::write(b.join("lib/Foo/Bar.olean"), b"x").unwrap();
        fs::write(b.join("lib/Foo.trace"), b"{\"depHash\":\"7\"}").unwrap();
        let o = collect_outputs(d.path()).unwrap();
        let paths: Vec<_> = o.files.iter().map(|a| a.path.as_str()).collect();
        assert_eq!(paths, ["lib/Foo.trace", "lib/Foo/Bar.olean"]);
        assert_eq!(o.files[1].sha256, Digest::of(b"x"));
        assert_eq!(o.traces["lib/Foo.trace"], "7");
        assert!(
            collect_outputs(&d.path().join("none"))
                .unwrap()
                .files
                .is_empty()
        );
    }
}
