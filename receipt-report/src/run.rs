//! The report of a run ledger (docs/SPEC.md §10): a flame chart of the stages per thread
//! (time on x, nesting depth on y), resource use per stage name, violations and events, and
//! the verification by `receipt_runtime::verify::verify_run`.
//!
//! Every line is read with `receipt_runtime::entry::parse_line` (which checks its canonical
//! form and hash); reading stops at the first line that is not a valid entry, and the page
//! says where. Large ledgers are aggregated: stages narrower than [`MIN_PX`] pixels merge
//! into shaded blocks that count them (at most [`BLOCK_PX`] wide), at most [`MAX_RECTS`] rectangles are drawn in all
//! (the merge width grows until they fit), and at most [`MAX_DEPTH`] nesting levels and
//! [`MAX_THREADS`] threads are drawn, the rest counted.
//!
//! One file over 600 lines on purpose: reading, aggregation and drawing of the run page share
//! the per-stage model and its pixel budget, which is only meaningful in one place.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::BufReader;
use std::path::Path;

use receipt_runtime::entry::{kind, parse_line};
use serde_json::Value;

use crate::html::{bytes, checks_table, count, cut, duration_ns, esc, esc_into, page};
use receipt_primitives::confine;

use crate::read::{Line, Lines, MAX_LEDGER_BYTES};
use crate::{InputKind, Page, ReportError};

/// Width of the flame chart's time axis in pixels.
pub const CHART_PX: f64 = 1200.0;
/// Stages narrower than this many pixels are merged into blocks.
pub const MIN_PX: f64 = 1.0;
/// Most rectangles drawn in all threads together.
pub const MAX_RECTS: usize = 12_000;
/// Deepest nesting level drawn (0-based levels below it are counted).
pub const MAX_DEPTH: u32 = 40;
/// Most threads drawn.
pub const MAX_THREADS: usize = 32;
/// Violations and events listed (the first ones); all are counted.
pub const FIRST_FEW: usize = 10;
/// Stage names listed in the resource table (by total wall time); all are counted.
pub const MAX_STAGE_ROWS: usize = 200;

/// One closed (or still open) stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// `t_ns` of the enter.
    pub start: u64,
    /// `t_ns` of the exit (of the last entry, for a stage never closed).
    pub end: u64,
    /// Index into the interned stage names.
    pub name: u32,
    /// Nesting depth.
    pub depth: u32,
    /// Thread number.
    pub thread: u64,
    /// 0 ok, 1 err or panic, 2 never closed.
    pub outcome: u8,
}

/// A measure summed over the exits that measured it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Measured {
    /// Sum of the measured values.
    pub sum: u64,
    /// Exits that measured it.
    pub measured: u64,
    /// Exits that did not, and the reasons given (first few, sorted).
    pub unmeasured: u64,
    /// Reasons given for the unmeasured values.
    pub reasons: BTreeSet<String>,
}

impl Measured {
    fn add(&mut self, v: Option<&Value>, run_reason: Option<&str>) {
        match v {
            Some(Value::Number(n)) if n.as_u64().is_some() => {
                self.sum = self.sum.saturating_add(n.as_u64().unwrap_or(0));
                self.measured += 1;
            }
            other => {
                self.unmeasured += 1;
                let why = match other {
                    Some(Value::Object(o)) => o
                        .get("unavailable")
                        .and_then(Value::as_str)
                        .unwrap_or("unavailable")
                        .to_owned(),
                    Some(Value::Null) => {
                        run_reason.unwrap_or("not measured in this run").to_owned()
                    }
                    None => "not recorded".to_owned(),
                    Some(_) => "not a number".to_owned(),
                };
                if self.reasons.len() < 3 {
                    self.reasons.insert(cut(&why, 200));
                }
            }
        }
    }

    fn cell(&self, fmt: fn(u64) -> String) -> String {
        if self.measured == 0 {
            let why: Vec<&str> = self.reasons.iter().map(String::as_str).collect();
            return format!(
                "<span class=\"mute\" title=\"{}\">unmeasured</span>",
                esc(&why.join("; "))
            );
        }
        let mut s = esc(&fmt(self.sum));
        if self.unmeasured > 0 {
            let _ = write!(
                s,
                " <span class=\"mute\">({} of {} measured)</span>",
                self.measured,
                self.measured + self.unmeasured
            );
        }
        s
    }
}

