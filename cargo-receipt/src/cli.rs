//! Command-line interface in cargo's style: `cargo receipt <command>`, parsed with clap derive.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use receipt_protocol::cli::KeyArgs;

/// The top level as cargo invokes a subcommand: `cargo-receipt receipt …`.
#[derive(Debug, Parser)]
#[command(bin_name = "cargo", version, styles = clap::builder::Styles::default())]
pub enum Cargo {
    /// Build with a verifiable receipt, and verify receipts.
    #[command(
        name = "receipt",
        version,
        subcommand_required = true,
        arg_required_else_help = true
    )]
    Receipt(ReceiptCommand),
}

/// `cargo receipt` and its subcommand.
#[derive(Debug, Args)]
pub struct ReceiptCommand {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands of `cargo receipt`.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run `cargo build` and write a manifest, receipt and graph, appended to the chain.
    Build(Box<BuildArgs>),
    /// Verify an output directory: every protocol check, plus optional artifact and
    /// source checks.
    Verify(VerifyArgs),
    /// Print the inclusion proof of one tracked file against the latest receipt's root.
    Prove(ProveArgs),
    /// Check an inclusion proof printed by `cargo receipt prove`.
    VerifyProof(VerifyProofArgs),
    /// Print a summary of the latest receipt.
    Show(ShowArgs),
    /// Verify a run ledger written by the receipt runtime, against its run receipt, its
    /// evidence store and (with --policy) the run invariants.
    VerifyRun(VerifyRunArgs),
    /// Show what changed between two build receipts (exit 0 when nothing that is hashed
    /// differs, 1 when something does, 2 on error).
    Diff(DiffArgs),
    /// Show where two run ledgers first diverge (exit 0 none, 1 diverged, 2 on error or
    /// when a ledger does not verify).
    DiffRun(DiffRunArgs),
    /// Write one self-contained HTML page showing a build chain or a run ledger.
    Report(ReportArgs),
    /// Write a new Ed25519 signing key pair (receipt-signing.key, mode 0600, and
    /// receipt-signing.pub) into a directory and print its key id.
    Keygen(KeygenArgs),
    /// Sign an existing chain's unsigned entries and write its signed checkpoint.
    Sign(SignArgs),
    /// Print the consistency proof from an older checkpoint to the chain's current one.
    Consistency(ConsistencyArgs),
    // --- evidence, invariants and run export (docs/SPEC.md §16, §17) ---------------------
    /// Write the deterministic export document of one run (schema `receipt.run-export/1`).
    ExportRun(ExportRunArgs),
    /// Expire evidence blobs by the retention policy, leaving tombstones.
    Gc(GcArgs),
    /// Receipts for Lean 4 / Lake projects (the `lake-receipt` commands).
    Lake {
        /// What to do.
        #[command(subcommand)]
        command: lake_bridge::LakeCommand,
    },
}

/// When cargo colours its output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Color {
    /// Colour when stderr is a terminal.
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

impl Color {
    /// The flag value cargo understands.
    pub fn as_str(self) -> &'static str {
        match self {
            Color::Auto => "auto",
            Color::Always => "always",
            Color::Never => "never",
        }
    }
}

