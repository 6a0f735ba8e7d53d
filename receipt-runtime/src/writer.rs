//! The background ledger writer: turns queued records into canonical, hash-chained lines,
//! group-commits them, fsyncs by the durability policy, and writes the head and receipt.

use std::borrow::Cow;
use std::fmt;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use crossbeam_channel::Receiver;
use receipt_core::{Digest, fsutil};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::entry::{genesis, kind, seal_into};
use crate::ledger::{HEAD_SCHEMA, Head, head_path, receipt_path};
use crate::measure::{ALLOC_NOT_INSTALLED, Measure};
use crate::receipt::{PayloadView, RunFold, RunReceipt};

/// When the writer fsyncs the ledger (and rewrites the head file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Durability {
    /// Never fsync; the operating system decides when bytes reach the disk.
    Never,
    /// Fsync once, when the run is finalized (the default).
    #[default]
    OnFinalize,
    /// Fsync after every `n` entries, and at finalize.
    EveryN(u64),
    /// Fsync after every entry.
    Always,
}

impl Durability {
    fn label(self) -> Value {
        match self {
            Durability::Never => json!("never"),
            Durability::OnFinalize => json!("on_finalize"),
            Durability::EveryN(n) => json!({ "every_n": n }),
            Durability::Always => json!("always"),
        }
    }
}

/// A value of a `tracing` event field.
#[derive(Debug, Clone)]
pub(crate) enum FieldValue {
    Str(String),
    I64(i64),
    U64(u64),
    Bool(bool),
    F64(f64),
}

impl FieldValue {
    fn to_json(&self) -> Value {
        match self {
            FieldValue::Str(s) => Value::String(s.clone()),
            FieldValue::I64(i) => json!(i),
            FieldValue::U64(u) => json!(u),
            FieldValue::Bool(b) => json!(b),
            // Non-finite floats have no JSON form; their text keeps the information.
            FieldValue::F64(f) if f.is_finite() => json!(f),
            FieldValue::F64(f) => Value::String(f.to_string()),
        }
    }
}

/// How a stage ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Ok,
    Err,
    Panic,
}

impl Outcome {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Err => "err",
            Outcome::Panic => "panic",
        }
    }
}

/// A stage's input hash field: a digest, or why the arguments could not be hashed.
pub(crate) type HashField = Option<Result<String, String>>;

/// The argument names a `#[receipt]` span declares (its `receipt.arg.*` fields), read from
/// the callsite's static field set when the entry is written, so recording a stage
/// allocates nothing for them.
#[derive(Clone, Copy)]
pub(crate) struct ArgNames(pub(crate) &'static tracing::field::FieldSet);

impl fmt::Debug for ArgNames {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

impl ArgNames {
    fn names(self) -> impl Iterator<Item = &'static str> {
        self.0
            .iter()
            .filter_map(|f| f.name().strip_prefix(crate::layer::fields::ARG_PREFIX))
    }
}

impl Serialize for ArgNames {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.names())
    }
}

/// What the instrumented code enqueues; the writer does everything else.
#[derive(Debug)]
pub(crate) enum Record {
    Start {
        payload: Value,
    },
    Enter {
        stage: &'static str,
        id: u64,
        parent: Option<u64>,
        depth: u32,
        t_ns: u64,
        thread: u64,
        input: HashField,
        args: ArgNames,
        after: Option<String>,
    },
    Exit {
        stage: &'static str,
        id: u64,
        depth: u32,
        t_ns: u64,
        thread: u64,
        wall_ns: u64,
        cpu_ns: Measure,
        alloc_bytes: Measure,
        peak_rss_kb: Measure,
        io: Option<(Measure, Measure)>,
        outcome: Outcome,
        error: Option<String>,
        output: HashField,
    },
    Event {
        stage: &'static str,
        stage_id: u64,
        t_ns: u64,
        thread: u64,
        level: &'static str,
        target: &'static str,
        fields: Vec<(&'static str, FieldValue)>,
    },
    Violation {
        stage: &'static str,
        pred: String,
        parent: Option<u64>,
        t_ns: u64,
        thread: u64,
        policy: &'static str,
    },
    Finalize {
        payload: Value,
        done: crossbeam_channel::Sender<Result<RunOutcome, WriterError>>,
    },
}

/// What a finished run left on disk.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// The ledger file.
    pub ledger: PathBuf,
    /// The receipt file.
    pub receipt_path: PathBuf,
    /// The receipt written.
    pub receipt: RunReceipt,
}

