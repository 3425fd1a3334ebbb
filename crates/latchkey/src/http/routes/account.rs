//! The signed-in user's account: `GET /api/sessions/`,
//! `DELETE /api/sessions/{id}/`, `POST /api/sessions/revoke-others/`,
//! `POST /api/password/change/`, `POST /api/reauthenticate/` and
//! `POST /api/email/change/`.
//!
//! Every route here takes session authentication only ([`SessionUser`]):
//! HTTP Basic, where the rest preset accepts it, never reaches these.

use axum::{
    Json, Router,
    extract::{Path, State},
    response::{IntoResponse, Response},
    routing::{delete, get, post},
};
use serde::Serialize;
use serde_json::json;

use super::auth::rfc3339;
use crate::{
    Latchkey,
    csrf::CsrfToken,
    http::{
        ApiError,
        extract::{Client, JsonObject, SessionUser, SetupUser, required_strings},
    },
    password::RawPassword,
    session::{Session, SessionId},
    state::{Ended, SessionSummary},
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

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct SessionOut {
    id: String,
    current: bool,
    created_at: String,
    last_seen_at: String,
    expires_at: String,
    ip: Option<String>,
    user_agent: Option<String>,
    remember: bool,
}

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

async fn list_view(
    State(lk): State<Latchkey>,
    session: Session,
    SessionUser(user): SessionUser,
) -> Result<Response, ApiError> {
    let sessions = lk.list_sessions(&user, &session).await?;
    let sessions = sessions.into_iter().map(SessionOut::from).collect::<Result<Vec<_>, _>>()?;
    Ok(Json(json!({ "sessions": sessions })).into_response())
}

async fn end_view(
    State(lk): State<Latchkey>,
    session: Session,
    Client(client): Client,
    SessionUser(user): SessionUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    // A malformed id is unknown like any other: one answer.
    let id = SessionId::parse(&id).ok_or(crate::auth::AuthError::SessionNotFound)?;
    let ended = lk.end_session(&user, &session, &id, &client).await?;
    Ok(Json(json!({ "detail": "Session ended.", "current": ended == Ended::Current })).into_response())
}

async fn revoke_others_view(
    State(lk): State<Latchkey>,
    session: Session,
    Client(client): Client,
    SessionUser(user): SessionUser,
) -> Result<Response, ApiError> {
    let ended = lk.revoke_other_sessions(&user, &session, &client).await?;
    let detail = match ended {
        0 => "There were no other sessions.".to_owned(),
        1 => "1 other session ended.".to_owned(),
        n => format!("{n} other sessions ended."),
    };
    Ok(Json(json!({ "detail": detail, "ended": ended })).into_response())
}

async fn change_password_view(
    State(lk): State<Latchkey>,
    session: Session,
    csrf: CsrfToken,
    Client(client): Client,
    SessionUser(user): SessionUser,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    let [current, new] = required_strings(&body, ["currentPassword", "newPassword"])?;
    let ended =
        lk.change_password(&user, &session, &csrf, &RawPassword::new(current), &RawPassword::new(new), &client).await?;
    let detail = match ended {
        0 => "Password changed.".to_owned(),
        1 => "Password changed. Your 1 other session was signed out.".to_owned(),
        n => format!("Password changed. Your {n} other sessions were signed out."),
    };
    Ok(Json(json!({ "detail": detail, "ended": ended })).into_response())
}

async fn reauthenticate_view(
    State(lk): State<Latchkey>,
    session: Session,
    csrf: CsrfToken,
    Client(client): Client,
    SetupUser(user): SetupUser,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    let [password] = required_strings(&body, ["password"])?;
    lk.reauthenticate(&user, &session, &csrf, &RawPassword::new(password), &client).await?;
    let at = session.read(|r| r.authenticated_at).await?.flatten().map(rfc3339).transpose()?;
    Ok(Json(json!({ "detail": "Password confirmed.", "authenticatedAt": at })).into_response())
}

async fn change_email_view(
    State(lk): State<Latchkey>,
    session: Session,
    Client(client): Client,
    SessionUser(user): SessionUser,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    let [email] = required_strings(&body, ["email"])?;
    lk.request_email_change(&user, &session, &email, &client).await?;
    Ok(Json(json!({ "detail": "Check the new address: the change happens when you open the link we sent there." }))
        .into_response())
}

/// The account routes (without layers: [`crate::http::router`] adds them).
pub(crate) fn router() -> Router<Latchkey> {
    Router::new()
        .route("/api/sessions/", get(list_view))
        .route("/api/sessions/revoke-others/", post(revoke_others_view))
        .route("/api/sessions/{id}/", delete(end_view))
        .route("/api/password/change/", post(change_password_view))
        .route("/api/reauthenticate/", post(reauthenticate_view))
        .route("/api/email/change/", post(change_email_view))
}
