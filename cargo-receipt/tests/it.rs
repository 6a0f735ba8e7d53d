//! End-to-end tests: the real `cargo-receipt` binary against tiny fixture workspaces built
//! in temp directories (path dependencies only, no network).

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{BIN, EPOCH, simple};
use receipt_testkit::fixture::{cargo_receipt, cargo_workspace, copy_dir, git, text, write};
use serde_json::Value;

/// A workspace: `app` (build script, proc-macro, path dependency, dev-dependency),
/// `mac` (a proc-macro written without syn), `util`, and `devonly`.
fn workspace(root: &Path) {
    cargo_workspace(root, &["app", "mac", "util", "devonly"]);
    write(
        root,
        "app/Cargo.toml",
        "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2021\"\nbuild = \"build.rs\"\n\n\
         [dependencies]\nmac = { path = \"../mac\" }\nutil = { path = \"../util\" }\n\n\
         [dev-dependencies]\ndevonly = { path = \"../devonly\" }\n",
    );
    write(
        root,
        "app/build.rs",
        "fn main() {\n    println!(\"cargo:rustc-env=APP_BUILT_BY=build.rs\");\n}\n",
    );
    write(
        root,
        "app/src/main.rs",
        "mac::answer!();\n\nfn main() {\n    println!(\"{} {} {}\", answer(), util::twice(2), env!(\"APP_BUILT_BY\"));\n}\n\n\
         #[cfg(test)]\nmod tests {\n    #[test]\n    fn t() {\n        assert_eq!(devonly::one(), 1);\n    }\n}\n",
    );
    write(
        root,
        "mac/Cargo.toml",
        "[package]\nname = \"mac\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[lib]\nproc-macro = true\n",
    );
    write(
        root,
        "mac/src/lib.rs",
        "use proc_macro::TokenStream;\n\n#[proc_macro]\npub fn answer(_: TokenStream) -> TokenStream {\n    \"fn answer() -> u32 { 42 }\".parse().unwrap()\n}\n",
    );
    write(
        root,
        "util/Cargo.toml",
        "[package]\nname = \"util\"\nversion = \"0.2.0\"\nedition = \"2021\"\n",
    );
    write(
        root,
        "util/src/lib.rs",
        "pub fn twice(x: u32) -> u32 {\n    2 * x\n}\n",
    );
    write(
        root,
        "devonly/Cargo.toml",
        "[package]\nname = \"devonly\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
    );
    write(
        root,
        "devonly/src/lib.rs",
        "pub fn one() -> u32 {\n    1\n}\n",
    );
}

/// Runs `cargo-receipt receipt <args>` in `dir` with its own target directory.
fn run(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    cargo_receipt(Path::new(BIN), dir, args, env)
}

fn ok(o: Output) -> Output {
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    o
}

fn out_dir(dir: &Path) -> PathBuf {
    dir.join("target/receipt")
}

fn json(path: &Path) -> Value {
    serde_json::from_slice(&fs::read(path).unwrap()).unwrap()
}