/// Why the writer could not complete the ledger.
#[derive(Debug, Clone, thiserror::Error)]
pub enum WriterError {
    /// Writing or syncing a file failed.
    #[error("{path}: {message}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error text.
        message: String,
    },
    /// A payload could not be canonicalized.
    #[error("{path}: entry {seq} has no canonical JSON form: {message}")]
    Canonical {
        /// The ledger.
        path: PathBuf,
        /// The entry's seq.
        seq: u64,
        /// The serializer's message.
        message: String,
    },
    /// The run ended without a finalize record reaching the writer.
    #[error("{0}: the writer stopped before the run was finalized")]
    Stopped(PathBuf),
}

/// The digest of a hash field, moved into the fold's view.
fn digest_text(v: HashField) -> Option<Cow<'static, str>> {
    match v {
        Some(Ok(hex)) => Some(Cow::Owned(hex)),
        _ => None,
    }
}

/// Splits a hash field into (digest, reason it is missing).
fn split_hash(v: &HashField) -> (Option<&str>, Option<&str>) {
    match v {
        None => (None, None),
        Some(Ok(hex)) => (Some(hex.as_str()), None),
        Some(Err(why)) => (None, Some(why.as_str())),
    }
}

// Payload structs: fields are declared in RFC 8785 key order, all keys are ASCII and all
// numbers are integers, so serde_json's compact output is already canonical (checked in
// debug builds and by the tests).

#[derive(Serialize)]
struct EnterPayload<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    after: Option<&'a str>,
    args: ArgNames,
    depth: u32,
    id: u64,
    input: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    input_error: Option<&'a str>,
    parent: Option<u64>,
    t_ns: u64,
    thread: u64,
}

#[derive(Serialize)]
struct ExitPayload<'a> {
    alloc_bytes: Option<&'a Measure>,
    cpu_ns: &'a Measure,
    depth: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
    id: u64,
    io_read_bytes: Option<&'a Measure>,
    io_write_bytes: Option<&'a Measure>,
    outcome: &'static str,
    output: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    output_error: Option<&'a str>,
    peak_rss_kb: &'a Measure,
    t_ns: u64,
    thread: u64,
    wall_ns: u64,
}

#[derive(Serialize)]
struct ViolationPayload<'a> {
    after: &'a str,
    parent: Option<u64>,
    policy: &'static str,
    t_ns: u64,
    thread: u64,
}

fn typed_bytes<T: Serialize>(out: &mut Vec<u8>, v: &T) -> Result<(), String> {
    out.clear();
    serde_json::to_writer(&mut *out, v).map_err(|e| e.to_string())?;
    debug_assert!(
        receipt_core::jcs::is_canonical(out),
        "payload is not canonical: {}",
        String::from_utf8_lossy(out)
    );
    Ok(())
}

fn value_bytes(out: &mut Vec<u8>, v: &Value) -> Result<(), String> {
    out.clear();
    out.extend_from_slice(&crate::entry::canonical(v).map_err(|e| e.to_string())?);
    Ok(())
}

/// What the fold needs from a payload: taken from the record when the writer built the
/// payload from typed fields (`Some`), parsed back from the bytes otherwise (`None`).
type View = Option<PayloadView<'static>>;

