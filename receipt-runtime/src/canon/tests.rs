//! Tests of the scan against the full canonicalizer, and of the skeleton cache against the scan.

use super::scan::{digit_run, key_before, skip_plain_run, skip_plain_words};
use super::skeleton::same;
use super::*;

use crate::entry::{canonical, genesis, kind, seal_bytes};
use proptest::prelude::*;
use serde_json::{Value, json};

/// What a check tells a caller: the result and, for an accepted line, its layout.
fn outcome(found: Option<bool>, l: &Layout) -> String {
    match found {
        Some(true) => format!("{found:?} {:?} {:?} {}", l.top(), l.payload(), l.overflow),
        _ => format!("{found:?}"),
    }
}

/// Checks `line` with the reused `warm` layout (skeletons and all) and by a full scan
/// with a fresh one, which must agree; returns whether the line was accepted.
fn agree(warm: &mut Layout, line: &[u8]) -> bool {
    let mut fresh = Layout::default();
    let want = scan(line, &mut fresh);
    let got = check_layout(line, warm);
    assert_eq!(
        outcome(got, warm),
        outcome(want, &fresh),
        "{}",
        String::from_utf8_lossy(line)
    );
    got == Some(true)
}

/// A ledger line (without its newline) as the writer seals it.
fn line(seq: u64, kind_: &str, stage: Option<&str>, payload: &Value) -> Vec<u8> {
    let payload = canonical(payload).unwrap();
    let run = "0123456789abcdef0123456789abcdef";
    let mut l = seal_bytes(seq, &genesis(run), run, kind_, stage, &payload).line;
    l.pop();
    l
}

fn enter(seq: u64, id: u64, input: Option<&str>, parent: Option<u64>) -> Vec<u8> {
    let payload = json!({"args": ["x"], "depth": u64::from(parent.is_some()), "id": id,
        "input": input, "parent": parent, "t_ns": 58_279 * seq, "thread": 0});
    line(seq, kind::STAGE_ENTER, Some("work"), &payload)
}

fn exit(seq: u64, id: u64, output: Option<&str>) -> Vec<u8> {
    let payload = json!({"alloc_bytes": null, "cpu_ns": 1583 + seq, "depth": 0, "id": id,
        "io_read_bytes": null, "io_write_bytes": null, "outcome": "ok", "output": output,
        "peak_rss_kb": 6644, "t_ns": 67_667 * seq, "thread": 0, "wall_ns": 9388});
    line(seq, kind::STAGE_EXIT, Some("work"), &payload)
}

/// A short ledger: a run start, stage entries and exits (some with escaped strings),
/// an event with an escaped, non-ASCII message.
fn ledger() -> Vec<Vec<u8>> {
    let start = json!({"argc": 3, "durability": "on_finalize", "graph": {"after": {}},
        "host": {"arch": "x86_64", "cpus": 2, "os": "linux", "pid": 3533},
        "sample_io": false, "unmeasured": {"io": "I/O sampling is off"}});
    let event = json!({"fields": {"message": "na\u{ef}ve \"quoted\"\n\u{1}"},
        "level": "INFO", "stage_id": 3, "t_ns": 8, "target": "t", "thread": 0});
    vec![
        line(0, kind::RUN_START, None, &start),
        enter(1, 0, None, None),
        exit(2, 0, None),
        enter(3, 1, Some("in"), Some(0)),
        line(4, kind::EVENT, Some("work"), &event),
        exit(5, 1, Some("a\"b")),
        enter(6, 12_345, None, None),
        exit(7, 9_007_199_254_740_992, Some("")),
    ]
}

