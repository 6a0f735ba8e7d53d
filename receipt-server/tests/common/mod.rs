//! Shared test parts: a receipt directory made by a real `cargo receipt build` of a tiny
//! fixture project (once per test binary), its artifact ZIP, a fake GitHub API that records
//! every request, and a server under test on either storage backend.
#![allow(dead_code, missing_docs)]

use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use receipt_server::app::App;
use receipt_server::config::{Config, GithubConfig, GithubFile, Limits, Secret, StorageConfig};
use receipt_server::store::{self, Store};

pub const APP_KEY: &str = include_str!("../data/app-key.pem");
pub const APP_PUB: &str = include_str!("../data/app-key.pub.pem");
pub const WEBHOOK_SECRET: &str = "webhook-secret-for-tests";
pub const API_TOKEN: &str = "api-token-for-tests-0123456789";
pub const INSTALLATION_TOKEN: &str = "ghs_installation_token_for_tests";
pub const ARTIFACT_ID: i64 = 4242;

// ---------------------------------------------------------------------------------------
// The fixture: a real receipt directory
// ---------------------------------------------------------------------------------------

pub fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

/// A receipt directory of a real build, kept for the whole test binary.
pub struct Fixture {
    _tmp: tempfile::TempDir,
    pub ledger: PathBuf,
    pub zip: Vec<u8>,
}

/// Runs `cargo receipt build` on a one-package project (library and binary, no
/// dependencies, so no network) and zips the ledger the way `actions/upload-artifact`
/// does (the directory's contents at the archive root).
pub fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("fx");
        write(&root, ".gitignore", "/target\n");
        write(
            &root,
            "Cargo.toml",
            "[package]\nname = \"fx\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n",
        );
        write(&root, "src/lib.rs", "pub fn f() -> u32 {\n    7\n}\n");
        write(
            &root,
            "src/main.rs",
            "fn main() {\n    println!(\"{}\", fx::f());\n}\n",
        );
        let ledger = tmp.path().join("receipt");
        build_receipt(&root.join("Cargo.toml"), &ledger, &[]);
        let zip = zip_dir(&ledger);
        Fixture {
            _tmp: tmp,
            ledger,
            zip,
        }
    })
}

/// `cargo receipt build --manifest-path MANIFEST --out OUT EXTRA…`, in this process.
pub fn build_receipt(manifest: &Path, out: &Path, extra: &[&str]) {
    let mut args = vec![
        "cargo",
        "receipt",
        "build",
        "--manifest-path",
        manifest.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let code = cargo_receipt::main_with_args(args);
    assert_eq!(
        format!("{code:?}"),
        format!("{:?}", std::process::ExitCode::SUCCESS),
        "cargo receipt build of {} failed",
        manifest.display()
    );
}

/// The files under `dir` (relative, `/`-separated), sorted.
pub fn files_of(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            if e.file_type().unwrap().is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p
                    .strip_prefix(root)
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .replace('\\', "/");
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// A ZIP of these files, as `actions/upload-artifact` makes one.
pub fn zip_files(files: &BTreeMap<String, Vec<u8>>) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in files {
        w.start_file(name.as_str(), opts).unwrap();
        w.write_all(bytes).unwrap();
    }
    w.finish().unwrap().into_inner()
}

pub fn zip_dir(dir: &Path) -> Vec<u8> {
    zip_files(&files_of(dir))
}

/// The fixture's artifact with its entry's graph file changed by one byte.
pub fn tampered_zip() -> Vec<u8> {
    let mut files = files_of(&fixture().ledger);
    let graph = files
        .keys()
        .find(|k| k.starts_with("receipts/") && k.ends_with("/graph.json"))
        .cloned()
        .expect("the fixture's entry has a graph.json");
    let bytes = files.get_mut(&graph).unwrap();
    let i = bytes.iter().position(|&b| b == b'"').unwrap();
    bytes.insert(i, b' ');
    zip_files(&files)
}

// ---------------------------------------------------------------------------------------
// The fake GitHub API
// ---------------------------------------------------------------------------------------

/// One request the fake API saw.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub authorization: Option<String>,
    pub body: Vec<u8>,
    pub at: Instant,
}

