//! The report of a build chain (docs/SPEC.md §6): the chain timeline, the latest build's
//! dependency graph (Cargo packages or Lean modules), its artifacts, and the verification
//! of the whole directory by `receipt_protocol::verify::verify_dir`.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;

use receipt_graph::CanonicalGraph;
use receipt_primitives::check::echo;
use receipt_protocol::ledger::{CHAIN_HEAD, HeadLine, MANIFEST_FILE, parse_head};
use receipt_protocol::manifest::Manifest;
use receipt_protocol::receipt::{Receipt, Section};
use serde_json::Value;

use crate::graph::{self, NodeKind};
use crate::html::{bytes, checks_table, count, cut, esc, page};
use crate::{InputKind, Page, ReportError};
use receipt_primitives::confine;
use receipt_protocol::limits;

/// At most this many chain entries (the latest) are listed; earlier ones are counted.
pub const MAX_ENTRIES: usize = 500;
/// At most this many artifacts are listed; the rest are counted.
pub const MAX_ARTIFACTS: usize = 1_000;

/// One chain entry as shown in the timeline.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EntryRow {
    /// 1-based position on the chain.
    pub n: usize,
    /// The receipt's path in the ledger.
    pub path: String,
    /// The manifest's timestamp.
    pub time: Option<String>,
    /// The git commit.
    pub commit: Option<String>,
    /// Whether the work tree had uncommitted changes.
    pub dirty: Option<bool>,
    /// `work.status`.
    pub status: Option<String>,
    /// τ as recorded.
    pub tau: Option<String>,
    /// Tracked files.
    pub tracked: Option<u64>,
    /// Artifacts recorded.
    pub artifacts: Option<usize>,
    /// Why the entry could not be read, when it could not.
    pub error: Option<String>,
}

fn entry_dir(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(d, _)| d)
}

fn join(dir: &str, file: &str) -> String {
    if dir.is_empty() {
        file.to_owned()
    } else {
        format!("{dir}/{file}")
    }
}

fn read_entry(dir: &Path, line: &HeadLine) -> Result<(Receipt, Manifest), String> {
    let rb = confine::read_under(dir, &line.path, limits::RECEIPT_BYTES, "a receipt")
        .map_err(|e| e.to_string())?;
    let receipt = Receipt::parse(&rb).map_err(|e| format!("{}: {e}", echo(&line.path)))?;
    let mpath = join(entry_dir(&line.path), MANIFEST_FILE);
    let mb = confine::read_under(dir, &mpath, limits::MANIFEST_BYTES, "a manifest")
        .map_err(|e| e.to_string())?;
    let manifest = Manifest::parse(&mb).map_err(|e| format!("{mpath}: {e}"))?;
    Ok((receipt, manifest))
}

fn row(n: usize, line: &HeadLine, read: &Result<(Receipt, Manifest), String>) -> EntryRow {
    let mut r = EntryRow {
        n,
        path: line.path.clone(),
        ..EntryRow::default()
    };
    match read {
        Err(e) => r.error = Some(e.clone()),
        Ok((receipt, manifest)) => {
            r.time = Some(manifest.timestamp.to_string());
            if let Section::Available(src) = &receipt.source {
                r.tracked = Some(src.tracked.files);
                if let Section::Available(g) = &src.git {
                    r.commit = g.commit.clone();
                    r.dirty = Some(g.dirty);
                }
            }
            if let Section::Available(w) = &receipt.work {
                r.status = Some(w.status.clone());
            }
            if let Section::Available(t) = &receipt.tau {
                r.tau = t.get("tau").and_then(Value::as_str).map(str::to_owned);
            }
            if let Section::Available(a) = &receipt.artifacts {
                r.artifacts = Some(a.files.len());
            }
        }
    }
    r
}

