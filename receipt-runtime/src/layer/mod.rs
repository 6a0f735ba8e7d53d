//! `ReceiptLayer`: the `tracing_subscriber::Layer` that turns `#[receipt]` spans and the
//! events inside them into ledger records, and `RunGuard`, which finalizes the run.
//!
//! The layer's callbacks, which turn spans into stage records, are in `stage`.

mod stage;

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use crossbeam_channel::bounded;
use serde_json::json;

use crate::graph::{StageGraph, ViolationPolicy};
use crate::ledger::{LedgerError, head_path, open_locked, receipt_path};
use crate::measure::{self, Measure};
use crate::writer::{
    Durability, Outbox, Record, RunOutcome, Writer, WriterError, spawn, start_payload,
};

pub use crate::fields;

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
    /// The evidence settings (key, policy) cannot be used.
    #[error(transparent)]
    Evidence(#[from] crate::evidence::EvidenceSetupError),
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

/// Hashes a [`thread_id`](stage::thread_id): the ids are distinct small counters, so a multiply spreads them
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
    tx: Outbox,
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
    evidence: crate::evidence::EvidenceSink,
}

impl Shared {
    fn t_ns(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    fn send(&self, rec: Record) {
        // After finalize the writer is gone; late records from stray threads are dropped.
        let _ = self.tx.send(rec);
    }

    /// See [`ReceiptLayer::sync`].
    fn sync(&self, ledger: &Path) -> Result<u64, RuntimeError> {
        let stopped = || RuntimeError::from(WriterError::Stopped(ledger.to_owned()));
        let (done, reply) = bounded(1);
        self.tx.send(Record::Sync { done }).map_err(|_| stopped())?;
        match reply.recv() {
            Ok(r) => r.map_err(RuntimeError::from),
            Err(_) => Err(stopped()),
        }
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
    ledger: Arc<Path>,
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
    /// Where evidence goes; set by the `evidence_*` methods (in `crate::evidence`).
    pub(crate) evidence: crate::evidence::EvidenceConfig,
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
            evidence: crate::evidence::EvidenceConfig::default(),
        }
    }

    /// Waits until every record this process queued before the call is in the ledger
    /// and, unless the policy is [`Durability::Never`], fsynced (the head file then
    /// describes it); returns the number of entries that holds for. Concurrent calls share
    /// the writer's fsyncs (group commit): one fsync answers every request queued while the
    /// previous one was in progress.
    ///
    /// # Errors
    /// [`RuntimeError::Writer`] when the writer has failed or the run has finished.
    pub fn sync(&self) -> Result<u64, RuntimeError> {
        self.shared.sync(&self.ledger)
    }

    /// Hands one evidence value of the stage call `stage_id` to the writer (see
    /// [`crate::evidence::evidence`]).
    pub(crate) fn record_evidence(
        &self,
        stage: &'static str,
        stage_id: u64,
        key: &str,
        class: crate::evidence::Class,
        bytes: Vec<u8>,
    ) -> Result<(), crate::evidence::EvidenceError> {
        let s = &self.shared;
        if s.finished.load(Ordering::Relaxed) {
            return Err(crate::evidence::EvidenceError::Finished);
        }
        let at = crate::evidence::StageAt {
            stage,
            stage_id,
            t_ns: s.t_ns(),
            thread: stage::thread_id(),
        };
        let item = s.evidence.item(at, key, class, bytes)?;
        s.send(Record::Evidence(Box::new(
            crate::evidence::EvidenceRecord::Queued(item),
        )));
        Ok(())
    }
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
        .filter(|name| crate::entry::is_program_name(name))
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
    /// [`RuntimeError::Config`] for a bad run id or program name; [`RuntimeError::Ledger`] when the
    /// ledger cannot be created, is locked by another writer, or already holds a run.
    pub fn build(self) -> Result<(ReceiptLayer, RunGuard), RuntimeError> {
        let run_id = self.run_id.unwrap_or_else(new_run_id);
        if !crate::entry::is_valid_run_id(&run_id) {
            return Err(RuntimeError::Config {
                field: "run_id",
                reason: format!(
                    "{:?} must be 1 to 128 characters of [A-Za-z0-9._-], the first a letter or digit",
                    receipt_primitives::check::echo(&run_id)
                ),
            });
        }
        let program = self.program.unwrap_or_else(program_name);
        if !crate::entry::is_program_name(&program) {
            return Err(RuntimeError::Config {
                field: "program",
                reason: format!(
                    "{:?} must be a file name: non-empty, without `/` or control characters, not `.` or `..`",
                    receipt_primitives::check::echo(&program)
                ),
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
        let evidence = crate::evidence::EvidenceSink::new(self.evidence, &self.ledger)
            .map_err(crate::evidence::EvidenceSetupError::from)?;
        let writer = Writer::new(self.ledger.clone(), file, run_id.clone(), self.durability);
        let (tx, handle) =
            spawn(writer, self.durability).map_err(crate::ledger::io_err(&self.ledger))?;
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
            evidence,
        });
        shared.send(Record::Start { payload });
        Ok((
            ReceiptLayer {
                shared: shared.clone(),
                ledger: Arc::from(self.ledger.as_path()),
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

    /// As [`ReceiptLayer::sync`]: waits until every record queued before the call is
    /// written and, unless the policy is [`Durability::Never`], fsynced.
    ///
    /// # Errors
    /// As [`ReceiptLayer::sync`].
    pub fn sync(&self) -> Result<u64, RuntimeError> {
        self.shared.sync(&self.ledger)
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
