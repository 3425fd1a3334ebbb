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
    Json,
    extract::{Path, State},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::auth::rfc3339;
use crate::{
    Latchkey, SecondFactors, SignIn,
    csrf::CsrfToken,
    http::{
        ApiError,
        extract::{Body, Client, RequestBody, SessionUser, SetupUser},
        openapi::{Detail, ErrorBody},
    },
    mfa::{WebauthnCredential, totp::qr_svg},
    session::Session,
    state::{FactorUsed, Outcome, Proof, SecondFactor, SignedIn, Target, WayIn},
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

/// What the user has of second factors.
#[derive(Serialize, ToSchema)]
#[schema(as = MfaStatus)]
#[serde(rename_all = "camelCase")]
pub(super) struct StatusOut {
    /// `totp`, `webauthn`, `recovery_code`: what the user can prove.
    methods: Vec<&'static str>,
    totp: TotpOut,
    /// Passkeys and security keys, oldest first.
    webauthn: Vec<CredentialOut>,
    recovery_codes_left: u32,
}

/// An authenticator app, if set up.
#[derive(Serialize, ToSchema)]
#[schema(as = TotpState)]
#[serde(rename_all = "camelCase")]
pub(super) struct TotpOut {
    enabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false, nullable = false, format = DateTime)]
    created_at: Option<String>,
    /// Absent when none is set up; null when it was never used.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false, nullable = false, value_type = Option<String>, format = DateTime)]
    last_used_at: Option<Option<String>>,
}

/// A passkey or security key.
#[derive(Serialize, ToSchema)]
#[schema(as = Passkey)]
#[serde(rename_all = "camelCase")]
pub(super) struct CredentialOut {
    id: i64,
    name: String,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    last_used_at: Option<String>,
}

/// A user's second factors as the admin shows them.
#[derive(Serialize, ToSchema)]
#[schema(as = AdminFactors)]
#[serde(rename_all = "camelCase")]
pub(super) struct FactorsOut {
    totp: TotpOut,
    webauthn: Vec<CredentialOut>,
    recovery_codes_left: u32,
}

impl FactorsOut {
    pub(super) async fn of(lk: &Latchkey, user: &User) -> Result<Self, ApiError> {
        Ok(Self {
            totp: totp_out(lk, user).await?,
            webauthn: credentials_out(lk, user).await?,
            recovery_codes_left: lk.factors().recovery_codes_left(user).await?,
        })
    }
}

/// A TOTP setup in progress.
#[derive(Serialize, ToSchema)]
#[schema(as = TotpSetup)]
#[serde(rename_all = "camelCase")]
pub(super) struct TotpSetupOut {
    /// The secret, base32, to type into an app that cannot scan.
    secret: String,
    otpauth_url: String,
    /// The URL as a QR code (SVG).
    qr_svg: String,
}

/// New recovery codes, shown this once.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct CodesIssued {
    detail: &'static str,
    recovery_codes: Vec<String>,
}

/// How many recovery codes are left.
#[derive(Serialize, ToSchema)]
pub(super) struct CodesLeft {
    remaining: u32,
}

/// A sign-in completed.
#[derive(Serialize, ToSchema)]
#[schema(as = SignedIn)]
#[serde(rename_all = "camelCase")]
pub(super) struct SignedInOut {
    detail: &'static str,
    username: String,
    /// After a recovery code: how many are left.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false, nullable = false)]
    recovery_codes_left: Option<u32>,
}

#[cfg(feature = "webauthn")]
/// A passkey registered.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct RegisteredOut {
    detail: &'static str,
    credential: CredentialOut,
    /// With the user's first second factor: new recovery codes, shown this once.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false, nullable = false)]
    recovery_codes: Option<Vec<String>>,
}

/// The user's passkeys.
#[derive(Serialize, ToSchema)]
pub(super) struct CredentialList {
    /// Oldest first.
    results: Vec<CredentialOut>,
}

#[derive(Deserialize, ToSchema)]
pub(super) struct CodeRequest {
    /// The six digits the app shows.
    code: String,
}
impl RequestBody for CodeRequest {}

/// The second step: a code (authenticator app or recovery code) or a passkey's answer.
#[derive(Deserialize, ToSchema)]
pub(super) struct SecondStepRequest {
    /// Six digits from the app, or a recovery code.
    #[schema(required = false)]
    code: Option<String>,
    /// `PublicKeyCredential.toJSON()` of an answer to `POST /api/mfa/webauthn/options/`.
    #[schema(required = false)]
    credential: Option<Object>,
}
impl RequestBody for SecondStepRequest {
    fn missing() -> ApiError {
        ApiError::bad_request("missing_fields", "Please provide \"code\" or \"credential\".")
    }
}

