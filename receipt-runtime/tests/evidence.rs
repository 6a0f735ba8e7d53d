//! Evidence inside a run: `evidence()` and `#[receipt(evidence(..))]` store redacted,
//! content-addressed blobs beside the ledger and write `EVIDENCE` entries that verify; a
//! secret planted in every detector's format never reaches the ledger or the store.

#[path = "../../receipt-evidence/benches/common/corpus.rs"]
mod corpus;

use std::path::{Path, PathBuf};

use receipt_evidence::{EvidenceStore, Fetched, OpenOptions, SealKey};
use receipt_primitives::check::{CheckId, Verdict};
use receipt_runtime::audit::{AuditOptions, audit};
use receipt_runtime::entry::parse_line;
use receipt_runtime::evidence::{Class, EvidenceError};
use receipt_runtime::{ReceiptLayer, receipt};
use serde_json::Value;
use tracing_subscriber::prelude::*;

fn key() -> SealKey {
    SealKey::from_bytes([7; 32])
}

/// Runs `body` as a run writing `dir/run.jsonl` with the fixed key; returns the ledger.
fn with_run(dir: &Path, body: impl FnOnce()) -> PathBuf {
    let ledger = dir.join("run.jsonl");
    let (layer, guard) = ReceiptLayer::builder(&ledger)
        .evidence_key(key())
        .build()
        .unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), body);
    guard.finish().unwrap();
    ledger
}

fn entries(ledger: &Path) -> Vec<receipt_runtime::entry::ParsedEntry> {
    std::fs::read(ledger)
        .unwrap()
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| parse_line(l).unwrap())
        .collect()
}

fn evidence_payloads(ledger: &Path) -> Vec<(Option<String>, Value)> {
    entries(ledger)
        .into_iter()
        .filter(|e| e.kind == "EVIDENCE")
        .map(|e| (e.stage, e.payload))
        .collect()
}

fn store(ledger: &Path) -> EvidenceStore {
    let mut s = ledger.as_os_str().to_owned();
    s.push(".evidence");
    EvidenceStore::open(&PathBuf::from(s).to_string_lossy(), &OpenOptions::default())
        .unwrap()
        .with_key(key())
}

#[receipt(stage = "config")]
fn configure(name: &str) -> Result<u32, EvidenceError> {
    let config = serde_json::json!({"name": name, "retries": 3});
    receipt_runtime::evidence("config", Class::Public, &config)?;
    Ok(3)
}

#[test]
fn evidence_in_a_stage_is_a_verified_blob_and_an_entry_with_its_digest_only() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = with_run(dir.path(), || assert_eq!(configure("alpha").unwrap(), 3));
    let ev = evidence_payloads(&ledger);
    assert_eq!(ev.len(), 1);
    let (stage, p) = &ev[0];
    assert_eq!(stage.as_deref(), Some("config"));
    let bytes = br#"{"name":"alpha","retries":3}"#;
    let digest = receipt_primitives::Digest::of(bytes);
    assert_eq!(p["blob"], format!("blob://sha256:{}", digest.to_hex()));
    assert_eq!(p["class"], "public");
    assert_eq!(p["key"], "config");
    assert_eq!(p["size"], 28);
    assert_eq!(
        p["redaction"],
        serde_json::json!({"detectors": {}, "spans": 0})
    );
    assert!(p["stage_id"].is_u64() && p["t_ns"].is_u64() && p["thread"].is_u64());
    // The ledger has the digest, never the value.
    let text = std::fs::read_to_string(&ledger).unwrap();
    assert!(!text.contains("alpha"), "the value reached the ledger");
    match store(&ledger).get(Class::Public, &digest).unwrap() {
        Fetched::Verified(b) => assert_eq!(b, bytes),
        other => panic!("{other:?}"),
    }
    let a = audit(&ledger, &AuditOptions::default());
    assert!(a.run.ok(), "{}", a.run);
    let r = a.report();
    assert!(r.ok(), "{r}");
    assert_eq!(
        r.check(CheckId::EvidenceBlob).unwrap().verdict,
        Verdict::Pass
    );
    assert_eq!(
        r.check(CheckId::RunEvidence).unwrap().verdict,
        Verdict::Pass
    );
}

#[test]
fn evidence_outside_a_stage_or_with_a_bad_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    with_run(dir.path(), || {
        let e = receipt_runtime::evidence("k", Class::Public, &1).unwrap_err();
        assert!(matches!(e, EvidenceError::NotInStage), "{e}");
    });
    let e = receipt_runtime::evidence("bad key", Class::Public, &1).unwrap_err();
    assert!(matches!(e, EvidenceError::BadKey(_)), "{e}");
}

