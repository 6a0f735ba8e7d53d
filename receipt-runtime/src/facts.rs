//! A front-to-back read of a run ledger into the facts that run invariants and the run
//! export are computed from: entry counts, stage calls in order, evidence references,
//! declared side effects, the run's start and end, and which entries are missing
//! (docs/SPEC.md §16 and §17).
//!
//! Integrity (hashes, chain, canonical form) is the verifier's job ([`crate::verify`]); this
//! read only keeps the lines that parse as entries with a correct hash, and records every
//! position it could not account for as missing.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use receipt_evidence::RedactionRecord;
use receipt_evidence::verify::EvidenceRef;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::entry::{MAX_LINE_BYTES, kind, parse_line};

/// The name of the `tracing` field that declares an `EVENT` to be a side effect of a
/// category (`tracing::info!(side_effect = "http.request", …)`).
pub const SIDE_EFFECT_FIELD: &str = "side_effect";

/// A run of consecutive missing entry positions; `last` is `None` when the range is open
/// ended (the run did not finalize, so how many entries were lost is not known).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeqRange {
    /// First missing `seq`.
    pub first: u64,
    /// Last missing `seq`, or `None` for "and everything after".
    pub last: Option<u64>,
}

/// Calls of one stage name and how they ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StageCounts {
    /// `STAGE_ENTER` entries.
    pub calls: u64,
    /// Exits with outcome `ok`.
    pub ok: u64,
    /// Exits with outcome `err`.
    pub err: u64,
    /// Exits with outcome `panic`.
    pub panic: u64,
    /// Enters without an exit by the end of the ledger.
    pub open: u64,
    /// `EVENT` entries recorded inside the stage.
    pub events: u64,
}

/// How a stage call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    /// Returned normally (`ok`).
    Ok,
    /// Returned an error (`err`).
    Err,
    /// Panicked (`panic`).
    Panic,
}

impl Outcome {
    fn parse(s: &str) -> Option<Outcome> {
        match s {
            "ok" => Some(Outcome::Ok),
            "err" => Some(Outcome::Err),
            "panic" => Some(Outcome::Panic),
            _ => None,
        }
    }

    /// `ok`, `err` or `panic`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Err => "err",
            Outcome::Panic => "panic",
        }
    }
}

/// One `STAGE_EXIT`, in ledger order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exit {
    /// Its `seq`.
    pub seq: u64,
    /// Stage name.
    pub stage: String,
    /// Stage id.
    pub id: u64,
    /// Nesting depth.
    pub depth: u64,
    /// How it ended.
    pub outcome: Outcome,
    /// Wall time of the call.
    pub wall_ns: u64,
}

/// One `EVIDENCE` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvidenceFact {
    /// Its `seq`.
    pub seq: u64,
    /// The stage it was recorded in.
    pub stage: Option<String>,
    /// The id of that stage call.
    pub stage_id: Option<u64>,
    /// Key, class, blob and size.
    pub reference: EvidenceRef,
    /// What redaction removed before the blob was hashed.
    pub redaction: RedactionRecord,
}

/// The payload members of an `EVIDENCE` entry (docs/SPEC.md §16.9).
#[derive(Debug, Clone, Deserialize)]
pub struct EvidencePayload {
    /// Key, class, blob and size.
    #[serde(flatten)]
    pub reference: EvidenceRef,
    /// The redaction record.
    pub redaction: RedactionRecord,
    /// The stage call it was recorded in.
    pub stage_id: u64,
    /// Nanoseconds since the run started.
    pub t_ns: u64,
    /// Recording thread.
    pub thread: u64,
}

/// The `RUN_FINALIZE` entry's fields.
#[derive(Debug, Clone, PartialEq)]
pub struct Finalize {
    /// Its `seq`.
    pub seq: u64,
    /// `ok`, `failed` or `panicked`.
    pub status: String,
    /// Wall-clock end.
    pub finished_at: Option<String>,
    /// Resource totals.
    pub totals: Option<Value>,
}

