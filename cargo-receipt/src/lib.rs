//! `cargo receipt`: build with a verifiable receipt, and verify receipts.
//!
//! `cargo receipt build [cargo build options] [-- more cargo args]` runs `cargo build`, then
//! writes the build's manifest, receipt and canonical graph into the output directory
//! (default `target/receipt/`) and appends the receipt to the chain there. `cargo receipt
//! verify` checks such a directory. The formats are specified in `docs/SPEC.md`; exit codes
//! are listed in [`exit`].
#![deny(missing_docs)]

pub mod args;
pub mod artifacts;
pub mod build;
pub mod cli;
pub mod evidence;
pub mod exec;
pub mod exit;
pub mod graph;
pub mod graph_cache;
pub mod ingress;
pub mod lockfile;
pub mod paths;
pub mod prove;
pub mod show;
pub mod sign;
pub mod verify;

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cargo, Command, ProjectArgs};
use crate::exit::Error;

/// The producer string of manifests written by this version.
pub fn producer() -> String {
    format!("cargo-receipt {}", env!("CARGO_PKG_VERSION"))
}

/// Parses `args` (the program name first) and runs the command; the binary's whole body.
pub fn main_with_args<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let Cargo::Receipt(cmd) = match Cargo::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            // --help and --version are successes; clap's own errors are usage errors.
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                exit::USAGE_OR_IO
            } else {
                exit::SUCCESS
            });
        }
    };
    run(cmd.command)
}

/// Runs one command and returns its exit code (see [`exit`]), having printed any error.
pub fn run(cmd: Command) -> ExitCode {
    match cmd {
        Command::Build(a) => exit::report(run_build(&a)),
        Command::Verify(a) => exit::report(run_verify(&a)),
        Command::Prove(a) => exit::report(run_prove(&a)),
        Command::VerifyProof(a) => exit::report(run_verify_proof(&a)),
        Command::Show(a) => exit::report(
            default_dir(a.dir.as_deref(), &a.project).and_then(|d| print_out(&show::show(&d)?)),
        ),
        Command::VerifyRun(a) => exit::report(run_verify_run(&a)),
        Command::Diff(a) => exit::report(run_diff(&a)),
        Command::DiffRun(a) => exit::report(run_diff_run(&a)),
        Command::Report(a) => exit::report(run_report(&a)),
        Command::Keygen(a) => exit::report(run_keygen(&a)),
        Command::Sign(a) => exit::report(run_sign(&a)),
        Command::Consistency(a) => exit::report(run_consistency(&a)),
        Command::ExportRun(a) => exit::report(evidence::export_run(&a)),
        Command::Gc(a) => exit::report(evidence::gc(&a)),
        // The Lake bridge documents the same exit codes and maps its own errors to them.
        Command::Lake { command } => lake_bridge::run(command),
    }
}

fn run_build(args: &cli::BuildArgs) -> Result<(), Error> {
    let built = build::build(args)?;
    let shown = display_path(&built.out);
    eprintln!(
        "     Receipt {}/receipt.json (entry {} of the chain)",
        shown, built.seq
    );
    run_build_sign_note(&built);
    if built.success {
        Ok(())
    } else {
        Err(Error::BuildFailed {
            code: built.failure_code,
            out: built.out,
        })
    }
}

