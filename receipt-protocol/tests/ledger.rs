//! The build ledger under attack: tampering, crashes at every step, and racing writers.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::Command;

use receipt_graph::{CanonicalGraph, TauSeed, rank, tau};
use receipt_primitives::{Digest, Timestamp, jcs};
use receipt_protocol::ledger::{AppendStep, BuildRecord, Ledger};
use receipt_protocol::manifest::Manifest;
use receipt_protocol::receipt::{GraphSummary, RECEIPT_SCHEMA, Receipt, Reflective, Section, Work};
use receipt_protocol::verify::{Report, Verdict, verify_dir};

fn record(n: u64) -> BuildRecord {
    // A small real graph, different for each build, with its real fingerprint.
    let edges: Vec<(String, String)> = (0..=n % 4 + 1)
        .map(|i| (format!("pkg{i}@1.0.{n}"), format!("pkg{}@1.0.{n}", i + 1)))
        .collect();
    let g = CanonicalGraph::new(Vec::<String>::new(), edges).unwrap();
    let graph = g.to_json_bytes();
    let ingress = serde_json::json!({ "args": ["build", n.to_string()] });
    let manifest = Manifest {
        producer: "ledger-test 1.0".into(),
        ingress_preimage_sha256: Some(jcs::sha256(&ingress).unwrap()),
        timestamp: Timestamp::from_unix(1_700_000_000 + n as i64).unwrap(),
        merkle_root: Digest::of(&n.to_be_bytes()),
    };
    let (ts, root) = (
        manifest.timestamp.to_string(),
        manifest.merkle_root.to_hex(),
    );
    let seed = TauSeed {
        producer: &manifest.producer,
        timestamp: &ts,
        merkle_root: &root,
    };
    let receipt = Receipt {
        schema: RECEIPT_SCHEMA.into(),
        kind: "cargo".into(),
        producer: String::new(),
        manifest_sha256: Digest::default(),
        reflective: Reflective {
            merkle_root: Digest::default(),
        },
        prev: None,
        source: Section::unavailable("not recorded by this test"),
        ingress: Section::Available(ingress),
        graph: Section::Available(GraphSummary {
            kind: "cargo".into(),
            nodes: g.node_count() as u64,
            edges: g.edge_count() as u64,
            digest: Digest::of(&graph),
            path: "graph.json".into(),
        }),
        tau: Section::Available(serde_json::to_value(tau(&g, &seed)).unwrap()),
        rank: Section::Available(serde_json::to_value(rank(&g)).unwrap()),
        work: Section::Available(Work {
            status: "success".into(),
            exit_code: Some(0),
            wall_ms: n,
            cpu_ms: None,
            peak_rss_kb: None,
        }),
        artifacts: Section::unavailable("not recorded by this test"),
        extensions: BTreeMap::new(),
    };
    BuildRecord {
        manifest,
        receipt,
        graph_json: Some(graph),
    }
}

fn ledger_with(dir: &Path, n: u64) -> Ledger {
    let l = Ledger::open(dir).unwrap();
    for i in 1..=n {
        l.append(record(i)).unwrap();
    }
    l
}

fn show(r: &Report) -> String {
    r.checks.iter().map(|c| format!("{c}\n")).collect()
}

/// The failures of a report, as (check name, file).
fn failed(r: &Report) -> Vec<(String, Option<String>)> {
    r.failures()
        .map(|c| (c.id.as_str().to_owned(), c.file.clone()))
        .collect()
}

#[test]
fn a_fresh_chain_verifies_with_every_check_passing() {
    let t = tempfile::tempdir().unwrap();
    let l = ledger_with(t.path(), 3);
    let r = verify_dir(t.path());
    assert!(r.ok(), "{}", show(&r));
    assert!(
        r.checks.iter().all(|c| c.verdict == Verdict::Pass),
        "{}",
        show(&r)
    );
    for name in [
        "chain.head",
        "chain.head_hash",
        "chain.receipt_form",
        "chain.prev_links",
        "manifest.grammar",
        "manifest.binding",
        "manifest.merkle_root",
        "manifest.ingress",
        "graph.digest",
        "graph.form",
        "graph.tau",
        "graph.rank",
        "chain.view",
    ] {
        assert!(
            r.checks.iter().any(|c| c.id.as_str() == name),
            "no {name} check"
        );
    }
    let head = l.head().unwrap();
    assert_eq!(head.len(), 3);
    let last = Receipt::parse(&fs::read(t.path().join(&head[2].path)).unwrap()).unwrap();
    let prev = last.prev.unwrap();
    assert_eq!(
        (prev.sha256, prev.path.as_str()),
        (head[1].sha256, head[1].path.as_str())
    );
    let first = Receipt::parse(&fs::read(t.path().join(&head[0].path)).unwrap()).unwrap();
    assert!(first.prev.is_none());
}

