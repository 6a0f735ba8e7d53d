//! What a verifier refuses to be made to do: read a line without end, block on a FIFO,
//! read a device, or create or change any file. Its own test binary, so that the peak
//! memory measured is this test's alone.

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use common::{copy_run, run_pipeline};
use receipt_runtime::Durability;
use receipt_runtime::ledger::{head_path, receipt_path};
use receipt_runtime::verify::{CheckId, MAX_LINE_BYTES, Verdict, verify_run};

/// The peak resident set size of this process so far, in bytes.
fn peak_rss() -> u64 {
    // SAFETY: `getrusage` writes one `rusage` into the zeroed struct passed to it.
    let usage = unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        assert_eq!(libc::getrusage(libc::RUSAGE_SELF, &mut u), 0);
        u
    };
    // Kilobytes on Linux.
    u64::try_from(usage.ru_maxrss).unwrap() * 1024
}

/// A file of `len` zero bytes (a hole: nothing is written to the disk), then `tail`.
fn sparse(path: &Path, len: u64, tail: &[u8]) {
    use std::io::{Seek, SeekFrom, Write};
    let mut f = std::fs::File::create(path).unwrap();
    f.set_len(len).unwrap();
    f.seek(SeekFrom::End(0)).unwrap();
    f.write_all(tail).unwrap();
}

fn refused_as_long(ledger: &Path, line_no: u64) {
    let report = verify_run(ledger, None);
    let read = report.check(CheckId::LedgerRead).unwrap();
    assert_eq!(read.verdict, Verdict::Unknown, "{report}");
    let name = ledger.display().to_string();
    assert!(
        read.detail.contains(&name)
            && read.detail.contains(&format!("line {line_no} "))
            && read.detail.contains("64 MiB"),
        "{}",
        read.detail
    );
    assert!(!report.ok());
    for c in &report.report.checks {
        assert_ne!(c.verdict, Verdict::Pass, "{}: {}", c.id, c.detail);
    }
}

/// The 100 MB single line of the attack, then a 1 GiB one: each is refused once 64 MiB of
/// it have been read, and the process never holds more than a few times the limit
/// (reading either whole would take its whole length).
#[test]
fn one_100_mb_line_is_refused_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("long.jsonl");
    sparse(&ledger, 100_000_000, b"");
    refused_as_long(&ledger, 1);
    sparse(&ledger, 1 << 30, b"\n");
    refused_as_long(&ledger, 1);
    let peak = peak_rss();
    eprintln!("peak RSS after refusing a 1 GiB line: {} MiB", peak >> 20);
    assert!(
        peak < 4 * MAX_LINE_BYTES,
        "peak RSS {peak} bytes for a 1 GiB line"
    );

    // A line just over the limit whose newline comes in the same read: refused too, after
    // the lines before it were checked.
    let before = b"{}\n";
    let mut text = before.to_vec();
    text.resize(
        before.len() + usize::try_from(MAX_LINE_BYTES).unwrap() + 1,
        b' ',
    );
    text.extend_from_slice(b"\n{}\n");
    std::fs::write(&ledger, &text).unwrap();
    refused_as_long(&ledger, 2);

    // A line of exactly the limit is read and judged (here: not an entry).
    text.truncate(before.len() + usize::try_from(MAX_LINE_BYTES).unwrap());
    text.extend_from_slice(b"\n");
    std::fs::write(&ledger, &text).unwrap();
    let report = verify_run(&ledger, None);
    assert_eq!(
        report.check(CheckId::LedgerRead).unwrap().verdict,
        Verdict::Pass,
        "{report}"
    );
    assert_eq!(
        report.check(CheckId::LedgerParse).unwrap().verdict,
        Verdict::Unknown
    );
}

fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: `c` is a NUL-terminated path that outlives the call.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
}

/// A FIFO or a device where the ledger, its head or its receipt should be is refused as
/// not a regular file, without blocking and without reading it.
#[test]
fn fifo_or_device_in_place_of_a_run_file_does_not_hang_the_verifier() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_pipeline(dir.path(), "run.jsonl", Durability::OnFinalize);

    let t = copy_run(&out.ledger, "fifo-head.jsonl");
    std::fs::remove_file(head_path(&t)).unwrap();
    mkfifo(&head_path(&t));
    std::fs::remove_file(receipt_path(&t)).unwrap();
    std::os::unix::fs::symlink("/dev/zero", receipt_path(&t)).unwrap();
    let report = verify_run(&t, None);
    let head = report.check(CheckId::LedgerHead).unwrap();
    assert_eq!(head.verdict, Verdict::Warn, "{report}");
    assert!(
        head.detail.contains("not a regular file"),
        "{}",
        head.detail
    );
    let receipt = report.check(CheckId::ReceiptRead).unwrap();
    assert_eq!(receipt.verdict, Verdict::Unknown, "{report}");
    assert!(
        receipt.detail.contains("not a regular file"),
        "{}",
        receipt.detail
    );

    let fifo = dir.path().join("fifo.jsonl");
    mkfifo(&fifo);
    let report = verify_run(&fifo, None);
    let read = report.check(CheckId::LedgerRead).unwrap();
    assert_eq!(read.verdict, Verdict::Unknown, "{report}");
    assert!(
        read.detail.contains("not a regular file"),
        "{}",
        read.detail
    );
}

/// Every file under `dir` with its size, modification time and contents.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (u64, i64, i64, Vec<u8>)> {
    let mut all = BTreeMap::new();
    let mut todo = vec![dir.to_owned()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let m = std::fs::symlink_metadata(&p).unwrap();
            if m.is_dir() {
                todo.push(p.clone());
            }
            let bytes = if m.is_file() {
                std::fs::read(&p).unwrap()
            } else {
                Vec::new()
            };
            all.insert(p, (m.len(), m.mtime(), m.mtime_nsec(), bytes));
        }
    }
    all
}

/// Verifying creates no file or directory and changes none: not for a good run, a
/// tampered one, one without head or receipt, nor a ledger that does not exist.
#[test]
fn verification_creates_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_pipeline(dir.path(), "run.jsonl", Durability::Always);
    let tampered = copy_run(&out.ledger, "tampered.jsonl");
    let mut bytes = std::fs::read(&tampered).unwrap();
    let last = bytes.len() - 10;
    bytes[last] ^= 1;
    std::fs::write(&tampered, bytes).unwrap();
    let bare = copy_run(&out.ledger, "bare.jsonl");
    std::fs::remove_file(head_path(&bare)).unwrap();
    std::fs::remove_file(receipt_path(&bare)).unwrap();
    let missing = dir.path().join("no-such-dir").join("run.jsonl");

    let before = snapshot(dir.path());
    assert!(verify_run(&out.ledger, None).ok());
    for ledger in [&tampered, &bare, &missing] {
        assert!(!verify_run(ledger, None).ok());
    }
    assert!(!verify_run(&out.ledger, Some(&dir.path().join("none.json"))).ok());
    assert_eq!(snapshot(dir.path()), before);
    assert!(!dir.path().join("no-such-dir").exists());
}

/// Recovery reads a ledger within the same line limit: one line without end is damage it
/// refuses to touch, not a torn write to cut off.
#[test]
fn recovery_refuses_a_line_without_end_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("long.jsonl");
    sparse(&ledger, 100_000_000, b"");
    let err = receipt_runtime::ledger::recover(&ledger).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("long.jsonl") && msg.contains("64 MiB") && msg.contains("byte 0"),
        "{msg}"
    );
    assert_eq!(std::fs::metadata(&ledger).unwrap().len(), 100_000_000);
}
