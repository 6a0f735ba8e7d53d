//! The run receipt and the fold that produces it from ledger entries, used both by the
//! writer at finalize and by the verifier to recompute what a receipt must say.

use std::borrow::Cow;
use std::collections::BTreeMap;

use receipt_primitives::Digest;
use receipt_primitives::merkle::MerkleAccumulator;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::entry::kind;
use crate::measure::Measure;

/// Schema tag of the run receipt.
pub const RECEIPT_SCHEMA: &str = "receipt.run/1";

/// Domain-separation tag prefixed to the trajectory stream before hashing.
pub const TRAJECTORY_TAG: &[u8] = b"receipt.run-trajectory.v1\0";

/// The run receipt (`<ledger>.receipt.json`, RFC 8785 JSON): what a third party checks a
/// ledger against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunReceipt {
    /// Always [`RECEIPT_SCHEMA`].
    pub schema: String,
    /// The run id of every ledger entry.
    pub run_id: String,
    /// Program name from `RUN_START`.
    pub program: String,
    /// Run status from `RUN_FINALIZE`.
    pub status: String,
    /// Wall-clock start (`RUN_START.payload.started_at`).
    pub started_at: String,
    /// Wall-clock end (`RUN_FINALIZE.payload.finished_at`).
    pub finished_at: String,
    /// What the ledger holds.
    pub ledger: LedgerSummary,
    /// Stage counts and per-stage totals.
    pub stages: StageSummary,
    /// Resource totals, copied from `RUN_FINALIZE.payload.totals`.
    pub resources: Value,
    /// Hash of the run's deterministic projection (names, nesting, hashes, outcomes).
    pub trajectory_sha256: Digest,
}

/// The ledger facts a receipt pins: count, ends, last hash and Merkle root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedgerSummary {
    /// Number of entries.
    pub entries: u64,
    /// `seq` of the first entry (always 0).
    pub first_seq: u64,
    /// `seq` of the last entry.
    pub last_seq: u64,
    /// `hash` of the last entry.
    pub last_entry_sha256: Digest,
    /// RFC 6962 root over the entry hashes, each leaf being `SHA-256(0x00 ‖ hash bytes)`.
    pub merkle_root: Digest,
}

/// Stage counts of a run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageSummary {
    /// Number of `STAGE_ENTER` entries.
    pub count: u64,
    /// Number of stages whose outcome was `err` or `panic`.
    pub failures: u64,
    /// Number of `VIOLATION` entries.
    pub violations: u64,
    /// Number of `EVENT` entries.
    pub events: u64,
    /// Totals per stage name.
    pub per_stage: BTreeMap<String, StageTotals>,
}

/// Totals of one stage name over a run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageTotals {
    /// Completed calls (`STAGE_EXIT` entries).
    pub calls: u64,
    /// Calls whose outcome was `err` or `panic`.
    pub failures: u64,
    /// Sum of `wall_ns`.
    pub wall_ns: u64,
    /// Sum of the measured `cpu_ns` values.
    pub cpu_ns: u64,
    /// Calls whose `cpu_ns` was unavailable.
    pub cpu_unmeasured: u64,
}

/// Entry hashes folded into the Merkle root at a time.
const LEAF_BATCH: usize = 64;

/// Folds ledger entries, in order, into the figures of a run receipt.
#[derive(Debug, Clone)]
pub struct RunFold {
    merkle: MerkleAccumulator,
    /// Entry hashes not yet in `merkle`: they go in [`LEAF_BATCH`] at a time, whose leaf
    /// and node hashes are computed two at a time.
    leaves: Vec<[u8; 32]>,
    first_seq: Option<u64>,
    last_seq: u64,
    last_hash: Option<Digest>,
    trajectory: Sha256,
    stages: StageSummary,
    run_id: Option<String>,
    program: Option<String>,
    started_at: Option<String>,
    finalize: Option<Finalize>,
    scratch: Vec<u8>,
}

