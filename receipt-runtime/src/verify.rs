//! Verification of a run ledger and its receipt, streaming in constant memory: chain, seq,
//! canonical bytes, finalize, stage transitions, and receipt ↔ ledger consistency.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use receipt_core::Digest;

use crate::entry::{LineError, genesis, kind, parse_raw};
use crate::graph::{START, StageGraph};
use crate::ledger::{Head, Lines, head_path, receipt_path};
use crate::receipt::{PayloadView, RunFold, RunReceipt};

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verdict {
    /// Verified and satisfied.
    Pass,
    /// Verified but degraded (recorded violations, missing head file, unclosed stages).
    Warn,
    /// Could not be verified (missing or unreadable evidence). Fails the overall result.
    Unknown,
    /// Verified and violated.
    Fail,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Pass => "PASS",
            Verdict::Warn => "WARN",
            Verdict::Unknown => "UNKNOWN",
            Verdict::Fail => "FAIL",
        })
    }
}

/// One named check and its verdict, with a plain sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// Stable check name, e.g. `ledger.chain`.
    pub name: &'static str,
    /// The verdict.
    pub verdict: Verdict,
    /// One sentence: what was verified, or the first problem found (and how many more).
    pub detail: String,
}

/// Every check of one run, in a fixed order.
#[derive(Debug, Clone)]
pub struct RunReport {
    /// The ledger verified.
    pub ledger: PathBuf,
    /// The receipt compared against it.
    pub receipt: PathBuf,
    /// The checks, in the order of [`CHECKS`].
    pub checks: Vec<Check>,
}

impl RunReport {
    /// Whether no check is FAIL or UNKNOWN.
    pub fn ok(&self) -> bool {
        self.checks
            .iter()
            .all(|c| matches!(c.verdict, Verdict::Pass | Verdict::Warn))
    }

    /// The check called `name`.
    pub fn check(&self, name: &str) -> Option<&Check> {
        self.checks.iter().find(|c| c.name == name)
    }

    /// The worst verdict.
    pub fn verdict(&self) -> Verdict {
        self.checks
            .iter()
            .map(|c| c.verdict)
            .max()
            .unwrap_or(Verdict::Unknown)
    }
}

impl fmt::Display for RunReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in &self.checks {
            writeln!(
                f,
                "{:<7} {:<19} {}",
                c.verdict.to_string(),
                c.name,
                c.detail
            )?;
        }
        Ok(())
    }
}

/// Lines per batch checked in parallel; with [`BATCH_BYTES`] it bounds verification memory.
const BATCH_LINES: usize = 4096;
/// Bytes per batch (a batch ends at the first line that crosses it).
const BATCH_BYTES: usize = 4 << 20;

/// The checks of [`verify_run`], in report order.
pub const CHECKS: [&str; 19] = [
    "ledger.read",
    "ledger.parse",
    "ledger.canonical",
    "ledger.hash",
    "ledger.seq",
    "ledger.chain",
    "ledger.run_id",
    "ledger.head",
    "run.start",
    "run.finalize",
    "run.stages",
    "run.transitions",
    "receipt.read",
    "receipt.run_id",
    "receipt.count",
    "receipt.last_hash",
    "receipt.merkle_root",
    "receipt.trajectory",
    "receipt.summary",
];

/// Collects the first problem and a count per check.
struct Findings {
    found: BTreeMap<&'static str, (Verdict, String, u64)>,
    pass: BTreeMap<&'static str, String>,
}

impl Findings {
    fn new() -> Self {
        Findings {
            found: BTreeMap::new(),
            pass: BTreeMap::new(),
        }
    }

    fn add(&mut self, name: &'static str, verdict: Verdict, detail: String) {
        let e = self.found.entry(name).or_insert((verdict, detail, 0));
        if verdict > e.0 {
            e.0 = verdict;
        }
        e.2 += 1;
    }

    fn pass(&mut self, name: &'static str, detail: String) {
        self.pass.insert(name, detail);
    }

