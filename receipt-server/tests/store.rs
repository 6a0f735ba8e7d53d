//! The storage invariants on both backends, under concurrency: a delivery is claimed
//! once, a stale claim can be taken over, a chain is stored once.

mod common;

use std::sync::Arc;

use common::{Backend, TestStorage, fixture};
use receipt_server::store::{Inserted, Origin};
use receipt_server::verify::{VerifyConfig, verify_dir};

async fn a_delivery_is_claimed_exactly_once_under_concurrency(b: Backend) {
    let storage = TestStorage::new(b);
    let store = storage.open().await;
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let s = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            s.claim_delivery("one-id", "workflow_run").await.unwrap()
        }));
    }
    let mut won = 0;
    for t in tasks {
        if t.await.unwrap() {
            won += 1;
        }
    }
    assert_eq!(won, 1);
    // Released, it can be claimed again; finished, never.
    store.release_delivery("one-id").await.unwrap();
    assert!(
        store
            .claim_delivery("one-id", "workflow_run")
            .await
            .unwrap()
    );
    store.finish_delivery("one-id", "success").await.unwrap();
    store.release_delivery("one-id").await.unwrap();
    assert!(
        !store
            .claim_delivery("one-id", "workflow_run")
            .await
            .unwrap()
    );
    storage.cleanup().await;
}

async fn a_stale_processing_claim_is_taken_over_and_a_done_one_never(b: Backend) {
    let storage = TestStorage::new(b);
    let store = storage.open().await;
    assert!(store.claim_delivery("stale", "workflow_run").await.unwrap());
    assert!(store.claim_delivery("done", "workflow_run").await.unwrap());
    store.finish_delivery("done", "failure").await.unwrap();
    assert!(!store.claim_delivery("stale", "workflow_run").await.unwrap());
    // Both claims age past the stale limit (their server died an hour ago).
    storage
        .exec_raw("UPDATE deliveries SET received_at = '2000-01-01T00:00:00Z'")
        .await;
    assert!(store.claim_delivery("stale", "workflow_run").await.unwrap());
    assert!(!store.claim_delivery("stale", "workflow_run").await.unwrap());
    assert!(!store.claim_delivery("done", "workflow_run").await.unwrap());
    storage.cleanup().await;
}

async fn one_chain_uploaded_concurrently_is_stored_once(b: Backend) {
    let storage = TestStorage::new(b);
    let store = storage.open().await;
    let nb = verify_dir(&fixture().ledger, &VerifyConfig::default())
        .unwrap()
        .into_new_build(Origin::Upload)
        .unwrap();
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let s = Arc::clone(&store);
        let nb = nb.clone();
        tasks.push(tokio::spawn(
            async move { s.insert_build(&nb).await.unwrap() },
        ));
    }
    let mut created = Vec::new();
    let mut ids = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            Inserted::Created(id) => {
                created.push(id);
                ids.push(id)
            }
            Inserted::Existing(id) => ids.push(id),
        }
    }
    assert_eq!(created.len(), 1);
    assert!(ids.iter().all(|&i| i == created[0]));
    assert_eq!(store.list_builds(None, 100).await.unwrap().len(), 1);
    storage.cleanup().await;
}

both_backends!(
    a_delivery_is_claimed_exactly_once_under_concurrency,
    a_stale_processing_claim_is_taken_over_and_a_done_one_never,
    one_chain_uploaded_concurrently_is_stored_once,
);

#[tokio::test]
async fn an_unreachable_database_is_an_error_not_a_hang() {
    let t0 = std::time::Instant::now();
    let e = receipt_server::store::postgres::PgStore::connect(
        "postgres://postgres@127.0.0.1:1/receipt",
        "public",
        2,
    )
    .await
    .unwrap_err();
    assert!(t0.elapsed() < std::time::Duration::from_secs(30));
    assert!(e.to_string().contains("PostgreSQL"), "{e}");
}

#[tokio::test]
async fn the_sqlite_database_is_in_wal_mode() {
    let dir = tempfile::tempdir().unwrap();
    let s = receipt_server::store::sqlite::SqliteStore::open(dir.path())
        .await
        .unwrap();
    let c = rusqlite::Connection::open(s.path()).unwrap();
    let mode: String = c
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode.to_ascii_lowercase(), "wal");
}