#[test]
fn normal_build_writes_a_receipt_that_verifies_shows_and_proves() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    simple(dir, "pub fn f() -> u32 {\n    7\n}\n");
    ok(run(dir, &["build"], &[]));
    let out = out_dir(dir);
    for f in ["manifest.json", "receipt.json", "graph.json", "chain.head"] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    let r = json(&out.join("receipt.json"));
    assert_eq!(r["kind"], "cargo");
    assert_eq!(r["work"]["status"], "success");
    assert_eq!(r["work"]["exit_code"], 0);
    assert_eq!(r["source"]["tracked"]["mode"], "walk");
    assert_eq!(r["graph"]["nodes"], 1);
    let arts: Vec<&str> = r["artifacts"]["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["path"].as_str().unwrap())
        .collect();
    assert!(arts.contains(&"debug/fx"), "{arts:?}");
    assert!(arts.contains(&"debug/libfx.rlib"), "{arts:?}");
    assert!(arts.iter().all(|a| !a.starts_with('/')));
    let graph = fs::read_to_string(out.join("graph.json")).unwrap();
    assert_eq!(
        graph,
        r#"{"edges":[],"nodes":["fx@0.1.0"],"schema":"tau-crystal.graph/1"}"#
    );

    let v = ok(run(dir, &["verify", "--artifacts", "--source"], &[]));
    let s = String::from_utf8(v.stdout).unwrap();
    assert!(s.contains("PASS") && !s.contains("FAIL"), "{s}");
    assert!(s.contains("artifacts") && s.contains("source"), "{s}");

    let v = ok(run(dir, &["verify", "--json"], &[]));
    let j: Value = serde_json::from_slice(&v.stdout).unwrap();
    assert_eq!(j["ok"], true);
    assert!(j["checks"].as_array().unwrap().len() > 5);

    // A second build extends the chain.
    ok(run(dir, &["build"], &[]));
    let head = fs::read_to_string(out.join("chain.head")).unwrap();
    assert_eq!(head.lines().count(), 2);
    let show = ok(run(dir, &["show"], &[]));
    let s = String::from_utf8(show.stdout).unwrap();
    assert!(
        s.contains("fx@0.1.0") && s.contains("2 of 2") && s.contains("tau"),
        "{s}"
    );

    let proof = ok(run(dir, &["prove", "src/lib.rs"], &[]));
    let proof_path = dir.join("proof.json");
    fs::write(&proof_path, &proof.stdout).unwrap();
    let p = proof_path.to_str().unwrap();
    ok(run(
        dir,
        &[
            "verify-proof",
            p,
            "--file",
            "src/lib.rs",
            "--against",
            "target/receipt",
        ],
        &[],
    ));
    // The proof no longer matches once the file changes.
    write(dir, "src/lib.rs", "pub fn f() -> u32 {\n    8\n}\n");
    let o = run(dir, &["verify-proof", p, "--file", "src/lib.rs"], &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let o = run(dir, &["prove", "no/such/file.rs"], &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}

#[test]
fn failing_build_exits_with_cargos_code_and_still_writes_its_receipt() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    simple(dir, "pub fn f() -> u32 {\n    \"not a number\"\n}\n");
    let o = run(dir, &["build"], &[]);
    assert_eq!(o.status.code(), Some(101), "{}", text(&o));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("mismatched types"),
        "cargo's diagnostics reach the user: {stderr}"
    );
    let r = json(&out_dir(dir).join("receipt.json"));
    assert_eq!(r["work"]["status"], "failed");
    assert_eq!(r["work"]["exit_code"], 101);
    ok(run(dir, &["verify"], &[]));
}

