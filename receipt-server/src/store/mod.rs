//! Storage of verified builds and runs and of processed webhook deliveries: one trait
//! ([`Store`]), an embedded SQLite backend and a PostgreSQL backend shared by replicas.
//!
//! Both backends enforce the same invariants with the database's own constraints, so
//! several server processes may share one PostgreSQL database: a delivery id is claimed by
//! one insert under a primary key, a build is identified by the SHA-256 of its chain head
//! (`UNIQUE`), a run by its run id (primary key).

pub mod postgres;
pub mod sqlite;

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use serde::Serialize;

use crate::config::StorageConfig;

/// Where a stored build came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Origin {
    /// Uploaded with `POST /v1/builds`.
    Upload,
    /// Downloaded from a GitHub Actions workflow run after its webhook.
    Github {
        /// `owner/name`.
        repository: String,
        /// The workflow run's id.
        workflow_run_id: i64,
        /// The commit the run built.
        head_sha: String,
    },
}

/// What a verified build ledger says about itself: stored with it, listed, and searched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BuildFields {
    /// SHA-256 of the ledger's `chain.head`: identifies the chain as uploaded.
    pub chain_sha256: String,
    /// SHA-256 of the latest receipt file.
    pub receipt_sha256: String,
    /// Number of receipts on the chain.
    pub chain_length: i64,
    /// The receipt's `kind` (`cargo`, `lake`).
    pub kind: String,
    /// The receipt's `producer`.
    pub producer: String,
    /// The manifest's `merkle_root`.
    pub merkle_root: String,
    /// `source.git.commit`, when known.
    pub commit: Option<String>,
    /// `source.git.dirty`, when known.
    pub dirty: Option<bool>,
    /// `work.status`, when known.
    pub work_status: Option<String>,
    /// The manifest's `timestamp`.
    pub timestamp: String,
}

/// A verified build, ready to be stored.
#[derive(Debug, Clone)]
pub struct NewBuild {
    /// What the ledger says about itself.
    pub fields: BuildFields,
    /// Where it came from.
    pub origin: Origin,
    /// The verification report, JSON (`{"checks":[…]}`).
    pub report_json: String,
    /// The latest receipt file's bytes, as stored in the ledger.
    pub receipt: Vec<u8>,
    /// The latest manifest file's bytes.
    pub manifest: Vec<u8>,
    /// The `chain.head` bytes.
    pub chain_head: Vec<u8>,
}

/// One stored build, as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BuildSummary {
    /// The server's id of the build.
    pub id: i64,
    /// When the server stored it (`YYYY-MM-DDTHH:MM:SSZ`).
    pub received_at: String,
    /// What the ledger says about itself.
    #[serde(flatten)]
    pub fields: BuildFields,
    /// Where it came from.
    pub origin: Origin,
}

/// One stored build with its verification report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BuildDetail {
    /// The summary.
    #[serde(flatten)]
    pub summary: BuildSummary,
    /// The report the server made when it stored the build.
    pub report: serde_json::Value,
}

/// A verified run, ready to be stored.
#[derive(Debug, Clone)]
pub struct NewRun {
    /// The run id (from the run receipt).
    pub run_id: String,
    /// SHA-256 of the run receipt file.
    pub receipt_sha256: String,
    /// SHA-256 of the ledger file.
    pub ledger_sha256: String,
    /// Entries in the ledger.
    pub entries: i64,
    /// The run receipt's `program`.
    pub program: String,
    /// The run receipt's `status`.
    pub status: String,
    /// The verification report, JSON.
    pub report_json: String,
    /// The run receipt's bytes.
    pub receipt: Vec<u8>,
    /// The run export document, stored opaquely, when one came with the run.
    pub export: Option<Vec<u8>>,
}

/// One stored run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunSummary {
    /// The run id.
    pub run_id: String,
    /// When the server stored it.
    pub received_at: String,
    /// SHA-256 of the run receipt.
    pub receipt_sha256: String,
    /// SHA-256 of the ledger.
    pub ledger_sha256: String,
    /// Entries in the ledger.
    pub entries: i64,
    /// The program.
    pub program: String,
    /// The run's status.
    pub status: String,
    /// Whether an export document is stored.
    pub has_export: bool,
}

/// What an insert did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    /// A new row with this id.
    Created(i64),
    /// The same content was already stored under this id.
    Existing(i64),
}

/// What storing a run did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunInserted {
    /// Stored.
    Created,
    /// The same run receipt was already stored.
    Existing,
    /// Another receipt is stored under this run id.
    Conflict,
}

/// A failure of the database, never of the caller's input.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failed.
    #[error("the SQLite database failed: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL failed.
    #[error("the PostgreSQL database failed: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    /// No PostgreSQL connection could be had from the pool.
    #[error("no PostgreSQL connection could be had: {0}")]
    Pool(String),
    /// The data directory could not be created.
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A blocking database task panicked or was cancelled.
    #[error("a database task did not complete: {0}")]
    Task(String),
    /// A stored row does not have the shape the server writes.
    #[error("a stored row is malformed: {0}")]
    Corrupt(String),
}

