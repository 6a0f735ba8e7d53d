//! The checks that need the entries in order (seq, chain, run id, start and finalize,
//! stages) and the fold, fed one checked line at a time.

use std::path::Path;

use receipt_primitives::Digest;
use receipt_primitives::check::{CheckId, Verdict, echo};

use super::findings::Findings;
use super::payload::{check_payload, check_run_id};
use super::stages::Stages;
use crate::entry::{LineError, RawEntry, genesis, kind};
use crate::ledger::Head;
use crate::receipt::{PayloadView, RunFold};

/// The checks that need entries in order (seq, chain, run id, start and finalize, stages)
/// and the fold, fed one line at a time.
pub(super) struct Ordered {
    fold: RunFold,
    stages: Stages,
    line_no: u64,
    /// The hash the next entry must link to; `None` after a line whose hash is unknown.
    prev: Option<Digest>,
    prev_known: bool,
    run_id: Option<String>,
    finalizes: u64,
    after_finalize: bool,
    head_entries: Option<u64>,
    head_hash: Option<Digest>,
    /// The Merkle root over the entries up to the one the head file records.
    head_root: Option<Digest>,
}

/// One line checked on its own: whether it ended in a newline, and its entry and payload.
pub(super) type Checked<'a> = (
    bool,
    Result<(RawEntry<'a>, Result<PayloadView<'a>, String>), LineError>,
);

impl Ordered {
    pub(super) fn take(&mut self, f: &mut Findings, (complete, parsed): &Checked<'_>) {
        self.line_no += 1;
        let line_no = self.line_no;
        let expected_seq = self.line_no - 1;
        if !*complete {
            f.add(
                CheckId::LedgerParse,
                Verdict::Unknown,
                format!("line {line_no} has no terminating newline (a torn write)."),
            );
        }
        let (entry, view) = match parsed {
            Ok(e) => e,
            Err(err) => {
                let (name, verdict) = match &err {
                    LineError::NotJson(_) | LineError::Shape(_) => {
                        (CheckId::LedgerParse, Verdict::Unknown)
                    }
                    LineError::NotCanonical => (CheckId::LedgerCanonical, Verdict::Fail),
                    LineError::HashMismatch { .. } => (CheckId::LedgerHash, Verdict::Fail),
                };
                f.add(
                    name,
                    verdict,
                    format!("line {line_no} {}.", echo(&err.to_string())),
                );
                // Link the next line to the hash this one claims, when it claims one.
                match &err {
                    LineError::HashMismatch { claimed, .. } => {
                        self.prev = Digest::from_hex(claimed).ok();
                        self.prev_known = self.prev.is_some();
                    }
                    _ => self.prev_known = false,
                }
                return;
            }
        };
        if entry.seq != expected_seq {
            f.add(
                CheckId::LedgerSeq,
                Verdict::Fail,
                format!(
                    "line {line_no} has seq {} where {expected_seq} was expected.",
                    entry.seq
                ),
            );
        }
        match &self.run_id {
            None => {
                check_run_id(f, &entry.run_id);
                self.run_id = Some(entry.run_id.clone().into_owned());
            }
            Some(r) if *r != *entry.run_id => f.add(
                CheckId::LedgerRunId,
                Verdict::Fail,
                format!(
                    "line {line_no} belongs to run {:?}, not {:?}.",
                    echo(&entry.run_id),
                    echo(r)
                ),
            ),
            Some(_) => {}
        }
        let expected_prev = if self.line_no == 1 {
            Some(genesis(self.run_id.as_deref().unwrap_or_default()))
        } else if self.prev_known {
            self.prev
        } else {
            None
        };
        if let Some(p) = expected_prev
            && entry.prev != p
        {
            let what = if self.line_no == 1 {
                "does not link to the genesis of its run id".to_owned()
            } else {
                format!("does not link to the hash of line {}", self.line_no - 1)
            };
            f.add(
                CheckId::LedgerChain,
                Verdict::Fail,
                format!("line {line_no} {what}."),
            );
        }
        self.prev = Some(entry.hash);
        self.prev_known = true;
        if self.line_no == 1 && entry.kind != kind::RUN_START {
            f.add(
                CheckId::RunStart,
                Verdict::Fail,
                format!("line 1 is {} rather than RUN_START.", echo(&entry.kind)),
            );
        } else if self.line_no > 1 && entry.kind == kind::RUN_START {
            f.add(
                CheckId::RunStart,
                Verdict::Fail,
                format!("line {line_no} is a second RUN_START."),
            );
        }
        if self.after_finalize {
            f.add(
                CheckId::RunFinalize,
                Verdict::Fail,
                format!("line {line_no} follows RUN_FINALIZE."),
            );
        }
        if entry.kind == kind::RUN_FINALIZE {
            self.finalizes += 1;
            self.after_finalize = true;
        }
        if !matches!(
            &*entry.kind,
            kind::RUN_START
                | kind::STAGE_ENTER
                | kind::STAGE_EXIT
                | kind::EVENT
                | kind::VIOLATION
                | kind::EVIDENCE
                | kind::RUN_FINALIZE
        ) {
            f.add(
                CheckId::LedgerParse,
                Verdict::Unknown,
                format!("line {line_no} has unknown type {:?}.", echo(&entry.kind)),
            );
        }
        let default_view;
        let view = match view {
            Ok(v) => v,
            Err(e) => {
                f.add(
                    CheckId::LedgerParse,
                    Verdict::Unknown,
                    format!(
                        "line {line_no}: payload field has the wrong type: {}.",
                        echo(e)
                    ),
                );
                default_view = PayloadView::default();
                &default_view
            }
        };
        check_payload(f, self.line_no, &entry.kind, entry.stage.as_deref(), view);
        self.stages
            .entry(f, self.line_no, &entry.kind, entry.stage.as_deref(), view);
        self.fold.push(
            entry.seq,
            entry.hash,
            &entry.run_id,
            &entry.kind,
            entry.stage.as_deref(),
            view,
        );
        if self.head_entries == Some(self.line_no) {
            self.head_hash = Some(entry.hash);
            self.head_root = Some(self.fold.merkle_root());
        }
    }
}

