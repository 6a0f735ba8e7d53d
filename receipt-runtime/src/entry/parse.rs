//! Reading one ledger line back: its canonical form, envelope and entry hash, by the scan's
//! recorded layout when it has one and by serde otherwise.

use std::borrow::Cow;

use receipt_primitives::Digest;
use serde_json::Value;

use crate::canon::{Layout, Member};

use super::canonical;
use super::hash::line_hash;

/// One ledger line, parsed and checked on its own (canonical bytes, hash), borrowing from
/// the line.
#[derive(Debug, Clone)]
pub struct RawEntry<'a> {
    /// `seq`.
    pub seq: u64,
    /// `hash`, recomputed and equal to the stored one.
    pub hash: Digest,
    /// `prev`.
    pub prev: Digest,
    /// `run_id`.
    pub run_id: Cow<'a, str>,
    /// `type`.
    pub kind: Cow<'a, str>,
    /// `stage`.
    pub stage: Option<Cow<'a, str>>,
    /// `payload`, as its bytes.
    pub payload: &'a [u8],
}

/// One ledger line, parsed and checked, owning its data.
#[derive(Debug, Clone)]
pub struct ParsedEntry {
    /// `seq`.
    pub seq: u64,
    /// `hash`, recomputed and equal to the stored one.
    pub hash: Digest,
    /// `prev`.
    pub prev: Digest,
    /// `run_id`.
    pub run_id: String,
    /// `type`.
    pub kind: String,
    /// `stage`.
    pub stage: Option<String>,
    /// `payload`.
    pub payload: Value,
}

/// Why one line is not a valid entry on its own.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    /// The bytes are not a JSON object.
    #[error("is not JSON: {0}")]
    NotJson(String),
    /// A field is missing or has the wrong type.
    #[error("is not a ledger entry: {0}")]
    Shape(String),
    /// The bytes are not the RFC 8785 form of what they contain.
    #[error("is not in canonical (RFC 8785) form")]
    NotCanonical,
    /// The stored hash is not the hash of the entry.
    #[error("has hash {claimed} but its content hashes to {actual}")]
    HashMismatch {
        /// The `hash` field.
        claimed: String,
        /// The recomputed hash.
        actual: String,
    },
}

/// The `payload` member: its bytes, located by the scanner or by serde.
enum Payload<'a> {
    Bytes(&'a [u8]),
    Raw(&'a serde_json::value::RawValue),
}

/// The envelope members of one line, before their values are checked.
struct Envelope<'a> {
    hash: &'a str,
    payload: Payload<'a>,
    prev: &'a str,
    run_id: Cow<'a, str>,
    seq: u64,
    stage: Option<Cow<'a, str>>,
    kind: Cow<'a, str>,
}

impl<'a> From<SerdeEnvelope<'a>> for Envelope<'a> {
    fn from(e: SerdeEnvelope<'a>) -> Self {
        Envelope {
            hash: e.hash,
            payload: Payload::Raw(e.payload),
            prev: e.prev,
            run_id: e.run_id,
            seq: e.seq,
            stage: e.stage,
            kind: e.kind,
        }
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SerdeEnvelope<'a> {
    hash: &'a str,
    #[serde(borrow)]
    payload: &'a serde_json::value::RawValue,
    prev: &'a str,
    #[serde(borrow)]
    run_id: Cow<'a, str>,
    seq: u64,
    #[serde(borrow)]
    stage: Option<Cow<'a, str>>,
    #[serde(borrow, rename = "type")]
    kind: Cow<'a, str>,
}

fn hex_field(name: &str, s: &str) -> Result<Digest, LineError> {
    // Lowercase only: the one spelling the format admits.
    Digest::from_hex(s)
        .map_err(|_| LineError::Shape(format!("field {name:?} is not 64 lowercase hex digits")))
}

/// Whether `line` is in canonical form (a fast scan, with a full canonicalizer for what
/// the scan leaves open); a line that is not JSON at all is reported as such. Returns
/// whether `layout` was filled in.
fn check_form(line: &[u8], layout: &mut Layout) -> Result<bool, LineError> {
    let (canonical_form, scanned) = match crate::canon::check_layout(line, layout) {
        Some(c) => (c, true),
        None => {
            let v: Value =
                serde_json::from_slice(line).map_err(|e| LineError::NotJson(e.to_string()))?;
            (canonical(&v).is_ok_and(|c| c == line), false)
        }
    };
    if canonical_form {
        return Ok(scanned);
    }
    match serde_json::from_slice::<WellFormed>(line) {
        Err(e) => Err(LineError::NotJson(e.to_string())),
        Ok(_) => Err(LineError::NotCanonical),
    }
}