/// Spans of the scalar tokens of `l` outside keys: (start, end, is a string).
fn tokens(l: &[u8]) -> Vec<(usize, usize, bool)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < l.len() {
        let start = i;
        if l[i] == b'"' {
            i += 1;
            while l[i] != b'"' {
                i += if l[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
            if l.get(i) != Some(&b':') {
                out.push((start, i, true));
            }
        } else if l[i] == b'-' || l[i].is_ascii_digit() {
            i += 1;
            while l.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            out.push((start, i, false));
        } else {
            i += 1;
        }
    }
    out
}

fn splice(l: &[u8], (s, e): (usize, usize), with: &[u8]) -> Vec<u8> {
    [&l[..s], with, &l[e..]].concat()
}

/// Lines near `l`: every byte replaced (by bytes that matter to JSON), whitespace and
/// other bytes inserted, bytes deleted, truncations, trailing bytes, each value
/// respelled or changed in kind, keys renamed and members swapped.
fn mutations(l: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for i in 0..l.len() {
        for &c in b"\"\\\x01\x1f029-.eE ,:}]{[nxA\x7f\xc3" {
            if l[i] != c {
                out.push(splice(l, (i, i + 1), &[c]));
            }
        }
        for ins in [&b" "[..], b"\n", b"0", b"\"", b"\\n", b",", b"\"a\":1,"] {
            out.push(splice(l, (i, i), ins));
        }
        out.push(splice(l, (i, i + 1), b""));
        out.push(l[..i].to_vec());
    }
    for t in [&b" "[..], b"\n", b"}", b"0", b"x", b",{}"] {
        out.push([l, t].concat());
    }
    let numbers: [&[u8]; 23] = [
        b"0",
        b"999999999999999",
        b"1000000000000000",
        b"00",
        b"-0",
        b"01",
        b"-1",
        b"7",
        b"10",
        b"123456789",
        b"9007199254740992",
        b"9007199254740993",
        b"-9007199254740992",
        b"-9007199254740993",
        b"12345678901234567",
        b"2.0",
        b"2e3",
        b"1E2",
        b"null",
        b"\"7\"",
        b"true",
        b"[]",
        b"{}",
    ];
    let strings: [&[u8]; 15] = [
        b"\"\"",
        b"\"x\"",
        b"\"a\\nb\"",
        b"\"a\\\"b\"",
        b"\"a\\\\b\"",
        b"\"a\x01b\"",
        b"\"a\nb\"",
        b"\"\\u001f\"",
        b"\"\\u0041\"",
        b"\"\\/\"",
        "\"\u{e9}\"".as_bytes(),
        b"\"0123456789abcdef0123456789abcdef0123456789\"",
        b"null",
        b"7",
        b"[\"x\"]",
    ];
    for (s, e, string) in tokens(l) {
        for with in if string { &strings[..] } else { &numbers[..] } {
            out.push(splice(l, (s, e), with));
        }
    }
    let mut layout = Layout::default();
    assert_eq!(scan(l, &mut layout), Some(true));
    for members in [layout.top(), layout.payload()] {
        for m in members {
            for with in [&b"a"[..], b"zz", b"~", b"", b"id"] {
                out.push(splice(l, (m.key.0, m.key.0 + 1), with));
            }
        }
        for w in members.windows(2) {
            let (a, b) = (
                (w[0].key.0 - 1, w[0].value.1),
                (w[1].key.0 - 1, w[1].value.1),
            );
            let swapped = [&l[..a.0], &l[b.0..b.1], b",", &l[a.0..a.1], &l[b.1..]].concat();
            out.push(swapped);
        }
    }
    let text = String::from_utf8(l.to_vec()).unwrap();
    for (from, to) in [
        ("\"args\":[\"x\"]", "\"args\":[]"),
        ("\"args\":[\"x\"]", "\"args\":[\"x\",\"y\"]"),
        ("\"args\":[\"x\"]", "\"args\":[\"x\",1]"),
        ("\"args\":[\"x\"]", "\"args\":[[\"x\"]]"),
        ("\"after\":{}", "\"after\":{\"a\":1}"),
        ("\"sample_io\":false", "\"sample_io\":true"),
    ] {
        out.push(text.replacen(from, to, 1).into_bytes());
    }
    out
}

/// Every line near a ledger's lines gets the same result and layout from the
/// skeletons as from a full scan, with the line's own shape cached; many are accepted
/// by a skeleton.
#[test]
fn skeletons_agree_with_the_scan_on_nearby_lines() {
    let lines = ledger();
    let mut warm = Layout::default();
    for l in &lines {
        assert!(agree(&mut warm, l));
    }
    let (mut nearby, mut fast) = (0, 0);
    for (n, l) in lines.iter().enumerate() {
        let mut reload = true;
        for m in mutations(l) {
            // The shape of `l` stays cached, as a ledger keeps it, and the predecessor
            // sets up the prediction.
            if reload {
                agree(&mut warm, &lines[n.saturating_sub(1)]);
                agree(&mut warm, l);
            }
            let (hits, entries) = (warm.skeletons.hits, warm.skeletons.entries.len());
            let accepted = agree(&mut warm, &m);
            let hit = warm.skeletons.hits > hits;
            fast += usize::from(hit);
            // A newly recorded shape may have evicted that of `l`.
            reload = accepted && !hit || warm.skeletons.entries.len() != entries;
            nearby += 1;
        }
    }
    assert!(nearby > 80_000, "{nearby}");
    assert!(fast > 30_000, "{fast} of {nearby}");
}

/// A typical run, stage entries and exits alternating (and an event between), is
/// checked by skeletons after its first few lines, each at the first skeleton tried.
#[test]
fn alternating_lines_take_the_fast_path() {
    let mut layout = Layout::default();
    let n = 200;
    for seq in 1..=n {
        let l = if seq % 2 == 1 {
            enter(seq, seq / 2, None, None)
        } else {
            exit(seq, seq / 2, None)
        };
        assert!(agree(&mut layout, &l));
    }
    // First line: not recorded; second, third: recorded.
    let n = usize::try_from(n).unwrap();
    assert_eq!(layout.skeletons.hits, n - 3);
    assert_eq!(layout.skeletons.probes, n - 2);

    let mut layout = Layout::default();
    let event = |seq: u64| {
        let p = json!({"fields": {"message": "m"}, "level": "INFO", "stage_id": seq,
            "t_ns": seq, "target": "t", "thread": 0});
        line(seq, kind::EVENT, Some("work"), &p)
    };
    for seq in 0..n as u64 {
        let l = match seq % 4 {
            0 => enter(seq, seq / 4, Some("i"), Some(seq)),
            1 | 2 => event(seq),
            _ => exit(seq, seq / 4, Some("o")),
        };
        assert!(agree(&mut layout, &l));
    }
    assert_eq!(layout.skeletons.hits, n - 4);
}

fn number() -> impl Strategy<Value = i64> {
    prop_oneof![
        0i64..20,
        0i64..=1 << 53,
        -(1i64 << 53)..0,
        Just(1i64 << 53),
        Just(-(1i64 << 53)),
    ]
}

fn text() -> impl Strategy<Value = String> {
    "[a-z0-9 \"\\\\\u{1}\n\u{e9}\u{1f980}]{0,12}"
}

fn entry() -> impl Strategy<Value = (u8, Vec<i64>, Vec<String>, Vec<bool>)> {
    (
        0u8..4,
        proptest::collection::vec(number(), 12),
        proptest::collection::vec(text(), 4),
        proptest::collection::vec(any::<bool>(), 4),
    )
}

/// A line of kind `k` (enter, exit, event, a nested one) with these values.
fn entry_line(seq: u64, (k, n, s, b): &(u8, Vec<i64>, Vec<String>, Vec<bool>)) -> Vec<u8> {
    let opt_n = |i: usize| b[i].then_some(n[i]);
    let opt_s = |i: usize| b[i].then(|| s[i].clone());
    let (kind_, payload) = match k {
        0 => (
            kind::STAGE_ENTER,
            json!({"args": s[..usize::from(b[3]) + 1], "depth": n[0], "id": n[1],
                "input": opt_s(1), "parent": opt_n(2), "t_ns": n[3], "thread": n[4]}),
        ),
        1 => (
            kind::STAGE_EXIT,
            json!({"alloc_bytes": opt_n(0), "cpu_ns": n[1], "depth": n[2], "id": n[3],
                "io_read_bytes": opt_n(1), "io_write_bytes": null, "outcome": s[0],
                "output": opt_s(2), "peak_rss_kb": n[4], "t_ns": n[5], "thread": n[6],
                "wall_ns": n[7]}),
        ),
        2 => (
            kind::EVENT,
            json!({"fields": {"message": s[0], "n": n[0]}, "level": "INFO",
                "stage_id": n[1], "t_ns": n[2], "target": s[1], "thread": n[3]}),
        ),
        _ => (
            kind::VIOLATION,
            json!({"a": [[n[0], [n[1], s[0]]], {"b": opt_n(1), "c": b[2]}], "t_ns": n[2]}),
        ),
    };
    let stage = opt_s(3);
    line(seq, kind_, stage.as_deref(), &payload)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Sequences of generated entries, each followed by a changed copy (a byte
    /// replaced, inserted or deleted, a value respelled, a truncation), get the same
    /// results and layouts from the skeletons as from full scans.
    #[test]
    fn skeletons_agree_with_the_scan(
        entries in proptest::collection::vec(entry(), 1..16),
        changes in proptest::collection::vec((any::<prop::sample::Index>(), 0usize..8, any::<u8>()), 1..16),
    ) {
        let mut warm = Layout::default();
        for (seq, (e, (at, op, byte))) in entries.iter().zip(changes.iter().cycle()).enumerate() {
            let l = entry_line(seq as u64, e);
            prop_assert!(agree(&mut warm, &l));
            let i = at.index(l.len());
            let (s, e, _) = tokens(&l)[at.index(tokens(&l).len())];
            let changed = match op {
                0 => splice(&l, (i, i + 1), &[*byte]),
                1 => splice(&l, (i, i), &[*byte]),
                2 => splice(&l, (i, i + 1), b""),
                3 => l[..i].to_vec(),
                4 => {
                    let spellings = ["0", "-0", "00", "01", "2.0", "1e3", "9007199254740993"];
                    let with = spellings
                        .get(usize::from(*byte % 16))
                        .map_or_else(|| (i64::from(*byte) - 128).to_string(), |s| (*s).to_owned());
                    splice(&l, (s, e), with.as_bytes())
                }
                5 => splice(&l, (s, e), format!("\"{}\"", char::from(*byte)).as_bytes()),
                6 => splice(&l, (s, s + 1), &[*byte]),
                _ => [&l[..], &[*byte]].concat(),
            };
            agree(&mut warm, &changed);
        }
    }
}

/// Neither skip ever passes a quote, backslash, control or non-ASCII byte (the byte loop
/// checks the latter as UTF-8); each stops at (SSE2:
/// exactly on it; words, and the portable build of the run skip: in the word holding it)
/// the first one, or leaves fewer bytes than one step for the byte loop.
#[test]
fn plain_runs_stop_at_every_special_byte() {
    let specials = [b'"', b'\\', 0x00, 0x01, 0x0a, 0x1f, 0x80, 0xc3, 0xff];
    let plain = [b'a', b'0', b' ', 0x20, 0x7f, b'z'];
    for len in 0..70usize {
        for pos in 0..=len {
            for &sp in specials.iter().chain(&plain) {
                let mut b: Vec<u8> = (0..len).map(|i| plain[i % plain.len()]).collect();
                if pos < len {
                    b[pos] = sp;
                }
                let first = b
                    .iter()
                    .position(|&c| c == b'"' || c == b'\\' || !(0x20..0x80).contains(&c))
                    .unwrap_or(len);
                let mut i = 0;
                skip_plain_run(&b, &mut i);
                if cfg!(all(target_arch = "x86_64", not(receipt_portable))) {
                    assert!(i <= first && (i == first || len - i < 16), "{b:?}");
                } else {
                    // The portable path is the word skip.
                    assert!(i <= first && (first < i + 8 || len - i < 8), "{b:?}");
                }
                let mut i = 0;
                skip_plain_words(&b, &mut i);
                // Eight at a time stops at the start of the word holding the byte.
                assert!(i <= first && (first < i + 8 || len - i < 8), "{b:?}");
            }
        }
    }
}

/// Byte comparison in words finds every differing byte, at any length.
#[test]
fn same_finds_every_difference() {
    for len in 0..70usize {
        let a: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
        assert!(same(&a, &a.clone()));
        for pos in 0..len {
            let mut b = a.clone();
            b[pos] ^= 0x20;
            assert!(!same(&a, &b), "{len} {pos}");
        }
        assert!(!same(&a, &a[..len.saturating_sub(1)]) || len == 0);
    }
}

/// The digit count stops at every byte that is not a digit, wherever it is.
#[test]
fn digit_runs_stop_at_every_other_byte() {
    for len in 0..20usize {
        for pos in 0..=len {
            for c in 0..=u8::MAX {
                let mut b: Vec<u8> = (0..len).map(|i| b"0123456789"[i % 10]).collect();
                if pos < len {
                    b[pos] = c;
                }
                let want = b.iter().take_while(|c| c.is_ascii_digit()).count();
                assert_eq!(digit_run(&b), want, "{b:?}");
            }
        }
    }
}

#[test]
fn key_order_is_byte_order() {
    let keys: [&[u8]; 12] = [
        b"",
        b"a",
        b"a0",
        b"ab",
        b"abcdefghijklmnop",
        b"abcdefghijklmnopq",
        b"abcdefghijklmnoq",
        b"b",
        b"id",
        b"payload",
        b"z",
        b"~~~~~~~~~~~~~~~~~~~~",
    ];
    for a in keys {
        for b in keys {
            assert_eq!(key_before(a, b), a < b, "{a:?} {b:?}");
        }
    }
}

#[test]
fn strings_with_escapes_and_controls() {
    let mut layout = Layout::default();
    let long = "0123456789abcdef".repeat(5);
    for (text, want) in [
        (format!("{{\"a\":\"{long}\"}}"), Some(true)),
        (format!("{{\"a\":\"{long}\\n{long}\"}}"), Some(true)),
        (format!("{{\"a\":\"{long}\\/{long}\"}}"), None),
        (format!("{{\"a\":\"{long}\u{1}{long}\"}}"), None),
        (format!("{{\"a\":\"{long}\\u001f\"}}"), Some(true)),
        (format!("{{\"a\":\"{long}\\u0041\"}}"), None),
        (format!("{{\"a\":\"{long}"), None),
    ] {
        let got = check_layout(text.as_bytes(), &mut layout);
        // `None` from the scan is "not canonical" inside a string, and `Some(false)`
        // after it; both mean the line is not accepted as canonical by the scan.
        assert_eq!(got.unwrap_or(false), want.unwrap_or(false), "{text}");
    }
}
