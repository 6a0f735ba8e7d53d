//! Receipts for Lean 4 / Lake projects, read from the project's files.
