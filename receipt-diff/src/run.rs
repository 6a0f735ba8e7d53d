//! Where two run ledgers first diverge (schema `receipt.run-diff/1`): the stage calls of
//! both runs aligned per parent and per thread, as the trajectory's predecessor key groups
//! them (docs/SPEC.md §10.4, §10.7), compared by stage name, input hash, output hash and
//! outcome; then per-stage call counts and times.
//!
//! **Alignment.** Every `STAGE_ENTER` opens a *call* in a *lane*: the lane of a nested call
//! is its parent call (the key `(parent, 0)`), the lane of a top-level call is its thread
//! (the key `(null, thread)`). Thread numbers are process-wide counters handed out at a
//! thread's first record, so top-level lanes are numbered by the order in which their
//! threads first enter a stage in the ledger (0, 1, …). A call's alignment key is its lane's
//! key followed by its position in the lane (0-based, in `seq` order): `[t, i]` at top
//! level, `[t, i, j]` for the `j`-th call inside it, and so on. Two calls correspond when
//! their keys are equal, so concurrent stages on several threads, recorded in another
//! interleaving, still line up, and a run that ends early leaves calls without a partner.
//!
//! One file over 600 lines on purpose: alignment and comparison share the call model and must
//! agree on the lane keys.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::path::Path;

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use receipt_runtime::entry::{kind, parse_line};
use receipt_runtime::receipt::{PayloadView, TRAJECTORY_TAG, trajectory_item};

use crate::DiffError;

/// The schema id of the JSON form of a run diff.
pub const RUN_DIFF_SCHEMA: &str = "receipt.run-diff/1";

/// Longest ledger line read (a longer one is an error naming it): the run ledger's limit,
/// [`receipt_runtime::entry::MAX_LINE_BYTES`].
pub const MAX_LINE_BYTES: usize = receipt_runtime::entry::MAX_LINE_BYTES as usize;

/// Divergences listed in full; the count covers all of them.
pub const LISTED_DIVERGENCES: usize = 100;

/// One stage call of a run.
#[derive(Debug, Clone)]
struct Call {
    name: String,
    /// Names of the enclosing calls, outermost first.
    path: Vec<String>,
    enter_seq: u64,
    input: Option<String>,
    exit: Option<Exit>,
}

#[derive(Debug, Clone)]
struct Exit {
    seq: u64,
    output: Option<String>,
    outcome: Option<String>,
    wall_ns: Option<u64>,
    cpu_ns: Option<u64>,
}

/// A run as read from its ledger.
#[derive(Debug)]
struct Run {
    calls: Vec<Call>,
    /// Alignment key → index in `calls`.
    keys: BTreeMap<Vec<u64>, usize>,
    info: RunSide,
}

/// One side of a run diff.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunSide {
    /// The ledger as the user named it.
    pub ledger: String,
    /// The run id.
    pub run_id: Option<String>,
    /// `RUN_START.program`.
    pub program: Option<String>,
    /// `RUN_FINALIZE.status`, or `null` when the run never finalized.
    pub status: Option<String>,
    /// Number of entries.
    pub entries: u64,
    /// The trajectory digest (docs/SPEC.md §10.7) recomputed from the ledger.
    pub trajectory_sha256: String,
    /// Whether the ledger verified against its receipt (`verify_run`).
    pub verified: bool,
    /// The checks that did not pass, as `id: detail`.
    pub failed_checks: Vec<String>,
}

/// What differs at one aligned call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum What {
    /// Another stage at this position.
    Stage,
    /// The input hash.
    Input,
    /// The output hash.
    Output,
    /// The outcome (`ok`, `err`, `panic`).
    Outcome,
    /// The call exists on one side only.
    Missing,
    /// The call returned on one side only (the other ledger ends inside it).
    Unfinished,
}

/// One side's value at a divergence.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Point {
    /// The ledger `seq` of the entry holding the value.
    pub seq: u64,
    /// The stage name, hash or outcome (`null` when not recorded).
    pub value: Value,
}

