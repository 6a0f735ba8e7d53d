//! Writes a run of `CALLS` stages (two entries each) with `OnFinalize` durability, then
//! verifies it, printing wall-clock and process CPU time for both phases.
//!
//! ```text
//! cargo run --release -p receipt-runtime --example throughput -- 1000000 /tmp/run.jsonl
//! ```
//!
//! CPU time (user + system, all threads) is printed next to wall time because it is far
//! less sensitive to other load on the machine.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use receipt_runtime::{Durability, ReceiptLayer, receipt};
use tracing_subscriber::prelude::*;

#[receipt(stage = "work")]
fn work(x: u64) -> u64 {
    std::hint::black_box(x).wrapping_mul(31).rotate_left(7)
}

/// User plus system CPU time of the whole process so far.
fn cpu_time() -> Duration {
    // SAFETY: `getrusage` only writes the struct it is given.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: RUSAGE_SELF with a valid pointer.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &raw mut ru) };
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec.unsigned_abs())
            + Duration::from_micros(t.tv_usec.unsigned_abs())
    };
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

fn report(what: &str, entries: u64, wall: Duration, cpu: Duration) {
    println!(
        "{what}: {entries} entries, wall {:.3} s ({:.0} entries/s), CPU {:.3} s ({:.2} µs/entry)",
        wall.as_secs_f64(),
        entries as f64 / wall.as_secs_f64(),
        cpu.as_secs_f64(),
        cpu.as_secs_f64() * 1e6 / entries as f64,
    );
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (Some(calls), Some(path)) = (
        args.next().and_then(|c| c.parse::<u64>().ok()),
        args.next().map(PathBuf::from),
    ) else {
        eprintln!("usage: throughput CALLS LEDGER.jsonl");
        return ExitCode::from(2);
    };
    let entries = 2 * calls + 2;
    let (cpu0, t0) = (cpu_time(), Instant::now());
    let built = ReceiptLayer::builder(&path)
        .durability(Durability::OnFinalize)
        .build();
    let (layer, run) = match built {
        Ok(b) => b,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let caller0 = receipt_runtime::measure::thread_cpu_ns().value();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        for i in 0..calls {
            work(i);
        }
    });
    let caller = receipt_runtime::measure::thread_cpu_ns()
        .value()
        .zip(caller0)
        .map(|(b, a)| b.saturating_sub(a));
    if let Err(e) = run.finish() {
        eprintln!("{e}");
        return ExitCode::FAILURE;
    }
    report("write ", entries, t0.elapsed(), cpu_time() - cpu0);
    if let Some(ns) = caller {
        println!(
            "        calling thread: CPU {:.3} s ({:.2} µs/call)",
            ns as f64 * 1e-9,
            ns as f64 * 1e-3 / calls as f64
        );
    }
    let (cpu0, t0) = (cpu_time(), Instant::now());
    let r = receipt_runtime::verify::verify_run(&path, None);
    report("verify", entries, t0.elapsed(), cpu_time() - cpu0);
    if r.ok() {
        ExitCode::SUCCESS
    } else {
        print!("{r}");
        ExitCode::FAILURE
    }
}
