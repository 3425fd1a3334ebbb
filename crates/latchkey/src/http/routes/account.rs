//! The signed-in user's account: `GET /api/sessions/`,
//! `DELETE /api/sessions/{id}/`, `POST /api/sessions/revoke-others/`,
//! `POST /api/password/change/`, `POST /api/reauthenticate/` and
//! `POST /api/email/change/`.
//!
//! Every route here takes session authentication only ([`SessionUser`]):
//! HTTP Basic, where the rest preset accepts it, never reaches these.

use axum::{
    Json,
    extract::{Path, State},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::auth::rfc3339;
use crate::{
    Accounts, Latchkey, Registration,
    csrf::CsrfToken,
    http::{
        ApiError,
        extract::{Body, Client, RequestBody, SessionUser, SetupUser},
        openapi::{Detail, ErrorBody},
    },
    password::RawPassword,
    session::{Session, SessionId},
    state::SessionSummary,
};

/// The paths of this router, each with its trailing slash (the sessions'
/// own `/api/sessions/{id}/` is matched by prefix, see [`PREFIXES`]).
pub const PATHS: &[&str] = &[
    "/api/sessions/",
    "/api/sessions/revoke-others/",
    "/api/password/change/",
    "/api/reauthenticate/",
    "/api/email/change/",
];

/// Prefixes under which one more path segment names a resource (a
/// session id): `/api/sessions/ID` redirects to `/api/sessions/ID/`.
pub const PREFIXES: &[&str] = &["/api/sessions/"];

/// One of the user's sessions.
#[derive(Serialize, ToSchema)]
#[schema(as = SessionInfo)]
#[serde(rename_all = "camelCase")]
pub(super) struct SessionOut {
    /// Opaque: used only to end it.
    pub(super) id: String,
    /// The session of this browser.
    current: bool,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    last_seen_at: String,
    #[schema(format = DateTime)]
    expires_at: String,
    /// Where it was last used from.
    ip: Option<String>,
    user_agent: Option<String>,
    /// A persistent cookie rather than a browser-session one.
    remember: bool,
}

/// The user's sessions.
#[derive(Serialize, ToSchema)]
pub(super) struct SessionList {
    /// Newest first.
    sessions: Vec<SessionOut>,
}

/// A session ended.
#[derive(Serialize, ToSchema)]
pub(super) struct SessionEnded {
    detail: &'static str,
    /// It was this browser's: it is signed out.
    current: bool,
}

/// Sessions ended by an action.
#[derive(Serialize, ToSchema)]
pub(crate) struct Ended {
    detail: String,
    /// How many sessions ended.
    ended: u64,
}

impl Ended {
    pub(crate) fn json(detail: String, ended: u64) -> Json<Self> {
        Json(Self { detail, ended })
    }
}

/// The password confirmed.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct Reauthenticated {
    detail: &'static str,
    #[schema(format = DateTime)]
    authenticated_at: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(super) struct PasswordChange {
    #[schema(value_type = String, format = Password)]
    current_password: RawPassword,
    #[schema(value_type = String, format = Password)]
    new_password: RawPassword,
}
impl RequestBody for PasswordChange {}

#[derive(Deserialize, ToSchema)]
pub(super) struct PasswordProof {
    #[schema(value_type = String, format = Password)]
    password: RawPassword,
}
impl RequestBody for PasswordProof {}

#[derive(Deserialize, ToSchema)]
pub(crate) struct EmailRequest {
    /// An email address.
    pub(crate) email: String,
}
impl RequestBody for EmailRequest {}

impl SessionOut {
    pub(super) fn from(s: SessionSummary) -> Result<Self, ApiError> {
        Ok(Self {
            id: s.id.to_string(),
            current: s.current,
            created_at: rfc3339(s.created_at)?,
            last_seen_at: rfc3339(s.last_seen_at)?,
            expires_at: rfc3339(s.expires_at)?,
            ip: s.ip,
            user_agent: s.user_agent,
            remember: s.remember,
        })
    }
}

/// The signed-in user's sessions, newest first.
#[utoipa::path(get, path = "/api/sessions/", tag = "account", security(("session" = [])),
    responses((status = 200, description = "The sessions.", body = SessionList),
        (status = 403, description = "`mfa_setup_required`.", body = ErrorBody)))]
async fn list_view(
    State(accounts): State<Accounts>,
    session: Session,
    SessionUser(user): SessionUser,
) -> Result<Response, ApiError> {
    let sessions = accounts.list_sessions(&user, &session).await?;
    let sessions = sessions.into_iter().map(SessionOut::from).collect::<Result<Vec<_>, _>>()?;
    Ok(Json(SessionList { sessions }).into_response())
}

/// Ends one of the user's sessions (this browser's is a logout).
#[utoipa::path(delete, path = "/api/sessions/{id}/", tag = "account", security(("session" = [])),
    params(("id" = String, Path, description = "The session's id, as listed.")),
    responses((status = 200, description = "Ended.", body = SessionEnded),
        (status = 403, description = "`reauthentication_required`, `mfa_setup_required`.", body = ErrorBody),
        (status = 404, description = "`session_not_found`.", body = ErrorBody)))]