/// A difference between two aligned calls.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Divergence {
    /// The stage (A's name, else B's).
    pub stage: String,
    /// The enclosing stages, outermost first.
    pub path: Vec<String>,
    /// The alignment key (see the module documentation).
    pub call: Vec<u64>,
    /// What differs.
    pub what: What,
    /// A's side, `null` when the call or its exit is missing there.
    pub a: Option<Point>,
    /// B's side, likewise.
    pub b: Option<Point>,
}

/// Per-stage totals of both runs (measured; they never count as differences).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StageStat {
    /// The stage name.
    pub stage: String,
    /// Returned calls in A and in B.
    pub calls_a: u64,
    /// See `calls_a`.
    pub calls_b: u64,
    /// Sum of `wall_ns` in A and in B.
    pub wall_ns_a: u64,
    /// See `wall_ns_a`.
    pub wall_ns_b: u64,
    /// Sum of the measured `cpu_ns` in A and in B.
    pub cpu_ns_a: u64,
    /// See `cpu_ns_a`.
    pub cpu_ns_b: u64,
}

/// The difference between two runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunDiff {
    /// Always [`RUN_DIFF_SCHEMA`].
    pub schema: &'static str,
    /// A.
    pub a: RunSide,
    /// B.
    pub b: RunSide,
    /// Whether any aligned call differs or lacks a partner.
    pub differs: bool,
    /// The first divergence: A's order of `seq` first, then calls only B has by B's `seq`.
    pub first_divergence: Option<Divergence>,
    /// How many divergences there are.
    pub divergence_count: u64,
    /// The first [`LISTED_DIVERGENCES`] of them, in the same order.
    pub divergences: Vec<Divergence>,
    /// Per stage name, sorted by name bytes.
    pub stages: Vec<StageStat>,
}

/// Reads the next line (without its `\n`) into `buf`, refusing lines over `max` bytes;
/// false at the end of the file. (A last line without its `\n` is read too; the
/// verification reports it.)
fn next_line<R: BufRead>(r: &mut R, buf: &mut Vec<u8>, max: usize) -> std::io::Result<bool> {
    buf.clear();
    loop {
        let chunk = r.fill_buf()?;
        if chunk.is_empty() {
            return Ok(!buf.is_empty());
        }
        let end = chunk.iter().position(|&c| c == b'\n');
        let take = end.unwrap_or(chunk.len());
        if buf.len() + take > max {
            return Err(std::io::Error::other(format!(
                "a line is longer than {max} bytes"
            )));
        }
        buf.extend_from_slice(&chunk[..take]);
        r.consume(take + usize::from(end.is_some()));
        if end.is_some() {
            return Ok(true);
        }
    }
}

