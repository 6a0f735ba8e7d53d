//! Receipts for Lean 4 / Lake projects, read from the project's files: the same manifest,
//! receipt and chain head as Cargo builds, from the same protocol core and graph fingerprint.
//!
//! No Lean toolchain is needed. The bridge reads `lakefile.toml` (or scans `lakefile.lean`),
//! `lake-manifest.json` and `lean-toolchain`, parses every module header with a port of
//! Lean's fast header parser, builds the module graph, and runs `lake build` only when `lake`
//! is on `PATH`. The formats are specified in `docs/SPEC.md` §9.
//!
//! ```no_run
//! use lake_bridge::emit::{build, BuildOptions};
//! # fn main() -> Result<(), lake_bridge::Error> {
//! let outcome = build(&BuildOptions {
//!     project: "my-lean-project".into(),
//!     out: None,
//!     lake: lake_bridge::LakeProgram::NotRun("not running lake in this example".into()),
//!     lake_args: Vec::new(),
//!     timestamp: receipt_primitives::Timestamp::now_or_source_date_epoch()?,
//! })?;
//! println!("receipt #{} in {}", outcome.appended.seq, outcome.out_dir.display());
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

pub mod cli;
pub mod config;
pub mod emit;
pub mod error;
pub mod glob;
pub mod header;
pub mod lake;
pub mod lake_manifest;
pub mod modules;
pub mod name;
pub mod project;

pub use cli::{LakeCommand, run, run_cli};
pub use emit::LakeProgram;
pub use error::Error;