/// Resource use of one stage name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StageStats {
    /// Exits.
    pub calls: u64,
    /// Exits with outcome `err` or `panic`.
    pub failures: u64,
    /// Sum of `wall_ns`.
    pub wall: Measured,
    /// Sum of `cpu_ns`.
    pub cpu: Measured,
    /// Sum of `alloc_bytes`.
    pub alloc: Measured,
    /// Sum of `io_read_bytes`.
    pub io_read: Measured,
    /// Sum of `io_write_bytes`.
    pub io_write: Measured,
}

/// A violation or event listed in the page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Noted {
    /// `seq` of the entry.
    pub seq: u64,
    /// `t_ns`.
    pub t_ns: Option<u64>,
    /// The stage named by the entry.
    pub stage: String,
    /// What it says.
    pub text: String,
}

/// Everything the page shows, read from a ledger.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunData {
    /// Entries read.
    pub entries: u64,
    /// Why reading stopped early, with the line number.
    pub stopped: Option<String>,
    /// `run_id` of line 0.
    pub run_id: Option<String>,
    /// `RUN_START` payload fields shown in the summary.
    pub program: Option<String>,
    /// `RUN_START.started_at`.
    pub started_at: Option<String>,
    /// `RUN_FINALIZE.finished_at`.
    pub finished_at: Option<String>,
    /// `RUN_FINALIZE.status`.
    pub status: Option<String>,
    /// `RUN_FINALIZE.totals`.
    pub totals: Option<Value>,
    /// `RUN_START.unmeasured`.
    pub unmeasured: BTreeMap<String, String>,
    /// Interned stage names.
    pub names: Vec<String>,
    /// Every stage, in exit order (still-open ones at the end).
    pub spans: Vec<Span>,
    /// Per stage name.
    pub stats: BTreeMap<String, StageStats>,
    /// Counts of events by level.
    pub events_by_level: BTreeMap<String, u64>,
    /// First events.
    pub events: Vec<Noted>,
    /// Violations counted.
    pub violations_total: u64,
    /// First violations.
    pub violations: Vec<Noted>,
    /// Largest `t_ns` seen.
    pub t_end: u64,
}

fn u(v: &Value, k: &str) -> Option<u64> {
    v.get(k).and_then(Value::as_u64)
}

fn s(v: &Value, k: &str) -> Option<String> {
    v.get(k).and_then(Value::as_str).map(str::to_owned)
}

struct Open {
    start: u64,
    name: u32,
    depth: u32,
    thread: u64,
}

