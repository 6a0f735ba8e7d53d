//! Verification policies (docs/SPEC.md §14.11): a TOML file of expected values — builder
//! id, source repository, allowed commits or branches, allowed signing keys, a minimum
//! chain length, checks that must have been made — each checked as a named `policy.*`
//! check against what the signatures established ([`crate::verify::SignedFacts`]).
//!
//! ```toml
//! schema = "tau-crystal.policy/1"
//! builder_id = "https://receipt.dev/cargo-receipt@0.1.0"
//! repository = "https://example.com/app.git"
//! branches = ["main"]
//! commits = ["0123456789abcdef0123456789abcdef01234567"]
//! key_ids = ["06e3fd8fda29bb60ab59557de61edb0aecdb231134be30e75b455f8e1b792fa9"]
//! min_chain_length = 2
//! required_checks = ["artifacts.hashes", "source.tree"]
//! ```
//!
//! Every key but `schema` is optional; a key that is absent is not checked.

use std::path::{Path, PathBuf};

use receipt_primitives::check::{CheckId, Report, Verdict, echo};
use receipt_primitives::tomlfile::{self, TomlError};
use serde::Deserialize;

use crate::limits;
use crate::verify::SignedFacts;
use crate::verify::fields::is_git_commit;

/// The `schema` value of a policy file.
pub const POLICY_SCHEMA: &str = "tau-crystal.policy/1";

/// A verification policy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Always [`POLICY_SCHEMA`].
    pub schema: String,
    /// Every signed provenance statement's `runDetails.builder.id`.
    pub builder_id: Option<String>,
    /// Every signed provenance statement's `externalParameters.source.repository`.
    pub repository: Option<String>,
    /// Branches the latest entry's commit may be on (its tip or an ancestor of it).
    pub branches: Option<Vec<String>>,
    /// Commits the latest entry may have been built from.
    pub commits: Option<Vec<String>>,
    /// Key ids (docs/SPEC.md §14.2) of which at least one must have signed every envelope
    /// and the checkpoint.
    pub key_ids: Option<Vec<String>>,
    /// The least number of entries the chain may have.
    pub min_chain_length: Option<u64>,
    /// Check ids that must appear in the report (made, and therefore passed, since any
    /// failure fails the verification anyway).
    pub required_checks: Option<Vec<String>>,
}

/// Why a policy file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// Unreadable, or not a TOML policy.
    #[error(transparent)]
    File(#[from] TomlError),
    /// A field with a value that cannot be right.
    #[error("{}: field `{field}` {why}", path.display())]
    Field {
        /// The file.
        path: PathBuf,
        /// The field.
        field: &'static str,
        /// What is wrong.
        why: String,
    },
}

impl Policy {
    /// Reads a policy file (a regular file, at most [`limits::POLICY_BYTES`]).
    ///
    /// # Errors
    /// [`PolicyError`] naming the file and field.
    pub fn load(path: &Path) -> Result<Policy, PolicyError> {
        let p: Policy = tomlfile::read(path, limits::POLICY_BYTES, "a policy file")?;
        p.check(path)
    }

    /// Parses and checks a policy's text; `path` names it in errors.
    ///
    /// # Errors
    /// [`PolicyError`] naming the field.
    pub fn parse(text: &str, path: &Path) -> Result<Policy, PolicyError> {
        let p: Policy = tomlfile::parse(text, path)?;
        p.check(path)
    }

