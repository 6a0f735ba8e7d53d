//! `POST /github/webhook`: the signature is checked on the raw body before anything is
//! parsed; a `workflow_run` `completed` delivery is claimed once (redeliveries are
//! ignored) and verified in the background, ending in one check run on the head commit.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

use receipt_primitives::check::{Report, echo};

use crate::api::{ApiError, body_error};
use crate::app::App;
use crate::github::{CheckOutput, CheckRun, GithubError};
use crate::store::Origin;
use crate::verify::VerifyError;

/// Largest check-run summary GitHub accepts, in characters.
const SUMMARY_MAX: usize = 65_535;

/// Whether `header` (`sha256=<64 hex>`) is the HMAC-SHA256 of `body` under `secret`,
/// compared in constant time.
pub fn signature_ok(secret: &[u8], body: &[u8], header: Option<&str>) -> bool {
    let Some(hex_sig) = header.and_then(|h| h.strip_prefix("sha256=")) else {
        return false;
    };
    let Ok(sig) = hex::decode(hex_sig) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&sig).is_ok()
}

/// The parts of a `workflow_run` payload the server reads.
#[derive(Debug, Deserialize)]
struct WorkflowRunEvent {
    action: String,
    workflow_run: WorkflowRun,
    repository: Repository,
    installation: Option<Installation>,
}

#[derive(Debug, Deserialize)]
struct WorkflowRun {
    id: i64,
    head_sha: String,
    /// The workflow file, `.github/workflows/NAME.yml` (GitHub may append `@ref`).
    #[serde(default)]
    path: String,
}

#[derive(Debug, Deserialize)]
struct Repository {
    full_name: String,
}

#[derive(Debug, Deserialize)]
struct Installation {
    id: i64,
}

/// One `workflow_run` job: what to fetch and where to report.
#[derive(Debug, Clone)]
struct Job {
    delivery: String,
    installation: i64,
    repository: String,
    run_id: i64,
    head_sha: String,
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

fn accepted(status: StatusCode, what: &str) -> Response {
    (status, axum::Json(serde_json::json!({ "status": what }))).into_response()
}

/// The webhook handler.
pub async fn handle(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let Some(gh) = app.github.clone() else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "this server has no GitHub App configured",
        ));
    };
    let body = body.map_err(|e| body_error(&e, app.limits.webhook_body_bytes))?;
    if !signature_ok(
        gh.webhook_secret.expose().as_bytes(),
        &body,
        header(&headers, "x-hub-signature-256"),
    ) {
        tracing::warn!(
            delivery = header(&headers, "x-github-delivery").map(echo),
            "webhook signature missing or wrong"
        );
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "the X-Hub-Signature-256 header is missing or is not the HMAC of the body under the webhook secret",
        ));
    }
    let delivery = match header(&headers, "x-github-delivery") {
        Some(d)
            if !d.is_empty()
                && d.len() <= 100
                && d.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') =>
        {
            d.to_owned()
        }
        _ => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "the X-GitHub-Delivery header is missing or is not a delivery id",
            ));
        }
    };
    let event = header(&headers, "x-github-event").unwrap_or("");
    match event {
        "ping" => return Ok(accepted(StatusCode::OK, "pong")),
        "workflow_run" => {}
        _ => return Ok(accepted(StatusCode::ACCEPTED, "ignored")),
    }
    let ev: WorkflowRunEvent = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!(
                "the workflow_run payload is malformed: {}",
                echo(&e.to_string())
            ),
        )
    })?;
    if ev.action != "completed" {
        return Ok(accepted(StatusCode::ACCEPTED, "ignored"));
    }
    let workflow = ev.workflow_run.path.split('@').next().unwrap_or("");
    if !gh.workflows.is_empty() && !gh.workflows.iter().any(|w| w == workflow) {
        return Ok(accepted(StatusCode::ACCEPTED, "ignored"));
    }
    let Some(installation) = ev.installation else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "the workflow_run payload has no installation id",
        ));
    };
    if !app.store.claim_delivery(&delivery, event).await? {
        tracing::info!(delivery, "redelivery ignored");
        return Ok(accepted(StatusCode::OK, "duplicate"));
    }
    let job = Job {
        delivery,
        installation: installation.id,
        repository: ev.repository.full_name,
        run_id: ev.workflow_run.id,
        head_sha: ev.workflow_run.head_sha,
    };
    tracing::info!(
        delivery = job.delivery,
        repository = job.repository,
        run_id = job.run_id,
        "workflow run queued for verification"
    );
    let app2 = Arc::clone(&app);
    app.tracker.spawn(async move { run_job(app2, job).await });
    Ok(accepted(StatusCode::ACCEPTED, "accepted"))
}

