//! The receipts API on both storage backends: every endpoint, its authorization, its
//! errors, pagination, and the ingest endpoints that store only what verifies.

mod common;

use std::path::Path;

use common::{API_TOKEN, Backend, TestServer, fixture, tampered_zip};
use reqwest::StatusCode;
use reqwest::multipart::{Form, Part};
use serde_json::Value;
use tracing_subscriber::layer::SubscriberExt;

use receipt_runtime::ReceiptLayer;

#[receipt_runtime::receipt(hash(x))]
fn double(x: u64) -> u64 {
    x * 2
}

/// A finished, verifiable run: (ledger, receipt, head) bytes and its run id.
struct RunFiles {
    ledger: Vec<u8>,
    receipt: Vec<u8>,
    head: Vec<u8>,
    run_id: String,
}

fn make_run(dir: &Path, name: &str) -> RunFiles {
    let (layer, run) = ReceiptLayer::builder(dir.join(name)).build().unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        assert_eq!(double(21), 42);
    });
    let out = run.finish().unwrap();
    RunFiles {
        ledger: std::fs::read(&out.ledger).unwrap(),
        receipt: std::fs::read(&out.receipt_path).unwrap(),
        head: std::fs::read(receipt_runtime::ledger::head_path(&out.ledger)).unwrap(),
        run_id: out.receipt.run_id,
    }
}

async fn json(r: reqwest::Response) -> Value {
    r.json().await.unwrap()
}

/// Every error body is `{"error": "<one sentence>"}` (plus `checks` for a 422).
async fn assert_error(r: reqwest::Response, status: StatusCode, words: &str) -> Value {
    assert_eq!(r.status(), status);
    assert_eq!(
        r.headers()["content-type"].to_str().unwrap(),
        "application/json"
    );
    let v = json(r).await;
    let e = v["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error in {v}"));
    assert!(e.contains(words), "{e:?} does not say {words:?}");
    v
}

