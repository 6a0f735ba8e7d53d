//! What changed between two build receipts (schema `receipt.diff/1`): every difference as
//! one [`Change`], grouped in [`Section`]s from the most to the least telling, each marked
//! whether it counts (a field that is a function of the build's inputs) or is measured.
//!
//! One file over 600 lines on purpose: the sections are compared in one pass over both receipts
//! and share the change model; splitting by section would duplicate the walk.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde::Serialize;
use serde_json::{Map, Value, json};

use receipt_graph::CanonicalGraph;

use crate::input::Side;

/// The schema id of the JSON form of a build diff.
pub const DIFF_SCHEMA: &str = "receipt.diff/1";

/// Where a change belongs, in report order (most telling first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Section {
    /// The compiler (`rustc -vV`, the Lean toolchain).
    Toolchain,
    /// What was asked: target, profile, features, environment, arguments, members.
    Build,
    /// Packages, lock file, dependency checksums.
    Dependencies,
    /// Graph edges, modules, the graph file.
    Graph,
    /// Tracked files and the git state.
    Sources,
    /// The build's status and exit code, and its measured work.
    Outcome,
    /// Produced files.
    Artifacts,
    /// τ and the rank signature.
    Fingerprints,
    /// Everything else: producer, timestamp, extensions.
    Receipt,
}

impl Section {
    /// The section's name as written in the JSON form.
    pub fn as_str(self) -> &'static str {
        match self {
            Section::Toolchain => "toolchain",
            Section::Build => "build",
            Section::Dependencies => "dependencies",
            Section::Graph => "graph",
            Section::Sources => "sources",
            Section::Outcome => "outcome",
            Section::Artifacts => "artifacts",
            Section::Fingerprints => "fingerprints",
            Section::Receipt => "receipt",
        }
    }
}

/// How an item changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    /// Only in B.
    Added,
    /// Only in A.
    Removed,
    /// In both, with another value.
    Changed,
}

/// One difference between A and B.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    /// Where it belongs.
    pub section: Section,
    /// What differs: a field (`profile`), or a named thing (`package serde`, `file src/a.rs`).
    pub item: String,
    /// Added, removed or changed.
    pub change: ChangeKind,
    /// A's value (`null` when added).
    pub a: Value,
    /// B's value (`null` when removed).
    pub b: Value,
    /// Whether it counts as a difference (false for measured fields).
    pub counts: bool,
    /// `b − a` with its sign, for numbers and τ (exact decimal text).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delta: Option<String>,
}

/// One side as the report names it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SideInfo {
    /// As the user wrote it.
    pub label: String,
    /// The receipt's `kind`.
    pub kind: String,
    /// 1-based chain position, when read from a ledger.
    pub entry: Option<u64>,
    /// SHA-256 of the receipt file.
    pub receipt_sha256: String,
    /// The receipt's `manifest_sha256`.
    pub manifest_sha256: String,
}

/// The difference between two build receipts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BuildDiff {
    /// Always [`DIFF_SCHEMA`].
    pub schema: &'static str,
    /// A.
    pub a: SideInfo,
    /// B.
    pub b: SideInfo,
    /// Whether any change counts.
    pub differs: bool,
    /// Every change, by section, then item bytes, then kind.
    pub changes: Vec<Change>,
    /// What could not be compared, one sentence each, prefixed `A:` or `B:`.
    pub notes: Vec<String>,
}

/// Collects changes.
#[derive(Default)]
struct Changes(Vec<Change>);

impl Changes {
    fn push(
        &mut self,
        section: Section,
        item: impl Into<String>,
        a: Value,
        b: Value,
        counts: bool,
    ) {
        let change = match (a.is_null(), b.is_null()) {
            (true, false) => ChangeKind::Added,
            (false, true) => ChangeKind::Removed,
            _ => ChangeKind::Changed,
        };
        let delta = delta(&a, &b);
        self.0.push(Change {
            section,
            item: item.into(),
            change,
            a,
            b,
            counts,
            delta,
        });
    }