    /// Checks the values serde cannot: the schema and each field's form.
    fn check(self, path: &Path) -> Result<Policy, PolicyError> {
        let p = self;
        let field = |field: &'static str, why: String| PolicyError::Field {
            path: path.to_owned(),
            field,
            why,
        };
        if p.schema != POLICY_SCHEMA {
            return Err(field(
                "schema",
                format!("is {:?}, not {POLICY_SCHEMA:?}", echo(&p.schema)),
            ));
        }
        for c in p.commits.iter().flatten() {
            if !is_git_commit(c) {
                return Err(field(
                    "commits",
                    format!(
                        "holds {:?}, not a 40- or 64-digit lowercase hex commit id",
                        echo(c)
                    ),
                ));
            }
        }
        for b in p.branches.iter().flatten() {
            if b.is_empty()
                || b.starts_with('-')
                || b.contains("..")
                || b.contains(char::is_whitespace)
            {
                return Err(field(
                    "branches",
                    format!("holds {:?}, not a branch name", echo(b)),
                ));
            }
        }
        for k in p.key_ids.iter().flatten() {
            if receipt_primitives::Digest::from_hex(k).is_err() {
                return Err(field(
                    "key_ids",
                    format!(
                        "holds {:?}, not a key id (64 lowercase hex digits)",
                        echo(k)
                    ),
                ));
            }
        }
        for c in p.required_checks.iter().flatten() {
            if c.parse::<CheckId>().is_err() {
                return Err(field(
                    "required_checks",
                    format!("holds {:?}, not a check id", echo(c)),
                ));
            }
        }
        for (name, list) in [
            ("branches", &p.branches),
            ("commits", &p.commits),
            ("key_ids", &p.key_ids),
        ] {
            if list.as_ref().is_some_and(Vec::is_empty) {
                return Err(field(
                    name,
                    "is an empty list, which nothing could satisfy; leave it out instead".into(),
                ));
            }
        }
        Ok(p)
    }

    /// Adds the policy's checks to `report`, which holds every other check already (so
    /// `required_checks` sees them). `on_branch(commit, branch)` says whether `commit` is on
    /// `branch` (`None` when that cannot be told, e.g. without a repository).
    pub fn evaluate(
        &self,
        facts: &SignedFacts,
        report: &mut Report,
        on_branch: &dyn Fn(&str, &str) -> Option<bool>,
    ) {
        let needs_keys = |report: &mut Report, id: CheckId| {
            report.push(
                id,
                Verdict::Unknown,
                None,
                "the policy constrains signed statements, so it needs at least one --key",
            );
        };
        if let Some(want) = &self.builder_id {
            if !facts.keys_given {
                needs_keys(report, CheckId::PolicyBuilder);
            } else {
                statements_say(
                    report,
                    facts,
                    CheckId::PolicyBuilder,
                    "builder id",
                    want,
                    |s| Some(s.builder_id.as_str()),
                );
            }
        }
        if let Some(want) = &self.repository {
            if !facts.keys_given {
                needs_keys(report, CheckId::PolicyRepository);
            } else {
                statements_say(
                    report,
                    facts,
                    CheckId::PolicyRepository,
                    "source repository",
                    want,
                    |s| s.repository.as_deref(),
                );
            }
        }
        if self.branches.is_some() || self.commits.is_some() {
            self.source(facts, report, on_branch);
        }
        if let Some(allowed) = &self.key_ids {
            if !facts.keys_given {
                needs_keys(report, CheckId::PolicyKeys);
            } else {
                let bad: Vec<&str> = facts
                    .signers
                    .iter()
                    .filter(|(_, ids)| !ids.iter().any(|k| allowed.contains(&k.to_string())))
                    .map(|(f, _)| f.as_str())
                    .collect();
                match bad.first() {
                    None if !facts.signers.is_empty() => report.push(
                        CheckId::PolicyKeys,
                        Verdict::Pass,
                        None,
                        format!(
                            "every one of the {} signed files verified is signed by a key the policy allows",
                            facts.signers.len()
                        ),
                    ),
                    None => report.push(
                        CheckId::PolicyKeys,
                        Verdict::Fail,
                        None,
                        "no signed file verified, so none is signed by a key the policy allows",
                    ),
                    Some(f) => report.push(
                        CheckId::PolicyKeys,
                        Verdict::Fail,
                        Some(f),
                        format!(
                            "{f} is signed by none of the policy's key_ids ({} file{} in all)",
                            bad.len(),
                            if bad.len() == 1 { "" } else { "s" }
                        ),
                    ),
                }
            }
        }
        if let Some(min) = self.min_chain_length {
            let n = facts.chain_length;
            report.push(
                CheckId::PolicyChainLength,
                if n >= min {
                    Verdict::Pass
                } else {
                    Verdict::Fail
                },
                None,
                format!(
                    "the chain has {n} entr{}; the policy asks for at least {min}",
                    if n == 1 { "y" } else { "ies" }
                ),
            );
        }
        if let Some(required) = &self.required_checks {
            let missing: Vec<&str> = required
                .iter()
                .filter(|c| {
                    let id = c.parse::<CheckId>().ok();
                    !report.checks.iter().any(|k| Some(k.id) == id)
                })
                .map(String::as_str)
                .collect();
            if missing.is_empty() {
                report.push(
                    CheckId::PolicyChecks,
                    Verdict::Pass,
                    None,
                    format!(
                        "every check the policy requires was made: {}",
                        required.join(", ")
                    ),
                );
            } else {
                report.push(
                    CheckId::PolicyChecks,
                    Verdict::Fail,
                    None,
                    format!(
                        "the policy requires checks that were not made: {} (give the verify options that make them)",
                        missing.join(", ")
                    ),
                );
            }
        }
    }

    /// `policy.source`: the latest entry's commit is an allowed one, or on an allowed branch.
    fn source(
        &self,
        facts: &SignedFacts,
        report: &mut Report,
        on_branch: &dyn Fn(&str, &str) -> Option<bool>,
    ) {
        let Some(commit) = &facts.latest_commit else {
            report.push(
                CheckId::PolicySource,
                Verdict::Fail,
                None,
                "the policy constrains the source commit, but the latest entry records none",
            );
            return;
        };
        if self.commits.iter().flatten().any(|c| c == commit) {
            report.push(
                CheckId::PolicySource,
                Verdict::Pass,
                None,
                format!("the latest entry was built from commit {commit}, which the policy allows"),
            );
            return;
        }
        let mut unknown = Vec::new();
        for b in self.branches.iter().flatten() {
            match on_branch(commit, b) {
                Some(true) => {
                    report.push(
                        CheckId::PolicySource,
                        Verdict::Pass,
                        None,
                        format!("the latest entry's commit {commit} is on branch {b}, which the policy allows"),
                    );
                    return;
                }
                Some(false) => {}
                None => unknown.push(b.as_str()),
            }
        }
        if unknown.is_empty() {
            report.push(
                CheckId::PolicySource,
                Verdict::Fail,
                None,
                format!("the latest entry's commit {} is neither one of the policy's commits nor on one of its branches", echo(commit)),
            );
        } else {
            report.push(
                CheckId::PolicySource,
                Verdict::Unknown,
                None,
                format!(
                    "whether commit {} is on branch {} cannot be told without the repository (verify with --source in a clone that has the branch)",
                    echo(commit),
                    unknown.join(", ")
                ),
            );
        }
    }
}

/// Every verified statement gives `want` for `what`; FAIL names the first that does not.
fn statements_say(
    report: &mut Report,
    facts: &SignedFacts,
    id: CheckId,
    what: &str,
    want: &str,
    get: impl Fn(&crate::verify::StatementFacts) -> Option<&str>,
) {
    if facts.statements.is_empty() {
        report.push(
            id,
            Verdict::Unknown,
            None,
            format!("no signed provenance statement verified, so the {what} cannot be checked"),
        );
        return;
    }
    match facts.statements.iter().find(|s| get(s) != Some(want)) {
        None => report.push(
            id,
            Verdict::Pass,
            None,
            format!(
                "all {} signed statements name {what} {want}",
                facts.statements.len()
            ),
        ),
        Some(s) => report.push(
            id,
            Verdict::Fail,
            Some(&s.file),
            format!(
                "{} names {what} {}, but the policy requires {}",
                s.file,
                get(s).map_or_else(|| "(none)".to_owned(), |v| format!("{:?}", echo(v))),
                echo(want)
            ),
        ),
    }
}