/// The storage interface the server runs on.
#[async_trait]
pub trait Store: Send + Sync + fmt::Debug {
    /// Claims a webhook delivery id: `true` when this call inserted it, or took over a
    /// claim left `processing` for longer than [`STALE_CLAIM_SECS`] (process the
    /// delivery); `false` when it is claimed (a redelivery: ignore it).
    ///
    /// # Errors
    /// [`StoreError`] when the database fails.
    async fn claim_delivery(&self, delivery_id: &str, event: &str) -> Result<bool, StoreError>;

    /// Marks a claimed delivery as processed with its outcome.
    ///
    /// # Errors
    /// [`StoreError`] when the database fails.
    async fn finish_delivery(&self, delivery_id: &str, outcome: &str) -> Result<(), StoreError>;

    /// Gives a claimed delivery up (processing failed for a reason that a redelivery may
    /// not meet), so that GitHub's redelivery is processed.
    ///
    /// # Errors
    /// [`StoreError`] when the database fails.
    async fn release_delivery(&self, delivery_id: &str) -> Result<(), StoreError>;

    /// Stores a verified build, or finds the one stored with the same chain head.
    ///
    /// # Errors
    /// [`StoreError`] when the database fails.
    async fn insert_build(&self, build: &NewBuild) -> Result<Inserted, StoreError>;