    /// A change when `a` and `b` differ.
    fn cmp(
        &mut self,
        section: Section,
        item: impl Into<String>,
        a: Option<&Value>,
        b: Option<&Value>,
    ) {
        self.cmp_with(section, item, a, b, true);
    }

    fn cmp_with(
        &mut self,
        section: Section,
        item: impl Into<String>,
        a: Option<&Value>,
        b: Option<&Value>,
        counts: bool,
    ) {
        if a != b {
            self.push(
                section,
                item,
                a.cloned().unwrap_or(Value::Null),
                b.cloned().unwrap_or(Value::Null),
                counts,
            );
        }
    }

    /// Leaf by leaf below two objects (arrays and scalars compared whole).
    fn generic(&mut self, section: Section, prefix: &str, a: Option<&Value>, b: Option<&Value>) {
        match (a, b) {
            (Some(Value::Object(x)), Some(Value::Object(y))) => {
                let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
                for k in keys {
                    self.generic(section, &format!("{prefix}.{k}"), x.get(k), y.get(k));
                }
            }
            _ => self.cmp(section, prefix, a, b),
        }
    }
}

/// `b − a` with an explicit sign: integers exactly, and decimal texts such as τ's
/// `"1.333328"` exactly at their number of decimals.
fn delta(a: &Value, b: &Value) -> Option<String> {
    if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
        let d = i128::from(y) - i128::from(x);
        return Some(format!("{}{d}", if d >= 0 { "+" } else { "" }));
    }
    let (x, y) = (a.as_str()?, b.as_str()?);
    let scale = |s: &str| s.split_once('.').map_or(0, |(_, f)| f.len());
    let places = scale(x);
    if places == 0 || places != scale(y) {
        return None;
    }
    let fixed = |s: &str| -> Option<i128> {
        let (neg, digits) = s.strip_prefix('-').map_or((false, s), |d| (true, d));
        let (i, f) = digits.split_once('.')?;
        if !i.bytes().chain(f.bytes()).all(|c| c.is_ascii_digit()) || i.is_empty() {
            return None;
        }
        let v: i128 = format!("{i}{f}").parse().ok()?;
        Some(if neg { -v } else { v })
    };
    let d = fixed(y)? - fixed(x)?;
    let unit = 10i128.pow(places as u32);
    let sign = if d < 0 { "-" } else { "+" };
    Some(format!(
        "{sign}{}.{:0places$}",
        d.abs() / unit,
        d.abs() % unit
    ))
}

/// The content of a receipt section when it is available (without `available`).
fn available(v: Option<&Value>) -> Option<&Map<String, Value>> {
    let m = v?.as_object()?;
    (m.get("available") == Some(&Value::Bool(true))).then_some(m)
}

