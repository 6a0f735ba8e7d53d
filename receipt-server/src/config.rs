//! Server configuration: a TOML file for everything public, the environment (or files it
//! names) for the secrets, which never appear in logs or `Debug` output.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use receipt_attest::keys::PublicKey;
use receipt_protocol::policy::Policy;
use serde::Deserialize;

use receipt_primitives::check::echo;

/// The webhook secret: `RECEIPT_WEBHOOK_SECRET`, or the file named by
/// `RECEIPT_WEBHOOK_SECRET_FILE`.
pub const ENV_WEBHOOK_SECRET: &str = "RECEIPT_WEBHOOK_SECRET";
/// The GitHub App's private key (PEM): `RECEIPT_GITHUB_APP_KEY`, or the file named by
/// `RECEIPT_GITHUB_APP_KEY_FILE`.
pub const ENV_APP_KEY: &str = "RECEIPT_GITHUB_APP_KEY";
/// The bearer token of the receipts API: `RECEIPT_API_TOKEN`, or the file named by
/// `RECEIPT_API_TOKEN_FILE`.
pub const ENV_API_TOKEN: &str = "RECEIPT_API_TOKEN";
/// The storage URL (`postgres://…`), which may hold a password: `RECEIPT_DATABASE_URL`,
/// or the file named by `RECEIPT_DATABASE_URL_FILE`.
pub const ENV_DATABASE_URL: &str = "RECEIPT_DATABASE_URL";

/// A secret value. Its `Debug` and `Display` forms are `[redacted]`; the only way to the
/// bytes is [`Secret::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The configuration file could not be read.
    #[error("cannot read the configuration file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The configuration file is not valid TOML of the expected shape.
    #[error("the configuration file {path} is invalid: {why}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's sentence, cut to 200 characters.
        why: String,
    },
    /// A secret's file (named by an `…_FILE` variable) could not be read.
    #[error("cannot read {var}={path}: {source}")]
    SecretFile {
        /// The variable naming the file.
        var: String,
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A value is out of its allowed range or inconsistent with another.
    #[error("{0}")]
    Invalid(String),
}

/// Size limits and timeouts (defaults in parentheses, all configurable under `[limits]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest webhook body accepted (2 MiB; GitHub's `workflow_run` payloads are tens of
    /// KiB). A larger body is refused with 413 before its signature is checked.
    pub webhook_body_bytes: usize,
    /// Largest ingest body (`POST /v1/builds`, `POST /v1/runs`) accepted (64 MiB).
    pub ingest_body_bytes: usize,
    /// Largest workflow artifact downloaded from GitHub (64 MiB).
    pub artifact_bytes: u64,
    /// Time allowed for one API or webhook request, body included (30 s).
    pub request_timeout_secs: u64,
    /// Time allowed for one call to the GitHub API, an artifact download included (60 s).
    pub github_timeout_secs: u64,
    /// Time allowed, at shutdown, for in-flight webhook jobs to finish (60 s).
    pub shutdown_grace_secs: u64,
    /// Largest page of `GET /v1/builds` (500).
    pub max_page: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            webhook_body_bytes: 2 << 20,
            ingest_body_bytes: 64 << 20,
            artifact_bytes: 64 << 20,
            request_timeout_secs: 30,
            github_timeout_secs: 60,
            shutdown_grace_secs: 60,
            max_page: 500,
        }
    }
}

impl Limits {
    /// [`Limits::request_timeout_secs`] as a duration.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs)
    }

    /// [`Limits::github_timeout_secs`] as a duration.
    pub fn github_timeout(&self) -> Duration {
        Duration::from_secs(self.github_timeout_secs)
    }

    /// [`Limits::shutdown_grace_secs`] as a duration.
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_secs)
    }
}

/// The `[github]` table: the App the webhook acts as.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GithubFile {
    /// The App's id (or its client id), the JWT's `iss`.
    pub app_id: String,
    /// REST API base URL (`https://api.github.com`; `https://HOST/api/v3` for GitHub
    /// Enterprise Server).
    #[serde(default = "default_api_url")]
    pub api_url: String,
    /// The workflow artifact that holds the receipt directory.
    #[serde(default = "default_artifact_name")]
    pub artifact_name: String,
    /// The name of the check run posted on the head commit.
    #[serde(default = "default_check_name")]
    pub check_name: String,
    /// The workflow files (`.github/workflows/receipt.yml`) whose runs are verified; empty
    /// (the default): every workflow's. Runs of other workflows are ignored, so that a
    /// repository's other workflows get no failing check for a missing artifact.
    #[serde(default)]
    pub workflows: Vec<String>,
}