/// Converts a record to (type, stage, fold view, finalize reply channel), writing its
/// canonical payload bytes to `out`.
#[allow(clippy::type_complexity)]
fn to_entry(
    rec: Record,
    out: &mut Vec<u8>,
) -> (
    &'static str,
    Option<&'static str>,
    Result<View, String>,
    Option<Finalizer>,
) {
    match rec {
        Record::Start { payload } => (
            kind::RUN_START,
            None,
            value_bytes(out, &payload).map(|()| None),
            None,
        ),
        Record::Enter {
            stage,
            id,
            parent,
            depth,
            t_ns,
            thread,
            input,
            args,
            after,
        } => {
            let (input_hex, input_error) = split_hash(&input);
            let p = EnterPayload {
                after: after.as_deref(),
                args,
                depth,
                id,
                input: input_hex,
                input_error,
                parent,
                t_ns,
                thread,
            };
            let written = typed_bytes(out, &p);
            let view = PayloadView {
                id: Some(id),
                parent,
                depth: Some(u64::from(depth)),
                thread: Some(thread),
                input: digest_text(input),
                after: after.map(Cow::Owned),
                ..PayloadView::default()
            };
            let res = written.map(|()| Some(view));
            (kind::STAGE_ENTER, Some(stage), res, None)
        }
        Record::Exit {
            stage,
            id,
            depth,
            t_ns,
            thread,
            wall_ns,
            cpu_ns,
            alloc_bytes,
            peak_rss_kb,
            io,
            outcome,
            error,
            output,
        } => {
            // Run-wide unavailability (sampling off, no counting allocator) is written once,
            // in RUN_START's `unmeasured`, and as null here.
            let (r, w) = match &io {
                Some((r, w)) => (Some(r), Some(w)),
                None => (None, None),
            };
            let alloc = match &alloc_bytes {
                Measure::Unavailable { unavailable } if unavailable == ALLOC_NOT_INSTALLED => None,
                m => Some(m),
            };
            let (output_hex, output_error) = split_hash(&output);
            let p = ExitPayload {
                alloc_bytes: alloc,
                cpu_ns: &cpu_ns,
                depth,
                error: error.as_deref(),
                id,
                io_read_bytes: r,
                io_write_bytes: w,
                outcome: outcome.as_str(),
                output: output_hex,
                output_error,
                peak_rss_kb: &peak_rss_kb,
                t_ns,
                thread,
                wall_ns,
            };
            let written = typed_bytes(out, &p);
            let view = PayloadView {
                id: Some(id),
                depth: Some(u64::from(depth)),
                thread: Some(thread),
                outcome: Some(Cow::Borrowed(outcome.as_str())),
                output: digest_text(output),
                wall_ns: Some(wall_ns),
                cpu_ns: cpu_ns.value().map(Value::from),
                ..PayloadView::default()
            };
            let res = written.map(|()| Some(view));
            (kind::STAGE_EXIT, Some(stage), res, None)
        }
        Record::Event {
            stage,
            stage_id,
            t_ns,
            thread,
            level,
            target,
            fields,
        } => {
            let f: Map<String, Value> = fields
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.to_json()))
                .collect();
            let p = json!({
                "stage_id": stage_id, "t_ns": t_ns, "thread": thread,
                "level": level, "target": target, "fields": f,
            });
            // The fold reads nothing from an event's payload but its type.
            let res = value_bytes(out, &p).map(|()| Some(PayloadView::default()));
            (kind::EVENT, Some(stage), res, None)
        }
        Record::Violation {
            stage,
            pred,
            parent,
            t_ns,
            thread,
            policy,
        } => {
            let p = ViolationPayload {
                after: &pred,
                parent,
                policy,
                t_ns,
                thread,
            };
            let view = PayloadView {
                parent,
                thread: Some(thread),
                after: Some(Cow::Owned(pred.clone())),
                ..PayloadView::default()
            };
            let res = typed_bytes(out, &p).map(|()| Some(view));
            (kind::VIOLATION, Some(stage), res, None)
        }
        Record::Finalize { payload, done } => {
            let res = value_bytes(out, &payload).map(|()| None);
            (kind::RUN_FINALIZE, None, res, Some(done))
        }
    }
}

type Finalizer = crossbeam_channel::Sender<Result<RunOutcome, WriterError>>;

