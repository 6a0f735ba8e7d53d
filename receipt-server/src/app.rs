//! The server's shared state: the store, the GitHub App, the artifact verifier, the API
//! token's digest and the limits every handler reads.

use std::sync::Arc;

use sha2::{Digest as _, Sha256};
use tokio_util::task::TaskTracker;

use crate::config::{Config, GithubConfig, Limits, Secret};
use crate::github::{GithubClient, GithubError};
use crate::store::Store;
use crate::verify::ArtifactVerifier;

/// The GitHub App side of the server.
#[derive(Debug)]
pub struct GithubApp {
    /// The API client.
    pub client: GithubClient,
    /// The webhook secret.
    pub webhook_secret: Secret,
    /// The artifact to fetch.
    pub artifact_name: String,
    /// The check run's name.
    pub check_name: String,
    /// The workflow files whose runs are verified (empty: all).
    pub workflows: Vec<String>,
}

impl GithubApp {
    /// The App from its configuration.
    ///
    /// # Errors
    /// [`GithubError`] when the private key is unusable.
    pub fn new(cfg: &GithubConfig, limits: &Limits) -> Result<GithubApp, GithubError> {
        Ok(GithubApp {
            client: GithubClient::new(
                &cfg.app.api_url,
                &cfg.app.app_id,
                &cfg.private_key,
                limits.github_timeout(),
            )?,
            webhook_secret: cfg.webhook_secret.clone(),
            artifact_name: cfg.app.artifact_name.clone(),
            check_name: cfg.app.check_name.clone(),
            workflows: cfg.app.workflows.clone(),
        })
    }
}

/// Everything a request handler needs.
#[derive(Debug)]
pub struct App {
    /// The storage.
    pub store: Arc<dyn Store>,
    /// The GitHub App, when configured.
    pub github: Option<Arc<GithubApp>>,
    /// How artifacts are verified.
    pub verifier: Arc<dyn ArtifactVerifier>,
    /// SHA-256 of the API token.
    pub api_token_digest: [u8; 32],
    /// Limits and timeouts.
    pub limits: Limits,
    /// The background webhook jobs, awaited at shutdown.
    pub tracker: TaskTracker,
}

impl App {
    /// The state for `cfg`, with its store and verifier.
    ///
    /// # Errors
    /// [`GithubError`] when the GitHub App's private key is unusable.
    pub fn new(
        cfg: &Config,
        store: Arc<dyn Store>,
        verifier: Arc<dyn ArtifactVerifier>,
    ) -> Result<App, GithubError> {
        let github = cfg
            .github
            .as_ref()
            .map(|g| GithubApp::new(g, &cfg.limits).map(Arc::new))
            .transpose()?;
        Ok(App {
            store,
            github,
            verifier,
            api_token_digest: token_digest(cfg.api_token.expose()),
            limits: cfg.limits.clone(),
            tracker: TaskTracker::new(),
        })
    }
}

/// The SHA-256 of a bearer token: compared instead of the token so that the comparison
/// takes the same time whatever the lengths.
pub fn token_digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}
