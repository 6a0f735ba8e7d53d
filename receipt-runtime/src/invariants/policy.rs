//! The run policy file (TOML, docs/SPEC.md §16.11): what it may say and how it is read.

use std::collections::BTreeSet;
use std::path::Path;

use receipt_primitives::check::echo;
use serde::Deserialize;

/// The largest run policy file read (1 MiB).
pub const MAX_POLICY_BYTES: u64 = 1 << 20;

/// The event levels, from least to most severe.
pub const LEVELS: [&str; 5] = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"];

/// A run policy file, as read (docs/SPEC.md §16.11).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    #[serde(default)]
    stages: RawStages,
    #[serde(default)]
    evidence: RawEvidence,
    #[serde(default)]
    finalize: RawFinalize,
    #[serde(default, rename = "invariant")]
    invariants: Vec<RawInvariant>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStages {
    #[serde(default)]
    required: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEvidence {
    #[serde(default)]
    required: Vec<String>,
    #[serde(default)]
    sealed: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFinalize {
    decision_stage: Option<String>,
    decision_evidence: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInvariant {
    id: String,
    description: Option<String>,
    stage: Option<String>,
    forbidden: Option<bool>,
    min_calls: Option<u64>,
    max_calls: Option<u64>,
    max_failures: Option<u64>,
    max_event_level: Option<String>,
    max_wall_ms: Option<u64>,
    evidence: Option<String>,
}

/// What one user-declared invariant requires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rule {
    /// The stage is never entered.
    Forbidden,
    /// The stage is entered at least this often.
    MinCalls(u64),
    /// The stage is entered at most this often.
    MaxCalls(u64),
    /// At most this many exits with `err` or `panic` (in the stage, or in the run).
    MaxFailures(u64),
    /// No event above this level (index into [`LEVELS`]) in the stage or the run.
    MaxEventLevel(usize),
    /// Every call of the stage takes at most this many milliseconds of wall time.
    MaxWallMs(u64),
    /// An `EVIDENCE` entry with this key is recorded (inside the stage, when one is named).
    Evidence(String),
}

/// One user-declared invariant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInvariant {
    /// 1 to 64 of `[a-z0-9_]`, unique in the file.
    pub id: String,
    /// What it is for, shown with its check.
    pub description: Option<String>,
    /// The stage it is about, or the whole run.
    pub stage: Option<String>,
    /// What it requires.
    pub rule: Rule,
}

/// A validated run policy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunPolicy {
    /// Stages that must complete (exit `ok`), in this order.
    pub required_stages: Vec<String>,
    /// Evidence keys that must be recorded, in any class.
    pub required_evidence: Vec<String>,
    /// Evidence keys that must be recorded in class `sealed`.
    pub sealed_evidence: Vec<String>,
    /// The stage whose call must be the last top-level stage before `RUN_FINALIZE`.
    pub decision_stage: Option<String>,
    /// An evidence key that must be recorded inside that last decision call.
    pub decision_evidence: Option<String>,
    /// The user-declared invariants, in file order.
    pub invariants: Vec<UserInvariant>,
}

/// Why a run policy file was refused; each names the file and the field.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The file could not be read.
    #[error(transparent)]
    Read(#[from] receipt_primitives::confine::ReadError),
    /// The file is not TOML of the policy's shape.
    #[error("{file}: {why}")]
    Syntax {
        /// The file.
        file: String,
        /// The parser's message.
        why: String,
    },
    /// A field has a value the policy does not allow.
    #[error("{file}: field {field}: {why}")]
    Field {
        /// The file.
        file: String,
        /// The field, e.g. `invariant[2].max_event_level`.
        field: String,
        /// One sentence.
        why: String,
    },
}