/// Any JSON value, read to tell malformed JSON from JSON in another spelling without
/// building it: unlike `IgnoredAny`, which skips strings undecoded, every string (key or
/// value) is decoded, so invalid UTF-8 and lone surrogate escapes are malformed JSON here
/// too. Memory is independent of the line's length (strings are borrowed or decoded one
/// at a time; nesting is bounded by serde_json's recursion limit).
struct WellFormed;

impl<'de> serde::Deserialize<'de> for WellFormed {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(WellFormed)
    }
}

impl<'de> serde::de::Visitor<'de> for WellFormed {
    type Value = WellFormed;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self, E> {
        Ok(WellFormed)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self, E> {
        Ok(WellFormed)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self, E> {
        Ok(WellFormed)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self, E> {
        Ok(WellFormed)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self, E> {
        Ok(WellFormed)
    }
    fn visit_unit<E>(self) -> Result<Self, E> {
        Ok(WellFormed)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self, A::Error> {
        while seq.next_element::<WellFormed>()?.is_some() {}
        Ok(WellFormed)
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self, A::Error> {
        while map.next_entry::<WellFormed, WellFormed>()?.is_some() {}
        Ok(WellFormed)
    }
}

/// The envelope keys, in the only order a canonical line can have them.
const ENVELOPE_KEYS: [&[u8]; 7] = [
    b"hash", b"payload", b"prev", b"run_id", b"seq", b"stage", b"type",
];

/// The text of a member's value when the scan found it to be a string without escapes,
/// borrowed from `text`.
pub(crate) fn plain_str<'a>(text: &'a str, m: &Member) -> Option<&'a str> {
    if !m.plain_string {
        return None;
    }
    text.get(m.value.0 + 1..m.value.1 - 1)
}

/// A non-negative canonical integer at `span`.
pub(crate) fn plain_u64(text: &str, span: (usize, usize)) -> Option<u64> {
    plain_u64_bytes(text.as_bytes().get(span.0..span.1)?)
}

/// The value of `v` when it is the digits of a non-negative integer that fits a `u64`.
pub(crate) fn plain_u64_bytes(v: &[u8]) -> Option<u64> {
    if v.is_empty() {
        return None;
    }
    v.iter().try_fold(0u64, |acc, &d| {
        if d.is_ascii_digit() {
            acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
        } else {
            None
        }
    })
}

/// The envelope read from the recorded layout of a canonical line; `None` when the line
/// needs the general parser (which then also words any error).
fn quick_envelope<'a>(line: &'a str, layout: &Layout) -> Option<Envelope<'a>> {
    let top = layout.top();
    if layout.overflow || top.len() != ENVELOPE_KEYS.len() {
        return None;
    }
    let b = line.as_bytes();
    for (m, k) in top.iter().zip(ENVELOPE_KEYS) {
        if b.get(m.key.0..m.key.1)? != k {
            return None;
        }
    }
    let payload = b.get(top[1].value.0..top[1].value.1)?;
    let stage = match b.get(top[5].value.0..top[5].value.1)? {
        b"null" => None,
        _ => Some(Cow::Borrowed(plain_str(line, &top[5])?)),
    };
    Some(Envelope {
        hash: plain_str(line, &top[0])?,
        payload: Payload::Bytes(payload),
        prev: plain_str(line, &top[2])?,
        run_id: Cow::Borrowed(plain_str(line, &top[3])?),
        seq: plain_u64(line, top[4].value)?,
        stage,
        kind: Cow::Borrowed(plain_str(line, &top[6])?),
    })
}

/// Parses one ledger line (without its `\n`) and checks its form and hash, borrowing
/// from the line.
///
/// # Errors
/// [`LineError`] naming the first problem found.
pub fn parse_raw(line: &[u8]) -> Result<RawEntry<'_>, LineError> {
    parse_with_layout(line, &mut Layout::default()).map(|(raw, _)| raw)
}

/// [`parse_raw`] without the positional reading of the envelope, for comparing the two.
#[cfg(test)]
pub(crate) fn parse_raw_general(line: &[u8]) -> Result<RawEntry<'_>, LineError> {
    let mut layout = Layout::default();
    check_form(line, &mut layout)?;
    let env: Envelope<'_> = serde_json::from_slice::<SerdeEnvelope<'_>>(line)
        .map_err(|e| LineError::Shape(e.to_string()))?
        .into();
    finish_raw(env, line_hash(line))
}

/// [`parse_raw`], also returning the line as text when `layout` describes it (see
/// [`crate::canon::check_layout`]), for reading payload fields from it.
pub(crate) fn parse_with_layout<'a>(
    line: &'a [u8],
    layout: &mut Layout,
) -> Result<(RawEntry<'a>, Option<&'a str>), LineError> {
    parse_hashed(line, layout, line_hash(line))
}

