//! Browser tests: reports of real build chains (a `cargo receipt build` of a fixture
//! workspace, a `cargo receipt lake build` of a Lean fixture, a synthetic chain of a 1,200-
//! node graph appended through the ledger) and of real run ledgers (written by the runtime's
//! Layer), opened in headless Chromium; the rendered DOM is checked and a screenshot of each
//! view is saved under `target/tmp/`.
//!
//! This binary runs without libtest's harness: run with the environment variable
//! `RECEIPT_REPORT_TEST_AS_CARGO_RECEIPT` set, it *is* `cargo-receipt` (the library's
//! `main_with_args`), so the fixtures are made by the real command in a child process with
//! its own working directory and environment. Pass a word to run only the tests whose name
//! contains it.

#[path = "common/synth.rs"]
mod synth;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Output};

use receipt_graph::CanonicalGraph;
use receipt_runtime::graph::{StageGraph, ViolationPolicy};
use receipt_runtime::{ReceiptLayer, receipt};
use receipt_testkit::fixture::{cargo_workspace, git, text, write, write_tree};
use tracing_subscriber::prelude::*;

const AS_CARGO_RECEIPT: &str = "RECEIPT_REPORT_TEST_AS_CARGO_RECEIPT";
const HOSTILE: &str = "</script><script>alert(1)</script>";

fn main() -> ExitCode {
    if std::env::var_os(AS_CARGO_RECEIPT).is_some() {
        return cargo_receipt::main_with_args(std::env::args_os().skip(1));
    }
    let tests: &[(&str, fn())] = &[
        (
            "the_console_check_sees_a_blocked_script",
            the_console_check_sees_a_blocked_script,
        ),
        (
            "cargo_chain_report_shows_graph_timeline_artifacts_and_checks",
            cargo_chain_report_shows_graph_timeline_artifacts_and_checks,
        ),
        (
            "lake_chain_report_draws_the_module_graph",
            lake_chain_report_draws_the_module_graph,
        ),
        (
            "chain_of_a_1200_node_graph_draws_every_node",
            chain_of_a_1200_node_graph_draws_every_node,
        ),
        (
            "chain_of_a_5000_node_graph_folds_the_deep_layers",
            chain_of_a_5000_node_graph_folds_the_deep_layers,
        ),
        (
            "hostile_graph_keys_render_as_text",
            hostile_graph_keys_render_as_text,
        ),
        (
            "run_report_shows_stages_resources_events_and_checks",
            run_report_shows_stages_resources_events_and_checks,
        ),
        (
            "run_report_of_a_large_ledger_aggregates_and_loads",
            run_report_of_a_large_ledger_aggregates_and_loads,
        ),
        (
            "tampered_run_ledger_shows_failed_checks",
            tampered_run_ledger_shows_failed_checks,
        ),
    ];
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let (mut passed, mut failed, mut filtered) = (0, 0, 0);
    for (name, test) in tests {
        if filter.as_deref().is_some_and(|f| !name.contains(f)) {
            filtered += 1;
            continue;
        }
        eprintln!("test {name} ...");
        match std::panic::catch_unwind(test) {
            Ok(()) => {
                eprintln!("test {name} ... ok");
                passed += 1;
            }
            Err(_) => {
                eprintln!("test {name} ... FAILED");
                failed += 1;
            }
        }
    }
    let verdict = if failed == 0 { "ok" } else { "FAILED" };
    println!(
        "test result: {verdict}. {passed} passed; {failed} failed; 0 ignored; 0 measured; {filtered} filtered out"
    );
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

// --- helpers ---------------------------------------------------------------------------

fn chromium() -> PathBuf {
    match std::env::var_os("RECEIPT_TEST_CHROMIUM") {
        Some(p) if Path::new(&p).is_file() => PathBuf::from(p),
        _ => panic!(
            "RECEIPT_TEST_CHROMIUM does not name Debian's chromium: the browser tests need it; \
             run `bash scripts/test.sh` (or `. scripts/test-env.sh`) first"
        ),
    }
}

fn browser(html: &Path, extra: &[&str]) -> Output {
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(format!("file://{}", html.display()))
        .output()
        .unwrap();
    assert!(out.status.success(), "chromium failed: {}", text(&out));
    out
}

/// The DOM after load, and every console line Chromium logged.
fn dump(html: &Path) -> (String, Vec<String>) {
    let out = browser(html, &["--enable-logging=stderr", "--v=0", "--dump-dom"]);
    let console = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.contains(":CONSOLE") || l.contains("Uncaught"))
        .map(str::to_owned)
        .collect();
    (String::from_utf8(out.stdout).unwrap(), console)
}

