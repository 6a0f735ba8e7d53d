//! Counts words with every stage recorded in a run ledger, then verifies the run.
//!
//! ```text
//! cargo run -p receipt-runtime --example wordcount -- INPUT.txt OUTPUT.csv LEDGER.jsonl
//! ```

mod pipeline;

use std::path::PathBuf;
use std::process::ExitCode;

use receipt_runtime::ReceiptLayer;
use tracing_subscriber::prelude::*;

fn main() -> ExitCode {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let [input, output, ledger] = args.as_slice() else {
        eprintln!("usage: wordcount INPUT OUTPUT.csv LEDGER.jsonl");
        return ExitCode::from(2);
    };
    let (layer, run) = match ReceiptLayer::builder(ledger).build() {
        Ok(x) => x,
        Err(e) => {
            eprintln!("wordcount: {e}");
            return ExitCode::FAILURE;
        }
    };
    tracing_subscriber::registry().with(layer).init();
    let result = pipeline::run(input, output);
    let status = if result.is_ok() {
        receipt_runtime::RunStatus::Ok
    } else {
        receipt_runtime::RunStatus::Failed
    };
    let outcome = match run.finish_with(status) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("wordcount: {e}");
            return ExitCode::FAILURE;
        }
    };
    match result {
        Ok(n) => println!("{n} distinct words written to {}", output.display()),
        Err(e) => eprintln!("wordcount: {}: {e}", input.display()),
    }
    println!("trajectory {}", outcome.receipt.trajectory_sha256);
    let report = receipt_runtime::verify::verify_run(&outcome.ledger, None);
    print!("{report}");
    if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
