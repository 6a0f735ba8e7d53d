//! Load test and latency benchmarks of receipt-server, on loopback only, bounded in count:
//!
//! 1. 1,000 signed `workflow_run` deliveries (16 in flight) against a fake GitHub API:
//!    the webhook's answer time and the time from the POST to the check-run request the
//!    fake API receives;
//! 2. 10,000 API reads (8 clients) over 100,000 stored builds in SQLite (rows made from a
//!    real receipt, written straight into the database);
//! 3. webhook to check run for the receipt artifact of this repository
//!    (`cargo receipt build --workspace`), one delivery at a time.
//!
//! Run: `cargo bench -p receipt-server --bench load` (after `. scripts/test-env.sh`).
//! Environment: `RECEIPT_BENCH_DELIVERIES`, `RECEIPT_BENCH_READS`, `RECEIPT_BENCH_BUILDS`
//! override the three counts; `RECEIPT_BENCH_SKIP_REPO=1` skips part 3.

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{API_TOKEN, Backend, TestServer, WEBHOOK_SECRET, fake_github, fixture};
use receipt_server::store::{NewBuild, Origin};
use receipt_server::verify::{VerifyConfig, verify_dir};

fn count(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// p50, p90, p99 and max of `v` (sorted in place), in milliseconds.
fn percentiles(v: &mut [Duration]) -> String {
    v.sort();
    let at = |q: f64| {
        let i = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1;
        ms(v[i])
    };
    format!(
        "p50 {:7.2} ms   p90 {:7.2} ms   p99 {:7.2} ms   max {:7.2} ms   (n = {})",
        at(0.50),
        at(0.90),
        at(0.99),
        ms(v[v.len() - 1]),
        v.len()
    )
}

fn p99(v: &mut [Duration]) -> Duration {
    v.sort();
    v[((0.99 * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1]
}

async fn webhooks(n: usize) {
    let gh = fake_github().await;
    let s = TestServer::start(Backend::Sqlite, Some(&gh.url())).await;
    for run in 0..n as i64 {
        gh.serve_artifact(10_000 + run, fixture().zip.clone());
    }
    let started = Instant::now();
    let sem = Arc::new(tokio::sync::Semaphore::new(16));
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n as i64 {
        let permit = Arc::clone(&sem).acquire_owned().await.unwrap();
        let http = s.http.clone();
        let url = s.url("/github/webhook");
        tasks.push(tokio::spawn(async move {
            let body = common::workflow_run_payload(10_000 + i, &format!("{:040x}", i));
            let t0 = Instant::now();
            let r = http
                .post(url)
                .header("x-github-event", "workflow_run")
                .header("x-github-delivery", format!("load-{i}"))
                .header("x-hub-signature-256", common::sign(WEBHOOK_SECRET, &body))
                .body(body)
                .send()
                .await
                .unwrap();
            let answered = t0.elapsed();
            assert_eq!(r.status(), reqwest::StatusCode::ACCEPTED);
            drop(permit);
            (i, t0, answered)
        }));
    }
    let mut sent = Vec::with_capacity(n);
    for t in tasks {
        sent.push(t.await.unwrap());
    }
    let runs = gh.wait_check_runs(n, Duration::from_secs(600)).await;
    let total = started.elapsed();
    assert_eq!(runs.len(), n, "every delivery gets its check run");
    let mut at = std::collections::HashMap::new();
    for (run, when) in &runs {
        assert_eq!(run["conclusion"], "success");
        at.insert(run["head_sha"].as_str().unwrap().to_owned(), *when);
    }
    let mut answer: Vec<Duration> = sent.iter().map(|s| s.2).collect();
    let mut to_check: Vec<Duration> = sent
        .iter()
        .map(|(i, t0, _)| at[&format!("{:040x}", i)].duration_since(*t0))
        .collect();
    println!(
        "webhooks: {n} signed deliveries, 16 in flight, SQLite, fake GitHub on loopback: {:.1} s, {:.0} deliveries/s",
        total.as_secs_f64(),
        n as f64 / total.as_secs_f64()
    );
    println!(
        "  POST /github/webhook answered   {}",
        percentiles(&mut answer)
    );
    println!(
        "  webhook -> check run request    {}",
        percentiles(&mut to_check)
    );
    s.stop().await;
}

async fn api_reads(stored: usize, reads: usize) {
    let s = TestServer::start(Backend::Sqlite, None).await;
    let base = verify_dir(&fixture().ledger, &VerifyConfig::default())
        .unwrap()
        .into_new_build(Origin::Upload)
        .unwrap();
    let sqlite = match &s.storage.cfg {
        receipt_server::config::StorageConfig::Sqlite { dir } => {
            receipt_server::store::sqlite::SqliteStore::open(dir)
                .await
                .unwrap()
        }
        _ => unreachable!(),
    };
    let t0 = Instant::now();
    let batch = 10_000;
    let mut made = 0;
    while made < stored {
        let rows: Vec<NewBuild> = (made..(made + batch).min(stored))
            .map(|i| {
                let mut b = base.clone();
                b.fields.chain_sha256 = format!("{:064x}", i + 1);
                b.fields.receipt_sha256 =
                    format!("{:064x}", (i as u128 + 1) * 0x9e37_79b9_7f4a_7c15);
                b.fields.commit = Some(format!("{:040x}", i as u128 * 0x1234_5677));
                b.fields.chain_length = (i % 50 + 1) as i64;
                if i % 3 == 0 {
                    b.origin = Origin::Github {
                        repository: format!("org{}/repo{}", i % 97, i % 13),
                        workflow_run_id: 1_000_000 + i as i64,
                        head_sha: format!("{:040x}", i),
                    };
                }
                b
            })
            .collect();
        made += rows.len();
        sqlite.insert_builds(rows).await.unwrap();
    }
    println!(
        "API reads: {stored} builds stored in {:.1} s (straight into SQLite, {} bytes of receipt each)",
        t0.elapsed().as_secs_f64(),
        base.receipt.len()
    );
    let clients = 8;
    let per = reads / clients;
    let mut tasks = Vec::new();
    for c in 0..clients {
        let http = reqwest::Client::new();
        let base_url = s.url("");
        tasks.push(tokio::spawn(async move {
            let mut out: Vec<(usize, Duration)> = Vec::with_capacity(per);
            let mut x: u64 = 0x9e37_79b9 ^ c as u64;
            for k in 0..per {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let id = x % stored as u64 + 1;
                let kind = k % 3;
                let path = match kind {
                    0 => format!("/v1/builds/{id}"),
                    1 => format!("/v1/builds/{id}/receipt"),
                    _ => format!("/v1/builds?limit=50&cursor=b{}", id + 1),
                };
                let t0 = Instant::now();
                let r = http
                    .get(format!("{base_url}{path}"))
                    .bearer_auth(API_TOKEN)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), reqwest::StatusCode::OK, "{path}");
                let _ = r.bytes().await.unwrap();
                out.push((kind, t0.elapsed()));
            }
            out
        }));
    }
    let t0 = Instant::now();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let total = t0.elapsed();
    println!(
        "  {} reads by {clients} clients in {:.2} s ({:.0} reads/s)",
        all.len(),
        total.as_secs_f64(),
        all.len() as f64 / total.as_secs_f64()
    );
    for (kind, name) in [
        (0, "GET /v1/builds/{id}          "),
        (1, "GET /v1/builds/{id}/receipt  "),
        (2, "GET /v1/builds?limit=50      "),
    ] {
        let mut v: Vec<Duration> = all.iter().filter(|a| a.0 == kind).map(|a| a.1).collect();
        println!("  {name}  {}", percentiles(&mut v));
    }
    let mut v: Vec<Duration> = all.iter().map(|a| a.1).collect();
    println!("  all reads                      {}", percentiles(&mut v));
    // Baseline, same run: the store's own read of one build, no HTTP.
    let mut direct = Vec::with_capacity(2_000);
    for k in 0..2_000u64 {
        let id = (k * 7919) % stored as u64 + 1;
        let t0 = Instant::now();
        let b = s.app.store.get_build(id as i64).await.unwrap();
        direct.push(t0.elapsed());
        assert!(b.is_some());
    }
    let mut http_one: Vec<Duration> = all.iter().filter(|a| a.0 == 0).map(|a| a.1).collect();
    http_one.sort();
    direct.sort();
    println!(
        "  baseline: store.get_build      {}",
        percentiles(&mut direct)
    );
    println!(
        "  GET /v1/builds/{{id}} p50 / store.get_build p50 = {:.1}",
        ms(http_one[http_one.len() / 2]) / ms(direct[direct.len() / 2])
    );
    // The same reads from one client at a time: latency without client-side queueing.
    let http = reqwest::Client::new();
    let mut single = Vec::with_capacity(2_000);
    for k in 0..2_000u64 {
        let id = (k * 104_729) % stored as u64 + 1;
        let path = match k % 3 {
            0 => format!("/v1/builds/{id}"),
            1 => format!("/v1/builds/{id}/receipt"),
            _ => format!("/v1/builds?limit=50&cursor=b{}", id + 1),
        };
        let t0 = Instant::now();
        let r = http
            .get(s.url(&path))
            .bearer_auth(API_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), reqwest::StatusCode::OK);
        let _ = r.bytes().await.unwrap();
        single.push(t0.elapsed());
    }
    println!(
        "  one client, 2000 reads         {}",
        percentiles(&mut single)
    );
    let p = p99(&mut v);
    println!(
        "  target: API read p99 < 5 ms with {stored} builds: {} ({:.2} ms)",
        if p < Duration::from_millis(5) {
            "met"
        } else {
            "NOT met"
        },
        ms(p)
    );
    s.stop().await;
}

