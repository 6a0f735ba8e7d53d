//! The logs: JSON lines, one per request and one per webhook decision, and never a
//! secret (API token, webhook secret, App key, installation token, a caller's token).

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{
    API_TOKEN, APP_KEY, Backend, INSTALLATION_TOKEN, TestServer, WEBHOOK_SECRET, fake_github,
    fixture,
};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_are_json_lines_without_secrets() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_max_level(tracing::Level::INFO)
        .with_writer(move || writer.clone())
        .init();

    let gh = fake_github().await;
    gh.serve_artifact(301, fixture().zip.clone());
    let s = TestServer::start(Backend::Sqlite, Some(&gh.url())).await;
    assert_eq!(s.get("/v1/builds").await.status(), 200);
    let caller_token = "a-wrong-token-from-a-caller-0001";
    let r = s
        .http
        .get(s.url("/v1/builds"))
        .bearer_auth(caller_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let body = common::workflow_run_payload(301, "0123456789abcdef0123456789abcdef01234567");
    let r = s
        .deliver("workflow_run", "d-log-1", &body, Some("not-the-secret"))
        .await;
    assert_eq!(r.status(), 401);
    let r = s
        .deliver("workflow_run", "d-log-2", &body, Some(WEBHOOK_SECRET))
        .await;
    assert_eq!(r.status(), 202);
    assert_eq!(
        gh.wait_check_runs(1, Duration::from_secs(30)).await.len(),
        1
    );
    s.stop().await;

    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l["message"] == "finished processing request" && l["status"] == 200),
        "no request line in\n{text}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l["message"] == "check run posted" && l["conclusion"] == "success"),
        "no webhook decision in\n{text}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l["message"] == "webhook signature missing or wrong"
                && l["delivery"] == "d-log-1"),
        "{text}"
    );
    let key_body = APP_KEY.lines().nth(1).unwrap();
    for secret in [
        API_TOKEN,
        WEBHOOK_SECRET,
        INSTALLATION_TOKEN,
        caller_token,
        key_body,
        "not-the-secret",
    ] {
        assert!(!text.contains(secret), "{secret:?} appears in the logs");
    }
}
