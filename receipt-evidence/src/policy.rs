//! The evidence policy file (TOML): retention limits per class and the redaction patterns a
//! project adds to the built-in detectors.
//!
//! ```toml
//! [retention.public]
//! max_age = "30d"                 # a whole number and one unit: s, m, h, d or w
//! max_total_bytes = "10GiB"       # an integer, or a number with B, KiB, MiB, GiB or TiB
//!
//! [retention.sealed]
//! max_age = "12h"
//! max_total_bytes = 104857600
//!
//! [[redact.patterns]]
//! id = "acme_token"               # recorded as user.acme_token
//! regex = "ACME-[0-9a-f]{32}"
//! ```
//!
//! Every key is optional; a class without limits keeps everything. Unknown keys are errors.

use std::io::Read;
use std::path::Path;

use serde::Deserialize;

use crate::blob::Class;
use crate::redact::{RedactError, Redactor, UserPattern};

/// The largest policy file read, in bytes.
pub const MAX_POLICY_BYTES: u64 = 1 << 20;

/// Retention limits of one class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClassLimits {
    /// Blobs older than this many seconds are expired.
    pub max_age_secs: Option<u64>,
    /// Above this many stored bytes, the oldest blobs are expired.
    pub max_total_bytes: Option<u64>,
}

/// Retention limits of both classes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Retention {
    /// The `public` class.
    pub public: ClassLimits,
    /// The `sealed` class.
    pub sealed: ClassLimits,
}

impl Retention {
    /// The limits of `class`.
    pub fn limits(&self, class: Class) -> ClassLimits {
        match class {
            Class::Public => self.public,
            Class::Sealed => self.sealed,
        }
    }
}

/// A validated policy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EvidencePolicy {
    /// Retention limits.
    pub retention: Retention,
    /// Patterns added to the built-in detectors (all compile; ids are unique).
    pub patterns: Vec<UserPattern>,
}