fn run_verify(a: &cli::VerifyArgs) -> Result<(), Error> {
    // Keys and policy first: a bad key file is a usage error, before any check is made.
    let keys = a.keys.key_options()?;
    let policy = a.keys.policy()?;
    // The project is only consulted for what the directory alone cannot tell.
    let located = (a.dir.is_none() || a.artifacts || a.source)
        .then(|| build::locate(a.project.manifest_path.as_deref()))
        .transpose()?;
    let dir = out_dir(a.dir.as_deref(), located.as_ref())?;
    // A downloaded CI artifact: verified as the directory it holds, extracted privately.
    let archive = if dir.is_file() {
        Some(receipt_archive::open(&dir)?)
    } else {
        None
    };
    let dir = archive.as_ref().map_or(dir, |x| x.root().to_owned());
    let target_dir = match (&a.target_dir, &located) {
        (Some(t), _) => Some(t.clone()),
        (None, Some(m)) => Some(m.target_directory.as_std_path().to_path_buf()),
        (None, None) => None,
    };
    let opts = verify::Options {
        artifacts_in: if a.artifacts {
            target_dir.clone()
        } else {
            None
        },
        source_tree: match (a.source, &located, &target_dir) {
            (true, Some(m), Some(t)) => {
                Some((m.workspace_root.as_std_path().to_path_buf(), t.clone()))
            }
            _ => None,
        },
        keys,
        policy,
    };
    let report = verify::verify(&dir, &opts);
    let text = if a.json {
        report.to_json(&[])
    } else {
        report.to_string()
    };
    print_out(&text)?;
    if report.ok() {
        Ok(())
    } else {
        Err(Error::VerificationFailed(format!(
            "{} check(s) failed",
            report.failures().count()
        )))
    }
}

fn run_prove(a: &cli::ProveArgs) -> Result<(), Error> {
    let dir = default_dir(a.out.as_deref(), &a.project)?;
    let bytes = prove::prove(&dir, &a.path)?;
    let mut out = std::io::stdout().lock();
    out.write_all(&bytes)
        .and_then(|()| out.flush())
        .map_err(Error::io("<stdout>"))
}

fn run_verify_proof(a: &cli::VerifyProofArgs) -> Result<(), Error> {
    match prove::verify_proof(&a.proof, a.file.as_deref(), a.against.as_deref()) {
        Ok(sentence) => print_out(&format!("PASS proof             {sentence}\n")),
        Err(Error::VerificationFailed(why)) => {
            print_out(&format!("FAIL proof             {why}\n"))?;
            Err(Error::VerificationFailed(why))
        }
        Err(e) => Err(e),
    }
}

fn run_verify_run(a: &cli::VerifyRunArgs) -> Result<(), Error> {
    let audit = evidence::audit(a)?;
    let report = audit.report();
    let text = if a.json {
        report.to_json(&[
            ("ledger", audit.run.ledger.display().to_string().into()),
            ("receipt", audit.run.receipt.display().to_string().into()),
        ])
    } else {
        report.to_string()
    };
    print_out(&text)?;
    if report.ok() {
        Ok(())
    } else {
        Err(Error::VerificationFailed(format!(
            "the run ledger {} did not verify",
            a.ledger.display()
        )))
    }
}

fn run_diff(a: &cli::DiffArgs) -> Result<(), Error> {
    // Only a bare `@N` needs the project's output directory.
    let bare = |s: &str| receipt_diff::Spec::parse(s).is_ok_and(|s| s.path.is_none());
    let default = (bare(&a.a) || bare(&a.b))
        .then(|| default_dir(None, &a.project))
        .transpose()?;
    let d = receipt_diff::diff_receipts(&a.a, &a.b, default.as_deref())?;
    if a.json {
        let bytes = d.to_json().map_err(|e| Error::Usage(e.to_string()))?;
        print_out(&String::from_utf8_lossy(&bytes))?;
    } else {
        print_out(&d.to_text())?;
    }
    match receipt_diff::exit_code(&d) {
        exit::SUCCESS => Ok(()),
        _ => Err(Error::VerificationFailed("the receipts differ".into())),
    }
}

fn run_diff_run(a: &cli::DiffRunArgs) -> Result<(), Error> {
    let labels = (a.a.display().to_string(), a.b.display().to_string());
    let d = receipt_diff::run::diff_runs(&a.a, &a.b, (&labels.0, &labels.1))?;
    if a.json {
        let bytes = d.to_json().map_err(|e| Error::Usage(e.to_string()))?;
        print_out(&String::from_utf8_lossy(&bytes))?;
    } else {
        print_out(&d.to_text())?;
    }
    match receipt_diff::run_exit_code(&d) {
        exit::SUCCESS => Ok(()),
        exit::VERIFY_FAILED => Err(Error::VerificationFailed("the runs diverge".into())),
        _ => {
            let path = if d.a.verified { &a.b } else { &a.a };
            Err(Error::BadFile {
                path: path.clone(),
                what: "does not verify against its run receipt, so the comparison above cannot be trusted".into(),
            })
        }
    }
}

