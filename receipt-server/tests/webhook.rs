//! The GitHub App end to end against a fake GitHub API that records every request: signed
//! deliveries, tampered artifacts, bad signatures, redeliveries, missing artifacts, and a
//! GitHub failure that a redelivery retries.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{Backend, TestServer, WEBHOOK_SECRET, fake_github, fixture, tampered_zip};
use reqwest::StatusCode;

const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

async fn a_signed_webhook_gives_one_successful_check_run(b: Backend) {
    let gh = fake_github().await;
    gh.serve_artifact(101, fixture().zip.clone());
    let s = TestServer::start(b, Some(&gh.url())).await;
    let body = common::workflow_run_payload(101, SHA);
    let r = s
        .deliver("workflow_run", "d-101", &body, Some(WEBHOOK_SECRET))
        .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let runs = gh.wait_check_runs(1, Duration::from_secs(30)).await;
    assert_eq!(runs.len(), 1, "{:?}", gh.seen());
    let run = &runs[0].0;
    assert_eq!(run["conclusion"], "success", "{run}");
    assert_eq!(run["head_sha"], SHA);
    assert_eq!(run["name"], "receipt");
    assert_eq!(run["status"], "completed");
    let summary = run["output"]["summary"].as_str().unwrap();
    for check in [
        "chain.head",
        "manifest.binding",
        "graph.tau",
        "source.listing",
    ] {
        assert!(summary.contains(check), "{check} missing from {summary}");
    }
    assert!(summary.contains("cargo-receipt"), "{summary}");

    // The requests, in order: token (with the App JWT), artifacts, download (redirected),
    // check run; every repository call with the installation token.
    let seen = gh.seen();
    let paths: Vec<&str> = seen.iter().map(|s| s.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/app/installations/99/access_tokens",
            "/repos/octo/widgets/actions/runs/101/artifacts",
            &format!(
                "/repos/octo/widgets/actions/artifacts/{}/zip",
                common::ARTIFACT_ID * 1000 + 101
            ),
            &format!("/blob/{}", common::ARTIFACT_ID * 1000 + 101),
            "/repos/octo/widgets/check-runs",
        ]
    );

    // Every GitHub call carried a token; the storage host got none (it is another host).
    assert!(
        seen[0]
            .authorization
            .as_deref()
            .is_some_and(|a| a.starts_with("Bearer ey"))
    );
    for s in &seen[1..] {
        let is_blob = s.path.starts_with("/blob/");
        assert_eq!(
            s.authorization.is_none(),
            is_blob,
            "{} authorization {:?}",
            s.path,
            s.authorization
        );
    }

    // The verified build is stored with its origin.
    let builds = s.app.store.list_builds(None, 10).await.unwrap();
    assert_eq!(builds.len(), 1);
    assert_eq!(
        builds[0].origin,
        receipt_server::store::Origin::Github {
            repository: "octo/widgets".into(),
            workflow_run_id: 101,
            head_sha: SHA.into(),
        }
    );
    s.stop().await;
}

async fn a_tampered_artifact_gives_a_failure_naming_the_check(b: Backend) {
    let gh = fake_github().await;
    gh.serve_artifact(102, tampered_zip());
    let s = TestServer::start(b, Some(&gh.url())).await;
    let body = common::workflow_run_payload(102, SHA);
    let r = s
        .deliver("workflow_run", "d-102", &body, Some(WEBHOOK_SECRET))
        .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let runs = gh.wait_check_runs(1, Duration::from_secs(30)).await;
    assert_eq!(runs.len(), 1);
    let run = &runs[0].0;
    assert_eq!(run["conclusion"], "failure");
    let title = run["output"]["title"].as_str().unwrap();
    let summary = run["output"]["summary"].as_str().unwrap();
    assert!(title.contains("graph.digest"), "{title}");
    assert!(
        summary
            .lines()
            .any(|l| l.starts_with("FAIL") && l.contains("graph.digest")),
        "{summary}"
    );
    assert!(
        s.app.store.list_builds(None, 10).await.unwrap().is_empty(),
        "a failing artifact is not stored"
    );
    s.stop().await;
}

async fn a_zip_slip_artifact_fails_with_a_sentence(b: Backend) {
    let gh = fake_github().await;
    let mut files = common::files_of(&fixture().ledger);
    files.insert("receipts/../../evil".into(), b"x".to_vec());
    gh.serve_artifact(113, common::zip_files(&files));
    let s = TestServer::start(b, Some(&gh.url())).await;
    let body = common::workflow_run_payload(113, SHA);
    s.deliver("workflow_run", "d-113", &body, Some(WEBHOOK_SECRET))
        .await;
    let runs = gh.wait_check_runs(1, Duration::from_secs(30)).await;
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].0["conclusion"], "failure");
    let summary = runs[0].0["output"]["summary"].as_str().unwrap();
    assert!(summary.contains("refusing member"), "{summary}");
    assert!(s.app.store.list_builds(None, 10).await.unwrap().is_empty());
    s.stop().await;
}