fn default_api_url() -> String {
    "https://api.github.com".into()
}

/// The artifact name the action uploads by default.
pub const DEFAULT_ARTIFACT_NAME: &str = "tau-crystal-manifest";

fn default_artifact_name() -> String {
    DEFAULT_ARTIFACT_NAME.into()
}

fn default_check_name() -> String {
    "receipt".into()
}

/// The configuration file's shape.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Address to listen on (`127.0.0.1:8080`).
    pub listen: Option<SocketAddr>,
    /// Data directory of the embedded SQLite store.
    pub data: Option<PathBuf>,
    /// PostgreSQL schema to use (`public`); created when missing.
    pub postgres_schema: Option<String>,
    /// Largest PostgreSQL connection pool (16).
    pub postgres_pool: Option<usize>,
    /// The GitHub App, when the webhook is served.
    pub github: Option<GithubFile>,
    /// Limits.
    #[serde(default)]
    pub limits: Limits,
    /// What verification trusts and requires beyond the unsigned checks.
    #[serde(default)]
    pub verify: VerifyFile,
}

/// The `[verify]` table: trusted keys and a policy, as `cargo receipt verify --key … --policy …`
/// takes them. Relative paths are relative to the configuration file's directory.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyFile {
    /// SPKI PEM public keys; with any, every artifact must be signed by one of them.
    #[serde(default)]
    pub keys: Vec<PathBuf>,
    /// A policy file (docs/SPEC.md §14.11); needs `keys`.
    pub policy: Option<PathBuf>,
}

/// What artifact verification trusts and requires beyond the unsigned checks of `cargo
/// receipt verify DIR`: the `[verify]` table, loaded.
#[derive(Debug, Clone, Default)]
pub struct VerifyConfig {
    /// Trusted public keys: with any, every signature is mandatory (`verify --key`).
    pub keys: Vec<PublicKey>,
    /// Expected values checked over every other check (`verify --policy`).
    pub policy: Option<Policy>,
}

