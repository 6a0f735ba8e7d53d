//! Build diffs of receipts made with the real assembly: chain positions, receipt files,
//! provenance checksums, measured fields, and the refusals of hostile or missing inputs.

mod common;

use std::path::Path;

use common::{Build, append, file};
use receipt_diff::{ChangeKind, DiffError, Position, Section, Spec, diff_receipts, exit_code};
use receipt_protocol::ledger::Ledger;
use serde_json::json;

fn ledger(dir: &Path, builds: &[Build]) -> String {
    let l = Ledger::create(dir).unwrap();
    for b in builds {
        append(&l, b);
    }
    dir.to_str().unwrap().to_owned()
}

fn change<'d>(d: &'d receipt_diff::BuildDiff, item: &str) -> &'d receipt_diff::Change {
    d.changes
        .iter()
        .find(|c| c.item == item)
        .unwrap_or_else(|| panic!("no change {item:?} in {:#?}", d.changes))
}

#[test]
fn positions_parse_and_bad_ones_are_refused() {
    let p = |s: &str| Spec::parse(s).unwrap();
    assert_eq!(p("@3").path, None);
    assert_eq!(p("@3").position, Some(Position::FromStart(3)));
    assert_eq!(p("@-1").position, Some(Position::FromEnd(1)));
    assert_eq!(p("dir@12").path.unwrap().to_str(), Some("dir"));
    assert_eq!(
        p("a@b/receipt.json").position,
        None,
        "not a position: a path"
    );
    assert_eq!(p("x@").position, None);
    assert_eq!(p("x@-").position, None);
    for bad in ["@0", "@-0", "", "@99999999999999999999999"] {
        assert!(
            matches!(Spec::parse(bad), Err(DiffError::Usage(_))),
            "{bad}"
        );
    }
}

#[test]
fn measured_fields_are_shown_but_do_not_count() {
    let t = tempfile::tempdir().unwrap();
    let base = Build::default();
    let slower = Build {
        wall_ms: 2500,
        artifact: "binary built elsewhere".into(),
        ..base.clone()
    };
    let dir = ledger(t.path(), &[base, slower]);
    let d = diff_receipts(&format!("{dir}@1"), &format!("{dir}@-1"), None).unwrap();
    assert!(!d.differs, "{:#?}", d.changes);
    assert_eq!(exit_code(&d), 0);
    let wall = change(&d, "work.wall_ms");
    assert!(!wall.counts);
    assert_eq!(wall.delta.as_deref(), Some("+1500"));
    let art = change(&d, "artifact debug/app");
    assert_eq!((art.change, art.counts), (ChangeKind::Changed, false));
    assert!(d.to_text().contains("[measured]"));
}

#[test]
fn a_mode_change_and_an_added_file_are_named() {
    let t = tempfile::tempdir().unwrap();
    let a = Build::default();
    let b = Build {
        files: vec![
            file("src/lib.rs", "pub fn f() {}\n", true),
            file("build.rs", "fn main() {}\n", false),
        ],
        ..Build::default()
    };
    let dir = ledger(t.path(), &[a, b]);
    let d = diff_receipts(&format!("{dir}@1"), &format!("{dir}@2"), None).unwrap();
    assert_eq!(exit_code(&d), 1);
    let lib = change(&d, "file src/lib.rs");
    assert_eq!(
        (lib.a["kind"].clone(), lib.b["kind"].clone()),
        (json!("f"), json!("x"))
    );
    assert_eq!(change(&d, "file build.rs").change, ChangeKind::Added);
    assert_eq!(
        change(&d, "source.tracked.files").delta.as_deref(),
        Some("+1")
    );
    let text = d.to_text();
    assert!(text.contains("file src/lib.rs: kind f -> x"), "{text}");
}

#[test]
fn the_toolchain_is_reported_line_by_line_and_first() {
    let t = tempfile::tempdir().unwrap();
    let b = Build {
        rustc_vv: "rustc 1.96.0\nhost: x86_64-unknown-linux-gnu\n".into(),
        features: vec!["serde".into()],
        ..Build::default()
    };
    let dir = ledger(t.path(), &[Build::default(), b]);
    let d = diff_receipts(&format!("{dir}@1"), &format!("{dir}@2"), None).unwrap();
    let first = &d.changes[0];
    assert_eq!(
        (first.section, first.item.as_str()),
        (Section::Toolchain, "rustc -vV version")
    );
    assert_eq!(first.b, json!("rustc 1.96.0"));
    assert_eq!(change(&d, "feature serde").change, ChangeKind::Added);
}

