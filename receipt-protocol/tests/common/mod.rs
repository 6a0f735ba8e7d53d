//! Chains for the ledger tests: real records with real fingerprints, and (from the
//! testkit) re-sealing a tampered entry as an attacker who recomputes hashes forward would.
#![allow(dead_code)]

use std::path::Path;

use receipt_protocol::ledger::{BuildRecord, Ledger};
use receipt_protocol::verify::Report;
use receipt_testkit::sample::SampleRecord;

pub fn record(n: u64) -> BuildRecord {
    record_at(n, 1_700_000_000 + n as i64)
}

/// Build `n` stamped at Unix time `unix`: a small real graph, different for each build, with
/// its real fingerprint.
pub fn record_at(n: u64, unix: i64) -> BuildRecord {
    SampleRecord::new(n, "ledger-test 1.0").at(unix).build()
}

pub fn ledger_with(dir: &Path, n: u64) -> Ledger {
    let l = Ledger::create(dir).unwrap();
    for i in 1..=n {
        l.append(record(i)).unwrap();
    }
    l
}

pub fn show(r: &Report) -> String {
    r.checks.iter().map(|c| format!("{c}\n")).collect()
}

/// The failures of a report, as (check name, file).
pub fn failed(r: &Report) -> Vec<(String, Option<String>)> {
    r.failures()
        .map(|c| (c.id.as_str().to_owned(), c.file.clone()))
        .collect()
}