#[test]
fn usage_errors_exit_with_2() {
    let tmp = tempfile::tempdir().unwrap();
    let o = run(tmp.path(), &["build", "--no-such-flag"], &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let o = run(
        tmp.path(),
        &["show", "--manifest-path", "missing/Cargo.toml"],
        &[],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let o = Command::new(BIN)
        .args(["receipt", "--help"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&o.stdout).contains("verify-proof"));
    let o = Command::new(BIN)
        .args(["receipt", "lake", "--help"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    // A run ledger that does not exist cannot be verified: a verification failure.
    let missing = tmp.path().join("run.ledger");
    let o = run(tmp.path(), &["verify-run", missing.to_str().unwrap()], &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
}

fn graph_nodes(dir: &Path) -> Vec<String> {
    let g = json(&out_dir(dir).join("graph.json"));
    g["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn workspace_with_build_script_and_proc_macro() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    workspace(dir);
    ok(run(dir, &["build", "-p", "app"], &[]));
    assert_eq!(graph_nodes(dir), ["app@0.1.0", "mac@0.1.0", "util@0.2.0"]);
    let r = json(&out_dir(dir).join("receipt.json"));
    assert_eq!(r["graph"]["edges"], 2);
    assert_eq!(
        r["extensions"]["cargo"]["members"],
        serde_json::json!(["app@0.1.0"])
    );
    let arts = r["artifacts"]["files"].to_string();
    assert!(arts.contains("debug/app\""), "{arts}");
    assert!(
        arts.contains("build/app-"),
        "the build script is an artifact: {arts}"
    );
    assert!(
        arts.contains("libmac-"),
        "the proc-macro is an artifact: {arts}"
    );

    // Test targets bring the member's dev-dependencies into the graph.
    ok(run(dir, &["build", "-p", "app", "--tests"], &[]));
    assert_eq!(
        graph_nodes(dir),
        ["app@0.1.0", "devonly@0.1.0", "mac@0.1.0", "util@0.2.0"]
    );
    let r = json(&out_dir(dir).join("receipt.json"));
    assert_eq!(r["extensions"]["cargo"]["dev_dependencies"], true);
    assert_eq!(
        r["ingress"]["args"],
        serde_json::json!(["--package=app", "--tests"])
    );
    ok(run(dir, &["verify", "--artifacts", "--source"], &[]));
}

#[test]
fn the_graph_cache_follows_manifest_changes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    workspace(dir);
    ok(run(dir, &["build", "-p", "app"], &[]));
    let fresh = fs::read(out_dir(dir).join("graph.json")).unwrap();
    // A no-op rebuild takes the graph from the cache: it must be the same graph.
    ok(run(dir, &["build", "-p", "app"], &[]));
    assert_eq!(fs::read(out_dir(dir).join("graph.json")).unwrap(), fresh);
    assert!(dir.join("target/.receipt-cache/graph-v1.json").is_file());

    // Dropping a dependency changes a manifest (and the lock file): the cache is not used.
    write(
        dir,
        "app/Cargo.toml",
        "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2021\"\nbuild = \"build.rs\"\n\n\
         [dependencies]\nmac = { path = \"../mac\" }\n",
    );
    write(
        dir,
        "app/src/main.rs",
        "mac::answer!();\n\nfn main() {\n    println!(\"{} {}\", answer(), env!(\"APP_BUILT_BY\"));\n}\n",
    );
    ok(run(dir, &["build", "-p", "app"], &[]));
    assert_eq!(graph_nodes(dir), ["app@0.1.0", "mac@0.1.0"]);
    ok(run(dir, &["verify"], &[]));
}

/// Masks the measured fields: work counters and `prev` (docs/SPEC.md §8), and artifact
/// hashes and sizes, which rustc makes depend on the checkout path.
fn mask_measured(mut r: Value) -> Value {
    for k in ["wall_ms", "cpu_ms", "peak_rss_kb"] {
        r["work"][k] = Value::Null;
    }
    r["prev"] = Value::Null;
    for a in r["artifacts"]["files"].as_array_mut().unwrap() {
        a["sha256"] = Value::Null;
        a["size"] = Value::Null;
    }
    r
}

#[test]
fn two_checkouts_at_different_paths_give_the_same_receipt() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("first");
    let b = tmp.path().join("elsewhere/second-checkout");
    for d in [&a, &b] {
        workspace(d);
        // Commit the lock file too, so the build leaves the work tree clean.
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let o = Command::new(cargo)
            .args(["generate-lockfile", "--offline"])
            .current_dir(d)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
        git(d, &["init", "-q", "-b", "main"]);
        git(d, &["add", "-A"]);
        git(d, &["commit", "-q", "-m", "fixture"]);
    }
    let env = [
        ("SOURCE_DATE_EPOCH", EPOCH),
        ("CFLAGS", "-DKEY=ghp_notarealtoken"),
    ];
    ok(run(&a, &["build", "--workspace"], &env));
    ok(run(&b, &["build", "--workspace"], &env));
    let (oa, ob) = (out_dir(&a), out_dir(&b));
    for f in ["manifest.json", "graph.json"] {
        assert_eq!(
            fs::read(oa.join(f)).unwrap(),
            fs::read(ob.join(f)).unwrap(),
            "{f} differs"
        );
    }
    let (ra, rb) = (
        json(&oa.join("receipt.json")),
        json(&ob.join("receipt.json")),
    );
    assert_eq!(ra["source"]["tracked"]["mode"], "git");
    assert_eq!(ra["source"]["git"]["dirty"], false);
    assert_eq!(ra["ingress"]["env"]["CFLAGS"], "<redacted>");
    assert_eq!(ra["ingress"]["env"]["SOURCE_DATE_EPOCH"], EPOCH);
    assert_eq!(
        ra["artifacts"]["files"].as_array().unwrap().len(),
        rb["artifacts"]["files"].as_array().unwrap().len()
    );
    assert_eq!(mask_measured(ra), mask_measured(rb));
    let manifest = fs::read_to_string(oa.join("manifest.json")).unwrap();
    assert!(
        manifest.contains("\"timestamp\":\"2023-11-14T22:13:20Z\""),
        "{manifest}"
    );
    let all = format!(
        "{}{}",
        fs::read_to_string(oa.join("receipt.json")).unwrap(),
        manifest
    );
    assert!(
        !all.contains(a.to_str().unwrap()),
        "an absolute path leaked into the receipt"
    );
}

/// A fixture with a chain of two receipts, copied afresh for each tamper case.
struct Chain {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
}

impl Chain {
    fn new() -> Chain {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("ws");
        simple(&dir, "pub fn f() -> u32 {\n    7\n}\n");
        ok(run(&dir, &["build"], &[]));
        write(&dir, "src/lib.rs", "pub fn f() -> u32 {\n    9\n}\n");
        ok(run(&dir, &["build"], &[]));
        ok(run(&dir, &["verify", "--artifacts", "--source"], &[]));
        Chain { _tmp: tmp, dir }
    }

    /// Copies the output directory, applies `tamper` to the copy, verifies the copy with
    /// `flags` and expects a failure that names `file`.
    fn expect_caught(&self, case: &str, flags: &[&str], file: &str, tamper: impl FnOnce(&Path)) {
        let copy = self.dir.join(format!("target/case-{case}"));
        copy_dir(&out_dir(&self.dir), &copy);
        tamper(&copy);
        let mut args = vec!["verify", copy.to_str().unwrap()];
        args.extend_from_slice(flags);
        let o = run(&self.dir, &args, &[]);
        let s = text(&o);
        assert_eq!(o.status.code(), Some(1), "{case}: {s}");
        let fails: Vec<&str> = s
            .lines()
            .filter(|l| l.starts_with("FAIL") || l.starts_with("UNKNOWN"))
            .collect();
        assert!(
            fails.iter().any(|l| l.contains(file)),
            "{case}: no failing check names {file}:\n{s}"
        );
    }
}

fn flip_byte(path: &Path, at: usize) {
    let mut b = fs::read(path).unwrap();
    let i = at.min(b.len() - 1);
    // Keep it printable ASCII so the damage is in content, not just encoding.
    b[i] = if b[i] == b'a' { b'b' } else { b'a' };
    fs::write(path, b).unwrap();
}

#[test]
fn verify_catches_every_tamper_case_and_names_the_file() {
    let chain = Chain::new();
    let last = "receipts/000002";
    chain.expect_caught("manifest-view", &[], "manifest.json", |d| {
        flip_byte(&d.join("manifest.json"), 100)
    });
    chain.expect_caught(
        "manifest-entry",
        &[],
        "receipts/000002/manifest.json",
        |d| flip_byte(&d.join(last).join("manifest.json"), 100),
    );
    chain.expect_caught("receipt-entry", &[], "receipts/000002/receipt.json", |d| {
        flip_byte(&d.join(last).join("receipt.json"), 300)
    });
    chain.expect_caught("receipt-view", &[], "receipt.json", |d| {
        flip_byte(&d.join("receipt.json"), 300)
    });
    chain.expect_caught("graph-entry", &[], "receipts/000002/graph.json", |d| {
        flip_byte(&d.join(last).join("graph.json"), 30)
    });
    chain.expect_caught("graph-view", &[], "graph.json", |d| {
        flip_byte(&d.join("graph.json"), 30)
    });
    chain.expect_caught("head-hash-byte", &[], "chain.head", |d| {
        flip_byte(&d.join("chain.head"), 10)
    });
    chain.expect_caught("head-byte", &[], "chain.head", |d| {
        flip_byte(&d.join("chain.head"), 70)
    });
    chain.expect_caught("head-last-line-deleted", &[], "receipt.json", |d| {
        let h = fs::read_to_string(d.join("chain.head")).unwrap();
        let first = h.lines().next().unwrap();
        fs::write(d.join("chain.head"), format!("{first}\n")).unwrap();
    });
    chain.expect_caught(
        "head-lines-reordered",
        &[],
        "receipts/000001/receipt.json",
        |d| {
            let h = fs::read_to_string(d.join("chain.head")).unwrap();
            let lines: Vec<&str> = h.lines().collect();
            fs::write(
                d.join("chain.head"),
                format!("{}\n{}\n", lines[1], lines[0]),
            )
            .unwrap();
        },
    );
    chain.expect_caught(
        "receipt-replaced-by-older",
        &[],
        "receipts/000002/receipt.json",
        |d| {
            fs::copy(
                d.join("receipts/000001/receipt.json"),
                d.join(last).join("receipt.json"),
            )
            .unwrap();
        },
    );

    // Artifacts: modify the built binary in the target directory.
    let exe = chain.dir.join("target/debug/fx");
    let original = fs::read(&exe).unwrap();
    let mut changed = original.clone();
    changed.extend_from_slice(b"tampered");
    fs::write(&exe, &changed).unwrap();
    chain.expect_caught("artifact", &["--artifacts"], "target/debug/fx", |_| {});
    fs::write(&exe, &original).unwrap();

    // Source: modify a tracked file of the work tree.
    write(&chain.dir, "src/main.rs", "fn main() {}\n");
    chain.expect_caught("source", &["--source"], "src/main.rs", |_| {});
}

#[receipt_runtime::receipt(stage = "double", hash(x), hash_output)]
fn double(x: u64) -> u64 {
    x * 2
}

#[receipt_runtime::receipt(stage = "sum")]
fn sum(xs: &[u64]) -> u64 {
    xs.iter().map(|&x| double(x)).sum()
}

#[test]
fn verify_run_passes_a_real_run_ledger_and_fails_a_tampered_one() {
    use tracing_subscriber::prelude::*;
    let tmp = tempfile::tempdir().unwrap();
    let ledger = tmp.path().join("run.jsonl");
    let (layer, guard) = receipt_runtime::ReceiptLayer::builder(&ledger)
        .program("it")
        .build()
        .unwrap();
    let sub = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(sub, || assert_eq!(sum(&[1, 2, 3]), 12));
    guard.finish().unwrap();
    let arg = ledger.to_str().unwrap();
    let o = ok(run(tmp.path(), &["verify-run", arg], &[]));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("PASS") && !out.contains("FAIL"),
        "{}",
        text(&o)
    );
    let o = ok(run(tmp.path(), &["verify-run", "--json", arg], &[]));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v.to_string().contains("PASS"), "{v}");

    // One byte of a middle entry changed: caught, exit code 1.
    let mut bytes = fs::read(&ledger).unwrap();
    let second_line = bytes.iter().position(|&b| b == b'\n').unwrap() + 10;
    bytes[second_line] ^= 0x01;
    fs::write(&ledger, &bytes).unwrap();
    let o = run(tmp.path(), &["verify-run", arg], &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("FAIL"),
        "{}",
        text(&o)
    );
}

// --- attacks found with the release binaries, each pinned by a test named after it --------

/// A simple fixture built once, in a git work tree so the receipt records a commit.
fn built_fixture() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    simple(dir, "pub fn f() -> u32 {\n    7\n}\n");
    write(dir, "README.md", "one\n");
    write(dir, "notes.txt", "two\n");
    git(dir, &["init", "-q", "-b", "main"]);
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", "fixture"]);
    ok(run(dir, &["build"], &[("SOURCE_DATE_EPOCH", EPOCH)]));
    tmp
}

#[test]
fn artifact_paths_outside_the_target_dir_are_never_read_even_when_their_hash_matches() {
    let tmp = built_fixture();
    let dir = tmp.path();
    let passwd = fs::read("/etc/passwd").unwrap();
    for path in ["../../../../etc/passwd", "/etc/passwd", "debug/../../x"] {
        let copy = dir.join(format!("target/case-{}", path.len()));
        copy_dir(&out_dir(dir), &copy);
        receipt_testkit::reseal_last(&copy, |r| {
            r["artifacts"]["files"] = serde_json::json!([{
                "path": path,
                "sha256": receipt_primitives::Digest::of(&passwd).to_hex(),
                "size": passwd.len(),
            }]);
        });
        let o = run(dir, &["verify", copy.to_str().unwrap(), "--artifacts"], &[]);
        assert_eq!(o.status.code(), Some(1), "{path}: {}", text(&o));
        let s = String::from_utf8_lossy(&o.stdout);
        assert!(s.contains("FAIL    build.artifacts"), "{path}: {s}");
        assert!(s.contains("FAIL    artifacts.hashes"), "{path}: {s}");
        assert!(!s.contains("have their recorded SHA-256"), "{path}: {s}");
    }
}

#[test]
fn an_artifact_that_is_dev_zero_or_a_fifo_is_not_hashed_forever() {
    let tmp = built_fixture();
    let dir = tmp.path();
    let target = dir.join("target");
    std::os::unix::fs::symlink("/dev/zero", target.join("debug/zero")).unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        target.join("debug/fifo"),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .unwrap();
    let h = receipt_primitives::Digest::of(b"").to_hex();
    receipt_testkit::reseal_last(&out_dir(dir), |r| {
        r["artifacts"]["files"] = serde_json::json!([
            {"path": "debug/fifo", "sha256": h, "size": 0},
            {"path": "debug/zero", "sha256": h, "size": 0},
        ]);
    });
    let o = run(dir, &["verify", "--artifacts"], &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let s = String::from_utf8_lossy(&o.stdout);
    assert!(
        s.contains("target/debug/fifo") && s.contains("a FIFO"),
        "{s}"
    );
    assert!(
        s.contains("target/debug/zero") && s.contains("symbolic link"),
        "{s}"
    );
}

#[test]
fn verify_proof_against_a_chain_whose_manifest_was_edited_fails() {
    let tmp = built_fixture();
    let dir = tmp.path();
    // A proof for a file that was never built, under a root of the attacker's choosing...
    let content = b"never built\n";
    let forged = receipt_protocol::tracked::TrackedTree {
        mode: receipt_protocol::tracked::TrackMode::Git,
        files: vec![receipt_protocol::tracked::TrackedFile {
            path: "evil.rs".into(),
            kind: receipt_protocol::tracked::FileKind::File,
            size: content.len() as u64,
            content_sha256: receipt_primitives::Digest::of(content),
        }],
    };
    let proof = forged.proof("evil.rs").unwrap();
    fs::write(dir.join("evil.rs"), content).unwrap();
    fs::write(dir.join("proof.json"), proof.to_json_bytes()).unwrap();
    // ...and only the entry's manifest edited to that root.
    let m = out_dir(dir).join("receipts/000001/manifest.json");
    let mut manifest = receipt_protocol::manifest::Manifest::parse(&fs::read(&m).unwrap()).unwrap();
    manifest.merkle_root = forged.root();
    fs::write(&m, manifest.to_bytes()).unwrap();
    let o = run(
        dir,
        &[
            "verify-proof",
            "proof.json",
            "--file",
            "evil.rs",
            "--against",
            "target/receipt",
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("does not verify"),
        "{}",
        text(&o)
    );
}

#[test]
fn a_relabelled_proof_position_fails_against_the_chain() {
    let tmp = built_fixture();
    let dir = tmp.path();
    let proof = ok(run(dir, &["prove", "notes.txt"], &[]));
    let mut p: Value = serde_json::from_slice(&proof.stdout).unwrap();
    let (index, size) = (
        p["leaf_index"].as_u64().unwrap(),
        p["tree_size"].as_u64().unwrap(),
    );
    fs::write(dir.join("genuine.json"), &proof.stdout).unwrap();
    ok(run(
        dir,
        &[
            "verify-proof",
            "genuine.json",
            "--file",
            "notes.txt",
            "--against",
            "target/receipt",
        ],
        &[],
    ));
    // The same audit path, relabelled to another position of a larger tree.
    for (i, n) in [(index + 2, size + 2), (index, size + 1)] {
        p["leaf_index"] = i.into();
        p["tree_size"] = n.into();
        let bytes = receipt_primitives::jcs::to_vec(&p).unwrap();
        fs::write(dir.join("relabelled.json"), &bytes).unwrap();
        let o = run(
            dir,
            &[
                "verify-proof",
                "relabelled.json",
                "--file",
                "notes.txt",
                "--against",
                "target/receipt",
            ],
            &[],
        );
        assert_eq!(o.status.code(), Some(1), "leaf {i} of {n}: {}", text(&o));
    }
}

#[test]
fn verify_of_a_nonexistent_directory_creates_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("nonexistent");
    let o = run(tmp.path(), &["verify", missing.to_str().unwrap()], &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(!missing.exists());
    assert!(!missing.join("receipts").exists());
}

#[test]
fn a_recorded_commit_other_than_head_fails_verify_source() {
    let tmp = built_fixture();
    let dir = tmp.path();
    ok(run(dir, &["verify", "--source"], &[]));
    receipt_testkit::reseal_last(&out_dir(dir), |r| {
        r["source"]["git"]["commit"] = "0".repeat(40).into();
    });
    let o = run(dir, &["verify", "--source"], &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let s = String::from_utf8_lossy(&o.stdout);
    assert!(s.contains("FAIL    source.commit"), "{s}");
}