/// Reads a run ledger (bounded: [`MAX_LEDGER_BYTES`], lines of at most
/// [`crate::read::MAX_LINE_BYTES`]).
///
/// # Errors
/// [`ReportError`] when the file cannot be opened or read, is not a regular file, is too
/// large or has a line over the bound. Invalid entries end the reading and are recorded in
/// [`RunData::stopped`].
pub fn read(path: &Path) -> Result<RunData, ReportError> {
    let opened = confine::open_file(path)?;
    if opened.size > MAX_LEDGER_BYTES {
        return Err(ReportError::TooLarge {
            path: path.to_path_buf(),
            limit: MAX_LEDGER_BYTES,
        });
    }
    let file = opened.file;
    let mut lines = Lines::new(BufReader::with_capacity(1 << 20, file), path);
    let mut d = RunData::default();
    let mut name_ids: BTreeMap<String, u32> = BTreeMap::new();
    let mut open: BTreeMap<u64, Open> = BTreeMap::new();
    let mut buf = Vec::new();
    while let Some(line) = lines.next_into(&mut buf)? {
        let n = d.entries + 1;
        if let Line::Torn = line {
            d.stopped = Some(format!("line {n} has no final newline (a torn write)"));
            break;
        }
        let e = match parse_line(&buf) {
            Ok(e) => e,
            Err(err) => {
                d.stopped = Some(format!("line {n} {err}"));
                break;
            }
        };
        d.entries += 1;
        if d.run_id.is_none() {
            d.run_id = Some(e.run_id.clone());
        }
        let p = &e.payload;
        if let Some(t) = u(p, "t_ns") {
            d.t_end = d.t_end.max(t);
        }
        let stage = e.stage.clone().unwrap_or_default();
        match e.kind.as_str() {
            kind::RUN_START => {
                d.program = s(p, "program");
                d.started_at = s(p, "started_at");
                if let Some(Value::Object(m)) = p.get("unmeasured") {
                    for (k, v) in m {
                        if let Some(v) = v.as_str() {
                            d.unmeasured.insert(k.clone(), v.to_owned());
                        }
                    }
                }
            }
            kind::STAGE_ENTER => {
                let next = name_ids.len() as u32;
                let name = *name_ids.entry(stage.clone()).or_insert_with(|| {
                    d.names.push(stage.clone());
                    next
                });
                if let Some(id) = u(p, "id") {
                    open.insert(
                        id,
                        Open {
                            start: u(p, "t_ns").unwrap_or(0),
                            name,
                            depth: u32::try_from(u(p, "depth").unwrap_or(0)).unwrap_or(u32::MAX),
                            thread: u(p, "thread").unwrap_or(0),
                        },
                    );
                }
            }
            kind::STAGE_EXIT => {
                let outcome = s(p, "outcome").unwrap_or_default();
                let failed = outcome == "err" || outcome == "panic";
                if let Some(o) = u(p, "id").and_then(|id| open.remove(&id)) {
                    let end = u(p, "t_ns").unwrap_or(o.start).max(o.start);
                    d.spans.push(Span {
                        start: o.start,
                        end,
                        name: o.name,
                        depth: o.depth,
                        thread: o.thread,
                        outcome: u8::from(failed),
                    });
                }
                let st = d.stats.entry(stage).or_default();
                st.calls += 1;
                st.failures += u64::from(failed);
                let io = d.unmeasured.get("io").map(String::as_str);
                let alloc = d.unmeasured.get("alloc_bytes").map(String::as_str);
                st.wall.add(p.get("wall_ns"), None);
                st.cpu.add(p.get("cpu_ns"), None);
                st.alloc.add(p.get("alloc_bytes"), alloc);
                st.io_read.add(p.get("io_read_bytes"), io);
                st.io_write.add(p.get("io_write_bytes"), io);
            }
            kind::EVENT => {
                let level = s(p, "level").unwrap_or_else(|| "?".into());
                *d.events_by_level.entry(level.clone()).or_default() += 1;
                if d.events.len() < FIRST_FEW {
                    let message = p
                        .get("fields")
                        .and_then(|f| f.get("message"))
                        .map(|m| m.as_str().map_or_else(|| m.to_string(), str::to_owned))
                        .unwrap_or_default();
                    d.events.push(Noted {
                        seq: e.seq,
                        t_ns: u(p, "t_ns"),
                        stage,
                        text: format!("{level} {}: {message}", s(p, "target").unwrap_or_default()),
                    });
                }
            }
            kind::VIOLATION => {
                d.violations_total += 1;
                if d.violations.len() < FIRST_FEW {
                    d.violations.push(Noted {
                        seq: e.seq,
                        t_ns: u(p, "t_ns"),
                        stage,
                        text: format!(
                            "after {} (policy {})",
                            s(p, "after").unwrap_or_else(|| "?".into()),
                            s(p, "policy").unwrap_or_else(|| "?".into())
                        ),
                    });
                }
            }
            kind::RUN_FINALIZE => {
                d.status = s(p, "status");
                d.finished_at = s(p, "finished_at");
                d.totals = p.get("totals").cloned();
            }
            _ => {}
        }
    }
    // Stages never closed run to the last time seen.
    for o in open.into_values() {
        d.spans.push(Span {
            start: o.start,
            end: d.t_end.max(o.start),
            name: o.name,
            depth: o.depth,
            thread: o.thread,
            outcome: 2,
        });
    }
    d.t_end = d.spans.iter().map(|s| s.end).fold(d.t_end, u64::max);
    Ok(d)
}

