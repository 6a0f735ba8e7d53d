//! The embedded backend: one SQLite file in WAL mode, one writer connection and a few
//! reader connections, each used on tokio's blocking pool.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, params};

use super::{BuildDetail, BuildSummary, Inserted, NewBuild, NewRun, RunInserted, RunSummary};
use super::{Dialect, Store, StoreError, now, origin_columns, schema, stale_before};
use super::{RUN_COLUMNS, SUMMARY_COLUMNS, run_from_row, summary_from_row};

/// File name of the database in the data directory.
pub const DB_FILE: &str = "receipt-server.sqlite3";

/// Reader connections kept open.
const READERS: usize = 4;

/// The tables, in SQLite's types (booleans are integers 0 and 1).
const DIALECT: Dialect = Dialect {
    serial: "INTEGER PRIMARY KEY AUTOINCREMENT",
    int: "INTEGER",
    boolean: "INTEGER",
    bytes: "BLOB",
};

/// The SQLite store.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Vec<Mutex<Connection>>,
    next: AtomicUsize,
}

fn lock(m: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    // A panic while holding the lock leaves SQLite's own state consistent (every write is
    // a transaction), so a poisoned lock is taken over.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn configure(c: &Connection) -> rusqlite::Result<()> {
    c.busy_timeout(Duration::from_secs(10))?;
    c.pragma_update(None, "foreign_keys", "ON")?;
    // FULL: a committed build or delivery survives a power loss, not just a crash.
    c.pragma_update(None, "synchronous", "FULL")?;
    Ok(())
}

impl SqliteStore {
    /// Opens (creating when missing) `DIR/receipt-server.sqlite3` in WAL mode and creates
    /// the tables.
    ///
    /// # Errors
    /// [`StoreError`] when the directory or database cannot be created or opened.
    pub async fn open(dir: &Path) -> Result<SqliteStore, StoreError> {
        let dir = dir.to_owned();
        tokio::task::spawn_blocking(move || SqliteStore::open_blocking(&dir))
            .await
            .map_err(|e| StoreError::Task(e.to_string()))?
    }

    fn open_blocking(dir: &Path) -> Result<SqliteStore, StoreError> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::DataDir {
            path: dir.to_owned(),
            source,
        })?;
        let path = dir.join(DB_FILE);
        let writer = Connection::open(&path)?;
        let mode: String =
            writer.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Corrupt(format!(
                "{} refused WAL mode (journal_mode is {mode})",
                path.display()
            )));
        }
        configure(&writer)?;
        writer.execute_batch(&schema(&DIALECT))?;
        let mut readers = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            let r = Connection::open_with_flags(
                &path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?;
            r.busy_timeout(Duration::from_secs(10))?;
            readers.push(Mutex::new(r));
        }
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                path,
                writer: Mutex::new(writer),
                readers,
                next: AtomicUsize::new(0),
            }),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            let i = inner.next.fetch_add(1, Ordering::Relaxed) % inner.readers.len();
            f(&lock(&inner.readers[i]))
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?
    }

    async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || f(&mut lock(&inner.writer)))
            .await
            .map_err(|e| StoreError::Task(e.to_string()))?
    }

    /// Stores many verified builds in one transaction (for imports and for seeding a
    /// database), returning how many were new.
    ///
    /// # Errors
    /// [`StoreError`] when the database fails; nothing is stored then.
    pub async fn insert_builds(&self, builds: Vec<NewBuild>) -> Result<usize, StoreError> {
        self.write(move |c| {
            let tx = c.transaction()?;
            let mut n = 0;
            for b in &builds {
                if let Inserted::Created(_) = insert_build_on(&tx, b)? {
                    n += 1;
                }
            }
            tx.commit()?;
            Ok(n)
        })
        .await
    }
}

fn insert_build_on(c: &Connection, b: &NewBuild) -> Result<Inserted, StoreError> {
    let (origin, repository, run_id, head_sha) = origin_columns(&b.origin);
    let id: Option<i64> = c
        .prepare_cached(
            "INSERT INTO builds (received_at, chain_sha256, receipt_sha256, chain_length, kind,
                producer, merkle_root, git_commit, dirty, work_status, timestamp, origin,
                repository, workflow_run_id, head_sha, report, receipt, manifest, chain_head)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
                ?17, ?18, ?19)
             ON CONFLICT (chain_sha256) DO NOTHING RETURNING id",
        )?
        .query_row(
            params![
                now(),
                b.fields.chain_sha256,
                b.fields.receipt_sha256,
                b.fields.chain_length,
                b.fields.kind,
                b.fields.producer,
                b.fields.merkle_root,
                b.fields.commit,
                b.fields.dirty,
                b.fields.work_status,
                b.fields.timestamp,
                origin,
                repository,
                run_id,
                head_sha,
                b.report_json,
                b.receipt,
                b.manifest,
                b.chain_head,
            ],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(id) = id {
        return Ok(Inserted::Created(id));
    }
    let id = c
        .prepare_cached("SELECT id FROM builds WHERE chain_sha256 = ?1")?
        .query_row([&b.fields.chain_sha256], |r| r.get(0))?;
    Ok(Inserted::Existing(id))
}

fn summary(r: &Row<'_>) -> Result<BuildSummary, StoreError> {
    Ok(summary_from_row!(r.get))
}