fn run_build_sign_note(built: &build::Built) {
    if let Some(size) = built.checkpoint_size {
        eprintln!(
            "      Signed {}/checkpoint (tree size {size})",
            display_path(&built.out)
        );
    }
}

fn run_keygen(a: &cli::KeygenArgs) -> Result<(), Error> {
    let k = sign::keygen(&a.out)?;
    eprintln!(
        "     Private {} (mode 0600; keep it secret)\n      Public {}",
        display_path(&k.private_key),
        display_path(&k.public_key)
    );
    print_out(&format!("{}\n", k.key_id))
}

fn run_sign(a: &cli::SignArgs) -> Result<(), Error> {
    let located = build::locate(a.project.manifest_path.as_deref()).ok();
    let dir = match (&a.dir, &located) {
        (Some(d), _) => d.clone(),
        (None, Some(m)) => m.target_directory.as_std_path().join(build::DEFAULT_OUT),
        (None, None) => build::locate(a.project.manifest_path.as_deref())
            .map(|m| m.target_directory.as_std_path().join(build::DEFAULT_OUT))?,
    };
    let root = located
        .as_ref()
        .map(|m| m.workspace_root.as_std_path().to_path_buf());
    let done = sign::sign_dir(&dir, &a.key, root.as_deref()).map_err(say_failure)?;
    eprintln!(
        "      Signed {} entr{} of {}; checkpoint at tree size {}",
        done.signed.len(),
        if done.signed.len() == 1 { "y" } else { "ies" },
        display_path(&dir),
        done.checkpoint.size
    );
    Ok(())
}

/// A verification failure of a command that prints no check lines, said on stderr.
fn say_failure(e: Error) -> Error {
    if let Error::VerificationFailed(why) = &e {
        eprintln!("error: {why}");
    }
    e
}

fn run_consistency(a: &cli::ConsistencyArgs) -> Result<(), Error> {
    let dir = default_dir(a.dir.as_deref(), &a.project)?;
    let proof = sign::consistency(&a.old_checkpoint, &dir).map_err(say_failure)?;
    print_out(&String::from_utf8_lossy(&proof.to_json()))
}

/// `cargo receipt report`: the page is written whatever the verification found (the page
/// shows it); errors are only about reading the input or writing the page.
fn run_report(a: &cli::ReportArgs) -> Result<(), Error> {
    let input = default_dir(a.input.as_deref(), &a.project)?;
    let written = receipt_report::write(&input, &a.output).map_err(|e| match e {
        receipt_report::ReportError::Io { path, source } => Error::Io { path, source },
        other => Error::Usage(other.to_string()),
    })?;
    eprintln!(
        "      Report {} ({} bytes; verification {})",
        display_path(&a.output),
        written.bytes,
        if written.verified { "passed" } else { "FAILED" }
    );
    Ok(())
}

/// The output directory given, else `<target dir>/receipt` of the project.
fn default_dir(dir: Option<&Path>, project: &ProjectArgs) -> Result<PathBuf, Error> {
    match dir {
        Some(d) => Ok(d.to_path_buf()),
        None => out_dir(
            None,
            Some(&build::locate(project.manifest_path.as_deref())?),
        ),
    }
}

fn out_dir(
    dir: Option<&Path>,
    located: Option<&cargo_metadata::Metadata>,
) -> Result<PathBuf, Error> {
    match (dir, located) {
        (Some(d), _) => Ok(d.to_path_buf()),
        (None, Some(m)) => Ok(m.target_directory.as_std_path().join(build::DEFAULT_OUT)),
        (None, None) => Err(Error::Usage("no output directory given".into())),
    }
}

/// The path relative to the current directory when it lies under it.
fn display_path(p: &Path) -> String {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| paths::under(p, &cwd))
        .unwrap_or_else(|| p.display().to_string())
}

pub(crate) fn print_out(text: &str) -> Result<(), Error> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(Error::io("<stdout>"))
}
