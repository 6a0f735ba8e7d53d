//! The run-ledger line format: canonical entries, their domain-separated hashes and the
//! genesis link derived from the run id (docs/SPEC.md §10.2).

use receipt_primitives::{Digest, jcs};
use std::borrow::Cow;

use serde_json::Value;

use crate::canon::{Layout, Member};
use receipt_primitives::sha256x2::{Block, compress1, compress2};
use sha2::{Digest as _, Sha256};

/// Schema tag carried by `RUN_START` and the head file.
pub const LEDGER_SCHEMA: &str = "receipt.run-ledger/1";

/// Domain-separation tag prefixed to the preimage of every entry hash.
pub const ENTRY_TAG: &[u8] = b"receipt.run-entry.v1\0";

/// Domain-separation tag prefixed to the run id to form the first entry's `prev`.
pub const GENESIS_TAG: &[u8] = b"receipt.run-genesis.v1\0";

/// The `prev` of entry 0 of the run `run_id`: `SHA-256(GENESIS_TAG ‖ run_id)`.
pub fn genesis(run_id: &str) -> Digest {
    Digest::of_parts(&[GENESIS_TAG, run_id.as_bytes()])
}

/// Entry type names, as written in the `type` field.
pub mod kind {
    /// First entry of every run.
    pub const RUN_START: &str = "RUN_START";
    /// A stage was called.
    pub const STAGE_ENTER: &str = "STAGE_ENTER";
    /// A stage returned, failed or panicked.
    pub const STAGE_EXIT: &str = "STAGE_EXIT";
    /// An ordinary `tracing` event inside a stage.
    pub const EVENT: &str = "EVENT";
    /// A stage transition that the stage graph does not allow.
    pub const VIOLATION: &str = "VIOLATION";
    /// Last entry of every finished run.
    pub const RUN_FINALIZE: &str = "RUN_FINALIZE";
}

/// `SHA-256(ENTRY_TAG ‖ preimage)`, where `preimage` is the canonical entry without `hash`.
pub fn entry_hash(preimage: &[u8]) -> Digest {
    Digest::of_parts(&[ENTRY_TAG, preimage])
}

/// Length of the fixed line prefix `{"hash":"<64 hex>",`.
const HASH_PREFIX_LEN: usize = 9 + 64 + 2;

/// One entry before hashing: everything but `hash`.
#[derive(Debug, Clone)]
pub struct Unsealed<'a> {
    /// Position in the ledger, from 0.
    pub seq: u64,
    /// Hash of the previous entry, or the genesis link.
    pub prev: Digest,
    /// Run id shared by every entry of the ledger.
    pub run_id: &'a str,
    /// One of [`kind`].
    pub kind: &'static str,
    /// Stage name, for stage entries.
    pub stage: Option<&'a str>,
    /// Type-specific fields.
    pub payload: Value,
}

/// A hashed entry and its ledger line (canonical JSON plus `\n`).
#[derive(Debug, Clone)]
pub struct Sealed {
    /// The entry hash.
    pub hash: Digest,
    /// The bytes of the line, newline included.
    pub line: Vec<u8>,
}

impl Unsealed<'_> {
    /// Canonicalizes, hashes and renders the entry as one ledger line.
    ///
    /// # Errors
    /// [`jcs::JcsError`] when the payload has no canonical form (a non-finite float).
    pub fn seal(self) -> Result<Sealed, jcs::JcsError> {
        let payload = canonical(&self.payload)?;
        Ok(seal_bytes(
            self.seq,
            &self.prev,
            self.run_id,
            self.kind,
            self.stage,
            &payload,
        ))
    }
}