#[derive(Debug, Clone)]
struct Finalize {
    status: Option<String>,
    finished_at: Option<String>,
    totals: Value,
}

impl Default for RunFold {
    fn default() -> Self {
        let mut trajectory = Sha256::new();
        trajectory.update(TRAJECTORY_TAG);
        RunFold {
            merkle: MerkleAccumulator::new(),
            leaves: Vec::with_capacity(LEAF_BATCH),
            first_seq: None,
            last_seq: 0,
            last_hash: None,
            trajectory,
            stages: StageSummary::default(),
            run_id: None,
            program: None,
            started_at: None,
            finalize: None,
            scratch: Vec::with_capacity(256),
        }
    }
}

/// The payload fields the fold and the verifier read; everything else is carried but not
/// interpreted. Small, as a verifier keeps one per line of a group in flight: the fields of
/// the two run entries are boxed.
#[derive(Debug, Default)]
pub struct PayloadView<'a> {
    /// Stage id (`STAGE_ENTER`, `STAGE_EXIT`).
    pub id: Option<u64>,
    /// Parent stage id (`STAGE_ENTER`, `VIOLATION`).
    pub parent: Option<u64>,
    /// Nesting depth.
    pub depth: Option<u64>,
    /// Recording thread.
    pub thread: Option<u64>,
    /// Declared predecessor (`STAGE_ENTER`), or the actual one (`VIOLATION`).
    pub after: Option<Cow<'a, str>>,
    /// Input hash.
    pub input: Option<Cow<'a, str>>,
    /// Output hash.
    pub output: Option<Cow<'a, str>>,
    /// `ok`, `err` or `panic`.
    pub outcome: Option<Cow<'a, str>>,
    /// Wall time of a stage.
    pub wall_ns: Option<u64>,
    /// Monotonic time of the entry.
    pub t_ns: Option<u64>,
    /// The stage an `EVENT` happened in.
    pub stage_id: Option<u64>,
    /// The violation policy (`RUN_START`, `VIOLATION`).
    pub policy: Option<Cow<'a, str>>,
    /// Thread CPU time of a stage, when it is a number (it may be an unavailable object).
    pub cpu_ns: Option<u64>,
    /// The fields of `RUN_START` and `RUN_FINALIZE`.
    pub run: Option<Box<RunFields<'a>>>,
}

/// The payload fields of `RUN_START` and `RUN_FINALIZE` that the fold reads.
#[derive(Debug, Default)]
pub struct RunFields<'a> {
    /// `RUN_START` ledger schema.
    pub schema: Option<Cow<'a, str>>,
    /// `RUN_START` hash of the arguments.
    pub argv_sha256: Option<Cow<'a, str>>,
    /// `RUN_START` program.
    pub program: Option<Cow<'a, str>>,
    /// `RUN_START` wall-clock start.
    pub started_at: Option<Cow<'a, str>>,
    /// `RUN_START` declared stage graph.
    pub graph: Option<crate::graph::StageGraph>,
    /// `RUN_FINALIZE` status.
    pub status: Option<Cow<'a, str>>,
    /// `RUN_FINALIZE` wall-clock end.
    pub finished_at: Option<Cow<'a, str>>,
    /// `RUN_FINALIZE` resource totals.
    pub totals: Option<Value>,
}

