//! Verification of a run ledger and its receipt, streaming in constant memory: chain, seq,
//! canonical bytes, finalize, stage transitions, and receipt ↔ ledger consistency.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use receipt_primitives::Digest;
pub use receipt_primitives::check::{Check, CheckId, Report, Verdict};

use crate::canon::Layout;
use crate::entry::{LineError, RawEntry, genesis, kind, line_hash, line_hashes2, parse_hashed};
use crate::graph::{START, StageGraph};
use crate::ledger::{Head, head_path, receipt_path};
use crate::receipt::{PayloadView, RunFold, RunReceipt};

/// Every check of one run, in the order of [`CheckId::RUN`].
#[derive(Debug, Clone)]
pub struct RunReport {
    /// The ledger verified.
    pub ledger: PathBuf,
    /// The receipt compared against it.
    pub receipt: PathBuf,
    /// The checks.
    pub report: Report,
}

impl RunReport {
    /// Whether no check is FAIL or UNKNOWN.
    pub fn ok(&self) -> bool {
        self.report.ok()
    }

    /// The check `id`.
    pub fn check(&self, id: CheckId) -> Option<&Check> {
        self.report.check(id)
    }

    /// The worst verdict.
    pub fn verdict(&self) -> Verdict {
        self.report.verdict()
    }

    /// The report as pretty-printed JSON, naming the ledger and receipt verified.
    pub fn to_json(&self) -> String {
        self.report.to_json(&[
            ("ledger", self.ledger.display().to_string().into()),
            ("receipt", self.receipt.display().to_string().into()),
        ])
    }
}

impl fmt::Display for RunReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.report.fmt(f)
    }
}

/// Lines per group checked in parallel while the previous group goes through the ordered
/// checks; with [`BATCH_BYTES`] it bounds verification memory.
const BATCH_LINES: usize = 1024;
/// Lines of each group whose shapes every worker's layout starts out with.
const SEED_LINES: usize = 4;
/// Lines split off a block per round.
const MAX_SPANS: usize = 16 * BATCH_LINES;
/// Bytes read from the ledger per block; a block grows only to hold a longer line.
const BATCH_BYTES: usize = 4 << 20;

/// Collects the first problem and a count per check.
struct Findings {
    found: BTreeMap<CheckId, (Verdict, String, u64)>,
    pass: BTreeMap<CheckId, String>,
}

impl Findings {
    fn new() -> Self {
        Findings {
            found: BTreeMap::new(),
            pass: BTreeMap::new(),
        }
    }

    fn add(&mut self, name: CheckId, verdict: Verdict, detail: String) {
        let e = self.found.entry(name).or_insert((verdict, detail, 0));
        if verdict > e.0 {
            e.0 = verdict;
        }
        e.2 += 1;
    }

    fn pass(&mut self, name: CheckId, detail: String) {
        self.pass.insert(name, detail);
    }

    /// One check per id of [`CheckId::RUN`], in that order: its worst finding (and how many
    /// more), else a pass. A finding under any other id is kept too, after them, so no
    /// finding is ever dropped (fail closed).
    fn into_report(mut self) -> Report {
        let mut report = Report::default();
        let mut emit =
            |id: CheckId, found: Option<(Verdict, String, u64)>, pass: Option<String>| {
                let (verdict, detail) = match found {
                    Some((verdict, detail, n)) if n > 1 => (
                        verdict,
                        format!("{detail} ({} more problems of this kind)", n - 1),
                    ),
                    Some((verdict, detail, _)) => (verdict, detail),
                    None => (
                        Verdict::Pass,
                        pass.unwrap_or_else(|| "no problem found.".to_owned()),
                    ),
                };
                report.push(id, verdict, None, detail);
            };
        for id in CheckId::RUN {
            let found = self.found.remove(&id);
            emit(id, found, self.pass.remove(&id));
        }
        for (id, found) in std::mem::take(&mut self.found) {
            emit(id, Some(found), None);
        }
        report
    }
}

