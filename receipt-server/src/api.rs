//! The receipts API (`/v1/…`): read-only views of stored, verified builds and runs behind
//! a bearer token, and the two ingest endpoints that verify before they store. Every error
//! is JSON, `{"error": "<one sentence>"}`.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::multipart::MultipartRejection;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Multipart, Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use receipt_primitives::check::{Check, echo};

use crate::app::{App, token_digest};
use crate::store::{Inserted, Origin, RunInserted, StoreError};
use crate::verify::{RunUpload, VerifyError, verify_run_upload};

/// Default page size of `GET /v1/builds`.
pub const DEFAULT_PAGE: u32 = 50;

/// An error answer: a status and one sentence, with the failing checks for a 422.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
    checks: Option<Vec<Check>>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    checks: Option<&'a [Check]>,
}

impl ApiError {
    /// An error with a status and one sentence.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            checks: None,
        }
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    fn not_found(what: String) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, what)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "storage failure");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the server's database is unavailable; try again later",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (
            self.status,
            Json(ErrorBody {
                error: &self.message,
                checks: self.checks.as_deref(),
            }),
        )
            .into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        r
    }
}

/// The JSON error for a body that could not be read (too large, or broken off).
pub fn body_error(e: &BytesRejection, limit: usize) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the request body is larger than this endpoint's limit of {limit} bytes"),
        )
    } else {
        ApiError::new(
            e.status(),
            format!(
                "the request body could not be read: {}",
                echo(&e.body_text())
            ),
        )
    }
}

/// Middleware: the request must carry `Authorization: Bearer <the API token>`.
pub async fn require_token(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let ok = given.is_some_and(|t| bool::from(token_digest(t).ct_eq(&app.api_token_digest)));
    if !ok {
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            "this endpoint needs the header Authorization: Bearer <API token>",
        )
        .into_response();
    }
    next.run(req).await
}

/// Query of `GET /v1/builds`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    limit: Option<String>,
    cursor: Option<String>,
}

/// One page of builds.
#[derive(Debug, Serialize)]
pub struct BuildPage {
    builds: Vec<crate::store::BuildSummary>,
    next_cursor: Option<String>,
}

/// The cursor of the page after the one ending with build `id`.
pub fn cursor_after(id: i64) -> String {
    format!("b{id}")
}

fn parse_cursor(s: &str) -> Option<i64> {
    let digits = s.strip_prefix('b')?;
    if digits.is_empty() || digits.len() > 18 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().filter(|&n| n > 0)
}

/// `GET /v1/builds?limit=&cursor=`.
pub async fn list_builds(
    State(app): State<Arc<App>>,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<BuildPage>, ApiError> {
    let Query(q) = q.map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("the query is invalid: {}", echo(&e.body_text())),
        )
    })?;
    let max = app.limits.max_page;
    let limit = match q.limit.as_deref() {
        None => DEFAULT_PAGE.min(max),
        Some(s) => match s.parse::<u32>() {
            Ok(n) if (1..=max).contains(&n) => n,
            _ => {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    format!("limit {:?} is not a whole number from 1 to {max}", echo(s)),
                ));
            }
        },
    };
    let before = match q.cursor.as_deref() {
        None => None,
        Some(s) => Some(parse_cursor(s).ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("cursor {:?} is not a cursor this server returned", echo(s)),
            )
        })?),
    };
    let mut builds = app
        .store
        .list_builds(before, limit.saturating_add(1))
        .await?;
    let next_cursor = if builds.len() > limit as usize {
        builds.truncate(limit as usize);
        builds.last().map(|b| cursor_after(b.id))
    } else {
        None
    };
    Ok(Json(BuildPage {
        builds,
        next_cursor,
    }))
}

fn build_id(p: Result<Path<String>, PathRejection>) -> Result<i64, ApiError> {
    let Path(s) = p.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, echo(&e.body_text())))?;
    match s.parse::<i64>() {
        Ok(n) if n > 0 && s.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
        _ => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("build id {:?} is not a positive whole number", echo(&s)),
        )),
    }
}

