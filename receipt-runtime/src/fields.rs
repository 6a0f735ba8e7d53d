//! The field names the `#[receipt]` attribute puts on its spans, shared by the layer that
//! reads them and the writer that records the argument names.

/// Marks a span as a stage; recorded with `ok` or `err` when the stage returns.
pub const OUTCOME: &str = "receipt.outcome";
/// Hex SHA-256 of the hashed arguments (or `!` and the reason they could not be hashed).
pub const INPUT: &str = "receipt.input";
/// Hex SHA-256 of the return value (or `!` and the reason).
pub const OUTPUT: &str = "receipt.output";
/// `Display` of the error of a stage that returned `Err`.
pub const ERROR: &str = "receipt.error";
/// The declared allowed predecessor.
pub const AFTER: &str = "receipt.after";
/// Prefix of the (never recorded) fields that list the argument names.
pub const ARG_PREFIX: &str = "receipt.arg.";
