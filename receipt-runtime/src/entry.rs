//! The run-ledger line format: canonical entries, their domain-separated hashes and the
//! genesis link derived from the run id (docs/spec/runtime.md §2).

use receipt_core::{Digest, jcs};
use std::borrow::Cow;

use serde_json::Value;

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
    let mut pre = Vec::with_capacity(payload.len() + 200);
    pre.extend_from_slice(b"{\"payload\":");
    pre.extend_from_slice(payload);
    pre.extend_from_slice(b",\"prev\":\"");
    pre.extend_from_slice(prev.to_hex().as_bytes());
    pre.extend_from_slice(b"\",\"run_id\":");
    json_string(&mut pre, run_id);
    pre.extend_from_slice(b",\"seq\":");
    pre.extend_from_slice(seq.to_string().as_bytes());
    pre.extend_from_slice(b",\"stage\":");
    match stage {
        Some(st) => json_string(&mut pre, st),
        None => pre.extend_from_slice(b"null"),
    }
    pre.extend_from_slice(b",\"type\":");
    json_string(&mut pre, kind_);
    pre.push(b'}');
    let hash = entry_hash(&pre);
    let mut line = Vec::with_capacity(pre.len() + HASH_PREFIX_LEN + 1);
    line.extend_from_slice(b"{\"hash\":\"");
    line.extend_from_slice(hash.to_hex().as_bytes());
    line.extend_from_slice(b"\",");
    line.extend_from_slice(&pre[1..]);
    line.push(b'\n');
    Sealed { hash, line }
}

/// Appends `s` as a JSON string; serde_json's escaping is RFC 8785's.
fn json_string(out: &mut Vec<u8>, s: &str) {
    // Serializing a str into a Vec cannot fail.
    serde_json::to_writer(&mut *out, s).unwrap_or_default();
}

/// RFC 8785 bytes of `value`.
///
/// For the values a ledger holds (ASCII keys, integers of at most 2^53 in magnitude, no
/// floats) serde_json's compact output of a sorted map is already the RFC 8785 form, and it
/// is several times faster than a general canonicalizer; anything else goes through
/// [`receipt_core::jcs`]. The equivalence is tested in `tests/canonical.rs`.
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
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
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

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope<'a> {
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
    // Decoded by hand: this runs twice per line in verification, and a lowercase-only
    // decoder also enforces the one spelling the format admits.
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        }
    }
    let b = s.as_bytes();
    let mut out = [0u8; 32];
    let ok = b.len() == 64
        && out.iter_mut().enumerate().all(|(i, o)| {
            match (nibble(b[2 * i]), nibble(b[2 * i + 1])) {
                (Some(h), Some(l)) => {
                    *o = h << 4 | l;
                    true
                }
                _ => false,
            }
        });
    if ok {
        Ok(Digest(out))
    } else {
        Err(LineError::Shape(format!(
            "field {name:?} is not 64 lowercase hex digits"
        )))
    }
}

/// Whether `line` is in canonical form (a fast scan, with a full canonicalizer for what
/// the scan leaves open); a line that is not JSON at all is reported as such.
fn check_form(line: &[u8]) -> Result<(), LineError> {
    let canonical_form = match crate::canon::check(line) {
        Some(c) => c,
        None => {
            let v: Value =
                serde_json::from_slice(line).map_err(|e| LineError::NotJson(e.to_string()))?;
            canonical(&v).is_ok_and(|c| c == line)
        }
    };
    if canonical_form {
        return Ok(());
    }
    match serde_json::from_slice::<serde::de::IgnoredAny>(line) {
        Err(e) => Err(LineError::NotJson(e.to_string())),
        Ok(_) => Err(LineError::NotCanonical),
    }
}

/// Parses one ledger line (without its `\n`) and checks its form and hash, borrowing
/// from the line.
///
/// # Errors
/// [`LineError`] naming the first problem found.
pub fn parse_raw(line: &[u8]) -> Result<RawEntry<'_>, LineError> {
    // Form before content: a re-spelled line (`2.0` for `2`) is a canonical-form failure.
    check_form(line)?;
    let env: Envelope<'_> =
        serde_json::from_slice(line).map_err(|e| LineError::Shape(e.to_string()))?;
    let claimed = hex_field("hash", env.hash)?;
    let prev = hex_field("prev", env.prev)?;
    let payload = env.payload.get().as_bytes();
    if payload.first() != Some(&b'{') {
        return Err(LineError::Shape(
            "field \"payload\" is not an object".into(),
        ));
    }
    // Canonical form puts `hash` first: `{"hash":"<64 hex>",` then the rest of the preimage.
    if line.len() <= HASH_PREFIX_LEN || !line.starts_with(b"{\"hash\":\"") {
        return Err(LineError::NotCanonical);
    }
    let actual = Digest::of_parts(&[ENTRY_TAG, b"{", &line[HASH_PREFIX_LEN..]]);
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
