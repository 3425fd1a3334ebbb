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

use crate::{cache::CacheStats, state::Backends};
use axum::{Json, Router, extract::State, response::IntoResponse};
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

/// Readiness: each dependency's state.
#[derive(Serialize, ToSchema)]
pub(crate) struct Readiness {
    /// `ok` or `unavailable`.
    status: &'static str,
    /// `ok` or `down`.
    database: &'static str,
    /// `ok`, `down`, or `database` when sessions live in the database.
    session_store: &'static str,
    /// The read-through cache's counters; `null` without a cache.
    cache: Option<CacheStats>,
    /// Jobs waiting to be carried out.
    outbox: Outbox,
}

/// The outbox's state.
#[derive(Serialize, ToSchema)]
pub(crate) struct Outbox {
    /// How many jobs wait; `null` when the database does not answer.
    backlog: Option<u64>,
}

/// Liveness.
#[derive(Serialize, ToSchema)]
pub(crate) struct Liveness {
    /// Always `ok`.
    status: &'static str,
}

async fn probe(ok: impl std::future::Future<Output = bool>) -> &'static str {
    match tokio::time::timeout(Duration::from_secs(2), ok).await {
        Ok(true) => "ok",
        _ => "down",
    }
}

/// Readiness: the database and the session store each answer within two seconds.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses((status = 200, description = "Ready.", body = Readiness),
        (status = 503, description = "A dependency is down.", body = Readiness)))]
async fn ready(State(b): State<Backends>) -> impl IntoResponse {
    readiness(b).await
}

/// Readiness, under `/api/` for proxies that only forward it.
#[utoipa::path(get, path = "/api/health/", tag = "health",
    responses((status = 200, description = "Ready.", body = Readiness),
        (status = 503, description = "A dependency is down.", body = Readiness)))]
async fn api_ready(State(b): State<Backends>) -> impl IntoResponse {
    readiness(b).await
}

async fn readiness(b: Backends) -> impl IntoResponse {
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
    let body = Readiness {
        status: if healthy { "ok" } else { "unavailable" },
        database,
        session_store,
        cache: b.cache.as_ref().map(|c| c.stats()),
        outbox: Outbox { backlog },
    };
    (status, [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))], Json(body))
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, description = "Alive.", body = Liveness)))]
async fn live() -> impl IntoResponse {
    ([(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))], Json(Liveness { status: "ok" }))
}

/// The health routes with their OpenAPI operations.
pub(crate) fn routes() -> OpenApiRouter<Backends> {
    OpenApiRouter::new().routes(routes!(live)).routes(routes!(ready)).routes(routes!(api_ready))
}

/// The health routes.
pub fn router(backends: Backends) -> Router {
    Router::from(routes()).with_state(backends)
}
