//! The tutorial's five endpoints: `/api/csrf/`, `/api/login/`,
//! `/api/logout/`, `/api/session/` and `/api/whoami/`, wire-compatible with
//! its Django backend, with JSON errors where Django answers HTML or 500.

use axum::{
    Json, Router,
    extract::State,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use serde_json::{Value, json};

use crate::{
    Latchkey,
    audit::AuditEvent,
    csrf::{self, CsrfToken},
    http::{
        ApiError,
        context::RequestContext,
        cookies,
        extract::{Client, JsonObject, LoginBody, MaybeUser, parse_login_fields},
    },
    origin::Origin,
    session::Session,
    settings::{Preset, Signup},
};

/// The paths of this router, each with its trailing slash.
pub const PATHS: &[&str] = &["/api/csrf/", "/api/login/", "/api/logout/", "/api/session/", "/api/whoami/"];

fn detail(message: &'static str) -> Json<Value> {
    Json(json!({ "detail": message }))
}

async fn csrf_view(csrf: CsrfToken) -> Response {
    let token = csrf.get();
    let mut res = detail("CSRF cookie set").into_response();
    res.headers_mut().insert("x-csrftoken", HeaderValue::from_str(&token).expect("alphanumeric token"));
    res
}

async fn login_view(
    State(lk): State<Latchkey>,
    Client(client): Client,
    headers: HeaderMap,
    session: Session,
    csrf: CsrfToken,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    let LoginBody { username, password, remember } = parse_login_fields(&body)?;
    let device_cookie = lk.settings().device_cookie.as_ref().and_then(|c| cookies::find(&headers, &c.name));
    let user = lk.authenticate_throttled(&username, &password, client.ip, device_cookie.as_deref(), "password").await?;
    lk.login(&session, &csrf, &user, remember, &client).await?;
    let mut res = detail("Successfully logged in.").into_response();
    // This browser is now a known device of the account (it survives logout).
    if let (Some(settings), Some(value)) = (&lk.settings().device_cookie, lk.device_cookie_for(&user)) {
        res.headers_mut().append(header::SET_COOKIE, cookies::set(settings, &value, lk.clock().now()));
    }
    Ok(res)
}

/// Whether a GET logout may proceed. GET logout exists only because the
/// tutorial's clients use it; without checks any page could log users out
/// with a link or an `<img>`. SameSite does not help against a page on
/// another port of the same host, or a sibling subdomain (same site), so
/// Fetch Metadata and Origin/Referer decide.
fn get_logout_allowed(lk: &Latchkey, ctx: &RequestContext, headers: &HeaderMap) -> bool {
    let own = ctx.origin();
    let ours = |o: Option<Origin>| o.is_some_and(|o| csrf::origin_is_ours_or_trusted(lk.settings(), own.as_ref(), &o));
    let origin = headers.get(header::ORIGIN).map(|v| Origin::parse(v.to_str().unwrap_or("")).ok());
    let referer = headers.get(header::REFERER).map(|v| Origin::from_url(v.to_str().unwrap_or("")));
    match headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        Some("same-origin") | Some("none") => true,
        Some("same-site") => match (origin, referer) {
            (Some(o), _) => ours(o),
            (None, Some(r)) => ours(r),
            (None, None) => false,
        },
        Some(_) => false,
        None => origin.is_none_or(ours) && referer.is_none_or(ours),
    }
}

async fn logout_view(
    State(lk): State<Latchkey>,
    method: Method,
    headers: HeaderMap,
    ctx: Option<axum::Extension<RequestContext>>,
    session: Session,
) -> Result<Response, ApiError> {
    if method == Method::HEAD {
        // HEAD must not change state; axum routes it to the GET handler.
        return Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "Method \"HEAD\" not allowed.",
        )
        .with_header(header::ALLOW, HeaderValue::from_static("GET, POST")));
    }
    let ctx = ctx.map(|c| c.0).unwrap_or_else(|| RequestContext::from_parts(lk.settings(), &headers, None, None));
    if method == Method::GET && !get_logout_allowed(&lk, &ctx, &headers) {
        let site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()).unwrap_or("-");
        let from =
            headers.get(header::ORIGIN).or(headers.get(header::REFERER)).and_then(|v| v.to_str().ok()).unwrap_or("-");
        let detail = format!("Sec-Fetch-Site {site}; from {}", from.chars().take(200).collect::<String>());
        lk.audit(AuditEvent::new(lk.clock().now(), "cross_site_logout_refused").client(ctx.client_ip).detail(detail))
            .await;
        return Err(ApiError::forbidden(
            "cross_site_logout",
            "Logout by GET is only accepted from this application's own pages; use POST with a CSRF token.",
        ));
    }
    let user = match lk.session_user(&session).await? {
        Some(u) => u,
        None => {
            return Err(ApiError::bad_request("not_logged_in", "You're not logged in."));
        }
    };
    session.flush().await?;
    lk.audit(
        AuditEvent::new(lk.clock().now(), "logout").username(&user.username).user_id(user.id).client(ctx.client_ip),
    )
    .await;
    Ok(detail("Successfully logged out.").into_response())
}

