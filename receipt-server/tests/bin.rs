//! The `receipt-server` binary: starts with nothing but a data directory and a token,
//! serves, stops gracefully on SIGTERM (exit 0), and refuses a bad configuration (exit 2)
//! with one sentence and without printing a secret.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_receipt-server");

fn spawn(args: &[&str], env: &[(&str, &str)]) -> Child {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_remove("RECEIPT_API_TOKEN")
        .env_remove("RECEIPT_DATABASE_URL")
        .env_remove("RECEIPT_WEBHOOK_SECRET")
        .env_remove("RECEIPT_GITHUB_APP_KEY");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().unwrap()
}

/// Reads stderr lines on a thread; returns the listening address and the line channel.
fn listening(child: &mut Child) -> (String, mpsc::Receiver<String>) {
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the server printed no listening line within a minute");
        let v: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("log line is not JSON ({e}): {line}"));
        if v["message"] == "receipt-server listening" {
            return (v["addr"].as_str().unwrap().to_owned(), rx);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_serves_with_a_data_directory_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut child = spawn(
        &["--data", data.to_str().unwrap(), "--listen", "127.0.0.1:0"],
        &[("RECEIPT_API_TOKEN", common::API_TOKEN)],
    );
    let (addr, lines) = listening(&mut child);
    let http = reqwest::Client::new();
    let health = http
        .get(format!("http://{addr}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let up = http
        .post(format!("http://{addr}/v1/builds"))
        .bearer_auth(common::API_TOKEN)
        .body(common::fixture().zip.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(up.status(), 201);
    let list: serde_json::Value = http
        .get(format!("http://{addr}/v1/builds"))
        .bearer_auth(common::API_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["builds"].as_array().unwrap().len(), 1);
    assert!(data.join("receipt-server.sqlite3").is_file());

    let pid = i32::try_from(child.id()).unwrap();
    // SAFETY: sending a signal to our own child process.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert_eq!(status.code(), Some(0), "graceful shutdown exits 0");
    let logged: Vec<String> = lines.try_iter().collect();
    assert!(
        logged.iter().any(|l| l.contains("receipt-server stopped")),
        "{logged:?}"
    );
    assert!(logged.iter().all(|l| !l.contains(common::API_TOKEN)));
}

#[test]
fn a_missing_token_or_storage_is_a_configuration_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = spawn(&["--data", dir.path().to_str().unwrap()], &[])
        .wait_with_output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("RECEIPT_API_TOKEN"), "{err}");

    let out = spawn(&[], &[("RECEIPT_API_TOKEN", common::API_TOKEN)])
        .wait_with_output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--data"), "{err}");
    assert!(!err.contains(common::API_TOKEN));

    let cfg = dir.path().join("bad.toml");
    std::fs::write(&cfg, "listen = \"127.0.0.1:1\"\nnot_a_key = 1\n").unwrap();
    let out = spawn(
        &[
            "--config",
            cfg.to_str().unwrap(),
            "--data",
            dir.path().to_str().unwrap(),
        ],
        &[("RECEIPT_API_TOKEN", common::API_TOKEN)],
    )
    .wait_with_output()
    .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.toml") && err.contains("not_a_key"),
        "{err}"
    );

    let out = spawn(&["--no-such-flag"], &[]).wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}