/// The DOM of a page that must load without a console message and run its script.
fn dump_clean(html: &Path) -> String {
    let (dom, console) = dump(html);
    assert!(console.is_empty(), "console messages: {console:#?}");
    assert!(
        dom.contains("data-ready=\"1\""),
        "the page script did not finish"
    );
    assert_eq!(
        dom.matches("<script").count(),
        1,
        "only the page's own script element exists"
    );
    dom
}

fn screenshot(html: &Path, name: &str) -> PathBuf {
    let png = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = fs::remove_file(&png);
    browser(
        html,
        &[
            &format!("--screenshot={}", png.display()),
            "--window-size=1400,1000",
            "--hide-scrollbars",
        ],
    );
    let bytes = fs::read(&png).unwrap();
    assert!(bytes.starts_with(b"\x89PNG"), "{} is a PNG", png.display());
    png
}

/// Runs `cargo-receipt receipt <args>` (this binary in its role) in `dir`.
fn cargo_receipt(dir: &Path, args: &[&str]) -> Output {
    Command::new(std::env::current_exe().unwrap())
        .env(AS_CARGO_RECEIPT, "1")
        .arg("cargo-receipt")
        .arg("receipt")
        .args(args)
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", dir.join("target"))
        .env("CARGO_TERM_COLOR", "never")
        .env("SOURCE_DATE_EPOCH", "1767322800")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .output()
        .unwrap()
}

fn ok(o: Output) -> Output {
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    o
}

/// The part of `dom` from the first `<svg class="{class}"` to its `</svg>`.
fn svg<'a>(dom: &'a str, class: &str) -> &'a str {
    let start = dom
        .find(&format!("<svg class=\"{class}\""))
        .unwrap_or_else(|| panic!("no svg.{class} in the page"));
    let end = start + dom[start..].find("</svg>").unwrap();
    &dom[start..end]
}

/// The text of every `<title>` in `s`, as the DOM serializes it.
fn titles(s: &str) -> Vec<&str> {
    s.match_indices("<title>")
        .map(|(i, _)| {
            let rest = &s[i + 7..];
            &rest[..rest.find("</title>").unwrap()]
        })
        .collect()
}

