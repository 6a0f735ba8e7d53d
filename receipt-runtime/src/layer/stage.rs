//! The `Layer` callbacks: per-stage state kept in span extensions, the measurements taken at
//! each entry and exit, and the records sent to the writer.

use std::fmt;
use std::sync::PoisonError;
use std::sync::atomic::{AtomicU64, Ordering};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record as SpanRecord};
use tracing::{Event, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

use crate::graph::{START, ViolationPolicy};
use crate::measure::{self, Measure};
use crate::writer::{ArgNames, Enter, FieldValue, HashField, Outcome, Record};

use super::{ReceiptLayer, Shared};
use crate::fields;

thread_local! {
    static THREAD: u64 = {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        NEXT.fetch_add(1, Ordering::Relaxed)
    };
}

pub(super) fn thread_id() -> u64 {
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

impl Shared {
    /// Adds `new`'s `after =` edge to the graph and says whether `new` may follow `pred`.
    fn allowed(&self, pred: Option<&'static str>, new: &Enter) -> bool {
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
        new: Enter,
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
        self.send(Record::Enter(new));
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
        let new = Enter {
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
            crate::evidence::stage_entered(st.stage, st.id);
        }
    }

    fn on_exit(&self, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut ext = span.extensions_mut();
        if let Some(st) = ext.get_mut::<StageState>() {
            crate::evidence::stage_exited(st.id);
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
    use std::hash::Hasher as _;

    use super::super::ThreadIdHasher;
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