#[cfg(feature = "webauthn")]
#[derive(Deserialize, ToSchema)]
pub(super) struct RegisterRequest {
    /// `PublicKeyCredential.toJSON()` of `navigator.credentials.create()`.
    credential: Object,
    /// Trimmed, at most 64 characters; "Passkey" when empty.
    #[schema(required = false)]
    name: Option<String>,
}
#[cfg(feature = "webauthn")]
impl RequestBody for RegisterRequest {}

#[derive(Deserialize, ToSchema)]
pub(super) struct NameRequest {
    /// Trimmed, 1 to 64 characters.
    name: String,
}
impl RequestBody for NameRequest {}

#[cfg(feature = "webauthn")]
#[derive(Deserialize, ToSchema)]
pub(super) struct PasskeyLoginRequest {
    /// `PublicKeyCredential.toJSON()` of `navigator.credentials.get()`.
    credential: Object,
    /// A persistent cookie (default) or one that ends with the browser.
    #[schema(required = false, default = true)]
    remember: Option<bool>,
}
#[cfg(feature = "webauthn")]
impl RequestBody for PasskeyLoginRequest {}

/// A JSON object, as the browser's WebAuthn API gives or takes it.
type Object = serde_json::Map<String, Value>;

/// The signed-in user's second factors.
#[utoipa::path(get, path = "/api/mfa/", tag = "mfa", security(("session" = [])),
    responses((status = 200, description = "What the user has.", body = StatusOut)))]
async fn status_view(State(lk): State<Latchkey>, SetupUser(user): SetupUser) -> Result<Response, ApiError> {
    let totp = totp_out(&lk, &user).await?;
    let recovery_codes_left = lk.factors().recovery_codes_left(&user).await?;
    let webauthn = credentials_out(&lk, &user).await?;
    let methods = lk.factors().mfa_methods(user.id).await?;
    Ok(Json(StatusOut { methods, totp, webauthn, recovery_codes_left }).into_response())
}

fn credential_out(c: &WebauthnCredential) -> Result<CredentialOut, ApiError> {
    Ok(CredentialOut {
        id: c.id,
        name: c.name.clone(),
        created_at: rfc3339(c.created_at)?,
        last_used_at: c.last_used_at.map(rfc3339).transpose()?,
    })
}

/// A user's passkeys and security keys as the account page and the admin show them.
async fn credentials_out(lk: &Latchkey, user: &User) -> Result<Vec<CredentialOut>, ApiError> {
    lk.factors().webauthn_credentials(user).await?.iter().map(credential_out).collect()
}

/// A user's authenticator app as the account page and the admin show it.
async fn totp_out(lk: &Latchkey, user: &User) -> Result<TotpOut, ApiError> {
    Ok(match lk.mfa().totp(user.id).await.map_err(crate::auth::AuthError::from)? {
        Some(f) => TotpOut {
            enabled: true,
            created_at: Some(rfc3339(f.created_at)?),
            last_used_at: Some(f.last_used_at.map(rfc3339).transpose()?),
        },
        None => TotpOut { enabled: false, created_at: None, last_used_at: None },
    })
}

/// Starts setting up an authenticator app: a new secret (kept 10 minutes in the session).
#[utoipa::path(get, path = "/api/mfa/totp/", tag = "mfa", security(("session" = [])),
    responses((status = 200, description = "The secret, its URL and QR code.", body = TotpSetupOut),
        (status = 403, description = "`reauthentication_required`.", body = ErrorBody),
        (status = 409, description = "`mfa_already_enabled`.", body = ErrorBody)))]
async fn totp_setup_view(
    State(factors): State<SecondFactors>,
    session: Session,
    SetupUser(user): SetupUser,
) -> Result<Response, ApiError> {
    let setup = factors.totp_setup(&user, &session).await?;
    let svg = qr_svg(&setup.otpauth_url).ok_or_else(|| ApiError::internal("the otpauth URL does not fit a QR code"))?;
    Ok(Json(TotpSetupOut { secret: setup.secret, otpauth_url: setup.otpauth_url, qr_svg: svg }).into_response())
}

/// Activates the app with a code it shows; the first factor brings recovery codes.
#[utoipa::path(post, path = "/api/mfa/totp/", tag = "mfa", security(("session" = [])), request_body = CodeRequest,
    responses((status = 200, description = "Active; recovery codes, shown this once.", body = CodesIssued),
        (status = 400, description = "`invalid_code`, `mfa_setup_expired`.", body = ErrorBody),
        (status = 403, description = "`reauthentication_required`.", body = ErrorBody),
        (status = 409, description = "`mfa_already_enabled`.", body = ErrorBody),
        (status = 429, description = "`throttled`.", body = ErrorBody)))]

