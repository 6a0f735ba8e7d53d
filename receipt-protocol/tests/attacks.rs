//! Attacks on a build ledger found by trying them with the release binaries, each pinned by
//! a test named after it: hostile paths, special files in place of protocol files, forged
//! fields re-sealed forward, costly graphs, and writers led astray by planted symlinks.

mod common;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;

use common::{failed, ledger_with, record, show};
use receipt_graph::CanonicalGraph;
use receipt_primitives::{Digest, Timestamp};
use receipt_protocol::assemble::tau_section;
use receipt_protocol::ledger::{Ledger, LedgerError};
use receipt_protocol::manifest::Manifest;
use receipt_protocol::verify::{CheckId, Report, Verdict, verify_dir};
use receipt_testkit::graphs::dense_edges;
use receipt_testkit::{last_receipt, reseal_last, reseal_last_manifest};
use serde_json::{Value, json};

fn mkfifo(path: &Path) {
    rustix::fs::mknodat(
        rustix::fs::CWD,
        path,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .unwrap();
}

/// The check `id` failed with `verdict`, and its detail contains `says`.
fn assert_check(r: &Report, id: CheckId, verdict: Verdict, says: &str) {
    assert!(
        r.checks
            .iter()
            .any(|c| c.id == id && c.verdict == verdict && c.detail.contains(says)),
        "no {verdict} {id} saying {says:?}:\n{}",
        show(r)
    );
    assert!(!r.ok());
}

fn everything(r: &Report) -> String {
    r.checks.iter().map(|c| format!("{c}\n")).collect()
}

#[test]
fn graph_path_outside_the_ledger_is_refused_without_reading_it() {
    let t = tempfile::tempdir().unwrap();
    ledger_with(t.path(), 2);
    let hostname = fs::read("/etc/hostname").unwrap_or_default();
    let leaked = Digest::of(&hostname).to_hex();
    reseal_last(t.path(), |r| {
        r["graph"]["path"] = json!("../../../../etc/hostname");
        r["graph"]["digest"] = json!(leaked);
    });
    let r = verify_dir(t.path());
    assert_check(
        &r,
        CheckId::GraphDigest,
        Verdict::Fail,
        "has a `..` component",
    );
    // The file was never read: no check reports what it hashes to.
    assert!(
        !everything(&r).contains(&format!("SHA-256 {leaked}")),
        "{}",
        show(&r)
    );
}

#[test]
fn graph_path_through_a_symlink_to_dev_zero_is_refused_not_read() {
    let t = tempfile::tempdir().unwrap();
    ledger_with(t.path(), 1);
    let g = t.path().join("receipts/000001/graph.json");
    fs::remove_file(&g).unwrap();
    symlink("/dev/zero", &g).unwrap();
    let r = verify_dir(t.path());
    assert_check(
        &r,
        CheckId::GraphDigest,
        Verdict::Fail,
        "is reached through the symbolic link receipts/000001/graph.json, which is not followed",
    );
}

#[test]
fn manifest_or_chain_head_symlinked_to_dev_zero_is_refused_not_read() {
    let t = tempfile::tempdir().unwrap();
    ledger_with(t.path(), 1);
    let m = t.path().join("receipts/000001/manifest.json");
    fs::remove_file(&m).unwrap();
    symlink("/dev/zero", &m).unwrap();
    let r = verify_dir(t.path());
    assert_check(&r, CheckId::ManifestGrammar, Verdict::Fail, "symbolic link");

    fs::remove_file(t.path().join("chain.head")).unwrap();
    symlink("/dev/zero", t.path().join("chain.head")).unwrap();
    let r = verify_dir(t.path());
    assert_check(&r, CheckId::ChainHead, Verdict::Fail, "symbolic link");
}

#[test]
fn a_fifo_in_place_of_a_protocol_file_does_not_hang_the_verifier() {
    for victim in [
        "chain.head",
        "receipts/000001/receipt.json",
        "receipts/000001/manifest.json",
        "receipts/000001/graph.json",
        "receipt.json",
    ] {
        let t = tempfile::tempdir().unwrap();
        ledger_with(t.path(), 1);
        fs::remove_file(t.path().join(victim)).unwrap();
        mkfifo(&t.path().join(victim));
        let r = verify_dir(t.path());
        assert!(!r.ok(), "{victim}");
        assert!(
            everything(&r).contains(&format!("{victim} is a FIFO, not a regular file")),
            "{victim}:\n{}",
            show(&r)
        );
    }
}

#[test]
fn an_oversized_chain_head_is_refused_with_its_limit() {
    let t = tempfile::tempdir().unwrap();
    ledger_with(t.path(), 1);
    let f = fs::File::options()
        .append(true)
        .open(t.path().join("chain.head"))
        .unwrap();
    // Sparse: no disk is used, but the size is over the limit.
    f.set_len(receipt_protocol::limits::CHAIN_HEAD_BYTES + 1)
        .unwrap();
    let r = verify_dir(t.path());
    assert_check(
        &r,
        CheckId::ChainHead,
        Verdict::Unknown,
        "is larger than the 268435456-byte limit for a chain head",
    );
}

#[test]
fn verifying_a_directory_that_does_not_exist_creates_nothing() {
    let t = tempfile::tempdir().unwrap();
    let missing = t.path().join("nonexistent");
    let r = verify_dir(&missing);
    assert_check(&r, CheckId::ChainHead, Verdict::Unknown, "does not exist");
    assert!(!missing.exists());
    assert!(matches!(
        Ledger::existing(&missing),
        Err(LedgerError::NotALedger { .. })
    ));
    assert!(!missing.exists());
}

#[test]
fn a_byte_order_mark_in_chain_head_is_named_as_such() {
    let t = tempfile::tempdir().unwrap();
    ledger_with(t.path(), 1);
    let head = t.path().join("chain.head");
    let mut bytes = vec![0xEF, 0xBB, 0xBF];
    bytes.extend(fs::read(&head).unwrap());
    fs::write(&head, bytes).unwrap();
    let r = verify_dir(t.path());
    assert_check(&r, CheckId::ChainHead, Verdict::Fail, "byte order mark");
    // A writer reports the same sentence once, not wrapped in a second one.
    let e = Ledger::create(t.path())
        .unwrap()
        .append(record(2))
        .unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("byte order mark"), "{msg}");
    assert_eq!(msg.matches("chain.head").count(), 1, "{msg}");
}

