//! `ReceiptLayer`: the `tracing_subscriber::Layer` that turns `#[receipt]` spans and the
//! events inside them into ledger records, and `RunGuard`, which finalizes the run.

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Instant;

use crossbeam_channel::{Sender, bounded};
use serde_json::json;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record as SpanRecord};
use tracing::{Event, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

use crate::graph::{START, StageGraph, ViolationPolicy};
use crate::ledger::{LedgerError, head_path, open_locked, receipt_path};
use crate::measure::{self, Measure};
use crate::writer::{
    ArgNames, Durability, FieldValue, HashField, Outcome, Record, RunOutcome, Writer, WriterError,
    start_payload,
};

/// Field names the `#[receipt]` attribute puts on its spans.
pub mod fields {
    /// Marks a span as a stage; recorded with `ok` or `err` when the stage returns.
    pub const OUTCOME: &str = "receipt.outcome";
    /// Hex SHA-256 of the hashed arguments (or `!` and the reason they could not be hashed).
    pub const INPUT: &str = "receipt.input";
    /// Hex SHA-256 of the return value (or `!` and the reason).
    pub const OUTPUT: &str = "receipt.output";
    /// `Display` of the error of a stage that returned `Err`.
    pub const ERROR: &str = "receipt.error";
    /// The declared allowed predecessor.
    pub const AFTER: &str = "receipt.after";
    /// Prefix of the (never recorded) fields that list the argument names.
    pub const ARG_PREFIX: &str = "receipt.arg.";
}

/// Errors starting or finishing a run.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The ledger could not be opened or locked.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// The writer failed.
    #[error(transparent)]
    Writer(#[from] WriterError),
    /// A builder setting is invalid.
    #[error("invalid run setting {field}: {reason}")]
    Config {
        /// The setting.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// A global subscriber is already installed.
    #[error("a global tracing subscriber is already installed: {0}")]
    AlreadyInstalled(String),
}

/// How a run ended, as written in `RUN_FINALIZE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStatus {
    /// The program completed.
    Ok,
    /// The program reports failure.
    Failed,
    /// The run guard was dropped while a panic unwound.
    Panicked,
}

impl RunStatus {
    fn as_str(self) -> &'static str {
        match self {
            RunStatus::Ok => "ok",
            RunStatus::Failed => "failed",
            RunStatus::Panicked => "panicked",
        }
    }
}

/// Queue capacity between instrumented threads and the writer; a full queue blocks the
/// sender (back-pressure) rather than growing.
const QUEUE: usize = 16 * 1024;

/// Hashes a [`thread_id`]: the ids are distinct small counters, so a multiply spreads them
/// well enough and costs far less than the default SipHash.
#[derive(Default)]
struct ThreadIdHasher(u64);

impl Hasher for ThreadIdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

struct Shared {
    tx: Sender<Record>,
    start: Instant,
    graph: Mutex<StageGraph>,
    policy: ViolationPolicy,
    sample_io: bool,
    next_id: AtomicU64,
    /// Last top-level stage per thread, for transition checks.
    roots: Mutex<HashMap<u64, &'static str, BuildHasherDefault<ThreadIdHasher>>>,
    finished: AtomicBool,
    io_start: Option<(Measure, Measure)>,
    alloc_start: Measure,
}

impl Shared {
    fn t_ns(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    fn send(&self, rec: Record) {
        // After finalize the writer is gone; late records from stray threads are dropped.
        let _ = self.tx.send(rec);
    }
}

/// The layer. Add it to a registry next to any other layers:
///
/// ```no_run
/// use tracing_subscriber::prelude::*;
/// # fn main() -> Result<(), receipt_runtime::RuntimeError> {
/// let (layer, run) = receipt_runtime::ReceiptLayer::builder("run.jsonl").build()?;
/// tracing_subscriber::registry()
///     .with(tracing_subscriber::fmt::layer())
///     .with(layer)
///     .init();
/// // … the program …
/// let outcome = run.finish()?;
/// println!("receipt: {}", outcome.receipt_path.display());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ReceiptLayer {
    shared: Arc<Shared>,
}

impl fmt::Debug for ReceiptLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReceiptLayer").finish_non_exhaustive()
    }
}

/// Settings of a run; see [`ReceiptLayer::builder`].
#[derive(Debug, Clone)]
pub struct ReceiptLayerBuilder {
    ledger: PathBuf,
    durability: Durability,
    graph: StageGraph,
    policy: ViolationPolicy,
    sample_io: bool,
    run_id: Option<String>,
    program: Option<String>,
}

