//! Canonical build graphs and their fingerprints: graph digest, the τ Chebyshev sketch and the modular rank kernel.
//!
//! A [`CanonicalGraph`] is the order-free form of a dependency graph; its
//! `graph.json` bytes and their SHA-256 are the exact graph digest. [`tau`]
//! and [`rank`] are cheap fingerprints that let two builds be compared
//! position by position. The byte-exact definitions are in `docs/SPEC.md` §4.

#![deny(missing_docs)]

mod canonical;
mod error;
mod rank;
mod round;
mod tau;

pub use canonical::{CanonicalGraph, GRAPH_SCHEMA};
pub use error::GraphError;
pub use rank::{
    KernelRun, PrimeRank, RANK_PRIMES, RankBudgetExceeded, RankLimits, RankReport, rank,
    rank_kernel, rank_within,
};
pub use round::format_fixed6;
pub use tau::{
    TAU_DEGREE, TAU_RECIPE, TauReport, TauSeed, chebyshev_moments, damped_partial_sums,
    first_divergence, seed_vector, tau,
};