async fn session_view(
    State(lk): State<Latchkey>,
    csrf: CsrfToken,
    session: Session,
    MaybeUser(user): MaybeUser,
) -> Result<Response, ApiError> {
    csrf.ensure_cookie();
    // Typed answers rather than json!: no map is built on the hot path.
    #[derive(serde::Serialize)]
    struct Answer {
        #[serde(rename = "isAuthenticated")]
        is_authenticated: bool,
        #[serde(rename = "expiresAt", skip_serializing_if = "Option::is_none")]
        expires_at: Option<String>,
        #[serde(rename = "authenticatedAt", skip_serializing_if = "Option::is_none")]
        authenticated_at: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        username: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        email: Option<String>,
        #[serde(rename = "emailVerified", skip_serializing_if = "Option::is_none")]
        email_verified: Option<bool>,
        #[serde(rename = "isStaff", skip_serializing_if = "Option::is_none")]
        is_staff: Option<bool>,
        #[serde(rename = "isSuperuser", skip_serializing_if = "Option::is_none")]
        is_superuser: Option<bool>,
        #[serde(rename = "mfaSetupRequired", skip_serializing_if = "Option::is_none")]
        mfa_setup_required: Option<bool>,
        #[serde(rename = "signupOpen")]
        signup_open: bool,
        #[serde(rename = "emailVerification")]
        email_verification: &'static str,
    }
    let accounts = &lk.settings().accounts;
    let (signup_open, email_verification) = (accounts.signup == Signup::Open, accounts.email_verification.as_str());
    match user {
        // expiresAt and authenticatedAt are additions the tutorial's clients
        // ignore; absent for HTTP Basic, which has no session.
        Some(user) => {
            let (expires_at, authenticated_at) = match session.read(|r| (r.expires_at, r.authenticated_at)).await? {
                Some((exp, auth)) => (Some(rfc3339(exp)?), auth.map(rfc3339).transpose()?),
                None => (None, None),
            };
            Ok(Json(Answer {
                is_authenticated: true,
                expires_at,
                authenticated_at,
                is_staff: Some(user.is_active && user.is_staff),
                is_superuser: Some(user.is_active && user.is_superuser),
                mfa_setup_required: Some(lk.mfa_setup_required(&user).await?),
                username: Some(user.username),
                email: Some(user.email),
                email_verified: Some(user.email_verified),
                signup_open,
                email_verification,
            })
            .into_response())
        }
        // DRF's 403, with what the SPA needs to offer sign-up.
        None if lk.settings().preset == Preset::Rest => Err(ApiError::not_authenticated()
            .with_member("signupOpen", signup_open.into())
            .with_member("emailVerification", email_verification.into())),
        None => Ok(Json(Answer {
            is_authenticated: false,
            expires_at: None,
            authenticated_at: None,
            username: None,
            email: None,
            email_verified: None,
            is_staff: None,
            is_superuser: None,
            mfa_setup_required: None,
            signup_open,
            email_verification,
        })
        .into_response()),
    }
}

/// A time as the API writes it: RFC 3339, UTC.
pub(crate) fn rfc3339(at: time::OffsetDateTime) -> Result<String, ApiError> {
    at.format(&time::format_description::well_known::Rfc3339).map_err(ApiError::internal)
}

async fn whoami_view(State(lk): State<Latchkey>, MaybeUser(user): MaybeUser) -> Result<Response, ApiError> {
    match user {
        Some(u) if lk.mfa_setup_required(&u).await? => Err(crate::auth::AuthError::MfaSetupRequired.into()),
        Some(u) => {
            #[derive(serde::Serialize)]
            struct Answer {
                username: String,
            }
            Ok(Json(Answer { username: u.username }).into_response())
        }
        None if lk.settings().preset == Preset::Rest => Err(ApiError::not_authenticated()),
        None => Ok(Json(json!({ "isAuthenticated": false })).into_response()),
    }
}

/// The tutorial's routes (without layers: [`crate::http::router`] adds them).
pub(crate) fn router() -> Router<Latchkey> {
    Router::new()
        .route("/api/csrf/", get(csrf_view))
        .route("/api/login/", post(login_view))
        .route("/api/logout/", get(logout_view).post(logout_view))
        .route("/api/session/", get(session_view))
        .route("/api/whoami/", get(whoami_view))
}