#[derive(Default)]
pub struct FakeState {
    pub seen: Mutex<Vec<Seen>>,
    /// Artifact ZIP served per workflow run id.
    pub artifacts: Mutex<BTreeMap<i64, Vec<u8>>>,
    /// Fail every check-run creation with 500 while set.
    pub fail_check_runs: AtomicBool,
    /// The fake's own port, for redirects to "another host" (`localhost` instead of
    /// `127.0.0.1`), as GitHub redirects to its storage host.
    pub port: OnceLock<u16>,
}

pub struct FakeGithub {
    pub addr: SocketAddr,
    pub state: Arc<FakeState>,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

impl FakeGithub {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap().clone()
    }

    pub fn check_runs(&self) -> Vec<(serde_json::Value, Instant)> {
        self.seen()
            .into_iter()
            .filter(|s| s.method == "POST" && s.path.ends_with("/check-runs"))
            .map(|s| (serde_json::from_slice(&s.body).unwrap(), s.at))
            .collect()
    }

    /// Waits until `n` check runs were posted (or `within` passed) and returns them.
    pub async fn wait_check_runs(
        &self,
        n: usize,
        within: Duration,
    ) -> Vec<(serde_json::Value, Instant)> {
        let end = Instant::now() + within;
        loop {
            let runs = self.check_runs();
            if runs.len() >= n || Instant::now() > end {
                return runs;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    pub fn serve_artifact(&self, run_id: i64, zip: Vec<u8>) {
        self.state.artifacts.lock().unwrap().insert(run_id, zip);
    }
}

fn record(st: &FakeState, method: &str, path: String, headers: &HeaderMap, body: &[u8]) {
    st.seen.lock().unwrap().push(Seen {
        method: method.into(),
        path,
        authorization: headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        body: body.to_vec(),
        at: Instant::now(),
    });
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
}

async fn access_token(
    State(st): State<Arc<FakeState>>,
    UrlPath(inst): UrlPath<i64>,
    headers: HeaderMap,
) -> Response {
    record(
        &st,
        "POST",
        format!("/app/installations/{inst}/access_tokens"),
        &headers,
        b"",
    );
    let Some(jwt) = bearer(&headers) else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    // The App JWT must be RS256, signed by the App's key, issued by app id 1234.
    let key = jsonwebtoken::DecodingKey::from_rsa_pem(APP_PUB.as_bytes()).unwrap();
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    v.set_required_spec_claims(&["exp", "iat", "iss"]);
    v.set_issuer(&["1234"]);
    if jsonwebtoken::decode::<serde_json::Value>(jwt, &key, &v).is_err() {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    (
        StatusCode::CREATED,
        axum::Json(serde_json::json!({
            "token": INSTALLATION_TOKEN, "expires_at": "2099-01-01T00:00:00Z"
        })),
    )
        .into_response()
}

async fn list_artifacts(
    State(st): State<Arc<FakeState>>,
    UrlPath((o, r, run)): UrlPath<(String, String, i64)>,
    headers: HeaderMap,
) -> Response {
    record(
        &st,
        "GET",
        format!("/repos/{o}/{r}/actions/runs/{run}/artifacts"),
        &headers,
        b"",
    );
    if bearer(&headers) != Some(INSTALLATION_TOKEN) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let arts = st.artifacts.lock().unwrap();
    let list: Vec<serde_json::Value> = arts
        .get(&run)
        .map(|z| {
            vec![serde_json::json!({
                "id": ARTIFACT_ID * 1000 + run, "name": "tau-crystal-manifest",
                "size_in_bytes": z.len(), "expired": false,
            })]
        })
        .unwrap_or_default();
    axum::Json(serde_json::json!({ "total_count": list.len(), "artifacts": list })).into_response()
}

async fn download(
    State(st): State<Arc<FakeState>>,
    UrlPath((o, r, id)): UrlPath<(String, String, i64)>,
    headers: HeaderMap,
) -> Response {
    record(
        &st,
        "GET",
        format!("/repos/{o}/{r}/actions/artifacts/{id}/zip"),
        &headers,
        b"",
    );
    if bearer(&headers) != Some(INSTALLATION_TOKEN) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    // GitHub answers with a redirect to a short-lived URL on its storage host.
    let port = st.port.get().copied().unwrap_or_default();
    Redirect::to(&format!("http://localhost:{port}/blob/{id}")).into_response()
}

async fn blob(
    State(st): State<Arc<FakeState>>,
    UrlPath(id): UrlPath<i64>,
    headers: HeaderMap,
) -> Response {
    record(&st, "GET", format!("/blob/{id}"), &headers, b"");
    let run = id - ARTIFACT_ID * 1000;
    match st.artifacts.lock().unwrap().get(&run) {
        Some(z) => z.clone().into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn check_runs(
    State(st): State<Arc<FakeState>>,
    UrlPath((o, r)): UrlPath<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if st.fail_check_runs.load(Ordering::SeqCst) {
        record(
            &st,
            "POST",
            format!("/repos/{o}/{r}/check-runs (refused)"),
            &headers,
            &body,
        );
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    record(
        &st,
        "POST",
        format!("/repos/{o}/{r}/check-runs"),
        &headers,
        &body,
    );
    if bearer(&headers) != Some(INSTALLATION_TOKEN) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    (
        StatusCode::CREATED,
        axum::Json(serde_json::json!({"id": 1})),
    )
        .into_response()
}

pub async fn fake_github() -> FakeGithub {
    let state = Arc::new(FakeState::default());
    let app = Router::new()
        .route(
            "/app/installations/{inst}/access_tokens",
            post(access_token),
        )
        .route(
            "/repos/{o}/{r}/actions/runs/{run}/artifacts",
            get(list_artifacts),
        )
        .route("/repos/{o}/{r}/actions/artifacts/{id}/zip", get(download))
        .route("/blob/{id}", get(blob))
        .route("/repos/{o}/{r}/check-runs", post(check_runs))
        .with_state(Arc::clone(&state));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    state.port.set(addr.port()).unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await
            .unwrap();
    });
    FakeGithub {
        addr,
        state,
        _shutdown: tx,
    }
}

// ---------------------------------------------------------------------------------------
// Backends and the server under test
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The PostgreSQL URL of the test environment; fails loudly when it is missing.
pub fn postgres_url() -> String {
    match std::env::var("RECEIPT_TEST_POSTGRES_URL") {
        Ok(u) if !u.is_empty() => u,
        _ => panic!(
            "RECEIPT_TEST_POSTGRES_URL is not set: the PostgreSQL backend tests need the test \
             database; run `bash scripts/test.sh` (or `. scripts/test-env.sh` first)"
        ),
    }
}

/// A fresh schema name for one test.
pub fn fresh_schema() -> String {
    use std::sync::atomic::AtomicU32;
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "t_{}_{}_{}",
        std::process::id(),
        nanos % 1_000_000_000_000,
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Drops a test schema (at the end of a test).
pub async fn drop_schema(schema: &str) {
    let (client, conn) = tokio_postgres::connect(&postgres_url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .await
        .unwrap();
}

/// The storage configuration of a backend: a temp dir, or a fresh schema.
pub struct TestStorage {
    pub cfg: StorageConfig,
    _dir: Option<tempfile::TempDir>,
    pub schema: Option<String>,
}

impl TestStorage {
    pub fn new(b: Backend) -> TestStorage {
        match b {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().unwrap();
                TestStorage {
                    cfg: StorageConfig::Sqlite {
                        dir: dir.path().to_owned(),
                    },
                    _dir: Some(dir),
                    schema: None,
                }
            }
            Backend::Postgres => {
                let schema = fresh_schema();
                TestStorage {
                    cfg: StorageConfig::Postgres {
                        url: Secret::new(postgres_url()),
                        schema: schema.clone(),
                        pool: 8,
                    },
                    _dir: None,
                    schema: Some(schema),
                }
            }
        }
    }

    pub async fn open(&self) -> Arc<dyn Store> {
        match store::open(&self.cfg).await {
            Ok(s) => s,
            Err(e) => panic!(
                "cannot open the test store ({e}); for PostgreSQL run `bash scripts/test.sh` \
                 (or `. scripts/test-env.sh` first)"
            ),
        }
    }

    pub async fn cleanup(&self) {
        if let Some(s) = &self.schema {
            drop_schema(s).await;
        }
    }
}

pub fn config(storage: StorageConfig, github_url: Option<&str>, limits: Limits) -> Config {
    Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        storage,
        github: github_url.map(|u| GithubConfig {
            app: GithubFile {
                app_id: "1234".into(),
                api_url: u.into(),
                artifact_name: "tau-crystal-manifest".into(),
                check_name: "receipt".into(),
                workflows: Vec::new(),
            },
            webhook_secret: Secret::new(WEBHOOK_SECRET),
            private_key: Secret::new(APP_KEY),
        }),
        api_token: Secret::new(API_TOKEN),
        limits,
        verify: Default::default(),
    }
}

/// A running server.
pub struct TestServer {
    pub addr: SocketAddr,
    pub app: Arc<App>,
    pub storage: TestStorage,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    pub http: reqwest::Client,
}

impl TestServer {
    pub async fn start(backend: Backend, github_url: Option<&str>) -> TestServer {
        TestServer::start_with(backend, github_url, Limits::default()).await
    }

    pub async fn start_with(
        backend: Backend,
        github_url: Option<&str>,
        limits: Limits,
    ) -> TestServer {
        let storage = TestStorage::new(backend);
        let store = storage.open().await;
        let cfg = config(storage.cfg.clone(), github_url, limits);
        let verifier = Arc::new(receipt_server::cli::archive_verifier(&cfg));
        let app = Arc::new(App::new(&cfg, store, verifier).unwrap());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let handle = tokio::spawn(receipt_server::serve(listener, Arc::clone(&app), async {
            let _ = rx.await;
        }));
        TestServer {
            addr,
            app,
            storage,
            shutdown: Some(tx),
            handle: Some(handle),
            http: reqwest::Client::new(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// An authorized GET.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .bearer_auth(API_TOKEN)
            .send()
            .await
            .unwrap()
    }

    /// Posts a webhook delivery, signed with `secret` when given.
    pub async fn deliver(
        &self,
        event: &str,
        delivery: &str,
        body: &[u8],
        secret: Option<&str>,
    ) -> reqwest::Response {
        let mut req = self
            .http
            .post(self.url("/github/webhook"))
            .header("x-github-event", event)
            .header("x-github-delivery", delivery)
            .header("content-type", "application/json")
            .body(body.to_vec());
        if let Some(s) = secret {
            req = req.header("x-hub-signature-256", sign(s, body));
        }
        req.send().await.unwrap()
    }

    /// Stops the server, waits for it (and its jobs) to finish, and drops its schema.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.handle.take() {
            h.await.unwrap().unwrap();
        }
        self.storage.cleanup().await;
    }
}

pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut m = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    m.update(body);
    format!("sha256={}", hex::encode(m.finalize().into_bytes()))
}

/// A `workflow_run` `completed` payload.
pub fn workflow_run_payload(run_id: i64, head_sha: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "action": "completed",
        "workflow_run": {
            "id": run_id, "name": "build with receipt", "head_sha": head_sha,
            "path": ".github/workflows/receipt.yml",
            "status": "completed", "conclusion": "success",
        },
        "repository": { "id": 1, "full_name": "octo/widgets" },
        "installation": { "id": 99 },
        "sender": { "login": "octocat" },
    }))
    .unwrap()
}

/// Runs both backends' variants of an async test function taking a [`Backend`].
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::common::Backend::Sqlite).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name($crate::common::Backend::Postgres).await
                }
            }
        )*
    };
}

impl TestStorage {
    /// Runs one SQL statement on the backend directly (to age a row, for example).
    pub async fn exec_raw(&self, sql: &str) {
        match &self.cfg {
            StorageConfig::Sqlite { dir } => {
                let c =
                    rusqlite::Connection::open(dir.join(receipt_server::store::sqlite::DB_FILE))
                        .unwrap();
                c.busy_timeout(Duration::from_secs(10)).unwrap();
                c.execute_batch(sql).unwrap();
            }
            StorageConfig::Postgres { schema, .. } => {
                let (client, conn) =
                    tokio_postgres::connect(&postgres_url(), tokio_postgres::NoTls)
                        .await
                        .unwrap();
                tokio::spawn(conn);
                client
                    .batch_execute(&format!("SET search_path = {schema}; {sql}"))
                    .await
                    .unwrap();
            }
        }
    }
}