/// The payload of `RUN_START`.
pub(crate) fn start_payload(
    program: &str,
    argv: &[String],
    started_at: &str,
    graph: &crate::graph::StageGraph,
    policy: crate::graph::ViolationPolicy,
    durability: Durability,
    sample_io: bool,
) -> Value {
    let argv_sha256 = receipt_core::jcs::sha256(argv).map_or(Value::Null, |d| json!(d.to_hex()));
    let cpus = std::thread::available_parallelism().map_or(Value::Null, |n| json!(n.get()));
    let mut unmeasured = Map::new();
    if !sample_io {
        unmeasured.insert("io".into(), json!(crate::measure::IO_DISABLED));
    }
    if crate::measure::process_allocated().value().is_none() {
        unmeasured.insert("alloc_bytes".into(), json!(ALLOC_NOT_INSTALLED));
    }
    json!({
        "schema": crate::entry::LEDGER_SCHEMA,
        "producer": concat!("receipt-runtime ", env!("CARGO_PKG_VERSION")),
        "program": program,
        "argc": argv.len(),
        "argv_sha256": argv_sha256,
        "started_at": started_at,
        "host": {
            "os": std::env::consts::OS,
            "arch": std::env::consts::ARCH,
            "cpus": cpus,
            "pid": std::process::id(),
        },
        "graph": graph,
        "policy": policy,
        "durability": durability.label(),
        "sample_io": sample_io,
        "unmeasured": unmeasured,
    })
}

/// The writer's state: file, chain position, fold.
pub(crate) struct Writer {
    path: PathBuf,
    out: BufWriter<File>,
    run_id: String,
    durability: Durability,
    seq: u64,
    prev: Digest,
    fold: RunFold,
    since_sync: u64,
    failed: Option<WriterError>,
    head: Option<File>,
    /// Reused for each payload's bytes.
    payload: Vec<u8>,
    /// Reused for each line.
    line: Vec<u8>,
}

impl Writer {
    pub(crate) fn new(path: PathBuf, file: File, run_id: String, durability: Durability) -> Self {
        let prev = genesis(&run_id);
        Writer {
            path,
            out: BufWriter::with_capacity(1 << 18, file),
            run_id,
            durability,
            seq: 0,
            prev,
            fold: RunFold::new(),
            since_sync: 0,
            failed: None,
            head: None,
            payload: Vec::with_capacity(1024),
            line: Vec::with_capacity(1024),
        }
    }

    fn io(&self, path: &Path) -> impl FnOnce(io::Error) -> WriterError + use<> {
        let path = path.to_owned();
        move |e| WriterError::Io {
            path,
            message: e.to_string(),
        }
    }

    /// Runs until a finalize record is processed or every sender is gone.
    pub(crate) fn run(mut self, rx: Receiver<Record>) {
        while let Ok(first) = rx.recv() {
            let mut next = Some(first);
            // Group commit: drain what is queued, then flush once.
            while let Some(rec) = next.take() {
                if let Some(done) = self.append(rec) {
                    let result = self.finalize();
                    let _ = done.send(result);
                    return;
                }
                next = rx.try_recv().ok();
            }
            if self.failed.is_none()
                && let Err(e) = self.out.flush()
            {
                self.failed = Some(self.io(&self.path.clone())(e));
            }
        }
    }

    /// Appends one record; returns the finalize reply channel when it was the last one.
    fn append(&mut self, rec: Record) -> Option<Finalizer> {
        let (kind_, stage, view, done) = to_entry(rec, &mut self.payload);
        if self.failed.is_some() {
            return done;
        }
        let parsed;
        let view = match view {
            Ok(Some(v)) => v,
            Ok(None) => match PayloadView::parse(&self.payload) {
                Ok(v) => {
                    parsed = v;
                    parsed
                }
                Err(e) => {
                    self.fail_canonical(e.to_string());
                    return done;
                }
            },
            Err(message) => {
                self.fail_canonical(message);
                return done;
            }
        };
        self.line.clear();
        let payload = &self.payload;
        let sealed = seal_into(
            &mut self.line,
            self.seq,
            &self.prev,
            &self.run_id,
            kind_,
            stage,
            |out| {
                out.extend_from_slice(payload);
                Ok::<(), std::convert::Infallible>(())
            },
        );
        let Ok(hash) = sealed;
        if let Err(e) = self.out.write_all(&self.line) {
            self.failed = Some(self.io(&self.path.clone())(e));
            return done;
        }
        self.fold
            .push(self.seq, hash, &self.run_id, kind_, stage, &view);
        self.prev = hash;
        self.seq += 1;
        self.since_sync += 1;
        let due = match self.durability {
            Durability::Always => true,
            Durability::EveryN(n) => self.since_sync >= n.max(1),
            Durability::Never | Durability::OnFinalize => false,
        };
        if due && done.is_none() {
            self.sync();
        }
        done
    }

