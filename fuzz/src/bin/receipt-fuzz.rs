//! Long fuzzing runs: `receipt-fuzz run TARGET... --seconds N`, `receipt-fuzz list`,
//! `receipt-fuzz corpus` (see `fuzz/README.md`).

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use receipt_fuzz::{corpus, driver, targets};

const USAGE: &str = "usage: receipt-fuzz list | corpus | check TARGET FILE | run [--seconds N] [--seed S] [--chunk C] TARGET... (or all)";

/// Runs one target's harness on one file (a saved finding) and prints the outcome.
fn check(name: &str, file: &str) -> ExitCode {
    let Some(target) = targets::target(name) else {
        eprintln!("receipt-fuzz: no target {name:?} (see `receipt-fuzz list`)");
        return ExitCode::from(2);
    };
    let bytes = match std::fs::read(file) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("receipt-fuzz: cannot read {file}: {e}");
            return ExitCode::from(2);
        }
    };
    match driver::check_one(target, &driver::Input::any(bytes)) {
        Ok(v) => {
            println!("{name}: {v:?}");
            ExitCode::SUCCESS
        }
        Err(why) => {
            println!("{name}: FINDING: {why}");
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("list") => {
            for t in targets::TARGETS {
                println!("{:<14} {:<22} {}", t.name, t.kind.to_string(), t.parser);
            }
            ExitCode::SUCCESS
        }
        Some("corpus") => match corpus::make(&corpus::root()) {
            Ok(()) => {
                println!("corpus written to {}", corpus::root().display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("receipt-fuzz: cannot write the corpus: {e}");
                ExitCode::FAILURE
            }
        },
        Some("run") => run(&args[1..]),
        Some("check") if args.len() == 3 => check(&args[1], &args[2]),
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &[String]) -> ExitCode {
    let mut seconds: u64 = std::env::var("RECEIPT_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let mut seed: u64 = 1;
    let mut chunk: u32 = 1000;
    let mut names = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut num = |what: &str| -> Option<u64> {
            let v = it.next().and_then(|v| v.parse().ok());
            if v.is_none() {
                eprintln!("receipt-fuzz: {what} needs a number");
            }
            v
        };
        match a.as_str() {
            "--seconds" => match num("--seconds") {
                Some(v) => seconds = v,
                None => return ExitCode::from(2),
            },
            "--seed" => match num("--seed") {
                Some(v) => seed = v,
                None => return ExitCode::from(2),
            },
            "--chunk" => match num("--chunk") {
                Some(v) => chunk = u32::try_from(v).unwrap_or(u32::MAX).max(1),
                None => return ExitCode::from(2),
            },
            "all" => names.extend(targets::TARGETS.iter().map(|t| t.name.to_owned())),
            n => names.push(n.to_owned()),
        }
    }
    if names.is_empty() {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    }
    // Panics are caught and shrunk by the runner; their messages would flood the log.
    std::panic::set_hook(Box::new(|_| {}));
    let mut failed = false;
    for name in &names {
        let Some(target) = targets::target(name) else {
            eprintln!("receipt-fuzz: no target {name:?} (see `receipt-fuzz list`)");
            return ExitCode::from(2);
        };
        let seeds = Arc::new(corpus::seeds(name));
        let start = Instant::now();
        let mut last = Instant::now();
        let stats = driver::run_for(
            target,
            &seeds,
            Duration::from_secs(seconds),
            chunk,
            seed,
            |s, sd| {
                if last.elapsed() >= Duration::from_secs(60) {
                    last = Instant::now();
                    println!(
                        "progress target={name} elapsed_s={} cases={} accepted={} seed={sd}",
                        start.elapsed().as_secs(),
                        s.cases,
                        s.accepted
                    );
                }
            },
        );
        println!(
            "done target={name} elapsed_s={:.0} cases={} accepted={} seeds={}..{} finding={}",
            start.elapsed().as_secs_f64(),
            stats.cases,
            stats.accepted,
            seed,
            seed + stats.cases / u64::from(chunk),
            stats.failure.is_some()
        );
        if let Some((sd, f)) = &stats.failure {
            failed = true;
            println!(
                "FINDING target={name} seed={sd} chunk={chunk}\nreason: {}\ninput ({} bytes): b\"{}\"",
                f.reason,
                f.input.len(),
                f.input.escape_ascii()
            );
            let dir = std::path::Path::new("fuzz-findings");
            if std::fs::create_dir_all(dir).is_ok() {
                let _ = std::fs::write(dir.join(format!("{name}-{sd}.bin")), &f.input);
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
