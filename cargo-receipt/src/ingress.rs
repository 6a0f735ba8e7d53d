//! The ingress preimage of a Cargo build: what the build was asked to do, with the
//! build-affecting environment allowlisted and anything that looks like a credential redacted.

use std::collections::BTreeMap;
use std::ffi::OsString;

use serde::Serialize;

/// Schema id of the Cargo ingress preimage.
pub const INGRESS_SCHEMA: &str = "tau-crystal.cargo-ingress/1";

/// What a redacted value is recorded as.
pub const REDACTED: &str = "<redacted>";

/// Variables recorded by value.
const ENV_EXACT: &[&str] = &[
    "RUSTFLAGS",
    "CARGO_ENCODED_RUSTFLAGS",
    "RUSTDOCFLAGS",
    "CARGO_ENCODED_RUSTDOCFLAGS",
    "RUSTC_BOOTSTRAP",
    "CARGO_INCREMENTAL",
    "CARGO_BUILD_RUSTFLAGS",
    "CARGO_BUILD_RUSTDOCFLAGS",
    "CARGO_BUILD_TARGET",
    "CARGO_BUILD_INCREMENTAL",
    "SOURCE_DATE_EPOCH",
    "CFLAGS",
    "CXXFLAGS",
    "CPPFLAGS",
    "LDFLAGS",
];

/// Variables whose value is a program path: recorded by file name only, so the record does
/// not depend on where the tool is installed.
const ENV_PROGRAM: &[&str] = &[
    "RUSTC",
    "RUSTC_WRAPPER",
    "RUSTC_WORKSPACE_WRAPPER",
    "CARGO_BUILD_RUSTC",
    "CARGO_BUILD_RUSTC_WRAPPER",
    "CARGO_BUILD_RUSTC_WORKSPACE_WRAPPER",
    "CC",
    "CXX",
    "AR",
];

/// Prefixes of variables recorded by value: profile settings and unstable flags.
const ENV_PREFIXES: &[&str] = &["CARGO_PROFILE_", "CARGO_UNSTABLE_"];

/// Per-target settings `CARGO_TARGET_<TRIPLE>_<SETTING>` that change what is built; other
/// `CARGO_TARGET_*` variables (`CARGO_TARGET_DIR`, runners) only move or run the output.
const ENV_TARGET_SETTINGS: &[&str] = &["_RUSTFLAGS", "_RUSTDOCFLAGS"];

/// Per-target settings whose value is a program path (recorded by file name).
const ENV_TARGET_PROGRAMS: &[&str] = &["_LINKER"];

/// Name fragments that mark a variable as a credential.
const SECRET_NAME_PARTS: &[&str] = &[
    "TOKEN",
    "SECRET",
    "PASSWORD",
    "PASSWD",
    "CREDENTIAL",
    "PRIVATE",
    "AUTH",
    "APIKEY",
    "API_KEY",
    "ACCESS_KEY",
    "SESSION",
];

/// Prefixes of well-known token formats; a value with a word starting so is a credential.
const SECRET_TOKEN_PREFIXES: &[&str] = &[
    "ghp_",
    "gho_",
    "ghu_",
    "ghs_",
    "ghr_",
    "github_pat_",
    "glpat-",
    "xoxb-",
    "xoxp-",
    "AKIA",
    "ASIA",
    "sk-",
    "npm_",
];

/// Fragments that mark a value as a credential anywhere in it: PEM key blocks, bearer
/// headers and key=value pairs that carry secrets.
const SECRET_VALUE_PARTS: &[&str] = &[
    "-----BEGIN",
    "Bearer ",
    "token=",
    "password=",
    "passwd=",
    "secret=",
    "apikey=",
    "api_key=",
];

/// The ingress preimage (its JCS SHA-256 is the manifest's `ingress_preimage_sha256`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ingress {
    /// Always [`INGRESS_SCHEMA`].
    pub schema: &'static str,
    /// The arguments given to `cargo build`, as recorded (see `BuildArgs::recorded`).
    pub args: Vec<String>,
    /// The profile name.
    pub profile: String,
    /// The platform the build is for.
    pub target: String,
    /// The selected features.
    pub features: Features,
    /// Keys of the selected workspace members, sorted.
    pub members: Vec<String>,
    /// The verbatim output of `rustc -vV`.
    pub rustc_vv: String,
    /// SHA-256 of `Cargo.lock`, `null` when there is none.
    pub cargo_lock_sha256: Option<receipt_primitives::Digest>,
    /// The allowlisted environment, by name.
    pub env: BTreeMap<String, String>,
}

/// The feature selection of the build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Features {
    /// `--all-features`.
    pub all: bool,
    /// Whether the `default` feature is on (not `--no-default-features`).
    pub default: bool,
    /// `--features`, split, sorted and deduplicated.
    pub list: Vec<String>,
}

/// How an allowlisted variable is recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EnvClass {
    /// By value.
    Value,
    /// By the file name of the program it names.
    Program,
}