/// The members to highlight: Cargo's `extensions.cargo.members`; for Lake, the modules of
/// the root package's libraries (by root prefix or glob) and executables.
fn highlight(receipt: &Receipt, g: &CanonicalGraph) -> Vec<NodeKind> {
    let mut kinds = vec![NodeKind::Plain; g.node_count()];
    let strings = |v: Option<&Value>| -> Vec<String> {
        v.and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    if let Some(cargo) = receipt.extensions.get("cargo") {
        let members: BTreeSet<String> = strings(cargo.get("members")).into_iter().collect();
        for (i, k) in g.nodes().iter().enumerate() {
            if members.contains(k) {
                kinds[i] = NodeKind::Member;
            }
        }
    }
    if let Some(lake) = receipt.extensions.get("lake") {
        let config = lake.get("config");
        let mut roots = Vec::new();
        let mut globs = Vec::new();
        for lib in config
            .and_then(|c| c.get("libs"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            roots.extend(strings(lib.get("roots")));
            globs.extend(strings(lib.get("globs")));
        }
        let exes: BTreeSet<String> = config
            .and_then(|c| c.get("exes"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|x| x.get("root").and_then(Value::as_str).map(str::to_owned))
            .collect();
        let external: BTreeSet<String> = lake
            .get("modules")
            .and_then(|m| m.get("external"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|x| x.get("name").and_then(Value::as_str).map(str::to_owned))
            .collect();
        let under =
            |m: &str, p: &str| m == p || m.strip_prefix(p).is_some_and(|r| r.starts_with('.'));
        let glob = |m: &str, g: &str| {
            if let Some(p) = g.strip_suffix(".*") {
                under(m, p)
            } else if let Some(p) = g.strip_suffix(".+") {
                m.strip_prefix(p)
                    .is_some_and(|r| r.len() > 1 && r.starts_with('.'))
            } else {
                m == g
            }
        };
        for (i, k) in g.nodes().iter().enumerate() {
            if external.contains(k) {
                kinds[i] = NodeKind::External;
            } else if exes.contains(k)
                || roots.iter().any(|r| under(k, r))
                || globs.iter().any(|gl| glob(k, gl))
            {
                kinds[i] = NodeKind::Member;
            }
        }
    }
    kinds
}

fn opt<T: std::fmt::Display>(v: &Option<T>) -> String {
    v.as_ref()
        .map_or_else(|| "—".to_owned(), |x| esc(&x.to_string()))
}

fn timeline_svg(rows: &[EntryRow]) -> String {
    // One dot per entry coloured by status, and τ as a line when entries record it.
    let w = 1000.0;
    let h = 120.0;
    let n = rows.len().max(2) as f64;
    let x_of = |i: usize| 20.0 + (w - 40.0) * i as f64 / (n - 1.0);
    let taus: Vec<Option<f64>> = rows
        .iter()
        .map(|r| r.tau.as_deref().and_then(|t| t.parse::<f64>().ok()))
        .map(|t| t.filter(|v| v.is_finite()))
        .collect();
    let (lo, hi) = taus
        .iter()
        .flatten()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &t| {
            (a.min(t), b.max(t))
        });
    let mut s = format!(
        "<svg class=\"tl\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{w:.0}\" height=\"{h:.0}\" viewBox=\"0 0 {w:.0} {h:.0}\">\n"
    );
    if lo.is_finite() {
        let span = if hi > lo { hi - lo } else { 1.0 };
        s.push_str("<polyline points=\"");
        for (i, t) in taus.iter().enumerate() {
            if let Some(t) = t {
                let y = 80.0 - 60.0 * (t - lo) / span;
                let _ = write!(s, "{:.1},{y:.1} ", x_of(i));
            }
        }
        s.push_str("\"/>\n");
        let _ = writeln!(s, "<text x=\"4\" y=\"14\">τ {lo:.6} … {hi:.6}</text>");
    }
    for (i, r) in rows.iter().enumerate() {
        let status = r.status.as_deref().unwrap_or("unknown");
        let _ = writeln!(
            s,
            "<circle class=\"st-{}\" cx=\"{:.1}\" cy=\"100\" r=\"5\"><title>entry {}: {} {} τ {}</title></circle>",
            class_word(status),
            x_of(i),
            r.n,
            opt(&r.time),
            esc(status),
            opt(&r.tau)
        );
    }
    s.push_str("</svg>\n");
    s
}

/// A status word usable in a class name: known words as such, anything else `other`.
fn class_word(status: &str) -> &'static str {
    match status {
        "success" => "success",
        "failed" => "failed",
        "not-run" => "not-run",
        _ => "other",
    }
}

/// Renders the report of the build chain in `dir`.
///
/// # Errors
/// [`ReportError::NoChain`] when `dir` holds no `chain.head`, [`ReportError`] when it
/// cannot be read.
pub fn render(dir: &Path) -> Result<Page, ReportError> {
    let head_path = dir.join(CHAIN_HEAD);
    if std::fs::symlink_metadata(&head_path).is_err() {
        return Err(ReportError::NoChain {
            dir: dir.to_path_buf(),
        });
    }
    let verification = receipt_protocol::verify::verify_dir(dir);
    let head = confine::read_under(dir, CHAIN_HEAD, limits::CHAIN_HEAD_BYTES, "a chain head")
        .map(|b| parse_head(&b));
    let mut body = String::new();
    let mut subtitle = String::from("build chain");
    match head {
        Err(e) => {
            let _ = writeln!(
                body,
                "<section><h2>Chain</h2><p>chain.head cannot be read: {}</p></section>",
                esc(&e.to_string())
            );
        }
        Ok(Err(e)) => {
            let _ = writeln!(
                body,
                "<section><h2>Chain</h2><p>chain.head is malformed: {}</p></section>",
                esc(&e.to_string())
            );
        }
        Ok(Ok(lines)) => {
            let skip = lines.len().saturating_sub(MAX_ENTRIES);
            let mut rows = Vec::with_capacity(lines.len() - skip);
            let mut latest = None;
            for (i, line) in lines.iter().enumerate().skip(skip) {
                let read = read_entry(dir, line);
                rows.push(row(i + 1, line, &read));
                if i + 1 == lines.len() {
                    latest = Some((line.clone(), read));
                }
            }
            if let Some((line, Ok((receipt, manifest)))) = &latest {
                subtitle = format!(
                    "{} build chain, {} entr{}; latest by {} at {}",
                    receipt.kind,
                    lines.len(),
                    if lines.len() == 1 { "y" } else { "ies" },
                    manifest.producer,
                    manifest.timestamp
                );
                body.push_str(&summary(line, receipt, lines.len()));
            }
            body.push_str(&chain_section(&rows, skip));
            match &latest {
                Some((line, Ok((receipt, _)))) => {
                    body.push_str(&graph_section(dir, line, receipt));
                    body.push_str(&artifacts_section(receipt));
                }
                Some((line, Err(e))) => {
                    let _ = writeln!(
                        body,
                        "<section><h2>Latest build</h2><p>{} cannot be read: {}</p></section>",
                        esc(&line.path),
                        esc(e)
                    );
                }
                None => body.push_str(
                    "<section><h2>Latest build</h2><p>The chain is empty.</p></section>\n",
                ),
            }
        }
    }
    body.push_str("<section id=\"verification\"><h2>Verification</h2>\n");
    body.push_str(&checks_table(&verification));
    body.push_str("</section>\n");
    Ok(Page {
        html: page("receipt report: build chain", &subtitle, &body),
        verified: verification.ok(),
        kind: InputKind::Chain,
    })
}

fn summary(line: &HeadLine, r: &Receipt, len: usize) -> String {
    let mut s = String::from("<section class=\"summary\">");
    let mut item = |k: &str, v: String| {
        let _ = write!(s, "<div><span class=\"mute\">{k}</span><b>{v}</b></div>");
    };
    item("entries", count(len as u64));
    item("latest", esc(&line.path));
    if let Some(c) = r.extensions.get("cargo") {
        let members: Vec<&str> = c
            .get("members")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        item("members", esc(&cut(&members.join(", "), 120)));
        if let (Some(p), Some(t)) = (
            c.get("profile").and_then(Value::as_str),
            c.get("target").and_then(Value::as_str),
        ) {
            item("profile", format!("{} · {}", esc(p), esc(t)));
        }
    }
    if let Section::Available(w) = &r.work {
        item(
            "status",
            format!(
                "<span class=\"st-{}\">{}</span> · {} ms",
                class_word(&w.status),
                esc(&w.status),
                w.wall_ms
            ),
        );
    }
    if let Section::Available(g) = &r.graph {
        item(
            "graph",
            format!(
                "{} nodes · {} edges ({})",
                count(g.nodes),
                count(g.edges),
                esc(&g.kind)
            ),
        );
    }
    s.push_str("</section>\n");
    s
}

fn chain_section(rows: &[EntryRow], skipped: usize) -> String {
    let mut s = String::from("<section id=\"chain\"><h2>Chain timeline</h2>\n");
    if skipped > 0 {
        let _ = writeln!(
            s,
            "<p class=\"mute\">{} earlier entr{} not listed; the latest {} follow.</p>",
            count(skipped as u64),
            if skipped == 1 { "y" } else { "ies" },
            rows.len()
        );
    }
    s.push_str(&timeline_svg(rows));
    s.push_str("<div class=\"scroll\"><table class=\"entries\"><tr><th class=\"num\">#</th><th>time</th><th>commit</th><th>status</th><th>τ</th><th class=\"num\">tracked files</th><th class=\"num\">artifacts</th></tr>\n");
    for r in rows.iter().rev() {
        if let Some(e) = &r.error {
            let _ = writeln!(
                s,
                "<tr class=\"entry\"><td class=\"num\">{}</td><td colspan=\"6\"><span class=\"v v-FAIL\">unreadable</span> {}</td></tr>",
                r.n,
                esc(e)
            );
            continue;
        }
        let commit = match (&r.commit, r.dirty) {
            (Some(c), d) => format!(
                "<code title=\"{}\">{}</code>{}",
                esc(c),
                esc(&cut(c, 10).replace('…', "")),
                if d == Some(true) { " <b>dirty</b>" } else { "" }
            ),
            (None, Some(d)) => format!("no commit{}", if d { " <b>dirty</b>" } else { "" }),
            (None, None) => "—".to_owned(),
        };
        let status = r.status.as_deref().unwrap_or("—");
        let _ = writeln!(
            s,
            "<tr class=\"entry\"><td class=\"num\">{}</td><td>{}</td><td>{commit}</td><td class=\"st-{}\">{}</td><td><code>{}</code></td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            r.n,
            opt(&r.time),
            class_word(status),
            esc(status),
            opt(&r.tau),
            r.tracked.map_or("—".into(), count),
            r.artifacts.map_or("—".into(), |a| count(a as u64)),
        );
    }
    s.push_str("</table></div></section>\n");
    s
}

fn graph_section(dir: &Path, line: &HeadLine, r: &Receipt) -> String {
    let mut s =
        String::from("<section id=\"graph\"><h2>Dependency graph of the latest build</h2>\n");
    let g = match &r.graph {
        Section::Unavailable { reason } => {
            let _ = writeln!(s, "<p>No graph: {}</p></section>", esc(reason));
            return s;
        }
        Section::Available(g) => g,
    };
    let rel = join(entry_dir(&line.path), &g.path);
    let graph = confine::read_under(dir, &rel, limits::GRAPH_BYTES, "a graph")
        .map_err(|e| e.to_string())
        .and_then(|b| CanonicalGraph::from_json_bytes(&b).map_err(|e| format!("{rel}: {e}")));
    let graph = match graph {
        Ok(g) => g,
        Err(e) => {
            let _ = writeln!(s, "<p>The graph cannot be read: {}</p></section>", esc(&e));
            return s;
        }
    };
    let kinds = highlight(r, &graph);
    let view = graph::render(&graph, &|i| kinds[i as usize]);
    let what = if g.kind == "lean-modules" {
        "modules of the root package"
    } else {
        "workspace members built"
    };
    let _ = writeln!(
        s,
        "<p><b>{}</b> nodes, <b>{}</b> edges, {} layers drawn (kind <code>{}</code>); edges point from the dependent down to its dependency; highlighted: {what}. Hover a node for its name.{}</p>",
        count(view.nodes as u64),
        count(view.edges as u64),
        view.layers,
        esc(&g.kind),
        if view.folds > 0 {
            format!(
                " The {} nodes nearest the top are drawn; the {} deeper ones are folded into {} boxes by layer.",
                count(view.shown as u64),
                count((view.nodes - view.shown) as u64),
                view.folds
            )
        } else {
            String::new()
        }
    );
    s.push_str("<div class=\"scroll\">");
    s.push_str(&view.svg);
    s.push_str("</div></section>\n");
    s
}

fn artifacts_section(r: &Receipt) -> String {
    let mut s = String::from("<section id=\"artifacts\"><h2>Artifacts of the latest build</h2>\n");
    match &r.artifacts {
        Section::Unavailable { reason } => {
            let _ = writeln!(s, "<p>Not recorded: {}</p>", esc(reason));
        }
        Section::Available(a) => {
            let total: u64 = a.files.iter().map(|f| f.size).sum();
            let _ = writeln!(
                s,
                "<p>{} files under <code>{}</code>, {} in all.</p>",
                count(a.files.len() as u64),
                esc(&a.root),
                bytes(total)
            );
            s.push_str("<div class=\"scroll\"><table class=\"artifacts\"><tr><th>path</th><th class=\"num\">size</th><th>sha256</th></tr>\n");
            for f in a.files.iter().take(MAX_ARTIFACTS) {
                let hex = f.sha256.to_string();
                let _ = writeln!(
                    s,
                    "<tr><td><code>{}</code></td><td class=\"num\">{}</td><td><code title=\"{hex}\">{}</code></td></tr>",
                    esc(&f.path),
                    bytes(f.size),
                    &hex[..12]
                );
            }
            s.push_str("</table></div>\n");
            if a.files.len() > MAX_ARTIFACTS {
                let _ = writeln!(
                    s,
                    "<p class=\"mute\">{} more files not listed.</p>",
                    count((a.files.len() - MAX_ARTIFACTS) as u64)
                );
            }
        }
    }
    s.push_str("</section>\n");
    s
}