/// A forged graph that is dense enough to make elimination expensive, with τ recomputed so
/// that the rank is the only thing left to check (a forged 2,400-node graph took 20 s; this
/// one needs twice the per-graph budget).
#[test]
fn a_forged_dense_graph_is_not_ranked_past_the_budget() {
    let t = tempfile::tempdir().unwrap();
    ledger_with(t.path(), 1);
    let n = 1_500u32;
    let g =
        CanonicalGraph::new(Vec::<String>::new(), dense_edges(n, 0x9e37_79b9_7f4a_7c15)).unwrap();
    let bytes = g.to_json_bytes();
    fs::write(t.path().join("receipts/000001/graph.json"), &bytes).unwrap();
    fs::write(t.path().join("graph.json"), &bytes).unwrap();
    let manifest =
        Manifest::parse(&fs::read(t.path().join("receipts/000001/manifest.json")).unwrap())
            .unwrap();
    let tau = serde_json::to_value(tau_section(&g, &manifest)).unwrap();
    reseal_last(t.path(), |r| {
        r["graph"]["digest"] = json!(Digest::of(&bytes).to_hex());
        r["graph"]["nodes"] = json!(g.node_count());
        r["graph"]["edges"] = json!(g.edge_count());
        r["tau"] = tau;
    });
    let r = verify_dir(t.path());
    assert!(
        r.check(CheckId::GraphTau).unwrap().verdict == Verdict::Pass,
        "{}",
        show(&r)
    );
    assert_check(&r, CheckId::GraphRank, Verdict::Unknown, "budget");
}

#[test]
fn rank_is_not_recomputed_when_tau_already_disagrees() {
    let t = tempfile::tempdir().unwrap();
    ledger_with(t.path(), 1);
    reseal_last(t.path(), |r| r["tau"]["tau"] = json!("9.999999"));
    let r = verify_dir(t.path());
    assert_check(&r, CheckId::GraphTau, Verdict::Fail, "differs");
    assert_check(
        &r,
        CheckId::GraphRank,
        Verdict::Unknown,
        "τ already disagrees",
    );
}