fn run_id(p: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    let Path(s) = p.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, echo(&e.body_text())))?;
    if s.is_empty() || s.len() > 256 || s.chars().any(char::is_control) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!(
                "run id {:?} is empty, longer than 256 bytes or holds control characters",
                echo(&s)
            ),
        ));
    }
    Ok(s)
}

/// `GET /v1/builds/{id}`.
pub async fn get_build(
    State(app): State<Arc<App>>,
    p: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let id = build_id(p)?;
    match app.store.get_build(id).await? {
        Some(b) => Ok(Json(b).into_response()),
        None => Err(ApiError::not_found(format!("no build {id} is stored"))),
    }
}

fn json_bytes(bytes: Vec<u8>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        bytes,
    )
        .into_response()
}

/// `GET /v1/builds/{id}/receipt`: the receipt file's bytes, as stored.
pub async fn get_build_receipt(
    State(app): State<Arc<App>>,
    p: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let id = build_id(p)?;
    match app.store.build_receipt(id).await? {
        Some(b) => Ok(json_bytes(b)),
        None => Err(ApiError::not_found(format!("no build {id} is stored"))),
    }
}

/// `GET /v1/runs/{run_id}`.
pub async fn get_run(
    State(app): State<Arc<App>>,
    p: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let id = run_id(p)?;
    match app.store.get_run(&id).await? {
        Some(r) => Ok(Json(r).into_response()),
        None => Err(ApiError::not_found(format!(
            "no run {:?} is stored",
            echo(&id)
        ))),
    }
}

/// `GET /v1/runs/{run_id}/receipt`: the run receipt's bytes, as stored.
pub async fn get_run_receipt(
    State(app): State<Arc<App>>,
    p: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let id = run_id(p)?;
    match app.store.run_receipt(&id).await? {
        Some(b) => Ok(json_bytes(b)),
        None => Err(ApiError::not_found(format!(
            "no run {:?} is stored",
            echo(&id)
        ))),
    }
}

/// `GET /v1/runs/{run_id}/export`: the run export (`receipt.run-export/1`) the server wrote
/// with `receipt_runtime::export` when it stored the run.
pub async fn get_run_export(
    State(app): State<Arc<App>>,
    p: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let id = run_id(p)?;
    match app.store.run_export(&id).await? {
        Some(Some(b)) => Ok(json_bytes(b)),
        Some(None) => Err(ApiError::not_found(format!(
            "run {:?} was stored without an export document",
            echo(&id)
        ))),
        None => Err(ApiError::not_found(format!(
            "no run {:?} is stored",
            echo(&id)
        ))),
    }
}

fn failed(what: &str, report: &receipt_primitives::check::Report) -> ApiError {
    let checks: Vec<Check> = report.failures().cloned().collect();
    ApiError {
        status: StatusCode::UNPROCESSABLE_ENTITY,
        message: format!(
            "the {what} did not verify: {} check{} failed",
            checks.len(),
            if checks.len() == 1 { "" } else { "s" }
        ),
        checks: Some(checks),
    }
}

fn verify_error(e: VerifyError) -> ApiError {
    match e {
        VerifyError::Archive(why) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("the upload is not a readable receipt archive: {why}"),
        ),
        e @ VerifyError::ExportMismatch => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string())
        }
        e => {
            tracing::error!(error = %e, "verification could not run");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the server could not run the verification",
            )
        }
    }
}

/// `POST /v1/builds`: an artifact ZIP or a ledger tarball in the body; stored only when
/// every check passes.
pub async fn post_build(
    State(app): State<Arc<App>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body.map_err(|e| body_error(&e, app.limits.ingest_body_bytes))?;
    if body.is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "the request body is empty; send an artifact ZIP or a tarball of a receipt directory",
        ));
    }
    let verifier = Arc::clone(&app.verifier);
    let verified = tokio::task::spawn_blocking(move || verifier.verify(&body))
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "verification task failed");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the server could not run the verification",
            )
        })?
        .map_err(verify_error)?;
    if !verified.report.ok() {
        return Err(failed("upload", &verified.report));
    }
    let Some(new) = verified.into_new_build(Origin::Upload) else {
        return Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the server could not read back the verified build",
        ));
    };
    let (status, id) = match app.store.insert_build(&new).await? {
        Inserted::Created(id) => (StatusCode::CREATED, id),
        Inserted::Existing(id) => (StatusCode::OK, id),
    };
    tracing::info!(
        build = id,
        created = status == StatusCode::CREATED,
        "build ingested"
    );
    let detail =
        app.store.get_build(id).await?.ok_or_else(|| {
            ApiError::not_found(format!("build {id} vanished after it was stored"))
        })?;
    let mut r = (status, Json(detail)).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("/v1/builds/{id}")) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    Ok(r)
}