/// Everything read from one ledger.
#[derive(Debug, Clone, Default)]
pub struct RunFacts {
    /// Run id of the first valid entry.
    pub run_id: Option<String>,
    /// `RUN_START.program`.
    pub program: Option<String>,
    /// `RUN_START.producer`.
    pub producer: Option<String>,
    /// `RUN_START.started_at`.
    pub started_at: Option<String>,
    /// `RUN_START.unmeasured`: measure name → reason.
    pub unmeasured: BTreeMap<String, String>,
    /// Every `RUN_FINALIZE`, in order.
    pub finalizes: Vec<Finalize>,
    /// Lines in the file (a final line without its newline included).
    pub lines: u64,
    /// Lines that are valid entries.
    pub valid: u64,
    /// `seq` of the first valid entry.
    pub first_seq: Option<u64>,
    /// `seq` of the last valid entry.
    pub last_seq: Option<u64>,
    /// Type of the last valid entry.
    pub last_kind: Option<String>,
    /// Hash of the last valid entry.
    pub last_hash: Option<receipt_primitives::Digest>,
    /// Entry positions not accounted for by a valid entry, in order and merged.
    pub missing: Vec<SeqRange>,
    /// Valid entries whose `seq` does not follow the previous one's.
    pub out_of_order: u64,
    /// Entries per type.
    pub kinds: BTreeMap<String, u64>,
    /// Per stage name.
    pub stages: BTreeMap<String, StageCounts>,
    /// Every exit, in order.
    pub exits: Vec<Exit>,
    /// `EVENT` entries per level.
    pub event_levels: BTreeMap<String, u64>,
    /// `EVENT` entries per (stage, level).
    pub stage_event_levels: BTreeMap<(String, String), u64>,
    /// Declared side effects per category; `EVENT`s whose `side_effect` field is not a
    /// category name are counted under [`INVALID_CATEGORY`].
    pub side_effects: BTreeMap<String, u64>,
    /// Every `EVIDENCE` entry, in order.
    pub evidence: Vec<EvidenceFact>,
    /// `EVIDENCE` entries whose payload does not have the §16.9 shape: (seq, why).
    pub bad_evidence: Vec<(u64, String)>,
    /// Stage calls still open at the end: (id, name).
    pub open: Vec<(u64, String)>,
    /// The first line that is not a valid entry: (1-based line, why).
    pub first_bad_line: Option<(u64, String)>,
}

/// The side-effect category under which malformed `side_effect` fields are counted.
pub const INVALID_CATEGORY: &str = "<invalid>";