#[test]
fn provenance_checksums_beside_the_receipts_are_compared() {
    let t = tempfile::tempdir().unwrap();
    let dir = ledger(t.path(), &[Build::default(), Build::default()]);
    let statement = |digest: &str| {
        json!({
            "_type": "https://in-toto.io/Statement/v1",
            "predicateType": "https://slsa.dev/provenance/v1",
            "predicate": {"buildDefinition": {"resolvedDependencies": [
                {"name": "serde@1.0.1", "uri": "pkg:cargo/serde@1.0.1", "digest": {"sha256": digest}}
            ]}}
        })
        .to_string()
            + "\n"
    };
    let entry = |n: u32| t.path().join(format!("receipts/{n:06}"));
    std::fs::write(entry(1).join("provenance.intoto.jsonl"), statement("aa")).unwrap();
    // The latest entry's provenance at the ledger root, as a view.
    std::fs::write(t.path().join("provenance.intoto.jsonl"), statement("bb")).unwrap();
    let d = diff_receipts(&format!("{dir}@1"), &dir, None).unwrap();
    let c = change(&d, "checksum serde@1.0.1");
    assert_eq!((c.section, c.counts), (Section::Dependencies, true));
    assert_eq!(
        (c.a.clone(), c.b.clone()),
        (json!(["sha256:aa"]), json!(["sha256:bb"]))
    );
    assert_eq!(exit_code(&d), 1);
    // Absent on both sides: not compared, no note.
    let u = tempfile::tempdir().unwrap();
    let dir2 = ledger(u.path(), &[Build::default(), Build::default()]);
    let d = diff_receipts(&format!("{dir2}@1"), &format!("{dir2}@2"), None).unwrap();
    assert!(d.notes.is_empty(), "{:?}", d.notes);
    assert!(!d.differs);
}

#[test]
fn a_receipt_file_and_a_directory_without_a_chain_are_sides_too() {
    let t = tempfile::tempdir().unwrap();
    let dir = ledger(t.path(), &[Build::default()]);
    let file = format!("{dir}/receipts/000001/receipt.json");
    let d = diff_receipts(&file, &dir, None).unwrap();
    assert!(!d.differs);
    assert_eq!((d.a.entry, d.b.entry), (None, Some(1)));
    // A file with a position is a usage error; so is a position in no directory.
    assert!(matches!(
        diff_receipts(&format!("{file}@1"), &dir, None),
        Err(DiffError::Usage(_))
    ));
    assert!(matches!(
        diff_receipts("@1", &dir, None),
        Err(DiffError::Usage(_))
    ));
}

#[test]
fn a_receipt_that_is_not_the_one_the_chain_names_is_refused() {
    let t = tempfile::tempdir().unwrap();
    let dir = ledger(t.path(), &[Build::default(), Build::default()]);
    let p = t.path().join("receipts/000001/receipt.json");
    let mut bytes = std::fs::read(&p).unwrap();
    let at = bytes.iter().position(|&b| b == b'1').unwrap();
    bytes[at] = b'2';
    std::fs::write(&p, bytes).unwrap();
    let e = diff_receipts(&format!("{dir}@1"), &dir, None)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("line 1 of chain.head says") && e.contains("cargo receipt verify"),
        "{e}"
    );
}

#[test]
fn a_missing_graph_file_is_a_note_not_a_silent_pass() {
    let t = tempfile::tempdir().unwrap();
    let changed = Build {
        edges: vec![("app@0.1.0".into(), "util@0.3.0".into())],
        ..Build::default()
    };
    let dir = ledger(t.path(), &[Build::default(), changed]);
    std::fs::remove_file(t.path().join("receipts/000002/graph.json")).unwrap();
    let d = diff_receipts(&format!("{dir}@1"), &format!("{dir}@2"), None).unwrap();
    assert!(
        d.notes.iter().any(|n| n.contains("B: no graph")),
        "{:?}",
        d.notes
    );
    assert!(
        d.notes
            .iter()
            .any(|n| n.contains("packages and edges were not compared"))
    );
    // The graph section's digest still differs, and counts.
    assert!(change(&d, "graph.digest").counts);
}

#[test]
fn a_new_dependency_shows_in_packages_edges_tau_and_rank_with_deltas() {
    let t = tempfile::tempdir().unwrap();
    let more = Build {
        edges: vec![
            ("app@0.1.0".into(), "util@0.2.0".into()),
            ("util@0.2.0".into(), "serde@1.0.0".into()),
        ],
        ..Build::default()
    };
    let dir = ledger(t.path(), &[Build::default(), more]);
    let d = diff_receipts(&format!("{dir}@1"), &format!("{dir}@2"), None).unwrap();
    let p = change(&d, "package serde");
    assert_eq!(
        (p.change, p.b.clone()),
        (ChangeKind::Added, json!(["serde@1.0.0"]))
    );
    assert_eq!(
        change(&d, "edge util@0.2.0 -> serde@1.0.0").change,
        ChangeKind::Added
    );
    let tau = change(&d, "tau");
    assert_eq!(tau.section, Section::Fingerprints);
    let (a, b) = (tau.a.as_str().unwrap(), tau.b.as_str().unwrap());
    let want = b.parse::<f64>().unwrap() - a.parse::<f64>().unwrap();
    let got = tau.delta.as_deref().unwrap().parse::<f64>().unwrap();
    assert!((want - got).abs() < 1e-9, "{a} -> {b}: {got}");
    assert_eq!(change(&d, "rank mod 2").delta.as_deref(), Some("+1"));
    assert_eq!(change(&d, "graph.edges").delta.as_deref(), Some("+1"));
}