impl Ordered {
    /// Checks for a ledger whose head file records `head_entries` fsynced entries.
    pub(super) fn new(head_entries: Option<u64>) -> Self {
        Ordered {
            fold: RunFold::new(),
            stages: Stages::default(),
            line_no: 0,
            prev: None,
            prev_known: true,
            run_id: None,
            finalizes: 0,
            after_finalize: false,
            head_entries,
            head_hash: None,
            head_root: None,
        }
    }

    /// Lines taken so far.
    pub(super) fn lines(&self) -> u64 {
        self.line_no
    }

    /// The checks made once every line has been taken (entry count, finalize, head file,
    /// open stages, violations), and the passes of the checks that found nothing; returns
    /// the fold of the ledger.
    pub(super) fn conclude(self, head: Option<&Head>, path: &Path, f: &mut Findings) -> RunFold {
        let Ordered {
            fold,
            stages,
            line_no,
            run_id,
            finalizes,
            head_hash,
            head_root,
            ..
        } = self;
        let n = line_no;
        if n == 0 {
            f.add(
                CheckId::RunStart,
                Verdict::Fail,
                "the ledger is empty.".into(),
            );
        }
        match finalizes {
            0 => f.add(
                CheckId::RunFinalize,
                Verdict::Fail,
                "there is no RUN_FINALIZE: the run did not finish or its tail was removed.".into(),
            ),
            1 => f.pass(
                CheckId::RunFinalize,
                "exactly one RUN_FINALIZE, and it is the last entry.".into(),
            ),
            k => f.add(
                CheckId::RunFinalize,
                Verdict::Fail,
                format!("there are {k} RUN_FINALIZE entries."),
            ),
        }
        if let Some(h) = head {
            if h.entries > n {
                f.add(CheckId::LedgerHead, Verdict::Fail, format!("the head file records {} fsynced entries but the ledger has {n}: entries were removed.", h.entries));
            } else if head_hash != Some(h.last_entry_sha256)
                || run_id.as_deref() != Some(h.run_id.as_str())
            {
                f.add(
                    CheckId::LedgerHead,
                    Verdict::Fail,
                    format!("entry {} is not the one the head file records.", h.entries),
                );
            } else if head_root != Some(h.merkle_root) {
                f.add(
                    CheckId::LedgerHead,
                    Verdict::Fail,
                    format!(
                        "the head file's Merkle root {} is not the root over the ledger's first {} entries.",
                        h.merkle_root, h.entries
                    ),
                );
            } else {
                f.pass(
                    CheckId::LedgerHead,
                    format!(
                        "the head file's {} fsynced entries are present and match.",
                        h.entries
                    ),
                );
            }
        }
        if !stages.open.is_empty() {
            f.add(
                CheckId::RunStages,
                Verdict::Warn,
                format!(
                    "{} stages were entered but never exited.",
                    stages.open.len()
                ),
            );
        } else {
            f.pass(
                CheckId::RunStages,
                format!(
                    "{} stages entered and exited in proper nesting.",
                    fold.stages().count
                ),
            );
        }
        if stages.violations > 0 {
            f.add(
                CheckId::RunTransitions,
                Verdict::Warn,
                format!(
                    "{} illegal stage transitions were recorded as VIOLATION entries.",
                    stages.violations
                ),
            );
        } else {
            f.pass(
                CheckId::RunTransitions,
                "every stage transition is allowed by the recorded stage graph.".into(),
            );
        }
        f.pass(
            CheckId::LedgerParse,
            format!("all {n} lines are complete ledger entries."),
        );
        f.pass(
            CheckId::LedgerCanonical,
            format!("all {n} lines are canonical RFC 8785 JSON."),
        );
        f.pass(
            CheckId::LedgerHash,
            format!("all {n} entry hashes recompute."),
        );
        f.pass(
            CheckId::LedgerSeq,
            format!("seq runs from 0 to {} without gaps.", n.saturating_sub(1)),
        );
        f.pass(
            CheckId::LedgerChain,
            "every entry links to the one before it, the first to its run's genesis.".into(),
        );
        f.pass(
            CheckId::LedgerRunId,
            format!(
                "every entry belongs to run {:?}.",
                echo(&run_id.unwrap_or_default())
            ),
        );
        f.pass(
            CheckId::LedgerRead,
            format!("{} read, {n} lines.", path.display()),
        );
        f.pass(
            CheckId::RunStart,
            "the first entry is the only RUN_START.".into(),
        );
        f.pass(
            CheckId::RunId,
            "the run id is 1 to 128 characters of [A-Za-z0-9._-] starting with a letter or digit."
                .into(),
        );
        f.pass(
            CheckId::RunSchema,
            format!(
                "RUN_START names the ledger schema {:?}.",
                crate::entry::LEDGER_SCHEMA
            ),
        );
        f.pass(
            CheckId::RunTimestamps,
            "started_at and finished_at are timestamps.".into(),
        );
        f.pass(
            CheckId::RunHashes,
            "every stage input and output is a SHA-256 digest or null.".into(),
        );
        f.pass(
            CheckId::RunStatus,
            "every stage outcome and the run's status are known values.".into(),
        );
        match stages.ids.full_at {
            Some(at) => f.add(
                CheckId::RunStageIds,
                Verdict::Unknown,
                format!(
                    "from line {at} on, stage ids fall into more than {} separate runs of consecutive ids, the most this verifier keeps, so reuse was not checked for every stage.",
                    super::stages::MAX_ID_RANGES
                ),
            ),
            None => f.pass(
                CheckId::RunStageIds,
                "no stage id is used by two stages.".into(),
            ),
        }
        f.pass(
            CheckId::RunWallNs,
            "every stage's wall_ns is its exit time minus its enter time.".into(),
        );
        fold
    }
}
