//! The inputs the harnesses run on: seed documents mutated byte- and token-wise (bit flips,
//! truncations, deletions, inserted tokens, duplicated and spliced ranges, swapped strings,
//! huge numbers, deep nesting), documents built by `arbitrary` from random bytes, and raw
//! random bytes.

use std::sync::Arc;

use arbitrary::Unstructured;
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{Map, Value};

/// Tokens every harness inserts: JSON, TOML and Lean punctuation, numbers at and past the
/// limits of `u64`, `i64` and `f64`, lone surrogates, odd Unicode (bidi override, BOM, line
/// separator, combining marks, emoji), invalid UTF-8 and path tricks.
pub const TOKENS: &[&[u8]] = &[
    b"\"",
    b"\\",
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b":",
    b"\n",
    b"\r\n",
    b"\r",
    b"\t",
    b" ",
    b"\0",
    b"\\u0000",
    b"\\u001f",
    b"\\ud800",
    b"\\udc00\\ud800",
    b"\\/",
    b"1e400",
    b"-0",
    b"0.0",
    b"1E2",
    b"1.5",
    b"01",
    b"18446744073709551615",
    b"18446744073709551616",
    b"-9223372036854775809",
    b"99999999999999999999999999999999999999",
    b"null",
    b"true",
    b"false",
    "\u{202e}".as_bytes(),
    "\u{feff}".as_bytes(),
    "\u{2028}".as_bytes(),
    "e\u{301}".as_bytes(),
    "\u{1F600}".as_bytes(),
    "\u{10FFFF}".as_bytes(),
    b"\xff",
    b"\xc0\x80",
    b"\xed\xa0\x80",
    b"\xf0\x9f\x98",
    b"../",
    b"..",
    b"/",
    b"//",
    b"./",
    b"\x1b",
    b"\x7f",
    b"--",
    b"/-",
    b"-/",
    b"=",
    b"#",
    b"'",
    b"\"\"\"",
    b"'''",
    b".",
    b"\xc2\xab",
    b"\xc2\xbb",
];

/// One edit of a document. The positions are [`Index`]es, so an edit applies to a document
/// of any length, and shrinking moves them towards the start.
#[derive(Debug, Clone)]
pub enum Mutation {
    /// Flip one bit of a byte.
    FlipBit(Index, u8),
    /// Overwrite a byte.
    SetByte(Index, u8),
    /// Cut the document at a position.
    Truncate(Index),
    /// Delete up to this many bytes at a position.
    Delete(Index, u8),
    /// Insert a token of [`TOKENS`] or of the target's dictionary.
    Insert(Index, Index),
    /// Copy a range of up to this many bytes to another position.
    Duplicate(Index, u8, Index),
    /// Insert a range of another seed.
    Splice(Index, Index, u16, Index),
    /// Swap two JSON strings (`"…"`): a field swap in a canonical document.
    SwapStrings(Index, Index),
    /// Replace a run of digits with a huge number.
    HugeNumber(Index, Index),
    /// Open this many arrays or tables at a position (deep nesting), closed at the end when
    /// the flag says so.
    Nest(Index, u16, bool),
    /// Repeat a range of up to 64 bytes this many times.
    Repeat(Index, u8, u16),
}

/// Any [`Mutation`].
pub fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => (any::<Index>(), 0u8..8).prop_map(|(i, b)| Mutation::FlipBit(i, b)),
        2 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::SetByte(i, b)),
        1 => any::<Index>().prop_map(Mutation::Truncate),
        2 => (any::<Index>(), 1u8..32).prop_map(|(i, n)| Mutation::Delete(i, n)),
        4 => (any::<Index>(), any::<Index>()).prop_map(|(i, t)| Mutation::Insert(i, t)),
        1 => (any::<Index>(), 1u8..64, any::<Index>()).prop_map(|(a, n, b)| Mutation::Duplicate(a, n, b)),
        1 => (any::<Index>(), any::<Index>(), 1u16..512, any::<Index>())
            .prop_map(|(s, a, n, b)| Mutation::Splice(s, a, n, b)),
        2 => (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Mutation::SwapStrings(a, b)),
        2 => (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Mutation::HugeNumber(a, b)),
        1 => (any::<Index>(), prop_oneof![1u16..8, 60u16..70, 120u16..140, 500u16..3000], any::<bool>())
            .prop_map(|(i, n, c)| Mutation::Nest(i, n, c)),
        1 => (any::<Index>(), 1u8..64, prop_oneof![2u16..16, 100u16..2000])
            .prop_map(|(i, n, k)| Mutation::Repeat(i, n, k)),
    ]
}

