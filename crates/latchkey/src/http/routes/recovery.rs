//! Password reset by mail: `POST /api/password/reset/` (always the same
//! answer) and `POST /api/password/reset/confirm/` (the mailed key and a new
//! password). Anyone may call them; neither signs anybody in.

use axum::{
    extract::State,
    response::{IntoResponse, Response},
};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    Latchkey,
    http::{
        ApiError,
        extract::{Client, JsonObject, required_strings},
        openapi::{Detail, ErrorBody},
    },
    password::RawPassword,
};

/// The paths of this router, each with its trailing slash.
pub const PATHS: &[&str] = &["/api/password/reset/", "/api/password/reset/confirm/"];

/// The one answer to a reset request, whether or not an account uses the address.
pub const RESET_REQUESTED: &str = "If an account uses that address, we have sent it a link.";

#[derive(ToSchema)]
#[expect(dead_code, reason = "describes a body read field by field")]
pub(super) struct ResetRequest {
    /// The account's address.
    email: String,
}

#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
#[expect(dead_code, reason = "describes a body read field by field")]
pub(super) struct ResetConfirm {
    /// The key from the mailed link.
    key: String,
    #[schema(format = Password)]
    new_password: String,
}

/// Mails a reset link; the same answer whether or not an account uses the address.
#[utoipa::path(post, path = "/api/password/reset/", tag = "recovery", request_body = ResetRequest,
    responses((status = 200, description = "The one answer.", body = Detail),
        (status = 400, description = "`invalid_email`, `missing_fields`.", body = ErrorBody),
        (status = 429, description = "`throttled`.", body = ErrorBody)))]
async fn request_view(
    State(lk): State<Latchkey>,
    Client(client): Client,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    let [email] = required_strings(&body, ["email"])?;
    lk.request_password_reset(&email, client.ip).await?;
    Ok(Detail::json(RESET_REQUESTED).into_response())
}

/// Sets a new password with the mailed key; every session of the account ends.
#[utoipa::path(post, path = "/api/password/reset/confirm/", tag = "recovery", request_body = ResetConfirm,
    responses((status = 200, description = "The password is set.", body = Detail),
        (status = 400, description = "`invalid_key`, `password_invalid` (with `errors`), `missing_fields`.", body = ErrorBody),
        (status = 429, description = "`throttled`.", body = ErrorBody)))]
async fn confirm_view(
    State(lk): State<Latchkey>,
    Client(client): Client,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    let [key, new] = required_strings(&body, ["key", "newPassword"])?;
    lk.confirm_password_reset(&key, &RawPassword::new(new), client.ip).await?;
    Ok(Detail::json("Your password has been set. You may sign in now.").into_response())
}

/// The password-reset routes (without layers: [`crate::http::router`] adds them).
pub(crate) fn router() -> OpenApiRouter<Latchkey> {
    OpenApiRouter::new().routes(routes!(request_view)).routes(routes!(confirm_view))
}
