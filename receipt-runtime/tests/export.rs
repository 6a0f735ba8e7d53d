//! The run export: byte-identical for the same ledger, checked against snapshot fixtures of
//! a completed, a failed, a violation and a crashed (recovered) run.
//!
//! The fixtures in `tests/fixtures/export/` are real runs of `tests/runs`; to write them
//! again (new ledgers, new expected exports), run
//! `RECEIPT_WRITE_FIXTURES=1 cargo test -p receipt-runtime --test export -- --ignored`.

mod runs;

use std::path::{Path, PathBuf};

use receipt_runtime::audit::AuditOptions;
use receipt_runtime::export::export_run;
use runs::Scenario;
use serde_json::Value;

const NAMES: [&str; 4] = ["completed", "failed", "violation", "crashed"];

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/export")
}

fn export(ledger: &Path) -> Vec<u8> {
    export_run(ledger, &AuditOptions::default()).unwrap()
}

fn doc(name: &str) -> Value {
    let bytes = export(&fixtures().join(format!("{name}.jsonl")));
    serde_json::from_slice(&bytes).unwrap()
}

#[test]
fn every_export_matches_its_snapshot_and_is_stable() {
    for name in NAMES {
        let ledger = fixtures().join(format!("{name}.jsonl"));
        let first = export(&ledger);
        let second = export(&ledger);
        assert_eq!(first, second, "{name}: two exports differ");
        let expected = std::fs::read(fixtures().join(format!("{name}.export.json"))).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&first),
            String::from_utf8_lossy(&expected),
            "{name}: the export differs from its snapshot"
        );
        assert!(receipt_primitives::jcs::is_canonical(
            &first[..first.len() - 1]
        ));
        assert_eq!(first.last(), Some(&b'\n'));
    }
}

#[test]
fn a_completed_run_claims_everything_it_measured() {
    let d = doc("completed");
    assert_eq!(d["schema"], "receipt.run-export/1");
    assert_eq!(d["status"], "ok");
    assert_eq!(d["claim_ceiling"]["level"], "complete");
    let claims = d["claim_ceiling"]["claims"].as_array().unwrap();
    for c in [
        "ledger_intact",
        "run_complete",
        "run_succeeded",
        "stage_graph_respected",
    ] {
        assert!(claims.iter().any(|x| x == c), "{c} missing from {claims:?}");
    }
    // Allocation and I/O were not measured in the fixture run: said so, never written as 0.
    assert_eq!(d["resources"]["io_read_bytes"]["available"], false);
    assert!(d["resources"]["io_read_bytes"].get("value").is_none());
    assert!(!claims.iter().any(|x| x == "resources_measured"));
    assert_eq!(d["resources"]["wall_ns"]["available"], true);
    assert_eq!(d["lineage"]["missing_event_ranges"], serde_json::json!([]));
    assert_eq!(d["lineage"]["first_seq"], 0);
    assert_eq!(
        d["lineage"]["event_count"].as_u64().unwrap(),
        d["lineage"]["last_seq"].as_u64().unwrap() + 1
    );
    assert_eq!(d["side_effects"]["declared"]["http.request"], 1);
    assert_eq!(d["side_effects"]["declared"]["fs.write"], 1);
    assert_eq!(d["stages"]["train"]["ok"], 1);
    assert_eq!(d["verification"]["ok"], true);
}

#[test]
fn a_failed_run_is_complete_but_not_succeeded() {
    let d = doc("failed");
    assert_eq!(d["status"], "failed");
    assert_eq!(d["claim_ceiling"]["level"], "complete");
    let claims = d["claim_ceiling"]["claims"].as_array().unwrap();
    assert!(!claims.iter().any(|x| x == "run_succeeded"));
    assert_eq!(d["stages"]["train"]["err"], 1);
}