async fn a_bad_signature_is_401_and_github_is_never_called(b: Backend) {
    let gh = fake_github().await;
    gh.serve_artifact(103, fixture().zip.clone());
    let s = TestServer::start(b, Some(&gh.url())).await;
    let body = common::workflow_run_payload(103, SHA);
    for (delivery, secret) in [("d-103a", Some("wrong-secret")), ("d-103b", None)] {
        let r = s.deliver("workflow_run", delivery, &body, secret).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let v: serde_json::Value = r.json().await.unwrap();
        assert!(v["error"].as_str().unwrap().contains("X-Hub-Signature-256"));
    }
    // A valid signature over other bytes does not carry over to this body.
    let other = common::workflow_run_payload(104, SHA);
    let r = s
        .http
        .post(s.url("/github/webhook"))
        .header("x-github-event", "workflow_run")
        .header("x-github-delivery", "d-103c")
        .header("x-hub-signature-256", common::sign(WEBHOOK_SECRET, &other))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(gh.seen().is_empty(), "{:?}", gh.seen());
    // Nothing was claimed either: the same delivery id, properly signed, is processed.
    let r = s
        .deliver("workflow_run", "d-103a", &body, Some(WEBHOOK_SECRET))
        .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert_eq!(
        gh.wait_check_runs(1, Duration::from_secs(30)).await.len(),
        1
    );
    s.stop().await;
}