/// Reads a ledger's calls, their alignment keys and its summary.
fn read_run(path: &Path, label: &str) -> Result<Run, DiffError> {
    let (file, _) = crate::input::open_regular(path)?;
    let mut r = BufReader::with_capacity(1 << 20, file);
    let mut buf = Vec::new();
    let mut calls: Vec<Call> = Vec::new();
    let mut keys: BTreeMap<Vec<u64>, usize> = BTreeMap::new();
    // Stage id → (call index, its alignment key).
    let mut open: BTreeMap<u64, (usize, Vec<u64>)> = BTreeMap::new();
    // Thread number → its top-level lane: threads in the order they first enter a stage.
    let mut threads: BTreeMap<u64, u64> = BTreeMap::new();
    // Lane key → calls entered in it so far.
    let mut lanes: BTreeMap<Vec<u64>, u64> = BTreeMap::new();
    let mut traj = Sha256::new();
    traj.update(TRAJECTORY_TAG);
    let mut item = Vec::new();
    let mut info = RunSide {
        ledger: label.to_owned(),
        run_id: None,
        program: None,
        status: None,
        entries: 0,
        trajectory_sha256: String::new(),
        verified: false,
        failed_checks: Vec::new(),
    };
    let mut line_no = 0u64;
    loop {
        let bad = |line_no: u64, what: String| DiffError::BadFile {
            path: path.to_owned(),
            what: format!("line {}: {what}", line_no + 1),
        };
        if !next_line(&mut r, &mut buf, MAX_LINE_BYTES).map_err(|e| bad(line_no, e.to_string()))? {
            break;
        }
        let e = parse_line(&buf).map_err(|e| bad(line_no, e.to_string()))?;
        let payload = serde_json::to_vec(&e.payload).map_err(|e| bad(line_no, e.to_string()))?;
        let view = PayloadView::parse(&payload).map_err(|err| {
            bad(
                line_no,
                format!("has a payload field of the wrong type: {err}"),
            )
        })?;
        item.clear();
        trajectory_item(&mut item, &e.kind, e.stage.as_deref(), &view);
        traj.update(&item);
        info.entries += 1;
        info.run_id.get_or_insert_with(|| e.run_id.clone());
        match e.kind.as_str() {
            kind::RUN_START => {
                info.program = view
                    .run
                    .as_ref()
                    .and_then(|r| r.program.as_deref())
                    .map(str::to_owned);
            }
            kind::RUN_FINALIZE => {
                info.status = view
                    .run
                    .as_ref()
                    .and_then(|r| r.status.as_deref())
                    .map(str::to_owned);
            }
            kind::STAGE_ENTER => {
                let (Some(id), Some(name)) = (view.id, e.stage.clone()) else {
                    return Err(bad(
                        line_no,
                        "is a STAGE_ENTER without an id or stage".into(),
                    ));
                };
                let (lane, path) = match view.parent {
                    None => {
                        let next = threads.len() as u64;
                        let t = *threads
                            .entry(view.thread.unwrap_or_default())
                            .or_insert(next);
                        (vec![t], Vec::new())
                    }
                    Some(p) => {
                        let (pi, pkey) = open.get(&p).ok_or_else(|| {
                            bad(
                                line_no,
                                format!("enters a stage inside stage {p}, which is not open"),
                            )
                        })?;
                        let parent = &calls[*pi];
                        let mut path = parent.path.clone();
                        path.push(parent.name.clone());
                        (pkey.clone(), path)
                    }
                };
                let n = lanes.entry(lane.clone()).or_default();
                let mut key = lane;
                key.push(*n);
                *n += 1;
                calls.push(Call {
                    name,
                    path,
                    enter_seq: e.seq,
                    input: view.input.as_deref().map(str::to_owned),
                    exit: None,
                });
                keys.insert(key.clone(), calls.len() - 1);
                open.insert(id, (calls.len() - 1, key));
            }
            kind::STAGE_EXIT => {
                let id = view
                    .id
                    .ok_or_else(|| bad(line_no, "is a STAGE_EXIT without an id".into()))?;
                let (ci, _) = open
                    .remove(&id)
                    .ok_or_else(|| bad(line_no, format!("exits stage {id}, which is not open")))?;
                calls[ci].exit = Some(Exit {
                    seq: e.seq,
                    output: view.output.as_deref().map(str::to_owned),
                    outcome: view.outcome.as_deref().map(str::to_owned),
                    wall_ns: view.wall_ns,
                    cpu_ns: view.cpu_ns,
                });
            }
            _ => {}
        }
        line_no += 1;
    }
    info.trajectory_sha256 = receipt_primitives::Digest(traj.finalize().into()).to_hex();
    Ok(Run { calls, keys, info })
}