impl ReceiptLayer {
    /// Settings for a run writing its ledger to `ledger` (which must be new or empty).
    pub fn builder(ledger: impl AsRef<Path>) -> ReceiptLayerBuilder {
        ReceiptLayerBuilder {
            ledger: ledger.as_ref().to_owned(),
            durability: Durability::default(),
            graph: StageGraph::default(),
            policy: ViolationPolicy::default(),
            sample_io: false,
            run_id: None,
            program: None,
        }
    }
}

fn valid_run_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// A fresh run id: 128 random bits (from the OS), as 32 hex digits.
pub(crate) fn new_run_id() -> String {
    use std::io::Read;
    let mut bytes = [0u8; 16];
    let random = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
    if random.is_err() {
        // No OS randomness: time, process and a hasher seeded by the standard library.
        use std::hash::{BuildHasher, RandomState};
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let h = RandomState::new().hash_one((t, std::process::id()));
        let d = receipt_primitives::Digest::of_parts(&[&t.to_le_bytes(), &h.to_le_bytes()]);
        bytes.copy_from_slice(&d.0[..16]);
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn program_name() -> String {
    std::env::args_os()
        .next()
        .and_then(|a| {
            Path::new(&a)
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

impl ReceiptLayerBuilder {
    /// When to fsync (default [`Durability::OnFinalize`]).
    pub fn durability(mut self, d: Durability) -> Self {
        self.durability = d;
        self
    }

    /// The declared stage graph (merged with `after =` declarations as stages run).
    pub fn graph(mut self, g: StageGraph) -> Self {
        self.graph = g;
        self
    }

    /// What an illegal transition does (default [`ViolationPolicy::Fail`]).
    pub fn policy(mut self, p: ViolationPolicy) -> Self {
        self.policy = p;
        self
    }

    /// Sample `/proc/self/io` at stage boundaries (default off: it costs a file read).
    pub fn sample_io(mut self, on: bool) -> Self {
        self.sample_io = on;
        self
    }

    /// Use this run id instead of a random one (`[A-Za-z0-9._-]`, 1 to 128 characters).
    pub fn run_id(mut self, id: impl Into<String>) -> Self {
        self.run_id = Some(id.into());
        self
    }

    /// Program name recorded in `RUN_START` (default: the file name of `argv[0]`).
    pub fn program(mut self, name: impl Into<String>) -> Self {
        self.program = Some(name.into());
        self
    }

    /// Opens and locks the ledger, starts the writer and records `RUN_START`.
    ///
    /// # Errors
    /// [`RuntimeError::Config`] for a bad run id; [`RuntimeError::Ledger`] when the
    /// ledger cannot be created, is locked by another writer, or already holds a run.
    pub fn build(self) -> Result<(ReceiptLayer, RunGuard), RuntimeError> {
        let run_id = self.run_id.unwrap_or_else(new_run_id);
        if !valid_run_id(&run_id) {
            return Err(RuntimeError::Config {
                field: "run_id",
                reason: format!("{run_id:?} must be 1 to 128 characters of [A-Za-z0-9._-]"),
            });
        }
        if let Some(dir) = self.ledger.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(crate::ledger::io_err(dir))?;
        }
        let file = open_locked(&self.ledger)?;
        let len = file
            .metadata()
            .map_err(crate::ledger::io_err(&self.ledger))?
            .len();
        if len != 0 {
            return Err(LedgerError::NotEmpty(self.ledger.clone()).into());
        }
        // Leftovers of an earlier run at this path would contradict the new ledger.
        for stale in [head_path(&self.ledger), receipt_path(&self.ledger)] {
            match std::fs::remove_file(&stale) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(LedgerError::Io {
                        path: stale,
                        source: e,
                    }
                    .into());
                }
                _ => {}
            }
        }
        let program = self.program.unwrap_or_else(program_name);
        let argv: Vec<String> = std::env::args_os()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let started_at = receipt_primitives::Timestamp::now().to_string();
        let payload = start_payload(
            &program,
            &argv,
            &started_at,
            &self.graph,
            self.policy,
            self.durability,
            self.sample_io,
        );
        let (tx, rx) = bounded(QUEUE);
        let writer = Writer::new(self.ledger.clone(), file, run_id.clone(), self.durability);
        let handle = std::thread::Builder::new()
            .name("receipt-ledger".into())
            .spawn(move || writer.run(rx))
            .map_err(crate::ledger::io_err(&self.ledger))?;
        let shared = Arc::new(Shared {
            tx,
            start: Instant::now(),
            graph: Mutex::new(self.graph),
            policy: self.policy,
            sample_io: self.sample_io,
            next_id: AtomicU64::new(0),
            roots: Mutex::new(HashMap::default()),
            finished: AtomicBool::new(false),
            io_start: self.sample_io.then(measure::process_io),
            alloc_start: measure::process_allocated(),
        });
        shared.send(Record::Start { payload });
        Ok((
            ReceiptLayer {
                shared: shared.clone(),
            },
            RunGuard {
                shared,
                writer: Some(handle),
                ledger: self.ledger,
                run_id,
            },
        ))
    }
}

/// Finalizes the run: [`RunGuard::finish`], or on drop (status `panicked` when dropped
/// during a panic, `ok` otherwise). Exactly one `RUN_FINALIZE` is written either way.
pub struct RunGuard {
    shared: Arc<Shared>,
    writer: Option<JoinHandle<()>>,
    ledger: PathBuf,
    run_id: String,
}

impl fmt::Debug for RunGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunGuard")
            .field("ledger", &self.ledger)
            .field("run_id", &self.run_id)
            .finish_non_exhaustive()
    }
}