/// Stage-graph replay: which stages are open, who came last under each parent.
#[derive(Default)]
struct Stages {
    graph: StageGraph,
    /// Open stages by id: name (see [`Names`]) and depth.
    open: BTreeMap<u64, (u32, u64)>,
    /// The last stage entered under each parent (or on each thread, at the top).
    last_child: BTreeMap<(Option<u64>, u64), u32>,
    names: Names,
    pending_violation: Option<(String, String)>,
    violations: u64,
}

/// Stage names seen so far, each stored once and referred to by number, so that replaying
/// the stages of a long run allocates nothing per stage.
#[derive(Default)]
struct Names {
    list: Vec<Box<str>>,
    index: BTreeMap<Box<str>, u32>,
}

impl Names {
    fn id(&mut self, name: &str) -> u32 {
        if let Some(&k) = self.index.get(name) {
            return k;
        }
        let k = u32::try_from(self.list.len()).unwrap_or(u32::MAX);
        self.list.push(name.into());
        self.index.insert(name.into(), k);
        k
    }

    fn name(&self, k: u32) -> &str {
        self.list.get(k as usize).map_or("", |n| n)
    }
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
                if let Some(g) = p.run.as_ref().and_then(|r| r.graph.as_ref()) {
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
                        CheckId::RunStages,
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
                        CheckId::RunStages,
                        Verdict::Fail,
                        format!("line {line}: stage `{stage}` names parent {} which is not open.", parent.unwrap_or_default()),
                    ),
                    Some(d) if d != depth => f.add(
                        CheckId::RunStages,
                        Verdict::Fail,
                        format!("line {line}: stage `{stage}` has depth {depth} but its parent implies {d}."),
                    ),
                    Some(_) => {}
                }
                if let Some(a) = p.after.as_deref() {
                    self.graph.allow(a, stage);
                }
                let key = (parent, if parent.is_some() { 0 } else { thread });
                let pred = self
                    .last_child
                    .get(&key)
                    .map_or(START, |&k| self.names.name(k));
                if !self.graph.allows(pred, stage) {
                    let recorded = pending
                        .as_ref()
                        .is_some_and(|(s, a)| s == stage && a == pred);
                    if !recorded {
                        f.add(
                            CheckId::RunTransitions,
                            Verdict::Fail,
                            format!("line {line}: stage `{stage}` follows `{pred}`, which the stage graph does not allow, and no VIOLATION was recorded."),
                        );
                    }
                }
                let name = self.names.id(stage);
                self.last_child.insert(key, name);
                if self.open.insert(id, (name, depth)).is_some() {
                    f.add(
                        CheckId::RunStages,
                        Verdict::Fail,
                        format!("line {line}: stage id {id} is entered twice."),
                    );
                }
            }
            kind::STAGE_EXIT => {
                let stage = stage.unwrap_or_default();
                let id = p.id;
                match id.and_then(|id| self.open.remove(&id)) {
                    Some((s, _)) if self.names.name(s) == stage => {}
                    Some((s, _)) => f.add(
                        CheckId::RunStages,
                        Verdict::Fail,
                        format!(
                            "line {line}: STAGE_EXIT names `{stage}` but stage id {} was `{}`.",
                            id.unwrap_or_default(),
                            self.names.name(s)
                        ),
                    ),
                    None => f.add(
                        CheckId::RunStages,
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

/// The [`line_hash`] of each of up to four lines (`spans` of `text`) into `out`, two at a
/// time: lines 0 and 2, then 1 and 3, which in a ledger that alternates stage enters and
/// exits are of one kind and of about one length, so their blocks pair up.
fn hash_lines(text: &[u8], spans: &[(usize, usize, bool)], out: &mut [Option<Digest>]) {
    let line = |k: usize| &text[spans[k].0..spans[k].1];
    match spans.len() {
        4 => {
            (out[0], out[2]) = line_hashes2(line(0), line(2));
            (out[1], out[3]) = line_hashes2(line(1), line(3));
        }
        3 => {
            (out[0], out[2]) = line_hashes2(line(0), line(2));
            out[1] = line_hash(line(1));
        }
        2 => (out[0], out[1]) = line_hashes2(line(0), line(1)),
        _ => {
            for (k, o) in out.iter_mut().enumerate().take(spans.len()) {
                *o = line_hash(line(k));
            }
        }
    }
}

/// Checks one line on its own, given its [`line_hash`], and reads the payload fields the
/// ordered checks need.
fn check_line<'a>(
    line: &'a [u8],
    layout: &mut Layout,
    hash: Option<Digest>,
) -> Result<(RawEntry<'a>, Result<PayloadView<'a>, String>), LineError> {
    let (raw, text) = parse_hashed(line, layout, hash)?;
    // Stage entries are most of a ledger; their few fields are read where the scan found
    // them. The rest, or anything unusual, goes through serde.
    let quick = match &*raw.kind {
        kind::STAGE_ENTER | kind::STAGE_EXIT | kind::EVENT | kind::VIOLATION
            if !layout.overflow =>
        {
            text.and_then(|t| PayloadView::from_layout(t, layout.payload()))
        }
        _ => None,
    };
    let view = match quick {
        Some(v) => Ok(v),
        None => PayloadView::parse(raw.payload).map_err(|e| e.to_string()),
    };
    Ok((raw, view))
}

/// The checks that need entries in order (seq, chain, run id, start and finalize, stages)
/// and the fold, fed one line at a time.
struct Ordered {
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
}

/// One line checked on its own: whether it ended in a newline, and its entry and payload.
type Checked<'a> = (
    bool,
    Result<(RawEntry<'a>, Result<PayloadView<'a>, String>), LineError>,
);

impl Ordered {
    fn take(&mut self, f: &mut Findings, (complete, parsed): &Checked<'_>) {
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
                f.add(name, verdict, format!("line {line_no} {err}."));
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
            None => self.run_id = Some(entry.run_id.clone().into_owned()),
            Some(r) if *r != *entry.run_id => f.add(
                CheckId::LedgerRunId,
                Verdict::Fail,
                format!(
                    "line {line_no} belongs to run {:?}, not {r:?}.",
                    entry.run_id
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
                format!("line 1 is {} rather than RUN_START.", entry.kind),
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
                | kind::RUN_FINALIZE
        ) {
            f.add(
                CheckId::LedgerParse,
                Verdict::Unknown,
                format!("line {line_no} has unknown type {:?}.", entry.kind),
            );
        }
        let default_view;
        let view = match view {
            Ok(v) => v,
            Err(e) => {
                f.add(
                    CheckId::LedgerParse,
                    Verdict::Unknown,
                    format!("line {line_no}: payload field has the wrong type: {e}."),
                );
                default_view = PayloadView::default();
                &default_view
            }
        };
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
    // On a pool thread, so that each group's `rayon::join` starts on a worker rather than
    // being injected into the pool and waited for from outside.
    let fold = rayon::scope(|_| scan_ledger(ledger_path, &mut f));
    if let Some(fold) = fold {
        check_receipt(&receipt_file, &fold, &mut f);
    } else {
        for name in CheckId::RUN
            .into_iter()
            .filter(|&n| n != CheckId::LedgerRead)
        {
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
        report: f.into_report(),
    }
}

/// Checks the lines at `spans` of `text`: each on its own in parallel, one group while the
/// previous group goes through the ordered checks on this thread.
fn check_spans(text: &[u8], spans: &[(usize, usize, bool)], seq: &mut Ordered, f: &mut Findings) {
    let mut pending: Vec<Option<Checked<'_>>> = Vec::new();
    // Every worker's layout starts out knowing the shapes of the group's first lines, so
    // that its own first lines need no full scan (see `canon::check_layout`).
    let mut seed = Layout::default();
    for group in spans.chunks(BATCH_LINES) {
        for &(s, e, _) in group.iter().take(SEED_LINES) {
            crate::canon::check_layout(&text[s..e], &mut seed);
        }
        let ((), next) = rayon::join(
            || {
                // By reference: a checked line is a few hundred bytes, not worth moving.
                for checked in pending.iter().flatten() {
                    seq.take(f, checked);
                }
            },
            || {
                // Results are written where they belong, four lines at a time.
                let mut out: Vec<Option<Checked<'_>>> = group.iter().map(|_| None).collect();
                out.par_chunks_mut(4)
                    .zip(group.par_chunks(4))
                    .for_each_init(
                        || seed.shapes(),
                        |layout, (out, quad)| check_quad(text, quad, layout, out),
                    );
                out
            },
        );
        pending = next;
    }
    for checked in pending.iter().flatten() {
        seq.take(f, checked);
    }
}

/// Checks up to four lines (`spans` of `text`) into `out`, hashing them two at a time.
fn check_quad<'a>(
    text: &'a [u8],
    spans: &[(usize, usize, bool)],
    layout: &mut Layout,
    out: &mut [Option<Checked<'a>>],
) {
    let mut hashes = [None; 4];
    hash_lines(text, spans, &mut hashes);
    for ((slot, &(s, e, complete)), hash) in out.iter_mut().zip(spans).zip(hashes) {
        *slot = Some((complete, check_line(&text[s..e], layout, hash)));
    }
}

/// The thread reading a ledger in blocks of whole lines, and its channels.
struct Reader {
    /// Blocks as read (the last may end in a line without its newline), or the read error.
    blocks: crossbeam_channel::Receiver<io::Result<Vec<u8>>>,
    /// Blocks handed back to be reused.
    recycle: crossbeam_channel::Sender<Vec<u8>>,
    thread: std::thread::JoinHandle<()>,
}

/// Starts the thread that reads `file` in blocks of whole lines. Blocks come back through
/// [`Reader::recycle`] to be reused, so at most three are ever allocated; a block grows
/// only to hold a line longer than [`BATCH_BYTES`].
fn spawn_reader(mut file: File) -> Reader {
    let (tx, rx) = crossbeam_channel::bounded::<io::Result<Vec<u8>>>(1);
    let (recycle_tx, recycle_rx) = crossbeam_channel::bounded::<Vec<u8>>(2);
    let reader = std::thread::spawn(move || {
        let mut carry: Vec<u8> = Vec::new();
        let mut eof = false;
        while !eof {
            let mut block = recycle_rx
                .try_recv()
                .unwrap_or_else(|_| Vec::with_capacity(BATCH_BYTES));
            block.clear();
            block.append(&mut carry);
            loop {
                let filled = block.len();
                if filled >= BATCH_BYTES {
                    // A full block: cut after its last newline, if it has one.
                    if let Some(nl) = memchr::memrchr(b'\n', &block[..filled]) {
                        carry.extend_from_slice(&block[nl + 1..]);
                        block.truncate(nl + 1);
                        break;
                    }
                }
                // Up to BATCH_BYTES more, read into spare capacity without zeroing it first.
                block.reserve(BATCH_BYTES);
                match (&mut file).take(BATCH_BYTES as u64).read_to_end(&mut block) {
                    Ok(n) if n < BATCH_BYTES => {
                        eof = true;
                        break;
                    }
                    Ok(_) => {}
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                }
            }
            if tx.send(Ok(block)).is_err() {
                return;
            }
        }
    });
    Reader {
        blocks: rx,
        recycle: recycle_tx,
        thread: reader,
    }
}

fn scan_ledger(path: &Path, f: &mut Findings) -> Option<RunFold> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) => {
            f.add(
                CheckId::LedgerRead,
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
                    CheckId::LedgerHead,
                    Verdict::Warn,
                    format!("{e}, so only the receipt can show truncation."),
                );
                None
            }
        }
    } else {
        f.add(
            CheckId::LedgerHead,
            Verdict::Warn,
            format!(
                "{} does not exist, so only the receipt can show truncation.",
                head_file.display()
            ),
        );
        None
    };
    let mut seq = Ordered {
        fold: RunFold::new(),
        stages: Stages::default(),
        line_no: 0,
        prev: None,
        prev_known: true,
        run_id: None,
        finalizes: 0,
        after_finalize: false,
        head_entries: head.as_ref().map(|h| h.entries),
        head_hash: None,
    };
    // Reading runs on its own thread, a block of whole lines ahead of the checks.
    let Reader {
        blocks,
        recycle,
        thread: reader,
    } = spawn_reader(file);
    let mut spans: Vec<(usize, usize, bool)> = Vec::new();
    for block in &blocks {
        let block = match block {
            Ok(b) => b,
            Err(e) => {
                f.add(
                    CheckId::LedgerRead,
                    Verdict::Unknown,
                    format!(
                        "reading {} failed after line {}: {e}.",
                        path.display(),
                        seq.line_no
                    ),
                );
                drop(blocks);
                let _ = reader.join();
                return None;
            }
        };
        let mut start = 0;
        let mut lines = memchr::memchr_iter(b'\n', &block);
        loop {
            spans.clear();
            // Bounds the span list however short the lines are.
            for end in lines.by_ref().take(MAX_SPANS) {
                spans.push((start, end, true));
                start = end + 1;
            }
            if spans.len() < MAX_SPANS && start < block.len() {
                // Only the last block can end without a newline: a torn last line.
                spans.push((start, block.len(), false));
                start = block.len();
            }
            if spans.is_empty() {
                break;
            }
            check_spans(&block, &spans, &mut seq, f);
        }
        let _ = recycle.send(block);
    }
    drop(recycle);
    let _ = reader.join();
    let Ordered {
        fold,
        stages,
        line_no,
        run_id,
        finalizes,
        head_hash,
        ..
    } = seq;
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
    if let Some(h) = &head {
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
            run_id.unwrap_or_default()
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
    Some(fold)
}

fn check_receipt(path: &Path, fold: &RunFold, f: &mut Findings) {
    // The receipt checks after `receipt.read`, which cannot be made without a receipt.
    let after_read = CheckId::RUN
        .into_iter()
        .skip_while(|&n| n != CheckId::ReceiptRead)
        .skip(1);
    let unknown_rest = |f: &mut Findings, why: &str| {
        for n in after_read.clone() {
            f.add(n, Verdict::Unknown, format!("not checked: {why}"));
        }
    };
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            f.add(
                CheckId::ReceiptRead,
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
                CheckId::ReceiptRead,
                Verdict::Unknown,
                format!("{} is not a run receipt: {e}.", path.display()),
            );
            unknown_rest(f, "the receipt is unreadable.");
            return;
        }
    };
    if !receipt_primitives::jcs::is_canonical(&bytes) {
        f.add(
            CheckId::ReceiptRead,
            Verdict::Fail,
            format!("{} is not canonical RFC 8785 JSON.", path.display()),
        );
    } else if claimed.schema != crate::receipt::RECEIPT_SCHEMA {
        f.add(
            CheckId::ReceiptRead,
            Verdict::Fail,
            format!(
                "{}: field \"schema\" is {:?}.",
                path.display(),
                claimed.schema
            ),
        );
    } else {
        f.pass(CheckId::ReceiptRead, format!("{} read.", path.display()));
    }
    let Some(a) = fold.ledger_summary() else {
        unknown_rest(f, "the ledger has no entries to compare with.");
        return;
    };
    let run_id = fold.run_id().unwrap_or_default();
    let trajectory = fold.trajectory();
    let mut cmp = |name: CheckId, same: bool, what: String, ok: String| {
        if same {
            f.pass(name, ok);
        } else {
            f.add(name, Verdict::Fail, what);
        }
    };
    let c = &claimed.ledger;
    cmp(
        CheckId::ReceiptRunId,
        claimed.run_id == run_id,
        format!(
            "the receipt is for run {:?} but the ledger holds run {run_id:?}.",
            claimed.run_id
        ),
        format!("receipt and ledger are for run {run_id:?}."),
    );
    cmp(
        CheckId::ReceiptCount,
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
        CheckId::ReceiptLastHash,
        c.last_entry_sha256 == a.last_entry_sha256,
        format!(
            "the receipt's last entry hash {} differs from the ledger's {}.",
            c.last_entry_sha256, a.last_entry_sha256
        ),
        "the receipt's last entry hash is the ledger's.".into(),
    );
    cmp(
        CheckId::ReceiptMerkleRoot,
        c.merkle_root == a.merkle_root,
        format!(
            "the receipt's Merkle root {} differs from the root over the ledger's entries, {}.",
            c.merkle_root, a.merkle_root
        ),
        "the Merkle root over the entry hashes matches the receipt.".into(),
    );
    cmp(
        CheckId::ReceiptTrajectory,
        claimed.trajectory_sha256 == trajectory,
        format!(
            "the receipt's trajectory digest {} differs from the ledger's, {trajectory}.",
            claimed.trajectory_sha256
        ),
        format!("the trajectory digest {trajectory} recomputes."),
    );
    let Some(actual) = fold.receipt() else {
        f.add(
            CheckId::ReceiptSummary,
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
    cmp(CheckId::ReceiptSummary, summary_same,
        "the receipt's program, status, times, stage summary or resource totals differ from what the ledger records.".into(),
        format!("status {:?}, {} stages, {} failures, {} violations: as the ledger records.", actual.status, actual.stages.count, actual.stages.failures, actual.stages.violations));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::{genesis, parse_with_layout, seal_bytes};

    /// The general path: serde for the envelope and for the payload.
    fn general(line: &[u8]) -> String {
        let raw = crate::entry::parse_raw_general(line);
        let view = raw
            .as_ref()
            .map(|r| PayloadView::parse(r.payload).map_err(|e| e.to_string()));
        format!("{raw:?} {view:?}")
    }

    #[test]
    fn quick_field_reading_matches_the_general_parser() {
        let payloads: [&[u8]; 9] = [
            br#"{"args":["x"],"depth":0,"id":3,"input":null,"parent":null,"t_ns":5,"thread":0}"#,
            br#"{"after":"parse","args":[],"depth":1,"id":4,"input":"00ff","parent":3,"t_ns":9,"thread":1}"#,
            br#"{"alloc_bytes":null,"cpu_ns":{"unavailable":"no clock"},"depth":0,"id":3,"io_read_bytes":null,"io_write_bytes":null,"outcome":"ok","output":null,"peak_rss_kb":12,"t_ns":7,"thread":0,"wall_ns":2}"#,
            br#"{"cpu_ns":17,"depth":0,"id":3,"outcome":"err","output":"a\"b","wall_ns":2}"#,
            "{\"fields\":{\"message\":\"na\u{ef}ve \u{1f980}\"},\"level\":\"INFO\",\"stage_id\":3,\"t_ns\":8,\"target\":\"t\",\"thread\":0}".as_bytes(),
            br#"{"after":"<start>","parent":null,"policy":"record","t_ns":1,"thread":0}"#,
            // Wrong types: the general parser's error must come out either way.
            br#"{"depth":"zero","id":3}"#,
            br#"{"id":-1}"#,
            br#"{"depth":0,"id":3,"wall_ns":9007199254740993}"#,
        ];
        let kinds = [
            kind::STAGE_ENTER,
            kind::STAGE_EXIT,
            kind::EVENT,
            kind::VIOLATION,
        ];
        let mut layout = Layout::default();
        let mut quick_taken = 0;
        for (i, payload) in payloads.iter().enumerate() {
            for k in kinds {
                for stage in [Some("st\u{e9}p"), Some("a\"b"), None] {
                    let prev = genesis("r");
                    let sealed = seal_bytes(i as u64, &prev, "r", k, stage, payload);
                    let line = &sealed.line[..sealed.line.len() - 1];
                    let text = parse_with_layout(line, &mut layout).map(|(_, t)| t);
                    if let Ok(Some(t)) = text
                        && PayloadView::from_layout(t, layout.payload()).is_some()
                    {
                        quick_taken += 1;
                    }
                    let quick = check_line(line, &mut layout, line_hash(line));
                    let quick = format!(
                        "{:?} {:?}",
                        quick.as_ref().map(|(r, _)| r),
                        quick.as_ref().map(|(_, v)| v)
                    );
                    assert_eq!(quick, general(line), "payload {i}, {k}, {stage:?}");
                }
            }
        }
        // Plain stage names (two of three) with the five well-typed payloads whose strings
        // have no escapes; everything else went the general way.
        assert_eq!(quick_taken, 5 * kinds.len() * 2);
    }

    #[test]
    fn quick_reading_reports_the_same_errors() {
        let prev = genesis("r");
        let good = seal_bytes(0, &prev, "r", kind::STAGE_ENTER, Some("s"), br#"{"id":1}"#).line;
        let good = &good[..good.len() - 1];
        let text = String::from_utf8(good.to_vec()).unwrap();
        let bad: Vec<Vec<u8>> = vec![
            text.replacen("\"seq\":0", "\"seq\":1", 1).into_bytes(),
            text.replacen("\"run_id\":\"r\"", "\"run_id\":\"r\",\"x\":1", 1)
                .into_bytes(),
            text.replacen("\"seq\":0", "\"seq\":-1", 1).into_bytes(),
            text.replacen("\"seq\":0", "\"seq\": 0", 1).into_bytes(),
            text.replacen("\"stage\":\"s\"", "\"stage\":7", 1)
                .into_bytes(),
            text.replacen("{\"hash\":\"", "{\"hash\":\"A", 1)
                .into_bytes(),
            text.replacen("\"payload\":{\"id\":1}", "\"payload\":[1]", 1)
                .into_bytes(),
            {
                let mut b = good.to_vec();
                let at = b.len() - 4;
                b[at] = 0xff;
                b
            },
        ];
        let mut layout = Layout::default();
        for line in &bad {
            let quick = format!(
                "{:?}",
                check_line(line, &mut layout, line_hash(line)).map(|_| ())
            );
            let general = format!("{:?}", crate::entry::parse_raw_general(line).map(|_| ()));
            assert!(
                quick.starts_with("Err"),
                "{}",
                String::from_utf8_lossy(line)
            );
            assert_eq!(quick, general, "{}", String::from_utf8_lossy(line));
        }
    }

    #[test]
    fn lines_checked_four_at_a_time_are_checked_as_one_at_a_time() {
        let prev = genesis("r");
        let mut lines: Vec<Vec<u8>> = (0..9u64)
            .map(|i| {
                let payload = format!(r#"{{"depth":0,"id":{}}}"#, i * 997);
                let kind_ = [kind::STAGE_ENTER, kind::STAGE_EXIT, kind::EVENT][i as usize % 3];
                let mut l = seal_bytes(i, &prev, "r", kind_, Some("s"), payload.as_bytes()).line;
                l.pop();
                l
            })
            .collect();
        // A line too short to carry a hash, one with a wrong hash, one not JSON.
        lines.insert(2, b"{}".to_vec());
        lines[4][20] = if lines[4][20] == b'0' { b'1' } else { b'0' };
        lines.insert(
            7,
            b"{\"hash\":\""
                .iter()
                .chain([b'a'; 80].iter())
                .copied()
                .collect(),
        );
        let mut text = Vec::new();
        let mut spans = Vec::new();
        for l in &lines {
            spans.push((text.len(), text.len() + l.len(), true));
            text.extend_from_slice(l);
            text.push(b'\n');
        }
        let one = |span: &(usize, usize, bool)| {
            let line = &text[span.0..span.1];
            format!(
                "{:?}",
                check_line(line, &mut Layout::default(), line_hash(line))
            )
        };
        for n in 1..=4 {
            for start in 0..spans.len() - n {
                let quad = &spans[start..start + n];
                let mut got = [None, None, None, None];
                check_quad(&text, quad, &mut Layout::default(), &mut got[..n]);
                for (k, span) in quad.iter().enumerate() {
                    let (complete, checked) = got[k].as_ref().expect("a result per line");
                    assert!(*complete);
                    assert_eq!(
                        format!("{checked:?}"),
                        one(span),
                        "line {} of {n}",
                        start + k
                    );
                }
            }
        }
        // The tampered line is caught by its hash.
        let mut tampered = [None];
        check_quad(&text, &spans[4..5], &mut Layout::default(), &mut tampered);
        assert!(matches!(
            tampered[0].as_ref().map(|(_, c)| c),
            Some(Err(LineError::HashMismatch { .. }))
        ));
    }
}
