//! The background ledger writer: turns queued records into canonical, hash-chained lines,
//! group-commits them, fsyncs by the durability policy, and writes the head and receipt.

use std::borrow::Cow;
use std::fmt;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crossbeam_channel::Receiver;
use receipt_primitives::fsutil;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::entry::{
    Opened, close_line, genesis, json_string, kind, open_line, push_u64, seal_chained,
};
use crate::ledger::{HEAD_SCHEMA, Head, head_path, receipt_path};
use crate::measure::{ALLOC_NOT_INSTALLED, Measure};
use crate::receipt::{PayloadView, RunFold, RunReceipt};

/// When the writer fsyncs the ledger (and rewrites the head file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Durability {
    /// Never fsync; the operating system decides when bytes reach the disk.
    Never,
    /// Fsync once, when the run is finalized (the default). The kernel is asked to start
    /// writing the ledger back every 8 MiB meanwhile, so the final fsync has little to do.
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
        /// `None` when the counting allocator is not installed: that is recorded once for
        /// the run (RUN_START's `unmeasured`) and written as `null` here.
        alloc_bytes: Option<Measure>,
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

/// Splits a hash field into (digest, reason it is missing).
fn split_hash(v: &HashField) -> (Option<&str>, Option<&str>) {
    match v {
        None => (None, None),
        Some(Ok(hex)) => (Some(hex.as_str()), None),
        Some(Err(why)) => (None, Some(why.as_str())),
    }
}

// Payload structs: fields are declared in RFC 8785 key order, all keys are ASCII and all
// numbers are integers. Each has a hand-written `write_json` that appends its canonical
// bytes directly; the serde form is kept as the reference those bytes are tested against.

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

/// Appends `v` as a JSON number, or `null`.
fn put_opt_u64(out: &mut Vec<u8>, v: Option<u64>) {
    match v {
        Some(v) => push_u64(out, v),
        None => out.extend_from_slice(b"null"),
    }
}

/// Appends `s` as a JSON string, or `null`.
fn put_opt_str(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => json_string(out, s),
        None => out.extend_from_slice(b"null"),
    }
}

/// Appends a measure as serde writes it: a number, or `{"unavailable":"<reason>"}`.
fn put_measure(out: &mut Vec<u8>, m: &Measure) {
    match m {
        Measure::Value(v) => push_u64(out, *v),
        Measure::Unavailable { unavailable } => {
            out.extend_from_slice(b"{\"unavailable\":");
            json_string(out, unavailable);
            out.push(b'}');
        }
    }
}

/// Appends a measure, or `null`.
fn put_opt_measure(out: &mut Vec<u8>, m: Option<&Measure>) {
    match m {
        Some(m) => put_measure(out, m),
        None => out.extend_from_slice(b"null"),
    }
}

impl EnterPayload<'_> {
    /// Appends the canonical JSON of the payload (serde's bytes for it, without serde).
    fn write_json(&self, out: &mut Vec<u8>) {
        out.push(b'{');
        if let Some(after) = self.after {
            out.extend_from_slice(b"\"after\":");
            json_string(out, after);
            out.push(b',');
        }
        out.extend_from_slice(b"\"args\":[");
        for (i, name) in self.args.names().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            json_string(out, name);
        }
        out.extend_from_slice(b"],\"depth\":");
        push_u64(out, u64::from(self.depth));
        out.extend_from_slice(b",\"id\":");
        push_u64(out, self.id);
        out.extend_from_slice(b",\"input\":");
        put_opt_str(out, self.input);
        if let Some(why) = self.input_error {
            out.extend_from_slice(b",\"input_error\":");
            json_string(out, why);
        }
        out.extend_from_slice(b",\"parent\":");
        put_opt_u64(out, self.parent);
        out.extend_from_slice(b",\"t_ns\":");
        push_u64(out, self.t_ns);
        out.extend_from_slice(b",\"thread\":");
        push_u64(out, self.thread);
        out.push(b'}');
    }
}

impl ExitPayload<'_> {
    /// Appends the canonical JSON of the payload (serde's bytes for it, without serde).
    fn write_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"alloc_bytes\":");
        put_opt_measure(out, self.alloc_bytes);
        out.extend_from_slice(b",\"cpu_ns\":");
        put_measure(out, self.cpu_ns);
        out.extend_from_slice(b",\"depth\":");
        push_u64(out, u64::from(self.depth));
        if let Some(error) = self.error {
            out.extend_from_slice(b",\"error\":");
            json_string(out, error);
        }
        out.extend_from_slice(b",\"id\":");
        push_u64(out, self.id);
        out.extend_from_slice(b",\"io_read_bytes\":");
        put_opt_measure(out, self.io_read_bytes);
        out.extend_from_slice(b",\"io_write_bytes\":");
        put_opt_measure(out, self.io_write_bytes);
        out.extend_from_slice(b",\"outcome\":");
        json_string(out, self.outcome);
        out.extend_from_slice(b",\"output\":");
        put_opt_str(out, self.output);
        if let Some(why) = self.output_error {
            out.extend_from_slice(b",\"output_error\":");
            json_string(out, why);
        }
        out.extend_from_slice(b",\"peak_rss_kb\":");
        put_measure(out, self.peak_rss_kb);
        out.extend_from_slice(b",\"t_ns\":");
        push_u64(out, self.t_ns);
        out.extend_from_slice(b",\"thread\":");
        push_u64(out, self.thread);
        out.extend_from_slice(b",\"wall_ns\":");
        push_u64(out, self.wall_ns);
        out.push(b'}');
    }
}