impl RunGuard {
    /// The run id.
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// The ledger file.
    pub fn ledger(&self) -> &Path {
        &self.ledger
    }

    /// Finalizes with status `ok` and waits for the receipt.
    ///
    /// # Errors
    /// [`RuntimeError::Writer`] when writing the ledger, head or receipt failed.
    pub fn finish(self) -> Result<RunOutcome, RuntimeError> {
        self.finish_with(RunStatus::Ok)
    }

    /// Finalizes with `status` and waits for the receipt.
    ///
    /// # Errors
    /// As [`RunGuard::finish`].
    pub fn finish_with(mut self, status: RunStatus) -> Result<RunOutcome, RuntimeError> {
        self.finalize(status)
    }

    fn finalize(&mut self, status: RunStatus) -> Result<RunOutcome, RuntimeError> {
        let Some(handle) = self.writer.take() else {
            return Err(WriterError::Stopped(self.ledger.clone()).into());
        };
        let s = &self.shared;
        s.finished.store(true, Ordering::SeqCst);
        let (io_r, io_w) = match (&s.io_start, s.sample_io) {
            (Some((r0, w0)), true) => {
                let (r, w) = measure::process_io();
                (r.since(r0), w.since(w0))
            }
            _ => {
                let m = Measure::unavailable(measure::IO_DISABLED);
                (m.clone(), m)
            }
        };
        let totals = crate::receipt::Totals {
            wall_ns: s.t_ns(),
            cpu_ns: measure::process_cpu_ns(),
            peak_rss_kb: measure::peak_rss_kb(),
            io_read_bytes: io_r,
            io_write_bytes: io_w,
            alloc_bytes: measure::process_allocated().since(&s.alloc_start),
        };
        let payload = json!({
            "status": status.as_str(),
            "t_ns": s.t_ns(),
            "finished_at": receipt_primitives::Timestamp::now().to_string(),
            "totals": totals,
        });
        let (done_tx, done_rx) = bounded(1);
        s.send(Record::Finalize {
            payload,
            done: done_tx,
        });
        let result = done_rx.recv();
        let _ = handle.join();
        match result {
            Ok(r) => r.map_err(RuntimeError::from),
            Err(_) => Err(WriterError::Stopped(self.ledger.clone()).into()),
        }
    }
}

impl Drop for RunGuard {
    fn drop(&mut self) {
        if self.writer.is_none() {
            return;
        }
        let status = if std::thread::panicking() {
            RunStatus::Panicked
        } else {
            RunStatus::Ok
        };
        if let Err(e) = self.finalize(status) {
            // Drop cannot return the error; stderr is the only place left to say it.
            eprintln!("receipt-runtime: finalizing run {}: {e}", self.run_id);
        }
    }
}

thread_local! {
    static THREAD: u64 = {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        NEXT.fetch_add(1, Ordering::Relaxed)
    };
}

fn thread_id() -> u64 {
    THREAD.with(|t| *t)
}