/// Whether (and how) a variable is recorded.
fn env_class(name: &str) -> Option<EnvClass> {
    let target_setting = |suffixes: &[&str]| {
        name.strip_prefix("CARGO_TARGET_").is_some_and(|rest| {
            suffixes
                .iter()
                .any(|s| rest.len() > s.len() && rest.ends_with(s))
        })
    };
    if ENV_PROGRAM.contains(&name) || target_setting(ENV_TARGET_PROGRAMS) {
        Some(EnvClass::Program)
    } else if ENV_EXACT.contains(&name)
        || ENV_PREFIXES.iter().any(|p| name.starts_with(p))
        || target_setting(ENV_TARGET_SETTINGS)
    {
        Some(EnvClass::Value)
    } else {
        None
    }
}

/// Whether a name or value looks like a credential.
pub fn looks_secret(name: &str, value: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    SECRET_NAME_PARTS.iter().any(|p| upper.contains(p))
        || upper.ends_with("_KEY")
        || SECRET_VALUE_PARTS.iter().any(|p| value.contains(p))
        || value
            .split(|c: char| c.is_whitespace() || matches!(c, '=' | ':' | ',' | '"' | '\''))
            .any(|w| SECRET_TOKEN_PREFIXES.iter().any(|p| w.starts_with(p)))
        || has_url_password(value)
}

/// A URL with a password in its userinfo: `scheme://user:password@host`.
fn has_url_password(value: &str) -> bool {
    value.match_indices("://").any(|(i, _)| {
        let rest = &value[i + 3..];
        let authority = rest.split(['/', ' ', '?', '#']).next().unwrap_or("");
        authority
            .rsplit_once('@')
            .is_some_and(|(userinfo, _)| userinfo.contains(':'))
    })
}

/// The recorded environment: allowlisted variables, sorted by name; a credential-looking
/// name or value is recorded as [`REDACTED`], a program path by its file name.
pub fn recorded_env(
    vars: impl IntoIterator<Item = (OsString, OsString)>,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (k, v) in vars {
        let Some(name) = k.to_str() else { continue };
        let Some(class) = env_class(name) else {
            continue;
        };
        let value = v.to_string_lossy();
        let recorded = if looks_secret(name, &value) {
            REDACTED.to_owned()
        } else if class == EnvClass::Program {
            program_name(&value)
        } else {
            value.into_owned()
        };
        out.insert(name.to_owned(), recorded);
    }
    out
}

fn program_name(value: &str) -> String {
    value.rsplit(['/', '\\']).next().unwrap_or(value).to_owned()
}

/// The host triple from `rustc -vV` output.
pub fn host_triple(rustc_vv: &str) -> Option<&str> {
    rustc_vv.lines().find_map(|l| l.strip_prefix("host: "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        recorded_env(
            pairs
                .iter()
                .map(|(k, v)| (OsString::from(k), OsString::from(v))),
        )
    }

    #[test]
    fn allowlist_keeps_build_settings_and_drops_the_rest() {
        let e = env(&[
            ("RUSTFLAGS", "-C opt-level=1"),
            ("CARGO_PROFILE_RELEASE_LTO", "true"),
            ("CARGO_TARGET_DIR", "/abs/target"),
            ("CARGO_TARGET_TMPDIR", "/abs/tmp"),
            (
                "CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER",
                "/usr/bin/aarch64-gcc",
            ),
            ("HOME", "/home/u"),
            ("PATH", "/usr/bin"),
            ("RUSTC_WRAPPER", "/opt/bin/sccache"),
        ]);
        assert_eq!(
            e.into_iter().collect::<Vec<_>>(),
            [
                ("CARGO_PROFILE_RELEASE_LTO".into(), "true".into()),
                (
                    "CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER".into(),
                    "aarch64-gcc".into()
                ),
                ("RUSTC_WRAPPER".into(), "sccache".into()),
                ("RUSTFLAGS".into(), "-C opt-level=1".into()),
            ]
        );
    }

    #[test]
    fn credentials_are_redacted_by_name_or_value() {
        let e = env(&[
            (
                "CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUSTFLAGS",
                "--cfg token=abc",
            ),
            ("CARGO_PROFILE_DEV_SECRET_KEY", "abc"),
            (
                "RUSTFLAGS",
                "--cfg x -C link-arg=https://u:hunter2@example.com/x",
            ),
            ("CFLAGS", "-DAPI=ghp_abcdefabcdef"),
            ("CXXFLAGS", "-O2"),
        ]);
        assert_eq!(
            e["CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUSTFLAGS"],
            REDACTED
        );
        assert_eq!(e["CARGO_PROFILE_DEV_SECRET_KEY"], REDACTED);
        assert_eq!(e["RUSTFLAGS"], REDACTED);
        assert_eq!(e["CFLAGS"], REDACTED);
        assert_eq!(e["CXXFLAGS"], "-O2");
    }

    #[test]
    fn a_url_without_password_is_not_a_credential() {
        assert!(!looks_secret(
            "RUSTFLAGS",
            "--extern x=https://example.com/a@b"
        ));
        assert!(looks_secret("RUSTFLAGS", "https://user:pw@example.com"));
    }
}