/// `s` as the DOM serializer writes text: `&`, `<`, `>` escaped.
fn dom_text(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Every check line of `report` is in the page with its verdict.
fn assert_checks(dom: &str, report: &receipt_primitives::check::Report) {
    let rows: Vec<&str> = dom
        .match_indices("<tr class=\"check\">")
        .map(|(i, _)| &dom[i..i + dom[i..].find("</tr>").unwrap()])
        .collect();
    assert_eq!(rows.len(), report.checks.len());
    for (row, c) in rows.iter().zip(&report.checks) {
        assert!(
            row.contains(&format!(
                "<span class=\"v v-{v}\">{v}</span>",
                v = c.verdict.as_str()
            )),
            "{row}"
        );
        assert!(
            row.contains(&format!("<code>{}</code>", c.id.as_str())),
            "{row}"
        );
        assert!(
            row.contains(&dom_text(&c.detail).replace('"', "&quot;"))
                || row.contains(&dom_text(&c.detail)),
            "{row}"
        );
    }
}

// --- tests -----------------------------------------------------------------------------

/// The console check is not vacuous: a script the policy does not pin is refused, and
/// Chromium says so on the console.
fn the_console_check_sees_a_blocked_script() {
    let t = tempfile::tempdir().unwrap();
    let html = receipt_report::html::page("t", "s", "<script>document.title='x'</script>");
    let path = t.path().join("blocked.html");
    fs::write(&path, html).unwrap();
    let (dom, console) = dump(&path);
    assert!(
        console
            .iter()
            .any(|l| l.contains("Content Security Policy")),
        "{console:#?}"
    );
    assert!(
        dom.contains("<title>t</title>"),
        "the injected script did not run"
    );
}

fn fixture_workspace(root: &Path) {
    cargo_workspace(root, &["app", "util", "base"]);
    write(
        root,
        "app/Cargo.toml",
        "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\nutil = { path = \"../util\" }\nbase = { path = \"../base\" }\n",
    );
    write(
        root,
        "app/src/main.rs",
        "fn main() {\n    println!(\"{}\", util::twice(base::one()));\n}\n",
    );
    write(
        root,
        "util/Cargo.toml",
        "[package]\nname = \"util\"\nversion = \"0.2.0\"\nedition = \"2021\"\n\n[dependencies]\nbase = { path = \"../base\" }\n",
    );
    write(
        root,
        "util/src/lib.rs",
        "pub fn twice(x: u32) -> u32 {\n    2 * x + base::one() - 1\n}\n",
    );
    write(
        root,
        "base/Cargo.toml",
        "[package]\nname = \"base\"\nversion = \"1.0.0\"\nedition = \"2021\"\n",
    );
    write(root, "base/src/lib.rs", "pub fn one() -> u32 {\n    1\n}\n");
}

fn cargo_chain_report_shows_graph_timeline_artifacts_and_checks() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path();
    fixture_workspace(root);
    git(root, &["init", "-q"]);
    git(root, &["add", "-A"]);
    git(root, &["commit", "-q", "-m", "fixture"]);
    ok(cargo_receipt(root, &["build", "--workspace"]));
    write(
        root,
        "base/src/lib.rs",
        "pub fn one() -> u32 {\n    1 + 0\n}\n",
    );
    ok(cargo_receipt(root, &["build", "--workspace"]));
    // `report` with the default directory, through the command's wiring.
    let out = ok(cargo_receipt(root, &["report", "-o", "report.html"]));
    assert!(String::from_utf8_lossy(&out.stderr).contains("verification passed"));
    let html = root.join("report.html");
    // Same input, same bytes.
    let again = receipt_report::render(&root.join("target/receipt")).unwrap();
    assert_eq!(fs::read_to_string(&html).unwrap(), again.html);

    let dom = dump_clean(&html);
    let graph =
        CanonicalGraph::from_json_bytes(&fs::read(root.join("target/receipt/graph.json")).unwrap())
            .unwrap();
    let g = svg(&dom, "graph");
    assert_eq!(g.matches(" data-i=\"").count(), graph.node_count());
    assert_eq!(g.matches("<path d=").count(), graph.edge_count());
    let mut shown: Vec<&str> = titles(g);
    shown.sort_unstable();
    assert_eq!(
        shown,
        graph.nodes().iter().map(String::as_str).collect::<Vec<_>>()
    );
    // All three packages are members of the workspace build.
    assert_eq!(g.matches("class=\"n m\"").count(), 3);
    // The chain: two entries, the newest first, the second one dirty.
    assert_eq!(dom.matches("<tr class=\"entry\">").count(), 2);
    assert!(dom.contains("<b>dirty</b>"));
    assert_eq!(svg(&dom, "tl").matches("<circle").count(), 2);
    // Artifacts and the verification of the directory.
    assert!(dom.contains("id=\"artifacts\"") && dom.contains("libbase-"));
    let report = receipt_protocol::verify::verify_dir(&root.join("target/receipt"));
    assert!(report.ok());
    assert_checks(&dom, &report);
    screenshot(&html, "report-build.png");
}

fn lake_chain_report_draws_the_module_graph() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path();
    write_tree(
        root,
        &[
            (
                "lakefile.toml",
                "name = \"demo\"\n[[lean_lib]]\nname = \"Demo\"\n",
            ),
            ("Demo.lean", "import Demo.A\nimport Demo.B\n"),
            ("Demo/A.lean", "import Demo.B\nimport Std.Data.HashMap\n"),
            ("Demo/B.lean", ""),
        ],
    );
    ok(cargo_receipt(
        root,
        &["lake", "build", "--project", ".", "--no-lake"],
    ));
    let out = root.join("lake.html");
    ok(cargo_receipt(
        root,
        &["report", ".lake/receipt", "-o", "lake.html"],
    ));
    let dom = dump_clean(&out);
    let graph =
        CanonicalGraph::from_json_bytes(&fs::read(root.join(".lake/receipt/graph.json")).unwrap())
            .unwrap();
    let g = svg(&dom, "graph");
    assert_eq!(g.matches(" data-i=\"").count(), graph.node_count());
    assert!(dom.contains("<code>lean-modules</code>"));
    // The root package's modules are highlighted; toolchain modules are external.
    assert_eq!(
        g.matches("class=\"n m\"").count(),
        3,
        "Demo, Demo.A, Demo.B"
    );
    assert!(
        g.matches("class=\"n x\"").count() >= 2,
        "Init and Std.Data.HashMap"
    );
    let report = receipt_protocol::verify::verify_dir(&root.join(".lake/receipt"));
    assert_checks(&dom, &report);
    screenshot(&out, "report-lake.png");
}

fn chain_of_a_1200_node_graph_draws_every_node() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("receipt");
    let g = synth::graph(1_200);
    synth::chain(&dir, &g, 3, 4);
    let html = t.path().join("big.html");
    let w = receipt_report::write(&dir, &html).unwrap();
    assert!(w.verified);
    assert!(w.bytes < 1_500_000, "{} bytes", w.bytes);
    let dom = dump_clean(&html);
    let s = svg(&dom, "graph");
    assert_eq!(s.matches(" data-i=\"").count(), 1_200);
    assert_eq!(s.matches("<path d=").count(), g.edge_count());
    assert_eq!(s.matches("class=\"n m\"").count(), 4);
    screenshot(&html, "report-build-1200.png");
}