/// One rectangle of the flame chart.
#[derive(Debug, Clone, PartialEq)]
pub enum Rect {
    /// A stage wide enough to draw on its own.
    Stage {
        /// Left edge in pixels.
        x: f64,
        /// Width in pixels.
        w: f64,
        /// Nesting depth.
        depth: u32,
        /// The stage.
        span: Span,
    },
    /// Several narrow stages of one depth merged.
    Block {
        /// Left edge in pixels.
        x: f64,
        /// Width in pixels.
        w: f64,
        /// Nesting depth.
        depth: u32,
        /// Stages merged.
        stages: u64,
        /// Total wall time of the merged stages.
        wall: u64,
        /// The name index most of them have.
        main: u32,
    },
}

/// The flame chart of one thread.
#[derive(Debug, Clone, PartialEq)]
pub struct Lane {
    /// Thread number.
    pub thread: u64,
    /// Rectangles, by depth then time.
    pub rects: Vec<Rect>,
    /// Stages of this thread.
    pub stages: u64,
    /// Stages deeper than [`MAX_DEPTH`], not drawn.
    pub too_deep: u64,
    /// Deepest level drawn + 1.
    pub rows: u32,
}

/// Widest block of merged stages, in pixels.
pub const BLOCK_PX: f64 = 24.0;

/// A block of narrow stages being merged.
struct OpenBlock {
    x0: f64,
    x1: f64,
    depth: u32,
    stages: u64,
    wall: u64,
    /// Stages per name (the first eight names seen).
    names: Vec<(u32, u64)>,
}

impl OpenBlock {
    fn count(&mut self, name: u32) {
        if let Some(e) = self.names.iter_mut().find(|e| e.0 == name) {
            e.1 += 1;
        } else if self.names.len() < 8 {
            self.names.push((name, 1));
        }
    }
}

fn flush(block: &mut Option<OpenBlock>, rects: &mut Vec<Rect>) {
    if let Some(b) = block.take() {
        // The most frequent name, ties to the lower name index.
        let main = b
            .names
            .iter()
            .max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(&a.0)))
            .map_or(0, |e| e.0);
        rects.push(Rect::Block {
            x: b.x0,
            w: (b.x1 - b.x0).max(1.0),
            depth: b.depth,
            stages: b.stages,
            wall: b.wall,
            main,
        });
    }
}

/// Aggregates spans into per-thread lanes: a stage narrower than `min_px` joins a block
/// with its narrow neighbours at the same depth when they touch (within a pixel).
pub fn lanes(spans: &[Span], t_end: u64, min_px: f64) -> Vec<Lane> {
    let scale = if t_end == 0 {
        0.0
    } else {
        CHART_PX / t_end as f64
    };
    let mut by_thread: BTreeMap<u64, Vec<&Span>> = BTreeMap::new();
    for sp in spans {
        by_thread.entry(sp.thread).or_default().push(sp);
    }
    let mut out = Vec::new();
    for (thread, mut sps) in by_thread {
        sps.sort_by_key(|s| (s.depth, s.start, s.end, s.name));
        let mut lane = Lane {
            thread,
            rects: Vec::new(),
            stages: sps.len() as u64,
            too_deep: 0,
            rows: 0,
        };
        let mut block: Option<OpenBlock> = None;
        for sp in sps {
            if sp.depth >= MAX_DEPTH {
                lane.too_deep += 1;
                continue;
            }
            lane.rows = lane.rows.max(sp.depth + 1);
            let x = sp.start as f64 * scale;
            let wall = sp.end.saturating_sub(sp.start);
            let w = wall as f64 * scale;
            if w >= min_px {
                flush(&mut block, &mut lane.rects);
                lane.rects.push(Rect::Stage {
                    x,
                    w,
                    depth: sp.depth,
                    span: *sp,
                });
                continue;
            }
            match &mut block {
                // A block grows while its stages touch, up to BLOCK_PX wide, so its hover
                // text stays about one stretch of the run.
                Some(b) if b.depth == sp.depth && x <= b.x1 + 1.0 && x + w - b.x0 <= BLOCK_PX => {
                    b.x1 = b.x1.max(x + w);
                    b.stages += 1;
                    b.wall += wall;
                    b.count(sp.name);
                }
                _ => {
                    flush(&mut block, &mut lane.rects);
                    let mut b = OpenBlock {
                        x0: x,
                        x1: x + w,
                        depth: sp.depth,
                        stages: 1,
                        wall,
                        names: Vec::new(),
                    };
                    b.count(sp.name);
                    block = Some(b);
                }
            }
        }
        flush(&mut block, &mut lane.rects);
        out.push(lane);
    }
    out
}