fn is_id(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

impl RunPolicy {
    /// Reads and validates a policy file (at most [`MAX_POLICY_BYTES`], a regular file).
    ///
    /// # Errors
    /// [`PolicyError`] naming the file and field.
    pub fn load(path: &Path) -> Result<RunPolicy, PolicyError> {
        let bytes = receipt_primitives::confine::read_file(path, MAX_POLICY_BYTES, "a run policy")?;
        let file = path.display().to_string();
        let text = std::str::from_utf8(&bytes).map_err(|_| PolicyError::Syntax {
            file: file.clone(),
            why: "is not UTF-8".into(),
        })?;
        Self::from_toml(text, &file)
    }

    /// Parses and validates policy text; `file` names it in errors.
    ///
    /// # Errors
    /// [`PolicyError`] naming the file and field.
    pub fn from_toml(text: &str, file: &str) -> Result<RunPolicy, PolicyError> {
        let raw: RawPolicy = toml::from_str(text).map_err(|e| PolicyError::Syntax {
            file: file.to_owned(),
            why: e.message().to_owned(),
        })?;
        let bad = |field: String, why: String| PolicyError::Field {
            file: file.to_owned(),
            field,
            why,
        };
        for (i, s) in raw.stages.required.iter().enumerate() {
            if s.is_empty() {
                return Err(bad(format!("stages.required[{i}]"), "is empty".into()));
            }
        }
        for (list, name) in [
            (&raw.evidence.required, "required"),
            (&raw.evidence.sealed, "sealed"),
        ] {
            for (i, k) in list.iter().enumerate() {
                if !crate::evidence::is_key(k) {
                    return Err(bad(
                        format!("evidence.{name}[{i}]"),
                        format!("{:?} is not an evidence key", echo(k)),
                    ));
                }
            }
        }
        if raw.finalize.decision_evidence.is_some() && raw.finalize.decision_stage.is_none() {
            return Err(bad(
                "finalize.decision_evidence".into(),
                "needs finalize.decision_stage, the stage it is recorded in".into(),
            ));
        }
        let mut seen = BTreeSet::new();
        let mut invariants = Vec::new();
        for (i, r) in raw.invariants.into_iter().enumerate() {
            let at = |f: &str| format!("invariant[{i}].{f}");
            if !is_id(&r.id) || !seen.insert(r.id.clone()) {
                return Err(bad(
                    at("id"),
                    format!(
                        "{:?} is not 1 to 64 of [a-z0-9_], or is used twice",
                        echo(&r.id)
                    ),
                ));
            }
            let mut rules = Vec::new();
            if let Some(f) = r.forbidden {
                if !f {
                    return Err(bad(at("forbidden"), "can only be true".into()));
                }
                rules.push(("forbidden", Rule::Forbidden));
            }
            if let Some(n) = r.min_calls {
                rules.push(("min_calls", Rule::MinCalls(n)));
            }
            if let Some(n) = r.max_calls {
                rules.push(("max_calls", Rule::MaxCalls(n)));
            }
            if let Some(n) = r.max_failures {
                rules.push(("max_failures", Rule::MaxFailures(n)));
            }
            if let Some(l) = &r.max_event_level {
                let Some(ix) = LEVELS.iter().position(|x| x == l) else {
                    return Err(bad(
                        at("max_event_level"),
                        format!(
                            "{:?} is not one of TRACE, DEBUG, INFO, WARN, ERROR",
                            echo(l)
                        ),
                    ));
                };
                rules.push(("max_event_level", Rule::MaxEventLevel(ix)));
            }
            if let Some(n) = r.max_wall_ms {
                rules.push(("max_wall_ms", Rule::MaxWallMs(n)));
            }
            if let Some(k) = &r.evidence {
                if !crate::evidence::is_key(k) {
                    return Err(bad(
                        at("evidence"),
                        format!("{:?} is not an evidence key", echo(k)),
                    ));
                }
                rules.push(("evidence", Rule::Evidence(k.clone())));
            }
            let (name, rule) = match rules.len() {
                1 => rules.remove(0),
                0 => {
                    return Err(bad(
                        at("id"),
                        "declares no rule (one of forbidden, min_calls, max_calls, max_failures, max_event_level, max_wall_ms, evidence)".into(),
                    ));
                }
                _ => {
                    return Err(bad(
                        at(rules[1].0),
                        format!(
                            "is a second rule beside {}; declare one rule per invariant",
                            rules[0].0
                        ),
                    ));
                }
            };
            let needs_stage = matches!(
                rule,
                Rule::Forbidden | Rule::MinCalls(_) | Rule::MaxCalls(_) | Rule::MaxWallMs(_)
            );
            if needs_stage && r.stage.is_none() {
                return Err(bad(at(name), "needs a stage".into()));
            }
            invariants.push(UserInvariant {
                id: r.id,
                description: r.description,
                stage: r.stage,
                rule,
            });
        }
        Ok(RunPolicy {
            required_stages: raw.stages.required,
            required_evidence: raw.evidence.required,
            sealed_evidence: raw.evidence.sealed,
            decision_stage: raw.finalize.decision_stage,
            decision_evidence: raw.finalize.decision_evidence,
            invariants,
        })
    }
}