/// Compares two receipts section by section.
pub fn diff(a: &Side, b: &Side) -> BuildDiff {
    let mut c = Changes::default();
    let mut notes: Vec<String> = a
        .notes
        .iter()
        .map(|n| format!("A: {n}"))
        .chain(b.notes.iter().map(|n| format!("B: {n}")))
        .collect();
    let (ra, rb) = (&a.receipt, &b.receipt);

    c.cmp(
        Section::Receipt,
        "kind",
        Some(&json!(ra.kind)),
        Some(&json!(rb.kind)),
    );
    c.cmp(
        Section::Receipt,
        "producer",
        Some(&json!(ra.producer)),
        Some(&json!(rb.producer)),
    );
    match (&a.manifest, &b.manifest) {
        (Some(ma), Some(mb)) => c.cmp(
            Section::Receipt,
            "manifest.timestamp",
            Some(&json!(ma.timestamp.to_string())),
            Some(&json!(mb.timestamp.to_string())),
        ),
        _ => {
            notes.push("the manifests' timestamps were not compared: a manifest is missing".into())
        }
    }

    let (ia, ib) = (value_of(&ra.ingress), value_of(&rb.ingress));
    section_or_whole(&mut c, Section::Build, "ingress", &ia, &ib, |c, x, y| {
        ingress(c, x, y);
    });
    let (sa, sb) = (value_of(&ra.source), value_of(&rb.source));
    section_or_whole(&mut c, Section::Sources, "source", &sa, &sb, |c, x, y| {
        c.generic(Section::Sources, "source.git", x.get("git"), y.get("git"));
        c.generic(
            Section::Sources,
            "source.tracked",
            x.get("tracked"),
            y.get("tracked"),
        );
    });
    let (ga, gb) = (value_of(&ra.graph), value_of(&rb.graph));
    section_or_whole(&mut c, Section::Graph, "graph", &ga, &gb, |c, x, y| {
        for k in ["kind", "digest", "nodes", "edges", "path"] {
            c.cmp(Section::Graph, format!("graph.{k}"), x.get(k), y.get(k));
        }
    });
    match (&a.graph, &b.graph, ra.graph.get(), rb.graph.get()) {
        (Some(x), Some(y), Some(sx), Some(sy)) => {
            graph_nodes(&mut c, x, y, sx.kind == "cargo" && sy.kind == "cargo");
            graph_edges(&mut c, x, y);
        }
        (_, _, None, None) => {}
        _ => notes.push("packages and edges were not compared: a graph file is missing".into()),
    }
    let (ta, tb) = (value_of(&ra.tau), value_of(&rb.tau));
    section_or_whole(&mut c, Section::Fingerprints, "tau", &ta, &tb, |c, x, y| {
        c.cmp(Section::Fingerprints, "tau", x.get("tau"), y.get("tau"));
        for k in ["line_nodes", "recipe", "k"] {
            c.cmp(
                Section::Fingerprints,
                format!("tau.{k}"),
                x.get(k),
                y.get(k),
            );
        }
    });
    let (ka, kb) = (value_of(&ra.rank), value_of(&rb.rank));
    section_or_whole(&mut c, Section::Fingerprints, "rank", &ka, &kb, rank);
    let (wa, wb) = (value_of(&ra.work), value_of(&rb.work));
    section_or_whole(&mut c, Section::Outcome, "work", &wa, &wb, |c, x, y| {
        for k in ["status", "exit_code"] {
            c.cmp(Section::Outcome, format!("work.{k}"), x.get(k), y.get(k));
        }
        for k in ["wall_ms", "cpu_ms", "peak_rss_kb"] {
            c.cmp_with(
                Section::Outcome,
                format!("work.{k}"),
                x.get(k),
                y.get(k),
                false,
            );
        }
    });
    let (aa, ab) = (value_of(&ra.artifacts), value_of(&rb.artifacts));
    section_or_whole(&mut c, Section::Artifacts, "artifacts", &aa, &ab, artifacts);
    extensions(
        &mut c,
        &ra.extensions,
        &rb.extensions,
        ra.ingress.get().is_some(),
    );
    match (&a.checksums, &b.checksums) {
        (Some(x), Some(y)) => checksums(&mut c, x, y),
        (None, None) => {}
        _ => notes.push(format!(
            "dependency checksums were not compared: only one side has a {}",
            crate::input::PROVENANCE_FILE
        )),
    }

    let mut changes = c.0;
    changes.sort_by(|x, y| {
        (x.section, x.item.as_bytes(), x.change).cmp(&(y.section, y.item.as_bytes(), y.change))
    });
    BuildDiff {
        schema: DIFF_SCHEMA,
        a: side_info(a),
        b: side_info(b),
        differs: changes.iter().any(|c| c.counts),
        changes,
        notes,
    }
}

/// A receipt section as JSON (`null` if it had none, which receipts never do).
fn value_of<T: Serialize>(t: &T) -> Value {
    serde_json::to_value(t).unwrap_or(Value::Null)
}