/// [`lanes`] with the merge width doubled until at most [`MAX_RECTS`] rectangles remain.
pub fn lanes_capped(spans: &[Span], t_end: u64) -> (Vec<Lane>, f64) {
    let mut min_px = MIN_PX;
    loop {
        let l = lanes(spans, t_end, min_px);
        let total: usize = l.iter().take(MAX_THREADS).map(|l| l.rects.len()).sum();
        if total <= MAX_RECTS || min_px >= CHART_PX {
            return (l, min_px);
        }
        min_px *= 2.0;
    }
}

fn flame_svg(d: &RunData, lanes: &[Lane]) -> String {
    let row_h = 18.0;
    let lane_gap = 26.0;
    let left = 70.0;
    let mut height = 30.0;
    for l in lanes.iter().take(MAX_THREADS) {
        height += f64::from(l.rows.max(1)) * row_h + lane_gap;
    }
    let width = CHART_PX + left + 10.0;
    let rects: usize = lanes.iter().take(MAX_THREADS).map(|l| l.rects.len()).sum();
    let mut s = String::with_capacity(rects * 110 + 1024);
    let _ = writeln!(
        s,
        "<svg class=\"flame\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" viewBox=\"0 0 {width:.0} {height:.0}\" data-rects=\"{rects}\">"
    );
    // Time axis: five ticks.
    for k in 0..=4u64 {
        let x = left + CHART_PX * k as f64 / 4.0;
        let _ = writeln!(
            s,
            "<line class=\"axis\" x1=\"{x:.1}\" y1=\"14\" x2=\"{x:.1}\" y2=\"{height:.0}\"/><text class=\"t\" x=\"{:.1}\" y=\"11\"{}>{}</text>",
            if k == 4 { x - 2.0 } else { x + 2.0 },
            if k == 4 { " text-anchor=\"end\"" } else { "" },
            duration_ns(d.t_end / 4 * k)
        );
    }
    let mut y0 = 30.0;
    for l in lanes.iter().take(MAX_THREADS) {
        let _ = writeln!(
            s,
            "<text x=\"2\" y=\"{:.1}\">thread {}</text>",
            y0 + 12.0,
            l.thread
        );
        for r in &l.rects {
            match r {
                Rect::Stage { x, w, depth, span } => {
                    let name = &d.names[span.name as usize];
                    let class = match span.outcome {
                        0 => format!("c{}", span.name % 12),
                        _ => "e".to_owned(),
                    };
                    let y = y0 + f64::from(*depth) * row_h;
                    let _ = write!(
                        s,
                        "<rect class=\"{class}\" x=\"{:.1}\" y=\"{y:.0}\" width=\"{w:.1}\" height=\"{:.0}\"><title>",
                        left + x,
                        row_h - 1.0
                    );
                    esc_into(&mut s, &cut(name, 200));
                    let _ = write!(
                        s,
                        " · {}{}</title></rect>",
                        duration_ns(span.end.saturating_sub(span.start)),
                        match span.outcome {
                            1 => " · failed",
                            2 => " · never closed",
                            _ => "",
                        }
                    );
                    if *w >= 40.0 {
                        let chars = ((w - 6.0) / 6.7).floor().max(1.0) as usize;
                        let _ = write!(
                            s,
                            "<text x=\"{:.1}\" y=\"{:.0}\">{}</text>",
                            left + x + 3.0,
                            y + 12.0,
                            esc(&cut(name, chars))
                        );
                    }
                    s.push('\n');
                }
                Rect::Block {
                    x,
                    w,
                    depth,
                    stages,
                    wall,
                    main,
                } => {
                    let _ = write!(
                        s,
                        "<rect class=\"b c{}\" x=\"{:.1}\" y=\"{:.0}\" width=\"{w:.1}\" height=\"{:.0}\"><title>{} short stages (mostly ",
                        main % 12,
                        left + x,
                        y0 + f64::from(*depth) * row_h,
                        row_h - 1.0,
                        count(*stages),
                    );
                    esc_into(&mut s, &cut(&d.names[*main as usize], 200));
                    let _ = writeln!(s, ") · {} in all</title></rect>", duration_ns(*wall));
                }
            }
        }
        y0 += f64::from(l.rows.max(1)) * row_h + lane_gap;
    }
    s.push_str("</svg>\n");
    s
}