async fn totp_activate_view(
    State(factors): State<SecondFactors>,
    session: Session,
    Client(client): Client,
    SetupUser(user): SetupUser,
    Body(body): Body<CodeRequest>,
) -> Result<Response, ApiError> {
    let codes = factors.totp_activate(&user, &session, &body.code, &client).await?;
    Ok(Json(CodesIssued {
        detail: "Your authenticator app is set up. Keep these recovery codes somewhere safe: each works once.",
        recovery_codes: codes,
    })
    .into_response())
}

/// Removes the authenticator app (and the recovery codes with the last factor).
#[utoipa::path(delete, path = "/api/mfa/totp/", tag = "mfa", security(("session" = [])),
    responses((status = 200, description = "Removed.", body = Detail),
        (status = 403, description = "`reauthentication_required`, `mfa_setup_required`.", body = ErrorBody),
        (status = 404, description = "`mfa_not_enabled`.", body = ErrorBody)))]

async fn totp_disable_view(
    State(factors): State<SecondFactors>,
    session: Session,
    Client(client): Client,
    SessionUser(user): SessionUser,
) -> Result<Response, ApiError> {
    factors.totp_disable(&user, &session, &client).await?;
    Ok(Detail::json("The authenticator app and the recovery codes are removed.").into_response())
}

/// How many recovery codes are left.
#[utoipa::path(get, path = "/api/mfa/recovery-codes/", tag = "mfa", security(("session" = [])),
    responses((status = 200, description = "The count.", body = CodesLeft)))]
async fn recovery_codes_view(
    State(factors): State<SecondFactors>,
    SetupUser(user): SetupUser,
) -> Result<Response, ApiError> {
    Ok(Json(CodesLeft { remaining: factors.recovery_codes_left(&user).await? }).into_response())
}

/// A new set of recovery codes; the old ones stop working.
#[utoipa::path(post, path = "/api/mfa/recovery-codes/", tag = "mfa", security(("session" = [])),
    responses((status = 200, description = "The new codes, shown this once.", body = CodesIssued),
        (status = 403, description = "`reauthentication_required`, `mfa_setup_required`.", body = ErrorBody),
        (status = 404, description = "`mfa_not_enabled`: no second factor.", body = ErrorBody)))]

async fn regenerate_codes_view(
    State(factors): State<SecondFactors>,
    session: Session,
    Client(client): Client,
    SessionUser(user): SessionUser,
) -> Result<Response, ApiError> {
    let codes = factors.regenerate_recovery_codes(&user, &session, &client).await?;
    Ok(Json(CodesIssued { detail: "New recovery codes; the old ones no longer work.", recovery_codes: codes })
        .into_response())
}

/// The second step of a sign-in: a code or a passkey after the password.
#[utoipa::path(post, path = "/api/mfa/authenticate/", tag = "mfa", request_body = SecondStepRequest,
    responses((status = 200, description = "Signed in: a new session cookie and CSRF secret.", body = SignedInOut),
        (status = 400, description = "`invalid_code`, `mfa_not_pending`, `webauthn_failed`, `webauthn_not_started`.", body = ErrorBody),
        (status = 403, description = "`email_unverified` (the address must be confirmed first; a new link was sent).", body = ErrorBody),
        (status = 429, description = "`throttled`.", body = ErrorBody)))]

async fn authenticate_view(
    State(signin): State<SignIn>,
    session: Session,
    csrf: CsrfToken,
    Client(client): Client,
    Body(body): Body<SecondStepRequest>,
) -> Result<Response, ApiError> {
    let proof = match (body.credential, body.code) {
        (Some(credential), _) => SecondFactor::Credential(Value::Object(credential)),
        (None, Some(code)) => SecondFactor::Code(code),
        (None, None) => return Err(SecondStepRequest::missing()),
    };
    let target = Target::Session { session: &session, csrf: &csrf, remember: true };
    let outcome = signin.sign_in(WayIn::SecondStep, Proof::SecondStep(proof), target, &client).await?;
    signed_in(outcome)
}

/// A sign-in's answer (the device cookie goes out with the session's, as
/// after every way in).
fn signed_in(outcome: Outcome) -> Result<Response, ApiError> {
    let SignedIn { user, factor } = match outcome {
        Outcome::SignedIn(s) => s,
        Outcome::SecondFactor { methods } => return Err(ApiError::second_factor_required(&methods)),
    };
    let recovery_codes_left = match factor {
        Some(FactorUsed::RecoveryCode(left)) => Some(left),
        _ => None,
    };
    Ok(Json(SignedInOut { detail: "Successfully logged in.", username: user.username, recovery_codes_left })
        .into_response())
}