/// The options of `cargo build` that `cargo receipt build` understands; everything after
/// `--` goes to cargo untouched.
#[derive(Debug, Clone, Default, Args)]
pub struct BuildArgs {
    /// Path to Cargo.toml.
    #[arg(long, value_name = "PATH")]
    pub manifest_path: Option<PathBuf>,
    /// Package(s) to build.
    #[arg(short = 'p', long = "package", value_name = "SPEC")]
    pub package: Vec<String>,
    /// Build all packages in the workspace.
    #[arg(long, visible_alias = "all")]
    pub workspace: bool,
    /// Exclude packages from the build (with --workspace).
    #[arg(long, value_name = "SPEC")]
    pub exclude: Vec<String>,
    /// Space or comma separated list of features to activate.
    #[arg(short = 'F', long, value_name = "FEATURES")]
    pub features: Vec<String>,
    /// Activate all available features.
    #[arg(long)]
    pub all_features: bool,
    /// Do not activate the `default` feature.
    #[arg(long)]
    pub no_default_features: bool,
    /// Build artifacts in release mode, with optimizations.
    #[arg(short = 'r', long, conflicts_with = "profile")]
    pub release: bool,
    /// Build artifacts with the specified profile.
    #[arg(long, value_name = "PROFILE-NAME")]
    pub profile: Option<String>,
    /// Build for the target triple.
    #[arg(long, value_name = "TRIPLE")]
    pub target: Option<String>,
    /// Build only this package's library.
    #[arg(long)]
    pub lib: bool,
    /// Build all binaries.
    #[arg(long)]
    pub bins: bool,
    /// Build only the specified binary.
    #[arg(long, value_name = "NAME")]
    pub bin: Vec<String>,
    /// Build all examples.
    #[arg(long)]
    pub examples: bool,
    /// Build only the specified example.
    #[arg(long, value_name = "NAME")]
    pub example: Vec<String>,
    /// Build all test targets.
    #[arg(long)]
    pub tests: bool,
    /// Build only the specified test target.
    #[arg(long, value_name = "NAME")]
    pub test: Vec<String>,
    /// Build all bench targets.
    #[arg(long)]
    pub benches: bool,
    /// Build only the specified bench target.
    #[arg(long, value_name = "NAME")]
    pub bench: Vec<String>,
    /// Build all targets.
    #[arg(long)]
    pub all_targets: bool,
    /// Assert that Cargo.lock will remain unchanged.
    #[arg(long)]
    pub locked: bool,
    /// Run without accessing the network.
    #[arg(long)]
    pub offline: bool,
    /// Equivalent to --locked --offline.
    #[arg(long)]
    pub frozen: bool,
    /// Coloring of cargo's diagnostics.
    #[arg(long, value_enum, value_name = "WHEN")]
    pub color: Option<Color>,
    /// Output directory of the receipts (default: receipt/ in the target directory).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Sign the receipt, its provenance and the chain's checkpoint with this private key
    /// (PKCS#8 PEM, Ed25519 or P-256, mode 0600); repeatable.
    #[arg(long = "sign", value_name = "KEY")]
    pub sign: Vec<PathBuf>,
    /// Further arguments for `cargo build`, passed untouched.
    #[arg(last = true, value_name = "CARGO-ARGS")]
    pub cargo_args: Vec<String>,
}

/// Options to find the project's target directory.
#[derive(Debug, Clone, Default, Args)]
pub struct ProjectArgs {
    /// Path to Cargo.toml of the project (used to find the target directory and work tree).
    #[arg(long, value_name = "PATH")]
    pub manifest_path: Option<PathBuf>,
}

/// `cargo receipt diff`.
#[derive(Debug, Clone, Args)]
pub struct DiffArgs {
    /// A: a receipt file, an output directory, a ZIP/tar/tar.gz artifact, or a chain
    /// position: `DIR@N` (entry N, from 1), `DIR@-N` (N-th from the end), `@N`/`@-N` in the
    /// default output directory.
    pub a: String,
    /// B, as A.
    pub b: String,
    /// Print the diff as canonical JSON (schema `receipt.diff/1`).
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub project: ProjectArgs,
}

/// `cargo receipt diff-run`.
#[derive(Debug, Clone, Args)]
pub struct DiffRunArgs {
    /// Run ledger A (its receipt `A.receipt.json` beside it).
    pub a: PathBuf,
    /// Run ledger B.
    pub b: PathBuf,
    /// Print the diff as canonical JSON (schema `receipt.run-diff/1`).
    #[arg(long)]
    pub json: bool,
}

/// `cargo receipt verify`.
#[derive(Debug, Clone, Args)]
pub struct VerifyArgs {
    /// The output directory to verify, or a ZIP, tar or tar.gz artifact holding one
    /// (default: receipt/ in the target directory).
    pub dir: Option<PathBuf>,
    /// Also re-hash the latest receipt's artifacts that are present in the target directory.
    #[arg(long)]
    pub artifacts: bool,
    /// Also recompute the tracked-set root of the current work tree and compare it.
    #[arg(long)]
    pub source: bool,
    /// The target directory the artifact paths are relative to [default: cargo's].
    #[arg(long, value_name = "DIR")]
    pub target_dir: Option<PathBuf>,
    /// Print the checks as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub keys: KeyArgs,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub project: ProjectArgs,
}