/// `POST /v1/runs`: `multipart/form-data` with parts `ledger`, `receipt` (required),
/// `head` and `export` (optional).
pub async fn post_run(
    State(app): State<Arc<App>>,
    mp: Result<Multipart, MultipartRejection>,
) -> Result<Response, ApiError> {
    let mut mp = mp.map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!(
                "the body must be multipart/form-data with parts ledger and receipt: {}",
                echo(&e.body_text())
            ),
        )
    })?;
    let limit = app.limits.ingest_body_bytes;
    let mut parts: [Option<Vec<u8>>; 4] = Default::default();
    const NAMES: [&str; 4] = ["ledger", "receipt", "head", "export"];
    loop {
        let field = match mp.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                let status = e.status();
                return Err(ApiError::new(
                    status,
                    if status == StatusCode::PAYLOAD_TOO_LARGE {
                        format!(
                            "the request body is larger than this endpoint's limit of {limit} bytes"
                        )
                    } else {
                        format!("the multipart body is malformed: {}", echo(&e.body_text()))
                    },
                ));
            }
        };
        let name = field.name().unwrap_or("").to_owned();
        let Some(i) = NAMES.iter().position(|n| *n == name) else {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                format!(
                    "unknown part {:?}; the parts are ledger, receipt, head and export",
                    echo(&name)
                ),
            ));
        };
        if parts[i].is_some() {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("the part {name} appears twice"),
            ));
        }
        let bytes = field.bytes().await.map_err(|e| {
            let status = e.status();
            ApiError::new(
                status,
                if status == StatusCode::PAYLOAD_TOO_LARGE {
                    format!(
                        "the request body is larger than this endpoint's limit of {limit} bytes"
                    )
                } else {
                    format!(
                        "the part {name} could not be read: {}",
                        echo(&e.body_text())
                    )
                },
            )
        })?;
        parts[i] = Some(bytes.to_vec());
    }
    let [ledger, receipt, head, export] = parts;
    let (Some(ledger), Some(receipt)) = (ledger, receipt) else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "the parts ledger and receipt are both required",
        ));
    };
    if let Some(x) = &export
        && serde_json::from_slice::<serde::de::IgnoredAny>(x).is_err()
    {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "the export part is not a JSON document",
        ));
    }
    let up = RunUpload {
        ledger,
        head,
        receipt,
        export,
    };
    let verified = tokio::task::spawn_blocking(move || verify_run_upload(up))
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "run verification task failed");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the server could not run the verification",
            )
        })?
        .map_err(verify_error)?;
    let Some(run) = verified.run else {
        return Err(failed("run", &verified.report));
    };
    let status = match app.store.insert_run(&run).await? {
        RunInserted::Created => StatusCode::CREATED,
        RunInserted::Existing => StatusCode::OK,
        RunInserted::Conflict => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                format!(
                    "run {:?} is already stored with a different receipt",
                    echo(&run.run_id)
                ),
            ));
        }
    };
    tracing::info!(run = %echo(&run.run_id), created = status == StatusCode::CREATED, "run ingested");
    let summary = app
        .store
        .get_run(&run.run_id)
        .await?
        .ok_or_else(|| ApiError::not_found("the run vanished after it was stored".into()))?;
    let mut r = (status, Json(summary)).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("/v1/runs/{}", run.run_id)) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        assert_eq!(parse_cursor(&cursor_after(42)), Some(42));
        for bad in [
            "",
            "b",
            "42",
            "b-1",
            "b0",
            "b1x",
            "b99999999999999999999",
            "b+1",
        ] {
            assert_eq!(parse_cursor(bad), None, "{bad}");
        }
    }
}
