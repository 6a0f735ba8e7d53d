//! `lake-receipt build --sign` and `verify --key` with the real binary and a fake `lake`:
//! the provenance lists the `lake-manifest.json` git packages with their revs, and the
//! signatures fail for another key and for a forged entry.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use base64::Engine;
use receipt_attest::SigningKey;
use receipt_attest::keys::{write_private_key, write_public_key};
use receipt_testkit::fixture::write_tree;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_lake-receipt");

const MANIFEST: &str = r#"{"version": 7, "packagesDir": ".lake/packages", "name": "demo", "lakeDir": ".lake", "packages": [{"url": "https://example.invalid/dep", "type": "git", "subDir": null, "rev": "0123456789abcdef0123456789abcdef01234567", "name": "dep", "manifestFile": "lake-manifest.json", "inputRev": "main", "inherited": false, "configFile": "lakefile.toml"}]}"#;

fn project(root: &Path) -> PathBuf {
    write_tree(
        root,
        &[
            (
                "lakefile.toml",
                "name = \"demo\"\n[[require]]\nname = \"dep\"\ngit = \"https://example.invalid/dep\"\nrev = \"main\"\n[[lean_lib]]\nname = \"Demo\"\n",
            ),
            ("lake-manifest.json", MANIFEST),
            ("Demo.lean", "import Demo.A\n"),
            ("Demo/A.lean", ""),
            (
                ".lake/packages/dep/lakefile.toml",
                "name = \"dep\"\n[[lean_lib]]\nname = \"Dep\"\n",
            ),
            (".lake/packages/dep/Dep.lean", "prelude\n"),
        ],
    );
    let bin = root.join("fakebin");
    fs::create_dir_all(&bin).unwrap();
    let lake = bin.join("lake");
    fs::write(
        &lake,
        "#!/bin/sh\nmkdir -p .lake/build/lib\nprintf 'olean bytes' > .lake/build/lib/Demo.olean\nexit 0\n",
    )
    .unwrap();
    fs::set_permissions(&lake, fs::Permissions::from_mode(0o755)).unwrap();
    bin
}

fn run(root: &Path, bin: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(root)
        .env(
            "PATH",
            format!("{}:/usr/local/bin:/usr/bin:/bin", bin.display()),
        )
        .env("SOURCE_DATE_EPOCH", "1767322800")
        .output()
        .unwrap()
}

fn keys(dir: &Path, key: &SigningKey) -> (PathBuf, PathBuf) {
    fs::create_dir_all(dir).unwrap();
    let (k, p) = (dir.join("k.pem"), dir.join("k.pub"));
    write_private_key(&k, key).unwrap();
    write_public_key(&p, key.public_key()).unwrap();
    (k, p)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn a_signed_lake_build_verifies_with_its_key_and_records_the_manifest_packages() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("p");
    let bin = project(&root);
    let mut scalar = [0u8; 32];
    scalar[31] = 9;
    let (key, public) = keys(
        &t.path().join("k"),
        &SigningKey::p256_from_scalar(&scalar).unwrap(),
    );
    let (_, other) = keys(
        &t.path().join("o"),
        &SigningKey::ed25519_from_seed(&[3; 32]),
    );
    for _ in 0..2 {
        let o = run(&root, &bin, &["build", "--sign", s(&key)]);
        assert_eq!(o.status.code(), Some(0), "{o:?}");
    }
    let o = run(&root, &bin, &["verify", "--key", s(&public)]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    for id in ["sign.receipt", "sign.provenance", "sign.checkpoint"] {
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with("PASS") && l.contains(id)),
            "{stdout}"
        );
    }
    let line =
        fs::read_to_string(root.join(".lake/receipt/receipts/000002/provenance.intoto.jsonl"))
            .unwrap();
    let env: Value = serde_json::from_str(line.trim_end()).unwrap();
    let payload = base64::engine::general_purpose::STANDARD
        .decode(env["payload"].as_str().unwrap())
        .unwrap();
    let st: Value = serde_json::from_slice(&payload).unwrap();
    let pred = &st["predicate"];
    assert_eq!(
        pred["buildDefinition"]["buildType"],
        "https://receipt.dev/build-types/lake/v1"
    );
    assert_eq!(
        pred["buildDefinition"]["resolvedDependencies"],
        serde_json::json!([{
            "digest": {"gitCommit": "0123456789abcdef0123456789abcdef01234567"},
            "name": "dep",
            "uri": "git+https://example.invalid/dep@0123456789abcdef0123456789abcdef01234567"
        }])
    );
    assert_eq!(st["subject"][0]["name"], "lib/Demo.olean");

    let o = run(&root, &bin, &["verify", "--key", s(&other)]);
    assert_eq!(o.status.code(), Some(1));
    // A forged artifact digest, re-sealed forward: plain verify passes, the key does not.
    let out = root.join(".lake/receipt");
    receipt_testkit::reseal_last(&out, |r| {
        r["artifacts"]["files"][0]["sha256"] = "0".repeat(64).into();
    });
    let o = run(&root, &bin, &["verify"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let o = run(&root, &bin, &["verify", "--key", s(&public)]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .any(|l| l.starts_with("FAIL") && l.contains("sign.receipt"))
    );
}

#[test]
fn a_group_readable_key_is_refused_before_lake_runs() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("p");
    let bin = project(&root);
    let (key, _) = keys(
        &t.path().join("k"),
        &SigningKey::ed25519_from_seed(&[1; 32]),
    );
    fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).unwrap();
    let o = run(&root, &bin, &["build", "--sign", s(&key)]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("private key file is readable by group or others (mode 0644)"),
        "{err}"
    );
    assert!(!root.join(".lake/receipt").exists());
    assert!(!root.join(".lake/build").exists());
}
