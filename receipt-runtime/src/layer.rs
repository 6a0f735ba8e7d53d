//! `ReceiptLayer`: the `tracing_subscriber::Layer` that turns `#[receipt]` spans and the
//! events inside them into ledger records, and `RunGuard`, which finalizes the run.

use std::collections::HashMap;
use std::fmt;
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

struct Shared {
    tx: Sender<Record>,
    start: Instant,
    graph: Mutex<StageGraph>,
    policy: ViolationPolicy,
    sample_io: bool,
    next_id: AtomicU64,
    /// Last top-level stage per thread, for transition checks.
    roots: Mutex<HashMap<u64, &'static str>>,
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
        let d = receipt_core::Digest::of_parts(&[&t.to_le_bytes(), &h.to_le_bytes()]);
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
        let started_at = receipt_core::Timestamp::now().to_string();
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
            roots: Mutex::new(HashMap::new()),
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
            "finished_at": receipt_core::Timestamp::now().to_string(),
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
    cpu_enter: Option<Measure>,
    alloc: Result<u64, String>,
    alloc_enter: Option<Measure>,
    io_start: Option<(Measure, Measure)>,
    output: HashField,
    outcome: Option<Outcome>,
    error: Option<String>,
    last_child: Option<&'static str>,
}

fn add_delta(acc: &mut Result<u64, String>, now: Measure, start: Option<Measure>) {
    if let Ok(sum) = acc {
        match (now, start) {
            (Measure::Value(b), Some(Measure::Value(a))) => *sum += b.saturating_sub(a),
            (Measure::Unavailable { unavailable }, _)
            | (_, Some(Measure::Unavailable { unavailable })) => *acc = Err(unavailable),
            (_, None) => {}
        }
    }
}

fn to_measure(r: &Result<u64, String>) -> Measure {
    match r {
        Ok(v) => Measure::Value(*v),
        Err(why) => Measure::unavailable(why.clone()),
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
        let args = ArgNames(meta.fields());
        let thread = thread_id();
        let parent = span.scope().skip(1).find_map(|p| {
            p.extensions()
                .get::<StageState>()
                .map(|st| (p.id(), st.id, st.depth))
        });
        let depth = parent.as_ref().map_or(0, |(_, _, d)| d + 1);
        let parent_stage = parent.as_ref().map(|(_, pid, _)| *pid);
        let stage_id = s.next_id.fetch_add(1, Ordering::Relaxed);
        let t_ns = s.t_ns();

        // The predecessor is read, checked, updated and the record enqueued under one lock,
        // so the ledger order is the order in which transitions were checked.
        let mut check = |pred: &mut Option<&'static str>| -> Option<String> {
            let before = pred.unwrap_or(START);
            let legal = {
                let mut g = s.graph.lock().unwrap_or_else(PoisonError::into_inner);
                if let Some(a) = &f.after {
                    g.allow(a, stage);
                }
                g.allows(before, stage)
            };
            if !legal {
                s.send(Record::Violation {
                    stage,
                    pred: before.to_owned(),
                    parent: parent_stage,
                    t_ns,
                    thread,
                    policy: match s.policy {
                        ViolationPolicy::Fail => "fail",
                        ViolationPolicy::Record => "record",
                    },
                });
                if s.policy == ViolationPolicy::Fail {
                    return Some(before.to_owned());
                }
            }
            *pred = Some(stage);
            s.send(Record::Enter {
                stage,
                id: stage_id,
                parent: parent_stage,
                depth,
                t_ns,
                thread,
                input: f.input.take(),
                args,
                after: f.after.clone(),
            });
            None
        };
        let refused = match &parent {
            Some((pid, _, _)) => ctx.span(pid).and_then(|p| {
                let mut ext = p.extensions_mut();
                ext.get_mut::<StageState>()
                    .and_then(|st| check(&mut st.last_child))
            }),
            None => {
                let mut roots = s.roots.lock().unwrap_or_else(PoisonError::into_inner);
                let mut last = roots.get(&thread).copied();
                let r = check(&mut last);
                if let Some(l) = last {
                    roots.insert(thread, l);
                }
                r
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
            st.alloc_enter = Some(measure::thread_allocated());
            st.cpu_enter = Some(measure::thread_cpu_ns());
        }
    }

    fn on_exit(&self, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut ext = span.extensions_mut();
        if let Some(st) = ext.get_mut::<StageState>() {
            let cpu = measure::thread_cpu_ns();
            let alloc = measure::thread_allocated();
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
            cpu_ns: to_measure(&st.cpu_ns),
            alloc_bytes: to_measure(&st.alloc),
            peak_rss_kb: measure::peak_rss_kb(),
            io,
            outcome,
            error: st.error,
            output: st.output,
        });
    }
}
