//! Sign-up and email verification: `POST /api/signup/` (404 while
//! `accounts.signup` is closed), `POST /api/email/verify/` (the mailed key)
//! and `POST /api/email/verify/resend/` (always the same answer).

use axum::{
    Json, Router,
    extract::State,
    response::{IntoResponse, Response},
    routing::post,
};
use serde_json::json;

use crate::{
    Latchkey,
    csrf::CsrfToken,
    http::{
        ApiError,
        extract::{Client, JsonObject, MaybeUser, required_strings},
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

async fn signup_view(
    State(lk): State<Latchkey>,
    session: Session,
    csrf: CsrfToken,
    Client(client): Client,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    // Closed means absent: nothing is parsed or counted.
    if lk.settings().accounts.signup == Signup::Closed {
        return Err(crate::auth::AuthError::SignupClosed.into());
    }
    let [username, email, password] = required_strings(&body, ["username", "email", "password"])?;
    match lk.signup(&session, &csrf, &username, &email, &RawPassword::new(password), &client).await? {
        SignedUp::SignedIn(user) => {
            Ok(Json(json!({ "detail": "Welcome! You are signed in.", "username": user.username })).into_response())
        }
        SignedUp::CheckYourMail => Ok(Json(json!({ "detail": CHECK_YOUR_MAIL })).into_response()),
    }
}

async fn verify_view(
    State(lk): State<Latchkey>,
    MaybeUser(current): MaybeUser,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    let [key] = required_strings(&body, ["key"])?;
    let user = lk.verify_email(&key).await?;
    // The address itself only for the browser signed in as its owner.
    let email = current.filter(|u| u.id == user.id).map(|_| user.email);
    Ok(Json(json!({ "detail": "Your email address is confirmed.", "email": email })).into_response())
}

async fn resend_view(
    State(lk): State<Latchkey>,
    Client(client): Client,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    let [email] = required_strings(&body, ["email"])?;
    lk.request_verification(&email, client.ip).await?;
    Ok(Json(json!({ "detail": "If that address needs confirming, we have sent it a new link." })).into_response())
}

/// The sign-up and verification routes (without layers: [`crate::http::router`] adds them).
pub(crate) fn router() -> Router<Latchkey> {
    Router::new()
        .route("/api/signup/", post(signup_view))
        .route("/api/email/verify/", post(verify_view))
        .route("/api/email/verify/resend/", post(resend_view))
}
