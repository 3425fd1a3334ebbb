//! Password reset by mail: `POST /api/password/reset/` (always the same
//! answer) and `POST /api/password/reset/confirm/` (the mailed key and a new
//! password). Anyone may call them; neither signs anybody in.

use axum::{
    Json, Router,
    extract::State,
    response::{IntoResponse, Response},
    routing::post,
};
use serde_json::json;

use crate::{
    Latchkey,
    http::{
        ApiError,
        extract::{Client, JsonObject, required_strings},
    },
    password::RawPassword,
};

/// The paths of this router, each with its trailing slash.
pub const PATHS: &[&str] = &["/api/password/reset/", "/api/password/reset/confirm/"];

/// The one answer to a reset request, whether or not an account uses the address.
pub const RESET_REQUESTED: &str = "If an account uses that address, we have sent it a link.";

async fn request_view(
    State(lk): State<Latchkey>,
    Client(client): Client,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    let [email] = required_strings(&body, ["email"])?;
    lk.request_password_reset(&email, client.ip).await?;
    Ok(Json(json!({ "detail": RESET_REQUESTED })).into_response())
}

async fn confirm_view(
    State(lk): State<Latchkey>,
    Client(client): Client,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    let [key, new] = required_strings(&body, ["key", "newPassword"])?;
    lk.confirm_password_reset(&key, &RawPassword::new(new), client.ip).await?;
    Ok(Json(json!({ "detail": "Your password has been set. You may sign in now." })).into_response())
}

/// The password-reset routes (without layers: [`crate::http::router`] adds them).
pub(crate) fn router() -> Router<Latchkey> {
    Router::new()
        .route("/api/password/reset/", post(request_view))
        .route("/api/password/reset/confirm/", post(confirm_view))
}
