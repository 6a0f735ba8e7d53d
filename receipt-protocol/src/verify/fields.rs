//! The rules of each receipt's own fields (docs/SPEC.md §5.1) that no hash binds: a
//! producer that recomputes every hash forward can still not write a receipt breaking them.

use receipt_primitives::check::echo;
use receipt_primitives::confine::check_path;

use super::tally::Tally;
use super::{CheckId, Entry, Report, Verdict};
use crate::receipt::{Receipt, Section};

/// The kinds of producer this version knows.
pub const KNOWN_KINDS: [&str; 2] = ["cargo", "lake"];

/// The work statuses of §5.1.
const STATUSES: [&str; 3] = ["success", "failed", "not-run"];

/// Every field check, in report order.
pub(super) fn check(report: &mut Report, entries: &[Entry]) {
    per_receipt(
        report,
        entries,
        CheckId::BuildKind,
        "every receipt's kind is one this version knows",
        |r, _| {
            (!KNOWN_KINDS.contains(&r.kind.as_str())).then(|| {
                format!(
                    "field kind is {:?}, not one of {}",
                    echo(&r.kind),
                    KNOWN_KINDS.join(", ")
                )
            })
        },
    );
    per_receipt(
        report,
        entries,
        CheckId::BuildProducer,
        "every receipt's producer is its manifest's",
        |r, e| {
            let (_, m) = e.manifest.as_ref()?;
            (r.producer != m.producer).then(|| {
                format!(
                    "field producer is {:?}, but the manifest's producer is {:?}",
                    echo(&r.producer),
                    echo(&m.producer)
                )
            })
        },
    );
    per_receipt(
        report,
        entries,
        CheckId::BuildSource,
        "every source section agrees with its manifest and has a well-formed commit",
        source,
    );
    per_receipt(
        report,
        entries,
        CheckId::BuildWork,
        "every work section's status agrees with its exit code",
        |r, _| work(r),
    );
    per_receipt(
        report,
        entries,
        CheckId::BuildArtifacts,
        "every artifact list has valid, unique paths in byte order",
        |r, _| artifacts(r),
    );
}

/// Runs `rule` on every readable receipt: `Some(sentence)` is a FAIL.
fn per_receipt(
    report: &mut Report,
    entries: &[Entry],
    id: CheckId,
    what: &str,
    rule: impl Fn(&Receipt, &Entry) -> Option<String>,
) {
    let mut t = Tally::new(id);
    for e in entries {
        let Some(r) = &e.receipt else { continue };
        match rule(r, e) {
            None => t.pass(),
            Some(why) => t.fail(
                Verdict::Fail,
                &e.line.path,
                format!("{}: {why}", e.line.path),
            ),
        }
    }
    t.finish(report, what);
}

/// Whether `s` is a git object id: 40 (SHA-1) or 64 (SHA-256) lowercase hex digits.
pub fn is_git_commit(s: &str) -> bool {
    matches!(s.len(), 40 | 64) && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn source(r: &Receipt, e: &Entry) -> Option<String> {
    let Section::Available(s) = &r.source else {
        return None;
    };
    if !matches!(s.tracked.mode.as_str(), "git" | "walk") {
        return Some(format!(
            "field source.tracked.mode is {:?}, not \"git\" or \"walk\"",
            echo(&s.tracked.mode)
        ));
    }
    if let Some((_, m)) = &e.manifest
        && s.tracked.merkle_root != m.merkle_root
    {
        return Some(format!(
            "field source.tracked.merkle_root is {}, but the manifest's merkle_root is {}",
            s.tracked.merkle_root, m.merkle_root
        ));
    }
    if let Section::Available(g) = &s.git
        && let Some(c) = &g.commit
        && !is_git_commit(c)
    {
        return Some(format!(
            "field source.git.commit is {:?}, not a 40- or 64-digit lowercase hex commit id",
            echo(c)
        ));
    }
    None
}

fn work(r: &Receipt) -> Option<String> {
    let Section::Available(w) = &r.work else {
        return None;
    };
    if !STATUSES.contains(&w.status.as_str()) {
        return Some(format!(
            "field work.status is {:?}, not one of {}",
            echo(&w.status),
            STATUSES.join(", ")
        ));
    }
    let agrees = match (w.status.as_str(), w.exit_code) {
        ("success", code) => code == Some(0),
        // A build tool may exit 0 and still report a failure (cargo's build-finished).
        ("failed", _) => true,
        ("not-run", code) => code.is_none(),
        _ => false,
    };
    (!agrees).then(|| {
        format!(
            "field work.status is {:?} but work.exit_code is {}",
            w.status,
            w.exit_code
                .map_or_else(|| "null".to_owned(), |c| c.to_string())
        )
    })
}

fn artifacts(r: &Receipt) -> Option<String> {
    let Section::Available(a) = &r.artifacts else {
        return None;
    };
    if let Err(why) = check_path(&a.root) {
        return Some(format!("field artifacts.root {:?} {why}", echo(&a.root)));
    }
    for (i, f) in a.files.iter().enumerate() {
        if let Err(why) = check_path(&f.path) {
            return Some(format!(
                "field artifacts.files[{i}].path {:?} {why}",
                echo(&f.path)
            ));
        }
    }
    for (i, pair) in a.files.windows(2).enumerate() {
        let (x, y) = (&pair[0].path, &pair[1].path);
        if x == y {
            return Some(format!(
                "field artifacts.files lists {:?} twice (entries {i} and {})",
                echo(x),
                i + 1
            ));
        }
        if x.as_bytes() > y.as_bytes() {
            return Some(format!(
                "field artifacts.files is not sorted by path bytes: {:?} comes before {:?}",
                echo(x),
                echo(y)
            ));
        }
    }
    None
}