    fn into_checks(mut self) -> Vec<Check> {
        CHECKS
            .iter()
            .map(|&name| match self.found.remove(name) {
                Some((verdict, detail, n)) => Check {
                    name,
                    verdict,
                    detail: if n > 1 {
                        format!("{detail} ({} more problems of this kind)", n - 1)
                    } else {
                        detail
                    },
                },
                None => Check {
                    name,
                    verdict: Verdict::Pass,
                    detail: self
                        .pass
                        .remove(name)
                        .unwrap_or_else(|| "no problem found.".to_owned()),
                },
            })
            .collect()
    }
}

/// Stage-graph replay: which stages are open, who came last under each parent.
#[derive(Default)]
struct Stages {
    graph: StageGraph,
    open: BTreeMap<u64, (String, u64)>,
    last_child: BTreeMap<(Option<u64>, u64), String>,
    pending_violation: Option<(String, String)>,
    violations: u64,
}

impl Stages {
    fn entry(
        &mut self,
        f: &mut Findings,
        line: u64,
        kind_: &str,
        stage: Option<&str>,
        p: &PayloadView<'_>,
    ) {
        let pending = self.pending_violation.take();
        match kind_ {
            kind::RUN_START => {
                if let Some(g) = &p.graph {
                    self.graph = g.clone();
                }
            }
            kind::VIOLATION => {
                self.violations += 1;
                let after = p.after.as_deref().unwrap_or_default();
                self.pending_violation =
                    Some((stage.unwrap_or_default().to_owned(), after.to_owned()));
            }
            kind::STAGE_ENTER => {
                let stage = stage.unwrap_or_default();
                let (Some(id), Some(thread), Some(depth)) = (p.id, p.thread, p.depth) else {
                    f.add(
                        "run.stages",
                        Verdict::Fail,
                        format!("line {line}: STAGE_ENTER lacks id, thread or depth."),
                    );
                    return;
                };
                let parent = p.parent;
                let expected_depth = match parent {
                    None => Some(0),
                    Some(pid) => self.open.get(&pid).map(|(_, d)| d + 1),
                };
                match expected_depth {
                    None => f.add(
                        "run.stages",
                        Verdict::Fail,
                        format!("line {line}: stage `{stage}` names parent {} which is not open.", parent.unwrap_or_default()),
                    ),
                    Some(d) if d != depth => f.add(
                        "run.stages",
                        Verdict::Fail,
                        format!("line {line}: stage `{stage}` has depth {depth} but its parent implies {d}."),
                    ),
                    Some(_) => {}
                }
                if let Some(a) = p.after.as_deref() {
                    self.graph.allow(a, stage);
                }
                let key = (parent, if parent.is_some() { 0 } else { thread });
                let pred = self.last_child.get(&key).map_or(START, String::as_str);
                if !self.graph.allows(pred, stage) {
                    let recorded = pending
                        .as_ref()
                        .is_some_and(|(s, a)| s == stage && a == pred);
                    if !recorded {
                        f.add(
                            "run.transitions",
                            Verdict::Fail,
                            format!("line {line}: stage `{stage}` follows `{pred}`, which the stage graph does not allow, and no VIOLATION was recorded."),
                        );
                    }
                }
                self.last_child.insert(key, stage.to_owned());
                if self.open.insert(id, (stage.to_owned(), depth)).is_some() {
                    f.add(
                        "run.stages",
                        Verdict::Fail,
                        format!("line {line}: stage id {id} is entered twice."),
                    );
                }
            }
            kind::STAGE_EXIT => {
                let stage = stage.unwrap_or_default();
                let id = p.id;
                match id.and_then(|id| self.open.remove(&id)) {
                    Some((s, _)) if s == stage => {}
                    Some((s, _)) => f.add(
                        "run.stages",
                        Verdict::Fail,
                        format!(
                            "line {line}: STAGE_EXIT names `{stage}` but stage id {} was `{s}`.",
                            id.unwrap_or_default()
                        ),
                    ),
                    None => f.add(
                        "run.stages",
                        Verdict::Fail,
                        format!("line {line}: STAGE_EXIT of `{stage}` has no open STAGE_ENTER."),
                    ),
                }
                if let Some(id) = id {
                    self.last_child.remove(&(Some(id), 0));
                }
            }
            _ => {}
        }
    }
}

