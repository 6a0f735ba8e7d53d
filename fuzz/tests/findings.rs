//! One regression test per fuzzing finding (see `fuzz/README.md`), named after it; each
//! fails on the parser as it was before its fix.

use receipt_primitives::jcs;
use receipt_runtime::entry::{self, LineError, genesis};
use receipt_runtime::fuzzing::LineChecker;
use receipt_runtime::receipt::PayloadView;

const RUN: &str = "0123456789abcdef0123456789abcdef";

/// A sealed ledger line (without its newline) with this payload text.
fn sealed(kind_: &str, stage: Option<&str>, payload: &[u8]) -> Vec<u8> {
    let mut line = entry::seal_bytes(1, &genesis(RUN), RUN, kind_, stage, payload).line;
    line.pop();
    line
}

#[test]
fn git_index_huge_entry_count_does_not_abort() {
    // A version-2 header claiming 2^32 - 1 entries, then only a checksum: the reader
    // reserved room for every claimed entry and the allocation failure aborted the process.
    let mut index = b"DIRC\0\0\0\x02\xff\xff\xff\xff".to_vec();
    index.extend_from_slice(&[0u8; 20]);
    assert_eq!(
        receipt_scan::fuzzing::index_tracked_paths(&index, "", 20),
        None
    );
    assert!(receipt_scan::fuzzing::index_large_files(&index, "", 0).is_empty());
}

#[test]
fn lakefile_toml_empty_lean_exe_name_is_an_error_not_a_panic() {
    let err =
        lake_bridge::config::parse_toml("lakefile.toml", b"[[lean_exe]]\nname = \"\"\n".to_vec())
            .expect_err("an empty executable name is refused");
    let msg = err.to_string();
    assert!(
        msg.contains("lakefile.toml") && msg.contains("lean_exe[0].name"),
        "{msg}"
    );
}

#[test]
fn lakefile_lean_empty_string_target_name_is_skipped_not_a_panic() {
    for kw in ["lean_exe", "lean_lib"] {
        let text = format!("import Lake\nopen Lake DSL\npackage demo\n{kw} \"\" where\n");
        let cfg = lake_bridge::config::scan_lean("lakefile.lean", text.as_bytes())
            .expect("the rest of the file is read");
        assert!(cfg.exes.is_empty() && cfg.libs.is_empty(), "{cfg:?}");
        assert!(
            cfg.notes
                .iter()
                .any(|n| n.contains("without a literal name")),
            "{:?}",
            cfg.notes
        );
    }
}

#[test]
fn run_ledger_non_utf8_string_is_not_canonical() {
    // Invalid UTF-8 inside a string value (long enough for the sixteen-byte skip, and short):
    // the fast path called the line canonical JSON, which it is not (it is not JSON).
    for filler in ["", "0123456789abcdef0123456789abcdef"] {
        for bad in [&b"\xff"[..], b"\xc0\x80", b"\xed\xa0\x80", b"\xe2\x82"] {
            let mut payload = format!("{{\"id\":0,\"note\":\"{filler}").into_bytes();
            payload.extend_from_slice(bad);
            payload.extend_from_slice(format!("{filler}\"}}").as_bytes());
            let line = sealed("EVENT", Some("s"), &payload);
            assert!(!jcs::is_canonical(&line));
            // A fresh checker scans; a warm one has the valid line's skeleton.
            let mut warm = LineChecker::new();
            let valid = sealed(
                "EVENT",
                Some("s"),
                format!("{{\"id\":0,\"note\":\"{filler}a{filler}\"}}").as_bytes(),
            );
            assert_eq!(warm.form(&valid), Some(true));
            assert_eq!(warm.form(&valid), Some(true));
            assert_ne!(
                LineChecker::new().form(&line),
                Some(true),
                "{}",
                line.escape_ascii()
            );
            assert_ne!(warm.form(&line), Some(true), "{}", line.escape_ascii());
            assert!(
                matches!(entry::parse_raw(&line), Err(LineError::NotJson(_))),
                "{}",
                line.escape_ascii()
            );
        }
    }
    // Well-formed non-ASCII text is still canonical on the fast path.
    let line = sealed(
        "EVENT",
        Some("s"),
        "{\"note\":\"é \u{1F600} \u{202e}\"}".as_bytes(),
    );
    assert!(jcs::is_canonical(&line));
    assert_eq!(LineChecker::new().form(&line), Some(true));
}

#[test]
fn run_ledger_invalid_utf8_is_not_json() {
    // Refused as "not canonical" (a FAIL) although it is not JSON at all (UNKNOWN): the
    // well-formedness test skipped strings without decoding them, so a line that is not
    // canonical for another reason and has invalid UTF-8 in a string was called JSON.
    let mut top = sealed("EVENT", Some("s"), b"{\"id\":0}");
    top.insert(2, 0xff); // {"\xffhash":…
    let inner = sealed("EVENT", Some("s"), b"{\"\xffid\":0}");
    // Not canonical for another reason too (a space), invalid UTF-8 in a value.
    let mut spaced = sealed("EVENT", Some("s"), b"{\"note\":\"a\xffb\"}");
    spaced.insert(1, b' ');
    for line in [top, inner, spaced] {
        assert!(
            matches!(entry::parse_raw(&line), Err(LineError::NotJson(_))),
            "{:?}",
            entry::parse_raw(&line)
        );
    }
}

