//! `GET /api/openapi.json`: the API's OpenAPI 3.1 document, as
//! [`crate::http::openapi::document`] builds it for this server's settings.

use axum::{
    Json,
    extract::State,
    response::{IntoResponse, Response},
};
use http::{HeaderValue, header};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{Latchkey, http::openapi::document};

/// The paths of this router.
pub const PATHS: &[&str] = &[];

/// The OpenAPI 3.1 document of this API.
#[utoipa::path(get, path = "/api/openapi.json", tag = "meta",
    responses((status = 200, description = "The OpenAPI 3.1 document, for this server's settings (cookie names, preset).",
        content_type = "application/json", body = Object)))]
async fn openapi_view(State(lk): State<Latchkey>) -> Response {
    let mut res = Json(document(lk.settings())).into_response();
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    res
}

/// The document's route, outside the CSRF and session layer: it reads
/// nothing of the request.
pub(crate) fn router() -> OpenApiRouter<Latchkey> {
    OpenApiRouter::new().routes(routes!(openapi_view))
}
