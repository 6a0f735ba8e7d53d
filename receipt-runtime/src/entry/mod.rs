//! The run-ledger line format: canonical entries, their domain-separated hashes and the
//! genesis link derived from the run id (docs/SPEC.md §10.2).
//!
//! Sealing (building a line and its hash) is here; reading a line back is in `parse`, the
//! in-place two-lane hashing of lines in `hash`, and the number and string writers in
//! `text`.

mod hash;
mod parse;
mod text;

use receipt_primitives::{Digest, jcs};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

pub(crate) use hash::{Opened, line_hash, line_hashes2};
#[cfg(test)]
pub(crate) use parse::parse_raw_general;
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) use parse::parse_with_layout;
pub use parse::{LineError, ParsedEntry, RawEntry, parse_line, parse_raw};
pub(crate) use parse::{parse_hashed, plain_str, plain_u64_bytes};
pub(crate) use text::{Object, json_string, push_u64};

/// Schema tag carried by `RUN_START` and the head file.
pub const LEDGER_SCHEMA: &str = "receipt.run-ledger/1";

/// Longest ledger line any reader of the project reads, in bytes without its newline
/// (docs/SPEC.md §10.8): past it a reader stops (the verifier reports `ledger.read`
/// UNKNOWN), having read at most this many bytes of the line, so memory stays bounded.
pub const MAX_LINE_BYTES: u64 = 64 << 20;

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
    /// A value kept as an evidence blob: its key, class, blob URI, size and redaction record,
    /// never the value (docs/SPEC.md §16.9).
    pub const EVIDENCE: &str = crate::evidence::EVIDENCE_KIND;
}

/// Longest run id, in bytes (§10.1).
pub const MAX_RUN_ID_LEN: usize = 128;

/// Whether `id` follows the run-id grammar (docs/SPEC.md §10.1): 1 to
/// [`MAX_RUN_ID_LEN`] characters, each an ASCII letter, digit, `.`, `_` or `-`, the first a
/// letter or digit. A run id names files (`<program>-<run id>.jsonl`) and is shown to
/// people, so it has no path separator, control or invisible character, no bidirectional
/// override, and is never `.` or `..`.
pub fn is_valid_run_id(id: &str) -> bool {
    id.len() <= MAX_RUN_ID_LEN
        && id.as_bytes().first().is_some_and(u8::is_ascii_alphanumeric)
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Whether `name` can be `RUN_START.program` (docs/SPEC.md §10.3): a file name without
/// directories, that is non-empty, without `/` or control characters, and not `.` or `..`.
pub fn is_program_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains('/')
        && !name.chars().any(char::is_control)
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