/// Why a policy file was refused.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The file could not be read.
    #[error("cannot read the evidence policy {file}: {source}")]
    Read {
        /// The file.
        file: String,
        /// The error.
        source: std::io::Error,
    },
    /// The file is not a regular file of at most 1 MiB of UTF-8.
    #[error("the evidence policy {file} is not a regular UTF-8 file of at most 1 MiB")]
    NotAFile {
        /// The file.
        file: String,
    },
    /// The TOML does not parse or has an unknown key or a value of the wrong type.
    #[error("the evidence policy {file} is not valid: {message}")]
    Toml {
        /// The file.
        file: String,
        /// The parser's message, cut to 200 characters.
        message: String,
    },
    /// A value has the right type but not an accepted form.
    #[error("the evidence policy {file}: {field} = {value:?} is not {expected}")]
    Field {
        /// The file.
        file: String,
        /// The field's dotted path.
        field: String,
        /// The value, cut to 200 characters.
        value: String,
        /// What was expected.
        expected: &'static str,
    },
    /// A redaction pattern is refused.
    #[error("the evidence policy {file}: redact.patterns: {source}")]
    Pattern {
        /// The file.
        file: String,
        /// Why.
        source: RedactError,
    },
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    #[serde(default)]
    retention: RawRetention,
    #[serde(default)]
    redact: RawRedact,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawRetention {
    public: Option<RawClass>,
    sealed: Option<RawClass>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawClass {
    max_age: Option<String>,
    max_total_bytes: Option<toml::Value>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawRedact {
    #[serde(default)]
    patterns: Vec<UserPattern>,
}

/// Seconds in `30d`, `12h`, `90m`, `45s`, `2w`: a whole number (at most 9 digits) and one
/// unit.
pub fn parse_duration(s: &str) -> Option<u64> {
    let unit = s.chars().last()?;
    let n = &s[..s.len() - unit.len_utf8()];
    if n.is_empty() || n.len() > 9 || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = n.parse().ok()?;
    let mul = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        'w' => 7 * 86_400,
        _ => return None,
    };
    Some(n * mul)
}

/// Bytes in `1048576`, `512MiB`, `10GiB`, `2TiB`, `100B`.
pub fn parse_size(s: &str) -> Option<u64> {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 || digits > 15 {
        return None;
    }
    let n: u64 = s[..digits].parse().ok()?;
    let mul: u64 = match &s[digits..] {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "TiB" => 1 << 40,
        _ => return None,
    };
    n.checked_mul(mul)
}

impl EvidencePolicy {
    /// Parses policy text; `file` names it in errors.
    ///
    /// # Errors
    /// [`PolicyError`] naming the file and the field.
    pub fn from_toml(text: &str, file: &str) -> Result<EvidencePolicy, PolicyError> {
        let raw: RawPolicy = toml::from_str(text).map_err(|e| PolicyError::Toml {
            file: file.to_owned(),
            message: receipt_primitives::check::echo(e.message()),
        })?;
        let field_err = |field: String, value: String, expected| PolicyError::Field {
            file: file.to_owned(),
            field,
            value: receipt_primitives::check::echo(&value),
            expected,
        };
        let class = |name: &str, raw: Option<RawClass>| -> Result<ClassLimits, PolicyError> {
            let Some(raw) = raw else {
                return Ok(ClassLimits::default());
            };
            let max_age_secs = match raw.max_age {
                None => None,
                Some(s) => Some(parse_duration(&s).ok_or_else(|| {
                    field_err(
                        format!("retention.{name}.max_age"),
                        s.clone(),
                        "a duration (a whole number followed by s, m, h, d or w)",
                    )
                })?),
            };
            let max_total_bytes = match raw.max_total_bytes {
                None => None,
                Some(toml::Value::Integer(n)) if n >= 0 => Some(n as u64),
                Some(toml::Value::String(s)) => Some(parse_size(&s).ok_or_else(|| {
                    field_err(
                        format!("retention.{name}.max_total_bytes"),
                        s.clone(),
                        "a size (bytes, or a number followed by B, KiB, MiB, GiB or TiB)",
                    )
                })?),
                Some(v) => {
                    return Err(field_err(
                        format!("retention.{name}.max_total_bytes"),
                        v.to_string(),
                        "a size (bytes, or a number followed by B, KiB, MiB, GiB or TiB)",
                    ));
                }
            };
            Ok(ClassLimits {
                max_age_secs,
                max_total_bytes,
            })
        };
        let retention = Retention {
            public: class("public", raw.retention.public)?,
            sealed: class("sealed", raw.retention.sealed)?,
        };
        Redactor::with_patterns(&raw.redact.patterns).map_err(|source| PolicyError::Pattern {
            file: file.to_owned(),
            source,
        })?;
        Ok(EvidencePolicy {
            retention,
            patterns: raw.redact.patterns,
        })
    }

    /// Reads and parses a policy file (a regular file of at most 1 MiB of UTF-8).
    ///
    /// # Errors
    /// [`PolicyError`] naming the file.
    pub fn load(path: &Path) -> Result<EvidencePolicy, PolicyError> {
        use std::os::unix::fs::OpenOptionsExt;
        let file = path.display().to_string();
        let read = |source| PolicyError::Read {
            file: file.clone(),
            source,
        };
        let f = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
            .open(path)
            .map_err(read)?;
        if !f.metadata().map_err(read)?.is_file() {
            return Err(PolicyError::NotAFile { file });
        }
        let mut buf = Vec::new();
        f.take(MAX_POLICY_BYTES + 1)
            .read_to_end(&mut buf)
            .map_err(read)?;
        if buf.len() as u64 > MAX_POLICY_BYTES {
            return Err(PolicyError::NotAFile { file });
        }
        let text =
            String::from_utf8(buf).map_err(|_| PolicyError::NotAFile { file: file.clone() })?;
        EvidencePolicy::from_toml(&text, &file)
    }

    /// The redactor of this policy: the built-in detectors and its patterns.
    pub fn redactor(&self) -> Redactor {
        Redactor::with_patterns(&self.patterns).expect("patterns were validated when loaded")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_sizes() {
        assert_eq!(parse_duration("30d"), Some(30 * 86_400));
        assert_eq!(parse_duration("12h"), Some(43_200));
        assert_eq!(parse_duration("90m"), Some(5400));
        assert_eq!(parse_duration("2w"), Some(14 * 86_400));
        assert_eq!(parse_duration("0s"), Some(0));
        for bad in [
            "",
            "d",
            "30",
            "30D",
            "1.5h",
            "-1d",
            "1d12h",
            "9999999999s",
            " 1d",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
        assert_eq!(parse_size("10GiB"), Some(10 << 30));
        assert_eq!(parse_size("100"), Some(100));
        assert_eq!(parse_size("100B"), Some(100));
        for bad in ["", "GiB", "1GB", "1.5GiB", "1 GiB", "-1"] {
            assert_eq!(parse_size(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_full_policy_parses() {
        let p = EvidencePolicy::from_toml(
            r#"
[retention.public]
max_age = "30d"
max_total_bytes = "10GiB"
[retention.sealed]
max_age = "12h"
max_total_bytes = 1048576
[[redact.patterns]]
id = "acme_token"
regex = "ACME-[0-9a-f]{32}"
"#,
            "evidence.toml",
        )
        .unwrap();
        assert_eq!(p.retention.public.max_age_secs, Some(30 * 86_400));
        assert_eq!(p.retention.public.max_total_bytes, Some(10 << 30));
        assert_eq!(p.retention.sealed.max_age_secs, Some(43_200));
        assert_eq!(p.retention.sealed.max_total_bytes, Some(1 << 20));
        assert_eq!(p.patterns.len(), 1);
        let r = p.redactor();
        let text = format!("x ACME-{} y", "ab".repeat(16));
        let out = r.redact(text.as_bytes());
        assert_eq!(out.record.detectors.get("user.acme_token"), Some(&1));
        assert_eq!(
            EvidencePolicy::from_toml("", "empty.toml").unwrap(),
            EvidencePolicy::default()
        );
    }

    #[test]
    fn errors_name_the_file_and_the_field() {
        let e = EvidencePolicy::from_toml("[retention.public]\nmax_age = \"30x\"\n", "ev.toml")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("ev.toml") && e.contains("retention.public.max_age") && e.contains("30x"),
            "{e}"
        );
        let e = EvidencePolicy::from_toml("[retention.sealed]\nmax_total_bytes = -5\n", "ev.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("retention.sealed.max_total_bytes"), "{e}");
        let e = EvidencePolicy::from_toml("[retention.public]\nmax_agee = \"1d\"\n", "ev.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("ev.toml") && e.contains("max_agee"), "{e}");
        let e = EvidencePolicy::from_toml(
            "[[redact.patterns]]\nid = \"x\"\nregex = \"(\"\n",
            "ev.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("ev.toml") && e.contains("redact.patterns"),
            "{e}"
        );
    }
}
