//! The tutorial's five endpoints: `/api/csrf/`, `/api/login/`,
//! `/api/logout/`, `/api/session/` and `/api/whoami/`, wire-compatible with
//! its Django backend, with JSON errors where Django answers HTML or 500.

use axum::{
    Json,
    extract::State,
    response::{IntoResponse, Response},
};
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    Latchkey,
    audit::AuditEvent,
    csrf::{self, CsrfToken},
    http::{
        ApiError,
        context::RequestContext,
        cookies,
        extract::{Body, Client, LoginRequest, MaybeUser},
        openapi::{Detail, ErrorBody},
    },
    origin::Origin,
    session::Session,
    settings::{Preset, Signup},
    state::{Outcome, Proof, Target, WayIn},
};

/// The paths of this router, each with its trailing slash.
pub const PATHS: &[&str] = &["/api/csrf/", "/api/login/", "/api/logout/", "/api/session/", "/api/whoami/"];

fn detail(message: &'static str) -> Json<Detail> {
    Detail::json(message)
}

/// Sets the CSRF cookie and answers the token in a header.
#[utoipa::path(get, path = "/api/csrf/", tag = "auth",
    responses((status = 200, description = "The CSRF cookie is set; the token is also in the `X-CSRFToken` header (the only way to read it where the cookie is HttpOnly).",
        body = Detail, headers(("X-CSRFToken" = String, description = "The CSRF token to send back in `X-CSRFToken`.")))))]
async fn csrf_view(csrf: CsrfToken) -> Response {
    let token = csrf.get();
    let mut res = detail("CSRF cookie set").into_response();
    res.headers_mut().insert("x-csrftoken", HeaderValue::from_str(&token).expect("alphanumeric token"));
    res
}

/// Signs in with a username and password (the tutorial's login).
#[utoipa::path(post, path = "/api/login/", tag = "auth", request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in: a new session cookie and a new CSRF secret (read the token again).", body = Detail),
        (status = 400, description = "`invalid_credentials`, `missing_credentials`.", body = ErrorBody),
        (status = 401, description = "`mfa_required`: the password was right; finish with `POST /api/mfa/authenticate/`.", body = ErrorBody),
        (status = 403, description = "`email_unverified` (a new link was sent).", body = ErrorBody),
        (status = 429, description = "`throttled`: too many failed attempts; see `Retry-After`.", body = ErrorBody)))]
async fn login_view(
    State(lk): State<Latchkey>,
    Client(client): Client,
    headers: HeaderMap,
    session: Session,
    csrf: CsrfToken,
    Body(LoginRequest { username, password, remember }): Body<LoginRequest>,
) -> Result<Response, ApiError> {
    let remember = remember.unwrap_or(true);
    let device_cookie = lk.settings().device_cookie.as_ref().and_then(|c| cookies::find(&headers, &c.name));
    let proof = Proof::Password { username: &username, password: &password, device_cookie: device_cookie.as_deref() };
    let target = Target::Session { session: &session, csrf: &csrf, remember };
    match lk.signin().sign_in(WayIn::Password, proof, target, &client).await? {
        Outcome::SignedIn(_) => Ok(detail("Successfully logged in.").into_response()),
        Outcome::SecondFactor { methods } => Err(ApiError::second_factor_required(&methods)),
    }
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

/// Signs out: the session ends and its cookie is removed. GET is accepted
/// from this application's own pages only (the tutorial's clients use it).
#[utoipa::path(method(get, post), path = "/api/logout/", tag = "auth", security(("session" = [])),
    responses(
        (status = 200, description = "Signed out.", body = Detail),
        (status = 400, description = "`not_logged_in`.", body = ErrorBody),
        (status = 403, description = "`csrf_failed` (POST), or `cross_site_logout` (GET from another site).", body = ErrorBody)))]
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
        lk.core()
            .audit(AuditEvent::new(lk.clock().now(), "cross_site_logout_refused").client(ctx.client_ip).detail(detail))
            .await;
        return Err(ApiError::forbidden(
            "cross_site_logout",
            "Logout by GET is only accepted from this application's own pages; use POST with a CSRF token.",
        ));
    }
    let user = match lk.session_auth().session_user(&session).await? {
        Some(u) => u,
        None => {
            return Err(ApiError::bad_request("not_logged_in", "You're not logged in."));
        }
    };
    session.flush().await?;
    lk.core()
        .audit(
            AuditEvent::new(lk.clock().now(), "logout").username(&user.username).user_id(user.id).client(ctx.client_ip),
        )
        .await;
    Ok(detail("Successfully logged out.").into_response())
}

/// Whether this browser is signed in, as whom, and what the SPA needs to
/// know about sign-up; sets the CSRF cookie.
#[utoipa::path(get, path = "/api/session/", tag = "auth", security((), ("session" = [])),
    responses(
        (status = 200, description = "The session's state (`isAuthenticated`, and the user when signed in).", body = SessionAnswer),
        (status = 403, description = "`not_authenticated` (rest preset, anonymous; with `signupOpen` and `emailVerification`), or `mfa_setup_required`; with HTTP Basic (rest preset): `authentication_failed` (wrong credentials), `email_unverified`, `mfa_required` (the account has a second factor, which Basic cannot carry).", body = ErrorBody),
        (status = 429, description = "`throttled` (HTTP Basic, rest preset): too many failed attempts; see `Retry-After`.", body = ErrorBody)))]
