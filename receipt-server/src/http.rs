//! The HTTP surface: the routes with their body limits and timeouts, and a serve loop that
//! shuts down gracefully (in-flight requests and webhook jobs finish).

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::middleware;
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultMakeSpan, DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::api::{self, ApiError};
use crate::app::App;
use crate::webhook;

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "no such endpoint")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "this endpoint does not answer that method",
    )
}

/// The routes, each with its body limit, and a timeout over all of them.
pub fn router(app: Arc<App>) -> Router {
    let limits = &app.limits;
    let read = Router::new()
        .route("/v1/builds", get(api::list_builds))
        .route("/v1/builds/{id}", get(api::get_build))
        .route("/v1/builds/{id}/receipt", get(api::get_build_receipt))
        .route("/v1/runs/{run_id}", get(api::get_run))
        .route("/v1/runs/{run_id}/receipt", get(api::get_run_receipt))
        .route("/v1/runs/{run_id}/export", get(api::get_run_export));
    let ingest = Router::new()
        .route("/v1/builds", post(api::post_build))
        .route("/v1/runs", post(api::post_run))
        .layer(DefaultBodyLimit::max(limits.ingest_body_bytes));
    let v1 = read
        .merge(ingest)
        .route_layer(middleware::from_fn_with_state(
            Arc::clone(&app),
            api::require_token,
        ));
    let hook = Router::new()
        .route("/github/webhook", post(webhook::handle))
        .layer(DefaultBodyLimit::max(limits.webhook_body_bytes));
    let timeout = limits.request_timeout();
    v1.merge(hook)
        .route("/healthz", get(|| async { "ok\n" }))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        // One INFO line per request: method, path, status, latency (never headers: the
        // bearer token and the webhook signature stay out of the logs).
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(DefaultMakeSpan::new().level(Level::INFO))
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
        .with_state(app)
}

/// Serves `app` on `listener` until `shutdown` completes, then lets in-flight requests
/// finish and waits (up to the configured grace) for the webhook jobs already accepted.
///
/// # Errors
/// The listener's I/O error.
pub async fn serve(
    listener: TcpListener,
    app: Arc<App>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let grace = app.limits.shutdown_grace();
    let tracker = app.tracker.clone();
    axum::serve(listener, router(app))
        .with_graceful_shutdown(shutdown)
        .await?;
    tracker.close();
    if tokio::time::timeout(grace, tracker.wait()).await.is_err() {
        tracing::warn!(
            jobs = tracker.len(),
            "shutdown grace ran out with webhook jobs still running; their deliveries stay claimed as processing"
        );
    }
    Ok(())
}

/// Completes on SIGTERM or ctrl-c.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown requested; finishing in-flight requests");
}