fn side_info(s: &Side) -> SideInfo {
    SideInfo {
        label: s.label.clone(),
        kind: s.receipt.kind.clone(),
        entry: s.entry,
        receipt_sha256: s.receipt_sha256.to_hex(),
        manifest_sha256: s.receipt.manifest_sha256.to_hex(),
    }
}

/// When both sections are available, `inner` compares their contents; otherwise the
/// sections are compared whole (available against unavailable, or two reasons).
fn section_or_whole(
    c: &mut Changes,
    section: Section,
    name: &str,
    a: &Value,
    b: &Value,
    inner: impl FnOnce(&mut Changes, &Map<String, Value>, &Map<String, Value>),
) {
    match (available(Some(a)), available(Some(b))) {
        (Some(x), Some(y)) => inner(c, x, y),
        _ => c.cmp(section, name, Some(a), Some(b)),
    }
}

/// The ingress preimage: toolchain lines, then what was asked.
fn ingress(c: &mut Changes, a: &Map<String, Value>, b: &Map<String, Value>) {
    let keys: BTreeSet<&String> = a
        .keys()
        .chain(b.keys())
        .filter(|k| *k != "available")
        .collect();
    for k in keys {
        let (x, y) = (a.get(k), b.get(k));
        match k.as_str() {
            "rustc_vv" => rustc_vv(c, x, y),
            "lean_toolchain" => c.cmp(Section::Toolchain, k.as_str(), x, y),
            "cargo_lock_sha256" => c.cmp(Section::Dependencies, "Cargo.lock sha256", x, y),
            "lake_manifest_sha256" => {
                c.cmp(Section::Dependencies, "lake-manifest.json sha256", x, y)
            }
            "features" => {
                for f in ["all", "default"] {
                    c.cmp(
                        Section::Build,
                        format!("features.{f}"),
                        x.and_then(|v| v.get(f)),
                        y.and_then(|v| v.get(f)),
                    );
                }
                members(
                    c,
                    Section::Build,
                    "feature",
                    x.and_then(|v| v.get("list")),
                    y.and_then(|v| v.get("list")),
                );
            }
            "members" => members(c, Section::Build, "member", x, y),
            "env" => {
                let (ex, ey) = (x.and_then(Value::as_object), y.and_then(Value::as_object));
                let names: BTreeSet<&String> =
                    ex.into_iter().chain(ey).flat_map(|m| m.keys()).collect();
                for n in names {
                    c.cmp(
                        Section::Build,
                        format!("env {n}"),
                        ex.and_then(|m| m.get(n)),
                        ey.and_then(|m| m.get(n)),
                    );
                }
            }
            _ => c.generic(Section::Build, k, x, y),
        }
    }
}

/// `rustc -vV`, line by line: the first line as `version`, the others by their `key:`.
fn rustc_vv(c: &mut Changes, a: Option<&Value>, b: Option<&Value>) {
    fn lines(v: Option<&Value>) -> BTreeMap<String, String> {
        let text = v.and_then(Value::as_str).unwrap_or_default();
        text.lines()
            .enumerate()
            .map(|(i, l)| match l.split_once(": ") {
                Some((k, v)) if i > 0 => (k.to_owned(), v.to_owned()),
                _ if i == 0 => ("version".to_owned(), l.to_owned()),
                _ => (format!("line {}", i + 1), l.to_owned()),
            })
            .collect()
    }
    if a == b {
        return;
    }
    let (x, y) = (lines(a), lines(b));
    let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
    for k in keys {
        c.cmp(
            Section::Toolchain,
            format!("rustc -vV {k}"),
            x.get(k).map(|s| json!(s)).as_ref(),
            y.get(k).map(|s| json!(s)).as_ref(),
        );
    }
}