/// Renders the report of the run ledger at `path`.
///
/// # Errors
/// See [`read`].
pub fn render(path: &Path) -> Result<Page, ReportError> {
    let d = read(path)?;
    let verification = receipt_runtime::verify::verify_run(path, None).report;
    let file = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let subtitle = format!("run ledger {}: {} entries", file, d.entries);
    let mut body = String::new();
    body.push_str(&summary(&d));
    if let Some(why) = &d.stopped {
        let _ = writeln!(
            body,
            "<p><span class=\"v v-FAIL\">stopped</span> Reading stopped: {}. Entries after it are not shown.</p>",
            esc(why)
        );
    }
    // Stage timeline.
    let (lanes, min_px) = lanes_capped(&d.spans, d.t_end);
    body.push_str("<section id=\"timeline\"><h2>Stage timeline</h2>\n");
    let drawn: usize = lanes.iter().take(MAX_THREADS).map(|l| l.rects.len()).sum();
    let blocks: u64 = lanes
        .iter()
        .take(MAX_THREADS)
        .flat_map(|l| &l.rects)
        .map(|r| match r {
            Rect::Block { stages, .. } => *stages,
            Rect::Stage { .. } => 0,
        })
        .sum();
    let too_deep: u64 = lanes.iter().map(|l| l.too_deep).sum();
    let _ = write!(
        body,
        "<p>{} stages on {} thread{}; time runs left to right over {}, nesting downwards. {} rectangles drawn",
        count(d.spans.len() as u64),
        lanes.len(),
        if lanes.len() == 1 { "" } else { "s" },
        duration_ns(d.t_end),
        count(drawn as u64)
    );
    if blocks > 0 {
        let _ = write!(
            body,
            "; {} stages narrower than {min_px} px are merged into shaded blocks (hover for counts)",
            count(blocks)
        );
    }
    if too_deep > 0 {
        let _ = write!(
            body,
            "; {} stages deeper than {MAX_DEPTH} levels are not drawn",
            count(too_deep)
        );
    }
    if lanes.len() > MAX_THREADS {
        let _ = write!(
            body,
            "; {} more threads are not drawn",
            lanes.len() - MAX_THREADS
        );
    }
    body.push_str(".</p>\n<div class=\"scroll\">");
    body.push_str(&flame_svg(&d, &lanes));
    body.push_str("</div></section>\n");
    body.push_str(&resources(&d));
    body.push_str(&noted(&d));
    body.push_str("<section id=\"verification\"><h2>Verification</h2>\n");
    body.push_str(&checks_table(&verification));
    body.push_str("</section>\n");
    Ok(Page {
        html: page("receipt report: run ledger", &subtitle, &body),
        verified: verification.ok(),
        kind: InputKind::Run,
    })
}

