//! Hostile and broken inputs: the report reads only what it may, bounded, and says what is
//! wrong instead of failing silently or reading outside the ledger.

#[path = "common/synth.rs"]
mod synth;

use std::fs;
use std::io::Write as _;

use receipt_graph::CanonicalGraph;
use receipt_report::{ReportError, render};

fn small_chain(dir: &std::path::Path) {
    let g = CanonicalGraph::new(Vec::<&str>::new(), [("app@0.1.0", "util@0.2.0")]).unwrap();
    synth::chain(dir, &g, 2, 1);
}

#[test]
fn a_directory_without_a_chain_is_refused_and_left_untouched() {
    let t = tempfile::tempdir().unwrap();
    match render(t.path()) {
        Err(ReportError::NoChain { .. }) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(
        fs::read_dir(t.path()).unwrap().count(),
        0,
        "nothing created"
    );
}

#[test]
fn graph_path_escaping_the_ledger_is_not_followed() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("receipt");
    small_chain(&dir);
    fs::write(t.path().join("secret.json"), "TOP-SECRET-CONTENT").unwrap();
    // Point the latest receipt's graph file outside the ledger.
    let entry = dir.join("receipts/000002/receipt.json");
    let text = fs::read_to_string(&entry).unwrap();
    let evil = text.replace(
        "\"path\":\"graph.json\"",
        "\"path\":\"../../../secret.json\"",
    );
    assert_ne!(text, evil);
    fs::write(&entry, evil).unwrap();
    let page = render(&dir).unwrap();
    assert!(!page.verified, "the tampered receipt fails verification");
    assert!(!page.html.contains("TOP-SECRET-CONTENT"));
    assert!(
        page.html.contains("has a `..` component"),
        "the page says why the graph is not drawn"
    );
}

#[test]
fn a_symlinked_graph_file_is_not_followed() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("receipt");
    small_chain(&dir);
    let graph = dir.join("receipts/000002/graph.json");
    let outside = t.path().join("outside.json");
    fs::rename(&graph, &outside).unwrap();
    std::os::unix::fs::symlink(&outside, &graph).unwrap();
    let page = render(&dir).unwrap();
    assert!(
        page.html
            .contains("is reached through the symbolic link receipts/000002/graph.json"),
        "symlink refused"
    );
    assert!(!page.html.contains("<svg class=\"graph\""));
}

#[test]
fn an_unreadable_entry_is_shown_as_such_and_the_rest_still_renders() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("receipt");
    small_chain(&dir);
    fs::write(dir.join("receipts/000001/receipt.json"), "{not json").unwrap();
    let page = render(&dir).unwrap();
    assert!(!page.verified);
    assert!(
        page.html
            .contains("<span class=\"v v-FAIL\">unreadable</span>")
    );
    assert!(
        page.html.contains("<svg class=\"graph\""),
        "the latest still draws"
    );
    assert!(page.html.contains("<span class=\"v v-FAIL\">FAIL</span>"));
}

#[test]
fn a_fifo_is_not_opened() {
    let t = tempfile::tempdir().unwrap();
    let fifo = t.path().join("run.jsonl");
    let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    match render(&fifo) {
        Err(ReportError::Read(e)) if e.to_string().contains("is a FIFO") => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_long_line_after_valid_entries_is_refused_with_its_number() {
    let t = tempfile::tempdir().unwrap();
    let path = t.path().join("run.jsonl");
    synth::run(&path, 60);
    let mut f = fs::OpenOptions::new().append(true).open(&path).unwrap();
    let chunk = vec![b'a'; 1 << 20];
    for _ in 0..65 {
        f.write_all(&chunk).unwrap();
    }
    drop(f);
    let lines = fs::read(&path)
        .unwrap()
        .iter()
        .filter(|&&b| b == b'\n')
        .count() as u64;
    match render(&path) {
        Err(ReportError::LineTooLong { line, .. }) => assert_eq!(line, lines + 1),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_torn_last_line_stops_the_chart_and_fails_verification() {
    let t = tempfile::tempdir().unwrap();
    let path = t.path().join("run.jsonl");
    synth::run(&path, 60);
    let mut bytes = fs::read(&path).unwrap();
    bytes.truncate(bytes.len() - 10);
    fs::write(&path, bytes).unwrap();
    let page = render(&path).unwrap();
    assert!(!page.verified);
    assert!(page.html.contains("has no final newline (a torn write)"));
    assert!(page.html.contains("<svg class=\"flame\""));
}
