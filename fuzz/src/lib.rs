//! Fuzz harnesses for every parser of the receipt formats, on the stable toolchain: proptest
//! runners over mutated seed documents and `arbitrary`-built inputs, each asserting no
//! panic and the parser's properties (round trips, differential agreement). `cargo test`
//! runs a short, fixed-seed pass of each; the `receipt-fuzz` binary runs them for hours
//! (see `fuzz/README.md`).

#![deny(missing_docs)]

pub mod corpus;
pub mod driver;
pub mod mutate;
pub mod targets;

/// Cases of the short run per target, unless `PROPTEST_CASES` says otherwise.
pub const SHORT_CASES: u32 = 400;

/// Targets whose cases cost about ten times the others' (a file written and a whole
/// verification run per case): their short run has a tenth of the cases.
pub const SLOW: &[&str] = &["run-verify"];

/// The number of cases of a short run: `PROPTEST_CASES` when set, else [`SHORT_CASES`].
pub fn short_cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(SHORT_CASES)
}
