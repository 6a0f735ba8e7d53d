//! The shared backend: PostgreSQL through a connection pool, for several server replicas
//! behind one load balancer. Every invariant is a constraint the database enforces, so
//! replicas need no coordination of their own.

use async_trait::async_trait;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use tokio_postgres::{NoTls, Row};

use super::{BuildDetail, BuildSummary, Inserted, NewBuild, NewRun, RunInserted, RunSummary};
use super::{Dialect, Store, StoreError, now, origin_columns, stale_before};
use super::{RUN_COLUMNS, SUMMARY_COLUMNS, run_from_row, summary_from_row};

/// The advisory lock key under which the tables are created, so replicas starting
/// together do not race on `CREATE TABLE IF NOT EXISTS`.
const MIGRATION_LOCK: i64 = 0x7265_6365_6970_7431; // "receipt1"

/// The tables, in PostgreSQL's types.
const DIALECT: Dialect = Dialect {
    serial: "BIGSERIAL PRIMARY KEY",
    int: "BIGINT",
    boolean: "BOOLEAN",
    bytes: "BYTEA",
};

/// The PostgreSQL store.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: Pool,
}

impl PgStore {
    /// Connects to `url`, uses (and creates when missing) `schema`, and creates the tables.
    /// `schema` must be a plain lower-case identifier (the configuration checks it).
    ///
    /// # Errors
    /// [`StoreError`] when the URL is invalid or the server cannot be reached or migrated.
    pub async fn connect(url: &str, schema: &str, pool_size: usize) -> Result<PgStore, StoreError> {
        let mut pg: tokio_postgres::Config = url.parse()?;
        pg.options(format!("-c search_path={schema}"));
        pg.connect_timeout(Duration::from_secs(10));
        let mgr = Manager::from_config(
            pg,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        // A database that is down or saturated is an error after ten seconds, not a hang.
        let pool = Pool::builder(mgr)
            .max_size(pool_size)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(Duration::from_secs(10)))
            .create_timeout(Some(Duration::from_secs(10)))
            .recycle_timeout(Some(Duration::from_secs(10)))
            .build()
            .map_err(|e| StoreError::Pool(e.to_string()))?;
        let store = PgStore { pool };
        let mut c = store.client().await?;
        let tx = c.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await?;
        tx.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
            .await?;
        tx.batch_execute(&super::schema(&DIALECT)).await?;
        tx.commit().await?;
        Ok(store)
    }

    async fn client(&self) -> Result<Object, StoreError> {
        self.pool.get().await.map_err(|e| match e {
            deadpool_postgres::PoolError::Backend(e) => StoreError::Postgres(e),
            e => StoreError::Pool(e.to_string()),
        })
    }
}

fn summary(r: &Row) -> Result<BuildSummary, StoreError> {
    Ok(summary_from_row!(r.try_get))
}

fn run_summary(r: &Row) -> Result<RunSummary, StoreError> {
    Ok(run_from_row!(r.try_get))
}

#[async_trait]
impl Store for PgStore {
    async fn claim_delivery(&self, delivery_id: &str, event: &str) -> Result<bool, StoreError> {
        let c = self.client().await?;
        let st = c
            .prepare_cached(
                "INSERT INTO deliveries (delivery_id, event, state, received_at)
                 VALUES ($1, $2, 'processing', $3)
                 ON CONFLICT (delivery_id) DO UPDATE SET received_at = excluded.received_at
                 WHERE deliveries.state = 'processing' AND deliveries.received_at < $4",
            )
            .await?;
        Ok(
            c.execute(&st, &[&delivery_id, &event, &now(), &stale_before()])
                .await?
                == 1,
        )
    }

    async fn finish_delivery(&self, delivery_id: &str, outcome: &str) -> Result<(), StoreError> {
        let c = self.client().await?;
        let st = c
            .prepare_cached(
                "UPDATE deliveries SET state = 'done', outcome = $2 WHERE delivery_id = $1",
            )
            .await?;
        c.execute(&st, &[&delivery_id, &outcome]).await?;
        Ok(())
    }

    async fn release_delivery(&self, delivery_id: &str) -> Result<(), StoreError> {
        let c = self.client().await?;
        let st = c
            .prepare_cached(
                "DELETE FROM deliveries WHERE delivery_id = $1 AND state = 'processing'",
            )
            .await?;
        c.execute(&st, &[&delivery_id]).await?;
        Ok(())
    }