/// Membership of string lists: one `added`/`removed` change per element.
fn members(c: &mut Changes, section: Section, what: &str, a: Option<&Value>, b: Option<&Value>) {
    let set = |v: Option<&Value>| -> BTreeSet<String> {
        v.and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|e| e.as_str().map_or_else(|| e.to_string(), str::to_owned))
            .collect()
    };
    let (x, y) = (set(a), set(b));
    for m in x.difference(&y) {
        c.push(section, format!("{what} {m}"), json!(m), Value::Null, true);
    }
    for m in y.difference(&x) {
        c.push(section, format!("{what} {m}"), Value::Null, json!(m), true);
    }
}

/// Packages (Cargo node keys `name@version[#source]`, by name) or plain nodes.
fn graph_nodes(c: &mut Changes, a: &CanonicalGraph, b: &CanonicalGraph, cargo: bool) {
    if !cargo {
        let (x, y): (BTreeSet<&str>, BTreeSet<&str>) = (
            a.nodes().iter().map(String::as_str).collect(),
            b.nodes().iter().map(String::as_str).collect(),
        );
        for n in x.difference(&y) {
            c.push(
                Section::Graph,
                format!("node {n}"),
                json!(n),
                Value::Null,
                true,
            );
        }
        for n in y.difference(&x) {
            c.push(
                Section::Graph,
                format!("node {n}"),
                Value::Null,
                json!(n),
                true,
            );
        }
        return;
    }
    let by_name = |g: &CanonicalGraph| {
        let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for k in g.nodes() {
            let name = k.split_once('@').map_or(k.as_str(), |(n, _)| n);
            m.entry(name.to_owned()).or_default().push(k.clone());
        }
        m
    };
    let (x, y) = (by_name(a), by_name(b));
    let names: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
    for n in names {
        let (kx, ky) = (x.get(n), y.get(n));
        if kx != ky {
            c.push(
                Section::Dependencies,
                format!("package {n}"),
                kx.map_or(Value::Null, |k| json!(k)),
                ky.map_or(Value::Null, |k| json!(k)),
                true,
            );
        }
    }
}

/// Edges added and removed, by their node keys.
fn graph_edges(c: &mut Changes, a: &CanonicalGraph, b: &CanonicalGraph) {
    let (mut x, mut y) = (a.edges().peekable(), b.edges().peekable());
    loop {
        let ord = match (x.peek(), y.peek()) {
            (None, None) => break,
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some(p), Some(q)) => {
                (p.0.as_bytes(), p.1.as_bytes()).cmp(&(q.0.as_bytes(), q.1.as_bytes()))
            }
        };
        match ord {
            Ordering::Less => {
                let (f, t) = x.next().unwrap_or_default();
                c.push(
                    Section::Graph,
                    format!("edge {f} -> {t}"),
                    json!([f, t]),
                    Value::Null,
                    true,
                );
            }
            Ordering::Greater => {
                let (f, t) = y.next().unwrap_or_default();
                c.push(
                    Section::Graph,
                    format!("edge {f} -> {t}"),
                    Value::Null,
                    json!([f, t]),
                    true,
                );
            }
            Ordering::Equal => {
                x.next();
                y.next();
            }
        }
    }
}