    /// Builds with an id below `before` (all when `None`), newest first, at most `limit`.
    ///
    /// # Errors
    /// [`StoreError`] when the database fails.
    async fn list_builds(
        &self,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<BuildSummary>, StoreError>;

    /// One build with its report.
    ///
    /// # Errors
    /// [`StoreError`] when the database fails.
    async fn get_build(&self, id: i64) -> Result<Option<BuildDetail>, StoreError>;

    /// The receipt bytes of one build, as stored.
    ///
    /// # Errors
    /// [`StoreError`] when the database fails.
    async fn build_receipt(&self, id: i64) -> Result<Option<Vec<u8>>, StoreError>;

    /// Stores a verified run unless its run id is taken.
    ///
    /// # Errors
    /// [`StoreError`] when the database fails.
    async fn insert_run(&self, run: &NewRun) -> Result<RunInserted, StoreError>;

    /// One stored run.
    ///
    /// # Errors
    /// [`StoreError`] when the database fails.
    async fn get_run(&self, run_id: &str) -> Result<Option<RunSummary>, StoreError>;

    /// The run receipt bytes, as stored.
    ///
    /// # Errors
    /// [`StoreError`] when the database fails.
    async fn run_receipt(&self, run_id: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// The run's export document: `None` when the run is not stored, `Some(None)` when it
    /// was stored without one.
    ///
    /// # Errors
    /// [`StoreError`] when the database fails.
    async fn run_export(&self, run_id: &str) -> Result<Option<Option<Vec<u8>>>, StoreError>;
}

/// Opens (and migrates) the configured store.
///
/// # Errors
/// [`StoreError`] when the database cannot be opened or migrated.
pub async fn open(cfg: &StorageConfig) -> Result<Arc<dyn Store>, StoreError> {
    Ok(match cfg {
        StorageConfig::Sqlite { dir } => Arc::new(sqlite::SqliteStore::open(dir).await?),
        StorageConfig::Postgres { url, schema, pool } => {
            Arc::new(postgres::PgStore::connect(url.expose(), schema, *pool).await?)
        }
    })
}

/// The current time in the protocol's form, for `received_at`.
pub(crate) fn now() -> String {
    receipt_primitives::time::Timestamp::now().to_string()
}

/// How long a delivery may stay claimed as `processing` before a redelivery may claim it
/// again (its server died mid-job): well above the longest job (four GitHub calls of at
/// most 60 s each, and the verification).
pub const STALE_CLAIM_SECS: i64 = 15 * 60;

/// The `received_at` below which a `processing` claim is stale. The text form sorts as
/// the instants do.
pub(crate) fn stale_before() -> String {
    let now = receipt_primitives::time::Timestamp::now();
    receipt_primitives::time::Timestamp::from_unix(now.unix() - STALE_CLAIM_SECS)
        .unwrap_or(now)
        .to_string()
}

/// The origin columns `(origin, repository, workflow_run_id, head_sha)` of an origin.
pub(crate) fn origin_columns(
    o: &Origin,
) -> (&'static str, Option<&str>, Option<i64>, Option<&str>) {
    match o {
        Origin::Upload => ("upload", None, None, None),
        Origin::Github {
            repository,
            workflow_run_id,
            head_sha,
        } => (
            "github",
            Some(repository),
            Some(*workflow_run_id),
            Some(head_sha),
        ),
    }
}

/// The origin from its columns.
pub(crate) fn origin_from(
    kind: &str,
    repository: Option<String>,
    workflow_run_id: Option<i64>,
    head_sha: Option<String>,
) -> Result<Origin, StoreError> {
    match (kind, repository, workflow_run_id, head_sha) {
        ("upload", ..) => Ok(Origin::Upload),
        ("github", Some(repository), Some(workflow_run_id), Some(head_sha)) => Ok(Origin::Github {
            repository,
            workflow_run_id,
            head_sha,
        }),
        (k, ..) => Err(StoreError::Corrupt(format!(
            "a build's origin {k:?} lacks its columns or is unknown"
        ))),
    }
}

/// The tables of both backends (docs/SPEC.md §15), with `{serial}`, `{int}`, `{bool}` and
/// `{bytes}` standing for the column types each dialect names its own way.
const SCHEMA_TEMPLATE: &str = "
CREATE TABLE IF NOT EXISTS deliveries (
    delivery_id TEXT PRIMARY KEY,
    event       TEXT NOT NULL,
    state       TEXT NOT NULL,
    outcome     TEXT,
    received_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS builds (
    id              {serial},
    received_at     TEXT NOT NULL,
    chain_sha256    TEXT NOT NULL UNIQUE,
    receipt_sha256  TEXT NOT NULL,
    chain_length    {int} NOT NULL,
    kind            TEXT NOT NULL,
    producer        TEXT NOT NULL,
    merkle_root     TEXT NOT NULL,
    git_commit      TEXT,
    dirty           {bool},
    work_status     TEXT,
    timestamp       TEXT NOT NULL,
    origin          TEXT NOT NULL,
    repository      TEXT,
    workflow_run_id {int},
    head_sha        TEXT,
    report          TEXT NOT NULL,
    receipt         {bytes} NOT NULL,
    manifest        {bytes} NOT NULL,
    chain_head      {bytes} NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    run_id         TEXT PRIMARY KEY,
    received_at    TEXT NOT NULL,
    receipt_sha256 TEXT NOT NULL,
    ledger_sha256  TEXT NOT NULL,
    entries        {int} NOT NULL,
    program        TEXT NOT NULL,
    status         TEXT NOT NULL,
    report         TEXT NOT NULL,
    receipt        {bytes} NOT NULL,
    export         {bytes}
);
";

/// How one SQL dialect names the column types of [`SCHEMA_TEMPLATE`].
pub(crate) struct Dialect {
    /// An auto-incrementing 64-bit primary key.
    pub(crate) serial: &'static str,
    /// A 64-bit integer.
    pub(crate) int: &'static str,
    /// A boolean.
    pub(crate) boolean: &'static str,
    /// A byte string.
    pub(crate) bytes: &'static str,
}

/// The `CREATE TABLE IF NOT EXISTS` statements of every table, in `dialect`'s types.
pub(crate) fn schema(dialect: &Dialect) -> String {
    SCHEMA_TEMPLATE
        .replace("{serial}", dialect.serial)
        .replace("{int}", dialect.int)
        .replace("{bool}", dialect.boolean)
        .replace("{bytes}", dialect.bytes)
}

/// The columns of a [`BuildSummary`], in the order both backends select them.
pub(crate) const SUMMARY_COLUMNS: &str = "id, received_at, chain_sha256, receipt_sha256, \
     chain_length, kind, producer, merkle_root, git_commit, dirty, work_status, timestamp, \
     origin, repository, workflow_run_id, head_sha";

/// A [`BuildSummary`] from a row selected with [`SUMMARY_COLUMNS`], for either backend:
/// `$row.$get(i)` reads column `i` (`get` for SQLite, `try_get` for PostgreSQL) and `?`
/// converts the backend's error.
macro_rules! summary_from_row {
    ($row:ident . $get:ident) => {{
        let origin: String = $row.$get(12)?;
        $crate::store::BuildSummary {
            id: $row.$get(0)?,
            received_at: $row.$get(1)?,
            fields: $crate::store::BuildFields {
                chain_sha256: $row.$get(2)?,
                receipt_sha256: $row.$get(3)?,
                chain_length: $row.$get(4)?,
                kind: $row.$get(5)?,
                producer: $row.$get(6)?,
                merkle_root: $row.$get(7)?,
                commit: $row.$get(8)?,
                dirty: $row.$get(9)?,
                work_status: $row.$get(10)?,
                timestamp: $row.$get(11)?,
            },
            origin: $crate::store::origin_from(
                &origin,
                $row.$get(13)?,
                $row.$get(14)?,
                $row.$get(15)?,
            )?,
        }
    }};
}
pub(crate) use summary_from_row;

/// A [`RunSummary`] from a row selected with [`RUN_COLUMNS`]; as [`summary_from_row`].
macro_rules! run_from_row {
    ($row:ident . $get:ident) => {
        $crate::store::RunSummary {
            run_id: $row.$get(0)?,
            received_at: $row.$get(1)?,
            receipt_sha256: $row.$get(2)?,
            ledger_sha256: $row.$get(3)?,
            entries: $row.$get(4)?,
            program: $row.$get(5)?,
            status: $row.$get(6)?,
            has_export: $row.$get(7)?,
        }
    };
}
pub(crate) use run_from_row;

/// The columns of a [`RunSummary`].
pub(crate) const RUN_COLUMNS: &str = "run_id, received_at, receipt_sha256, ledger_sha256, \
     entries, program, status, export IS NOT NULL";
