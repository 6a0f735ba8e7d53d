//! Command-line options every tool of the project shares (feature `cli`), so that
//! `cargo receipt` and `lake-receipt` speak one vocabulary.

use std::path::PathBuf;

use clap::Args;
use receipt_attest::PublicKey;
use receipt_attest::keys::KeyError;

use crate::policy::{Policy, PolicyError};
use crate::verify::KeyOptions;

/// The signature options of `verify` (docs/SPEC.md §14.9, §14.11).
#[derive(Debug, Clone, Default, Args)]
pub struct KeyArgs {
    /// Require every envelope and the checkpoint to be signed by this public key (SPKI PEM);
    /// repeatable: a signature by any of them counts.
    #[arg(long = "key", value_name = "PUB.pem")]
    pub key: Vec<PathBuf>,
    /// Also check that the chain extends the one this older signed checkpoint names.
    #[arg(long, value_name = "OLD_CHECKPOINT", requires = "key")]
    pub since: Option<PathBuf>,
    /// Check the expected values of this policy file (TOML, docs/SPEC.md §14.11).
    #[arg(long, value_name = "POLICY.toml", requires = "key")]
    pub policy: Option<PathBuf>,
}

impl KeyArgs {
    /// The trusted keys and the old checkpoint, as the verifier takes them.
    ///
    /// # Errors
    /// The first key file that cannot be read or is not a public key.
    pub fn key_options(&self) -> Result<KeyOptions, KeyError> {
        Ok(KeyOptions {
            keys: self
                .key
                .iter()
                .map(|p| PublicKey::load(p))
                .collect::<Result<_, _>>()?,
            since: self.since.clone(),
        })
    }

    /// The policy file, read and checked, when one is named.
    ///
    /// # Errors
    /// A policy file that cannot be read or holds a value that cannot be right.
    pub fn policy(&self) -> Result<Option<Policy>, PolicyError> {
        self.policy.as_deref().map(Policy::load).transpose()
    }
}