/// Huge and odd numbers a digit run is replaced with.
const NUMBERS: &[&[u8]] = &[
    b"18446744073709551616",
    b"18446744073709551615",
    b"9223372036854775808",
    b"-1",
    b"1e999",
    b"1.0",
    b"0000",
    b"4294967296",
    b"4294967295",
    b"99999999999999999999999999999999999999999999999999999999999999999999999999999999",
    b"9007199254740993",
];

fn at(i: &Index, len: usize) -> usize {
    // A position from 0 to `len` inclusive.
    i.index(len + 1)
}

/// The spans of the JSON strings (`"…"` with escapes skipped) of `doc`.
fn strings(doc: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < doc.len() {
        if doc[i] == b'"' {
            let start = i;
            i += 1;
            while i < doc.len() && doc[i] != b'"' {
                i += if doc[i] == b'\\' { 2 } else { 1 };
            }
            out.push((start, (i + 1).min(doc.len())));
        }
        i += 1;
    }
    out
}

/// The spans of the digit runs of `doc`.
fn digit_runs(doc: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < doc.len() {
        if doc[i].is_ascii_digit() {
            let start = i;
            while i < doc.len() && doc[i].is_ascii_digit() {
                i += 1;
            }
            out.push((start, i));
        } else {
            i += 1;
        }
    }
    out
}

/// Applies `m` to `doc`; `seeds` are what [`Mutation::Splice`] takes from, `dict` the
/// target's own tokens besides [`TOKENS`].
pub fn apply(m: &Mutation, doc: &mut Vec<u8>, seeds: &[Vec<u8>], dict: &[&[u8]]) {
    let len = doc.len();
    match m {
        Mutation::FlipBit(i, b) => {
            if len > 0 {
                doc[i.index(len)] ^= 1 << b;
            }
        }
        Mutation::SetByte(i, b) => {
            if len > 0 {
                doc[i.index(len)] = *b;
            }
        }
        Mutation::Truncate(i) => doc.truncate(i.index(len + 1)),
        Mutation::Delete(i, n) => {
            let s = at(i, len);
            let e = (s + usize::from(*n)).min(len);
            doc.drain(s..e);
        }
        Mutation::Insert(i, t) => {
            let k = t.index(TOKENS.len() + dict.len());
            let tok = if k < TOKENS.len() {
                TOKENS[k]
            } else {
                dict[k - TOKENS.len()]
            };
            let s = at(i, len);
            doc.splice(s..s, tok.iter().copied());
        }
        Mutation::Duplicate(a, n, b) => {
            let s = at(a, len);
            let e = (s + usize::from(*n)).min(len);
            let chunk = doc[s..e].to_vec();
            let d = at(b, len);
            doc.splice(d..d, chunk);
        }
        Mutation::Splice(sd, a, n, b) => {
            if seeds.is_empty() {
                return;
            }
            let other = sd.get(seeds);
            let s = at(a, other.len());
            let e = (s + usize::from(*n)).min(other.len());
            let d = at(b, len);
            doc.splice(d..d, other[s..e].iter().copied());
        }
        Mutation::SwapStrings(a, b) => {
            let spans = strings(doc);
            if spans.len() < 2 {
                return;
            }
            let (x, y) = (a.index(spans.len()), b.index(spans.len()));
            let (x, y) = (spans[x.min(y)], spans[x.max(y)]);
            if x == y {
                return;
            }
            let mut out = Vec::with_capacity(len);
            out.extend_from_slice(&doc[..x.0]);
            out.extend_from_slice(&doc[y.0..y.1]);
            out.extend_from_slice(&doc[x.1..y.0]);
            out.extend_from_slice(&doc[x.0..x.1]);
            out.extend_from_slice(&doc[y.1..]);
            *doc = out;
        }
        Mutation::HugeNumber(a, b) => {
            let runs = digit_runs(doc);
            if runs.is_empty() {
                return;
            }
            let (s, e) = runs[a.index(runs.len())];
            doc.splice(s..e, b.get(NUMBERS).iter().copied());
        }
        Mutation::Nest(i, n, close) => {
            let s = at(i, len);
            let (open, shut) = match doc.get(s) {
                Some(b'{') => (b"{\"a\":".as_slice(), b"}".as_slice()),
                _ => (b"[".as_slice(), b"]".as_slice()),
            };
            let n = usize::from(*n);
            let mut ins = Vec::with_capacity(n * open.len());
            for _ in 0..n {
                ins.extend_from_slice(open);
            }
            doc.splice(s..s, ins);
            if *close {
                for _ in 0..n {
                    doc.extend_from_slice(shut);
                }
            }
        }
        Mutation::Repeat(i, n, k) => {
            let s = at(i, len);
            let e = (s + usize::from(*n)).min(len);
            let chunk = doc[s..e].to_vec();
            let mut ins = Vec::with_capacity(chunk.len() * usize::from(*k));
            for _ in 0..*k {
                ins.extend_from_slice(&chunk);
            }
            doc.splice(e..e, ins);
        }
    }
}