#[test]
fn a_violation_run_does_not_claim_the_stage_graph() {
    let d = doc("violation");
    assert_eq!(
        d["entries"]["VIOLATION"], 2,
        "evaluate before train, then train after evaluate"
    );
    let claims = d["claim_ceiling"]["claims"].as_array().unwrap();
    assert!(claims.iter().any(|x| x == "run_succeeded"));
    assert!(!claims.iter().any(|x| x == "stage_graph_respected"));
    let limits = d["claim_ceiling"]["limits"].to_string();
    assert!(
        limits.contains("2 stage-graph violation(s) were recorded"),
        "{limits}"
    );
    let warned = d["verification"]["not_passed"].as_array().unwrap();
    assert!(
        warned
            .iter()
            .any(|w| w["check"] == "run.transitions" && w["verdict"] == "WARN")
    );
}

#[test]
fn a_crashed_run_says_what_is_missing_and_claims_only_its_intact_prefix() {
    let d = doc("crashed");
    assert_eq!(d["status"], "unfinished");
    let last = d["lineage"]["last_seq"].as_u64().unwrap();
    assert_eq!(
        d["lineage"]["missing_event_ranges"],
        serde_json::json!([{"first": last + 1, "last": null}])
    );
    assert_eq!(d["claim_ceiling"]["level"], "partial");
    assert_eq!(
        d["claim_ceiling"]["claims"],
        serde_json::json!(["ledger_intact"])
    );
    let limits = d["claim_ceiling"]["limits"].to_string();
    assert!(
        limits.contains(&format!("entries {} onwards are missing", last + 1)),
        "{limits}"
    );
    assert_eq!(d["times"]["finished_at"], Value::Null);
    assert_eq!(d["resources"]["cpu_ns"]["available"], false);
    assert_eq!(d["stages"]["decide"]["open"], 1);
    assert_eq!(d["verification"]["ok"], false);
}

#[test]
fn a_gap_in_the_middle_is_a_bounded_missing_range_and_no_claim() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("gap.jsonl");
    let bytes = std::fs::read(fixtures().join("completed.jsonl")).unwrap();
    let lines: Vec<&[u8]> = bytes.split_inclusive(|b| *b == b'\n').collect();
    let without: Vec<u8> = lines
        .iter()
        .enumerate()
        .filter(|(i, _)| !(3..5).contains(i))
        .flat_map(|(_, l)| l.iter().copied())
        .collect();
    std::fs::write(&ledger, without).unwrap();
    let d: Value = serde_json::from_slice(&export(&ledger)).unwrap();
    assert_eq!(
        d["lineage"]["missing_event_ranges"],
        serde_json::json!([{"first": 3, "last": 4}])
    );
    assert_eq!(d["claim_ceiling"]["level"], "none");
    assert_eq!(d["claim_ceiling"]["claims"], serde_json::json!([]));
}

#[test]
#[ignore = "writes the fixtures; run with RECEIPT_WRITE_FIXTURES=1"]
fn write_fixtures() {
    if std::env::var_os("RECEIPT_WRITE_FIXTURES").is_none() {
        return;
    }
    let dir = fixtures();
    std::fs::create_dir_all(&dir).unwrap();
    for name in NAMES {
        for suffix in ["", ".receipt.json", ".head", ".export.json"] {
            let _ = std::fs::remove_file(dir.join(format!("{name}.jsonl{suffix}")));
        }
        let _ = std::fs::remove_file(dir.join(format!("{name}.export.json")));
        let _ = std::fs::remove_dir_all(dir.join(format!("{name}.jsonl.evidence")));
        let scenario = match name {
            "failed" => Scenario::Failed,
            "violation" => Scenario::Violation,
            _ => Scenario::Completed,
        };
        let ledger = runs::run(&dir, name, &format!("fixture-{name}"), scenario);
        if name == "crashed" {
            runs::crash(&ledger);
        }
        std::fs::write(dir.join(format!("{name}.export.json")), export(&ledger)).unwrap();
    }
}
