//! One module per feature, each with its own `router()`: [`auth`] (the
//! tutorial's five endpoints), [`account`] (the user's sessions, password
//! change, re-authentication), [`recovery`] (password reset by mail),
//! [`signup`] (sign-up, email verification), [`admin`] (the staff API
//! under `/api/admin/`), [`mfa`] (second factors), [`oidc`] (sign-in with
//! OpenID Connect providers, linked accounts), [`forward_auth`] (a
//! proxy's `auth_request`), [`openapi`] (the document) and [`health`]
//! (probes for load balancers).
//! A new feature adds a module here, merges its router in `feature_routers`
//! and its paths in [`API_PATHS`]. Every route is registered with
//! [`utoipa_axum::routes!`] and a `#[utoipa::path]` on its handler, which
//! puts it in the OpenAPI document ([`crate::http::openapi`]) as it is
//! served; `tests/it/openapi.rs` fails for a route the document lacks.

pub mod account;
pub mod admin;
pub mod auth;
pub mod forward_auth;
pub mod health;
pub mod mfa;
pub mod oidc;
pub mod openapi;
pub mod recovery;
pub mod signup;

use axum::{
    Router,
    extract::OriginalUri,
    response::{IntoResponse, Response},
};
use http::{HeaderValue, Method, StatusCode, header};
use utoipa_axum::router::OpenApiRouter;

use super::{ApiError, layers::ApiLayer};
use crate::Latchkey;

/// Every fixed `/api/` path the routers serve, by feature, each with its
/// trailing slash (the trailing-slash redirect knows them).
pub const API_PATHS: &[&[&str]] = &[
    auth::PATHS,
    account::PATHS,
    recovery::PATHS,
    signup::PATHS,
    admin::PATHS,
    mfa::PATHS,
    oidc::PATHS,
    forward_auth::PATHS,
    openapi::PATHS,
];

/// Prefixes under which one more segment names a resource
/// (`/api/sessions/{id}/`, `/api/admin/users/{id}/`), by feature.
pub const API_PREFIXES: &[&[&str]] = &[account::PREFIXES, admin::PREFIXES, mfa::PREFIXES, oidc::PREFIXES];

/// Whether `slashed` (a path ending in `/`) is one the routers serve.
fn is_api_path(slashed: &str) -> bool {
    API_PATHS.iter().any(|paths| paths.contains(&slashed))
        || API_PREFIXES.iter().flat_map(|p| p.iter()).any(|prefix| {
            slashed.strip_prefix(prefix).is_some_and(|rest| {
                let segment = rest.trim_end_matches('/');
                !segment.is_empty() && !segment.contains('/') && rest.len() == segment.len() + 1
            })
        })
}

/// The feature routers: those behind the CSRF and session layer, and
/// those outside it (they only read, and write no cookie).
fn feature_routers() -> [OpenApiRouter<Latchkey>; 2] {
    let layered = auth::router()
        .merge(account::router())
        .merge(recovery::router())
        .merge(signup::router())
        .merge(admin::router())
        .merge(mfa::router())
        .merge(oidc::router());
    [layered, forward_auth::router().merge(openapi::router())]
}

/// Every `/api/` route with its OpenAPI operation, without the layers (the
/// document is built from it).
pub(crate) fn api_routes() -> OpenApiRouter<Latchkey> {
    let [layered, open] = feature_routers();
    layered.merge(open)
}

/// The `/api/` routes with the CSRF and session layer on them. Merge it into
/// an application's router; [`crate::http::with_layers`] adds the outer layers.
pub fn router(lk: Latchkey) -> Router {
    let [layered, open] = feature_routers();
    // route_layer: unknown paths reach the fallback (slash redirect, 404)
    // untouched; a known path with a wrong method is CSRF-checked first, as
    // in Django (PUT without a token: 403, with one: 405).
    Router::from(layered.route_layer(ApiLayer(lk.clone())).merge(open)).with_state(lk)
}

/// Fallback: a known path without its trailing slash redirects to the
/// slashed one (Django's `APPEND_SLASH`) — 301 for GET/HEAD, 308 otherwise
/// so a POST keeps its method and body; everything else is a JSON 404.
pub async fn append_slash_fallback(method: Method, OriginalUri(uri): OriginalUri) -> Response {
    let path = uri.path();
    if !path.ends_with('/') {
        let slashed = format!("{path}/");
        if is_api_path(&slashed) {
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