/// The `credential` member: an object, as `PublicKeyCredential.toJSON()` gives.
fn credential_id(id: &str) -> Result<i64, ApiError> {
    id.parse().map_err(|_| {
        crate::auth::AuthError::SecondFactor(crate::auth::SecondFactorError::WebauthnCredentialNotFound).into()
    })
}

/// The passkey request of a pending sign-in's second step (the user's keys).
#[cfg(feature = "webauthn")]
#[utoipa::path(post, path = "/api/mfa/webauthn/options/", tag = "mfa",
    responses((status = 200, description = "The `publicKey` member of `navigator.credentials.get()`'s options, for `PublicKeyCredential.parseRequestOptionsFromJSON`.", body = Object),
        (status = 400, description = "`mfa_not_pending`.", body = ErrorBody),
        (status = 404, description = "`webauthn_unavailable`.", body = ErrorBody)))]
async fn second_step_options_view(
    State(factors): State<SecondFactors>,
    session: Session,
) -> Result<Response, ApiError> {
    Ok(Json(factors.webauthn_second_step_options(&session).await?).into_response())
}

/// The options of a new passkey (the user's keys excluded).
#[cfg(feature = "webauthn")]
#[utoipa::path(post, path = "/api/mfa/webauthn/register/options/", tag = "mfa", security(("session" = [])),
    responses((status = 200, description = "The `publicKey` member of `navigator.credentials.create()`'s options, for `PublicKeyCredential.parseCreationOptionsFromJSON`.", body = Object),
        (status = 403, description = "`reauthentication_required`.", body = ErrorBody),
        (status = 404, description = "`webauthn_unavailable`.", body = ErrorBody)))]
async fn register_options_view(
    State(factors): State<SecondFactors>,
    session: Session,
    SetupUser(user): SetupUser,
) -> Result<Response, ApiError> {
    Ok(Json(factors.webauthn_register_options(&user, &session).await?).into_response())
}

/// Registers a passkey; the first factor brings recovery codes.
#[cfg(feature = "webauthn")]
#[utoipa::path(post, path = "/api/mfa/webauthn/register/", tag = "mfa", security(("session" = [])), request_body = RegisterRequest,
    responses((status = 201, description = "Registered.", body = RegisteredOut),
        (status = 400, description = "`webauthn_failed`, `webauthn_not_started`, `invalid_name`.", body = ErrorBody),
        (status = 403, description = "`reauthentication_required`.", body = ErrorBody),
        (status = 404, description = "`webauthn_unavailable`.", body = ErrorBody),
        (status = 409, description = "`webauthn_credential_exists`.", body = ErrorBody)))]
async fn register_view(
    State(factors): State<SecondFactors>,
    session: Session,
    Client(client): Client,
    SetupUser(user): SetupUser,
    Body(body): Body<RegisterRequest>,
) -> Result<Response, ApiError> {
    let name = body.name.unwrap_or_default();
    let registered = factors.webauthn_register(&user, &session, &name, Value::Object(body.credential), &client).await?;
    let detail = match registered.recovery_codes {
        Some(_) => "The passkey is registered. Keep these recovery codes somewhere safe: each works once.",
        None => "The passkey is registered.",
    };
    let answer = RegisteredOut {
        detail,
        credential: credential_out(&registered.credential)?,
        recovery_codes: registered.recovery_codes,
    };
    Ok((http::StatusCode::CREATED, Json(answer)).into_response())
}

/// The user's passkeys and security keys.
#[utoipa::path(get, path = "/api/mfa/webauthn/credentials/", tag = "mfa", security(("session" = [])),
    responses((status = 200, description = "Oldest first.", body = CredentialList)))]

async fn credentials_view(State(lk): State<Latchkey>, SetupUser(user): SetupUser) -> Result<Response, ApiError> {
    Ok(Json(CredentialList { results: credentials_out(&lk, &user).await? }).into_response())
}

/// Renames a passkey.
#[utoipa::path(patch, path = "/api/mfa/webauthn/credentials/{id}/", tag = "mfa", security(("session" = [])), request_body = NameRequest,
    params(("id" = String, Path, description = "The passkey's id, as listed.")),
    responses((status = 200, description = "Renamed.", body = CredentialOut),
        (status = 400, description = "`invalid_name`.", body = ErrorBody),
        (status = 403, description = "`mfa_setup_required`.", body = ErrorBody),
        (status = 404, description = "`credential_not_found`.", body = ErrorBody)))]