fn chain_of_a_5000_node_graph_folds_the_deep_layers() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("receipt");
    let g = synth::graph(5_000);
    synth::chain(&dir, &g, 1, 4);
    let html = t.path().join("huge.html");
    let w = receipt_report::write(&dir, &html).unwrap();
    assert!(w.verified);
    assert!(w.bytes < 2_000_000, "{} bytes", w.bytes);
    let dom = dump_clean(&html);
    let s = svg(&dom, "graph");
    let attr = |name: &str| -> usize {
        let at = s.find(&format!(" {name}=\"")).unwrap() + name.len() + 3;
        s[at..at + s[at..].find('"').unwrap()].parse().unwrap()
    };
    assert_eq!(attr("data-nodes"), 5_000);
    let (shown, folds) = (attr("data-shown"), attr("data-folds"));
    assert_eq!(shown, receipt_report::graph::MAX_SHOWN);
    assert!(folds > 0);
    // The documented aggregate: one box per shown node and one fold box per deeper layer,
    // whose counts add up to the hidden nodes.
    assert_eq!(s.matches(" data-i=\"").count(), shown + folds);
    assert_eq!(s.matches("class=\"n f\"").count(), folds);
    let hidden: usize = titles(s)
        .iter()
        .filter_map(|t| t.strip_prefix('+'))
        .map(|t| {
            t[..t.find(' ').unwrap()]
                .replace('\u{2009}', "")
                .parse::<usize>()
                .unwrap()
        })
        .sum();
    assert_eq!(shown + hidden, 5_000);
    screenshot(&html, "report-build-5000.png");
}

fn hostile_graph_keys_render_as_text() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("receipt");
    let hostile_key = format!("{HOSTILE}@1.0.0");
    let attr_key = "\"><img src=x onerror=alert(2)>@0.1.0".to_owned();
    let g = CanonicalGraph::new(
        Vec::<String>::new(),
        [
            (attr_key.clone(), hostile_key.clone()),
            (attr_key.clone(), "plain@1.0.0".to_owned()),
        ],
    )
    .unwrap();
    synth::chain(&dir, &g, 1, 1);
    let html = t.path().join("hostile.html");
    receipt_report::write(&dir, &html).unwrap();
    let dom = dump_clean(&html);
    assert!(!dom.contains("<img"), "no element made from a key");
    let s = svg(&dom, "graph");
    let names = titles(s);
    assert!(
        names.contains(&dom_text(&hostile_key).as_str()),
        "{names:?}"
    );
    assert!(names.contains(&dom_text(&attr_key).as_str()), "{names:?}");
}

// The run fixture: the word-count pipeline of the runtime's example, a stage with a hostile
// name, work on a second thread, an event and a recorded violation.

#[receipt(stage = "read", hash_output)]
fn read_input(path: &Path) -> std::io::Result<String> {
    fs::read_to_string(path)
}