/// The rank signature, per prime.
fn rank(c: &mut Changes, a: &Map<String, Value>, b: &Map<String, Value>) {
    let per_prime = |m: &Map<String, Value>| -> BTreeMap<u64, Value> {
        m.get("primes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|p| Some((p.get("p")?.as_u64()?, p.clone())))
            .collect()
    };
    let (x, y) = (per_prime(a), per_prime(b));
    let primes: BTreeSet<&u64> = x.keys().chain(y.keys()).collect();
    for p in primes {
        let (px, py) = (x.get(p), y.get(p));
        c.cmp(
            Section::Fingerprints,
            format!("rank mod {p}"),
            px.and_then(|v| v.get("rank")),
            py.and_then(|v| v.get("rank")),
        );
        c.cmp(
            Section::Fingerprints,
            format!("rank transcript mod {p}"),
            px.and_then(|v| v.get("transcript_sha256")),
            py.and_then(|v| v.get("transcript_sha256")),
        );
    }
}

/// Merge-walks two arrays of objects sorted by their `path` member: `on` gets each path
/// with the element on either side.
fn by_path<'v>(
    a: Option<&'v Value>,
    b: Option<&'v Value>,
    mut on: impl FnMut(&'v str, Option<&'v Value>, Option<&'v Value>),
) {
    let list = |v: Option<&'v Value>| -> Vec<(&'v str, &'v Value)> {
        v.and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|e| Some((e.get("path")?.as_str()?, e)))
            .collect()
    };
    let (mut x, mut y) = (list(a), list(b));
    // Receipts list them sorted by path bytes; sorting again costs nothing then.
    x.sort_by(|p, q| p.0.as_bytes().cmp(q.0.as_bytes()));
    y.sort_by(|p, q| p.0.as_bytes().cmp(q.0.as_bytes()));
    let (mut i, mut j) = (0, 0);
    while i < x.len() || j < y.len() {
        let ord = match (x.get(i), y.get(j)) {
            (Some(p), Some(q)) => p.0.as_bytes().cmp(q.0.as_bytes()),
            (Some(_), None) => Ordering::Less,
            _ => Ordering::Greater,
        };
        match ord {
            Ordering::Less => {
                on(x[i].0, Some(x[i].1), None);
                i += 1;
            }
            Ordering::Greater => {
                on(y[j].0, None, Some(y[j].1));
                j += 1;
            }
            Ordering::Equal => {
                on(x[i].0, Some(x[i].1), Some(y[j].1));
                i += 1;
                j += 1;
            }
        }
    }
}

/// Artifacts: added and removed paths count; a different hash or size at the same path is
/// measured (rustc embeds the build's absolute paths, docs/SPEC.md §8.6).
fn artifacts(c: &mut Changes, a: &Map<String, Value>, b: &Map<String, Value>) {
    c.cmp(
        Section::Artifacts,
        "artifacts.root",
        a.get("root"),
        b.get("root"),
    );
    by_path(a.get("files"), b.get("files"), |path, x, y| {
        if x != y {
            let counts = x.is_none() || y.is_none();
            c.push(
                Section::Artifacts,
                format!("artifact {path}"),
                x.map_or(Value::Null, without_path),
                y.map_or(Value::Null, without_path),
                counts,
            );
        }
    });
}

/// An element of a path-keyed list without its `path` member (the item names it).
fn without_path(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(m) = v.as_object_mut() {
        m.remove("path");
    }
    v
}

/// Producer extensions: the Cargo and Lake ones by meaning, others leaf by leaf.
fn extensions(
    c: &mut Changes,
    a: &BTreeMap<String, Value>,
    b: &BTreeMap<String, Value>,
    have_ingress: bool,
) {
    let names: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    for ns in names {
        let (x, y) = (a.get(ns), b.get(ns));
        let (ox, oy) = (x.and_then(Value::as_object), y.and_then(Value::as_object));
        let (Some(ox), Some(oy)) = (ox, oy) else {
            c.cmp(Section::Receipt, format!("extensions.{ns}"), x, y);
            continue;
        };
        let keys: BTreeSet<&String> = ox.keys().chain(oy.keys()).collect();
        for k in keys {
            let (vx, vy) = (ox.get(k), oy.get(k));
            let item = format!("extensions.{ns}.{k}");
            match (ns.as_str(), k.as_str()) {
                ("cargo", "tracked_files") => tracked(c, vx, vy),
                // The ingress records the same, from the same arguments.
                ("cargo", "members" | "profile" | "target") if have_ingress => {}
                ("cargo", _) => c.generic(Section::Build, &item, vx, vy),
                ("lake", "toolchain") => c.generic(Section::Toolchain, &item, vx, vy),
                ("lake", "packages") => lake_packages(c, vx, vy),
                ("lake", "package_edges" | "packages_dir" | "manifest") => {
                    c.generic(Section::Dependencies, &item, vx, vy);
                }
                ("lake", "modules") => c.generic(Section::Graph, &item, vx, vy),
                ("lake", "build") => c.generic(Section::Outcome, &item, vx, vy),
                ("lake", _) => c.generic(Section::Build, &item, vx, vy),
                _ => c.generic(Section::Receipt, &item, vx, vy),
            }
        }
    }
}