#[test]
fn flipping_any_byte_of_manifest_receipt_or_head_fails_verification() {
    let t = tempfile::tempdir().unwrap();
    ledger_with(t.path(), 2);
    let files = [
        "chain.head",
        "receipts/000002/manifest.json",
        "receipts/000002/receipt.json",
        "receipts/000002/graph.json",
        "receipts/000001/receipt.json",
        "receipts/000001/manifest.json",
        "manifest.json",
        "receipt.json",
        "graph.json",
    ];
    let mut flips = 0;
    for f in files {
        let p = t.path().join(f);
        let orig = fs::read(&p).unwrap();
        for i in 0..orig.len() {
            // One bit per byte, a different one at each position, so every bit is flipped
            // somewhere in each file.
            {
                let bit = 1u8 << (i % 8);
                let mut b = orig.clone();
                b[i] ^= bit;
                fs::write(&p, &b).unwrap();
                let r = verify_dir(t.path());
                assert!(
                    !r.ok(),
                    "flipping bit {bit:#x} of byte {i} of {f} went unnoticed"
                );
                assert!(
                    r.failures().any(|c| c.file.is_some()),
                    "the failure names no file:\n{}",
                    show(&r)
                );
                flips += 1;
            }
        }
        fs::write(&p, &orig).unwrap();
        assert!(verify_dir(t.path()).ok());
    }
    assert!(flips > 2000, "{flips}");
}

#[test]
fn deleting_the_last_head_line_is_detected_and_names_the_file() {
    let t = tempfile::tempdir().unwrap();
    ledger_with(t.path(), 3);
    let head = t.path().join("chain.head");
    let text = fs::read_to_string(&head).unwrap();
    let kept: String = text.lines().take(2).map(|l| format!("{l}\n")).collect();
    fs::write(&head, kept).unwrap();
    let r = verify_dir(t.path());
    assert!(!r.ok());
    assert!(
        failed(&r).contains(&("chain.view".into(), Some("receipt.json".into()))),
        "{}",
        show(&r)
    );
}

#[test]
fn reordering_two_head_lines_is_detected() {
    let t = tempfile::tempdir().unwrap();
    ledger_with(t.path(), 3);
    let head = t.path().join("chain.head");
    let text = fs::read_to_string(&head).unwrap();
    let l: Vec<&str> = text.lines().collect();
    fs::write(&head, format!("{}\n{}\n{}\n", l[1], l[0], l[2])).unwrap();
    let r = verify_dir(t.path());
    assert!(!r.ok());
    let f = failed(&r);
    assert!(
        f.contains(&(
            "chain.prev_links".into(),
            Some("receipts/000002/receipt.json".into())
        )),
        "{}",
        show(&r)
    );
}

#[test]
fn replacing_a_receipt_with_an_older_one_is_detected() {
    let t = tempfile::tempdir().unwrap();
    ledger_with(t.path(), 3);
    fs::copy(
        t.path().join("receipts/000001/receipt.json"),
        t.path().join("receipts/000002/receipt.json"),
    )
    .unwrap();
    let r = verify_dir(t.path());
    assert!(!r.ok());
    assert!(
        failed(&r).contains(&(
            "chain.head_hash".into(),
            Some("receipts/000002/receipt.json".into())
        )),
        "{}",
        show(&r)
    );
}

#[test]
fn a_missing_file_is_a_failure_never_a_pass() {
    let t = tempfile::tempdir().unwrap();
    ledger_with(t.path(), 2);
    fs::remove_file(t.path().join("receipts/000001/manifest.json")).unwrap();
    let r = verify_dir(t.path());
    assert!(!r.ok());
    assert!(r.checks.iter().any(|c| c.verdict == Verdict::Unknown
        && c.file.as_deref() == Some("receipts/000001/manifest.json")));
    fs::remove_file(t.path().join("chain.head")).unwrap();
    let r = verify_dir(t.path());
    assert!(!r.ok());
    assert_eq!(r.checks[0].verdict, Verdict::Unknown);
}

#[test]
fn the_head_reader_refuses_crlf_tabs_trailing_spaces_and_uppercase() {
    use receipt_protocol::ledger::parse_head;
    let h = Digest::of(b"x").to_hex();
    assert_eq!(
        parse_head(format!("{h} a/b.json\n").as_bytes())
            .unwrap()
            .len(),
        1
    );
    for bad in [
        format!("{h} a/b.json\r\n"),
        format!("{h}\ta/b.json\n"),
        format!("{h} a/b.json \n"),
        format!("{h}  a/b.json\n"),
        format!("{} a/b.json\n", h.to_uppercase()),
        format!("{h} a/b.json"),
        format!("{h} /abs/b.json\n"),
        format!("{h} ../b.json\n"),
        format!("{h} a/b.json\n\n"),
        format!("{} a/b.json\n", &h[1..]),
    ] {
        assert!(parse_head(bad.as_bytes()).is_err(), "{bad:?}");
    }
}