fn summary(d: &RunData) -> String {
    let mut s = String::from("<section class=\"summary\">");
    let mut item = |k: &str, v: String| {
        let _ = write!(s, "<div><span class=\"mute\">{k}</span><b>{v}</b></div>");
    };
    item("program", esc(d.program.as_deref().unwrap_or("—")));
    item(
        "status",
        match &d.status {
            Some(st) => format!(
                "<span class=\"st-{}\">{}</span>",
                match st.as_str() {
                    "ok" => "ok",
                    "failed" => "failed",
                    "panicked" => "panicked",
                    _ => "other",
                },
                esc(st)
            ),
            None => "not finalized".to_owned(),
        },
    );
    item("entries", count(d.entries));
    item("stages", count(d.spans.len() as u64));
    item("started", esc(d.started_at.as_deref().unwrap_or("—")));
    item("finished", esc(d.finished_at.as_deref().unwrap_or("—")));
    item("duration", duration_ns(d.t_end));
    if let Some(t) = &d.totals {
        let m = |k: &str, f: fn(u64) -> String| -> String {
            match t.get(k) {
                Some(Value::Number(n)) => n.as_u64().map_or_else(|| esc(&n.to_string()), f),
                _ => "unmeasured".to_owned(),
            }
        };
        item("cpu", m("cpu_ns", duration_ns));
        item(
            "peak RSS",
            m("peak_rss_kb", |k| bytes(k.saturating_mul(1024))),
        );
        item("allocated", m("alloc_bytes", bytes));
        item("read", m("io_read_bytes", bytes));
        item("written", m("io_write_bytes", bytes));
    }
    let _ = write!(
        s,
        "</section>\n<p class=\"mute\">run id <code>{}</code></p>\n",
        esc(d.run_id.as_deref().unwrap_or("—"))
    );
    s
}

fn resources(d: &RunData) -> String {
    let mut rows: Vec<(&String, &StageStats)> = d.stats.iter().collect();
    rows.sort_by(|a, b| b.1.wall.sum.cmp(&a.1.wall.sum).then_with(|| a.0.cmp(b.0)));
    let mut s = String::from("<section id=\"resources\"><h2>Resources per stage</h2>\n");
    s.push_str("<p class=\"mute\">Sums over every call of the stage; a value the run did not measure is shown as unmeasured (hover for why), never as 0.</p>\n");
    s.push_str("<div class=\"scroll\"><table class=\"stages\"><tr><th>stage</th><th class=\"num\">calls</th><th class=\"num\">failed</th><th class=\"num\">wall</th><th class=\"num\">cpu</th><th class=\"num\">allocated</th><th class=\"num\">read</th><th class=\"num\">written</th></tr>\n");
    for (name, st) in rows.iter().take(MAX_STAGE_ROWS) {
        let _ = writeln!(
            s,
            "<tr class=\"stage\"><td><code>{}</code></td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            esc(name),
            count(st.calls),
            count(st.failures),
            st.wall.cell(duration_ns),
            st.cpu.cell(duration_ns),
            st.alloc.cell(bytes),
            st.io_read.cell(bytes),
            st.io_write.cell(bytes),
        );
    }
    s.push_str("</table></div>\n");
    if rows.len() > MAX_STAGE_ROWS {
        let _ = writeln!(
            s,
            "<p class=\"mute\">{} more stage names not listed.</p>",
            count((rows.len() - MAX_STAGE_ROWS) as u64)
        );
    }
    s.push_str("</section>\n");
    s
}