/// Per-stage state, kept in the span's extensions.
struct StageState {
    id: u64,
    depth: u32,
    stage: &'static str,
    created_ns: u64,
    cpu_ns: Result<u64, String>,
    cpu_enter: Option<Result<u64, String>>,
    /// Allocation readings keep their reason as a static string, so that reading the
    /// counter at every entry and exit allocates nothing even when it is unavailable.
    alloc: Result<u64, &'static str>,
    alloc_enter: Option<Result<u64, &'static str>>,
    io_start: Option<(Measure, Measure)>,
    output: HashField,
    outcome: Option<Outcome>,
    error: Option<String>,
    last_child: Option<&'static str>,
}

/// A measurement as a number or the reason it is unavailable.
fn reading(m: Measure) -> Result<u64, String> {
    match m {
        Measure::Value(v) => Ok(v),
        Measure::Unavailable { unavailable } => Err(unavailable),
    }
}

/// Adds `now - start` to `acc`; the first unavailable reading (`now`'s reason before
/// `start`'s) makes the whole sum unavailable.
fn add_delta<R>(acc: &mut Result<u64, R>, now: Result<u64, R>, start: Option<Result<u64, R>>) {
    if let Ok(sum) = acc {
        match (now, start) {
            (Ok(b), Some(Ok(a))) => *sum += b.saturating_sub(a),
            (Err(why), _) | (_, Some(Err(why))) => *acc = Err(why),
            (_, None) => {}
        }
    }
}

/// A stage's allocation count for its exit record: `None` when the counting allocator is
/// not installed, which the run records once rather than per stage.
fn alloc_field(r: Result<u64, &'static str>) -> Option<Measure> {
    match r {
        Err(why) if why == measure::ALLOC_NOT_INSTALLED => None,
        r => Some(to_measure(r)),
    }
}

fn to_measure<R: Into<String>>(r: Result<u64, R>) -> Measure {
    match r {
        Ok(v) => Measure::Value(v),
        Err(why) => Measure::unavailable(why),
    }
}

fn is_stage(meta: &Metadata<'_>) -> bool {
    meta.fields().field(fields::OUTCOME).is_some()
}

/// Parses a hash field value: 64 hex digits, or `!reason`.
fn hash_value(s: &str) -> HashField {
    match s.strip_prefix('!') {
        Some(why) => Some(Err(why.to_owned())),
        None if crate::entry::is_hex64(s) => Some(Ok(s.to_owned())),
        None => Some(Err(format!("not a SHA-256 hex digest: {s:?}"))),
    }
}

#[derive(Default)]
struct StageFields {
    input: HashField,
    output: HashField,
    after: Option<String>,
    outcome: Option<Outcome>,
    error: Option<String>,
}

impl Visit for StageFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            fields::INPUT => self.input = hash_value(value),
            fields::OUTPUT => self.output = hash_value(value),
            fields::AFTER => self.after = Some(value.to_owned()),
            fields::ERROR => self.error = Some(value.to_owned()),
            fields::OUTCOME => {
                self.outcome = match value {
                    "ok" => Some(Outcome::Ok),
                    "err" => Some(Outcome::Err),
                    _ => None,
                }
            }
            _ => {}
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name().starts_with("receipt.") {
            self.record_str(field, &format!("{value:?}"));
        }
    }
}

/// A new stage, before its transition is checked.
struct NewStage {
    stage: &'static str,
    id: u64,
    parent: Option<u64>,
    depth: u32,
    t_ns: u64,
    thread: u64,
    args: ArgNames,
    input: HashField,
    after: Option<String>,
}

impl Shared {
    /// Adds `new`'s `after =` edge to the graph and says whether `new` may follow `pred`.
    fn allowed(&self, pred: Option<&'static str>, new: &NewStage) -> bool {
        let mut g = self.graph.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(a) = &new.after {
            g.allow(a, new.stage);
        }
        g.allows(pred.unwrap_or(START), new.stage)
    }