// --- fields no hash binds, forged and re-sealed forward -------------------------------------

#[test]
fn a_commit_that_is_not_a_hash_is_refused() {
    let t = tempfile::tempdir().unwrap();
    ledger_with(t.path(), 1);
    reseal_last(t.path(), |r| {
        r["source"] = json!({"available": true,
            "git": {"available": true, "commit": "not a hash", "dirty": false},
            "tracked": {"mode": "git", "files": 0, "merkle_root": r["reflective"]["merkle_root"]}});
    });
    let r = verify_dir(t.path());
    assert_check(
        &r,
        CheckId::BuildSource,
        Verdict::Fail,
        "not a 40- or 64-digit",
    );
}

#[test]
fn a_tracked_root_other_than_the_manifests_is_refused() {
    let t = tempfile::tempdir().unwrap();
    ledger_with(t.path(), 1);
    reseal_last(t.path(), |r| {
        r["source"] = json!({"available": true,
            "git": {"available": false, "reason": "none"},
            "tracked": {"mode": "walk", "files": 1, "merkle_root": Digest::of(b"x").to_hex()}});
    });
    let r = verify_dir(t.path());
    assert_check(
        &r,
        CheckId::BuildSource,
        Verdict::Fail,
        "source.tracked.merkle_root",
    );
}

#[test]
fn a_producer_other_than_the_manifests_is_refused() {
    let t = tempfile::tempdir().unwrap();
    ledger_with(t.path(), 1);
    reseal_last(t.path(), |r| r["producer"] = json!("someone else 9.9"));
    let r = verify_dir(t.path());
    assert_check(
        &r,
        CheckId::BuildProducer,
        Verdict::Fail,
        "someone else 9.9",
    );
}

#[test]
fn an_unknown_kind_is_refused() {
    let t = tempfile::tempdir().unwrap();
    ledger_with(t.path(), 1);
    reseal_last(t.path(), |r| r["kind"] = json!("maven"));
    let r = verify_dir(t.path());
    assert_check(&r, CheckId::BuildKind, Verdict::Fail, "\"maven\"");
}

#[test]
fn a_work_status_that_disagrees_with_the_exit_code_is_refused() {
    for (status, code) in [
        ("success", json!(101)),
        ("success", Value::Null),
        ("not-run", json!(0)),
        ("finished", json!(0)),
    ] {
        let t = tempfile::tempdir().unwrap();
        ledger_with(t.path(), 1);
        reseal_last(t.path(), |r| {
            r["work"]["status"] = json!(status);
            r["work"]["exit_code"] = code.clone();
        });
        let r = verify_dir(t.path());
        assert_check(&r, CheckId::BuildWork, Verdict::Fail, "work.status");
    }
}

#[test]
fn duplicate_or_escaping_artifact_paths_are_refused() {
    let h = Digest::of(b"a").to_hex();
    for (files, says) in [
        (
            json!([{"path": "a", "sha256": h, "size": 1}, {"path": "a", "sha256": h, "size": 1}]),
            "twice",
        ),
        (
            json!([{"path": "b", "sha256": h, "size": 1}, {"path": "a", "sha256": h, "size": 1}]),
            "not sorted",
        ),
        (
            json!([{"path": "../../../../etc/passwd", "sha256": h, "size": 1}]),
            "`..` component",
        ),
        (
            json!([{"path": "/etc/hostname", "sha256": h, "size": 1}]),
            "absolute",
        ),
        (
            json!([{"path": "a\u{0}b", "sha256": h, "size": 1}]),
            "'\\0'",
        ),
    ] {
        let t = tempfile::tempdir().unwrap();
        ledger_with(t.path(), 1);
        reseal_last(t.path(), |r| {
            r["artifacts"] = json!({"available": true, "root": "target", "files": files});
        });
        let r = verify_dir(t.path());
        assert_check(&r, CheckId::BuildArtifacts, Verdict::Fail, says);
    }
}

