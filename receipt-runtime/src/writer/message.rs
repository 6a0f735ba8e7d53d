//! The records instrumented code hands to the writer thread, and their field values.

use std::fmt;

use serde::Serialize;
use serde_json::{Value, json};

use crate::measure::Measure;

use super::{RunOutcome, WriterError};

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
    pub(super) fn to_json(&self) -> Value {
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
    pub(super) fn names(self) -> impl Iterator<Item = &'static str> {
        self.0
            .iter()
            .filter_map(|f| f.name().strip_prefix(crate::fields::ARG_PREFIX))
    }
}

impl Serialize for ArgNames {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.names())
    }
}

/// A stage entered: what the layer knows when it checks the transition and what the
/// writer records as `STAGE_ENTER`.
#[derive(Debug)]
pub(crate) struct Enter {
    pub(crate) stage: &'static str,
    pub(crate) id: u64,
    pub(crate) parent: Option<u64>,
    pub(crate) depth: u32,
    pub(crate) t_ns: u64,
    pub(crate) thread: u64,
    pub(crate) input: HashField,
    pub(crate) args: ArgNames,
    pub(crate) after: Option<String>,
}

/// What the instrumented code enqueues; the writer does everything else.
#[derive(Debug)]
pub(crate) enum Record {
    Start {
        payload: Value,
    },
    Enter(Enter),
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
    /// A request to be told when every record queued before it is written and, unless
    /// the policy is `Never`, fsynced: the reply carries the number of entries then
    /// durable. Writes no entry.
    Sync {
        done: crossbeam_channel::Sender<Result<u64, WriterError>>,
    },
    /// A value kept as evidence (docs/SPEC.md §16.9): queued unredacted, redacted and
    /// stored by the writer before its entry is appended.
    Evidence(Box<crate::evidence::EvidenceRecord>),
}

/// The field sets of three spans: no arguments, one, and two mixed with other fields.
#[cfg(test)]
pub(crate) fn field_sets() -> [&'static tracing::field::FieldSet; 3] {
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