#[receipt(stage = "tokenize", hash(text), hash_output)]
fn tokenize(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

#[receipt(stage = "count", hash(words), hash_output)]
fn count(words: &[String]) -> std::collections::BTreeMap<String, u64> {
    let mut counts = std::collections::BTreeMap::new();
    for w in words {
        *counts.entry(w.clone()).or_insert(0) += 1;
    }
    tracing::info!(
        distinct = counts.len(),
        "counted words <img src=x onerror=alert(3)>"
    );
    counts
}

#[receipt(stage = "</script><script>alert(1)</script>")]
fn hostile_stage(n: u64) -> u64 {
    std::thread::sleep(std::time::Duration::from_millis(2));
    n + 1
}

#[receipt(stage = "write", hash(counts))]
fn write_report(
    counts: &std::collections::BTreeMap<String, u64>,
    out: &Path,
) -> std::io::Result<()> {
    let mut text = String::from("word,count\n");
    for (w, c) in counts {
        text.push_str(&format!("{w},{c}\n"));
    }
    fs::write(out, text)
}

#[receipt(stage = "wordcount", skip_all)]
fn wordcount(input: &Path, output: &Path) -> std::io::Result<usize> {
    let text = read_input(input)?;
    let words = tokenize(&text);
    let counts = count(&words);
    hostile_stage(1);
    write_report(&counts, output)?;
    Ok(counts.len())
}

fn run_fixture(dir: &Path) -> PathBuf {
    let input = dir.join("in.txt");
    fs::write(&input, "the cat sat on the mat\nthe dog sat on the log\n").unwrap();
    let ledger = dir.join("run.jsonl");
    // `write` may only follow the hostile stage: calling it first on the second thread is
    // recorded as a violation.
    let graph = StageGraph::builder().edge(HOSTILE, "write").build();
    let (layer, guard) = ReceiptLayer::builder(&ledger)
        .graph(graph)
        .policy(ViolationPolicy::Record)
        .program("wordcount")
        .build()
        .unwrap();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    tracing::dispatcher::with_default(&dispatch, || {
        wordcount(&input, &dir.join("out.csv")).unwrap();
        std::thread::scope(|s| {
            s.spawn(|| {
                tracing::dispatcher::with_default(&dispatch, || {
                    write_report(&Default::default(), &dir.join("empty.csv")).unwrap();
                    hostile_stage(2);
                });
            });
        });
    });
    drop(dispatch);
    guard.finish().unwrap();
    ledger
}

fn run_report_shows_stages_resources_events_and_checks() {
    let t = tempfile::tempdir().unwrap();
    let ledger = run_fixture(t.path());
    let html = t.path().join("run.html");
    ok(cargo_receipt(
        t.path(),
        &["report", ledger.to_str().unwrap(), "-o", "run.html"],
    ));
    // Same input, same bytes.
    assert_eq!(
        fs::read_to_string(&html).unwrap(),
        receipt_report::render(&ledger).unwrap().html
    );
    let dom = dump_clean(&html);
    let flame = svg(&dom, "flame");
    let names = titles(flame);
    for stage in ["wordcount", "read", "tokenize", "count", "write"] {
        assert!(
            names.iter().any(|n| n.starts_with(&format!("{stage} · "))),
            "{stage} in {names:?}"
        );
        assert!(dom.contains(&format!("<tr class=\"stage\"><td><code>{stage}</code>")));
    }
    // The hostile name is text, in the chart and in the table; no script came of it.
    let hostile = dom_text(HOSTILE);
    assert!(
        names
            .iter()
            .any(|n| n.starts_with(&format!("{hostile} · ")))
    );
    assert!(dom.contains(&format!("<tr class=\"stage\"><td><code>{hostile}</code>")));
    assert!(!dom.contains("<img"));
    // Two threads, one lane each.
    assert_eq!(flame.matches(">thread ").count(), 2);
    // The event and the violation are counted and listed.
    assert!(
        dom.contains("<b>1</b> violation, <b>1</b> event (INFO 1)"),
        "{dom}"
    );
    assert!(dom.contains("after &lt;start&gt; (policy record)"));
    let report = receipt_runtime::verify::verify_run(&ledger, None).report;
    assert!(report.ok());
    assert_checks(&dom, &report);
    screenshot(&html, "report-run.png");
}

fn run_report_of_a_large_ledger_aggregates_and_loads() {
    let t = tempfile::tempdir().unwrap();
    let ledger = t.path().join("large.jsonl");
    synth::run(&ledger, 20_000);
    let html = t.path().join("large.html");
    let w = receipt_report::write(&ledger, &html).unwrap();
    assert!(w.verified);
    let dom = dump_clean(&html);
    let flame = svg(&dom, "flame");
    let rects = flame.matches("<rect ").count();
    assert!(rects <= receipt_report::run::MAX_RECTS, "{rects}");
    assert!(
        dom.contains("merged into shaded blocks"),
        "narrow stages were merged"
    );
    assert!(dom.contains("<tr class=\"stage\"><td><code>leaf</code>"));
    screenshot(&html, "report-run-large.png");
}

fn tampered_run_ledger_shows_failed_checks() {
    let t = tempfile::tempdir().unwrap();
    let ledger = run_fixture(t.path());
    // Flip one byte of a stage name in the middle of the ledger.
    let mut bytes = fs::read(&ledger).unwrap();
    let at = bytes
        .windows(10)
        .position(|w| w == b"\"tokenize\"")
        .unwrap();
    bytes[at + 1] = b'T';
    fs::write(&ledger, bytes).unwrap();
    let html = t.path().join("tampered.html");
    let w = receipt_report::write(&ledger, &html).unwrap();
    assert!(!w.verified);
    let dom = dump_clean(&html);
    assert!(dom.contains("<span class=\"v v-FAIL\">stopped</span>"));
    assert!(dom.contains("<span class=\"v v-FAIL\">FAIL</span> verification FAILED"));
    let report = receipt_runtime::verify::verify_run(&ledger, None).report;
    assert_checks(&dom, &report);
}