    /// Records the checked transition from `*pred` to `new`: a `VIOLATION` first when it
    /// is not `legal`; then, unless the fail policy refuses it (which returns the refused
    /// predecessor), `STAGE_ENTER`, making `new` the predecessor.
    fn enter_stage(
        &self,
        legal: bool,
        pred: &mut Option<&'static str>,
        new: NewStage,
    ) -> Option<&'static str> {
        let before = pred.unwrap_or(START);
        if !legal {
            self.send(Record::Violation {
                stage: new.stage,
                pred: before.to_owned(),
                parent: new.parent,
                t_ns: new.t_ns,
                thread: new.thread,
                policy: match self.policy {
                    ViolationPolicy::Fail => "fail",
                    ViolationPolicy::Record => "record",
                },
            });
            if self.policy == ViolationPolicy::Fail {
                return Some(before);
            }
        }
        *pred = Some(new.stage);
        self.send(Record::Enter {
            stage: new.stage,
            id: new.id,
            parent: new.parent,
            depth: new.depth,
            t_ns: new.t_ns,
            thread: new.thread,
            input: new.input,
            args: new.args,
            after: new.after,
        });
        None
    }
}

struct EventFields(Vec<(&'static str, FieldValue)>);

impl Visit for EventFields {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.push((field.name(), FieldValue::F64(value)));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.push((field.name(), FieldValue::I64(value)));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.push((field.name(), FieldValue::U64(value)));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.push((field.name(), FieldValue::Bool(value)));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0
            .push((field.name(), FieldValue::Str(value.to_owned())));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .push((field.name(), FieldValue::Str(format!("{value:?}"))));
    }
}

impl<S> Layer<S> for ReceiptLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let meta = attrs.metadata();
        if !is_stage(meta) || self.shared.finished.load(Ordering::Relaxed) {
            return;
        }
        let Some(span) = ctx.span(id) else { return };
        let s = &self.shared;
        let mut f = StageFields::default();
        attrs.record(&mut f);
        let stage = meta.name();
        // The nearest enclosing stage; its span is kept so its state needs no second lookup.
        let parent = span.scope().skip(1).find_map(|p| {
            let found = p
                .extensions()
                .get::<StageState>()
                .map(|st| (st.id, st.depth));
            found.map(|(pid, d)| (p, pid, d))
        });
        let depth = parent.as_ref().map_or(0, |(_, _, d)| d + 1);
        let new = NewStage {
            stage,
            id: s.next_id.fetch_add(1, Ordering::Relaxed),
            parent: parent.as_ref().map(|(_, pid, _)| *pid),
            depth,
            t_ns: s.t_ns(),
            thread: thread_id(),
            args: ArgNames(meta.fields()),
            input: f.input.take(),
            after: f.after.take(),
        };
        let (stage_id, t_ns) = (new.id, new.t_ns);

        // The predecessor is read, checked, updated and the records enqueued under one lock,
        // so the ledger order is the order in which transitions were checked.
        let refused = match &parent {
            Some((p, _, _)) => {
                let mut ext = p.extensions_mut();
                ext.get_mut::<StageState>().and_then(|st| {
                    let legal = s.allowed(st.last_child, &new);
                    s.enter_stage(legal, &mut st.last_child, new)
                })
            }
            None => {
                let mut roots = s.roots.lock().unwrap_or_else(PoisonError::into_inner);
                let thread = new.thread;
                let last = roots.get(&thread).copied();
                let legal = s.allowed(last, &new);
                let mut pred = last;
                let refused = s.enter_stage(legal, &mut pred, new);
                // Most calls repeat the thread's last stage; only a change is written back.
                if let Some(l) = pred
                    && last.is_none_or(|x| !std::ptr::eq(x, l))
                {
                    roots.insert(thread, l);
                }
                refused
            }
        };
        if let Some(before) = refused {
            let allowed: Vec<String> = s
                .graph
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .after
                .get(stage)
                .map(|set| set.iter().cloned().collect())
                .unwrap_or_default();
            panic!(
                "illegal stage transition: stage `{stage}` may not follow `{before}` (allowed after: {})",
                allowed.join(", ")
            );
        }
        span.extensions_mut().insert(StageState {
            id: stage_id,
            depth,
            stage,
            created_ns: t_ns,
            cpu_ns: Ok(0),
            cpu_enter: None,
            alloc: Ok(0),
            alloc_enter: None,
            io_start: s.sample_io.then(measure::process_io),
            output: None,
            outcome: None,
            error: None,
            last_child: None,
        });
    }

    fn on_record(&self, id: &Id, values: &SpanRecord<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut ext = span.extensions_mut();
        let Some(st) = ext.get_mut::<StageState>() else {
            return;
        };
        let mut f = StageFields::default();
        values.record(&mut f);
        if f.output.is_some() {
            st.output = f.output;
        }
        if f.outcome.is_some() {
            st.outcome = f.outcome;
        }
        if f.error.is_some() {
            st.error = f.error;
        }
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut ext = span.extensions_mut();
        if let Some(st) = ext.get_mut::<StageState>() {
            st.alloc_enter = Some(measure::thread_allocated_bytes());
            st.cpu_enter = Some(reading(measure::thread_cpu_ns()));
        }
    }

    fn on_exit(&self, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut ext = span.extensions_mut();
        if let Some(st) = ext.get_mut::<StageState>() {
            let cpu = reading(measure::thread_cpu_ns());
            let alloc = measure::thread_allocated_bytes();
            add_delta(&mut st.cpu_ns, cpu, st.cpu_enter.take());
            add_delta(&mut st.alloc, alloc, st.alloc_enter.take());
            if std::thread::panicking() && st.outcome.is_none() {
                st.outcome = Some(Outcome::Panic);
            }
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let Some(scope) = ctx.event_scope(event) else {
            return;
        };
        let Some((stage, stage_id)) = scope.into_iter().find_map(|sp| {
            sp.extensions()
                .get::<StageState>()
                .map(|st| (st.stage, st.id))
        }) else {
            return;
        };
        let mut fields = EventFields(Vec::new());
        event.record(&mut fields);
        let meta = event.metadata();
        self.shared.send(Record::Event {
            stage,
            stage_id,
            t_ns: self.shared.t_ns(),
            thread: thread_id(),
            level: meta.level().as_str(),
            target: meta.target(),
            fields: fields.0,
        });
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let Some(st) = span.extensions_mut().remove::<StageState>() else {
            return;
        };
        let s = &self.shared;
        let t_ns = s.t_ns();
        let outcome = match st.outcome {
            Some(o) => o,
            None if std::thread::panicking() => Outcome::Panic,
            None => Outcome::Ok,
        };
        let io = st.io_start.as_ref().map(|(r0, w0)| {
            let (r, w) = measure::process_io();
            (r.since(r0), w.since(w0))
        });
        s.send(Record::Exit {
            stage: st.stage,
            id: st.id,
            depth: st.depth,
            t_ns,
            thread: thread_id(),
            wall_ns: t_ns.saturating_sub(st.created_ns),
            cpu_ns: to_measure(st.cpu_ns),
            alloc_bytes: alloc_field(st.alloc),
            peak_rss_kb: measure::peak_rss_kb(),
            io,
            outcome,
            error: st.error,
            output: st.output,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stage_time_sums_deltas_until_a_reading_is_unavailable() {
        let mut acc: Result<u64, &str> = Ok(0);
        add_delta(&mut acc, Ok(15), Some(Ok(10)));
        add_delta(&mut acc, Ok(30), Some(Ok(20)));
        assert_eq!(acc, Ok(15));
        // An exit without a reading at entry adds nothing.
        add_delta(&mut acc, Ok(40), None);
        assert_eq!(acc, Ok(15));
        // A counter read as lower at exit than at entry adds nothing rather than wrapping.
        add_delta(&mut acc, Ok(5), Some(Ok(9)));
        assert_eq!(acc, Ok(15));
        // The exit reading's reason wins over the entry's, and the first reason stays.
        add_delta(&mut acc, Err("at exit"), Some(Err("at entry")));
        assert_eq!(acc, Err("at exit"));
        add_delta(&mut acc, Ok(50), Some(Err("later")));
        assert_eq!(acc, Err("at exit"));
        let mut b: Result<u64, &str> = Ok(3);
        add_delta(&mut b, Ok(1), Some(Err("at entry")));
        assert_eq!(b, Err("at entry"));
    }

    #[test]
    fn an_allocator_not_installed_is_left_to_the_run_wide_reason() {
        assert_eq!(alloc_field(Err(measure::ALLOC_NOT_INSTALLED)), None);
        assert_eq!(
            alloc_field(Err("thread-local allocation counter is gone")),
            Some(Measure::unavailable(
                "thread-local allocation counter is gone"
            ))
        );
        assert_eq!(alloc_field(Ok(7)), Some(Measure::Value(7)));
        assert_eq!(to_measure(Ok::<_, String>(7)), Measure::Value(7));
    }

    #[test]
    fn thread_ids_hash_to_distinct_values() {
        let hash = |n: u64| {
            let mut h = ThreadIdHasher::default();
            h.write_u64(n);
            h.finish()
        };
        let hashes: std::collections::HashSet<u64> = (0..1000).map(hash).collect();
        assert_eq!(hashes.len(), 1000);
    }
}
