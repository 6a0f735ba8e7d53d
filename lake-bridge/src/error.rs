//! The bridge's errors: each one sentence naming the file (relative to the project root)
//! and, where there is one, the field or line.

use std::io;

/// Why a Lake project could not be read or its receipt written.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or directory could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The path, relative to the project root where possible.
        path: String,
        /// The I/O error.
        source: io::Error,
    },
    /// A file of the project could not be read safely (a symlink, a FIFO, too large, a
    /// path outside the project).
    #[error("{0}")]
    Read(#[from] receipt_primitives::confine::ReadError),
    /// The directory has neither `lakefile.lean` nor `lakefile.toml`.
    #[error("{dir}: no lakefile.lean or lakefile.toml, so this is not a Lake package")]
    NoConfig {
        /// The directory.
        dir: String,
    },
    /// A package configuration field is invalid.
    #[error("{file}: field `{field}` {why}")]
    Config {
        /// The configuration file.
        file: String,
        /// The field (or `line N` for a `lakefile.lean`).
        field: String,
        /// What is wrong, as the end of a sentence.
        why: String,
    },
    /// `lake-manifest.json` is invalid.
    #[error("{file}: field `{field}` {why}")]
    Manifest {
        /// The manifest file.
        file: String,
        /// The field, as a JSON path.
        field: String,
        /// What is wrong, as the end of a sentence.
        why: String,
    },
    /// A module header does not parse.
    #[error("{file}:{line}:{column}: {message}")]
    Header {
        /// The source file.
        file: String,
        /// 1-based line.
        line: u32,
        /// 1-based column.
        column: u32,
        /// Lean's message.
        message: String,
    },
    /// A source file is not UTF-8.
    #[error("{file}: the file is not valid UTF-8, so Lean cannot read its header")]
    NotUtf8 {
        /// The source file.
        file: String,
    },
    /// An import of the project's own sources names a module whose file does not exist.
    #[error("{file}:{line}: bad import '{module}': no such file {expected}")]
    BadImport {
        /// The importing file.
        file: String,
        /// 1-based line of the import.
        line: u32,
        /// The imported module.
        module: String,
        /// Where its source should be.
        expected: String,
    },
    /// A library root or glob, or an executable root, names a module whose file is missing.
    #[error("{config}: {target} names module '{module}', but {expected} does not exist")]
    MissingRoot {
        /// The configuration file.
        config: String,
        /// The target, e.g. `lean_lib Foo`.
        target: String,
        /// The module.
        module: String,
        /// The expected source path.
        expected: String,
    },
    /// `lake` could not be started.
    #[error("could not run {program}: {source}")]
    Spawn {
        /// The program path.
        program: String,
        /// The I/O error.
        source: io::Error,
    },
    /// The project's tracked set could not be computed.
    #[error("tracked set of the project: {0}")]
    Tracked(String),
    /// A part of the receipt has no JSON form.
    #[error("cannot serialize {0}")]
    Serialize(String),
    /// The module graph could not be made canonical.
    #[error("module graph: {0}")]
    Graph(#[from] receipt_graph::GraphError),
    /// The receipt could not be serialized.
    #[error(transparent)]
    Receipt(#[from] receipt_protocol::receipt::ReceiptError),
    /// The ledger refused the append.
    #[error(transparent)]
    Ledger(#[from] receipt_protocol::ledger::LedgerError),
    /// A key file could not be used (missing, malformed, readable by others).
    #[error(transparent)]
    Key(#[from] receipt_attest::keys::KeyError),
    /// A policy file could not be used.
    #[error(transparent)]
    Policy(#[from] receipt_protocol::policy::PolicyError),
    /// The timestamp could not be determined.
    #[error("timestamp: {0}")]
    Timestamp(#[from] receipt_primitives::time::TimestampError),
}

impl Error {
    /// A closure making an [`Error::Io`] for `path`, for `map_err`.
    pub fn io(path: impl Into<String>) -> impl FnOnce(io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { path, source }
    }
}