/// Tracked files: added, removed, and changed in content, kind (mode) or size.
fn tracked(c: &mut Changes, a: Option<&Value>, b: Option<&Value>) {
    by_path(a, b, |path, x, y| {
        if x != y {
            c.push(
                Section::Sources,
                format!("file {path}"),
                x.map_or(Value::Null, without_path),
                y.map_or(Value::Null, without_path),
                true,
            );
        }
    });
}

/// Lake packages by name: source (git URL and revision, path) and the rest.
fn lake_packages(c: &mut Changes, a: Option<&Value>, b: Option<&Value>) {
    let by_name = |v: Option<&Value>| -> BTreeMap<String, Value> {
        v.and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|p| Some((p.get("name")?.as_str()?.to_owned(), p.clone())))
            .collect()
    };
    let (x, y) = (by_name(a), by_name(b));
    let names: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
    for n in names {
        c.cmp(
            Section::Dependencies,
            format!("lake package {n}"),
            x.get(n),
            y.get(n),
        );
    }
}

/// Dependency checksums from the provenance files.
fn checksums(
    c: &mut Changes,
    a: &BTreeMap<String, Vec<String>>,
    b: &BTreeMap<String, Vec<String>>,
) {
    let names: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    for n in names {
        let (x, y) = (a.get(n), b.get(n));
        if x != y {
            c.push(
                Section::Dependencies,
                format!("checksum {n}"),
                x.map_or(Value::Null, |v| json!(v)),
                y.map_or(Value::Null, |v| json!(v)),
                true,
            );
        }
    }
}

/// A hash cut to 12 digits for the text report (the JSON form has it whole).
fn short(v: &Value) -> String {
    match v.as_str() {
        Some(h) if h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()) => {
            format!("{}…", &h[..12])
        }
        Some(s) => s.to_owned(),
        None => match v.as_array() {
            Some(items) if items.iter().all(Value::is_string) => {
                items.iter().map(short).collect::<Vec<_>>().join(", ")
            }
            _ => v.to_string(),
        },
    }
}

/// A file or artifact record (`kind`, `size`, `content_sha256` or `sha256`) in a few words.
fn file_words(v: &Value) -> Option<String> {
    let o = v.as_object()?;
    let hash = o.get("content_sha256").or_else(|| o.get("sha256"))?;
    let mut words = Vec::new();
    if let Some(k) = o.get("kind").and_then(Value::as_str) {
        words.push(format!("kind {k}"));
    }
    if let Some(n) = o.get("size") {
        words.push(format!("{n} bytes"));
    }
    words.push(short(hash));
    Some(words.join(", "))
}