async fn session_view(
    State(lk): State<Latchkey>,
    csrf: CsrfToken,
    session: Session,
    MaybeUser(user): MaybeUser,
) -> Result<Response, ApiError> {
    csrf.ensure_cookie();
    type Answer = SessionAnswer;
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
                mfa_setup_required: Some(lk.factors().mfa_setup_required(&user).await?),
                mfa_pending: None,
                username: Some(user.username),
                email: Some(user.email),
                email_verified: Some(user.email_verified),
                signup_open,
                email_verification,
            })
            .into_response())
        }
        // DRF's 403, with what the SPA needs to offer sign-up.
        None if lk.settings().preset == Preset::Rest => {
            let pending = lk.factors().mfa_pending_methods(&session).await?;
            Err(ApiError::not_authenticated().with_members(|b| {
                b.signup_open = Some(signup_open);
                b.email_verification = Some(email_verification.to_owned());
                b.mfa_pending = pending;
            }))
        }
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
            mfa_pending: lk.factors().mfa_pending_methods(&session).await?,
            signup_open,
            email_verification,
        })
        .into_response()),
    }
}

/// The answer of `GET /api/session/`. Typed rather than `json!`: no map is
/// built on the hot path.
#[derive(serde::Serialize, ToSchema)]
#[schema(as = Session)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SessionAnswer {
    /// Whether this browser is signed in.
    is_authenticated: bool,
    /// When the session ends unless renewed (RFC 3339); absent for HTTP Basic.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false, nullable = false, format = DateTime)]
    expires_at: Option<String>,
    /// When the password (or a passkey) was last proved in this session.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false, nullable = false, format = DateTime)]
    authenticated_at: Option<String>,
    /// The signed-in user.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false, nullable = false)]
    username: Option<String>,
    /// Their address ("" when none).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false, nullable = false)]
    email: Option<String>,
    /// Whether that address is confirmed.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false, nullable = false)]
    email_verified: Option<bool>,
    /// An active staff user (may use the admin).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false, nullable = false)]
    is_staff: Option<bool>,
    /// An active superuser.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false, nullable = false)]
    is_superuser: Option<bool>,
    /// A staff user who must set up a second factor before anything else.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false, nullable = false)]
    mfa_setup_required: Option<bool>,
    /// Not signed in, but a sign-in waits for its second factor (after a
    /// password or a provider's redirect back): the methods it accepts.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false, nullable = false)]
    mfa_pending: Option<Vec<&'static str>>,
    /// Whether anyone may sign up.
    signup_open: bool,
    /// `none`, `optional` or `mandatory`.
    email_verification: &'static str,
}

/// The answer of `GET /api/whoami/`: the signed-in user's name, or the
/// tutorial's `{"isAuthenticated": false}`.
#[derive(serde::Serialize, ToSchema)]
#[serde(untagged)]
pub(crate) enum WhoAmI {
    /// Signed in.
    User {
        /// The user's name.
        username: String,
    },
    /// Not signed in (every preset but rest, which answers 403).
    Anonymous {
        /// Always false.
        #[serde(rename = "isAuthenticated")]
        is_authenticated: bool,
    },
}

/// A time as the API writes it: RFC 3339, UTC.
pub(crate) fn rfc3339(at: time::OffsetDateTime) -> Result<String, ApiError> {
    at.format(&time::format_description::well_known::Rfc3339).map_err(ApiError::internal)
}

/// The signed-in user's name (the tutorial's whoami).
#[utoipa::path(get, path = "/api/whoami/", tag = "auth", security((), ("session" = [])),
    responses(
        (status = 200, description = "`{\"username\"}` when signed in, else `{\"isAuthenticated\": false}`.", body = WhoAmI),
        (status = 403, description = "`not_authenticated` (rest preset), or `mfa_setup_required`; with HTTP Basic (rest preset): `authentication_failed` (wrong credentials), `email_unverified`, `mfa_required` (the account has a second factor, which Basic cannot carry).", body = ErrorBody),
        (status = 429, description = "`throttled` (HTTP Basic, rest preset): too many failed attempts; see `Retry-After`.", body = ErrorBody)))]
async fn whoami_view(State(lk): State<Latchkey>, MaybeUser(user): MaybeUser) -> Result<Response, ApiError> {
    match user {
        Some(u) if lk.factors().mfa_setup_required(&u).await? => Err(crate::auth::AuthError::MfaSetupRequired.into()),
        Some(u) => Ok(Json(WhoAmI::User { username: u.username }).into_response()),
        None if lk.settings().preset == Preset::Rest => Err(ApiError::not_authenticated()),
        None => Ok(Json(WhoAmI::Anonymous { is_authenticated: false }).into_response()),
    }
}

/// The tutorial's routes (without layers: [`crate::http::router`] adds them).
pub(crate) fn router() -> OpenApiRouter<Latchkey> {
    OpenApiRouter::new()
        .routes(routes!(csrf_view))
        .routes(routes!(login_view))
        .routes(routes!(logout_view))
        .routes(routes!(session_view))
        .routes(routes!(whoami_view))
}
