//! The build ledger under attack: tampering, crashes at every step, and racing writers.

mod common;

use std::fs;
use std::process::Command;

use common::{failed, ledger_with, record, record_at, show};
use receipt_primitives::Digest;
use receipt_protocol::ledger::{AppendStep, Ledger};
use receipt_protocol::receipt::Receipt;
use receipt_protocol::verify::{Verdict, verify_dir};

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
        f.contains(&("chain.head".into(), Some("chain.head".into()))),
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

const E1: &str = "receipts/000001/receipt.json";
const E2: &str = "receipts/000002/receipt.json";

#[test]
fn the_head_reader_refuses_crlf_tabs_trailing_spaces_and_uppercase() {
    use receipt_protocol::ledger::parse_head;
    let h = Digest::of(b"x").to_hex();
    assert_eq!(
        parse_head(format!("{h} {E1}\n{h} {E2}\n").as_bytes())
            .unwrap()
            .len(),
        2
    );
    for bad in [
        format!("{h} {E1}\r\n"),
        format!("{h}\t{E1}\n"),
        format!("{h} {E1} \n"),
        format!("{h}  {E1}\n"),
        format!("{} {E1}\n", h.to_uppercase()),
        format!("{h} {E1}"),
        format!("{h} /abs/b.json\n"),
        format!("{h} ../b.json\n"),
        format!("{h} {E1}\n\n"),
        format!("{} {E1}\n", &h[1..]),
        // Line N names entry N.
        format!("{h} {E2}\n"),
        format!("{h} {E1}\n{h} {E1}\n"),
        format!("{h} receipt.json\n"),
        format!("\u{feff}{h} {E1}\n"),
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
#[ignore = "child process of a_kill_at_any_step_leaves_a_valid_chain_and_the_next_append_heals, which runs it"]
fn crash_child() {
    let (Ok(dir), Ok(step)) = (
        std::env::var("LEDGER_CRASH_DIR"),
        std::env::var("LEDGER_CRASH_STEP"),
    ) else {
        return;
    };
    let target = STEPS.iter().find(|(n, _)| *n == step).unwrap().1;
    let l = Ledger::create(&dir).unwrap();
    l.append_with(record(3), None, &mut |s| {
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
            .args([
                "--exact",
                "crash_child",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
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
        if step == AppendStep::HeadWritten {
            // The chain has the new entry but the view is one behind: a reader of the
            // view would see another build than the chain's last, so it fails until the
            // next append refreshes it.
            assert_eq!(
                failed(&r),
                [("chain.view".to_owned(), Some("receipt.json".to_owned()))],
                "after a kill at {name}:\n{}",
                show(&r)
            );
        } else {
            assert!(r.ok(), "after a kill at {name}:\n{}", show(&r));
        }
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

/// The writers of the race test build at one instant, so any order of their appends keeps
/// timestamps non-decreasing.
const RACE_TIME: i64 = 1_700_000_000;

/// Runs only as a child of the race test: appends a few records.
#[test]
#[ignore = "child process of parallel_writers_in_several_processes_never_fork_the_chain, which runs it"]
fn race_child() {
    let Ok(dir) = std::env::var("LEDGER_RACE_DIR") else {
        return;
    };
    let l = Ledger::create(&dir).unwrap();
    for i in 0..5 {
        l.append(record_at(100 + i, RACE_TIME)).unwrap();
    }
}

#[test]
fn parallel_writers_in_several_processes_never_fork_the_chain() {
    let t = tempfile::tempdir().unwrap();
    let children: Vec<_> = (0..4)
        .map(|_| {
            Command::new(std::env::current_exe().unwrap())
                .args([
                    "--exact",
                    "race_child",
                    "--ignored",
                    "--nocapture",
                    "--test-threads=1",
                ])
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
                let l = Ledger::create(&dir).unwrap();
                for i in 0..5 {
                    l.append(record_at(200 + 10 * k + i, RACE_TIME)).unwrap();
                }
            });
        }
    });
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    let r = verify_dir(t.path());
    assert!(r.ok(), "{}", show(&r));
    assert_eq!(Ledger::create(t.path()).unwrap().head().unwrap().len(), 35);
}