#[test]
fn run_ledger_lone_surrogate_escape_is_not_json() {
    for payload in [&b"{\"\\ud800id\":0}"[..], b"{\"id\":\"\\udc00\"}"] {
        let line = sealed("EVENT", Some("s"), payload);
        assert!(serde_json::from_slice::<serde_json::Value>(&line).is_err());
        assert!(
            matches!(entry::parse_raw(&line), Err(LineError::NotJson(_))),
            "{:?}",
            entry::parse_raw(&line)
        );
    }
    // A line that is JSON in another spelling is still "not canonical".
    let line = sealed("EVENT", Some("s"), b"{\"id\":1.0}");
    assert_eq!(entry::parse_raw(&line).err(), Some(LineError::NotCanonical));
}

#[test]
fn run_ledger_null_run_field_in_stage_payload_reads_as_general() {
    // A stage payload with `"program":null`: the positional reader reported empty run
    // fields where the general reader reports none.
    let line = sealed(
        "STAGE_EXIT",
        Some("s"),
        b"{\"depth\":0,\"id\":0,\"outcome\":\"ok\",\"output\":null,\"program\":null,\"wall_ns\":5}",
    );
    let mut checker = LineChecker::new();
    let (raw, quick) = checker.entry(&line).expect("a valid line");
    let quick = quick.expect("read positionally");
    let general = PayloadView::parse(raw.payload).expect("a valid payload");
    assert_eq!(format!("{quick:?}"), format!("{general:?}"));
    assert!(quick.run.is_none());
}

#[test]
fn git_index_unknown_extended_flag_is_left_to_git() {
    // A version-3 entry whose extended flags word has a bit git does not know: git refuses
    // the whole index ("unknown index entry format"), the reader listed it.
    let index = receipt_fuzz::corpus::seeds("git-index")
        .into_iter()
        .find(|s| s.get(4..8) == Some(b"\0\0\0\x03"))
        .expect("a version-3 seed");
    assert!(receipt_scan::fuzzing::index_tracked_paths(&index, "", 20).is_some());
    let name = index
        .windows(b"later.txt".len())
        .position(|w| w == b"later.txt")
        .expect("the intent-to-add entry");
    // The flags word, then the extended one, then the name.
    assert_eq!(index[name - 4] & 0x40, 0x40, "the entry has extended flags");
    for bit in [0x0001u16, 0x0100, 0x8000] {
        let mut bad = index.clone();
        let w = u16::from_be_bytes([bad[name - 2], bad[name - 1]]) | bit;
        bad[name - 2..name].copy_from_slice(&w.to_be_bytes());
        assert_eq!(
            receipt_scan::fuzzing::index_tracked_paths(&bad, "", 20),
            None,
            "bit {bit:#x}"
        );
    }
}

#[test]
fn receipt_without_a_null_member_is_refused() {
    use receipt_protocol::receipt::{Receipt, ReceiptError};
    let seed = receipt_fuzz::corpus::seeds("receipt").remove(0);
    let mut r = Receipt::parse(&seed).expect("a real receipt");
    r.prev = None;
    let with_null = r.to_bytes().expect("serializes");
    assert_eq!(Receipt::parse(&with_null).expect("parses"), r);
    let text = String::from_utf8(with_null).expect("UTF-8");
    let without = text.replacen("\"prev\":null,", "", 1);
    assert_ne!(without, text);
    assert!(
        jcs::is_canonical(without.as_bytes()),
        "still canonical JSON"
    );
    assert!(matches!(
        Receipt::parse(without.as_bytes()),
        Err(ReceiptError::MissingMember)
    ));
}

#[test]
fn git_index_header_longer_than_its_body_does_not_panic() {
    // 23 bytes: a header claiming no entries and most of a checksum. Without the checksum
    // the body is 3 bytes, shorter than the header; reading extensions after the (empty)
    // entries sliced past its end and panicked.
    let index = b"DIRC\0\0\0\x02\0\0\0\0\x02\0\0\x02\0\0\0\x08k\x15\xd6";
    for hash_len in [20, 32] {
        assert_eq!(
            receipt_scan::fuzzing::index_tracked_paths(index, "", hash_len),
            None
        );
    }
    assert!(receipt_scan::fuzzing::index_large_files(index, "", 0).is_empty());
    // A header with no entries followed by a whole checksum is an empty index.
    let mut empty = b"DIRC\0\0\0\x02\0\0\0\0".to_vec();
    empty.extend_from_slice(&[0u8; 20]);
    assert_eq!(
        receipt_scan::fuzzing::index_tracked_paths(&empty, "", 20),
        Some(Vec::new())
    );
}

#[test]
fn git_index_extension_not_starting_uppercase_is_left_to_git() {
    // An empty version-4 index followed by an extension whose signature is four NULs: git
    // refuses it ("index uses … extension, which we do not understand"; only a signature
    // starting with `A`–`Z` is optional), the reader listed no paths from it.
    for signature in [&b"\0\0\0\0"[..], b"1abc", b"_EXT", b"\xffEXT", b"link"] {
        let mut index = b"DIRC\0\0\0\x04\0\0\0\0".to_vec();
        index.extend_from_slice(signature);
        index.extend_from_slice(&[0, 0, 0, 0]);
        index.extend_from_slice(&[0u8; 20]);
        assert_eq!(
            receipt_scan::fuzzing::index_tracked_paths(&index, "", 20),
            None,
            "{}",
            signature.escape_ascii()
        );
    }
    // An optional extension (uppercase first letter) is skipped, as git does.
    let mut index = b"DIRC\0\0\0\x04\0\0\0\0TREE\0\0\0\0".to_vec();
    index.extend_from_slice(&[0u8; 20]);
    assert_eq!(
        receipt_scan::fuzzing::index_tracked_paths(&index, "", 20),
        Some(Vec::new())
    );
}