impl ViolationPayload<'_> {
    /// Appends the canonical JSON of the payload (serde's bytes for it, without serde).
    fn write_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"after\":");
        json_string(out, self.after);
        out.extend_from_slice(b",\"parent\":");
        put_opt_u64(out, self.parent);
        out.extend_from_slice(b",\"policy\":");
        json_string(out, self.policy);
        out.extend_from_slice(b",\"t_ns\":");
        push_u64(out, self.t_ns);
        out.extend_from_slice(b",\"thread\":");
        push_u64(out, self.thread);
        out.push(b'}');
    }
}

/// Appends a typed payload with `write`; debug builds check that the bytes are canonical.
fn typed_bytes(out: &mut Vec<u8>, write: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    write(out);
    debug_assert!(
        receipt_primitives::jcs::is_canonical(&out[start..]),
        "payload is not canonical: {}",
        String::from_utf8_lossy(&out[start..])
    );
}

fn value_bytes(out: &mut Vec<u8>, v: &Value) -> Result<(), String> {
    out.clear();
    out.extend_from_slice(&crate::entry::canonical(v).map_err(|e| e.to_string())?);
    Ok(())
}

/// The payload of a stage, event or violation record, ready to append its canonical bytes.
enum Body<'r> {
    Enter(EnterPayload<'r>),
    Exit(ExitPayload<'r>),
    Violation(ViolationPayload<'r>),
    Event(Value),
}

impl Body<'_> {
    /// The payload of `rec`; `None` for `Start` and `Finalize`, whose payloads are JSON
    /// values the writer takes its own way.
    fn of(rec: &Record) -> Option<Body<'_>> {
        Some(match rec {
            Record::Start { .. } | Record::Finalize { .. } => return None,
            Record::Enter {
                id,
                parent,
                depth,
                t_ns,
                thread,
                input,
                args,
                after,
                ..
            } => {
                let (input, input_error) = split_hash(input);
                Body::Enter(EnterPayload {
                    after: after.as_deref(),
                    args: *args,
                    depth: *depth,
                    id: *id,
                    input,
                    input_error,
                    parent: *parent,
                    t_ns: *t_ns,
                    thread: *thread,
                })
            }
            Record::Exit {
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
                ..
            } => {
                // Run-wide unavailability (sampling off, no counting allocator) is written
                // once, in RUN_START's `unmeasured`, and as null here.
                let (r, w) = match io {
                    Some((r, w)) => (Some(r), Some(w)),
                    None => (None, None),
                };
                let (output, output_error) = split_hash(output);
                Body::Exit(ExitPayload {
                    alloc_bytes: alloc_bytes.as_ref(),
                    cpu_ns,
                    depth: *depth,
                    error: error.as_deref(),
                    id: *id,
                    io_read_bytes: r,
                    io_write_bytes: w,
                    outcome: outcome.as_str(),
                    output,
                    output_error,
                    peak_rss_kb,
                    t_ns: *t_ns,
                    thread: *thread,
                    wall_ns: *wall_ns,
                })
            }
            Record::Event {
                stage_id,
                t_ns,
                thread,
                level,
                target,
                fields,
                ..
            } => Body::Event(event_payload(
                *stage_id, *t_ns, *thread, level, target, fields,
            )),
            Record::Violation {
                pred,
                parent,
                t_ns,
                thread,
                policy,
                ..
            } => Body::Violation(ViolationPayload {
                after: pred,
                parent: *parent,
                policy,
                t_ns: *t_ns,
                thread: *thread,
            }),
        })
    }

    /// Appends the canonical bytes; an event payload may have none (a non-finite float).
    fn write(&self, out: &mut Vec<u8>) -> Result<(), String> {
        match self {
            Body::Enter(p) => typed_bytes(out, |out| p.write_json(out)),
            Body::Exit(p) => typed_bytes(out, |out| p.write_json(out)),
            Body::Violation(p) => typed_bytes(out, |out| p.write_json(out)),
            Body::Event(v) => {
                let bytes = crate::entry::canonical(v).map_err(|e| e.to_string())?;
                out.extend_from_slice(&bytes);
            }
        }
        Ok(())
    }
}

