//! Running `cargo build` with machine-readable messages while the user still sees cargo's
//! own diagnostics, and measuring what the build cost.

use std::ffi::OsString;
use std::io::{self, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Instant;

use cargo_metadata::Message;

use crate::exit::Error;

/// The program cargo is run as: `$CARGO` (set by cargo for its subcommands), else `cargo`.
pub fn cargo_program() -> OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

/// What cargo's closing `build-finished` message said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finished {
    /// `"success": true`.
    Succeeded,
    /// `"success": false`: the build failed even if cargo exits 0.
    Failed,
    /// No such message (older cargo, or cargo stopped early).
    NotReported,
}

/// What one `cargo build` did.
#[derive(Debug, Clone)]
pub struct BuildRun {
    /// cargo's exit code, `None` when it was killed by a signal.
    pub exit_code: Option<i32>,
    /// The signal that killed cargo, if one did.
    pub signal: Option<i32>,
    /// What cargo's `build-finished` message said.
    pub finished: Finished,
    /// Every file named by a `compiler-artifact` message (absolute, as cargo reports them),
    /// in message order, with duplicates.
    pub artifact_files: Vec<PathBuf>,
    /// Wall-clock milliseconds from spawn to exit.
    pub wall_ms: u64,
    /// User + system CPU milliseconds of cargo and the processes it waited for, when
    /// measurable.
    pub cpu_ms: Option<u64>,
    /// Peak RSS of the largest of them, KiB, when measurable.
    pub peak_rss_kb: Option<u64>,
}

impl BuildRun {
    /// Whether the build succeeded.
    pub fn success(&self) -> bool {
        self.exit_code == Some(0) && self.finished != Finished::Failed
    }
}

/// Runs `$CARGO build --message-format=json-render-diagnostics <args>`.
///
/// stderr is inherited, so progress and the rendered, coloured diagnostics reach the user
/// exactly as from `cargo build`; stdout carries the JSON messages, parsed here, and any
/// non-JSON line (a build script or tool writing to stdout) is passed through.
///
/// The build's CPU time and peak RSS are those `wait4` reports for the cargo process: its
/// own plus those of every process it waited for (rustc, build scripts, linkers), and of no
/// other child of this process, so other work may run concurrently.
///
/// # Errors
/// [`Error::Spawn`] when cargo cannot be started, [`Error::Io`] when its output cannot be read.
pub fn run_cargo_build(args: &[String]) -> Result<BuildRun, Error> {
    let program = cargo_program();
    let mut cmd = Command::new(&program);
    cmd.arg("build")
        .arg("--message-format=json-render-diagnostics")
        .args(args)
        .stdin(Stdio::inherit())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let start = Instant::now();
    let mut child = cmd.spawn().map_err(|source| Error::Spawn {
        program: program.to_string_lossy().into_owned(),
        source,
    })?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| Error::Usage("cargo's stdout was not captured".into()))?;
    let mut artifact_files = Vec::new();
    let mut finished = Finished::NotReported;
    let mut out = std::io::stdout().lock();
    let mut read_error = None;
    for msg in Message::parse_stream(BufReader::new(stdout)) {
        match msg {
            Ok(Message::CompilerArtifact(a)) => {
                artifact_files.extend(a.filenames.into_iter().map(PathBuf::from));
            }
            Ok(Message::BuildFinished(f)) => {
                finished = if f.success {
                    Finished::Succeeded
                } else {
                    Finished::Failed
                }
            }
            Ok(Message::TextLine(line)) => {
                // A closed stdout (e.g. `| head`) must not abort the build.
                let _ = writeln!(out, "{line}");
            }
            Ok(_) => {}
            Err(e) => {
                // Stop reading but still reap cargo, which exits once its pipe is closed.
                read_error = Some(e);
                break;
            }
        }
    }
    drop(out);
    let (status, usage) = wait_with_usage(&mut child).map_err(Error::io("<cargo>"))?;
    if let Some(e) = read_error {
        return Err(Error::io("<cargo stdout>")(e));
    }
    let wall_ms = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
    #[cfg(unix)]
    let signal = std::os::unix::process::ExitStatusExt::signal(&status);
    #[cfg(not(unix))]
    let signal = None;
    Ok(BuildRun {
        exit_code: status.code(),
        signal,
        finished,
        artifact_files,
        wall_ms,
        cpu_ms: usage.map(|u| u.cpu_ms),
        peak_rss_kb: usage.map(|u| u.max_rss_kb),
    })
}

/// Resource usage of one child and everything it waited for.
#[derive(Debug, Clone, Copy)]
struct Usage {
    cpu_ms: u64,
    max_rss_kb: u64,
}

/// Waits for `child` with `wait4`, which also returns its resource usage.
#[cfg(unix)]
fn wait_with_usage(child: &mut Child) -> io::Result<(ExitStatus, Option<Usage>)> {
    use std::os::unix::process::ExitStatusExt;
    let pid = libc::pid_t::try_from(child.id())
        .map_err(|_| io::Error::other("child process id out of range"))?;
    let mut status: libc::c_int = 0;
    let mut ru = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    loop {
        // SAFETY: `status` and `ru` point to writable memory of the right types; `pid` is
        // our own child, not yet reaped (std only reaps in `wait`, never called on it).
        let r = unsafe { libc::wait4(pid, &mut status, 0, ru.as_mut_ptr()) };
        if r == pid {
            break;
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
    // SAFETY: wait4 returned the pid, so it filled the struct (which zeroed() initialized).
    let ru = unsafe { ru.assume_init() };
    let ms = |tv: libc::timeval| {
        u64::try_from(tv.tv_sec).unwrap_or(0) * 1000 + u64::try_from(tv.tv_usec).unwrap_or(0) / 1000
    };
    let maxrss = u64::try_from(ru.ru_maxrss).unwrap_or(0);
    // Linux reports ru_maxrss in KiB, macOS in bytes.
    let max_rss_kb = if cfg!(target_os = "macos") {
        maxrss / 1024
    } else {
        maxrss
    };
    let usage = Usage {
        cpu_ms: ms(ru.ru_utime) + ms(ru.ru_stime),
        max_rss_kb,
    };
    Ok((ExitStatus::from_raw(status), Some(usage)))
}

#[cfg(not(unix))]
fn wait_with_usage(child: &mut Child) -> io::Result<(ExitStatus, Option<Usage>)> {
    Ok((child.wait()?, None))
}