fn noted(d: &RunData) -> String {
    let mut s = String::from("<section id=\"violations\"><h2>Violations and events</h2>\n");
    let events: u64 = d.events_by_level.values().sum();
    let levels: Vec<String> = d
        .events_by_level
        .iter()
        .map(|(l, n)| format!("{} {}", esc(l), count(*n)))
        .collect();
    let _ = writeln!(
        s,
        "<p><b>{}</b> violation{}, <b>{}</b> event{}{}.</p>",
        count(d.violations_total),
        if d.violations_total == 1 { "" } else { "s" },
        count(events),
        if events == 1 { "" } else { "s" },
        if levels.is_empty() {
            String::new()
        } else {
            format!(" ({})", levels.join(", "))
        }
    );
    for (what, list) in [("violation", &d.violations), ("event", &d.events)] {
        if list.is_empty() {
            continue;
        }
        let _ = writeln!(
            s,
            "<table class=\"{what}s\"><tr><th class=\"num\">seq</th><th class=\"num\">time</th><th>stage</th><th>{what}</th></tr>"
        );
        for n in list {
            let _ = writeln!(
                s,
                "<tr><td class=\"num\">{}</td><td class=\"num\">{}</td><td><code>{}</code></td><td>{}</td></tr>",
                n.seq,
                n.t_ns.map_or("—".into(), duration_ns),
                esc(&n.stage),
                esc(&cut(&n.text, 300))
            );
        }
        s.push_str("</table>\n");
    }
    s.push_str("</section>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(start: u64, end: u64, depth: u32) -> Span {
        Span {
            start,
            end,
            name: 0,
            depth,
            thread: 1,
            outcome: 0,
        }
    }

    #[test]
    fn narrow_stages_merge_into_counted_blocks() {
        // 1,200 px over 1,200,000 ns: 1,000 ns per pixel. One wide stage, then 100 stages of
        // 100 ns back to back: one block of 100.
        let mut spans = vec![span(0, 500_000, 0)];
        for i in 0..100 {
            spans.push(span(600_000 + i * 100, 600_000 + i * 100 + 100, 0));
        }
        spans.push(span(1_100_000, 1_200_000, 0));
        let l = lanes(&spans, 1_200_000, 1.0);
        assert_eq!(l.len(), 1);
        let rects = &l[0].rects;
        assert_eq!(rects.len(), 3, "{rects:?}");
        assert!(matches!(
            rects[1],
            Rect::Block {
                stages: 100,
                wall: 10_000,
                ..
            }
        ));
        // Every stage is accounted for: drawn alone or counted in a block.
        let accounted: u64 = rects
            .iter()
            .map(|r| match r {
                Rect::Block { stages, .. } => *stages,
                Rect::Stage { .. } => 1,
            })
            .sum();
        assert_eq!(accounted, spans.len() as u64);
    }

    #[test]
    fn blocks_do_not_bridge_gaps_or_depths() {
        let spans = vec![span(0, 10, 0), span(500_000, 500_010, 0), span(20, 30, 1)];
        let l = lanes(&spans, 1_200_000, 1.0);
        assert_eq!(l[0].rects.len(), 3);
        assert_eq!(l[0].rows, 2);
    }

    #[test]
    fn the_rectangle_cap_holds_for_a_hundred_thousand_stages() {
        let spans: Vec<Span> = (0..100_000u64)
            .map(|i| {
                let start = i * 1_000 + (i % 3) * 100;
                span(start, start + 200 + (i % 5) * 100, (i % 3) as u32)
            })
            .collect();
        let (l, min_px) = lanes_capped(&spans, 100_000_000);
        let total: usize = l.iter().map(|l| l.rects.len()).sum();
        assert!(total <= MAX_RECTS, "{total} at {min_px}");
        let accounted: u64 = l[0]
            .rects
            .iter()
            .map(|r| match r {
                Rect::Block { stages, .. } => *stages,
                Rect::Stage { .. } => 1,
            })
            .sum();
        assert_eq!(accounted, 100_000);
    }

    #[test]
    fn too_deep_stages_are_counted_not_drawn() {
        let spans = vec![span(0, 100, 0), span(0, 100, MAX_DEPTH + 3)];
        let l = lanes(&spans, 100, 1.0);
        assert_eq!(l[0].too_deep, 1);
        assert_eq!(l[0].rects.len(), 1);
    }

    #[test]
    fn unmeasured_values_are_never_summed_as_zero() {
        let mut m = Measured::default();
        m.add(
            Some(&serde_json::json!({"unavailable": "no counting allocator"})),
            None,
        );
        m.add(None, None);
        assert_eq!(m.measured, 0);
        assert!(m.cell(bytes).contains("unmeasured"));
        assert!(m.cell(bytes).contains("no counting allocator"));
        m.add(Some(&serde_json::json!(2048)), None);
        assert_eq!(
            m.cell(bytes),
            "2.0 KiB <span class=\"mute\">(1 of 3 measured)</span>"
        );
        let mut n = Measured::default();
        n.add(Some(&Value::Null), Some("io not sampled"));
        assert!(n.cell(bytes).contains("io not sampled"));
    }
}