/// A seed of `seeds` with one to eight mutations applied.
pub fn mutated(
    seeds: Arc<Vec<Vec<u8>>>,
    dict: &'static [&'static [u8]],
) -> impl Strategy<Value = Vec<u8>> {
    (any::<Index>(), proptest::collection::vec(mutation(), 1..8)).prop_map(move |(i, ms)| {
        let mut doc = if seeds.is_empty() {
            Vec::new()
        } else {
            i.get(&seeds).clone()
        };
        for m in &ms {
            apply(m, &mut doc, &seeds, dict);
        }
        doc
    })
}

/// A JSON value built from `u`, at most `depth` levels deep: objects take their keys
/// mostly from `keys`, strings are odd on purpose (controls, surrogate-free Unicode,
/// lookalikes), numbers include the limits of `u64`, `i64` and `f64`.
///
/// # Errors
/// When `u` runs out in a way `arbitrary` reports.
pub fn json(u: &mut Unstructured<'_>, keys: &[&str], depth: u32) -> arbitrary::Result<Value> {
    let pick = if depth == 0 {
        u.int_in_range(0..=5)?
    } else {
        u.int_in_range(0..=7)?
    };
    Ok(match pick {
        0 => Value::Null,
        1 => Value::Bool(u.arbitrary()?),
        2 => Value::from(match u.int_in_range(0..=4)? {
            0 => u64::MAX,
            1 => 0,
            2 => u64::from(u.arbitrary::<u32>()?),
            _ => u.arbitrary::<u64>()?,
        }),
        3 => match u.int_in_range(0..=2)? {
            0 => Value::from(i64::MIN),
            1 => Value::from(u.arbitrary::<i64>()?),
            _ => serde_json::Number::from_f64(u.arbitrary::<f64>()?)
                .map_or(Value::Null, Value::Number),
        },
        4 => Value::String(string(u, keys)?),
        5 => Value::String(u.arbitrary::<String>()?),
        6 => {
            let n = u.int_in_range(0..=4)?;
            let mut a = Vec::with_capacity(n);
            for _ in 0..n {
                a.push(json(u, keys, depth - 1)?);
            }
            Value::Array(a)
        }
        _ => {
            let n = u.int_in_range(0..=6)?;
            let mut m = Map::new();
            for _ in 0..n {
                let k = string(u, keys)?;
                m.insert(k, json(u, keys, depth - 1)?);
            }
            Value::Object(m)
        }
    })
}

/// A string: one of `keys`, an odd one, or arbitrary text.
pub fn string(u: &mut Unstructured<'_>, keys: &[&str]) -> arbitrary::Result<String> {
    const ODD: &[&str] = &[
        "",
        " ",
        "\u{0}",
        "\u{1f}",
        "\u{7f}",
        "\u{202e}",
        "\u{feff}",
        "\u{2028}",
        "e\u{301}",
        "\u{1F600}",
        "\u{10FFFF}",
        "../../etc/passwd",
        "/etc/hostname",
        "a\\b",
        "\"",
        "ok",
        "err",
        "panic",
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "2026-01-01T00:00:00Z",
    ];
    Ok(match u.int_in_range(0..=3)? {
        0 | 1 if !keys.is_empty() => (*u.choose(keys)?).to_owned(),
        2 => (*u.choose(ODD)?).to_owned(),
        _ => u.arbitrary::<String>()?,
    })
}

/// `doc` (JSON) with one value, chosen by `u`, replaced by an arbitrary one: the document
/// keeps its shape everywhere else, so the parser's deeper checks are reached.
///
/// # Errors
/// When `u` runs out in a way `arbitrary` reports.
pub fn tweak_json(
    u: &mut Unstructured<'_>,
    doc: &mut Value,
    keys: &[&str],
) -> arbitrary::Result<()> {
    let mut node = doc;
    loop {
        let children = match node {
            Value::Array(a) => a.len(),
            Value::Object(m) => m.len(),
            _ => 0,
        };
        if children == 0 || u.ratio(1, 3)? {
            break;
        }
        let k = u.choose_index(children)?;
        node = match node {
            Value::Array(a) => &mut a[k],
            Value::Object(m) => {
                if u.ratio(1, 8)? {
                    // Drop or rename a member instead.
                    let key = m.keys().nth(k).cloned().unwrap_or_default();
                    if let Some(v) = m.remove(&key)
                        && u.arbitrary()?
                    {
                        m.insert(string(u, keys)?, v);
                    }
                    return Ok(());
                }
                m.values_mut().nth(k).expect("k < len")
            }
            _ => unreachable!("a scalar has no children"),
        };
    }
    *node = json(u, keys, 3)?;
    Ok(())
}
