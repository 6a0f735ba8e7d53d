//! The canonical (RFC 8785) bytes of each entry payload, written directly rather than
//! through serde, with the serde form kept as the reference they are tested against.

use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::entry::{Object, json_string, push_u64};
use crate::measure::{ALLOC_NOT_INSTALLED, Measure};

use super::{ArgNames, Durability, Enter, FieldValue, HashField, Record};

/// Splits a hash field into (digest, reason it is missing).
pub(super) fn split_hash(v: &HashField) -> (Option<&str>, Option<&str>) {
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
pub(super) struct EnterPayload<'a> {
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
pub(super) struct ExitPayload<'a> {
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
pub(super) struct ViolationPayload<'a> {
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
        let mut o = Object::open(out);
        if let Some(after) = self.after {
            json_string(o.key("after"), after);
        }
        let args = o.key("args");
        args.push(b'[');
        for (i, name) in self.args.names().enumerate() {
            if i > 0 {
                args.push(b',');
            }
            json_string(args, name);
        }
        args.push(b']');
        push_u64(o.key("depth"), u64::from(self.depth));
        push_u64(o.key("id"), self.id);
        put_opt_str(o.key("input"), self.input);
        if let Some(why) = self.input_error {
            json_string(o.key("input_error"), why);
        }
        put_opt_u64(o.key("parent"), self.parent);
        push_u64(o.key("t_ns"), self.t_ns);
        push_u64(o.key("thread"), self.thread);
        o.close();
    }
}

impl ExitPayload<'_> {
    /// Appends the canonical JSON of the payload (serde's bytes for it, without serde).
    fn write_json(&self, out: &mut Vec<u8>) {
        let mut o = Object::open(out);
        put_opt_measure(o.key("alloc_bytes"), self.alloc_bytes);
        put_measure(o.key("cpu_ns"), self.cpu_ns);
        push_u64(o.key("depth"), u64::from(self.depth));
        if let Some(error) = self.error {
            json_string(o.key("error"), error);
        }
        push_u64(o.key("id"), self.id);
        put_opt_measure(o.key("io_read_bytes"), self.io_read_bytes);
        put_opt_measure(o.key("io_write_bytes"), self.io_write_bytes);
        json_string(o.key("outcome"), self.outcome);
        put_opt_str(o.key("output"), self.output);
        if let Some(why) = self.output_error {
            json_string(o.key("output_error"), why);
        }
        put_measure(o.key("peak_rss_kb"), self.peak_rss_kb);
        push_u64(o.key("t_ns"), self.t_ns);
        push_u64(o.key("thread"), self.thread);
        push_u64(o.key("wall_ns"), self.wall_ns);
        o.close();
    }
}

impl ViolationPayload<'_> {
    /// Appends the canonical JSON of the payload (serde's bytes for it, without serde).
    fn write_json(&self, out: &mut Vec<u8>) {
        let mut o = Object::open(out);
        json_string(o.key("after"), self.after);
        put_opt_u64(o.key("parent"), self.parent);
        json_string(o.key("policy"), self.policy);
        push_u64(o.key("t_ns"), self.t_ns);
        push_u64(o.key("thread"), self.thread);
        o.close();
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

pub(super) fn value_bytes(out: &mut Vec<u8>, v: &Value) -> Result<(), String> {
    out.clear();
    out.extend_from_slice(&crate::entry::canonical(v).map_err(|e| e.to_string())?);
    Ok(())
}

/// The payload of a stage, event or violation record, ready to append its canonical bytes.
pub(super) enum Body<'r> {
    Enter(EnterPayload<'r>),
    Exit(ExitPayload<'r>),
    Violation(ViolationPayload<'r>),
    Event(Value),
}

impl Body<'_> {
    /// The payload of `rec`; `None` for `Start` and `Finalize`, whose payloads are JSON
    /// values the writer takes its own way.
    pub(super) fn of(rec: &Record) -> Option<Body<'_>> {
        Some(match rec {
            Record::Start { .. }
            | Record::Finalize { .. }
            | Record::Sync { .. }
            | Record::Evidence(_) => return None,
            Record::Enter(Enter {
                id,
                parent,
                depth,
                t_ns,
                thread,
                input,
                args,
                after,
                ..
            }) => {
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
    pub(super) fn write(&self, out: &mut Vec<u8>) -> Result<(), String> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Integers RFC 8785 writes exactly as their digits.
    const MAX_EXACT: u64 = 1 << 53;

    use super::super::message::field_sets;

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
}