/// Every field of [`PayloadView`] as serde reads it from a payload.
#[derive(Deserialize)]
struct FullView<'a> {
    id: Option<u64>,
    parent: Option<u64>,
    depth: Option<u64>,
    thread: Option<u64>,
    #[serde(borrow)]
    after: Option<Cow<'a, str>>,
    #[serde(borrow)]
    input: Option<Cow<'a, str>>,
    #[serde(borrow)]
    output: Option<Cow<'a, str>>,
    #[serde(borrow)]
    outcome: Option<Cow<'a, str>>,
    wall_ns: Option<u64>,
    t_ns: Option<u64>,
    stage_id: Option<u64>,
    #[serde(borrow)]
    policy: Option<Cow<'a, str>>,
    cpu_ns: Option<Value>,
    #[serde(borrow)]
    schema: Option<Cow<'a, str>>,
    #[serde(borrow)]
    argv_sha256: Option<Cow<'a, str>>,
    #[serde(borrow)]
    program: Option<Cow<'a, str>>,
    #[serde(borrow)]
    started_at: Option<Cow<'a, str>>,
    graph: Option<crate::graph::StageGraph>,
    #[serde(borrow)]
    status: Option<Cow<'a, str>>,
    #[serde(borrow)]
    finished_at: Option<Cow<'a, str>>,
    totals: Option<Value>,
}

impl<'a> From<FullView<'a>> for PayloadView<'a> {
    fn from(f: FullView<'a>) -> Self {
        let run = RunFields {
            schema: f.schema,
            argv_sha256: f.argv_sha256,
            program: f.program,
            started_at: f.started_at,
            graph: f.graph,
            status: f.status,
            finished_at: f.finished_at,
            totals: f.totals,
        };
        let has_run = run.schema.is_some()
            || run.argv_sha256.is_some()
            || run.program.is_some()
            || run.started_at.is_some()
            || run.graph.is_some()
            || run.status.is_some()
            || run.finished_at.is_some()
            || run.totals.is_some();
        PayloadView {
            id: f.id,
            parent: f.parent,
            depth: f.depth,
            thread: f.thread,
            after: f.after,
            input: f.input,
            output: f.output,
            outcome: f.outcome,
            wall_ns: f.wall_ns,
            t_ns: f.t_ns,
            stage_id: f.stage_id,
            policy: f.policy,
            cpu_ns: f.cpu_ns.as_ref().and_then(Value::as_u64),
            run: has_run.then(|| Box::new(run)),
        }
    }
}

impl<'a> PayloadView<'a> {
    /// Reads the fields of interest from a payload's JSON bytes.
    ///
    /// # Errors
    /// The serde error when a field of interest has the wrong type.
    pub fn parse(payload: &'a [u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice::<FullView<'a>>(payload).map(Into::into)
    }

    /// Reads the fields of interest of a stage, event or violation payload from the
    /// member positions the canonical-form scan recorded in `line`; `None` when a field
    /// needs the general parser ([`PayloadView::parse`] then gives the same view, or the
    /// error).
    pub(crate) fn from_layout(line: &'a str, members: &[crate::canon::Member]) -> Option<Self> {
        use crate::entry::{plain_str, plain_u64_bytes};
        // Keys and numbers are read as bytes: the scan put every position on an ASCII
        // delimiter, so only the string values taken as text need a boundary check.
        let b = line.as_bytes();
        let mut v = PayloadView::default();
        for m in members {
            let value = b.get(m.value.0..m.value.1)?;
            let null = value == b"null";
            let num = |slot: &mut Option<u64>| -> Option<()> {
                *slot = if null {
                    None
                } else {
                    Some(plain_u64_bytes(value)?)
                };
                Some(())
            };
            let text = |slot: &mut Option<Cow<'a, str>>| -> Option<()> {
                *slot = if null {
                    None
                } else {
                    Some(Cow::Borrowed(plain_str(line, m)?))
                };
                Some(())
            };
            match b.get(m.key.0..m.key.1)? {
                b"id" => num(&mut v.id)?,
                b"parent" => num(&mut v.parent)?,
                b"depth" => num(&mut v.depth)?,
                b"thread" => num(&mut v.thread)?,
                b"wall_ns" => num(&mut v.wall_ns)?,
                b"t_ns" => num(&mut v.t_ns)?,
                b"stage_id" => num(&mut v.stage_id)?,
                b"policy" => text(&mut v.policy)?,
                b"after" => text(&mut v.after)?,
                b"input" => text(&mut v.input)?,
                b"output" => text(&mut v.output)?,
                b"outcome" => text(&mut v.outcome)?,
                b"schema" => text(&mut v.run.get_or_insert_default().schema)?,
                b"argv_sha256" => text(&mut v.run.get_or_insert_default().argv_sha256)?,
                b"program" => text(&mut v.run.get_or_insert_default().program)?,
                b"started_at" => text(&mut v.run.get_or_insert_default().started_at)?,
                b"status" => text(&mut v.run.get_or_insert_default().status)?,
                b"finished_at" => text(&mut v.run.get_or_insert_default().finished_at)?,
                b"cpu_ns" => {
                    v.cpu_ns = if null {
                        None
                    } else if let Some(n) = plain_u64_bytes(value) {
                        Some(n)
                    } else {
                        serde_json::from_slice::<Value>(value).ok()?.as_u64()
                    };
                }
                b"graph" | b"totals" => return None,
                _ => {}
            }
        }
        // As the general reader: run fields only when one of them is not null.
        if v.run.as_ref().is_some_and(|r| {
            r.program.is_none()
                && r.started_at.is_none()
                && r.status.is_none()
                && r.finished_at.is_none()
        }) {
            v.run = None;
        }
        Some(v)
    }
}

