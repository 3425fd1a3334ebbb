//! One module per feature, each with its own `router()`: [`auth`] (the
//! tutorial's five endpoints) and [`health`] (probes for load balancers).
//! A new feature adds a module here, merges its router in [`router`] and
//! its paths in [`API_PATHS`].

pub mod auth;
pub mod health;

use axum::{
    Router,
    extract::OriginalUri,
    response::{IntoResponse, Response},
};
use http::{HeaderValue, Method, StatusCode, header};

use super::{ApiError, layers::ApiLayer};
use crate::Latchkey;

/// Every `/api/` path the routers serve, each with its trailing slash (the
/// trailing-slash redirect knows them).
pub const API_PATHS: &[&str] = auth::PATHS;

/// The `/api/` routes with the CSRF and session layer on them. Merge it into
/// an application's router; [`crate::http::with_layers`] adds the outer layers.
pub fn router(lk: Latchkey) -> Router {
    auth::router()
        // route_layer: unknown paths reach the fallback (slash redirect, 404)
        // untouched; a known path with a wrong method is CSRF-checked first,
        // as in Django (PUT without a token: 403, with one: 405).
        .route_layer(ApiLayer(lk.clone()))
        .with_state(lk)
}

/// Fallback: a known path without its trailing slash redirects to the
/// slashed one (Django's `APPEND_SLASH`) — 301 for GET/HEAD, 308 otherwise
/// so a POST keeps its method and body; everything else is a JSON 404.
pub async fn append_slash_fallback(method: Method, OriginalUri(uri): OriginalUri) -> Response {
    let path = uri.path();
    if !path.ends_with('/') {
        let slashed = format!("{path}/");
        if API_PATHS.contains(&slashed.as_str()) {
            let location = match uri.query() {
                Some(q) => format!("{slashed}?{q}"),
                None => slashed,
            };
            let status = if method == Method::GET || method == Method::HEAD {
                StatusCode::MOVED_PERMANENTLY
            } else {
                StatusCode::PERMANENT_REDIRECT
            };
            return match HeaderValue::from_str(&location) {
                Ok(loc) => (status, [(header::LOCATION, loc)]).into_response(),
                Err(_) => ApiError::new(StatusCode::NOT_FOUND, "not_found", "Not found.").into_response(),
            };
        }
    }
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "Not found.").into_response()
}
