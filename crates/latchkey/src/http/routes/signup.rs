//! Sign-up and email verification: `POST /api/signup/` (404 while
//! `accounts.signup` is closed), `POST /api/email/verify/` (the mailed key)
//! and `POST /api/email/verify/resend/` (always the same answer).

use axum::{
    Json,
    extract::State,
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    Latchkey, Registration,
    csrf::CsrfToken,
    http::{
        ApiError,
        extract::{Body, Client, MaybeUser, RequestBody},
        openapi::{Detail, ErrorBody},
    },
    password::RawPassword,
    session::Session,
    settings::Signup,
    state::SignedUp,
};

/// The paths of this router, each with its trailing slash.
pub const PATHS: &[&str] = &["/api/signup/", "/api/email/verify/", "/api/email/verify/resend/"];

/// The answer to a sign-up that must be confirmed by mail, and to one with a
/// taken address (which must not be told apart).
pub const CHECK_YOUR_MAIL: &str = "Check your email to finish signing up.";

#[derive(Deserialize, ToSchema)]
pub(super) struct SignupRequest {
    username: String,
    /// Required when `accounts.email_verification` is not `none`.
    email: String,
    #[schema(value_type = String, format = Password)]
    password: RawPassword,
}
impl RequestBody for SignupRequest {}

/// A sign-up's answer.
#[derive(Serialize, ToSchema)]
pub(super) struct SignedUpAnswer {
    detail: &'static str,
    /// Present when the new user is signed in (no confirmation needed);
    /// absent when they must open the mailed link first.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false, nullable = false)]
    username: Option<String>,
}

#[derive(Deserialize, ToSchema)]
pub(super) struct KeyRequest {
    /// The key from the mailed link.
    key: String,
}
impl RequestBody for KeyRequest {}

#[derive(Deserialize, ToSchema)]
pub(super) struct ResendRequest {
    /// The address to confirm.
    email: String,
}
impl RequestBody for ResendRequest {}

/// An address confirmed.
#[derive(Serialize, ToSchema)]
pub(super) struct Verified {
    detail: &'static str,
    /// The address, only for the browser signed in as its owner.
    email: Option<String>,
}

/// Creates an account (404 while `accounts.signup` is closed).
#[utoipa::path(post, path = "/api/signup/", tag = "signup", request_body = SignupRequest,
    responses((status = 200, description = "Signed up: signed in (`username` present), or told to check their mail.", body = SignedUpAnswer),
        (status = 400, description = "`invalid_username`, `username_taken`, `invalid_email`, `email_taken` (unless `accounts.email_verification` is `mandatory`, where a taken address gets the usual answer), `password_invalid` (with `errors`).", body = ErrorBody),
        (status = 404, description = "`not_found`: sign-up is closed.", body = ErrorBody),
        (status = 429, description = "`throttled`.", body = ErrorBody)))]
async fn signup_view(
    State(lk): State<Latchkey>,
    session: Session,
    csrf: CsrfToken,
    Client(client): Client,
    body: Result<Body<SignupRequest>, ApiError>,
) -> Result<Response, ApiError> {
    // Closed means absent: nothing is parsed or counted.
    if lk.settings().accounts.signup == Signup::Closed {
        return Err(crate::auth::AuthError::SignupClosed.into());
    }
    let Body(body) = body?;
    match lk.registration().signup(&session, &csrf, &body.username, &body.email, &body.password, &client).await? {
        SignedUp::SignedIn(user) => {
            Ok(Json(SignedUpAnswer { detail: "Welcome! You are signed in.", username: Some(user.username) })
                .into_response())
        }
        SignedUp::CheckYourMail => Ok(Json(SignedUpAnswer { detail: CHECK_YOUR_MAIL, username: None }).into_response()),
        SignedUp::SecondFactor(methods) => Err(ApiError::second_factor_required(&methods)),
    }
}

/// Confirms an address with the mailed key.
#[utoipa::path(post, path = "/api/email/verify/", tag = "signup", request_body = KeyRequest,
    responses((status = 200, description = "Confirmed.", body = Verified),
        (status = 400, description = "`invalid_key`.", body = ErrorBody)))]
async fn verify_view(
    State(registration): State<Registration>,
    MaybeUser(current): MaybeUser,
    Body(body): Body<KeyRequest>,
) -> Result<Response, ApiError> {
    let user = registration.verify_email(&body.key).await?;
    // The address itself only for the browser signed in as its owner.
    let email = current.filter(|u| u.id == user.id).map(|_| user.email);
    Ok(Json(Verified { detail: "Your email address is confirmed.", email }).into_response())
}

/// Mails a new confirmation link; the same answer whatever the address.
#[utoipa::path(post, path = "/api/email/verify/resend/", tag = "signup", request_body = ResendRequest,
    responses((status = 200, description = "The one answer.", body = Detail),
        (status = 400, description = "`invalid_email`.", body = ErrorBody),
        (status = 429, description = "`throttled`.", body = ErrorBody)))]
async fn resend_view(
    State(registration): State<Registration>,
    Client(client): Client,
    Body(body): Body<ResendRequest>,
) -> Result<Response, ApiError> {
    registration.request_verification(&body.email, client.ip).await?;
    Ok(Detail::json("If that address needs confirming, we have sent it a new link.").into_response())
}

/// The sign-up and verification routes (without layers: [`crate::http::router`] adds them).
pub(crate) fn router() -> OpenApiRouter<Latchkey> {
    OpenApiRouter::new().routes(routes!(signup_view)).routes(routes!(verify_view)).routes(routes!(resend_view))
}
