//! The GitHub REST API as the App uses it: an RS256 JWT from the App's private key, an
//! installation token per installation, the run's artifacts, the artifact download (its
//! redirect followed, its size bounded) and the check run.

use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_LENGTH, HeaderMap, HeaderValue, USER_AGENT};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use receipt_primitives::check::echo;

use crate::config::Secret;

/// The API version the requests are written against.
pub const API_VERSION: &str = "2022-11-28";

/// How long an installation token is reused (GitHub issues them for one hour).
const TOKEN_REUSE: Duration = Duration::from_secs(50 * 60);

/// A failure talking to GitHub.
#[derive(Debug, thiserror::Error)]
pub enum GithubError {
    /// The App's private key is not an RSA PEM key.
    #[error("the GitHub App private key is not a PEM RSA private key: {0}")]
    Key(jsonwebtoken::errors::Error),
    /// The JWT could not be signed.
    #[error("cannot sign the GitHub App JWT: {0}")]
    Jwt(jsonwebtoken::errors::Error),
    /// The request failed before an answer (connection, timeout, body).
    #[error("the request to {what} failed: {source}")]
    Http {
        /// What was asked.
        what: String,
        /// Why.
        source: reqwest::Error,
    },
    /// GitHub answered with an unexpected status.
    #[error("GitHub answered {status} to {what}: {body}")]
    Status {
        /// What was asked.
        what: String,
        /// The status.
        status: StatusCode,
        /// The start of the body.
        body: String,
    },
    /// The artifact is larger than the configured limit.
    #[error("the artifact is larger than the limit of {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: u64,
    },
    /// A repository name from a payload is not `owner/name`.
    #[error("{0:?} is not a repository name of the form owner/name")]
    BadRepository(String),
}

/// One artifact of a workflow run.
#[derive(Debug, Clone, Deserialize)]
pub struct Artifact {
    /// The artifact id.
    pub id: i64,
    /// The artifact name.
    pub name: String,
    /// Its size, as GitHub reports it.
    pub size_in_bytes: u64,
    /// Whether it has expired (then it cannot be downloaded).
    #[serde(default)]
    pub expired: bool,
}

#[derive(Debug, Deserialize)]
struct ArtifactList {
    artifacts: Vec<Artifact>,
}

#[derive(Debug, Deserialize)]
struct InstallationToken {
    token: String,
}

#[derive(Debug, Serialize)]
struct Claims<'a> {
    iat: u64,
    exp: u64,
    iss: &'a str,
}

/// A check run to create on a commit.
#[derive(Debug, Clone, Serialize)]
pub struct CheckRun {
    /// The check's name.
    pub name: String,
    /// The commit.
    pub head_sha: String,
    /// Always `completed`.
    pub status: &'static str,
    /// `success` or `failure`.
    pub conclusion: &'static str,
    /// What the check shows.
    pub output: CheckOutput,
}

/// The check run's text.
#[derive(Debug, Clone, Serialize)]
pub struct CheckOutput {
    /// One line.
    pub title: String,
    /// Markdown, at most 65,535 characters.
    pub summary: String,
}

/// A client of one GitHub App.
pub struct GithubClient {
    http: reqwest::Client,
    api: String,
    app_id: String,
    key: EncodingKey,
    tokens: Mutex<HashMap<i64, (Secret, Instant)>>,
}

impl fmt::Debug for GithubClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GithubClient")
            .field("api", &self.api)
            .field("app_id", &self.app_id)
            .finish_non_exhaustive()
    }
}