/// Renders and hashes one entry whose payload is already canonical JSON bytes.
///
/// The preimage is assembled in key order (`payload`, `prev`, `run_id`, `seq`, `stage`,
/// `type`), which is the RFC 8785 order; `hash` is then put in front.
pub fn seal_bytes(
    seq: u64,
    prev: &Digest,
    run_id: &str,
    kind_: &str,
    stage: Option<&str>,
    payload: &[u8],
) -> Sealed {
    let mut line = Vec::with_capacity(payload.len() + 256);
    let sealed = seal_into(&mut line, seq, prev, run_id, kind_, stage, |out| {
        out.extend_from_slice(payload);
        Ok::<(), std::convert::Infallible>(())
    });
    let Ok(hash) = sealed;
    Sealed { hash, line }
}

/// Appends one ledger line (newline included) to `out` and returns its entry hash;
/// `payload` appends the canonical payload bytes.
///
/// The line is built in place: a reserved 64-byte slot for the `hash` member, then the preimage
/// members in RFC 8785 key order, which are hashed where they lie; the slot is then
/// overwritten with the hash. No intermediate buffer or hex string is allocated.
///
/// # Errors
/// Whatever `payload` returns; `out` is then left as it was.
pub fn seal_into<E>(
    out: &mut Vec<u8>,
    seq: u64,
    prev: &Digest,
    run_id: &str,
    kind_: &str,
    stage: Option<&str>,
    payload: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
) -> Result<Digest, E> {
    let mut chain = prev.hex_bytes();
    let mut run_id_json = Vec::with_capacity(run_id.len() + 2);
    json_string(&mut run_id_json, run_id);
    seal_chained(out, seq, &mut chain, &run_id_json, kind_, stage, payload)
}

/// [`seal_into`] for a writer that appends a chain of entries: `chain` holds the hex digits
/// of `prev` on entry and, when the line was written, those of the new entry's hash on
/// return, ready to be the next entry's `prev` without hex-encoding the digest again;
/// `run_id_json` is the run id already written as a JSON string, which is the same for
/// every entry of a ledger.
///
/// # Errors
/// Whatever `payload` returns; `out` and `chain` are then left as they were.
pub(crate) fn seal_chained<E>(
    out: &mut Vec<u8>,
    seq: u64,
    chain: &mut [u8; 64],
    run_id_json: &[u8],
    kind_: &str,
    stage: Option<&str>,
    payload: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
) -> Result<Digest, E> {
    // One reservation for a typical stage line, so the small appends below seldom grow `out`.
    out.reserve(512);
    let base = out.len();
    open_line(out, payload)?;
    close_line(out, chain, run_id_json, seq, kind_, stage);
    let mut h = Sha256::new();
    h.update(ENTRY_TAG);
    h.update(b"{");
    h.update(&out[base + HASH_PREFIX_LEN..]);
    let hash = Digest(h.finalize().into());
    *chain = hash.hex_bytes();
    out[base + 9..base + 73].copy_from_slice(chain);
    out.push(b'\n');
    Ok(hash)
}

/// Appends the part of a line that does not depend on the previous entry: the `hash` member
/// with a 64-byte slot for the digest, the payload (which `payload` appends) and `"prev":"`.
///
/// # Errors
/// Whatever `payload` returns; `out` is then left as it was.
pub(crate) fn open_line<E>(
    out: &mut Vec<u8>,
    payload: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
) -> Result<(), E> {
    let base = out.len();
    out.extend_from_slice(b"{\"hash\":\"");
    out.extend_from_slice(&[b'0'; 64]);
    out.extend_from_slice(b"\",\"payload\":");
    if let Err(e) = payload(out) {
        out.truncate(base);
        return Err(e);
    }
    out.extend_from_slice(b",\"prev\":\"");
    Ok(())
}

/// Appends the rest of a line after [`open_line`]: the previous entry's hash digits `prev`
/// and the members after it, up to the closing brace (no newline).
pub(crate) fn close_line(
    out: &mut Vec<u8>,
    prev: &[u8; 64],
    run_id_json: &[u8],
    seq: u64,
    kind_: &str,
    stage: Option<&str>,
) {
    out.extend_from_slice(prev);
    out.extend_from_slice(b"\",\"run_id\":");
    out.extend_from_slice(run_id_json);
    out.extend_from_slice(b",\"seq\":");
    push_u64(out, seq);
    out.extend_from_slice(b",\"stage\":");
    match stage {
        Some(st) => json_string(out, st),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"type\":");
    json_string(out, kind_);
    out.push(b'}');
}