/// Verifies the run ledger at `ledger_path` against its receipt (by default
/// `<ledger>.receipt.json`) and head file (`<ledger>.head`).
///
/// Never panics and never returns early with an error: every problem, including an
/// unreadable file, becomes a FAIL or UNKNOWN check with a reason. Memory does not grow
/// with the ledger (only with the number of distinct stage names, open stages and threads).
pub fn verify_run(ledger_path: &Path, receipt: Option<&Path>) -> RunReport {
    let receipt_file = receipt.map_or_else(|| receipt_path(ledger_path), Path::to_owned);
    let mut f = Findings::new();
    let fold = scan_ledger(ledger_path, &mut f);
    if let Some(fold) = fold {
        check_receipt(&receipt_file, &fold, &mut f);
    } else {
        for name in CHECKS.iter().filter(|n| {
            n.starts_with("receipt.")
                || n.starts_with("run.")
                || (n.starts_with("ledger.") && **n != "ledger.read")
        }) {
            f.add(
                name,
                Verdict::Unknown,
                "not checked: the ledger could not be read.".into(),
            );
        }
    }
    RunReport {
        ledger: ledger_path.to_owned(),
        receipt: receipt_file,
        checks: f.into_checks(),
    }
}

fn scan_ledger(path: &Path, f: &mut Findings) -> Option<RunFold> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) => {
            f.add(
                "ledger.read",
                Verdict::Unknown,
                format!("cannot open {}: {e}.", path.display()),
            );
            return None;
        }
    };
    let head_file = head_path(path);
    let head = if head_file.exists() {
        match Head::read(&head_file) {
            Ok(h) => Some(h),
            Err(e) => {
                // Rewritten in place mid-run, a head file can be torn by a power loss; it
                // then proves nothing either way, like a missing one.
                f.add(
                    "ledger.head",
                    Verdict::Warn,
                    format!("{e}, so only the receipt can show truncation."),
                );
                None
            }
        }
    } else {
        f.add(
            "ledger.head",
            Verdict::Warn,
            format!(
                "{} does not exist, so only the receipt can show truncation.",
                head_file.display()
            ),
        );
        None
    };
    let mut lines = Lines::new(BufReader::with_capacity(1 << 16, file));
    let mut fold = RunFold::new();
    let mut stages = Stages::default();
    let mut line_no = 0u64;
    // The hash the next entry must link to; `None` after a line whose hash is unknown.
    let mut prev: Option<Digest> = None;
    let mut prev_known = true;
    let mut run_id: Option<String> = None;
    let mut finalizes = 0u64;
    let mut after_finalize = false;
    let mut head_hash: Option<Digest> = None;
    let mut buf: Vec<u8> = Vec::with_capacity(BATCH_BYTES + 4096);
    let mut spans: Vec<(usize, usize, bool)> = Vec::with_capacity(BATCH_LINES);
    loop {
        buf.clear();
        spans.clear();
        while spans.len() < BATCH_LINES && buf.len() < BATCH_BYTES {
            match lines.next_line() {
                Ok(Some((line, complete, _))) => {
                    let start = buf.len();
                    buf.extend_from_slice(line);
                    spans.push((start, buf.len(), complete));
                }
                Ok(None) => break,
                Err(e) => {
                    f.add(
                        "ledger.read",
                        Verdict::Unknown,
                        format!(
                            "reading {} failed after line {}: {e}.",
                            path.display(),
                            line_no + spans.len() as u64
                        ),
                    );
                    return None;
                }
            }
        }
        if spans.is_empty() {
            break;
        }
        // Each line is checked on its own (form, hash, fields) in parallel; the checks that
        // need order (seq, chain, stages, fold) run below on this thread.
        let results: Vec<_> = spans
            .par_iter()
            .map(|&(start, end, complete)| {
                let parsed = parse_raw(&buf[start..end]).map(|raw| {
                    let view = PayloadView::parse(raw.payload).map_err(|e| e.to_string());
                    (raw, view)
                });
                (complete, parsed)
            })
            .collect();
        for (complete, parsed) in results {
            line_no += 1;
            let expected_seq = line_no - 1;
            if !complete {
                f.add(
                    "ledger.parse",
                    Verdict::Unknown,
                    format!("line {line_no} has no terminating newline (a torn write)."),
                );
            }
            let (entry, view) = match parsed {
                Ok(e) => e,
                Err(err) => {
                    let (name, verdict) = match &err {
                        LineError::NotJson(_) | LineError::Shape(_) => {
                            ("ledger.parse", Verdict::Unknown)
                        }
                        LineError::NotCanonical => ("ledger.canonical", Verdict::Fail),
                        LineError::HashMismatch { .. } => ("ledger.hash", Verdict::Fail),
                    };
                    f.add(name, verdict, format!("line {line_no} {err}."));
                    // Link the next line to the hash this one claims, when it claims one.
                    match &err {
                        LineError::HashMismatch { claimed, .. } => {
                            prev = Digest::from_hex(claimed).ok();
                            prev_known = prev.is_some();
                        }
                        _ => prev_known = false,
                    }
                    continue;
                }
            };
            if entry.seq != expected_seq {
                f.add(
                    "ledger.seq",
                    Verdict::Fail,
                    format!(
                        "line {line_no} has seq {} where {expected_seq} was expected.",
                        entry.seq
                    ),
                );
            }
            match &run_id {
                None => run_id = Some(entry.run_id.clone().into_owned()),
                Some(r) if *r != *entry.run_id => f.add(
                    "ledger.run_id",
                    Verdict::Fail,
                    format!(
                        "line {line_no} belongs to run {:?}, not {r:?}.",
                        entry.run_id
                    ),
                ),
                Some(_) => {}
            }
            let expected_prev = if line_no == 1 {
                Some(genesis(run_id.as_deref().unwrap_or_default()))
            } else if prev_known {
                prev
            } else {
                None
            };
            if let Some(p) = expected_prev
                && entry.prev != p
            {
                let what = if line_no == 1 {
                    "does not link to the genesis of its run id".to_owned()
                } else {
                    format!("does not link to the hash of line {}", line_no - 1)
                };
                f.add(
                    "ledger.chain",
                    Verdict::Fail,
                    format!("line {line_no} {what}."),
                );
            }
            prev = Some(entry.hash);
            prev_known = true;
            if line_no == 1 && entry.kind != kind::RUN_START {
                f.add(
                    "run.start",
                    Verdict::Fail,
                    format!("line 1 is {} rather than RUN_START.", entry.kind),
                );
            } else if line_no > 1 && entry.kind == kind::RUN_START {
                f.add(
                    "run.start",
                    Verdict::Fail,
                    format!("line {line_no} is a second RUN_START."),
                );
            }
            if after_finalize {
                f.add(
                    "run.finalize",
                    Verdict::Fail,
                    format!("line {line_no} follows RUN_FINALIZE."),
                );
            }
            if entry.kind == kind::RUN_FINALIZE {
                finalizes += 1;
                after_finalize = true;
            }
            if !matches!(
                &*entry.kind,
                kind::RUN_START
                    | kind::STAGE_ENTER
                    | kind::STAGE_EXIT
                    | kind::EVENT
                    | kind::VIOLATION
                    | kind::RUN_FINALIZE
            ) {
                f.add(
                    "ledger.parse",
                    Verdict::Unknown,
                    format!("line {line_no} has unknown type {:?}.", entry.kind),
                );
            }
            let view = match view {
                Ok(v) => v,
                Err(e) => {
                    f.add(
                        "ledger.parse",
                        Verdict::Unknown,
                        format!("line {line_no}: payload field has the wrong type: {e}."),
                    );
                    PayloadView::default()
                }
            };
            stages.entry(f, line_no, &entry.kind, entry.stage.as_deref(), &view);
            fold.push(
                entry.seq,
                entry.hash,
                &entry.run_id,
                &entry.kind,
                entry.stage.as_deref(),
                &view,
            );
            if head.as_ref().is_some_and(|h| h.entries == line_no) {
                head_hash = Some(entry.hash);
            }
        }
    }
    let n = line_no;
    if n == 0 {
        f.add("run.start", Verdict::Fail, "the ledger is empty.".into());
    }
    match finalizes {
        0 => f.add(
            "run.finalize",
            Verdict::Fail,
            "there is no RUN_FINALIZE: the run did not finish or its tail was removed.".into(),
        ),
        1 => f.pass(
            "run.finalize",
            "exactly one RUN_FINALIZE, and it is the last entry.".into(),
        ),
        k => f.add(
            "run.finalize",
            Verdict::Fail,
            format!("there are {k} RUN_FINALIZE entries."),
        ),
    }
    if let Some(h) = &head {
        if h.entries > n {
            f.add("ledger.head", Verdict::Fail, format!("the head file records {} fsynced entries but the ledger has {n}: entries were removed.", h.entries));
        } else if head_hash != Some(h.last_entry_sha256)
            || run_id.as_deref() != Some(h.run_id.as_str())
        {
            f.add(
                "ledger.head",
                Verdict::Fail,
                format!("entry {} is not the one the head file records.", h.entries),
            );
        } else {
            f.pass(
                "ledger.head",
                format!(
                    "the head file's {} fsynced entries are present and match.",
                    h.entries
                ),
            );
        }
    }
    if !stages.open.is_empty() {
        f.add(
            "run.stages",
            Verdict::Warn,
            format!(
                "{} stages were entered but never exited.",
                stages.open.len()
            ),
        );
    } else {
        f.pass(
            "run.stages",
            format!(
                "{} stages entered and exited in proper nesting.",
                fold.stages().count
            ),
        );
    }
    if stages.violations > 0 {
        f.add(
            "run.transitions",
            Verdict::Warn,
            format!(
                "{} illegal stage transitions were recorded as VIOLATION entries.",
                stages.violations
            ),
        );
    } else {
        f.pass(
            "run.transitions",
            "every stage transition is allowed by the recorded stage graph.".into(),
        );
    }
    f.pass(
        "ledger.parse",
        format!("all {n} lines are complete ledger entries."),
    );
    f.pass(
        "ledger.canonical",
        format!("all {n} lines are canonical RFC 8785 JSON."),
    );
    f.pass("ledger.hash", format!("all {n} entry hashes recompute."));
    f.pass(
        "ledger.seq",
        format!("seq runs from 0 to {} without gaps.", n.saturating_sub(1)),
    );
    f.pass(
        "ledger.chain",
        "every entry links to the one before it, the first to its run's genesis.".into(),
    );
    f.pass(
        "ledger.run_id",
        format!(
            "every entry belongs to run {:?}.",
            run_id.unwrap_or_default()
        ),
    );
    f.pass(
        "ledger.read",
        format!("{} read, {n} lines.", path.display()),
    );
    f.pass("run.start", "the first entry is the only RUN_START.".into());
    Some(fold)
}

