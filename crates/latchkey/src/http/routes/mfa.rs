//! Second factors: `GET /api/mfa/` (what the user has), `GET|POST|DELETE
//! /api/mfa/totp/` (set up, activate, remove an authenticator app),
//! `GET|POST /api/mfa/recovery-codes/` (how many are left, a new set) and
//! `POST /api/mfa/authenticate/` (the second step of a sign-in).
//!
//! Setting up and removing take session authentication only
//! ([`SessionUser`]) and, where the flows say so, a recent sign-in. Every
//! answer is `Cache-Control: no-store` (the API layer's), which matters here:
//! some carry secrets or codes. The flows are in `state/mfa.rs`.

use axum::{
    Json, Router,
    extract::State,
    http::header,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde_json::{Value, json};

use super::auth::rfc3339;
use crate::{
    Latchkey,
    csrf::CsrfToken,
    http::{
        ApiError, cookies,
        extract::{Client, JsonObject, SessionUser, required_strings},
    },
    mfa::totp::qr_svg,
    session::Session,
    state::FactorUsed,
};

/// The paths of this router.
pub const PATHS: &[&str] = &["/api/mfa/", "/api/mfa/totp/", "/api/mfa/recovery-codes/", "/api/mfa/authenticate/"];

async fn status_view(State(lk): State<Latchkey>, SessionUser(user): SessionUser) -> Result<Response, ApiError> {
    let totp = totp_json(&lk, &user).await?;
    let left = lk.recovery_codes_left(&user).await?;
    Ok(Json(json!({ "methods": lk.mfa_methods(user.id).await?, "totp": totp, "recoveryCodesLeft": left }))
        .into_response())
}

/// A user's authenticator app as the account page and the admin show it.
pub(super) async fn totp_json(lk: &Latchkey, user: &crate::users::User) -> Result<Value, ApiError> {
    Ok(match lk.mfa().totp(user.id).await.map_err(crate::auth::AuthError::from)? {
        Some(f) => json!({
            "enabled": true,
            "createdAt": rfc3339(f.created_at)?,
            "lastUsedAt": f.last_used_at.map(rfc3339).transpose()?,
        }),
        None => json!({ "enabled": false }),
    })
}

async fn totp_setup_view(
    State(lk): State<Latchkey>,
    session: Session,
    SessionUser(user): SessionUser,
) -> Result<Response, ApiError> {
    let setup = lk.totp_setup(&user, &session).await?;
    let svg = qr_svg(&setup.otpauth_url).ok_or_else(|| ApiError::internal("the otpauth URL does not fit a QR code"))?;
    Ok(Json(json!({ "secret": setup.secret, "otpauthUrl": setup.otpauth_url, "qrSvg": svg })).into_response())
}

async fn totp_activate_view(
    State(lk): State<Latchkey>,
    session: Session,
    Client(client): Client,
    SessionUser(user): SessionUser,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    let [code] = required_strings(&body, ["code"])?;
    let codes = lk.totp_activate(&user, &session, &code, &client).await?;
    Ok(Json(json!({
        "detail": "Your authenticator app is set up. Keep these recovery codes somewhere safe: each works once.",
        "recoveryCodes": codes,
    }))
    .into_response())
}

async fn totp_disable_view(
    State(lk): State<Latchkey>,
    session: Session,
    Client(client): Client,
    SessionUser(user): SessionUser,
) -> Result<Response, ApiError> {
    lk.totp_disable(&user, &session, &client).await?;
    Ok(Json(json!({ "detail": "The authenticator app and the recovery codes are removed." })).into_response())
}

async fn recovery_codes_view(State(lk): State<Latchkey>, SessionUser(user): SessionUser) -> Result<Response, ApiError> {
    Ok(Json(json!({ "remaining": lk.recovery_codes_left(&user).await? })).into_response())
}

async fn regenerate_codes_view(
    State(lk): State<Latchkey>,
    session: Session,
    Client(client): Client,
    SessionUser(user): SessionUser,
) -> Result<Response, ApiError> {
    let codes = lk.regenerate_recovery_codes(&user, &session, &client).await?;
    Ok(Json(json!({ "detail": "New recovery codes; the old ones no longer work.", "recoveryCodes": codes }))
        .into_response())
}

async fn authenticate_view(
    State(lk): State<Latchkey>,
    session: Session,
    csrf: CsrfToken,
    Client(client): Client,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    let [code] = required_strings(&body, ["code"])?;
    let (user, used) = lk.complete_second_factor(&session, &csrf, &code, &client).await?;
    let mut answer = json!({ "detail": "Successfully logged in.", "username": user.username });
    if let FactorUsed::RecoveryCode(left) = used {
        answer["recoveryCodesLeft"] = json!(left);
    }
    let mut res = Json(answer).into_response();
    // As after a password-only login: this browser is a known device.
    if let (Some(settings), Some(value)) = (&lk.settings().device_cookie, lk.device_cookie_for(&user)) {
        res.headers_mut().append(header::SET_COOKIE, cookies::set(settings, &value, lk.clock().now()));
    }
    Ok(res)
}

/// The second-factor routes (without layers: [`crate::http::router`] adds them).
pub(crate) fn router() -> Router<Latchkey> {
    Router::new()
        .route("/api/mfa/", get(status_view))
        .route("/api/mfa/totp/", get(totp_setup_view).post(totp_activate_view).delete(totp_disable_view))
        .route("/api/mfa/recovery-codes/", get(recovery_codes_view).post(regenerate_codes_view))
        .route("/api/mfa/authenticate/", post(authenticate_view))
}