fn json_str(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => crate::entry::json_string(out, s),
        None => out.extend_from_slice(b"null"),
    }
}

/// Appends the canonical trajectory projection of one entry (and its `\n`) to `out`;
/// nothing for entries outside the projection.
///
/// `STAGE_ENTER` → `{"depth":d,"input":h|null,"stage":s,"t":"enter"}`;
/// `STAGE_EXIT` → `{"depth":d,"outcome":o,"output":h|null,"stage":s,"t":"exit"}`.
pub fn trajectory_item(out: &mut Vec<u8>, kind_: &str, stage: Option<&str>, p: &PayloadView<'_>) {
    let mut digits = [0u8; 20];
    let depth = crate::entry::format_u64(p.depth.unwrap_or_default(), &mut digits);
    match kind_ {
        kind::STAGE_ENTER => {
            out.extend_from_slice(b"{\"depth\":");
            out.extend_from_slice(depth);
            out.extend_from_slice(b",\"input\":");
            json_str(out, p.input.as_deref());
            out.extend_from_slice(b",\"stage\":");
            json_str(out, stage);
            out.extend_from_slice(b",\"t\":\"enter\"}\n");
        }
        kind::STAGE_EXIT => {
            out.extend_from_slice(b"{\"depth\":");
            out.extend_from_slice(depth);
            out.extend_from_slice(b",\"outcome\":");
            json_str(out, p.outcome.as_deref());
            out.extend_from_slice(b",\"output\":");
            json_str(out, p.output.as_deref());
            out.extend_from_slice(b",\"stage\":");
            json_str(out, stage);
            out.extend_from_slice(b",\"t\":\"exit\"}\n");
        }
        _ => {}
    }
}