/// Errors reading a ledger at all.
#[derive(Debug, thiserror::Error)]
pub enum FactsError {
    /// The ledger could not be opened or read.
    #[error(transparent)]
    Read(#[from] receipt_primitives::confine::ReadError),
    /// Reading failed midway.
    #[error("{path}: {source}")]
    Io {
        /// The ledger.
        path: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

/// Whether `s` is a side-effect category: 1 to 64 of `[a-z0-9_.-]`, starting with a letter.
pub fn is_category(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.as_bytes()[0].is_ascii_lowercase()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.-".contains(&b))
}

impl RunFacts {
    /// Reads the ledger at `path` (a regular file; symbolic links the user named are
    /// followed, FIFOs and devices refused).
    ///
    /// # Errors
    /// [`FactsError`] when the file cannot be opened or read; bad lines are not errors but
    /// missing entries.
    pub fn read(path: &Path) -> Result<RunFacts, FactsError> {
        let opened = receipt_primitives::confine::open_file(path)?;
        let shown = path.display().to_string();
        Self::from_reader(BufReader::new(opened.file), &shown)
    }

    /// [`RunFacts::read`] from any reader; `shown` names it in errors.
    ///
    /// # Errors
    /// [`FactsError::Io`] when reading fails.
    pub fn from_reader(mut r: impl BufRead, shown: &str) -> Result<RunFacts, FactsError> {
        let mut f = Fold::default();
        let mut line = Vec::new();
        loop {
            line.clear();
            let n = (&mut r)
                .take(MAX_LINE_BYTES + 1)
                .read_until(b'\n', &mut line)
                .map_err(|source| FactsError::Io {
                    path: shown.to_owned(),
                    source,
                })?;
            if n == 0 {
                break;
            }
            let complete = line.last() == Some(&b'\n');
            if complete {
                line.pop();
            }
            f.line(&line, complete);
            if !complete && n as u64 > MAX_LINE_BYTES {
                // An endless line: nothing after it can be placed.
                break;
            }
        }
        Ok(f.finish())
    }

    /// Status of the run: the last `RUN_FINALIZE`'s, or `unfinished` without one.
    pub fn status(&self) -> &str {
        self.finalizes
            .last()
            .map_or("unfinished", |f| f.status.as_str())
    }

    /// Whether the last valid entry is the only `RUN_FINALIZE` and nothing is missing.
    pub fn is_complete(&self) -> bool {
        self.finalizes.len() == 1
            && self.last_kind.as_deref() == Some(kind::RUN_FINALIZE)
            && self.missing.is_empty()
            && self.out_of_order == 0
    }
}

/// The running state of a read.
#[derive(Default)]
struct Fold {
    facts: RunFacts,
    /// The `seq` the next line should have.
    next: u64,
    /// Open stage calls: id → name.
    open: BTreeMap<u64, String>,
}

impl Fold {
    fn gap(&mut self, first: u64, last: Option<u64>) {
        if let Some(prev) = self.facts.missing.last_mut()
            && let Some(pl) = prev.last
            && pl.checked_add(1) == Some(first)
        {
            prev.last = last;
            return;
        }
        self.facts.missing.push(SeqRange { first, last });
    }

    fn line(&mut self, bytes: &[u8], complete: bool) {
        self.facts.lines += 1;
        let parsed = if complete {
            parse_line(bytes).map_err(|e| e.to_string())
        } else {
            Err("has no final newline (a torn write)".to_owned())
        };
        let e = match parsed {
            Ok(e) => e,
            Err(why) => {
                if self.facts.first_bad_line.is_none() {
                    self.facts.first_bad_line = Some((self.facts.lines, why));
                }
                self.gap(self.next, Some(self.next));
                self.next += 1;
                return;
            }
        };
        if e.seq > self.next {
            self.gap(self.next, Some(e.seq - 1));
        } else if e.seq < self.next {
            self.facts.out_of_order += 1;
        }
        self.next = e.seq.saturating_add(1);
        let f = &mut self.facts;
        f.valid += 1;
        f.first_seq.get_or_insert(e.seq);
        f.last_seq = Some(e.seq);
        f.last_hash = Some(e.hash);
        f.run_id.get_or_insert_with(|| e.run_id.clone());
        *f.kinds.entry(e.kind.clone()).or_default() += 1;
        let p = &e.payload;
        let text = |k: &str| p.get(k).and_then(Value::as_str).map(str::to_owned);
        let num = |k: &str| p.get(k).and_then(Value::as_u64);
        match e.kind.as_str() {
            kind::RUN_START => {
                f.program = text("program");
                f.producer = text("producer");
                f.started_at = text("started_at");
                if let Some(Value::Object(m)) = p.get("unmeasured") {
                    for (k, v) in m {
                        f.unmeasured
                            .insert(k.clone(), v.as_str().unwrap_or_default().to_owned());
                    }
                }
            }
            kind::RUN_FINALIZE => f.finalizes.push(Finalize {
                seq: e.seq,
                status: text("status").unwrap_or_default(),
                finished_at: text("finished_at"),
                totals: p.get("totals").cloned(),
            }),
            kind::STAGE_ENTER => {
                let name = e.stage.clone().unwrap_or_default();
                f.stages.entry(name.clone()).or_default().calls += 1;
                if let Some(id) = num("id") {
                    self.open.insert(id, name);
                }
            }
            kind::STAGE_EXIT => {
                let name = e.stage.clone().unwrap_or_default();
                let outcome = text("outcome").and_then(|o| Outcome::parse(&o));
                let id = num("id").unwrap_or(u64::MAX);
                self.open.remove(&id);
                let c = f.stages.entry(name.clone()).or_default();
                match outcome {
                    Some(Outcome::Ok) => c.ok += 1,
                    Some(Outcome::Err) => c.err += 1,
                    Some(Outcome::Panic) | None => c.panic += 1,
                }
                f.exits.push(Exit {
                    seq: e.seq,
                    stage: name,
                    id,
                    depth: num("depth").unwrap_or(0),
                    outcome: outcome.unwrap_or(Outcome::Panic),
                    wall_ns: num("wall_ns").unwrap_or(0),
                });
            }
            kind::EVENT => {
                let level = text("level").unwrap_or_default();
                let stage = e.stage.clone().unwrap_or_default();
                f.stages.entry(stage.clone()).or_default().events += 1;
                *f.event_levels.entry(level.clone()).or_default() += 1;
                *f.stage_event_levels.entry((stage, level)).or_default() += 1;
                if let Some(cat) = p.get("fields").and_then(|x| x.get(SIDE_EFFECT_FIELD)) {
                    let cat = cat.as_str().filter(|c| is_category(c));
                    *f.side_effects
                        .entry(cat.unwrap_or(INVALID_CATEGORY).to_owned())
                        .or_default() += 1;
                }
            }
            crate::evidence::EVIDENCE_KIND => {
                match serde_json::from_value::<EvidencePayload>(p.clone()) {
                    Ok(ev) => {
                        let open = self.open.get(&ev.stage_id);
                        if !crate::evidence::is_key(&ev.reference.key) {
                            f.bad_evidence.push((
                                e.seq,
                                "its key is not 1 to 128 of [A-Za-z0-9._:/-]".to_owned(),
                            ));
                        } else if e.stage.is_none() || open != e.stage.as_ref() {
                            f.bad_evidence.push((
                                e.seq,
                                format!(
                                    "it names stage {:?} (id {}), which is not open there",
                                    e.stage.as_deref().unwrap_or("null"),
                                    ev.stage_id
                                ),
                            ));
                        }
                        f.evidence.push(EvidenceFact {
                            seq: e.seq,
                            stage: e.stage.clone(),
                            stage_id: Some(ev.stage_id),
                            reference: ev.reference,
                            redaction: ev.redaction,
                        });
                    }
                    Err(why) => f.bad_evidence.push((e.seq, why.to_string())),
                }
            }
            _ => {}
        }
        f.last_kind = Some(e.kind);
    }

    fn finish(mut self) -> RunFacts {
        let finalized = self.facts.last_kind.as_deref() == Some(kind::RUN_FINALIZE);
        if !finalized {
            // Whatever the run wrote after its last readable entry is lost, and how much is
            // not known.
            self.gap(self.next, None);
        }
        for (id, name) in std::mem::take(&mut self.open) {
            self.facts.stages.entry(name.clone()).or_default().open += 1;
            self.facts.open.push((id, name));
        }
        self.facts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories_are_lower_case_names() {
        assert!(is_category("http.request"));
        assert!(is_category("fs-write_2"));
        assert!(!is_category(""));
        assert!(!is_category("HTTP"));
        assert!(!is_category("1fs"));
        assert!(!is_category(&"a".repeat(65)));
    }

    #[test]
    fn an_empty_ledger_is_missing_everything() {
        let f = RunFacts::from_reader(&b""[..], "x").unwrap();
        assert_eq!(
            f.missing,
            vec![SeqRange {
                first: 0,
                last: None
            }]
        );
        assert!(!f.is_complete());
        assert_eq!(f.status(), "unfinished");
    }

    #[test]
    fn bad_lines_become_missing_positions_and_merge() {
        let f = RunFacts::from_reader(&b"junk\nmore junk\n{\"torn"[..], "x").unwrap();
        assert_eq!(f.lines, 3);
        assert_eq!(f.valid, 0);
        assert_eq!(
            f.missing,
            vec![SeqRange {
                first: 0,
                last: None
            }]
        );
        assert_eq!(f.first_bad_line.as_ref().map(|b| b.0), Some(1));
    }
}
