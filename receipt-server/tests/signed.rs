//! The server's `[verify]` table: with trusted keys every artifact must be signed by one of
//! them, as `cargo receipt verify --key` requires; a policy needs keys.

mod common;

use std::path::{Path, PathBuf};

use receipt_server::config::{Config, FileConfig, Overrides, VerifyFile};
use receipt_server::verify::{ArchiveVerifier, ArtifactVerifier, VerifyConfig};

fn keygen(dir: &Path) -> (PathBuf, PathBuf) {
    let code = cargo_receipt::main_with_args([
        "cargo",
        "receipt",
        "keygen",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(
        format!("{code:?}"),
        format!("{:?}", std::process::ExitCode::SUCCESS)
    );
    (
        dir.join("receipt-signing.key"),
        dir.join("receipt-signing.pub"),
    )
}

fn project(root: &Path) -> PathBuf {
    common::write(root, ".gitignore", "/target\n");
    common::write(
        root,
        "Cargo.toml",
        "[package]\nname = \"fx\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n",
    );
    common::write(root, "src/lib.rs", "pub fn f() -> u32 {\n    7\n}\n");
    root.join("Cargo.toml")
}

fn verifier(keys: Vec<PathBuf>) -> ArchiveVerifier {
    ArchiveVerifier {
        config: VerifyConfig::load(&VerifyFile { keys, policy: None }).unwrap(),
        limits: receipt_archive::Limits::default(),
    }
}

fn failing(v: &receipt_server::verify::Verified) -> Vec<String> {
    v.report
        .failures()
        .map(|c| c.id.as_str().to_owned())
        .collect()
}

#[test]
fn with_keys_only_artifacts_signed_by_one_of_them_pass() {
    let tmp = tempfile::tempdir().unwrap();
    let (key, public) = keygen(&tmp.path().join("k1"));
    let (_, other_public) = keygen(&tmp.path().join("k2"));
    let manifest = project(&tmp.path().join("fx"));
    let ledger = tmp.path().join("receipt");
    common::build_receipt(&manifest, &ledger, &["--sign", key.to_str().unwrap()]);
    let signed = common::zip_dir(&ledger);

    let ok = verifier(vec![public.clone()]).verify(&signed).unwrap();
    assert!(ok.report.ok(), "{}", ok.report);
    assert!(ok.facts.is_some());

    // The same artifact against another key: the signatures do not verify.
    let wrong = verifier(vec![other_public]).verify(&signed).unwrap();
    assert!(!wrong.report.ok());
    assert!(
        wrong.facts.is_none(),
        "a failed verification stores nothing"
    );
    assert!(
        failing(&wrong).iter().any(|id| id.starts_with("sign.")),
        "{}",
        wrong.report
    );

    // An unsigned artifact under a key: every signature is mandatory.
    let unsigned = verifier(vec![public])
        .verify(&common::fixture().zip)
        .unwrap();
    assert!(!unsigned.report.ok());
    assert!(
        failing(&unsigned).iter().any(|id| id.starts_with("sign.")),
        "{}",
        unsigned.report
    );

    // Without keys the unsigned artifact passes, as `cargo receipt verify DIR` does.
    assert!(
        verifier(Vec::new())
            .verify(&common::fixture().zip)
            .unwrap()
            .report
            .ok()
    );
}

#[test]
fn the_verify_table_is_read_relative_to_the_file_and_a_policy_needs_keys() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, public) = keygen(&tmp.path().join("keys"));
    assert!(public.exists());
    std::fs::write(
        tmp.path().join("policy.toml"),
        "schema = \"tau-crystal.policy/1\"\nmin_chain_length = 1\n",
    )
    .unwrap();
    let env = |k: &str| match k {
        "RECEIPT_API_TOKEN" => Some("0123456789abcdef0123".to_owned()),
        _ => None,
    };
    let overrides = Overrides {
        data: Some(tmp.path().join("data")),
        ..Overrides::default()
    };

    let file: FileConfig = toml::from_str("[verify]\npolicy = \"policy.toml\"\n").unwrap();
    let e = Config::from_parts(file, &overrides, &env)
        .unwrap_err()
        .to_string();
    assert!(e.contains("verify.policy needs verify.keys"), "{e}");

    let cfg_path = tmp.path().join("server.toml");
    std::fs::write(
        &cfg_path,
        "data = \"data\"\n[verify]\nkeys = [\"keys/receipt-signing.pub\"]\npolicy = \"policy.toml\"\n",
    )
    .unwrap();
    let cfg = Config::load_with_env(Some(&cfg_path), &overrides, &env).unwrap();
    assert_eq!(cfg.verify.keys.len(), 1);
    assert_eq!(
        cfg.verify.policy.as_ref().and_then(|p| p.min_chain_length),
        Some(1)
    );

    let missing: FileConfig =
        toml::from_str("[verify]\nkeys = [\"/nonexistent/key.pub\"]\n").unwrap();
    let e = Config::from_parts(missing, &overrides, &env)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("verify.keys") && e.contains("/nonexistent/key.pub"),
        "{e}"
    );
}