impl RunFold {
    /// An empty fold.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one entry (already checked by the caller for chain and seq order).
    pub fn push(
        &mut self,
        seq: u64,
        hash: Digest,
        run_id: &str,
        kind_: &str,
        stage: Option<&str>,
        payload: &PayloadView<'_>,
    ) {
        self.leaves.push(hash.0);
        if self.leaves.len() == LEAF_BATCH {
            self.merkle.extend_leaf_data(&self.leaves);
            self.leaves.clear();
        }
        self.first_seq.get_or_insert(seq);
        self.last_seq = seq;
        self.last_hash = Some(hash);
        if self.run_id.is_none() {
            self.run_id = Some(run_id.to_owned());
        }
        self.scratch.clear();
        trajectory_item(&mut self.scratch, kind_, stage, payload);
        self.trajectory.update(&self.scratch);
        let owned = |c: &Option<Cow<'_, str>>| c.as_deref().map(str::to_owned);
        match kind_ {
            kind::RUN_START => {
                if let Some(run) = &payload.run {
                    self.program = owned(&run.program);
                    self.started_at = owned(&run.started_at);
                }
            }
            kind::STAGE_ENTER => self.stages.count += 1,
            kind::STAGE_EXIT => {
                let failed = matches!(payload.outcome.as_deref(), Some("err" | "panic"));
                self.stages.failures += u64::from(failed);
                let name = stage.unwrap_or_default();
                let totals = match self.stages.per_stage.get_mut(name) {
                    Some(t) => t,
                    None => self.stages.per_stage.entry(name.to_owned()).or_default(),
                };
                totals.calls += 1;
                totals.failures += u64::from(failed);
                totals.wall_ns = totals.wall_ns.saturating_add(payload.wall_ns.unwrap_or(0));
                match payload.cpu_ns {
                    Some(c) => totals.cpu_ns = totals.cpu_ns.saturating_add(c),
                    None => totals.cpu_unmeasured += 1,
                }
            }
            kind::EVENT => self.stages.events += 1,
            kind::VIOLATION => self.stages.violations += 1,
            kind::RUN_FINALIZE => {
                let run = payload.run.as_deref();
                self.finalize = Some(Finalize {
                    status: run.and_then(|r| owned(&r.status)),
                    finished_at: run.and_then(|r| owned(&r.finished_at)),
                    totals: run.and_then(|r| r.totals.clone()).unwrap_or(Value::Null),
                });
            }
            _ => {}
        }
    }

    /// Entries folded so far.
    pub fn count(&self) -> u64 {
        self.merkle.len() + self.leaves.len() as u64
    }

    /// Hash of the last entry folded.
    pub fn last_hash(&self) -> Option<Digest> {
        self.last_hash
    }

    /// Merkle root over the entries folded so far.
    pub fn merkle_root(&self) -> Digest {
        let mut all = self.merkle.clone();
        all.extend_leaf_data(&self.leaves);
        all.root()
    }

    /// The trajectory digest of the entries folded so far.
    pub fn trajectory(&self) -> Digest {
        Digest(self.trajectory.clone().finalize().into())
    }

    /// The stage summary so far.
    pub fn stages(&self) -> &StageSummary {
        &self.stages
    }

    /// The ledger facts folded so far; `None` before the first entry.
    pub fn ledger_summary(&self) -> Option<LedgerSummary> {
        Some(LedgerSummary {
            entries: self.count(),
            first_seq: self.first_seq?,
            last_seq: self.last_seq,
            last_entry_sha256: self.last_hash?,
            merkle_root: self.merkle_root(),
        })
    }

    /// The run id of the first entry.
    pub fn run_id(&self) -> Option<&str> {
        self.run_id.as_deref()
    }

    /// The receipt these entries call for; `None` until a `RUN_START` and a
    /// `RUN_FINALIZE` have been folded.
    pub fn receipt(&self) -> Option<RunReceipt> {
        let fin = self.finalize.as_ref()?;
        Some(RunReceipt {
            schema: RECEIPT_SCHEMA.to_owned(),
            run_id: self.run_id.clone()?,
            program: self.program.clone()?,
            status: fin.status.clone()?,
            started_at: self.started_at.clone()?,
            finished_at: fin.finished_at.clone()?,
            ledger: self.ledger_summary()?,
            stages: self.stages.clone(),
            resources: fin.totals.clone(),
            trajectory_sha256: self.trajectory(),
        })
    }
}

/// Totals of a run's resources as written in `RUN_FINALIZE.payload.totals`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Totals {
    pub wall_ns: u64,
    pub cpu_ns: Measure,
    pub peak_rss_kb: Measure,
    pub io_read_bytes: Measure,
    pub io_write_bytes: Measure,
    pub alloc_bytes: Measure,
}