/// Compresses as many blocks on each of two states, if there are any.
fn absorb2(a: &mut [u32; 8], b: &mut [u32; 8], blocks_a: &[Block], blocks_b: &[Block]) {
    if !blocks_a.is_empty() {
        compress2(a, b, blocks_a, blocks_b);
    }
}

/// Where in a line its entry preimage starts once [`Opened::stamp`] has written
/// `ENTRY_TAG ‖ "{"` over the end of the `hash` member, just before the preimage's other bytes.
const PREIMAGE_AT: usize = HASH_PREFIX_LEN - ENTRY_TAG.len() - 1;

/// The entry hash of a line being built in place, with the whole blocks of its preimage that
/// are already known compressed. The line's `hash` member holds part of the preimage until
/// [`Opened::finish`] or [`Opened::finish_with`] writes the digest there.
///
/// Hashing the preimage where it lies, as blocks of the line itself, lets the end of one
/// entry and the start of the next (which does not depend on it) go through the two-lane
/// kernel of [`receipt_primitives::sha256x2`] in one call.
#[derive(Debug, Clone)]
pub(crate) struct Opened {
    state: [u32; 8],
    /// Preimage bytes compressed into `state`: a multiple of 64.
    done: usize,
}

impl Opened {
    /// Starts the hash of the line `line`, which [`open_line`] began: writes `ENTRY_TAG ‖
    /// "{"` over the end of its `hash` member so the preimage is contiguous.
    pub(crate) fn stamp(line: &mut [u8]) -> Opened {
        line[PREIMAGE_AT..PREIMAGE_AT + ENTRY_TAG.len()].copy_from_slice(ENTRY_TAG);
        line[HASH_PREFIX_LEN - 1] = b'{';
        Opened {
            state: receipt_primitives::sha256x2::H0,
            done: 0,
        }
    }

    /// The preimage blocks of `line` not yet compressed: the whole ones, and the last
    /// partial one with the padding (one or two blocks in `last`, whose count is returned).
    fn rest<'l>(&self, line: &'l [u8], last: &mut [Block; 2]) -> (&'l [Block], usize) {
        let pre = &line[PREIMAGE_AT..];
        let (whole, tail) = pre[self.done..].as_chunks::<64>();
        let (padded, blocks) = receipt_primitives::sha256x2::padded_tail(tail, pre.len() as u64);
        *last = padded;
        (whole, blocks)
    }

    /// Finishes the hash of `line` (complete up to its closing brace) and writes the digest's
    /// hex digits into `hex` and into the line's `hash` member, which it restores.
    pub(crate) fn finish(mut self, line: &mut [u8], hex: &mut [u8; 64]) -> Digest {
        let mut last = [[0u8; 64]; 2];
        let (whole, n) = self.rest(line, &mut last);
        compress1(&mut self.state, whole);
        compress1(&mut self.state, &last[..n]);
        self.seal(line, hex)
    }

    /// [`Opened::finish`], compressing along with it, on a second lane, the whole preimage
    /// blocks of `next`: a line begun by [`open_line`], which is stamped. Returns the digest
    /// and the hash of `next` so far.
    pub(crate) fn finish_with(
        mut self,
        line: &mut [u8],
        hex: &mut [u8; 64],
        next: &mut [u8],
    ) -> (Digest, Opened) {
        let mut ahead = Opened::stamp(next);
        let (next_blocks, _) = next[PREIMAGE_AT..].as_chunks::<64>();
        let mut last = [[0u8; 64]; 2];
        let (whole, n) = self.rest(line, &mut last);
        let last = &last[..n];
        let k = whole.len().min(next_blocks.len());
        absorb2(
            &mut self.state,
            &mut ahead.state,
            &whole[..k],
            &next_blocks[..k],
        );
        let next_left = &next_blocks[k..];
        if whole.len() > k {
            compress1(&mut self.state, &whole[k..]);
            compress1(&mut self.state, last);
        } else {
            let j = last.len().min(next_left.len());
            absorb2(
                &mut self.state,
                &mut ahead.state,
                &last[..j],
                &next_left[..j],
            );
            compress1(&mut self.state, &last[j..]);
            compress1(&mut ahead.state, &next_left[j..]);
        }
        ahead.done = next_blocks.len() * 64;
        (self.seal(line, hex), ahead)
    }

    /// The digest of the finished state, written as hex into `hex` and the line's `hash`
    /// member.
    fn seal(self, line: &mut [u8], hex: &mut [u8; 64]) -> Digest {
        let hash = Digest(receipt_primitives::sha256x2::state_bytes(self.state));
        *hex = hash.hex_bytes();
        line[9..73].copy_from_slice(hex);
        line[73..HASH_PREFIX_LEN].copy_from_slice(b"\",");
        hash
    }
}

