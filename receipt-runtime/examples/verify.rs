//! Verifies a run ledger and prints one line per check.
//!
//! ```text
//! cargo run -p receipt-runtime --example verify -- LEDGER.jsonl [RECEIPT.json]
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let Some(ledger) = args.first() else {
        eprintln!("usage: verify LEDGER.jsonl [RECEIPT.json]");
        return ExitCode::from(2);
    };
    let report = receipt_runtime::verify::verify_run(ledger, args.get(1).map(PathBuf::as_path));
    print!("{report}");
    if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