async fn end_view(
    State(accounts): State<Accounts>,
    session: Session,
    Client(client): Client,
    SessionUser(user): SessionUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    // A malformed id is unknown like any other: one answer.
    let id = SessionId::parse(&id).ok_or(crate::auth::AuthError::SessionNotFound)?;
    let ended = accounts.end_session(&user, &session, &id, &client).await?;
    Ok(Json(SessionEnded { detail: "Session ended.", current: ended == crate::state::Ended::Current }).into_response())
}

/// Ends every other session of the user.
#[utoipa::path(post, path = "/api/sessions/revoke-others/", tag = "account", security(("session" = [])),
    responses((status = 200, description = "How many ended.", body = Ended),
        (status = 403, description = "`reauthentication_required`, `mfa_setup_required`.", body = ErrorBody)))]
async fn revoke_others_view(
    State(accounts): State<Accounts>,
    session: Session,
    Client(client): Client,
    SessionUser(user): SessionUser,
) -> Result<Response, ApiError> {
    let ended = accounts.revoke_other_sessions(&user, &session, &client).await?;
    let detail = match ended {
        0 => "There were no other sessions.".to_owned(),
        1 => "1 other session ended.".to_owned(),
        n => format!("{n} other sessions ended."),
    };
    Ok(Ended::json(detail, ended).into_response())
}

/// Changes the password; every other session ends, this one gets new keys.
#[utoipa::path(post, path = "/api/password/change/", tag = "account", security(("session" = [])), request_body = PasswordChange,
    responses((status = 200, description = "Changed; how many other sessions ended.", body = Ended),
        (status = 400, description = "`invalid_credentials` (the current password), `password_invalid` (with `errors`).", body = ErrorBody),
        (status = 403, description = "`mfa_setup_required`.", body = ErrorBody),
        (status = 429, description = "`throttled`.", body = ErrorBody)))]
async fn change_password_view(
    State(accounts): State<Accounts>,
    session: Session,
    csrf: CsrfToken,
    Client(client): Client,
    SessionUser(user): SessionUser,
    Body(body): Body<PasswordChange>,
) -> Result<Response, ApiError> {
    let ended =
        accounts.change_password(&user, &session, &csrf, &body.current_password, &body.new_password, &client).await?;
    let detail = match ended {
        0 => "Password changed.".to_owned(),
        1 => "Password changed. Your 1 other session was signed out.".to_owned(),
        n => format!("Password changed. Your {n} other sessions were signed out."),
    };
    Ok(Ended::json(detail, ended).into_response())
}

/// Proves the password again, for actions that need a recent sign-in.
#[utoipa::path(post, path = "/api/reauthenticate/", tag = "account", security(("session" = [])), request_body = PasswordProof,
    responses((status = 200, description = "Confirmed.", body = Reauthenticated),
        (status = 400, description = "`invalid_credentials`.", body = ErrorBody),
        (status = 429, description = "`throttled`.", body = ErrorBody)))]
async fn reauthenticate_view(
    State(accounts): State<Accounts>,
    session: Session,
    csrf: CsrfToken,
    Client(client): Client,
    SetupUser(user): SetupUser,
    Body(body): Body<PasswordProof>,
) -> Result<Response, ApiError> {
    accounts.reauthenticate(&user, &session, &csrf, &body.password, &client).await?;
    let at = session.read(|r| r.authenticated_at).await?.flatten().map(rfc3339).transpose()?;
    Ok(Json(Reauthenticated { detail: "Password confirmed.", authenticated_at: at }).into_response())
}

/// Asks to use a new address: the change happens when the link mailed there is opened.
#[utoipa::path(post, path = "/api/email/change/", tag = "account", security(("session" = [])), request_body = EmailRequest,
    responses((status = 200, description = "A link was sent to the new address.", body = Detail),
        (status = 400, description = "`invalid_email`, `email_unchanged`, `email_taken`.", body = ErrorBody),
        (status = 403, description = "`reauthentication_required`, `mfa_setup_required`.", body = ErrorBody),
        (status = 429, description = "`throttled`.", body = ErrorBody)))]
async fn change_email_view(
    State(registration): State<Registration>,
    session: Session,
    Client(client): Client,
    SessionUser(user): SessionUser,
    Body(body): Body<EmailRequest>,
) -> Result<Response, ApiError> {
    registration.request_email_change(&user, &session, &body.email, &client).await?;
    Ok(Detail::json("Check the new address: the change happens when you open the link we sent there.").into_response())
}

/// The account routes (without layers: [`crate::http::router`] adds them).
pub(crate) fn router() -> OpenApiRouter<Latchkey> {
    OpenApiRouter::new()
        .routes(routes!(list_view))
        .routes(routes!(revoke_others_view))
        .routes(routes!(end_view))
        .routes(routes!(change_password_view))
        .routes(routes!(reauthenticate_view))
        .routes(routes!(change_email_view))
}