async fn rename_credential_view(
    State(factors): State<SecondFactors>,
    SessionUser(user): SessionUser,
    Path(id): Path<String>,
    Body(body): Body<NameRequest>,
) -> Result<Response, ApiError> {
    let id = credential_id(&id)?;
    factors.rename_webauthn_credential(&user, id, &body.name).await?;
    let renamed = factors.webauthn_credentials(&user).await?.into_iter().find(|c| c.id == id);
    let renamed = renamed
        .ok_or(crate::auth::AuthError::SecondFactor(crate::auth::SecondFactorError::WebauthnCredentialNotFound))?;
    Ok(Json(credential_out(&renamed)?).into_response())
}

/// Removes a passkey (the recovery codes go with the last factor).
#[utoipa::path(delete, path = "/api/mfa/webauthn/credentials/{id}/", tag = "mfa", security(("session" = [])),
    params(("id" = String, Path, description = "The passkey's id, as listed.")),
    responses((status = 200, description = "Removed.", body = Detail),
        (status = 403, description = "`reauthentication_required`, `mfa_setup_required`.", body = ErrorBody),
        (status = 404, description = "`credential_not_found`.", body = ErrorBody)))]

async fn delete_credential_view(
    State(factors): State<SecondFactors>,
    session: Session,
    Client(client): Client,
    SessionUser(user): SessionUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    factors.delete_webauthn_credential(&user, &session, credential_id(&id)?, &client).await?;
    Ok(Detail::json("The passkey is removed.").into_response())
}

/// The options of a passkey sign-in (no account named: the key says whose it is).
#[cfg(feature = "webauthn")]
#[utoipa::path(post, path = "/api/login/webauthn/options/", tag = "auth",
    responses((status = 200, description = "The `publicKey` member of `navigator.credentials.get()`'s options.", body = Object),
        (status = 404, description = "`webauthn_unavailable`.", body = ErrorBody),
        (status = 429, description = "`throttled`: too many ceremonies from this client.", body = ErrorBody)))]
async fn passkey_login_options_view(
    State(factors): State<SecondFactors>,
    session: Session,
    Client(client): Client,
) -> Result<Response, ApiError> {
    Ok(Json(factors.passkey_login_options(&session, &client).await?).into_response())
}

/// Signs in with a passkey: both factors at once.
#[cfg(feature = "webauthn")]
#[utoipa::path(post, path = "/api/login/webauthn/", tag = "auth", request_body = PasskeyLoginRequest,
    responses((status = 200, description = "Signed in: a new session cookie and CSRF secret.", body = SignedInOut),
        (status = 400, description = "`webauthn_failed`, `webauthn_not_started`.", body = ErrorBody),
        (status = 403, description = "`email_unverified` (a new link was sent).", body = ErrorBody),
        (status = 404, description = "`webauthn_unavailable`.", body = ErrorBody),
        (status = 429, description = "`throttled`.", body = ErrorBody)))]
async fn passkey_login_view(
    State(signin): State<SignIn>,
    session: Session,
    csrf: CsrfToken,
    Client(client): Client,
    Body(body): Body<PasskeyLoginRequest>,
) -> Result<Response, ApiError> {
    let target = Target::Session { session: &session, csrf: &csrf, remember: body.remember.unwrap_or(true) };
    signed_in(signin.sign_in(WayIn::Passkey, Proof::Passkey(Value::Object(body.credential)), target, &client).await?)
}

/// The second-factor routes (without layers: [`crate::http::router`] adds them).
pub(crate) fn router() -> OpenApiRouter<Latchkey> {
    OpenApiRouter::new()
        .routes(routes!(status_view))
        .routes(routes!(totp_setup_view, totp_activate_view, totp_disable_view))
        .routes(routes!(recovery_codes_view, regenerate_codes_view))
        .routes(routes!(authenticate_view))
        .routes(routes!(credentials_view))
        .routes(routes!(rename_credential_view, delete_credential_view))
        .merge(ceremonies())
}

/// The passkey ceremonies (feature `webauthn`).
#[cfg(feature = "webauthn")]
fn ceremonies() -> OpenApiRouter<Latchkey> {
    OpenApiRouter::new()
        .routes(routes!(second_step_options_view))
        .routes(routes!(register_options_view))
        .routes(routes!(register_view))
        .routes(routes!(passkey_login_options_view))
        .routes(routes!(passkey_login_view))
}

/// Without the `webauthn` feature the ceremony paths are unknown (404).
#[cfg(not(feature = "webauthn"))]
fn ceremonies() -> OpenApiRouter<Latchkey> {
    OpenApiRouter::new()
}