impl VerifyConfig {
    /// Loads the keys and the policy the `[verify]` table names.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] naming the file that cannot be used, or a policy without keys.
    pub fn load(files: &VerifyFile) -> Result<VerifyConfig, ConfigError> {
        let keys = files
            .keys
            .iter()
            .map(|p| {
                PublicKey::load(p).map_err(|e| ConfigError::Invalid(format!("verify.keys: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let policy = match &files.policy {
            None => None,
            Some(_) if keys.is_empty() => {
                return Err(ConfigError::Invalid(
                    "verify.policy needs verify.keys: a policy constrains signed statements".into(),
                ));
            }
            Some(p) => Some(
                Policy::load(p).map_err(|e| ConfigError::Invalid(format!("verify.policy: {e}")))?,
            ),
        };
        Ok(VerifyConfig { keys, policy })
    }
}

/// Where the data lives.
#[derive(Debug, Clone)]
pub enum StorageConfig {
    /// The embedded SQLite database `DIR/receipt-server.sqlite3`.
    Sqlite {
        /// The data directory.
        dir: PathBuf,
    },
    /// A PostgreSQL server shared by every replica.
    Postgres {
        /// The connection URL (a secret: it may hold a password).
        url: Secret,
        /// The schema the tables live in.
        schema: String,
        /// Largest connection pool.
        pool: usize,
    },
}

/// The GitHub App, with its secrets.
#[derive(Debug, Clone)]
pub struct GithubConfig {
    /// The public part from the file.
    pub app: GithubFile,
    /// The webhook secret.
    pub webhook_secret: Secret,
    /// The App's private key, PEM.
    pub private_key: Secret,
}

/// The whole, validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Where the data lives.
    pub storage: StorageConfig,
    /// The GitHub App; `None` when the webhook is not served.
    pub github: Option<GithubConfig>,
    /// The API bearer token.
    pub api_token: Secret,
    /// Limits and timeouts.
    pub limits: Limits,
    /// The keys and policy every artifact is verified with.
    pub verify: VerifyConfig,
}

/// What the command line adds to (and overrides in) the file.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--listen`.
    pub listen: Option<SocketAddr>,
    /// `--data`.
    pub data: Option<PathBuf>,
}

/// Reads a secret from `VAR`, else from the file named by `VAR_FILE` (one trailing newline
/// removed); `None` when neither is set.
///
/// # Errors
/// [`ConfigError::SecretFile`] when the named file cannot be read.
pub fn secret_from_env(
    var: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<Secret>, ConfigError> {
    if let Some(v) = env(var).filter(|v| !v.is_empty()) {
        return Ok(Some(Secret(v)));
    }
    let file_var = format!("{var}_FILE");
    let Some(path) = env(&file_var).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let path = PathBuf::from(path);
    let mut text = std::fs::read_to_string(&path).map_err(|source| ConfigError::SecretFile {
        var: file_var,
        path: path.clone(),
        source,
    })?;
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    Ok(Some(Secret(text)))
}

impl Config {
    /// Loads `file` (when given), then the secrets from the process environment.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the file or variable at fault.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Config, ConfigError> {
        Config::load_with_env(file, overrides, &|k| std::env::var(k).ok())
    }

    /// [`Config::load`] with the environment given.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the file or variable at fault.
    pub fn load_with_env(
        file: Option<&Path>,
        overrides: &Overrides,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let parsed = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_owned(),
                    source,
                })?;
                let mut parsed =
                    toml::from_str::<FileConfig>(&text).map_err(|e| ConfigError::Parse {
                        path: path.to_owned(),
                        why: echo(&e.to_string()),
                    })?;
                let base = path.parent().unwrap_or(Path::new("."));
                for p in parsed
                    .verify
                    .keys
                    .iter_mut()
                    .chain(parsed.verify.policy.as_mut())
                {
                    *p = base.join(&*p);
                }
                parsed
            }
            None => FileConfig::default(),
        };
        Config::from_parts(parsed, overrides, env)
    }

    /// Builds the configuration from a parsed file, the command line and an environment.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the setting at fault.
    pub fn from_parts(
        file: FileConfig,
        overrides: &Overrides,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let listen = overrides
            .listen
            .or(file.listen)
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080)));
        let database = secret_from_env(ENV_DATABASE_URL, env)?;
        let data = overrides.data.clone().or(file.data);
        let storage = match (database, data) {
            (Some(url), _) => {
                if !(url.expose().starts_with("postgres://")
                    || url.expose().starts_with("postgresql://"))
                {
                    return Err(ConfigError::Invalid(format!(
                        "{ENV_DATABASE_URL} must be a postgres:// URL"
                    )));
                }
                let schema = file.postgres_schema.unwrap_or_else(|| "public".into());
                check_identifier("postgres_schema", &schema)?;
                StorageConfig::Postgres {
                    url,
                    schema,
                    pool: file.postgres_pool.unwrap_or(16).max(1),
                }
            }
            (None, Some(dir)) => StorageConfig::Sqlite { dir },
            (None, None) => {
                return Err(ConfigError::Invalid(format!(
                    "no storage configured: pass --data DIR (or `data` in the configuration file) for the embedded database, or set {ENV_DATABASE_URL} to a postgres:// URL"
                )));
            }
        };
        let api_token = secret_from_env(ENV_API_TOKEN, env)?.ok_or_else(|| {
            ConfigError::Invalid(format!(
                "{ENV_API_TOKEN} (or {ENV_API_TOKEN}_FILE) is not set; the receipts API needs a bearer token"
            ))
        })?;
        if api_token.expose().len() < 16 {
            return Err(ConfigError::Invalid(format!(
                "{ENV_API_TOKEN} is shorter than 16 characters; use a long random token"
            )));
        }
        let github = match file.github {
            None => None,
            Some(app) => {
                let webhook_secret = secret_from_env(ENV_WEBHOOK_SECRET, env)?.ok_or_else(|| {
                    ConfigError::Invalid(format!(
                        "the [github] table is configured but {ENV_WEBHOOK_SECRET} (or {ENV_WEBHOOK_SECRET}_FILE) is not set"
                    ))
                })?;
                let private_key = secret_from_env(ENV_APP_KEY, env)?.ok_or_else(|| {
                    ConfigError::Invalid(format!(
                        "the [github] table is configured but {ENV_APP_KEY} (or {ENV_APP_KEY}_FILE) is not set"
                    ))
                })?;
                if !(app.api_url.starts_with("https://") || app.api_url.starts_with("http://")) {
                    return Err(ConfigError::Invalid(format!(
                        "github.api_url {:?} is not an http(s) URL",
                        echo(&app.api_url)
                    )));
                }
                Some(GithubConfig {
                    app,
                    webhook_secret,
                    private_key,
                })
            }
        };
        let verify = VerifyConfig::load(&file.verify)?;
        let limits = file.limits;
        if !(1..=10_000).contains(&limits.max_page) {
            return Err(ConfigError::Invalid(
                "limits.max_page must be from 1 to 10000".into(),
            ));
        }
        Ok(Config {
            listen,
            storage,
            github,
            api_token,
            limits,
            verify,
        })
    }
}