/// Refuses anything but `owner/name` made of GitHub's name characters.
fn check_repository(full_name: &str) -> Result<(), GithubError> {
    let ok_part = |p: &str| {
        !p.is_empty()
            && p != "."
            && p != ".."
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    match full_name.split_once('/') {
        Some((o, n)) if ok_part(o) && ok_part(n) => Ok(()),
        _ => Err(GithubError::BadRepository(echo(full_name))),
    }
}

impl GithubClient {
    /// A client for the App `app_id` with its PEM private key, talking to `api_url`.
    ///
    /// # Errors
    /// [`GithubError::Key`] when the key is not a PEM RSA key; [`GithubError::Http`] when
    /// the HTTP client cannot be built.
    pub fn new(
        api_url: &str,
        app_id: &str,
        private_key: &Secret,
        timeout: Duration,
    ) -> Result<GithubClient, GithubError> {
        let key =
            EncodingKey::from_rsa_pem(private_key.expose().as_bytes()).map_err(GithubError::Key)?;
        let mut headers = HeaderMap::new();
        headers.insert(
            ACCEPT,
            HeaderValue::from_static("application/vnd.github+json"),
        );
        headers.insert(
            "x-github-api-version",
            HeaderValue::from_static(API_VERSION),
        );
        headers.insert(
            USER_AGENT,
            HeaderValue::from_static(concat!("receipt-server/", env!("CARGO_PKG_VERSION"))),
        );
        // reqwest follows up to ten redirects and drops the Authorization header when one
        // leads to another host (the artifact download redirects to blob storage).
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .connect_timeout(Duration::from_secs(10))
            .timeout(timeout)
            .build()
            .map_err(|source| GithubError::Http {
                what: "the HTTP client".into(),
                source,
            })?;
        Ok(GithubClient {
            http,
            api: api_url.trim_end_matches('/').to_owned(),
            app_id: app_id.to_owned(),
            key,
            tokens: Mutex::new(HashMap::new()),
        })
    }

    /// The App's JWT: RS256, issued a minute ago (clock drift), valid nine minutes.
    ///
    /// # Errors
    /// [`GithubError::Jwt`] when signing fails.
    pub fn app_jwt(&self) -> Result<String, GithubError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let claims = Claims {
            iat: now.saturating_sub(60),
            exp: now + 9 * 60,
            iss: &self.app_id,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &self.key)
            .map_err(GithubError::Jwt)
    }

    async fn send(
        &self,
        what: &str,
        req: reqwest::RequestBuilder,
        want: StatusCode,
    ) -> Result<reqwest::Response, GithubError> {
        let resp = req.send().await.map_err(|source| GithubError::Http {
            what: what.to_owned(),
            source,
        })?;
        if resp.status() == want {
            return Ok(resp);
        }
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        Err(GithubError::Status {
            what: what.to_owned(),
            status,
            body: echo(&body),
        })
    }

    /// An installation access token, reused while it is younger than 50 minutes.
    ///
    /// # Errors
    /// [`GithubError`] when the JWT cannot be made or GitHub refuses it.
    pub async fn installation_token(&self, installation: i64) -> Result<Secret, GithubError> {
        let mut tokens = self.tokens.lock().await;
        if let Some((t, at)) = tokens.get(&installation)
            && at.elapsed() < TOKEN_REUSE
        {
            return Ok(t.clone());
        }
        let what = format!("POST /app/installations/{installation}/access_tokens");
        let resp = self
            .send(
                &what,
                self.http
                    .post(format!(
                        "{}/app/installations/{installation}/access_tokens",
                        self.api
                    ))
                    .header(AUTHORIZATION, format!("Bearer {}", self.app_jwt()?)),
                StatusCode::CREATED,
            )
            .await?;
        let tok: InstallationToken = resp.json().await.map_err(|source| GithubError::Http {
            what: what.clone(),
            source,
        })?;
        let secret = Secret::new(tok.token);
        tokens.insert(installation, (secret.clone(), Instant::now()));
        Ok(secret)
    }

    /// The artifacts of a workflow run named `name`.
    ///
    /// # Errors
    /// [`GithubError`] when the request fails.
    pub async fn list_artifacts(
        &self,
        token: &Secret,
        repository: &str,
        run_id: i64,
        name: &str,
    ) -> Result<Vec<Artifact>, GithubError> {
        check_repository(repository)?;
        let what = format!("GET /repos/{repository}/actions/runs/{run_id}/artifacts");
        let resp = self
            .send(
                &what,
                self.http
                    .get(format!(
                        "{}/repos/{repository}/actions/runs/{run_id}/artifacts",
                        self.api
                    ))
                    .query(&[("name", name), ("per_page", "100")])
                    .bearer_auth(token.expose()),
                StatusCode::OK,
            )
            .await?;
        let list: ArtifactList = resp.json().await.map_err(|source| GithubError::Http {
            what: what.clone(),
            source,
        })?;
        Ok(list.artifacts)
    }

    /// Downloads an artifact's ZIP, following GitHub's redirect, refusing more than
    /// `limit` bytes.
    ///
    /// # Errors
    /// [`GithubError`] when the request fails or the body is larger than `limit`.
    pub async fn download_artifact(
        &self,
        token: &Secret,
        repository: &str,
        artifact_id: i64,
        limit: u64,
    ) -> Result<Vec<u8>, GithubError> {
        check_repository(repository)?;
        let what = format!("GET /repos/{repository}/actions/artifacts/{artifact_id}/zip");
        let mut resp = self
            .send(
                &what,
                self.http
                    .get(format!(
                        "{}/repos/{repository}/actions/artifacts/{artifact_id}/zip",
                        self.api
                    ))
                    .bearer_auth(token.expose()),
                StatusCode::OK,
            )
            .await?;
        let declared = resp
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit) {
            return Err(GithubError::TooLarge { limit });
        }
        let mut body = Vec::with_capacity(declared.unwrap_or(0).min(limit) as usize);
        while let Some(chunk) = resp.chunk().await.map_err(|source| GithubError::Http {
            what: what.clone(),
            source,
        })? {
            if body.len() as u64 + chunk.len() as u64 > limit {
                return Err(GithubError::TooLarge { limit });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }

    /// Creates a completed check run.
    ///
    /// # Errors
    /// [`GithubError`] when the request fails.
    pub async fn create_check_run(
        &self,
        token: &Secret,
        repository: &str,
        run: &CheckRun,
    ) -> Result<(), GithubError> {
        check_repository(repository)?;
        self.send(
            &format!("POST /repos/{repository}/check-runs"),
            self.http
                .post(format!("{}/repos/{repository}/check-runs", self.api))
                .bearer_auth(token.expose())
                .json(run),
            StatusCode::CREATED,
        )
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_names_are_confined() {
        assert!(check_repository("octo/repo.rs").is_ok());
        for bad in [
            "octo",
            "octo/../x",
            "../x",
            "o/r/extra",
            "o/r?x=1",
            "o/",
            "/r",
            "o/..",
        ] {
            assert!(check_repository(bad).is_err(), "{bad}");
        }
    }
}