/// `cargo receipt keygen`.
#[derive(Debug, Clone, Args)]
pub struct KeygenArgs {
    /// The directory to write the key pair into (created if missing; existing key files
    /// are never overwritten).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

/// `cargo receipt sign`.
#[derive(Debug, Clone, Args)]
pub struct SignArgs {
    /// The output directory (default: receipt/ in the target directory).
    pub dir: Option<PathBuf>,
    /// The private key to sign with (PKCS#8 PEM, mode 0600); repeatable.
    #[arg(long = "key", value_name = "KEY", required = true)]
    pub key: Vec<PathBuf>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub project: ProjectArgs,
}

/// `cargo receipt consistency`.
#[derive(Debug, Clone, Args)]
pub struct ConsistencyArgs {
    /// An older signed checkpoint of the chain.
    pub old_checkpoint: PathBuf,
    /// The output directory (default: receipt/ in the target directory).
    pub dir: Option<PathBuf>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub project: ProjectArgs,
}

/// `cargo receipt prove`.
#[derive(Debug, Clone, Args)]
pub struct ProveArgs {
    /// The file, relative to the workspace root (`/`-separated).
    pub path: String,
    /// The output directory (default: receipt/ in the target directory).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub project: ProjectArgs,
}

/// `cargo receipt verify-proof`.
#[derive(Debug, Clone, Args)]
pub struct VerifyProofArgs {
    /// The proof file printed by `cargo receipt prove`.
    pub proof: PathBuf,
    /// Also check that this file has the proven content.
    #[arg(long, value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Also check that the proof leads to the tracked-set root of a receipt on the chain in
    /// this output directory.
    #[arg(long, value_name = "DIR")]
    pub against: Option<PathBuf>,
}

/// `cargo receipt show`.
#[derive(Debug, Clone, Args)]
pub struct ShowArgs {
    /// The output directory (default: receipt/ in the target directory).
    pub dir: Option<PathBuf>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub project: ProjectArgs,
}

/// `cargo receipt verify-run`.
#[derive(Debug, Clone, Args)]
pub struct VerifyRunArgs {
    /// The run ledger file.
    pub ledger: PathBuf,
    /// The run receipt (default: LEDGER.receipt.json).
    #[arg(long, value_name = "FILE")]
    pub receipt: Option<PathBuf>,
    /// Print the checks as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub evidence: RunEvidenceArgs,
    /// The run policy (TOML): required stages and evidence, the decision stage, and
    /// user-declared invariants, each checked.
    #[arg(long, value_name = "POLICY.toml")]
    pub policy: Option<PathBuf>,
}

/// Where a run's evidence is, and the key that verifies sealed blobs.
#[derive(Debug, Clone, Default, Args)]
pub struct RunEvidenceArgs {
    /// The evidence store: a directory or `s3://bucket/prefix` [default: LEDGER.evidence].
    #[arg(long, value_name = "DIR|URL")]
    pub evidence: Option<String>,
    /// The evidence key file, to verify sealed blobs' content [default:
    /// $RECEIPT_EVIDENCE_KEY when set; without a key sealed blobs are checked for presence].
    #[arg(long, value_name = "FILE")]
    pub evidence_key: Option<PathBuf>,
}

/// The formats of `cargo receipt export-run`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// RFC 8785 canonical JSON and a newline.
    #[default]
    Json,
}

/// `cargo receipt export-run`.
#[derive(Debug, Clone, Args)]
pub struct ExportRunArgs {
    /// The run ledger file.
    pub ledger: PathBuf,
    /// The document format.
    #[arg(long, value_enum, default_value_t = ExportFormat::Json)]
    pub format: ExportFormat,
    /// Write the document to this file (replaced atomically) instead of stdout.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// The run receipt (default: LEDGER.receipt.json).
    #[arg(long, value_name = "FILE")]
    pub receipt: Option<PathBuf>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub evidence: RunEvidenceArgs,
    /// A run policy whose invariants enter the verification summary and claim ceiling.
    #[arg(long, value_name = "POLICY.toml")]
    pub policy: Option<PathBuf>,
}

/// `cargo receipt gc`.
#[derive(Debug, Clone, Args)]
pub struct GcArgs {
    /// The evidence store: a directory or `s3://bucket/prefix`.
    pub store: String,
    /// The evidence policy file (TOML) with the `[retention.public]` and
    /// `[retention.sealed]` limits [default: no limits, nothing expires].
    #[arg(long, value_name = "RETENTION.toml")]
    pub policy: Option<PathBuf>,
    /// Only print what would be expired.
    #[arg(long)]
    pub dry_run: bool,
    /// The time retention is computed at (`YYYY-MM-DDTHH:MM:SSZ`) [default:
    /// $SOURCE_DATE_EPOCH, else now].
    #[arg(long, value_name = "TIMESTAMP")]
    pub now: Option<String>,
}

/// `cargo receipt report`.
#[derive(Debug, Clone, Args)]
pub struct ReportArgs {
    /// A build chain directory, or a run ledger file (`.jsonl`); default: the `receipt` directory in the target directory.
    pub input: Option<PathBuf>,
    /// The HTML file to write (replaced atomically).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: PathBuf,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub project: ProjectArgs,
}
