//! Second factors and passkeys: `GET /api/mfa/` (what the user has),
//! `GET|POST|DELETE /api/mfa/totp/` (set up, activate, remove an
//! authenticator app), `GET|POST /api/mfa/recovery-codes/` (how many are
//! left, a new set), `POST /api/mfa/webauthn/register/options/` and
//! `…/register/` (a new passkey or security key), `GET
//! /api/mfa/webauthn/credentials/` and `PATCH|DELETE …/{id}/` (list, rename,
//! remove), `POST /api/mfa/webauthn/options/` and `POST
//! /api/mfa/authenticate/` (the second step of a sign-in), `POST
//! /api/login/webauthn/options/` and `POST /api/login/webauthn/` (signing in
//! with a passkey, no password).
//!
//! Setting up and removing take session authentication only
//! ([`SessionUser`]; the routes that set a factor up take a staff user
//! still required to set one up too, [`SetupUser`]) and, where the flows
//! say so, a recent sign-in. Every
//! answer is `Cache-Control: no-store` (the API layer's), which matters here:
//! some carry secrets or codes. The flows are in `state/mfa.rs` and
//! `state/webauthn.rs`.

use axum::{
    Json, Router,
    extract::{Path, State},
    http::header,
    response::{IntoResponse, Response},
    routing::{get, patch, post},
};
use serde_json::{Value, json};

use super::auth::rfc3339;
use crate::{
    Latchkey,
    csrf::CsrfToken,
    http::{
        ApiError, cookies,
        extract::{Client, JsonObject, SessionUser, SetupUser, required_strings},
    },
    mfa::{WebauthnCredential, totp::qr_svg},
    session::Session,
    state::{FactorUsed, SecondFactor},
    users::User,
};

/// The paths of this router.
pub const PATHS: &[&str] = &[
    "/api/mfa/",
    "/api/mfa/totp/",
    "/api/mfa/recovery-codes/",
    "/api/mfa/authenticate/",
    "/api/mfa/webauthn/options/",
    "/api/mfa/webauthn/register/options/",
    "/api/mfa/webauthn/register/",
    "/api/mfa/webauthn/credentials/",
    "/api/login/webauthn/options/",
    "/api/login/webauthn/",
];

/// Prefixes under which one more segment names a credential.
pub const PREFIXES: &[&str] = &["/api/mfa/webauthn/credentials/"];

async fn status_view(State(lk): State<Latchkey>, SetupUser(user): SetupUser) -> Result<Response, ApiError> {
    let totp = totp_json(&lk, &user).await?;
    let left = lk.recovery_codes_left(&user).await?;
    let webauthn = credentials_json(&lk, &user).await?;
    let methods = lk.mfa_methods(user.id).await?;
    Ok(Json(json!({ "methods": methods, "totp": totp, "webauthn": webauthn, "recoveryCodesLeft": left }))
        .into_response())
}

fn credential_json(c: &WebauthnCredential) -> Result<Value, ApiError> {
    Ok(json!({
        "id": c.id,
        "name": c.name,
        "createdAt": rfc3339(c.created_at)?,
        "lastUsedAt": c.last_used_at.map(rfc3339).transpose()?,
    }))
}

/// A user's passkeys and security keys as the account page and the admin show them.
pub(super) async fn credentials_json(lk: &Latchkey, user: &User) -> Result<Vec<Value>, ApiError> {
    lk.webauthn_credentials(user).await?.iter().map(credential_json).collect()
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
    SetupUser(user): SetupUser,
) -> Result<Response, ApiError> {
    let setup = lk.totp_setup(&user, &session).await?;
    let svg = qr_svg(&setup.otpauth_url).ok_or_else(|| ApiError::internal("the otpauth URL does not fit a QR code"))?;
    Ok(Json(json!({ "secret": setup.secret, "otpauthUrl": setup.otpauth_url, "qrSvg": svg })).into_response())
}

