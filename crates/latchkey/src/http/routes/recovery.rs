//! Password reset by mail: `POST /api/password/reset/` (always the same
//! answer) and `POST /api/password/reset/confirm/` (the mailed key and a new
//! password). Anyone may call them; neither signs anybody in.

use axum::{
    extract::State,
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    Latchkey, Recovery,
    http::{
        ApiError,
        extract::{Body, Client, RequestBody},
        openapi::{Detail, ErrorBody},
    },
    password::RawPassword,
};

/// The paths of this router, each with its trailing slash.
pub const PATHS: &[&str] = &["/api/password/reset/", "/api/password/reset/confirm/"];

/// The one answer to a reset request, whether or not an account uses the address.
pub const RESET_REQUESTED: &str = "If an account uses that address, we have sent it a link.";

#[derive(Deserialize, ToSchema)]
pub(super) struct ResetRequest {
    /// The account's address.
    email: String,
}
impl RequestBody for ResetRequest {}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct ResetConfirm {
    /// The key from the mailed link.
    key: String,
    #[schema(value_type = String, format = Password)]
    new_password: RawPassword,
}
impl RequestBody for ResetConfirm {}

/// Mails a reset link; the same answer whether or not an account uses the address.
#[utoipa::path(post, path = "/api/password/reset/", tag = "recovery", request_body = ResetRequest,
    responses((status = 200, description = "The one answer.", body = Detail),
        (status = 400, description = "`invalid_email`.", body = ErrorBody),
        (status = 429, description = "`throttled`.", body = ErrorBody)))]
async fn request_view(
    State(recovery): State<Recovery>,
    Client(client): Client,
    Body(body): Body<ResetRequest>,
) -> Result<Response, ApiError> {
    recovery.request_password_reset(&body.email, client.ip).await?;
    Ok(Detail::json(RESET_REQUESTED).into_response())
}

/// Sets a new password with the mailed key; every session of the account ends.
#[utoipa::path(post, path = "/api/password/reset/confirm/", tag = "recovery", request_body = ResetConfirm,
    responses((status = 200, description = "The password is set.", body = Detail),
        (status = 400, description = "`invalid_key`, `password_invalid` (with `errors`).", body = ErrorBody),
        (status = 429, description = "`throttled`.", body = ErrorBody)))]
async fn confirm_view(
    State(recovery): State<Recovery>,
    Client(client): Client,
    Body(body): Body<ResetConfirm>,
) -> Result<Response, ApiError> {
    recovery.confirm_password_reset(&body.key, &body.new_password, client.ip).await?;
    Ok(Detail::json("Your password has been set. You may sign in now.").into_response())
}

/// The password-reset routes (without layers: [`crate::http::router`] adds them).
pub(crate) fn router() -> OpenApiRouter<Latchkey> {
    OpenApiRouter::new().routes(routes!(request_view)).routes(routes!(confirm_view))
}