/// Runs one job; on a failure before the check run was posted, gives the delivery up so
/// GitHub's redelivery is processed.
async fn run_job(app: Arc<App>, job: Job) {
    match process(&app, &job).await {
        Ok(conclusion) => {
            tracing::info!(
                delivery = job.delivery,
                repository = job.repository,
                run_id = job.run_id,
                conclusion,
                "check run posted"
            );
            if let Err(e) = app.store.finish_delivery(&job.delivery, conclusion).await {
                tracing::error!(delivery = job.delivery, error = %e, "cannot record the delivery as done");
            }
        }
        Err(e) => {
            tracing::error!(
                delivery = job.delivery,
                repository = job.repository,
                run_id = job.run_id,
                error = %e,
                "workflow run not processed; a redelivery will retry"
            );
            if let Err(e) = app.store.release_delivery(&job.delivery).await {
                tracing::error!(delivery = job.delivery, error = %e, "cannot release the delivery");
            }
        }
    }
}

/// Why a job did not complete.
#[derive(Debug, thiserror::Error)]
enum JobError {
    #[error(transparent)]
    Github(#[from] GithubError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("the verification task did not complete: {0}")]
    Task(String),
}

/// What the check run says.
struct Outcome {
    success: bool,
    title: String,
    summary: String,
}

async fn process(app: &Arc<App>, job: &Job) -> Result<&'static str, JobError> {
    let Some(gh) = app.github.as_ref() else {
        return Err(JobError::Task("no GitHub App configured".into()));
    };
    let token = gh.client.installation_token(job.installation).await?;
    let name = &gh.artifact_name;
    let artifacts = gh
        .client
        .list_artifacts(&token, &job.repository, job.run_id, name)
        .await?;
    let outcome = match artifacts.iter().find(|a| &a.name == name && !a.expired) {
        None => Outcome {
            success: false,
            title: format!("No `{name}` artifact"),
            summary: format!(
                "Workflow run {} uploaded no artifact named `{name}` (or it has expired), so there is no receipt to verify. Upload the receipt directory (`target/receipt/`) under that name.",
                job.run_id
            ),
        },
        Some(a) if a.size_in_bytes > app.limits.artifact_bytes => Outcome {
            success: false,
            title: format!("`{name}` is too large"),
            summary: format!(
                "The artifact `{name}` of workflow run {} is {} bytes, more than this verifier's limit of {} bytes.",
                job.run_id, a.size_in_bytes, app.limits.artifact_bytes
            ),
        },
        Some(a) => {
            match gh
                .client
                .download_artifact(&token, &job.repository, a.id, app.limits.artifact_bytes)
                .await
            {
                Err(GithubError::TooLarge { limit }) => Outcome {
                    success: false,
                    title: format!("`{name}` is too large"),
                    summary: format!(
                        "The artifact `{name}` of workflow run {} is more than this verifier's limit of {limit} bytes.",
                        job.run_id
                    ),
                },
                Err(e) => return Err(e.into()),
                Ok(bytes) => verify_and_store(app, job, name, bytes).await?,
            }
        }
    };
    let run = CheckRun {
        name: gh.check_name.clone(),
        head_sha: job.head_sha.clone(),
        status: "completed",
        conclusion: if outcome.success {
            "success"
        } else {
            "failure"
        },
        output: CheckOutput {
            title: outcome.title,
            summary: outcome.summary,
        },
    };
    gh.client
        .create_check_run(&token, &job.repository, &run)
        .await?;
    Ok(run.conclusion)
}