/// Refuses anything but a plain lower-case SQL identifier.
fn check_identifier(field: &str, s: &str) -> Result<(), ConfigError> {
    let ok = !s.is_empty()
        && s.len() <= 63
        && s.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(ConfigError::Invalid(format!(
            "{field} {:?} is not a lower-case SQL identifier ([a-z_][a-z0-9_]*, at most 63 characters)",
            echo(s)
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let file: FileConfig =
            toml::from_str("data = \"/d\"\n[github]\napp_id = \"42\"\n").unwrap();
        let cfg = Config::from_parts(
            file,
            &Overrides::default(),
            &env(&[
                (ENV_API_TOKEN, "api-token-0123456789"),
                (ENV_WEBHOOK_SECRET, "hook-secret-xyz"),
                (ENV_APP_KEY, "-----BEGIN PRIVATE KEY-----abc"),
            ]),
        )
        .unwrap();
        let shown = format!("{cfg:?}");
        for s in [
            "api-token-0123456789",
            "hook-secret-xyz",
            "BEGIN PRIVATE KEY",
        ] {
            assert!(!shown.contains(s), "{s} leaked into {shown}");
        }
        assert!(shown.contains("[redacted]"));
    }

    #[test]
    fn database_url_with_password_is_redacted() {
        let cfg = Config::from_parts(
            FileConfig::default(),
            &Overrides::default(),
            &env(&[
                (ENV_API_TOKEN, "api-token-0123456789"),
                (ENV_DATABASE_URL, "postgres://u:hunter2@db/x"),
            ]),
        )
        .unwrap();
        assert!(matches!(cfg.storage, StorageConfig::Postgres { .. }));
        assert!(!format!("{cfg:?}").contains("hunter2"));
    }

    #[test]
    fn missing_api_token_is_refused() {
        let e = Config::from_parts(
            FileConfig::default(),
            &Overrides {
                data: Some("/d".into()),
                ..Overrides::default()
            },
            &env(&[]),
        )
        .unwrap_err();
        assert!(e.to_string().contains(ENV_API_TOKEN), "{e}");
    }

    #[test]
    fn secret_file_is_read_without_its_final_newline() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("tok");
        std::fs::write(&p, "from-a-file-0123456789\n").unwrap();
        let s = secret_from_env(
            ENV_API_TOKEN,
            &env(&[("RECEIPT_API_TOKEN_FILE", p.to_str().unwrap())]),
        )
        .unwrap()
        .unwrap();
        assert_eq!(s.expose(), "from-a-file-0123456789");
    }

    #[test]
    fn github_without_webhook_secret_is_refused() {
        let file: FileConfig = toml::from_str("[github]\napp_id = \"1\"\n").unwrap();
        let e = Config::from_parts(
            file,
            &Overrides {
                data: Some("/d".into()),
                ..Overrides::default()
            },
            &env(&[(ENV_API_TOKEN, "api-token-0123456789"), (ENV_APP_KEY, "k")]),
        )
        .unwrap_err();
        assert!(e.to_string().contains(ENV_WEBHOOK_SECRET), "{e}");
    }

    #[test]
    fn unknown_keys_in_the_file_are_refused() {
        assert!(toml::from_str::<FileConfig>("lisen = \"1.2.3.4:5\"\n").is_err());
    }

    #[test]
    fn schema_must_be_an_identifier() {
        let file: FileConfig = toml::from_str("postgres_schema = \"x; drop\"\n").unwrap();
        let e = Config::from_parts(
            file,
            &Overrides::default(),
            &env(&[
                (ENV_API_TOKEN, "api-token-0123456789"),
                (ENV_DATABASE_URL, "postgres://h/x"),
            ]),
        )
        .unwrap_err();
        assert!(e.to_string().contains("postgres_schema"), "{e}");
    }
}