async fn post_build(s: &TestServer, body: Vec<u8>) -> reqwest::Response {
    s.http
        .post(s.url("/v1/builds"))
        .bearer_auth(API_TOKEN)
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn post_run(s: &TestServer, form: Form) -> reqwest::Response {
    s.http
        .post(s.url("/v1/runs"))
        .bearer_auth(API_TOKEN)
        .multipart(form)
        .send()
        .await
        .unwrap()
}

fn run_form(r: &RunFiles, export: Option<&[u8]>) -> Form {
    let mut f = Form::new()
        .part("ledger", Part::bytes(r.ledger.clone()))
        .part("receipt", Part::bytes(r.receipt.clone()))
        .part("head", Part::bytes(r.head.clone()));
    if let Some(x) = export {
        f = f.part("export", Part::bytes(x.to_vec()));
    }
    f
}

async fn every_endpoint_needs_the_bearer_token(b: Backend) {
    let s = TestServer::start(b, None).await;
    for path in [
        "/v1/builds",
        "/v1/builds/1",
        "/v1/builds/1/receipt",
        "/v1/runs/r",
        "/v1/runs/r/receipt",
        "/v1/runs/r/export",
    ] {
        let none = s.http.get(s.url(path)).send().await.unwrap();
        assert_eq!(none.headers()["www-authenticate"], "Bearer");
        assert_error(none, StatusCode::UNAUTHORIZED, "Authorization").await;
        let wrong = s
            .http
            .get(s.url(path))
            .bearer_auth("api-token-for-tests-012345678X")
            .send()
            .await
            .unwrap();
        assert_error(wrong, StatusCode::UNAUTHORIZED, "Bearer").await;
        let prefix = s
            .http
            .get(s.url(path))
            .bearer_auth(&API_TOKEN[..API_TOKEN.len() - 1])
            .send()
            .await
            .unwrap();
        assert_eq!(prefix.status(), StatusCode::UNAUTHORIZED, "{path}");
    }
    let upload = s
        .http
        .post(s.url("/v1/builds"))
        .body(fixture().zip.clone())
        .send()
        .await
        .unwrap();
    assert_error(upload, StatusCode::UNAUTHORIZED, "Authorization").await;
    assert!(
        s.app.store.list_builds(None, 10).await.unwrap().is_empty(),
        "an unauthorized upload stored nothing"
    );
    s.stop().await;
}

async fn ingest_then_read_a_build(b: Backend) {
    let s = TestServer::start(b, None).await;
    let r = post_build(&s, fixture().zip.clone()).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let loc = r.headers()["location"].to_str().unwrap().to_owned();
    let created = json(r).await;
    let id = created["id"].as_i64().unwrap();
    assert_eq!(loc, format!("/v1/builds/{id}"));
    assert_eq!(created["origin"]["kind"], "upload");
    assert_eq!(created["chain_length"], 1);
    assert_eq!(created["kind"], "cargo");
    assert!(
        created["report"]["checks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["verdict"] == "PASS" || c["verdict"] == "WARN")
    );

    // The same artifact again is the same build.
    let again = post_build(&s, fixture().zip.clone()).await;
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(json(again).await["id"].as_i64(), Some(id));

    let got = s.get(&format!("/v1/builds/{id}")).await;
    assert_eq!(got.status(), StatusCode::OK);
    assert_eq!(json(got).await, created);

    // The receipt bytes are exactly the latest receipt file of the ledger.
    let rec = s.get(&format!("/v1/builds/{id}/receipt")).await;
    assert_eq!(rec.status(), StatusCode::OK);
    assert_eq!(rec.headers()["content-type"], "application/json");
    let want = std::fs::read(fixture().ledger.join("receipt.json")).unwrap();
    assert_eq!(rec.bytes().await.unwrap().to_vec(), want);

    let list = json(s.get("/v1/builds").await).await;
    assert_eq!(list["builds"].as_array().unwrap().len(), 1);
    assert_eq!(list["builds"][0]["id"].as_i64(), Some(id));
    assert!(list["next_cursor"].is_null());
    s.stop().await;
}

async fn a_tampered_upload_is_refused_with_its_failing_checks(b: Backend) {
    let s = TestServer::start(b, None).await;
    let r = post_build(&s, tampered_zip()).await;
    let v = assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "did not verify").await;
    let checks = v["checks"].as_array().unwrap();
    assert!(
        checks.iter().any(|c| c["name"] == "graph.digest"),
        "{checks:?}"
    );
    assert!(checks.iter().all(|c| c["verdict"] != "PASS"));
    assert!(s.app.store.list_builds(None, 10).await.unwrap().is_empty());

    let junk = post_build(&s, b"not an archive".to_vec()).await;
    assert_error(junk, StatusCode::UNPROCESSABLE_ENTITY, "not a readable").await;
    let empty = post_build(&s, Vec::new()).await;
    assert_error(empty, StatusCode::BAD_REQUEST, "empty").await;
    s.stop().await;
}

/// A gzip-compressed tarball of the fixture's ledger, wrapped in one top-level directory.
fn ledger_tar_gz() -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("receipt.tar.gz");
    let ledger = &fixture().ledger;
    let st = std::process::Command::new("tar")
        .arg("-czf")
        .arg(&out)
        .arg("-C")
        .arg(ledger.parent().unwrap())
        .arg(ledger.file_name().unwrap())
        .status()
        .unwrap();
    assert!(st.success(), "tar failed");
    std::fs::read(out).unwrap()
}

async fn a_tarball_and_a_wrapped_zip_are_ingested_as_the_same_build(b: Backend) {
    let s = TestServer::start(b, None).await;
    let r = post_build(&s, ledger_tar_gz()).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let id = json(r).await["id"].as_i64().unwrap();
    // `zip -r artifact.zip receipt/`: everything under one top-level directory.
    let wrapped: std::collections::BTreeMap<String, Vec<u8>> = common::files_of(&fixture().ledger)
        .into_iter()
        .map(|(k, v)| (format!("receipt/{k}"), v))
        .collect();
    let r = post_build(&s, common::zip_files(&wrapped)).await;
    assert_eq!(r.status(), StatusCode::OK, "the same chain");
    assert_eq!(json(r).await["id"].as_i64(), Some(id));
    s.stop().await;
}

