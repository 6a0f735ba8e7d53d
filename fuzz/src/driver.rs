//! Running a harness: a proptest runner with a fixed seed over a target's inputs (mutated
//! seeds, `arbitrary`-built documents, raw bytes), either for a number of cases (the short
//! run of `cargo test`) or for a wall-clock budget in chunks of cases (the long run).

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arbitrary::Unstructured;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};

use crate::mutate;

/// What a parser made of an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Parsed (and, where the target says so, checked).
    Accepted,
    /// Refused with an error.
    Rejected,
}

/// A harness: runs the parser on the bytes and checks every property; `Err` is the
/// property broken. A panic inside it is a failure too.
pub type Check = fn(&[u8]) -> Result<Verdict, String>;

/// Builds a structured input from `arbitrary` bytes and the target's seeds.
pub type Generate = fn(&mut Unstructured<'_>, &[Vec<u8>]) -> arbitrary::Result<Input>;

/// How a harness checks its parser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// No panic, no abort, and the parser's own invariants on what it accepts.
    NoPanic,
    /// No panic, and what is accepted is exactly its serialization: `parse(serialize(x))`
    /// gives `x` back and `serialize(parse(b))` gives `b` back.
    RoundTrip,
    /// Two implementations of one decision must agree.
    Differential,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::NoPanic => "no-panic",
            Kind::RoundTrip => "no-panic + round trip",
            Kind::Differential => "differential",
        })
    }
}

/// One fuzz target.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    /// Short name (also the corpus directory under `fuzz/corpus/`).
    pub name: &'static str,
    /// The parser it drives.
    pub parser: &'static str,
    /// How it checks it.
    pub kind: Kind,
    /// Tokens of the format inserted by the mutations, besides [`mutate::TOKENS`].
    pub dict: &'static [&'static [u8]],
    /// The harness.
    pub check: Check,
    /// The structured generator.
    pub generate: Generate,
}

/// One input of a harness.
#[derive(Clone)]
pub struct Input {
    /// The bytes given to the parser.
    pub bytes: Vec<u8>,
    /// The bytes are a serializer's output (or otherwise valid by construction), so the
    /// parser must accept them.
    pub must_accept: bool,
}

impl Input {
    /// Bytes the parser may accept or refuse.
    pub fn any(bytes: Vec<u8>) -> Input {
        Input {
            bytes,
            must_accept: false,
        }
    }

    /// Bytes the parser must accept.
    pub fn valid(bytes: Vec<u8>) -> Input {
        Input {
            bytes,
            must_accept: true,
        }
    }
}

impl fmt::Debug for Input {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Input {{ must_accept: {}, bytes ({}): b\"{}\" }}",
            self.must_accept,
            self.bytes.len(),
            self.bytes.escape_ascii()
        )
    }
}

/// The inputs of `target`: mostly mutated seeds, then `arbitrary`-built documents, then
/// raw bytes.
pub fn inputs(target: &Target, seeds: Arc<Vec<Vec<u8>>>) -> BoxedStrategy<Input> {
    let generate = target.generate;
    let for_gen = Arc::clone(&seeds);
    prop_oneof![
        6 => mutate::mutated(seeds, target.dict).prop_map(Input::any),
        3 => proptest::collection::vec(any::<u8>(), 0..4096).prop_map(move |raw| {
            let mut u = Unstructured::new(&raw);
            generate(&mut u, &for_gen).unwrap_or_else(|_| Input::any(raw.clone()))
        }),
        1 => proptest::collection::vec(any::<u8>(), 0..512).prop_map(Input::any),
    ]
    .boxed()
}

/// Runs `target` on one input: its check, and the must-accept rule.
///
/// # Errors
/// The property broken, as a sentence.
pub fn check_one(target: &Target, input: &Input) -> Result<Verdict, String> {
    let verdict = (target.check)(&input.bytes)?;
    if input.must_accept && verdict == Verdict::Rejected {
        return Err(format!(
            "{}: valid input (a serializer's output) was rejected",
            target.name
        ));
    }
    Ok(verdict)
}

/// A failing input, shrunk.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The property broken (or the panic message).
    pub reason: String,
    /// The smallest failing input found.
    pub input: Vec<u8>,
}

/// What a run did.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// Cases run.
    pub cases: u64,
    /// Of them, accepted by the parser.
    pub accepted: u64,
    /// The first failure, with the seed of its chunk.
    pub failure: Option<(u64, Failure)>,
}

fn rng(seed: u64) -> TestRng {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    bytes[8..16].copy_from_slice(b"receipt!");
    TestRng::from_seed(RngAlgorithm::ChaCha, &bytes)
}

/// Runs `cases` cases of `target` from the RNG seed `seed`.
///
/// # Errors
/// The shrunk failing input.
pub fn run(
    target: &Target,
    seeds: &Arc<Vec<Vec<u8>>>,
    cases: u32,
    seed: u64,
) -> Result<Stats, Failure> {
    let config = Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 4096,
        max_global_rejects: cases.saturating_mul(4),
        ..Config::default()
    };
    let mut runner = TestRunner::new_with_rng(config, rng(seed));
    let accepted = std::cell::Cell::new(0u64);
    let result = runner.run(&inputs(target, Arc::clone(seeds)), |input| match check_one(
        target, &input,
    ) {
        Ok(Verdict::Accepted) => {
            accepted.set(accepted.get() + 1);
            Ok(())
        }
        Ok(Verdict::Rejected) => Ok(()),
        Err(why) => Err(TestCaseError::fail(why)),
    });
    match result {
        Ok(()) => Ok(Stats {
            cases: u64::from(cases),
            accepted: accepted.get(),
            failure: None,
        }),
        Err(TestError::Fail(reason, input)) => Err(Failure {
            reason: reason.to_string(),
            input: input.bytes,
        }),
        Err(TestError::Abort(reason)) => Err(Failure {
            reason: format!("the runner aborted: {reason}"),
            input: Vec::new(),
        }),
    }
}

/// Runs `target` for `budget` of wall-clock time in chunks of `chunk` cases, chunk `k`
/// with RNG seed `first_seed + k`; stops at the first failure.
pub fn run_for(
    target: &Target,
    seeds: &Arc<Vec<Vec<u8>>>,
    budget: Duration,
    chunk: u32,
    first_seed: u64,
    mut progress: impl FnMut(&Stats, u64),
) -> Stats {
    let start = Instant::now();
    let mut stats = Stats::default();
    let mut seed = first_seed;
    while start.elapsed() < budget {
        match run(target, seeds, chunk, seed) {
            Ok(s) => {
                stats.cases += s.cases;
                stats.accepted += s.accepted;
            }
            Err(f) => {
                stats.failure = Some((seed, f));
                return stats;
            }
        }
        progress(&stats, seed);
        seed += 1;
    }
    stats
}
