//! The tutorial's JSON API: `/api/csrf/`, `/api/login/`, `/api/logout/`,
//! `/api/session/` and `/api/whoami/`, wire-compatible with its Django
//! backend, with JSON errors where Django answers HTML or 500.

mod error;

use axum::{
    Json, Router,
    body::Bytes,
    extract::{FromRequest, OriginalUri, Request, State},
    response::{IntoResponse, Response},
    routing::{get, post},
};
pub use error::{ApiError, json_errors, to_json_error};
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use serde_json::{Value, json};

use crate::{
    Latchkey,
    audit::AuditEvent,
    auth::MaybeUser,
    context::RequestContext,
    csrf::{self, CsrfToken},
    origin::Origin,
    password::RawPassword,
    session::Session,
    settings::Preset,
};

/// The API's paths, each with its trailing slash.
pub const API_PATHS: &[&str] = &["/api/csrf/", "/api/login/", "/api/logout/", "/api/session/", "/api/whoami/"];

/// A JSON object request body.
///
/// Stricter than Django, which runs `json.loads` on any body and answers 500
/// when it fails: a non-empty body must be sent as `application/json` (415
/// otherwise, which also stops `text/plain` login CSRF), and anything that is
/// not a JSON object is a 400 with a `detail`.
#[derive(Debug)]
pub struct JsonObject(pub serde_json::Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for JsonObject {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = req.headers().get(header::CONTENT_TYPE).map(|v| v.to_str().unwrap_or("?").to_owned());
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "Request body is too large.")
            } else {
                ApiError::bad_request("parse_error", "The request body could not be read.")
            }
        })?;
        parse_json_object(content_type.as_deref(), &bytes).map(JsonObject)
    }
}

/// The body rules of [`JsonObject`], on bytes already read.
///
/// # Errors
/// 400 for an empty, malformed or non-object body; 415 for a non-JSON type.
pub fn parse_json_object(content_type: Option<&str>, bytes: &[u8]) -> Result<serde_json::Map<String, Value>, ApiError> {
    if bytes.is_empty() {
        return Err(ApiError::bad_request(
            "parse_error",
            "JSON parse error - the request body is empty; send a JSON object.",
        ));
    }
    let is_json = content_type.is_some_and(|ct| {
        let essence = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
    });
    if !is_json {
        let shown: String = content_type.unwrap_or_default().chars().take(100).filter(|c| !c.is_control()).collect();
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!("Unsupported media type \"{shown}\" in request; send application/json."),
        ));
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::bad_request("parse_error", "JSON parse error - expected a JSON object.")),
        Err(e) => Err(ApiError::bad_request("parse_error", format!("JSON parse error - {e}"))),
    }
}

/// A login request, parsed.
#[derive(Debug)]
pub struct LoginBody {
    /// As submitted.
    pub username: String,
    /// As submitted.
    pub password: RawPassword,
    /// Persistent cookie (default) or browser-session cookie.
    pub remember: bool,
}

/// Reads the login fields the tutorial defines, plus the optional `remember`.
///
/// # Errors
/// 400 with Django's "Please provide username and password." when one is
/// missing or null; 400 `parse_error` for wrong types.
pub fn parse_login_fields(body: &serde_json::Map<String, Value>) -> Result<LoginBody, ApiError> {
    let username = string_field(body, "username")?;
    let password = string_field(body, "password")?;
    let (Some(username), Some(password)) = (username, password) else {
        return Err(ApiError::bad_request("missing_credentials", "Please provide username and password."));
    };
    let remember = match body.get("remember") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(ApiError::bad_request("parse_error", "\"remember\" must be true or false.")),
    };
    Ok(LoginBody { username, password: RawPassword::new(password), remember })
}

/// The whole login body pipeline on raw bytes (used by the fuzz target).
///
/// # Errors
/// As [`parse_json_object`] and [`parse_login_fields`].
pub fn parse_login_body(content_type: Option<&str>, bytes: &[u8]) -> Result<LoginBody, ApiError> {
    parse_login_fields(&parse_json_object(content_type, bytes)?)
}

fn detail(message: &'static str) -> Json<Value> {
    Json(json!({ "detail": message }))
}

async fn csrf_view(csrf: CsrfToken) -> Response {
    let token = csrf.get();
    let mut res = detail("CSRF cookie set").into_response();
    res.headers_mut().insert("x-csrftoken", HeaderValue::from_str(&token).expect("alphanumeric token"));
    res
}

fn string_field(body: &serde_json::Map<String, Value>, name: &str) -> Result<Option<String>, ApiError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ApiError::bad_request("parse_error", format!("\"{name}\" must be a string."))),
    }
}

async fn login_view(
    State(lk): State<Latchkey>,
    ctx: Option<axum::Extension<RequestContext>>,
    session: Session,
    csrf: CsrfToken,
    JsonObject(body): JsonObject,
) -> Result<Response, ApiError> {
    let LoginBody { username, password, remember } = parse_login_fields(&body)?;
    let client = ctx.and_then(|c| c.0.client_ip);
    let user = lk.authenticate_throttled(&username, &password, client, "password").await?;
    lk.login(&session, &csrf, &user, remember, client).await?;
    Ok(detail("Successfully logged in.").into_response())
}