#[test]
fn an_inconsistent_record_is_refused_before_anything_is_written() {
    let t = tempfile::tempdir().unwrap();
    let l = ledger_with(t.path(), 1);
    let before = fs::read(t.path().join("chain.head")).unwrap();
    let mut r = record(2);
    r.graph_json = Some(b"other".to_vec());
    assert!(l.append(r).is_err());
    let mut r = record(2);
    r.manifest.ingress_preimage_sha256 = Some(Digest::of(b"not it"));
    assert!(l.append(r).is_err());
    assert_eq!(fs::read(t.path().join("chain.head")).unwrap(), before);
    assert!(!t.path().join("receipts/000002").exists());
    assert!(verify_dir(t.path()).ok());
}

const STEPS: [(&str, AppendStep); 5] = [
    ("locked", AppendStep::Locked),
    ("entry-written", AppendStep::EntryWritten),
    ("entry-renamed", AppendStep::EntryRenamed),
    ("head-written", AppendStep::HeadWritten),
    ("view-written", AppendStep::ViewWritten),
];

/// Runs only as a child of the crash test: appends, and kills itself with SIGKILL at the
/// step named in the environment.
#[test]
fn crash_child() {
    let (Ok(dir), Ok(step)) = (
        std::env::var("LEDGER_CRASH_DIR"),
        std::env::var("LEDGER_CRASH_STEP"),
    ) else {
        return;
    };
    let target = STEPS.iter().find(|(n, _)| *n == step).unwrap().1;
    let l = Ledger::open(&dir).unwrap();
    l.append_with(record(3), &mut |s| {
        if s == target {
            // SAFETY: plain libc calls with valid arguments.
            unsafe {
                libc::kill(libc::getpid(), libc::SIGKILL);
            }
        }
    })
    .unwrap();
}

#[test]
fn a_kill_at_any_step_leaves_a_valid_chain_and_the_next_append_heals() {
    use std::os::unix::process::ExitStatusExt;
    for (name, step) in STEPS {
        let t = tempfile::tempdir().unwrap();
        let l = ledger_with(t.path(), 2);
        let status = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
            .env("LEDGER_CRASH_DIR", t.path())
            .env("LEDGER_CRASH_STEP", name)
            .status()
            .unwrap();
        assert_eq!(
            status.signal(),
            Some(libc::SIGKILL),
            "child at {name}: {status:?}"
        );
        let r = verify_dir(t.path());
        assert!(r.ok(), "after a kill at {name}:\n{}", show(&r));
        let committed = matches!(step, AppendStep::HeadWritten | AppendStep::ViewWritten);
        assert_eq!(
            l.head().unwrap().len(),
            if committed { 3 } else { 2 },
            "{name}"
        );
        // The next writer carries on, and leaves no warning behind.
        l.append(record(4)).unwrap();
        let r = verify_dir(t.path());
        assert!(r.ok(), "{}", show(&r));
        assert!(
            r.checks.iter().all(|c| c.verdict == Verdict::Pass),
            "after {name} and one more append:\n{}",
            show(&r)
        );
    }
}

/// Runs only as a child of the race test: appends a few records.
#[test]
fn race_child() {
    let Ok(dir) = std::env::var("LEDGER_RACE_DIR") else {
        return;
    };
    let l = Ledger::open(&dir).unwrap();
    for i in 0..5 {
        l.append(record(100 + i)).unwrap();
    }
}

#[test]
fn parallel_writers_in_several_processes_never_fork_the_chain() {
    let t = tempfile::tempdir().unwrap();
    let children: Vec<_> = (0..4)
        .map(|_| {
            Command::new(std::env::current_exe().unwrap())
                .args(["--exact", "race_child", "--nocapture", "--test-threads=1"])
                .env("LEDGER_RACE_DIR", t.path())
                .spawn()
                .unwrap()
        })
        .collect();
    // Writers in this process too, on their own file handles.
    std::thread::scope(|s| {
        for k in 0..3 {
            let dir = t.path().to_owned();
            s.spawn(move || {
                let l = Ledger::open(&dir).unwrap();
                for i in 0..5 {
                    l.append(record(200 + 10 * k + i)).unwrap();
                }
            });
        }
    });
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    let r = verify_dir(t.path());
    assert!(r.ok(), "{}", show(&r));
    assert_eq!(Ledger::open(t.path()).unwrap().head().unwrap().len(), 35);
}