async fn a_redelivery_makes_no_second_check_run(b: Backend) {
    let gh = fake_github().await;
    gh.serve_artifact(105, fixture().zip.clone());
    let s = TestServer::start(b, Some(&gh.url())).await;
    let body = common::workflow_run_payload(105, SHA);
    let r = s
        .deliver("workflow_run", "d-105", &body, Some(WEBHOOK_SECRET))
        .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert_eq!(
        gh.wait_check_runs(1, Duration::from_secs(30)).await.len(),
        1
    );
    for _ in 0..3 {
        let r = s
            .deliver("workflow_run", "d-105", &body, Some(WEBHOOK_SECRET))
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(v["status"], "duplicate");
    }
    // Concurrent redeliveries of a fresh id: exactly one is accepted.
    gh.serve_artifact(106, fixture().zip.clone());
    let body6 = common::workflow_run_payload(106, SHA);
    let mut handles = Vec::new();
    for _ in 0..8 {
        let http = s.http.clone();
        let url = s.url("/github/webhook");
        let body6 = body6.clone();
        handles.push(tokio::spawn(async move {
            http.post(url)
                .header("x-github-event", "workflow_run")
                .header("x-github-delivery", "d-106")
                .header("x-hub-signature-256", common::sign(WEBHOOK_SECRET, &body6))
                .body(body6)
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    let mut accepted = 0;
    for h in handles {
        if h.await.unwrap() == StatusCode::ACCEPTED {
            accepted += 1;
        }
    }
    assert_eq!(accepted, 1);
    assert_eq!(
        gh.wait_check_runs(2, Duration::from_secs(30)).await.len(),
        2
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(gh.check_runs().len(), 2, "no third check run");
    s.stop().await;
}

async fn a_run_without_the_artifact_fails_with_a_sentence(b: Backend) {
    let gh = fake_github().await;
    let s = TestServer::start(b, Some(&gh.url())).await;
    let body = common::workflow_run_payload(107, SHA);
    s.deliver("workflow_run", "d-107", &body, Some(WEBHOOK_SECRET))
        .await;
    let runs = gh.wait_check_runs(1, Duration::from_secs(30)).await;
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].0["conclusion"], "failure");
    assert!(
        runs[0].0["output"]["summary"]
            .as_str()
            .unwrap()
            .contains("uploaded no artifact named `tau-crystal-manifest`")
    );
    s.stop().await;
}

async fn a_github_failure_releases_the_delivery_for_a_retry(b: Backend) {
    let gh = fake_github().await;
    gh.serve_artifact(108, fixture().zip.clone());
    gh.state.fail_check_runs.store(true, Ordering::SeqCst);
    let s = TestServer::start(b, Some(&gh.url())).await;
    let body = common::workflow_run_payload(108, SHA);
    s.deliver("workflow_run", "d-108", &body, Some(WEBHOOK_SECRET))
        .await;
    // Wait for the refused check run, then for the release.
    let end = std::time::Instant::now() + Duration::from_secs(30);
    while !gh.seen().iter().any(|x| x.path.ends_with("(refused)")) {
        assert!(std::time::Instant::now() < end, "{:?}", gh.seen());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    gh.state.fail_check_runs.store(false, Ordering::SeqCst);
    let end = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let r = s
            .deliver("workflow_run", "d-108", &body, Some(WEBHOOK_SECRET))
            .await;
        if r.status() == StatusCode::ACCEPTED {
            break;
        }
        assert!(
            std::time::Instant::now() < end,
            "the delivery was never released"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let runs = gh.wait_check_runs(1, Duration::from_secs(30)).await;
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].0["conclusion"], "success");
    s.stop().await;
}

async fn other_events_and_actions_are_ignored(b: Backend) {
    let gh = fake_github().await;
    let s = TestServer::start(b, Some(&gh.url())).await;
    let ping = br#"{"zen":"Keep it logically awesome."}"#;
    let r = s
        .deliver("ping", "d-ping", ping, Some(WEBHOOK_SECRET))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let push = br#"{"ref":"refs/heads/main"}"#;
    let r = s
        .deliver("push", "d-push", push, Some(WEBHOOK_SECRET))
        .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let mut requested: serde_json::Value =
        serde_json::from_slice(&common::workflow_run_payload(109, SHA)).unwrap();
    requested["action"] = "requested".into();
    let body = serde_json::to_vec(&requested).unwrap();
    let r = s
        .deliver("workflow_run", "d-req", &body, Some(WEBHOOK_SECRET))
        .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let garbage = b"{not json";
    let r = s
        .deliver("workflow_run", "d-garbage", garbage, Some(WEBHOOK_SECRET))
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(gh.seen().is_empty());
    s.stop().await;
}

async fn an_oversized_webhook_body_is_refused_before_anything(b: Backend) {
    let gh = fake_github().await;
    let limits = receipt_server::config::Limits {
        webhook_body_bytes: 4096,
        ..Default::default()
    };
    let s = TestServer::start_with(b, Some(&gh.url()), limits).await;
    let body = vec![b' '; 8192];
    let r = s
        .deliver("workflow_run", "d-big", &body, Some(WEBHOOK_SECRET))
        .await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(gh.seen().is_empty());
    s.stop().await;
}

both_backends!(
    a_signed_webhook_gives_one_successful_check_run,
    a_tampered_artifact_gives_a_failure_naming_the_check,
    a_bad_signature_is_401_and_github_is_never_called,
    a_redelivery_makes_no_second_check_run,
    a_run_without_the_artifact_fails_with_a_sentence,
    a_github_failure_releases_the_delivery_for_a_retry,
    other_events_and_actions_are_ignored,
    an_oversized_webhook_body_is_refused_before_anything,
    a_zip_slip_artifact_fails_with_a_sentence,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_without_a_github_app_has_no_webhook() {
    let s = TestServer::start(Backend::Sqlite, None).await;
    let body = common::workflow_run_payload(1, SHA);
    let r = s
        .deliver("workflow_run", "d-1", &body, Some(WEBHOOK_SECRET))
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_of_other_workflows_are_ignored_when_workflows_are_listed() {
    let gh = fake_github().await;
    gh.serve_artifact(111, fixture().zip.clone());
    gh.serve_artifact(112, fixture().zip.clone());
    let storage = common::TestStorage::new(Backend::Sqlite);
    let store = storage.open().await;
    let mut cfg = common::config(
        storage.cfg.clone(),
        Some(&gh.url()),
        receipt_server::config::Limits::default(),
    );
    cfg.github.as_mut().unwrap().app.workflows = vec![".github/workflows/receipt.yml".into()];
    let verifier = std::sync::Arc::new(receipt_server::cli::archive_verifier(&cfg));
    let app = std::sync::Arc::new(receipt_server::App::new(&cfg, store, verifier).unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(receipt_server::serve(listener, app, async {
        let _ = rx.await;
    }));
    let http = reqwest::Client::new();
    let post = |id: &str, body: Vec<u8>| {
        http.post(format!("http://{addr}/github/webhook"))
            .header("x-github-event", "workflow_run")
            .header("x-github-delivery", id.to_owned())
            .header("x-hub-signature-256", common::sign(WEBHOOK_SECRET, &body))
            .body(body)
            .send()
    };
    let mut other: serde_json::Value =
        serde_json::from_slice(&common::workflow_run_payload(111, SHA)).unwrap();
    other["workflow_run"]["path"] = ".github/workflows/lint.yml".into();
    let r = post("d-111", serde_json::to_vec(&other).unwrap())
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["status"], "ignored");
    let mut listed: serde_json::Value =
        serde_json::from_slice(&common::workflow_run_payload(112, SHA)).unwrap();
    listed["workflow_run"]["path"] = ".github/workflows/receipt.yml@refs/heads/main".into();
    let r = post("d-112", serde_json::to_vec(&listed).unwrap())
        .await
        .unwrap();
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["status"], "accepted");
    let runs = gh.wait_check_runs(1, Duration::from_secs(30)).await;
    tx.send(()).unwrap();
    server.await.unwrap().unwrap();
    assert_eq!(runs.len(), 1);
    assert!(
        gh.seen().iter().all(|s| !s.path.contains("/runs/111/")),
        "the other workflow's run was not fetched"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_waits_for_an_accepted_job() {
    let gh = fake_github().await;
    gh.serve_artifact(110, fixture().zip.clone());
    let s = TestServer::start(Backend::Sqlite, Some(&gh.url())).await;
    let body = common::workflow_run_payload(110, SHA);
    let r = s
        .deliver("workflow_run", "d-110", &body, Some(WEBHOOK_SECRET))
        .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    // Stop at once: the accepted job still posts its check run before stop returns.
    s.stop().await;
    assert_eq!(gh.check_runs().len(), 1);
}