/// What changed, after the item, for the text report: `: a -> b`, `: + b`, or nothing when
/// the item already names the value (a feature, member or edge added or removed).
fn render(ch: &Change) -> String {
    let one = |v: &Value| file_words(v).unwrap_or_else(|| short(v));
    let named = |v: &Value| {
        v.as_str().is_some_and(|s| ch.item.ends_with(s)) || ch.item.starts_with("edge ")
    };
    match ch.change {
        ChangeKind::Added if named(&ch.b) => String::new(),
        ChangeKind::Removed if named(&ch.a) => String::new(),
        ChangeKind::Added => format!(": + {}", one(&ch.b)),
        ChangeKind::Removed => format!(": - {}", one(&ch.a)),
        ChangeKind::Changed => match (ch.a.as_object(), ch.b.as_object()) {
            (Some(x), Some(y)) if file_words(&ch.a).is_some() => {
                // Only the parts that differ: kind (mode), size, content.
                let parts: Vec<String> = ["kind", "size", "content_sha256", "sha256"]
                    .iter()
                    .filter(|k| x.get(**k) != y.get(**k))
                    .map(|k| {
                        let name = if k.ends_with("sha256") { "content" } else { k };
                        format!(
                            "{name} {} -> {}",
                            x.get(*k).map_or_else(|| "none".into(), short),
                            y.get(*k).map_or_else(|| "none".into(), short)
                        )
                    })
                    .collect();
                format!(": {}", parts.join(", "))
            }
            _ => format!(": {} -> {}", one(&ch.a), one(&ch.b)),
        },
    }
}

impl BuildDiff {
    /// The JSON form: RFC 8785 canonical bytes and one LF.
    ///
    /// # Errors
    /// [`receipt_primitives::jcs::JcsError`] for a value without a canonical form (none
    /// arises from receipts, whose own bytes are canonical).
    pub fn to_json(&self) -> Result<Vec<u8>, receipt_primitives::jcs::JcsError> {
        let mut v = receipt_primitives::jcs::to_vec(self)?;
        v.push(b'\n');
        Ok(v)
    }

    /// The readable report: the two sides, then each section's changes, most telling first.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for (tag, s) in [("A", &self.a), ("B", &self.b)] {
            let _ = writeln!(
                out,
                "{tag} {}{}: {} receipt {}",
                s.label,
                s.entry.map(|e| format!(" (entry {e})")).unwrap_or_default(),
                s.kind,
                s.receipt_sha256
            );
        }
        let mut section = None;
        for ch in &self.changes {
            if section != Some(ch.section) {
                section = Some(ch.section);
                let n = self
                    .changes
                    .iter()
                    .filter(|c| c.section == ch.section)
                    .count();
                let _ = writeln!(out, "\n{} ({n})", ch.section.as_str());
            }
            let what = render(ch);
            let _ = writeln!(
                out,
                "  {:<8} {}{what}{}{}",
                format!("{:?}", ch.change).to_lowercase(),
                ch.item,
                ch.delta
                    .as_ref()
                    .map(|d| format!(" ({d})"))
                    .unwrap_or_default(),
                if ch.counts { "" } else { " [measured]" }
            );
        }
        if !self.notes.is_empty() {
            let _ = writeln!(out, "\nnotes");
            for n in &self.notes {
                let _ = writeln!(out, "  {n}");
            }
        }
        let counted = self.changes.iter().filter(|c| c.counts).count();
        let measured = self.changes.len() - counted;
        let _ = writeln!(
            out,
            "\n{}",
            if self.differs {
                format!("receipts differ: {counted} change(s), {measured} measured")
            } else if measured > 0 {
                format!(
                    "receipts match: nothing that is hashed differs ({measured} measured change(s))"
                )
            } else {
                "receipts match: nothing differs".to_owned()
            }
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deltas_are_exact_with_their_sign() {
        assert_eq!(delta(&json!(3), &json!(10)).as_deref(), Some("+7"));
        assert_eq!(delta(&json!(10), &json!(3)).as_deref(), Some("-7"));
        assert_eq!(
            delta(&json!("1.333328"), &json!("1.999985")).as_deref(),
            Some("+0.666657")
        );
        assert_eq!(
            delta(&json!("1.999985"), &json!("1.333328")).as_deref(),
            Some("-0.666657")
        );
        assert_eq!(
            delta(&json!("0.000001"), &json!("0.000000")).as_deref(),
            Some("-0.000001")
        );
        assert_eq!(delta(&json!("abc"), &json!("1.0")), None);
        assert_eq!(delta(&json!("1.0"), &json!("1.00")), None);
    }
}