/// [`parse_with_layout`] given the line's [`line_hash`].
pub(crate) fn parse_hashed<'a>(
    line: &'a [u8],
    layout: &mut Layout,
    computed: Option<Digest>,
) -> Result<(RawEntry<'a>, Option<&'a str>), LineError> {
    // Form before content: a re-spelled line (`2.0` for `2`) is a canonical-form failure.
    let scanned = check_form(line, layout)?;
    let text = if scanned { as_text(line) } else { None };
    let quick = text.and_then(|t| quick_envelope(t, layout));
    let text = text.filter(|_| quick.is_some());
    let env = match quick {
        Some(env) => env,
        None => serde_json::from_slice::<SerdeEnvelope<'_>>(line)
            .map_err(|e| LineError::Shape(e.to_string()))?
            .into(),
    };
    Ok((finish_raw(env, computed)?, text))
}

/// `line` as text when it is UTF-8. Ledger lines are nearly always ASCII, which is tested
/// sixteen bytes at a time; anything else goes through the full UTF-8 check.
fn as_text(line: &[u8]) -> Option<&str> {
    if is_ascii(line) {
        // SAFETY: ASCII bytes are valid UTF-8.
        Some(unsafe { std::str::from_utf8_unchecked(line) })
    } else {
        std::str::from_utf8(line).ok()
    }
}

/// Whether every byte of `b` is below 0x80: the high bits of sixteen bytes at a time are
/// OR-ed together with SSE2 and tested once at the end (elsewhere, and under
/// `--cfg receipt_portable`, the standard library's test).
#[cfg(all(target_arch = "x86_64", not(receipt_portable)))]
fn is_ascii(b: &[u8]) -> bool {
    use std::arch::x86_64::{
        __m128i, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128, _mm_setzero_si128,
    };
    let (chunks, tail) = b.as_chunks::<16>();
    // SAFETY: SSE2 is part of the x86_64 baseline; each load reads exactly the 16 bytes of
    // its chunk, without alignment.
    let high = unsafe {
        let mut acc = _mm_setzero_si128();
        for c in chunks {
            acc = _mm_or_si128(acc, _mm_loadu_si128(c.as_ptr().cast::<__m128i>()));
        }
        _mm_movemask_epi8(acc)
    };
    high == 0 && tail.is_ascii()
}

#[cfg(not(all(target_arch = "x86_64", not(receipt_portable))))]
fn is_ascii(b: &[u8]) -> bool {
    b.is_ascii()
}

/// Checks the envelope's values and the entry hash, given the line's [`line_hash`].
fn finish_raw(env: Envelope<'_>, computed: Option<Digest>) -> Result<RawEntry<'_>, LineError> {
    // Usually `hash` spells the computed digest, and then it is valid hex and equal to it
    // without being decoded; otherwise it is decoded, in the order of checks below.
    let claimed = match computed {
        Some(d) if d.is_spelled(env.hash.as_bytes()) => d,
        _ => hex_field("hash", env.hash)?,
    };
    let prev = hex_field("prev", env.prev)?;
    let payload = match env.payload {
        Payload::Bytes(b) => b,
        Payload::Raw(r) => r.get().as_bytes(),
    };
    if payload.first() != Some(&b'{') {
        return Err(LineError::Shape(
            "field \"payload\" is not an object".into(),
        ));
    }
    let Some(actual) = computed else {
        return Err(LineError::NotCanonical);
    };
    if actual != claimed {
        return Err(LineError::HashMismatch {
            claimed: claimed.to_hex(),
            actual: actual.to_hex(),
        });
    }
    Ok(RawEntry {
        seq: env.seq,
        hash: actual,
        prev,
        run_id: env.run_id,
        kind: env.kind,
        stage: env.stage,
        payload,
    })
}
/// Parses one ledger line (without its `\n`) into an owned entry; see [`parse_raw`].
///
/// # Errors
/// [`LineError`] naming the first problem found.
pub fn parse_line(line: &[u8]) -> Result<ParsedEntry, LineError> {
    let raw = parse_raw(line)?;
    let payload = serde_json::from_slice(raw.payload)
        .map_err(|e| LineError::Shape(format!("payload: {e}")))?;
    Ok(ParsedEntry {
        seq: raw.seq,
        hash: raw.hash,
        prev: raw.prev,
        run_id: raw.run_id.into_owned(),
        kind: raw.kind.into_owned(),
        stage: raw.stage.map(Cow::into_owned),
        payload,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_test_sees_a_high_byte_anywhere() {
        for len in 0..70 {
            let plain = vec![b'a'; len];
            assert!(is_ascii(&plain));
            assert_eq!(as_text(&plain), Some(std::str::from_utf8(&plain).unwrap()));
            for at in 0..len {
                let mut b = plain.clone();
                b[at] = 0x80;
                assert!(!is_ascii(&b), "len {len}, at {at}");
                assert_eq!(as_text(&b), None, "a lone continuation byte is not UTF-8");
            }
        }
        assert_eq!(as_text("st\u{e9}p".as_bytes()), Some("st\u{e9}p"));
    }
}