fn check_receipt(path: &Path, fold: &RunFold, f: &mut Findings) {
    let names = [
        "receipt.run_id",
        "receipt.count",
        "receipt.last_hash",
        "receipt.merkle_root",
        "receipt.trajectory",
        "receipt.summary",
    ];
    let unknown_rest = |f: &mut Findings, why: &str| {
        for n in names {
            f.add(n, Verdict::Unknown, format!("not checked: {why}"));
        }
    };
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            f.add(
                "receipt.read",
                Verdict::Unknown,
                format!(
                    "cannot read {}: {e}; without it a removed tail cannot be ruled out.",
                    path.display()
                ),
            );
            unknown_rest(f, "there is no readable receipt.");
            return;
        }
    };
    let claimed: RunReceipt = match serde_json::from_slice(&bytes) {
        Ok(r) => r,
        Err(e) => {
            f.add(
                "receipt.read",
                Verdict::Unknown,
                format!("{} is not a run receipt: {e}.", path.display()),
            );
            unknown_rest(f, "the receipt is unreadable.");
            return;
        }
    };
    if !receipt_core::jcs::is_canonical(&bytes) {
        f.add(
            "receipt.read",
            Verdict::Fail,
            format!("{} is not canonical RFC 8785 JSON.", path.display()),
        );
    } else if claimed.schema != crate::receipt::RECEIPT_SCHEMA {
        f.add(
            "receipt.read",
            Verdict::Fail,
            format!(
                "{}: field \"schema\" is {:?}.",
                path.display(),
                claimed.schema
            ),
        );
    } else {
        f.pass("receipt.read", format!("{} read.", path.display()));
    }
    let Some(a) = fold.ledger_summary() else {
        unknown_rest(f, "the ledger has no entries to compare with.");
        return;
    };
    let run_id = fold.run_id().unwrap_or_default();
    let trajectory = fold.trajectory();
    let mut cmp = |name: &'static str, same: bool, what: String, ok: String| {
        if same {
            f.pass(name, ok);
        } else {
            f.add(name, Verdict::Fail, what);
        }
    };
    let c = &claimed.ledger;
    cmp(
        "receipt.run_id",
        claimed.run_id == run_id,
        format!(
            "the receipt is for run {:?} but the ledger holds run {run_id:?}.",
            claimed.run_id
        ),
        format!("receipt and ledger are for run {run_id:?}."),
    );
    cmp(
        "receipt.count",
        c.entries == a.entries && c.first_seq == a.first_seq && c.last_seq == a.last_seq,
        format!(
            "the receipt records {} entries (seq {}..={}) but the ledger has {} (seq {}..={}).",
            c.entries, c.first_seq, c.last_seq, a.entries, a.first_seq, a.last_seq
        ),
        format!(
            "the receipt and the ledger both have {} entries.",
            a.entries
        ),
    );
    cmp(
        "receipt.last_hash",
        c.last_entry_sha256 == a.last_entry_sha256,
        format!(
            "the receipt's last entry hash {} differs from the ledger's {}.",
            c.last_entry_sha256, a.last_entry_sha256
        ),
        "the receipt's last entry hash is the ledger's.".into(),
    );
    cmp(
        "receipt.merkle_root",
        c.merkle_root == a.merkle_root,
        format!(
            "the receipt's Merkle root {} differs from the root over the ledger's entries, {}.",
            c.merkle_root, a.merkle_root
        ),
        "the Merkle root over the entry hashes matches the receipt.".into(),
    );
    cmp(
        "receipt.trajectory",
        claimed.trajectory_sha256 == trajectory,
        format!(
            "the receipt's trajectory digest {} differs from the ledger's, {trajectory}.",
            claimed.trajectory_sha256
        ),
        format!("the trajectory digest {trajectory} recomputes."),
    );
    let Some(actual) = fold.receipt() else {
        f.add(
            "receipt.summary",
            Verdict::Unknown,
            "not checked: the ledger lacks its RUN_START or RUN_FINALIZE.".into(),
        );
        return;
    };
    let summary_same = claimed.program == actual.program
        && claimed.status == actual.status
        && claimed.started_at == actual.started_at
        && claimed.finished_at == actual.finished_at
        && claimed.stages == actual.stages
        && claimed.resources == actual.resources;
    cmp("receipt.summary", summary_same,
        "the receipt's program, status, times, stage summary or resource totals differ from what the ledger records.".into(),
        format!("status {:?}, {} stages, {} failures, {} violations: as the ledger records.", actual.status, actual.stages.count, actual.stages.failures, actual.stages.violations));
}
