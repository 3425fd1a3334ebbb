//! Health endpoints for load balancers and operators.
//!
//! * `GET /healthz` — liveness: the process answers (always 200).
//! * `GET /readyz` and `GET /api/health/` — readiness: the database and, when
//!   configured, Redis each answer a trivial query within two seconds; 200
//!   when all do, else 503 naming what is down. No secrets, no versions.
//!   `cache` reports the read-through cache's counters (`active`, hits,
//!   misses, drops of a lost invalidation channel, entries); `outbox` the
//!   jobs (mails, reset requests) waiting to be carried out (`null` when
//!   the database does not answer).

use std::time::Duration;

use crate::state::Backends;
use axum::{Json, Router, extract::State, response::IntoResponse, routing::get};
use http::{HeaderValue, StatusCode, header};
use serde_json::json;

async fn probe(ok: impl std::future::Future<Output = bool>) -> &'static str {
    match tokio::time::timeout(Duration::from_secs(2), ok).await {
        Ok(true) => "ok",
        _ => "down",
    }
}

async fn ready(State(b): State<Backends>) -> impl IntoResponse {
    let database = probe(b.db.ping()).await;
    let session_store = match b.session_store_ping() {
        Some(ping) => probe(ping).await,
        None => "database",
    };
    let healthy = database == "ok" && session_store != "down";
    let backlog = match tokio::time::timeout(Duration::from_secs(2), b.db.stores().outbox.backlog()).await {
        Ok(Ok(n)) => Some(n),
        _ => None,
    };
    let status = if healthy { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let body = json!({
        "status": if healthy { "ok" } else { "unavailable" },
        "database": database,
        "session_store": session_store,
        "cache": b.cache.as_ref().map(|c| c.stats()),
        "outbox": { "backlog": backlog },
    });
    (status, [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))], Json(body))
}

async fn live() -> impl IntoResponse {
    ([(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))], Json(json!({"status": "ok"})))
}

/// The health routes.
pub fn router(backends: Backends) -> Router {
    Router::new()
        .route("/healthz", get(live))
        .route("/readyz", get(ready))
        .route("/api/health/", get(ready))
        .with_state(backends)
}