fn run_summary(r: &Row<'_>) -> rusqlite::Result<RunSummary> {
    Ok(run_from_row!(r.get))
}

#[async_trait]
impl Store for SqliteStore {
    async fn claim_delivery(&self, delivery_id: &str, event: &str) -> Result<bool, StoreError> {
        let (id, event) = (delivery_id.to_owned(), event.to_owned());
        self.write(move |c| {
            let n = c
                .prepare_cached(
                    "INSERT INTO deliveries (delivery_id, event, state, received_at)
                     VALUES (?1, ?2, 'processing', ?3)
                     ON CONFLICT (delivery_id) DO UPDATE SET received_at = excluded.received_at
                     WHERE deliveries.state = 'processing' AND deliveries.received_at < ?4",
                )?
                .execute(params![id, event, now(), stale_before()])?;
            Ok(n == 1)
        })
        .await
    }

    async fn finish_delivery(&self, delivery_id: &str, outcome: &str) -> Result<(), StoreError> {
        let (id, outcome) = (delivery_id.to_owned(), outcome.to_owned());
        self.write(move |c| {
            c.prepare_cached(
                "UPDATE deliveries SET state = 'done', outcome = ?2 WHERE delivery_id = ?1",
            )?
            .execute(params![id, outcome])?;
            Ok(())
        })
        .await
    }

    async fn release_delivery(&self, delivery_id: &str) -> Result<(), StoreError> {
        let id = delivery_id.to_owned();
        self.write(move |c| {
            c.prepare_cached(
                "DELETE FROM deliveries WHERE delivery_id = ?1 AND state = 'processing'",
            )?
            .execute([id])?;
            Ok(())
        })
        .await
    }

    async fn insert_build(&self, build: &NewBuild) -> Result<Inserted, StoreError> {
        let b = build.clone();
        self.write(move |c| insert_build_on(c, &b)).await
    }

    async fn list_builds(
        &self,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<BuildSummary>, StoreError> {
        self.read(move |c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {SUMMARY_COLUMNS} FROM builds WHERE id < ?1 ORDER BY id DESC LIMIT ?2"
            ))?;
            let mut rows = st.query(params![before.unwrap_or(i64::MAX), limit])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                out.push(summary(r)?);
            }
            Ok(out)
        })
        .await
    }

    async fn get_build(&self, id: i64) -> Result<Option<BuildDetail>, StoreError> {
        self.read(move |c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {SUMMARY_COLUMNS}, report FROM builds WHERE id = ?1"
            ))?;
            let mut rows = st.query([id])?;
            let Some(r) = rows.next()? else {
                return Ok(None);
            };
            let report: String = r.get(16)?;
            Ok(Some(BuildDetail {
                summary: summary(r)?,
                report: serde_json::from_str(&report)
                    .map_err(|e| StoreError::Corrupt(format!("build {id}'s report: {e}")))?,
            }))
        })
        .await
    }

    async fn build_receipt(&self, id: i64) -> Result<Option<Vec<u8>>, StoreError> {
        self.read(move |c| {
            Ok(
                c.prepare_cached("SELECT receipt FROM builds WHERE id = ?1")?
                    .query_row([id], |r| r.get(0))
                    .optional()?,
            )
        })
        .await
    }

    async fn insert_run(&self, run: &NewRun) -> Result<RunInserted, StoreError> {
        let r = run.clone();
        self.write(move |c| {
            let n = c
                .prepare_cached(
                    "INSERT INTO runs (run_id, received_at, receipt_sha256, ledger_sha256,
                        entries, program, status, report, receipt, export)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                     ON CONFLICT (run_id) DO NOTHING",
                )?
                .execute(params![
                    r.run_id,
                    now(),
                    r.receipt_sha256,
                    r.ledger_sha256,
                    r.entries,
                    r.program,
                    r.status,
                    r.report_json,
                    r.receipt,
                    r.export,
                ])?;
            if n == 1 {
                return Ok(RunInserted::Created);
            }
            let stored: String = c
                .prepare_cached("SELECT receipt_sha256 FROM runs WHERE run_id = ?1")?
                .query_row([&r.run_id], |row| row.get(0))?;
            Ok(if stored == r.receipt_sha256 {
                RunInserted::Existing
            } else {
                RunInserted::Conflict
            })
        })
        .await
    }

    async fn get_run(&self, run_id: &str) -> Result<Option<RunSummary>, StoreError> {
        let id = run_id.to_owned();
        self.read(move |c| {
            Ok(
                c.prepare_cached(&format!("SELECT {RUN_COLUMNS} FROM runs WHERE run_id = ?1"))?
                    .query_row([id], run_summary)
                    .optional()?,
            )
        })
        .await
    }

    async fn run_receipt(&self, run_id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let id = run_id.to_owned();
        self.read(move |c| {
            Ok(
                c.prepare_cached("SELECT receipt FROM runs WHERE run_id = ?1")?
                    .query_row([id], |r| r.get(0))
                    .optional()?,
            )
        })
        .await
    }

    async fn run_export(&self, run_id: &str) -> Result<Option<Option<Vec<u8>>>, StoreError> {
        let id = run_id.to_owned();
        self.read(move |c| {
            Ok(
                c.prepare_cached("SELECT export FROM runs WHERE run_id = ?1")?
                    .query_row([id], |r| r.get(0))
                    .optional()?,
            )
        })
        .await
    }
}