#[receipt(stage = "sealed_without_key")]
fn sealed_value() -> Result<(), EvidenceError> {
    receipt_runtime::evidence("s", Class::Sealed, "v")
}

#[test]
fn sealed_evidence_without_a_key_is_refused_at_the_call() {
    if std::env::var_os(receipt_evidence::key::KEY_ENV).is_some() {
        return; // The environment supplies a key; nothing to refuse.
    }
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("run.jsonl");
    let (layer, guard) = ReceiptLayer::builder(&ledger).build().unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        let e = sealed_value().unwrap_err();
        assert!(matches!(e, EvidenceError::NoKey(_)), "{e}");
    });
    guard.finish().unwrap();
}

#[receipt(stage = "keep", evidence(line))]
fn keep_public(line: &str) -> usize {
    line.len()
}

#[receipt(stage = "seal", evidence(sealed(line)))]
fn keep_sealed(line: &str) -> usize {
    line.len()
}

#[receipt(stage = "raw")]
fn keep_raw(line: &str) {
    receipt_runtime::evidence_bytes("raw", Class::Public, line.as_bytes()).unwrap();
}

#[test]
fn a_secret_in_every_detector_format_never_reaches_the_ledger_or_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let mut planted = Vec::new();
    for (i, id) in corpus::PLANTABLE.iter().enumerate() {
        for seed in 0..3 {
            let mut rng = corpus::Rng::new((i as u64) * 31 + seed);
            planted.push((id, corpus::planted(id, &mut rng)));
        }
    }
    let ledger = with_run(dir.path(), || {
        for (_, (line, _)) in &planted {
            keep_public(line);
            keep_sealed(line);
            keep_raw(line);
        }
    });
    let mut on_disk = std::fs::read(&ledger).unwrap();
    let mut s = ledger.as_os_str().to_owned();
    s.push(".evidence");
    let mut stack = vec![PathBuf::from(s)];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else {
                on_disk.extend(std::fs::read(e.path()).unwrap());
            }
        }
    }
    // Sealed blobs are ciphertext on disk; their plaintext is checked through the key.
    let st = store(&ledger);
    for (_, p) in evidence_payloads(&ledger) {
        let uri: receipt_evidence::BlobUri = p["blob"].as_str().unwrap().parse().unwrap();
        let class: Class = p["class"].as_str().unwrap().parse().unwrap();
        match st.get(class, uri.digest()).unwrap() {
            Fetched::Verified(b) => on_disk.extend(b),
            other => panic!("{other:?}"),
        }
        assert!(p["redaction"]["spans"].as_u64().unwrap() >= 1, "{p}");
    }
    let hay = String::from_utf8_lossy(&on_disk);
    for (id, (_, secret)) in &planted {
        // JSON escaping can only change a secret's quotes and backslashes: look for the
        // longest plain run of it too.
        let plain = secret
            .split(['"', '\\', '\n'])
            .max_by_key(|s| s.len())
            .unwrap();
        assert!(
            !hay.contains(secret.as_str()),
            "{id}: {secret:?} reached disk"
        );
        assert!(
            plain.len() < 12 || !hay.contains(plain),
            "{id}: {plain:?} of {secret:?} reached disk"
        );
    }
    let a = audit(
        &ledger,
        &AuditOptions {
            key: Some(key()),
            ..AuditOptions::default()
        },
    );
    assert!(a.report().ok(), "{}", a.report());
}

#[receipt(stage = "answer", evidence(question, return))]
async fn answer(question: String) -> Result<String, String> {
    Ok(format!("{question}: 42"))
}

#[test]
fn evidence_of_arguments_and_return_values_also_in_async_fns() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = with_run(dir.path(), || {
        let out = futures::executor::block_on(answer("why".into())).unwrap();
        assert_eq!(out, "why: 42");
    });
    let ev = evidence_payloads(&ledger);
    let keys: Vec<&str> = ev.iter().map(|(_, p)| p["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["question", "return"]);
    assert!(ev.iter().all(|(s, _)| s.as_deref() == Some("answer")));
    assert_eq!(ev[1].1["size"], 9, "the canonical JSON \"why: 42\"");
    assert!(audit(&ledger, &AuditOptions::default()).report().ok());
}