async fn verify_and_store(
    app: &Arc<App>,
    job: &Job,
    name: &str,
    bytes: Vec<u8>,
) -> Result<Outcome, JobError> {
    let verifier = Arc::clone(&app.verifier);
    let verified = tokio::task::spawn_blocking(move || verifier.verify(&bytes))
        .await
        .map_err(|e| JobError::Task(e.to_string()))?;
    let verified = match verified {
        Ok(v) => v,
        Err(VerifyError::Archive(why)) => {
            return Ok(Outcome {
                success: false,
                title: format!("`{name}` could not be unpacked"),
                summary: format!(
                    "The artifact `{name}` of workflow run {} is not a receipt directory this verifier can read: {why}",
                    job.run_id
                ),
            });
        }
        Err(e) => return Err(JobError::Task(e.to_string())),
    };
    let report = verified.report.clone();
    let fields = verified.facts.as_ref().map(|f| f.fields.clone());
    let mut stored = None;
    if let Some(b) = verified.into_new_build(Origin::Github {
        repository: job.repository.clone(),
        workflow_run_id: job.run_id,
        head_sha: job.head_sha.clone(),
    }) {
        stored = Some(app.store.insert_build(&b).await?);
    }
    let mut head = String::new();
    if let Some(f) = &fields {
        head.push_str(&format!(
            "**Producer** {} · **commit** {}{} · **built** {} · **chain** {} receipt{}\n\n",
            f.producer,
            f.commit.as_deref().unwrap_or("unknown"),
            if f.dirty == Some(true) {
                " (dirty)"
            } else {
                ""
            },
            f.timestamp,
            f.chain_length,
            if f.chain_length == 1 { "" } else { "s" },
        ));
    }
    if let Some(s) = stored {
        let id = match s {
            crate::store::Inserted::Created(id) | crate::store::Inserted::Existing(id) => id,
        };
        head.push_str(&format!(
            "Stored as build {id} (`GET /v1/builds/{id}`).\n\n"
        ));
    }
    Ok(outcome_of(&report, name, job.run_id, &head))
}

/// The check run's title and summary: every check line in a code block.
fn outcome_of(report: &Report, name: &str, run_id: i64, head: &str) -> Outcome {
    let failed = report.failures().count();
    let total = report.checks.len();
    let title = if report.ok() {
        format!("Receipt verified: {total} checks passed")
    } else {
        let first = report
            .failures()
            .next()
            .map_or_else(|| "no checks were made".to_owned(), |c| c.id.to_string());
        format!("Receipt verification failed: {failed} of {total} checks ({first})")
    };
    let mut summary = format!(
        "{head}Artifact `{name}` of workflow run {run_id}, verified as `cargo receipt verify DIR` does.\n\n```text\n"
    );
    let tail = "```\n";
    for (i, c) in report.checks.iter().enumerate() {
        let line = format!("{c}\n").replace("```", "'''");
        let rest = total - i;
        let note = format!("… {rest} more checks not shown\n");
        if summary.len() + line.len() + note.len() + tail.len() > SUMMARY_MAX {
            summary.push_str(&note);
            break;
        }
        summary.push_str(&line);
    }
    summary.push_str(tail);
    Outcome {
        success: report.ok(),
        title,
        summary,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use receipt_primitives::check::{CheckId, Verdict};

    fn sign(secret: &[u8], body: &[u8]) -> String {
        let mut m = Hmac::<Sha256>::new_from_slice(secret).unwrap();
        m.update(body);
        format!("sha256={}", hex::encode(m.finalize().into_bytes()))
    }

    #[test]
    fn signature_is_checked_against_the_raw_body() {
        let body = br#"{"action":"completed"}"#;
        let good = sign(b"s3cret", body);
        assert!(signature_ok(b"s3cret", body, Some(&good)));
        assert!(!signature_ok(b"other", body, Some(&good)));
        assert!(!signature_ok(
            b"s3cret",
            b"{\"action\":\"completed\" }",
            Some(&good)
        ));
        assert!(!signature_ok(b"s3cret", body, None));
        assert!(!signature_ok(
            b"s3cret",
            body,
            Some(&good.replace("sha256=", "sha1="))
        ));
        assert!(!signature_ok(b"s3cret", body, Some("sha256=zz")));
        assert!(!signature_ok(
            b"s3cret",
            body,
            Some(&good[..good.len() - 2])
        ));
    }

    #[test]
    fn summary_lists_every_check_and_stays_under_githubs_limit() {
        let mut r = Report::default();
        r.push(CheckId::ChainHead, Verdict::Pass, None, "fine");
        r.push(CheckId::GraphTau, Verdict::Fail, None, "τ differs ```");
        let o = outcome_of(&r, "a", 7, "");
        assert!(!o.success);
        assert!(o.title.contains("graph.tau"), "{}", o.title);
        assert!(o.summary.contains("chain.head") && o.summary.contains("graph.tau"));
        assert_eq!(o.summary.matches("```").count(), 2);
        let mut big = Report::default();
        for _ in 0..5000 {
            big.push(CheckId::ChainHead, Verdict::Pass, None, "x".repeat(100));
        }
        let o = outcome_of(&big, "a", 7, "");
        assert!(o.summary.len() <= SUMMARY_MAX);
        assert!(o.summary.contains("more checks not shown"));
    }
}