async fn totp_activate_view(
    State(lk): State<Latchkey>,
    session: Session,
    Client(client): Client,
    SetupUser(user): SetupUser,
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

async fn recovery_codes_view(State(lk): State<Latchkey>, SetupUser(user): SetupUser) -> Result<Response, ApiError> {
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
    JsonObject(mut body): JsonObject,
) -> Result<Response, ApiError> {
    let proof = match body.get("credential") {
        None | Some(Value::Null) => {
            let [code] = required_strings(&body, ["code"])
                .map_err(|_| ApiError::bad_request("missing_fields", "Please provide \"code\" or \"credential\"."))?;
            SecondFactor::Code(code)
        }
        Some(_) => SecondFactor::Credential(credential_field(&mut body)?),
    };
    let (user, used) = lk.complete_second_factor(&session, &csrf, proof, &client).await?;
    let mut answer = json!({ "detail": "Successfully logged in.", "username": user.username });
    if let FactorUsed::RecoveryCode(left) = used {
        answer["recoveryCodesLeft"] = json!(left);
    }
    Ok(signed_in(&lk, &user, answer))
}

/// A sign-in's answer: this browser is now a known device of the account,
/// as after a password-only login.
fn signed_in(lk: &Latchkey, user: &User, answer: Value) -> Response {
    let mut res = Json(answer).into_response();
    if let (Some(settings), Some(value)) = (&lk.settings().device_cookie, lk.device_cookie_for(user)) {
        res.headers_mut().append(header::SET_COOKIE, cookies::set(settings, &value, lk.clock().now()));
    }
    res
}

/// The `credential` member: an object, as `PublicKeyCredential.toJSON()` gives.
fn credential_field(body: &mut serde_json::Map<String, Value>) -> Result<Value, ApiError> {
    match body.remove("credential") {
        Some(c @ Value::Object(_)) => Ok(c),
        None | Some(Value::Null) => Err(ApiError::bad_request("missing_fields", "Please provide \"credential\".")),
        Some(_) => Err(ApiError::bad_request("parse_error", "\"credential\" must be an object.")),
    }
}

fn credential_id(id: &str) -> Result<i64, ApiError> {
    id.parse().map_err(|_| crate::auth::AuthError::WebauthnCredentialNotFound.into())
}

#[cfg(feature = "webauthn")]
async fn second_step_options_view(State(lk): State<Latchkey>, session: Session) -> Result<Response, ApiError> {
    Ok(Json(lk.webauthn_second_step_options(&session).await?).into_response())
}

#[cfg(feature = "webauthn")]
async fn register_options_view(
    State(lk): State<Latchkey>,
    session: Session,
    SetupUser(user): SetupUser,
) -> Result<Response, ApiError> {
    Ok(Json(lk.webauthn_register_options(&user, &session).await?).into_response())
}

#[cfg(feature = "webauthn")]
async fn register_view(
    State(lk): State<Latchkey>,
    session: Session,
    Client(client): Client,
    SetupUser(user): SetupUser,
    JsonObject(mut body): JsonObject,
) -> Result<Response, ApiError> {
    let credential = credential_field(&mut body)?;
    let name = match body.get("name") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(ApiError::bad_request("parse_error", "\"name\" must be a string.")),
    };
    let registered = lk.webauthn_register(&user, &session, &name, credential, &client).await?;
    let mut answer = json!({
        "detail": "The passkey is registered.",
        "credential": credential_json(&registered.credential)?,
    });
    if let Some(codes) = registered.recovery_codes {
        answer["detail"] =
            json!("The passkey is registered. Keep these recovery codes somewhere safe: each works once.");
        answer["recoveryCodes"] = json!(codes);
    }
    Ok((http::StatusCode::CREATED, Json(answer)).into_response())
}

async fn credentials_view(State(lk): State<Latchkey>, SetupUser(user): SetupUser) -> Result<Response, ApiError> {
    Ok(Json(json!({ "results": credentials_json(&lk, &user).await? })).into_response())
}

async fn rename_credential_view(
    State(lk): State<Latchkey>,
    SessionUser(user): SessionUser,
    Path(id): Path<String>,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    let [name] = required_strings(&body, ["name"])?;
    let id = credential_id(&id)?;
    lk.rename_webauthn_credential(&user, id, &name).await?;
    let renamed = lk.webauthn_credentials(&user).await?.into_iter().find(|c| c.id == id);
    let renamed = renamed.ok_or(crate::auth::AuthError::WebauthnCredentialNotFound)?;
    Ok(Json(credential_json(&renamed)?).into_response())
}

async fn delete_credential_view(
    State(lk): State<Latchkey>,
    session: Session,
    Client(client): Client,
    SessionUser(user): SessionUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    lk.delete_webauthn_credential(&user, &session, credential_id(&id)?, &client).await?;
    Ok(Json(json!({ "detail": "The passkey is removed." })).into_response())
}

#[cfg(feature = "webauthn")]
async fn passkey_login_options_view(
    State(lk): State<Latchkey>,
    session: Session,
    Client(client): Client,
) -> Result<Response, ApiError> {
    Ok(Json(lk.passkey_login_options(&session, &client).await?).into_response())
}

#[cfg(feature = "webauthn")]
async fn passkey_login_view(
    State(lk): State<Latchkey>,
    session: Session,
    csrf: CsrfToken,
    Client(client): Client,
    JsonObject(mut body): JsonObject,
) -> Result<Response, ApiError> {
    let credential = credential_field(&mut body)?;
    let remember = match body.get("remember") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(ApiError::bad_request("parse_error", "\"remember\" must be true or false.")),
    };
    let user = lk.passkey_login(&session, &csrf, credential, remember, &client).await?;
    Ok(signed_in(&lk, &user, json!({ "detail": "Successfully logged in.", "username": user.username })))
}

/// The second-factor routes (without layers: [`crate::http::router`] adds them).
pub(crate) fn router() -> Router<Latchkey> {
    Router::new()
        .route("/api/mfa/", get(status_view))
        .route("/api/mfa/totp/", get(totp_setup_view).post(totp_activate_view).delete(totp_disable_view))
        .route("/api/mfa/recovery-codes/", get(recovery_codes_view).post(regenerate_codes_view))
        .route("/api/mfa/authenticate/", post(authenticate_view))
        .route("/api/mfa/webauthn/credentials/", get(credentials_view))
        .route("/api/mfa/webauthn/credentials/{id}/", patch(rename_credential_view).delete(delete_credential_view))
        .merge(ceremonies())
}

/// The passkey ceremonies (feature `webauthn`).
#[cfg(feature = "webauthn")]
fn ceremonies() -> Router<Latchkey> {
    Router::new()
        .route("/api/mfa/webauthn/options/", post(second_step_options_view))
        .route("/api/mfa/webauthn/register/options/", post(register_options_view))
        .route("/api/mfa/webauthn/register/", post(register_view))
        .route("/api/login/webauthn/options/", post(passkey_login_options_view))
        .route("/api/login/webauthn/", post(passkey_login_view))
}

/// Without the `webauthn` feature the ceremony paths are unknown (404).
#[cfg(not(feature = "webauthn"))]
fn ceremonies() -> Router<Latchkey> {
    Router::new()
}
