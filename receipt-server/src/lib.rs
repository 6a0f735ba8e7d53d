//! `receipt-server`: a GitHub App that verifies the receipt artifact of every completed
//! workflow run and posts one check run on its commit, and a read-only API over the
//! verified builds and runs it stores (SQLite embedded, or PostgreSQL shared by replicas).
//!
//! The HTTP surface, the storage schema and the limits are specified in
//! `docs/SPEC.md` §15. The binary is a thin shell over [`cli::main_with_args`].
#![deny(missing_docs)]

pub mod api;
pub mod app;
pub mod cli;
pub mod config;
pub mod github;
pub mod http;
pub mod store;
pub mod verify;
pub mod webhook;

pub use app::App;
pub use config::Config;
pub use http::{router, serve, shutdown_signal};