/// `"00"`, `"01"`, …, `"99"`: the two decimal digits of every number below 100.
const DIGIT_PAIRS: [u8; 200] = {
    let mut t = [0u8; 200];
    let mut i = 0;
    while i < 100 {
        // `i` is below 100, so both casts are exact.
        t[2 * i] = b'0' + (i / 10) as u8;
        t[2 * i + 1] = b'0' + (i % 10) as u8;
        i += 1;
    }
    t
};

/// The decimal digits of `v`, written at the end of `buf`.
pub(crate) fn format_u64(v: u64, buf: &mut [u8; 20]) -> &[u8] {
    let start = write_digits(v, buf);
    &buf[start..]
}

/// Appends the decimal digits of `v` to `out`.
///
/// The digits are written in place into room made with one constant-length append (which
/// compiles to two stores, where a variable-length copy from a scratch buffer would call
/// `memcpy`), and the room left over is cut off.
pub(crate) fn push_u64(out: &mut Vec<u8>, v: u64) {
    let len = v.checked_ilog10().map_or(1, |d| d as usize + 1);
    let at = out.len();
    out.extend_from_slice(&[0u8; 20]);
    write_digits(v, &mut out[at..at + len]);
    out.truncate(at + len);
}

/// Writes the decimal digits of `v` at the end of `buf`; returns the index of the first
/// digit. `buf` must have room for all the digits.
fn write_digits(mut v: u64, buf: &mut [u8]) -> usize {
    let mut i = buf.len();
    // Two digits per division: half the divisions of a digit-at-a-time loop.
    while v >= 100 {
        // `v % 100` is below 100, so the cast cannot truncate.
        let pair = 2 * (v % 100) as usize;
        v /= 100;
        i -= 2;
        buf[i..i + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
    }
    if v >= 10 {
        // `v` is below 100 here.
        let pair = 2 * v as usize;
        i -= 2;
        buf[i..i + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
    } else {
        i -= 1;
        // `v` is below 10 here.
        buf[i] = b'0' + v as u8;
    }
    i
}

/// Appends `s` as a JSON string; serde_json's escaping is RFC 8785's.
///
/// Strings with nothing to escape (no control character, `"` or `\`), which is nearly
/// every string a ledger holds, are copied between quotes directly; others go through
/// serde_json.
pub(crate) fn json_string(out: &mut Vec<u8>, s: &str) {
    // A fold without early exit, so the scan compiles to vector compares.
    let needs_escape = s.bytes().fold(false, |acc, b| {
        acc | (b < 0x20) | (b == b'"') | (b == b'\\')
    });
    if needs_escape {
        // Serializing a str into a Vec cannot fail.
        serde_json::to_writer(&mut *out, s).unwrap_or_default();
    } else {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    }
}

/// RFC 8785 bytes of `value`.
///
/// For the values a ledger holds (ASCII keys, integers of at most 2^53 in magnitude, no
/// floats) serde_json's compact output of a sorted map is already the RFC 8785 form, and it
/// is several times faster than a general canonicalizer; anything else goes through
/// [`receipt_primitives::jcs`]. The equivalence is tested in `tests/canonical.rs`.
///
/// # Errors
/// [`jcs::JcsError`] when the value has no canonical form.
pub fn canonical(value: &Value) -> Result<Vec<u8>, jcs::JcsError> {
    if fast_path_exact(value) {
        return serde_json::to_vec(value).map_err(jcs::JcsError::from);
    }
    jcs::to_vec(value)
}

/// Whether serde_json's compact form of `value` is byte-identical to RFC 8785.
fn fast_path_exact(value: &Value) -> bool {
    const MAX_EXACT: u64 = 1 << 53;
    match value {
        Value::Null | Value::Bool(_) | Value::String(_) => true,
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                u <= MAX_EXACT
            } else if let Some(i) = n.as_i64() {
                i.unsigned_abs() <= MAX_EXACT
            } else {
                false
            }
        }
        Value::Array(items) => items.iter().all(fast_path_exact),
        Value::Object(map) => {
            // Map iteration order is only sorted when serde_json is built without
            // `preserve_order`; checking it keeps the fast path exact either way.
            let mut last: Option<&str> = None;
            for (k, v) in map {
                if !k.is_ascii() || last.is_some_and(|l| l >= k.as_str()) || !fast_path_exact(v) {
                    return false;
                }
                last = Some(k);
            }
            true
        }
    }
}

