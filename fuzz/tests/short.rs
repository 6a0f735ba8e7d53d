//! The short run of every harness (fixed seed, `PROPTEST_CASES` cases, default 400), and
//! the corpus check: every seed is a file its parser accepts.

use std::sync::Arc;

use receipt_fuzz::driver::{self, Input, Verdict};
use receipt_fuzz::{corpus, short_cases, targets};

fn short(name: &str) {
    let target = targets::target(name).expect("a target");
    let seeds = Arc::new(corpus::seeds(name));
    assert!(
        !seeds.is_empty(),
        "fuzz/corpus/{name}/ is empty; run `receipt-fuzz corpus`"
    );
    for s in seeds.iter() {
        assert_eq!(
            driver::check_one(target, &Input::valid(s.clone())),
            Ok(Verdict::Accepted),
            "a seed of {name} is not accepted"
        );
    }
    let cases = if receipt_fuzz::SLOW.contains(&name) {
        (short_cases() / 10).max(1)
    } else {
        short_cases()
    };
    if let Err(f) = driver::run(target, &seeds, cases, 0x5eed) {
        panic!(
            "{name}: {}\nminimal input ({} bytes): b\"{}\"",
            f.reason,
            f.input.len(),
            f.input.escape_ascii()
        );
    }
}

macro_rules! short_runs {
    ($($test:ident => $name:literal),* $(,)?) => {
        $(#[test]
        fn $test() {
            short($name);
        })*

        #[test]
        fn every_target_has_a_short_run() {
            let mut tested = vec![$($name),*];
            tested.sort_unstable();
            let mut all: Vec<&str> = targets::TARGETS.iter().map(|t| t.name).collect();
            all.sort_unstable();
            assert_eq!(tested, all);
        }
    };
}

short_runs! {
    manifest => "manifest",
    receipt => "receipt",
    chain_head => "chain-head",
    graph => "graph",
    proof => "proof",
    run_ledger => "run-ledger",
    run_verify => "run-verify",
    run_head => "run-head",
    lean_header => "lean-header",
    lakefile_toml => "lakefile-toml",
    lakefile_lean => "lakefile-lean",
    git_index => "git-index",
    lake_manifest => "lake-manifest",
}