#[test]
fn a_manifest_timestamp_earlier_than_the_previous_entrys_is_refused() {
    let t = tempfile::tempdir().unwrap();
    ledger_with(t.path(), 2);
    reseal_last_manifest(t.path(), |m| {
        m.timestamp = Timestamp::from_unix(1_600_000_000).unwrap();
    });
    let r = verify_dir(t.path());
    assert_check(
        &r,
        CheckId::ManifestTimestampOrder,
        Verdict::Fail,
        "earlier than",
    );
    // A writer refuses to make such a chain in the first place.
    let mut old = record(3);
    old.manifest.timestamp = Timestamp::from_unix(1_000).unwrap();
    let t2 = tempfile::tempdir().unwrap();
    let l = ledger_with(t2.path(), 2);
    let e = l.append(old).unwrap_err().to_string();
    assert!(e.contains("is earlier than"), "{e}");
    assert_eq!(l.head().unwrap().len(), 2);
}

// --- writers that would be led astray -------------------------------------------------------

#[test]
fn a_planted_receipts_symlink_is_refused_and_nothing_is_deleted_or_written_there() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("out");
    let elsewhere = t.path().join("elsewhere");
    fs::create_dir_all(elsewhere.join("000001")).unwrap();
    fs::write(elsewhere.join("000001/precious.txt"), b"keep me").unwrap();
    fs::create_dir_all(&out).unwrap();
    symlink(&elsewhere, out.join("receipts")).unwrap();
    let e = Ledger::create(&out).unwrap_err();
    assert!(e.to_string().contains("is a symbolic link"), "{e}");
    assert_eq!(
        fs::read(elsewhere.join("000001/precious.txt")).unwrap(),
        b"keep me"
    );
    assert_eq!(fs::read_dir(&elsewhere).unwrap().count(), 1);
    assert!(!out.join("chain.head").exists());
}

#[test]
fn an_output_directory_that_is_a_symlink_is_refused() {
    let t = tempfile::tempdir().unwrap();
    fs::create_dir(t.path().join("real")).unwrap();
    symlink(t.path().join("real"), t.path().join("out")).unwrap();
    let e = Ledger::create(t.path().join("out")).unwrap_err();
    assert!(e.to_string().contains("is a symbolic link"), "{e}");
}

#[test]
fn an_unnamed_entry_holding_foreign_files_is_not_deleted() {
    let t = tempfile::tempdir().unwrap();
    let l = ledger_with(t.path(), 1);
    let stray = t.path().join("receipts/000002");
    fs::create_dir(&stray).unwrap();
    fs::write(stray.join("notes.txt"), b"mine").unwrap();
    let e = l.append(record(2)).unwrap_err();
    assert!(e.to_string().contains("did not write"), "{e}");
    assert_eq!(fs::read(stray.join("notes.txt")).unwrap(), b"mine");
    // An entry left by a crashed writer (only our files) is replaced as before.
    fs::remove_file(stray.join("notes.txt")).unwrap();
    fs::write(stray.join("receipt.json"), b"torn").unwrap();
    l.append(record(2)).unwrap();
    let r = verify_dir(t.path());
    assert!(r.ok(), "{}", show(&r));
}

#[test]
fn a_view_file_symlinked_elsewhere_is_not_written_through() {
    let t = tempfile::tempdir().unwrap();
    let l = ledger_with(t.path(), 1);
    let victim = t.path().join("victim.txt");
    fs::write(&victim, b"unchanged").unwrap();
    fs::remove_file(t.path().join("manifest.json")).unwrap();
    symlink(&victim, t.path().join("manifest.json")).unwrap();
    assert!(Ledger::create(t.path()).is_err());
    // An append through an already-open ledger replaces the link itself, never its target.
    l.append(record(2)).unwrap();
    assert_eq!(fs::read(&victim).unwrap(), b"unchanged");
    assert!(
        !fs::symlink_metadata(t.path().join("manifest.json"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
}

#[test]
fn a_chain_lock_symlink_is_not_followed() {
    let t = tempfile::tempdir().unwrap();
    let l = ledger_with(t.path(), 1);
    let victim = t.path().join("victim");
    fs::remove_file(t.path().join("chain.lock")).unwrap();
    symlink(&victim, t.path().join("chain.lock")).unwrap();
    assert!(l.append(record(2)).is_err());
    assert!(!victim.exists());
    assert_eq!(failed(&verify_dir(t.path())), Vec::new());
    assert_eq!(last_receipt(t.path()).prev, None);
}