/// Compares the runs recorded in the ledgers `a` and `b` (labelled as the user named
/// them), after verifying each against its receipt (`<ledger>.receipt.json`).
///
/// # Errors
/// [`DiffError`] when a ledger cannot be read, or a line is not a valid entry or is over
/// [`MAX_LINE_BYTES`]. A ledger that reads but does not verify is not an error: its side
/// says `verified: false` and lists the checks that failed.
pub fn diff_runs(a: &Path, b: &Path, labels: (&str, &str)) -> Result<RunDiff, DiffError> {
    let side = |p: &Path, label: &str| -> Result<Run, DiffError> {
        let mut run = read_run(p, label)?;
        let report = receipt_runtime::verify::verify_run(p, None);
        run.info.verified = report.ok();
        run.info.failed_checks = report
            .report
            .failures()
            .map(|c| format!("{}: {}", c.id, c.detail))
            .collect();
        Ok(run)
    };
    let (ra, rb) = (side(a, labels.0)?, side(b, labels.1)?);
    let mut divs = Vec::new();
    for (key, &ia) in &ra.keys {
        let ca = &ra.calls[ia];
        match rb.keys.get(key) {
            None => divs.push(Divergence {
                stage: ca.name.clone(),
                path: ca.path.clone(),
                call: key.clone(),
                what: What::Missing,
                a: Some(point(ca.enter_seq, &Some(ca.name.clone()))),
                b: None,
            }),
            Some(&ib) => compare(&mut divs, key, ca, &rb.calls[ib]),
        }
    }
    for (key, &ib) in &rb.keys {
        if !ra.keys.contains_key(key) {
            let cb = &rb.calls[ib];
            divs.push(Divergence {
                stage: cb.name.clone(),
                path: cb.path.clone(),
                call: key.clone(),
                what: What::Missing,
                a: None,
                b: Some(point(cb.enter_seq, &Some(cb.name.clone()))),
            });
        }
    }
    divs.sort_by(|x, y| {
        let at = |d: &Divergence| {
            (
                d.a.as_ref().map_or(u64::MAX, |p| p.seq),
                d.b.as_ref().map_or(u64::MAX, |p| p.seq),
                d.what,
            )
        };
        at(x).cmp(&at(y))
    });
    let stages = stage_stats(&ra, &rb);
    Ok(RunDiff {
        schema: RUN_DIFF_SCHEMA,
        differs: !divs.is_empty(),
        first_divergence: divs.first().cloned(),
        divergence_count: divs.len() as u64,
        divergences: divs.into_iter().take(LISTED_DIVERGENCES).collect(),
        a: ra.info,
        b: rb.info,
        stages,
    })
}

fn point(seq: u64, v: &Option<String>) -> Point {
    Point {
        seq,
        value: v.as_ref().map_or(Value::Null, |s| Value::String(s.clone())),
    }
}

/// The differences between two aligned calls.
fn compare(divs: &mut Vec<Divergence>, key: &[u64], ca: &Call, cb: &Call) {
    let mut push = |what, a: Option<Point>, b: Option<Point>| {
        divs.push(Divergence {
            stage: ca.name.clone(),
            path: ca.path.clone(),
            call: key.to_vec(),
            what,
            a,
            b,
        });
    };
    if ca.name != cb.name {
        push(
            What::Stage,
            Some(point(ca.enter_seq, &Some(ca.name.clone()))),
            Some(point(cb.enter_seq, &Some(cb.name.clone()))),
        );
        return;
    }
    if ca.input != cb.input {
        push(
            What::Input,
            Some(point(ca.enter_seq, &ca.input)),
            Some(point(cb.enter_seq, &cb.input)),
        );
    }
    match (&ca.exit, &cb.exit) {
        (Some(x), Some(y)) => {
            if x.output != y.output {
                push(
                    What::Output,
                    Some(point(x.seq, &x.output)),
                    Some(point(y.seq, &y.output)),
                );
            }
            if x.outcome != y.outcome {
                push(
                    What::Outcome,
                    Some(point(x.seq, &x.outcome)),
                    Some(point(y.seq, &y.outcome)),
                );
            }
        }
        (Some(x), None) => push(What::Unfinished, Some(point(x.seq, &x.outcome)), None),
        (None, Some(y)) => push(What::Unfinished, None, Some(point(y.seq, &y.outcome))),
        (None, None) => {}
    }
}

fn stage_stats(a: &Run, b: &Run) -> Vec<StageStat> {
    let mut m: BTreeMap<&str, StageStat> = BTreeMap::new();
    for (run, is_a) in [(a, true), (b, false)] {
        for c in &run.calls {
            let Some(x) = &c.exit else { continue };
            let s = m.entry(c.name.as_str()).or_insert_with(|| StageStat {
                stage: c.name.clone(),
                calls_a: 0,
                calls_b: 0,
                wall_ns_a: 0,
                wall_ns_b: 0,
                cpu_ns_a: 0,
                cpu_ns_b: 0,
            });
            let (calls, wall, cpu) = if is_a {
                (&mut s.calls_a, &mut s.wall_ns_a, &mut s.cpu_ns_a)
            } else {
                (&mut s.calls_b, &mut s.wall_ns_b, &mut s.cpu_ns_b)
            };
            *calls += 1;
            *wall += x.wall_ns.unwrap_or(0);
            *cpu += x.cpu_ns.unwrap_or(0);
        }
    }
    m.into_values().collect()
}

