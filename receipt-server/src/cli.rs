//! The command line of `receipt-server`: arguments, logging, configuration, then the
//! server until SIGTERM or ctrl-c. Exit codes: 0 after a graceful shutdown, 2 for a
//! usage or configuration error, 1 when the server cannot start or fails.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, ValueEnum};
use tracing_subscriber::EnvFilter;

use crate::app::App;
use crate::config::{Config, Overrides};
use crate::http::{serve, shutdown_signal};
use crate::store;
use crate::verify::{ArchiveVerifier, ArtifactVerifier};

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One JSON object per line (the default; for log collectors).
    Json,
    /// Human-readable lines.
    Text,
}

/// `receipt-server [--config FILE] [--data DIR] [--listen ADDR]`.
#[derive(Debug, Parser)]
#[command(
    name = "receipt-server",
    version,
    about = "Verifies receipt artifacts of GitHub Actions runs (a GitHub App) and serves the verified receipts (a read-only API).",
    after_help = "Secrets come only from the environment: RECEIPT_API_TOKEN (required), \
RECEIPT_WEBHOOK_SECRET and RECEIPT_GITHUB_APP_KEY (with a [github] table), \
RECEIPT_DATABASE_URL (postgres://…, instead of --data); each may instead name a file with \
the suffix _FILE. RECEIPT_LOG sets the log filter (default info)."
)]
pub struct Args {
    /// Configuration file (TOML; see docs/SPEC.md §15).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Data directory of the embedded SQLite database (created when missing).
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Address to listen on (default 127.0.0.1:8080).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Log line format.
    #[arg(long, value_enum, default_value = "json")]
    pub log_format: LogFormat,
}

fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_env("RECEIPT_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second initialization (tests) keeps the first subscriber.
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// Parses `args` (the program name first) and runs the server; the binary's whole body.
pub fn main_with_args<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args = match Args::try_parse_from(args) {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    init_logging(args.log_format);
    let overrides = Overrides {
        listen: args.listen,
        data: args.data.clone(),
    };
    let cfg = match Config::load(args.config.as_deref(), &overrides) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "configuration refused");
            eprintln!("receipt-server: {e}");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("receipt-server: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let verifier = Arc::new(archive_verifier(&cfg));
    match rt.block_on(run(cfg, verifier)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "server stopped on an error");
            eprintln!("receipt-server: {e}");
            ExitCode::from(1)
        }
    }
}

/// The production verifier for `cfg`: archives may be as large as the largest body the
/// server accepts (an upload or a downloaded artifact); the other archive limits are the
/// defaults of `cargo receipt verify`.
pub fn archive_verifier(cfg: &Config) -> ArchiveVerifier {
    let limits = receipt_archive::Limits {
        max_archive_bytes: cfg
            .limits
            .artifact_bytes
            .max(cfg.limits.ingest_body_bytes as u64),
        ..receipt_archive::Limits::default()
    };
    ArchiveVerifier {
        config: cfg.verify.clone(),
        limits,
    }
}

/// Why the server could not run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The store could not be opened.
    #[error(transparent)]
    Store(#[from] store::StoreError),
    /// The GitHub App could not be set up.
    #[error(transparent)]
    Github(#[from] crate::github::GithubError),
    /// The address could not be bound, or serving failed.
    #[error("cannot serve on {addr}: {source}")]
    Io {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// Opens the store, binds the address and serves until SIGTERM or ctrl-c.
///
/// # Errors
/// [`RunError`] when the store, the GitHub App or the listener cannot be set up.
pub async fn run(cfg: Config, verifier: Arc<dyn ArtifactVerifier>) -> Result<(), RunError> {
    let store = store::open(&cfg.storage).await?;
    let app = Arc::new(App::new(&cfg, store, verifier)?);
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .map_err(|source| RunError::Io {
            addr: cfg.listen,
            source,
        })?;
    let addr = listener.local_addr().unwrap_or(cfg.listen);
    tracing::info!(
        %addr,
        storage = match &cfg.storage {
            crate::config::StorageConfig::Sqlite { .. } => "sqlite",
            crate::config::StorageConfig::Postgres { .. } => "postgres",
        },
        github = cfg.github.is_some(),
        "receipt-server listening"
    );
    serve(listener, app, shutdown_signal())
        .await
        .map_err(|source| RunError::Io { addr, source })?;
    tracing::info!("receipt-server stopped");
    Ok(())
}