    fn fail_canonical(&mut self, message: String) {
        self.failed = Some(WriterError::Canonical {
            path: self.path.clone(),
            seq: self.seq,
            message,
        });
    }

    /// Flushes and fsyncs the ledger, then rewrites the head file.
    fn sync(&mut self) {
        let res = self.flush_and_sync().and_then(|()| self.write_head());
        self.since_sync = 0;
        if let Err(e) = res {
            self.failed = Some(e);
        }
    }

    fn flush_and_sync(&mut self) -> Result<(), WriterError> {
        self.out.flush().map_err(self.io(&self.path))?;
        if self.durability != Durability::Never {
            self.out
                .get_ref()
                .sync_data()
                .map_err(self.io(&self.path))?;
        }
        Ok(())
    }

    fn head_bytes(&self) -> Result<Option<Vec<u8>>, WriterError> {
        let Some(last) = self.fold.last_hash() else {
            return Ok(None);
        };
        let head = Head {
            schema: HEAD_SCHEMA.to_owned(),
            run_id: self.run_id.clone(),
            entries: self.fold.count(),
            last_entry_sha256: last,
            merkle_root: self.fold.merkle_root(),
        };
        receipt_core::jcs::to_vec(&head)
            .map(Some)
            .map_err(|e| WriterError::Io {
                path: head_path(&self.path),
                message: e.to_string(),
            })
    }

    /// Rewrites the head file in place after a mid-run fsync of the ledger.
    ///
    /// The head only ever describes entries already fsynced, so a stale head after a crash
    /// is still true; making the head itself durable each time would double the fsyncs of
    /// `Always`. At finalize it is replaced atomically and durably instead.
    fn write_head(&mut self) -> Result<(), WriterError> {
        use std::os::unix::fs::FileExt as _;
        let Some(bytes) = self.head_bytes()? else {
            return Ok(());
        };
        let path = head_path(&self.path);
        if self.head.is_none() {
            let f = File::create(&path).map_err(self.io(&path))?;
            self.head = Some(f);
        }
        if let Some(f) = &self.head {
            f.write_all_at(&bytes, 0).map_err(self.io(&path))?;
            f.set_len(bytes.len() as u64).map_err(self.io(&path))?;
        }
        Ok(())
    }

    /// Atomic replace; durable unless the policy is `Never`.
    fn replace_file(&self, path: &Path, bytes: &[u8]) -> Result<(), WriterError> {
        if self.durability == Durability::Never {
            let tmp = crate::ledger::tmp_sibling(path);
            std::fs::write(&tmp, bytes).map_err(self.io(&tmp))?;
            std::fs::rename(&tmp, path).map_err(self.io(path))
        } else {
            fsutil::atomic_write(path, bytes).map_err(self.io(path))
        }
    }

    fn finalize(&mut self) -> Result<RunOutcome, WriterError> {
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        self.flush_and_sync()?;
        self.head = None;
        if let Some(bytes) = self.head_bytes()? {
            self.replace_file(&head_path(&self.path), &bytes)?;
        }
        let receipt = self
            .fold
            .receipt()
            .ok_or_else(|| WriterError::Stopped(self.path.clone()))?;
        let rpath = receipt_path(&self.path);
        let bytes = receipt_core::jcs::to_vec(&receipt).map_err(|e| WriterError::Io {
            path: rpath.clone(),
            message: e.to_string(),
        })?;
        // `atomic_write` fsyncs the directory after each rename, so both files are durable.
        self.replace_file(&rpath, &bytes)?;
        Ok(RunOutcome {
            ledger: self.path.clone(),
            receipt_path: rpath,
            receipt,
        })
    }
}