    async fn insert_build(&self, b: &NewBuild) -> Result<Inserted, StoreError> {
        let c = self.client().await?;
        let (origin, repository, run_id, head_sha) = origin_columns(&b.origin);
        let st = c
            .prepare_cached(
                "INSERT INTO builds (received_at, chain_sha256, receipt_sha256, chain_length,
                    kind, producer, merkle_root, git_commit, dirty, work_status, timestamp,
                    origin, repository, workflow_run_id, head_sha, report, receipt, manifest,
                    chain_head)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
                    $17, $18, $19)
                 ON CONFLICT (chain_sha256) DO NOTHING RETURNING id",
            )
            .await?;
        let row = c
            .query_opt(
                &st,
                &[
                    &now(),
                    &b.fields.chain_sha256,
                    &b.fields.receipt_sha256,
                    &b.fields.chain_length,
                    &b.fields.kind,
                    &b.fields.producer,
                    &b.fields.merkle_root,
                    &b.fields.commit,
                    &b.fields.dirty,
                    &b.fields.work_status,
                    &b.fields.timestamp,
                    &origin,
                    &repository,
                    &run_id,
                    &head_sha,
                    &b.report_json,
                    &b.receipt,
                    &b.manifest,
                    &b.chain_head,
                ],
            )
            .await?;
        if let Some(row) = row {
            return Ok(Inserted::Created(row.try_get(0)?));
        }
        // The conflicting row committed before our insert returned (read committed sees
        // it in this new statement's snapshot).
        let row = c
            .query_one(
                "SELECT id FROM builds WHERE chain_sha256 = $1",
                &[&b.fields.chain_sha256],
            )
            .await?;
        Ok(Inserted::Existing(row.try_get(0)?))
    }

    async fn list_builds(
        &self,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<BuildSummary>, StoreError> {
        let c = self.client().await?;
        let st = c
            .prepare_cached(&format!(
                "SELECT {SUMMARY_COLUMNS} FROM builds WHERE id < $1 ORDER BY id DESC LIMIT $2"
            ))
            .await?;
        let rows = c
            .query(&st, &[&before.unwrap_or(i64::MAX), &i64::from(limit)])
            .await?;
        rows.iter().map(summary).collect()
    }

    async fn get_build(&self, id: i64) -> Result<Option<BuildDetail>, StoreError> {
        let c = self.client().await?;
        let st = c
            .prepare_cached(&format!(
                "SELECT {SUMMARY_COLUMNS}, report FROM builds WHERE id = $1"
            ))
            .await?;
        let Some(r) = c.query_opt(&st, &[&id]).await? else {
            return Ok(None);
        };
        let report: &str = r.try_get(16)?;
        Ok(Some(BuildDetail {
            summary: summary(&r)?,
            report: serde_json::from_str(report)
                .map_err(|e| StoreError::Corrupt(format!("build {id}'s report: {e}")))?,
        }))
    }

    async fn build_receipt(&self, id: i64) -> Result<Option<Vec<u8>>, StoreError> {
        let c = self.client().await?;
        let st = c
            .prepare_cached("SELECT receipt FROM builds WHERE id = $1")
            .await?;
        Ok(match c.query_opt(&st, &[&id]).await? {
            Some(r) => Some(r.try_get(0)?),
            None => None,
        })
    }

    async fn insert_run(&self, r: &NewRun) -> Result<RunInserted, StoreError> {
        let c = self.client().await?;
        let st = c
            .prepare_cached(
                "INSERT INTO runs (run_id, received_at, receipt_sha256, ledger_sha256, entries,
                    program, status, report, receipt, export)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
                 ON CONFLICT (run_id) DO NOTHING",
            )
            .await?;
        let n = c
            .execute(
                &st,
                &[
                    &r.run_id,
                    &now(),
                    &r.receipt_sha256,
                    &r.ledger_sha256,
                    &r.entries,
                    &r.program,
                    &r.status,
                    &r.report_json,
                    &r.receipt,
                    &r.export,
                ],
            )
            .await?;
        if n == 1 {
            return Ok(RunInserted::Created);
        }
        let row = c
            .query_one(
                "SELECT receipt_sha256 FROM runs WHERE run_id = $1",
                &[&r.run_id],
            )
            .await?;
        let stored: &str = row.try_get(0)?;
        Ok(if stored == r.receipt_sha256 {
            RunInserted::Existing
        } else {
            RunInserted::Conflict
        })
    }

    async fn get_run(&self, run_id: &str) -> Result<Option<RunSummary>, StoreError> {
        let c = self.client().await?;
        let st = c
            .prepare_cached(&format!("SELECT {RUN_COLUMNS} FROM runs WHERE run_id = $1"))
            .await?;
        c.query_opt(&st, &[&run_id])
            .await?
            .as_ref()
            .map(run_summary)
            .transpose()
    }

    async fn run_receipt(&self, run_id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let c = self.client().await?;
        let st = c
            .prepare_cached("SELECT receipt FROM runs WHERE run_id = $1")
            .await?;
        Ok(match c.query_opt(&st, &[&run_id]).await? {
            Some(r) => Some(r.try_get(0)?),
            None => None,
        })
    }

    async fn run_export(&self, run_id: &str) -> Result<Option<Option<Vec<u8>>>, StoreError> {
        let c = self.client().await?;
        let st = c
            .prepare_cached("SELECT export FROM runs WHERE run_id = $1")
            .await?;
        Ok(match c.query_opt(&st, &[&run_id]).await? {
            Some(r) => Some(r.try_get(0)?),
            None => None,
        })
    }
}