/// The payload of an `EVENT` entry.
fn event_payload(
    stage_id: u64,
    t_ns: u64,
    thread: u64,
    level: &str,
    target: &str,
    fields: &[(&'static str, FieldValue)],
) -> Value {
    let f: Map<String, Value> = fields
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.to_json()))
        .collect();
    json!({
        "stage_id": stage_id, "t_ns": t_ns, "thread": thread,
        "level": level, "target": target, "fields": f,
    })
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
    let argv_sha256 =
        receipt_primitives::jcs::sha256(argv).map_or(Value::Null, |d| json!(d.to_hex()));
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

/// Size at which the writer's output buffer is written to the file between group commits.
const OUT_FLUSH_AT: usize = 1 << 18;

/// The writer's state: file, chain position, fold.
pub(crate) struct Writer {
    path: PathBuf,
    file: File,
    /// Lines not yet written to `file`; lines are built here in place, so each is copied
    /// once, by the kernel. Written at group commit, past `OUT_FLUSH_AT`, before every
    /// fsync, and on drop.
    out: Vec<u8>,
    run_id: String,
    /// `run_id` as a JSON string, as every line spells it.
    run_id_json: Vec<u8>,
    durability: Durability,
    seq: u64,
    /// Hex digits of the previous entry's hash (the genesis link before the first entry).
    prev_hex: [u8; 64],
    fold: RunFold,
    since_sync: u64,
    failed: Option<WriterError>,
    head: Option<File>,
    /// Reused for the bytes of payloads built from a JSON value.
    payload: Vec<u8>,
    /// The start of the next record's line (see `open_line`), built while the current
    /// entry was hashed, when `open` is set.
    ahead: Vec<u8>,
    /// The hash of the line in `ahead` so far: set only while the record it was built
    /// from is the next one to be appended.
    open: Option<Opened>,
    /// Length of the ledger file: what it held when the run began plus what was written.
    file_len: u64,
    /// How much of the file the kernel has been asked to start writing back.
    writeback_from: u64,
}

/// Under `OnFinalize`, the kernel is asked to start writing the ledger back to the disk
/// each time this many bytes have been written since the last request, so that the one
/// fsync at finalize finds little left to write and the run's end is not held up by it.
/// A request only starts the write; it changes nothing about what is durable when.
const WRITEBACK_EVERY: u64 = 8 << 20;

impl Writer {
    pub(crate) fn new(path: PathBuf, file: File, run_id: String, durability: Durability) -> Self {
        let prev_hex = genesis(&run_id).hex_bytes();
        let file_len = file.metadata().map_or(0, |m| m.len());
        let mut run_id_json = Vec::with_capacity(run_id.len() + 2);
        json_string(&mut run_id_json, &run_id);
        Writer {
            path,
            file,
            out: Vec::with_capacity(OUT_FLUSH_AT + 4096),
            run_id,
            run_id_json,
            durability,
            seq: 0,
            prev_hex,
            fold: RunFold::new(),
            since_sync: 0,
            failed: None,
            head: None,
            payload: Vec::with_capacity(1024),
            ahead: Vec::with_capacity(1024),
            open: None,
            file_len,
            writeback_from: file_len,
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
            // Group commit: drain what is queued, then flush once. Each record is appended
            // knowing the one queued after it, if any, so that the two entry hashes can be
            // computed together.
            let mut rec = first;
            loop {
                let next = rx.try_recv().ok();
                if let Some(done) = self.append(rec, next.as_ref()) {
                    let result = self.finalize();
                    let _ = done.send(result);
                    return;
                }
                match next {
                    Some(n) => rec = n,
                    None => break,
                }
            }
            if self.failed.is_none()
                && let Err(e) = self.write_out()
            {
                self.failed = Some(self.io(&self.path.clone())(e));
            }
        }
    }

    /// Writes the buffered lines to the file. On an error the bytes the file took are
    /// dropped from the buffer and the rest kept, as `BufWriter` does.
    fn write_out(&mut self) -> io::Result<()> {
        let mut written = 0;
        let res = loop {
            if written == self.out.len() {
                break Ok(());
            }
            match self.file.write(&self.out[written..]) {
                Ok(0) => break Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => break Err(e),
            }
        };
        self.out.drain(..written);
        self.file_len += written as u64;
        self.start_writeback();
        res
    }

    /// See [`WRITEBACK_EVERY`].
    fn start_writeback(&mut self) {
        let pending = self.file_len - self.writeback_from;
        if self.durability != Durability::OnFinalize || pending < WRITEBACK_EVERY {
            return;
        }
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsRawFd;
            let (Ok(from), Ok(len)) = (i64::try_from(self.writeback_from), i64::try_from(pending))
            else {
                return;
            };
            // SAFETY: `sync_file_range` reads only its integer arguments and acts on the open
            // descriptor of `self.file`. Its result is ignored on purpose: it only starts
            // writeback early, and the fsync at finalize reports any I/O error.
            unsafe {
                libc::sync_file_range(
                    self.file.as_raw_fd(),
                    from,
                    len,
                    libc::SYNC_FILE_RANGE_WRITE,
                );
            }
        }
        self.writeback_from = self.file_len;
    }

    /// Appends one record; returns the finalize reply channel when it was the last one.
    /// `next` is the record to be appended next, when it is already queued.
    fn append(&mut self, rec: Record, next: Option<&Record>) -> Option<Finalizer> {
        if let Record::Finalize { payload, done } = rec {
            if self.failed.is_none() {
                self.append_value(kind::RUN_FINALIZE, None, &payload, None);
            }
            return Some(done);
        }
        // Nothing is written after a failure; the finalize reply reports it.
        if self.failed.is_none() {
            self.append_record(&rec, next);
        }
        None
    }

    /// Appends one record other than `Finalize`, read in place; `next` as for `append`.
    fn append_record(&mut self, rec: &Record, next: Option<&Record>) {
        // Not called when the payload was already written ahead with the previous entry.
        let payload = |out: &mut Vec<u8>| Body::of(rec).map_or(Ok(()), |b| b.write(out));
        match rec {
            Record::Start { payload } => self.append_value(kind::RUN_START, None, payload, None),
            Record::Enter {
                stage,
                id,
                parent,
                depth,
                thread,
                input,
                after,
                ..
            } => {
                let (input_hex, _) = split_hash(input);
                let view = PayloadView {
                    id: Some(*id),
                    parent: *parent,
                    depth: Some(u64::from(*depth)),
                    thread: Some(*thread),
                    input: input_hex.map(Cow::Borrowed),
                    after: after.as_deref().map(Cow::Borrowed),
                    ..PayloadView::default()
                };
                self.append_entry(kind::STAGE_ENTER, Some(stage), &view, payload, next);
            }
            Record::Exit {
                stage,
                id,
                depth,
                thread,
                wall_ns,
                cpu_ns,
                outcome,
                output,
                ..
            } => {
                let (output_hex, _) = split_hash(output);
                let view = PayloadView {
                    id: Some(*id),
                    depth: Some(u64::from(*depth)),
                    thread: Some(*thread),
                    outcome: Some(Cow::Borrowed(outcome.as_str())),
                    output: output_hex.map(Cow::Borrowed),
                    wall_ns: Some(*wall_ns),
                    cpu_ns: cpu_ns.value(),
                    ..PayloadView::default()
                };
                self.append_entry(kind::STAGE_EXIT, Some(stage), &view, payload, next);
            }
            Record::Event { stage, .. } => {
                // The fold reads nothing from an event's payload but its type.
                let view = PayloadView::default();
                self.append_entry(kind::EVENT, Some(stage), &view, payload, next);
            }
            Record::Violation {
                stage,
                pred,
                parent,
                thread,
                ..
            } => {
                let view = PayloadView {
                    parent: *parent,
                    thread: Some(*thread),
                    after: Some(Cow::Borrowed(pred)),
                    ..PayloadView::default()
                };
                self.append_entry(kind::VIOLATION, Some(stage), &view, payload, next);
            }
            // Handled by `append`, which takes its reply channel.
            Record::Finalize { .. } => {}
        }
    }

    /// Appends an entry whose payload is a JSON value; the fold's view is `view`, or is
    /// parsed back from the canonical bytes when `None`.
    fn append_value(
        &mut self,
        kind_: &'static str,
        stage: Option<&'static str>,
        payload: &Value,
        view: Option<&PayloadView<'_>>,
    ) {
        let mut bytes = std::mem::take(&mut self.payload);
        match value_bytes(&mut bytes, payload) {
            Err(message) => self.fail_canonical(message),
            Ok(()) => {
                let copy = |out: &mut Vec<u8>| {
                    out.extend_from_slice(&bytes);
                    Ok(())
                };
                match view {
                    Some(v) => self.append_entry(kind_, stage, v, copy, None),
                    None => match PayloadView::parse(&bytes) {
                        Ok(v) => self.append_entry(kind_, stage, &v, copy, None),
                        Err(e) => self.fail_canonical(e.to_string()),
                    },
                }
            }
        }
        self.payload = bytes;
    }

    /// Seals one entry into the output buffer (`payload` appends its canonical bytes),
    /// folds it, and fsyncs when the durability policy says so.
    ///
    /// When `next` is given and has a typed payload, the start of its line is built in
    /// `ahead` and hashed together with the rest of this entry (two SHA-256 lanes run in
    /// little more than the time of one); the next call, which must be for `next`, then
    /// only appends and hashes the part after `"prev":"`. Only whole lines ever enter `out`,
    /// so what each write and fsync sees is unchanged.
    fn append_entry(
        &mut self,
        kind_: &'static str,
        stage: Option<&'static str>,
        view: &PayloadView<'_>,
        payload: impl FnOnce(&mut Vec<u8>) -> Result<(), String>,
        next: Option<&Record>,
    ) {
        let next = next.and_then(Body::of);
        let hash = if self.open.is_none() && next.is_none() {
            let sealed = seal_chained(
                &mut self.out,
                self.seq,
                &mut self.prev_hex,
                &self.run_id_json,
                kind_,
                stage,
                payload,
            );
            match sealed {
                Ok(hash) => hash,
                Err(message) => return self.fail_canonical(message),
            }
        } else {
            self.out.reserve(512);
            let base = self.out.len();
            let opened = match self.open.take() {
                // This entry's payload was written and partly hashed with the previous entry.
                Some(opened) => {
                    self.out.extend_from_slice(&self.ahead);
                    opened
                }
                None => {
                    if let Err(message) = open_line(&mut self.out, payload) {
                        return self.fail_canonical(message);
                    }
                    Opened::stamp(&mut self.out[base..])
                }
            };
            close_line(
                &mut self.out,
                &self.prev_hex,
                &self.run_id_json,
                self.seq,
                kind_,
                stage,
            );
            self.ahead.clear();
            // A next payload with no canonical form is left for its own call to report.
            let hash = match next.map(|b| open_line(&mut self.ahead, |out| b.write(out))) {
                Some(Ok(())) => {
                    let line = &mut self.out[base..];
                    let (hash, ahead) =
                        opened.finish_with(line, &mut self.prev_hex, &mut self.ahead);
                    self.open = Some(ahead);
                    hash
                }
                _ => opened.finish(&mut self.out[base..], &mut self.prev_hex),
            };
            self.out.push(b'\n');
            hash
        };
        if self.out.len() >= OUT_FLUSH_AT
            && let Err(e) = self.write_out()
        {
            self.failed = Some(self.io(&self.path.clone())(e));
            self.open = None;
            return;
        }
        self.fold
            .push(self.seq, hash, &self.run_id, kind_, stage, view);
        self.seq += 1;
        self.since_sync += 1;
        let due = match self.durability {
            Durability::Always => true,
            Durability::EveryN(n) => self.since_sync >= n.max(1),
            Durability::Never | Durability::OnFinalize => false,
        };
        // Finalize syncs on its own, after the last entry.
        if due && kind_ != kind::RUN_FINALIZE {
            self.sync();
        }
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
        self.write_out().map_err(self.io(&self.path))?;
        if self.durability != Durability::Never {
            self.file.sync_data().map_err(self.io(&self.path))?;
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
        receipt_primitives::jcs::to_vec(&head)
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
        let bytes = receipt_primitives::jcs::to_vec(&receipt).map_err(|e| WriterError::Io {
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

impl Drop for Writer {
    /// Writes what is still buffered, as `BufWriter` does when dropped: the lines before a
    /// failure reach the file even though the run cannot be finalized.
    fn drop(&mut self) {
        let _ = self.write_out();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Integers RFC 8785 writes exactly as their digits.
    const MAX_EXACT: u64 = 1 << 53;

    /// The field sets of three spans: no arguments, one, and two mixed with other fields.
    fn field_sets() -> [&'static tracing::field::FieldSet; 3] {
        tracing::subscriber::with_default(tracing_subscriber::registry(), || {
            let fields = |span: tracing::Span| {
                span.metadata()
                    .expect("the registry enables every span")
                    .fields()
            };
            [
                fields(tracing::info_span!("none", other = 1)),
                fields(tracing::info_span!("one", receipt.arg.x = 1)),
                fields(tracing::info_span!(
                    "two",
                    receipt.arg.text = 1,
                    receipt.input = 2,
                    receipt.arg.n = 3
                )),
            ]
        })
    }

    /// Strings of every kind: plain, needing escapes, non-ASCII.
    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            "\\PC{0,12}",
            "[\\x00-\\x1f\"\\\\a/é😀\u{7f}\u{2028}]{0,8}",
            "[a-z0-9_]{0,8}",
        ]
    }

    fn number() -> impl Strategy<Value = u64> {
        prop_oneof![0u64..1000, 0u64..=MAX_EXACT]
    }

    fn measure() -> impl Strategy<Value = Measure> {
        prop_oneof![
            number().prop_map(Measure::Value),
            text().prop_map(Measure::unavailable),
        ]
    }

    fn outcome() -> impl Strategy<Value = &'static str> {
        prop_oneof![Just("ok"), Just("err"), Just("panic")]
    }

    /// Checks that `written` is serde's bytes of the same payload and is canonical.
    fn check<T: Serialize>(payload: &T, written: &[u8]) -> Result<(), TestCaseError> {
        let reference = serde_json::to_vec(payload).expect("payloads serialize");
        prop_assert_eq!(
            String::from_utf8_lossy(written),
            String::from_utf8_lossy(&reference)
        );
        prop_assert!(receipt_primitives::jcs::is_canonical(written));
        Ok(())
    }

    /// The bytes `write` appends after a prefix already in the buffer.
    fn appended(write: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
        let mut out = b"prefix".to_vec();
        write(&mut out);
        assert!(out.starts_with(b"prefix"));
        out.split_off(6)
    }

    proptest! {
        #[test]
        fn enter_payload_bytes_are_serdes(
            after in proptest::option::of(text()),
            args in 0usize..3,
            depth in any::<u32>(),
            id in number(),
            input in proptest::option::of(text()),
            input_error in proptest::option::of(text()),
            parent in proptest::option::of(number()),
            t_ns in number(),
            thread in number(),
        ) {
            let p = EnterPayload {
                after: after.as_deref(),
                args: ArgNames(field_sets()[args]),
                depth,
                id,
                input: input.as_deref(),
                input_error: input_error.as_deref(),
                parent,
                t_ns,
                thread,
            };
            check(&p, &appended(|out| p.write_json(out)))?;
        }

        #[test]
        fn exit_payload_bytes_are_serdes(
            alloc_bytes in proptest::option::of(measure()),
            cpu_ns in measure(),
            depth in any::<u32>(),
            error in proptest::option::of(text()),
            id in number(),
            io in proptest::option::of((measure(), measure())),
            outcome in outcome(),
            output in proptest::option::of(text()),
            output_error in proptest::option::of(text()),
            peak_rss_kb in measure(),
            (t_ns, thread, wall_ns) in (number(), number(), number()),
        ) {
            let p = ExitPayload {
                alloc_bytes: alloc_bytes.as_ref(),
                cpu_ns: &cpu_ns,
                depth,
                error: error.as_deref(),
                id,
                io_read_bytes: io.as_ref().map(|(r, _)| r),
                io_write_bytes: io.as_ref().map(|(_, w)| w),
                outcome,
                output: output.as_deref(),
                output_error: output_error.as_deref(),
                peak_rss_kb: &peak_rss_kb,
                t_ns,
                thread,
                wall_ns,
            };
            check(&p, &appended(|out| p.write_json(out)))?;
        }

        #[test]
        fn violation_payload_bytes_are_serdes(
            after in text(),
            parent in proptest::option::of(number()),
            policy in prop_oneof![Just("fail"), Just("warn"), Just("record")],
            t_ns in number(),
            thread in number(),
        ) {
            let p = ViolationPayload { after: &after, parent, policy, t_ns, thread };
            check(&p, &appended(|out| p.write_json(out)))?;
        }

        #[test]
        fn json_string_is_serdes(s in text()) {
            let expected = serde_json::to_vec(&s).expect("strings serialize");
            prop_assert_eq!(appended(|out| json_string(out, &s)), expected);
        }

        #[test]
        fn numbers_are_their_decimal_digits(v in any::<u64>(), digits in 1u32..20) {
            // Both a full-range value and one with a chosen number of digits.
            for v in [v, v % 10u64.pow(digits)] {
                prop_assert_eq!(appended(|out| push_u64(out, v)), v.to_string().into_bytes());
            }
        }
    }

    #[test]
    fn numbers_at_the_digit_boundaries_are_their_decimal_digits() {
        let mut edges = vec![0, u64::MAX, u64::MAX - 1];
        for d in 1..20 {
            let p = 10u64.pow(d);
            edges.extend([p - 1, p, p + 1]);
        }
        for v in edges {
            assert_eq!(appended(|out| push_u64(out, v)), v.to_string().as_bytes());
        }
    }

    #[test]
    fn exit_payload_bytes_match_serde_for_the_largest_values() {
        let big = Measure::Value(u64::MAX);
        let p = ExitPayload {
            alloc_bytes: Some(&big),
            cpu_ns: &big,
            depth: u32::MAX,
            error: None,
            id: u64::MAX,
            io_read_bytes: None,
            io_write_bytes: Some(&big),
            outcome: "ok",
            output: None,
            output_error: None,
            peak_rss_kb: &big,
            t_ns: u64::MAX,
            thread: u64::MAX,
            wall_ns: u64::MAX,
        };
        let expected = serde_json::to_vec(&p).expect("payloads serialize");
        assert_eq!(appended(|out| p.write_json(out)), expected);
    }

    #[test]
    fn chained_sealing_matches_sealing_each_entry_on_its_own() {
        let run_id = "run \"7\"";
        let mut run_id_json = Vec::new();
        json_string(&mut run_id_json, run_id);
        let mut prev = genesis(run_id);
        let mut chain = prev.hex_bytes();
        let mut chained = Vec::new();
        let mut alone = Vec::new();
        for seq in 0..3u64 {
            let payload = format!("{{\"id\":{seq}}}");
            let write = |out: &mut Vec<u8>| {
                out.extend_from_slice(payload.as_bytes());
                Ok::<(), std::convert::Infallible>(())
            };
            let Ok(hash) = seal_chained(
                &mut chained,
                seq,
                &mut chain,
                &run_id_json,
                kind::STAGE_ENTER,
                Some("s"),
                write,
            );
            let Ok(expected) = crate::entry::seal_into(
                &mut alone,
                seq,
                &prev,
                run_id,
                kind::STAGE_ENTER,
                Some("s"),
                write,
            );
            assert_eq!(hash, expected);
            assert_eq!(chain, hash.hex_bytes());
            prev = hash;
        }
        assert_eq!(chained, alone);
        for line in chained.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            crate::entry::parse_raw(line).expect("each sealed line parses and checks");
        }
    }
    /// Every record kind, with errors, unavailable measures, unhashable inputs, escaped
    /// text and non-finite floats: iteration `i` of a run alternating stages `a` and `b`,
    /// where `b` → `a` is not allowed and so is recorded as a violation.
    fn mixed_records(i: u64, args: ArgNames) -> Vec<Record> {
        let (a, b) = (2 * i, 2 * i + 1);
        let t = 1000 * i;
        let mut recs = Vec::new();
        if i > 0 {
            recs.push(Record::Violation {
                stage: "a",
                pred: "b".to_owned(),
                parent: None,
                t_ns: t,
                thread: 1,
                policy: "record",
            });
        }
        let input = match i % 3 {
            0 => None,
            1 => Some(Ok(receipt_primitives::Digest::of(&i.to_le_bytes()).to_hex())),
            _ => Some(Err(format!("argument {i} has no \"hash\"\n"))),
        };
        recs.push(Record::Enter {
            stage: "a",
            id: a,
            parent: None,
            depth: 0,
            t_ns: t + 1,
            thread: 1,
            input,
            args,
            after: None,
        });
        recs.push(Record::Event {
            stage: "a",
            stage_id: a,
            t_ns: t + 2,
            thread: 1,
            level: "INFO",
            target: "mixed",
            fields: vec![
                (
                    "message",
                    FieldValue::Str(format!("step {i} é \u{2028} \"q\"\t")),
                ),
                ("n", FieldValue::U64(i)),
                ("d", FieldValue::I64(-(i as i64))),
                ("ok", FieldValue::Bool(i.is_multiple_of(2))),
                (
                    "x",
                    FieldValue::F64(if i.is_multiple_of(5) {
                        f64::NAN
                    } else {
                        i as f64 / 3.0
                    }),
                ),
            ],
        });
        let unavailable = Measure::unavailable("not sampled on this \"platform\"");
        let (outcome, error) = match i % 4 {
            0 => (Outcome::Ok, None),
            1 => (Outcome::Err, Some(format!("failed at {i}: \\ \"bad\""))),
            2 => (Outcome::Panic, Some("panicked".to_owned())),
            _ => (Outcome::Ok, None),
        };
        recs.push(Record::Exit {
            stage: "a",
            id: a,
            depth: 0,
            t_ns: t + 3,
            thread: 1,
            wall_ns: 2 + i,
            cpu_ns: if i.is_multiple_of(2) {
                Measure::Value(i)
            } else {
                unavailable.clone()
            },
            alloc_bytes: (!i.is_multiple_of(3)).then(|| unavailable.clone()),
            peak_rss_kb: Measure::Value(4096 + i),
            io: (i % 2 == 1).then(|| (Measure::Value(i), unavailable.clone())),
            outcome,
            error,
            output: (i.is_multiple_of(2))
                .then(|| Ok(receipt_primitives::Digest::of(b"out").to_hex())),
        });
        recs.push(Record::Enter {
            stage: "b",
            id: b,
            parent: None,
            depth: 0,
            t_ns: t + 4,
            thread: 1,
            input: None,
            args,
            after: None,
        });
        recs.push(Record::Exit {
            stage: "b",
            id: b,
            depth: 0,
            t_ns: t + 5,
            thread: 1,
            wall_ns: 1,
            cpu_ns: Measure::Value(1),
            alloc_bytes: None,
            peak_rss_kb: unavailable,
            io: None,
            outcome: Outcome::Ok,
            error: None,
            output: Some(Err("unhashable".to_owned())),
        });
        recs
    }

    /// Writes a long mixed run with every record already queued, so that each entry's hash
    /// is computed together with the start of the next one; the ledger must verify, and
    /// each line must be the bytes `seal_into` gives the entry on its own.
    #[test]
    fn entries_hashed_in_pairs_verify_and_match_sealing_each_alone() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let graph = crate::graph::StageGraph::builder()
            .first("a")
            .edge("a", "b")
            .build();
        for durability in [
            Durability::Never,
            Durability::OnFinalize,
            Durability::EveryN(7),
            Durability::Always,
        ] {
            let path = dir.path().join(format!("{durability:?}.jsonl"));
            let file = File::create(&path).expect("ledger file");
            let run_id = "mixed \"run\"".to_owned();
            let writer = Writer::new(path.clone(), file, run_id.clone(), durability);
            let (tx, rx) = crossbeam_channel::unbounded();
            let start = start_payload(
                "mixed",
                &["mixed".to_owned()],
                &receipt_primitives::Timestamp::now().to_string(),
                &graph,
                crate::graph::ViolationPolicy::Record,
                durability,
                false,
            );
            tx.send(Record::Start { payload: start }).expect("queued");
            let args = ArgNames(field_sets()[2]);
            for i in 0..150 {
                for rec in mixed_records(i, args) {
                    tx.send(rec).expect("queued");
                }
            }
            let (done, reply) = crossbeam_channel::bounded(1);
            let unavailable = Measure::unavailable(crate::measure::IO_DISABLED);
            let totals = crate::receipt::Totals {
                wall_ns: 1,
                cpu_ns: Measure::Value(1),
                peak_rss_kb: Measure::Value(1),
                io_read_bytes: unavailable.clone(),
                io_write_bytes: unavailable,
                alloc_bytes: Measure::unavailable(ALLOC_NOT_INSTALLED),
            };
            let payload = json!({
                "status": "ok",
                "t_ns": 1,
                "finished_at": receipt_primitives::Timestamp::now().to_string(),
                "totals": totals,
            });
            tx.send(Record::Finalize { payload, done }).expect("queued");
            drop(tx);
            writer.run(rx);
            let outcome = reply.recv().expect("a reply").expect("the run finalizes");
            assert_eq!(outcome.receipt.ledger.entries, 1 + 150 * 6 - 1 + 1);

            let report = crate::verify::verify_run(&path, None);
            assert!(report.ok(), "{durability:?}:\n{report}");
            let ledger = std::fs::read(&path).expect("ledger");
            let mut lines = 0;
            for line in ledger.split_inclusive(|&b| b == b'\n') {
                let e = crate::entry::parse_line(&line[..line.len() - 1]).expect("entry");
                let kind_ = [
                    kind::RUN_START,
                    kind::STAGE_ENTER,
                    kind::STAGE_EXIT,
                    kind::EVENT,
                    kind::VIOLATION,
                    kind::RUN_FINALIZE,
                ]
                .into_iter()
                .find(|k| *k == e.kind)
                .expect("a known type");
                let mut alone = Vec::new();
                let resealed = crate::entry::seal_into(
                    &mut alone,
                    e.seq,
                    &e.prev,
                    &e.run_id,
                    kind_,
                    e.stage.as_deref(),
                    |out| crate::entry::canonical(&e.payload).map(|b| out.extend_from_slice(&b)),
                );
                assert_eq!(
                    String::from_utf8_lossy(line),
                    String::from_utf8_lossy(&alone),
                    "{durability:?}, entry {}",
                    e.seq
                );
                assert_eq!(resealed.expect("canonical payload"), e.hash);
                lines += 1;
            }
            assert_eq!(lines, outcome.receipt.ledger.entries);
        }
    }

    #[test]
    fn writeback_is_started_every_few_mebibytes_under_on_finalize_only() {
        let dir = tempfile::tempdir().expect("temporary directory");
        for (durability, starts) in [
            (Durability::OnFinalize, true),
            (Durability::EveryN(1000), false),
            (Durability::Never, false),
        ] {
            let path = dir.path().join(format!("{durability:?}.jsonl"));
            std::fs::write(&path, b"held before\n").expect("ledger file");
            let file = std::fs::OpenOptions::new()
                .append(true)
                .open(&path)
                .expect("ledger file");
            let mut w = Writer::new(path.clone(), file, "r".to_owned(), durability);
            assert_eq!((w.file_len, w.writeback_from), (12, 12));
            let chunk = vec![b'x'; 1 << 20];
            for mib in 1..=20u64 {
                w.out.extend_from_slice(&chunk);
                w.write_out().expect("written");
                assert_eq!(w.file_len, 12 + (mib << 20));
                let expected = if starts && mib >= 8 {
                    12 + ((mib / 8 * 8) << 20)
                } else {
                    12
                };
                assert_eq!(w.writeback_from, expected, "{durability:?} after {mib} MiB");
            }
            assert_eq!(
                std::fs::metadata(&path).expect("ledger").len(),
                12 + (20 << 20)
            );
        }
    }
}
