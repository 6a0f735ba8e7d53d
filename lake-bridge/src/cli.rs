//! The `lake-receipt build|verify` command line, also embeddable as `cargo receipt lake …`.
//!
//! Exit codes are those of every tool of the project ([`receipt_protocol::exit`]): 0
//! success; `lake build`'s own exit code when the build failed (the receipt is still
//! written; 128 + s when it was killed by signal s); 1 verification failed; 2 usage or I/O
//! error, or a project that cannot be read.

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use receipt_primitives::Timestamp;
use receipt_protocol::cli::KeyArgs;
use receipt_protocol::exit::{USAGE_OR_IO, VERIFY_FAILED, build_failure};
use receipt_protocol::verify::verify_dir_with;

use crate::emit::{BuildOptions, DEFAULT_OUT_DIR, LakeProgram, build_signed};
use crate::error::Error;
use crate::lake::find_lake;

/// `lake-receipt`: receipts for Lean 4 / Lake builds.
#[derive(Debug, Parser)]
#[command(name = "lake-receipt", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: LakeCommand,
}

/// The subcommands, shared by `lake-receipt` and `cargo receipt lake`.
#[derive(Debug, Subcommand)]
pub enum LakeCommand {
    /// Run `lake build` (when `lake` is on PATH) and write the receipt.
    Build(BuildArgs),
    /// Verify the receipt chain in the output directory.
    Verify(VerifyArgs),
}

/// Options of `build`.
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// The Lake project root (the directory holding the lakefile).
    #[arg(long, default_value = ".")]
    pub project: PathBuf,
    /// The receipt directory (default: PROJECT/.lake/receipt).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Do not run `lake`, even when it is on PATH; the receipt covers sources and graph.
    #[arg(long)]
    pub no_lake: bool,
    /// Sign the receipt, its provenance and the chain's checkpoint with this private key
    /// (PKCS#8 PEM, Ed25519 or P-256, mode 0600); repeatable.
    #[arg(long = "sign", value_name = "KEY")]
    pub sign: Vec<PathBuf>,
    /// Arguments forwarded to `lake build` untouched (put them after `--`).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub lake_args: Vec<OsString>,
}

/// Options of `verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The receipt directory (default: PROJECT/.lake/receipt).
    pub dir: Option<PathBuf>,
    /// The Lake project root.
    #[arg(long, default_value = ".")]
    pub project: PathBuf,
    /// Print the report as JSON instead of one line per check.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub keys: KeyArgs,
}

/// Parses `args` (program name first) and runs the command.
pub fn run_cli(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    match Cli::try_parse_from(args) {
        Ok(cli) => run(cli.command),
        Err(e) => {
            // clap prints help and version to stdout with success, errors to stderr.
            let _ = e.print();
            if e.use_stderr() {
                ExitCode::from(USAGE_OR_IO)
            } else {
                ExitCode::SUCCESS
            }
        }
    }
}

/// Runs one command and maps its outcome to the documented exit code, printing errors.
pub fn run(cmd: LakeCommand) -> ExitCode {
    let result = match cmd {
        LakeCommand::Build(a) => run_build(a),
        LakeCommand::Verify(a) => run_verify(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("lake-receipt: error: {e}");
            ExitCode::from(USAGE_OR_IO)
        }
    }
}

fn run_build(a: BuildArgs) -> Result<ExitCode, Error> {
    // A key that cannot be used is refused before anything is built.
    let keys = a
        .sign
        .iter()
        .map(|p| receipt_attest::SigningKey::load(p))
        .collect::<Result<Vec<_>, _>>()?;
    let lake = if a.no_lake {
        LakeProgram::NotRun("lake was not run: --no-lake was given".to_owned())
    } else {
        find_lake(std::env::var_os("PATH").as_deref()).map_or_else(
            || LakeProgram::NotRun(
                "lake is not on PATH, so nothing was built; the receipt covers the sources and the module graph"
                    .to_owned(),
            ),
            LakeProgram::Run,
        )
    };
    let opts = BuildOptions {
        project: a.project,
        out: a.out,
        lake,
        lake_args: a.lake_args,
        timestamp: Timestamp::now_or_source_date_epoch()?,
    };
    let outcome = build_signed(&opts, &keys)?;
    let r = &outcome.appended.receipt;
    let graph = r.graph.get();
    eprintln!(
        "lake-receipt: receipt #{} written to {} ({} modules, {} imports; merkle_root {})",
        outcome.appended.seq,
        outcome.out_dir.display(),
        graph.map_or(0, |g| g.nodes),
        graph.map_or(0, |g| g.edges),
        r.reflective.merkle_root,
    );
    match outcome.lake {
        Some(run) if run.work.status != "success" => {
            let code = build_failure(run.work.exit_code, run.signal, VERIFY_FAILED);
            eprintln!(
                "lake-receipt: lake build failed (exit code {}); the receipt records it",
                run.work
                    .exit_code
                    .map_or("none: killed by a signal".to_owned(), |c| c.to_string())
            );
            Ok(ExitCode::from(code))
        }
        _ => Ok(ExitCode::SUCCESS),
    }
}

fn run_verify(a: VerifyArgs) -> Result<ExitCode, Error> {
    let keys = a.keys.key_options()?;
    let policy = a.keys.policy()?;
    let out = a.dir.unwrap_or_else(|| a.project.join(DEFAULT_OUT_DIR));
    let (mut report, facts) = verify_dir_with(&out, &keys);
    if let Some(p) = &policy {
        p.evaluate(&facts, &mut report, &|commit, branch| {
            receipt_scan::git::on_branch(&a.project, commit, branch)
        });
    }
    let text = if a.json {
        report.to_json(&[])
    } else {
        report.to_string()
    };
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(Error::io("stdout"))?;
    Ok(ExitCode::from(if report.ok() {
        receipt_protocol::exit::SUCCESS
    } else {
        VERIFY_FAILED
    }))
}