async fn a_hostile_archive_is_refused_naming_the_member(b: Backend) {
    let s = TestServer::start(b, None).await;
    let mut files = common::files_of(&fixture().ledger);
    files.insert("../outside.txt".into(), b"zip-slip".to_vec());
    let v = assert_error(
        post_build(&s, common::zip_files(&files)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "refusing member",
    )
    .await;
    let e = v["error"].as_str().unwrap();
    assert!(e.contains("../outside.txt"), "{e}");
    assert!(
        !e.contains("/tmp/"),
        "the private temporary path leaks: {e}"
    );
    let mut no_ledger = common::files_of(&fixture().ledger);
    no_ledger.remove("chain.head");
    assert_error(
        post_build(&s, common::zip_files(&no_ledger)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "chain.head",
    )
    .await;
    assert!(s.app.store.list_builds(None, 10).await.unwrap().is_empty());
    s.stop().await;
}

async fn unknown_and_malformed_ids(b: Backend) {
    let s = TestServer::start(b, None).await;
    assert_error(
        s.get("/v1/builds/7").await,
        StatusCode::NOT_FOUND,
        "no build 7",
    )
    .await;
    assert_error(
        s.get("/v1/builds/7/receipt").await,
        StatusCode::NOT_FOUND,
        "no build 7",
    )
    .await;
    for bad in ["x", "-1", "0", "1.5", "99999999999999999999", "+3"] {
        assert_error(
            s.get(&format!("/v1/builds/{bad}")).await,
            StatusCode::BAD_REQUEST,
            "positive whole number",
        )
        .await;
    }
    assert_error(
        s.get("/v1/runs/nope").await,
        StatusCode::NOT_FOUND,
        "no run",
    )
    .await;
    assert_error(
        s.get("/v1/runs/nope/receipt").await,
        StatusCode::NOT_FOUND,
        "no run",
    )
    .await;
    assert_error(
        s.get("/v1/runs/nope/export").await,
        StatusCode::NOT_FOUND,
        "no run",
    )
    .await;
    assert_error(
        s.get("/v2/anything").await,
        StatusCode::NOT_FOUND,
        "no such endpoint",
    )
    .await;
    let del = s
        .http
        .delete(s.url("/v1/builds"))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .unwrap();
    assert_error(del, StatusCode::METHOD_NOT_ALLOWED, "method").await;
    s.stop().await;
}

async fn pagination_walks_every_build_once(b: Backend) {
    let s = TestServer::start(b, None).await;
    // Seven distinct stored builds (distinct chain heads), straight into the store.
    let verified = receipt_server::verify::verify_dir(
        &fixture().ledger,
        &receipt_server::verify::VerifyConfig::default(),
    )
    .unwrap();
    let base = verified
        .into_new_build(receipt_server::store::Origin::Upload)
        .unwrap();
    let mut ids = Vec::new();
    for i in 0..7 {
        let mut nb = base.clone();
        nb.fields.chain_sha256 = format!("{:064x}", i + 1);
        match s.app.store.insert_build(&nb).await.unwrap() {
            receipt_server::store::Inserted::Created(id) => ids.push(id),
            e => panic!("{e:?}"),
        }
    }
    ids.reverse();
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/builds?limit=3&cursor={c}"),
            None => "/v1/builds?limit=3".into(),
        };
        let page = json(s.get(&path).await).await;
        let builds = page["builds"].as_array().unwrap();
        assert!(builds.len() <= 3);
        seen.extend(builds.iter().map(|b| b["id"].as_i64().unwrap()));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, ids, "newest first, each build once");

    for (q, words) in [
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=x", "limit"),
        ("cursor=zzz", "cursor"),
        ("cursor=b0", "cursor"),
        ("colour=blue", "query"),
    ] {
        assert_error(
            s.get(&format!("/v1/builds?{q}")).await,
            StatusCode::BAD_REQUEST,
            words,
        )
        .await;
    }
    s.stop().await;
}

async fn ingest_then_read_a_run(b: Backend) {
    let s = TestServer::start(b, None).await;
    let dir = tempfile::tempdir().unwrap();
    let run = make_run(dir.path(), "run.jsonl");
    // The export the server serves is `cargo receipt export-run`'s, byte for byte.
    let export = receipt_runtime::export::export_run(
        &dir.path().join("run.jsonl"),
        &receipt_runtime::audit::AuditOptions::default(),
    )
    .unwrap();
    let r = post_run(&s, run_form(&run, None)).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let v = json(r).await;
    assert_eq!(v["run_id"], run.run_id.as_str());
    assert_eq!(v["has_export"], true);

    // Uploading the same export is accepted; another document is refused.
    let again = post_run(&s, run_form(&run, Some(&export))).await;
    assert_eq!(again.status(), StatusCode::OK);
    let forged = br#"{"schema":"receipt.run-export/1","status":"ok"}"#;
    assert_error(
        post_run(&s, run_form(&run, Some(forged))).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "not the run export",
    )
    .await;

    let rec = s.get(&format!("/v1/runs/{}/receipt", run.run_id)).await;
    assert_eq!(rec.status(), StatusCode::OK);
    assert_eq!(rec.bytes().await.unwrap().to_vec(), run.receipt);
    let exp = s.get(&format!("/v1/runs/{}/export", run.run_id)).await;
    assert_eq!(exp.status(), StatusCode::OK);
    assert_eq!(exp.bytes().await.unwrap().to_vec(), export);
    let summary = json(s.get(&format!("/v1/runs/{}", run.run_id)).await).await;
    assert!(summary["entries"].as_i64().unwrap() >= 4, "{summary}");
    s.stop().await;
}