impl RunDiff {
    /// The JSON form: RFC 8785 canonical bytes and one LF.
    ///
    /// # Errors
    /// [`receipt_primitives::jcs::JcsError`] (not expected: every value is a string,
    /// integer or null).
    pub fn to_json(&self) -> Result<Vec<u8>, receipt_primitives::jcs::JcsError> {
        let mut v = receipt_primitives::jcs::to_vec(self)?;
        v.push(b'\n');
        Ok(v)
    }

    /// Whether both ledgers verified.
    pub fn verified(&self) -> bool {
        self.a.verified && self.b.verified
    }

    /// The readable report.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for (tag, s) in [("A", &self.a), ("B", &self.b)] {
            let _ = writeln!(
                out,
                "{tag} {}: program {}, {} entries, {}, {}",
                s.ledger,
                s.program.as_deref().unwrap_or("?"),
                s.entries,
                s.status
                    .as_deref()
                    .map_or_else(|| "never finalized".to_owned(), |st| format!("status {st}")),
                if s.verified {
                    "verified".to_owned()
                } else {
                    format!("DOES NOT VERIFY ({})", s.failed_checks.len())
                }
            );
            for f in s.failed_checks.iter().take(5) {
                let _ = writeln!(out, "    {f}");
            }
        }
        let _ = writeln!(
            out,
            "trajectories {} (A {}, B {})",
            if self.a.trajectory_sha256 == self.b.trajectory_sha256 {
                "equal"
            } else {
                "differ"
            },
            self.a.trajectory_sha256,
            self.b.trajectory_sha256
        );
        match &self.first_divergence {
            None => {
                let _ = writeln!(
                    out,
                    "\nno divergence: every stage call lines up with the same stage, input, output and outcome"
                );
                if self.a.trajectory_sha256 != self.b.trajectory_sha256 {
                    let _ = writeln!(
                        out,
                        "(the trajectories differ only in how concurrent stages interleave)"
                    );
                }
            }
            Some(d) => {
                let _ = writeln!(out, "\nfirst divergence: {}", describe(d, self));
                for d in self.divergences.iter().skip(1).take(9) {
                    let _ = writeln!(out, "  then: {}", describe(d, self));
                }
                if self.divergence_count > 10 {
                    let _ = writeln!(out, "  … {} divergences in all", self.divergence_count);
                }
            }
        }
        let _ = writeln!(
            out,
            "\n{:<24} {:>8} {:>8} {:>14} {:>14} {:>14}",
            "stage", "calls A", "calls B", "wall A (ns)", "wall B (ns)", "Δ wall (ns)"
        );
        for s in &self.stages {
            let _ = writeln!(
                out,
                "{:<24} {:>8} {:>8} {:>14} {:>14} {:>+14}",
                s.stage,
                s.calls_a,
                s.calls_b,
                s.wall_ns_a,
                s.wall_ns_b,
                i128::from(s.wall_ns_b) - i128::from(s.wall_ns_a)
            );
        }
        out
    }
}

/// One line for a divergence: where, what, both values and seqs.
fn describe(d: &Divergence, diff: &RunDiff) -> String {
    let mut where_ = d.path.join(" > ");
    if !where_.is_empty() {
        where_.push_str(" > ");
    }
    where_.push_str(&d.stage);
    let side = |p: &Option<Point>, s: &RunSide| match p {
        Some(p) => format!(
            "{} (seq {})",
            match &p.value {
                Value::String(v) => v.clone(),
                v => v.to_string(),
            },
            p.seq
        ),
        None => format!(
            "absent (its ledger has {} entries and {})",
            s.entries,
            s.status.as_deref().map_or_else(
                || "never finalized".to_owned(),
                |st| format!("finalized with status {st}")
            )
        ),
    };
    let what = match d.what {
        What::Stage => "another stage runs here",
        What::Input => "input hash differs",
        What::Output => "output hash differs",
        What::Outcome => "outcome differs",
        What::Missing => "the call is on one side only",
        What::Unfinished => "the call returned on one side only",
    };
    format!(
        "{where_}: {what}: A {} | B {}",
        side(&d.a, &diff.a),
        side(&d.b, &diff.b)
    )
}