async fn repository_artifact(rounds: usize) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("receipt");
    let t0 = Instant::now();
    let manifest = root.join("Cargo.toml");
    tokio::task::spawn_blocking({
        let out = out.clone();
        move || common::build_receipt(&manifest, &out, &["--workspace"])
    })
    .await
    .unwrap();
    let zip = common::zip_dir(&out);
    let receipt = receipt_protocol::receipt::Receipt::parse(
        &std::fs::read(out.join("receipt.json")).unwrap(),
    )
    .unwrap();
    let files = receipt.source.get().map_or(0, |s| s.tracked.files);
    let nodes = receipt.graph.get().map_or(0, |g| g.nodes);
    println!(
        "repository artifact: cargo receipt build --workspace of this repository in {:.1} s: {files} tracked files, {nodes} graph nodes, ZIP of {} bytes",
        t0.elapsed().as_secs_f64(),
        zip.len()
    );
    // Baseline, same run: unpacking and verifying the artifact alone, no HTTP, no store.
    let mut direct = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let t0 = Instant::now();
        let v = receipt_server::verify::ArtifactVerifier::verify(
            &receipt_server::verify::ArchiveVerifier::default(),
            &zip,
        )
        .unwrap();
        direct.push(t0.elapsed());
        assert!(v.report.ok());
    }
    direct.sort();
    let gh = fake_github().await;
    let s = TestServer::start(Backend::Sqlite, Some(&gh.url())).await;
    let mut lat = Vec::with_capacity(rounds);
    for i in 0..rounds as i64 {
        gh.serve_artifact(50_000 + i, zip.clone());
        let body = common::workflow_run_payload(50_000 + i, &format!("{:040x}", i));
        let t0 = Instant::now();
        let r = s
            .deliver(
                "workflow_run",
                &format!("repo-{i}"),
                &body,
                Some(WEBHOOK_SECRET),
            )
            .await;
        assert_eq!(r.status(), reqwest::StatusCode::ACCEPTED);
        let runs = gh
            .wait_check_runs(i as usize + 1, Duration::from_secs(60))
            .await;
        let (run, at) = runs.last().unwrap();
        assert_eq!(run["conclusion"], "success", "{run}");
        lat.push(at.duration_since(t0));
    }
    println!(
        "  webhook -> check run, one at a time  {}",
        percentiles(&mut lat)
    );
    println!(
        "  baseline: unpack and verify alone    {}",
        percentiles(&mut direct)
    );
    println!(
        "  webhook -> check run p50 / unpack-and-verify p50 = {:.2}",
        ms(lat[lat.len() / 2]) / ms(direct[direct.len() / 2])
    );
    let med = lat[lat.len() / 2];
    println!(
        "  target: webhook to check run < 1 s for this repository's artifact: {} (median {:.1} ms, max {:.1} ms)",
        if lat.iter().all(|d| *d < Duration::from_secs(1)) {
            "met"
        } else {
            "NOT met"
        },
        ms(med),
        ms(*lat.last().unwrap())
    );
    s.stop().await;
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is understood.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let deliveries = count("RECEIPT_BENCH_DELIVERIES", 1_000);
    let reads = count("RECEIPT_BENCH_READS", 10_000);
    let stored = count("RECEIPT_BENCH_BUILDS", 100_000);
    let _ = fixture();
    rt.block_on(async {
        webhooks(deliveries).await;
        api_reads(stored, reads).await;
        if std::env::var_os("RECEIPT_BENCH_SKIP_REPO").is_none() {
            repository_artifact(20).await;
        }
    });
}