/// Whether a GET logout may proceed. GET logout exists only because the
/// tutorial's clients use it; without checks any page could log users out
/// with a link or an `<img>`. SameSite does not help against a page on
/// another port of the same host, or a sibling subdomain (same site), so
/// Fetch Metadata and Origin/Referer decide.
fn get_logout_allowed(lk: &Latchkey, ctx: &RequestContext, headers: &HeaderMap) -> bool {
    let ours = |o: Option<Origin>| o.is_some_and(|o| csrf::origin_is_ours_or_trusted(lk, ctx, &o));
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
    }
    match user {
        // expiresAt is an addition the tutorial's clients ignore; absent for
        // HTTP Basic, which has no session.
        Some(_) => {
            let expires_at = match session.expires_at().await? {
                Some(at) => {
                    Some(at.format(&time::format_description::well_known::Rfc3339).map_err(ApiError::internal)?)
                }
                None => None,
            };
            Ok(Json(Answer { is_authenticated: true, expires_at }).into_response())
        }
        None if lk.settings().preset == Preset::Rest => Err(ApiError::not_authenticated()),
        None => Ok(Json(Answer { is_authenticated: false, expires_at: None }).into_response()),
    }
}

async fn whoami_view(State(lk): State<Latchkey>, MaybeUser(user): MaybeUser) -> Result<Response, ApiError> {
    match user {
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

/// The `/api/` routes, with the session and CSRF middleware on them. Merge it
/// into an application's router; see [`crate::app`] for the outer layers.
pub fn router(lk: Latchkey) -> Router {
    Router::new()
        .route("/api/csrf/", get(csrf_view))
        .route("/api/login/", post(login_view))
        .route("/api/logout/", get(logout_view).post(logout_view))
        .route("/api/session/", get(session_view))
        .route("/api/whoami/", get(whoami_view))
        // route_layer: unknown paths reach the fallback (slash redirect, 404)
        // untouched; a known path with a wrong method is CSRF-checked first,
        // as in Django (PUT without a token: 403, with one: 405).
        .route_layer(ApiLayer(lk.clone()))
        .with_state(lk)
}

/// CSRF, then the session, then `Cache-Control: no-store` — what
/// [`crate::csrf::csrf_middleware`] and [`crate::session::session_middleware`]
/// do, as one hand-written layer: each `from_fn` layer clones and boxes the
/// rest of the stack on every request, which shows on the session check.
#[derive(Debug, Clone)]
pub struct ApiLayer(pub Latchkey);

impl<S> tower::Layer<S> for ApiLayer {
    type Service = ApiService<S>;
    fn layer(&self, inner: S) -> ApiService<S> {
        ApiService { inner, lk: self.0.clone() }
    }
}

/// The service of [`ApiLayer`].
#[derive(Debug, Clone)]
pub struct ApiService<S> {
    inner: S,
    lk: Latchkey,
}

impl<S> tower::Service<Request> for ApiService<S>
where
    S: tower::Service<Request, Response = Response, Error = std::convert::Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = std::convert::Infallible;
    type Future = crate::app::ResponseFuture;

    fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let lk = self.lk.clone();
        Box::pin(async move {
            let mut response = match crate::csrf::csrf_begin(&lk, &mut req).await {
                Err(refused) => refused.into_response(),
                Ok(csrf) => {
                    let session = Session::begin(&lk, &mut req);
                    let Ok(mut response) = inner.call(req).await;
                    session.finish(&lk, &mut response).await;
                    crate::csrf::csrf_finish(&lk, &csrf, &mut response);
                    response
                }
            };
            // Authentication answers must never be stored by a browser or proxy cache.
            response.headers_mut().entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
            Ok(response)
        })
    }
}

/// Fallback: a known path without its trailing slash redirects to the
/// slashed one (Django's `APPEND_SLASH`) — 301 for GET/HEAD, 308 otherwise
/// so a POST keeps its method and body; everything else is a JSON 404.
pub async fn append_slash_fallback(method: Method, OriginalUri(uri): OriginalUri) -> Response {
    let path = uri.path();
    if !path.ends_with('/') {
        let slashed = format!("{path}/");
        if API_PATHS.contains(&slashed.as_str()) {
            let location = match uri.query() {
                Some(q) => format!("{slashed}?{q}"),
                None => slashed,
            };
            let status = if method == Method::GET || method == Method::HEAD {
                StatusCode::MOVED_PERMANENTLY
            } else {
                StatusCode::PERMANENT_REDIRECT
            };
            return match HeaderValue::from_str(&location) {
                Ok(loc) => (status, [(header::LOCATION, loc)]).into_response(),
                Err(_) => ApiError::new(StatusCode::NOT_FOUND, "not_found", "Not found.").into_response(),
            };
        }
    }
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "Not found.").into_response()
}