async fn a_tampered_run_is_refused(b: Backend) {
    let s = TestServer::start(b, None).await;
    let dir = tempfile::tempdir().unwrap();
    let mut run = make_run(dir.path(), "run.jsonl");
    // Change one byte inside the first entry's payload.
    let text = String::from_utf8(run.ledger.clone()).unwrap();
    let at = text.find("\"argc\":").unwrap() + 7;
    let digit = run.ledger[at];
    run.ledger[at] = if digit == b'1' { b'2' } else { b'1' };
    let r = post_run(&s, run_form(&run, None)).await;
    let v = assert_error(r, StatusCode::UNPROCESSABLE_ENTITY, "did not verify").await;
    assert!(
        v["checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "ledger.hash"),
        "{v}"
    );
    assert_error(
        s.get(&format!("/v1/runs/{}/receipt", run.run_id)).await,
        StatusCode::NOT_FOUND,
        "no run",
    )
    .await;

    // Malformed forms.
    let good = make_run(dir.path(), "good.jsonl");
    let missing = Form::new().part("ledger", Part::bytes(good.ledger.clone()));
    assert_error(
        post_run(&s, missing).await,
        StatusCode::BAD_REQUEST,
        "required",
    )
    .await;
    let unknown = run_form(&good, None).part("extra", Part::bytes(b"x".to_vec()));
    assert_error(
        post_run(&s, unknown).await,
        StatusCode::BAD_REQUEST,
        "unknown part",
    )
    .await;
    let twice = run_form(&good, None).part("receipt", Part::bytes(good.receipt.clone()));
    assert_error(post_run(&s, twice).await, StatusCode::BAD_REQUEST, "twice").await;
    let not_json = run_form(&good, Some(b"<xml/>"));
    assert_error(
        post_run(&s, not_json).await,
        StatusCode::BAD_REQUEST,
        "export",
    )
    .await;
    let raw = s
        .http
        .post(s.url("/v1/runs"))
        .bearer_auth(API_TOKEN)
        .body("ledger")
        .send()
        .await
        .unwrap();
    assert_error(raw, StatusCode::BAD_REQUEST, "multipart").await;
    s.stop().await;
}

async fn a_run_id_taken_by_another_receipt_is_a_conflict(b: Backend) {
    let s = TestServer::start(b, None).await;
    let dir = tempfile::tempdir().unwrap();
    let run = make_run(dir.path(), "run.jsonl");
    assert_eq!(
        post_run(&s, run_form(&run, None)).await.status(),
        StatusCode::CREATED
    );
    // Another receipt under the same run id, stored directly (it cannot verify through
    // the API without rewriting the whole chain): the API then refuses the real one.
    let mut nr = receipt_server::verify::verify_run_upload(receipt_server::verify::RunUpload {
        ledger: run.ledger.clone(),
        head: Some(run.head.clone()),
        receipt: run.receipt.clone(),
        export: None,
    })
    .unwrap()
    .run
    .unwrap();
    nr.receipt_sha256 = "0".repeat(64);
    assert_eq!(
        s.app.store.insert_run(&nr).await.unwrap(),
        receipt_server::store::RunInserted::Conflict
    );
    s.stop().await;
}

async fn ingest_body_limit_is_enforced(b: Backend) {
    let limits = receipt_server::config::Limits {
        ingest_body_bytes: 1024,
        ..Default::default()
    };
    let s = TestServer::start_with(b, None, limits).await;
    let r = post_build(&s, vec![b'x'; 4096]).await;
    assert_error(r, StatusCode::PAYLOAD_TOO_LARGE, "1024 bytes").await;
    s.stop().await;
}

both_backends!(
    every_endpoint_needs_the_bearer_token,
    ingest_then_read_a_build,
    a_tampered_upload_is_refused_with_its_failing_checks,
    unknown_and_malformed_ids,
    pagination_walks_every_build_once,
    ingest_then_read_a_run,
    a_tampered_run_is_refused,
    a_run_id_taken_by_another_receipt_is_a_conflict,
    ingest_body_limit_is_enforced,
    a_tarball_and_a_wrapped_zip_are_ingested_as_the_same_build,
    a_hostile_archive_is_refused_naming_the_member,
);
