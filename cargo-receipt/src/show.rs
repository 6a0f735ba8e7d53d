//! `cargo receipt show`: a human summary of the latest receipt in an output directory.

use std::fmt::Write as _;
use std::path::Path;

use receipt_protocol::ledger::Ledger;
use receipt_protocol::receipt::Section;

use crate::exit::Error;

/// The summary text. It is read as stored; `cargo receipt verify` checks it.
///
/// # Errors
/// [`Error::Usage`] when the directory holds no receipt, [`Error::Ledger`] when the latest
/// one cannot be read.
pub fn show(dir: &Path) -> Result<String, Error> {
    let ledger = Ledger::existing(dir)?;
    let chain = ledger.head()?.len();
    let (line, manifest, r) = ledger
        .latest()?
        .ok_or_else(|| Error::Usage(format!("{} holds no receipt yet", dir.display())))?;
    let mut s = String::new();
    let mut row = |k: &str, v: String| {
        let _ = writeln!(s, "{k:<10} {v}");
    };
    row(
        "receipt",
        format!("{} ({} of {chain} on the chain)", line.path, chain),
    );
    row(
        "producer",
        format!("{} at {}", manifest.producer, manifest.timestamp),
    );
    if let Some(ext) = r.extensions.get(crate::build::EXTENSION) {
        let list = |k: &str| {
            ext.get(k)
                .and_then(|v| v.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default()
        };
        let text = |k: &str| {
            ext.get(k)
                .and_then(|v| v.as_str())
                .unwrap_or("?")
                .to_owned()
        };
        row("built", list("members"));
        row(
            "profile",
            format!("{} for {}", text("profile"), text("target")),
        );
    }
    row(
        "status",
        match &r.work {
            Section::Available(w) => format!(
                "{} (exit code {}, {} ms wall)",
                w.status,
                w.exit_code.map_or("none".to_owned(), |c| c.to_string()),
                w.wall_ms
            ),
            Section::Unavailable { reason } => format!("unknown: {reason}"),
        },
    );
    row(
        "source",
        match &r.source {
            Section::Available(src) => {
                let git = match &src.git {
                    Section::Available(g) => format!(
                        "commit {}{}",
                        g.commit.as_deref().unwrap_or("(none yet)"),
                        if g.dirty {
                            " with uncommitted changes"
                        } else {
                            ""
                        }
                    ),
                    Section::Unavailable { reason } => format!("no git commit ({reason})"),
                };
                format!(
                    "{git}; {} tracked files ({} mode), root {}",
                    src.tracked.files, src.tracked.mode, src.tracked.merkle_root
                )
            }
            Section::Unavailable { reason } => format!("unknown: {reason}"),
        },
    );
    row(
        "graph",
        match &r.graph {
            Section::Available(g) => format!(
                "{} package{}, {} edge{}, digest {}",
                g.nodes,
                plural(g.nodes),
                g.edges,
                plural(g.edges),
                g.digest
            ),
            Section::Unavailable { reason } => format!("unknown: {reason}"),
        },
    );
    row(
        "tau",
        match &r.tau {
            Section::Available(t) => t
                .get("tau")
                .and_then(|v| v.as_str())
                .unwrap_or("?")
                .to_owned(),
            Section::Unavailable { reason } => format!("unknown: {reason}"),
        },
    );
    row(
        "rank",
        match &r.rank {
            Section::Available(v) => v
                .get("primes")
                .and_then(|p| p.as_array())
                .map(|ps| {
                    ps.iter()
                        .map(|p| format!("{} mod {}", p["rank"], p["p"]))
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_else(|| "?".into()),
            Section::Unavailable { reason } => format!("unknown: {reason}"),
        },
    );
    row(
        "artifacts",
        match &r.artifacts {
            Section::Available(a) => format!(
                "{} files, {} bytes",
                a.files.len(),
                a.files.iter().map(|f| f.size).sum::<u64>()
            ),
            Section::Unavailable { reason } => format!("unknown: {reason}"),
        },
    );
    Ok(s)
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}