/// Whether `s` is exactly 64 lowercase hexadecimal characters.
pub fn is_hex64(s: &str) -> bool {
    Digest::from_hex(s).is_ok()
}

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

/// The hash of the entry `line` holds, taken from the line as it stands: `SHA-256(ENTRY_TAG
/// ‖ "{" ‖ rest)` where the line is `{"hash":"<64 hex>",` then `rest`, as every canonical
/// entry is (`hash` sorts first). `None` for a line not shaped so, which cannot be canonical.
pub(crate) fn line_hash(line: &[u8]) -> Option<Digest> {
    preimage_rest(line).map(|rest| Digest::of_parts(&[ENTRY_TAG, b"{", rest]))
}

/// [`line_hash`] of two lines at once, their SHA-256 computations interleaved
/// ([`receipt_primitives::sha256x2`]): a verifier hashes every line, and two independent hashes
/// run in little more than the time of one.
pub(crate) fn line_hashes2(a: &[u8], b: &[u8]) -> (Option<Digest>, Option<Digest>) {
    use receipt_primitives::sha256x2::{Lane, finalize2, update2};
    match (preimage_rest(a), preimage_rest(b)) {
        (Some(ra), Some(rb)) => {
            let mut la = Lane::new();
            la.update(ENTRY_TAG);
            la.update(b"{");
            let mut lb = la.clone();
            update2(&mut la, ra, &mut lb, rb);
            let (da, db) = finalize2(&mut la, &mut lb);
            (Some(Digest(da)), Some(Digest(db)))
        }
        _ => (line_hash(a), line_hash(b)),
    }
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
/// OR-ed together with SSE2 and tested once at the end.
#[cfg(target_arch = "x86_64")]
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

#[cfg(not(target_arch = "x86_64"))]
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

/// What follows `{"hash":"<64 hex>",` in a line that starts that way: with `{` before it,
/// the entry's preimage.
fn preimage_rest(line: &[u8]) -> Option<&[u8]> {
    (line.len() > HASH_PREFIX_LEN && line.starts_with(b"{\"hash\":\""))
        .then(|| &line[HASH_PREFIX_LEN..])
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
