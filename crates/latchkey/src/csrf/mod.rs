//! Django-compatible CSRF protection, with Fetch Metadata in front.
//!
//! For every unsafe method, in this order (the first failure answers 403):
//!
//! 1. **Fetch Metadata** (Go 1.25's `CrossOriginProtection` order): an
//!    `Origin` that exactly equals a trusted origin passes this step; otherwise
//!    `Sec-Fetch-Site: cross-site` or `same-site` is refused
//!    (`code: cross_site_request`). `same-origin`, `none` and an absent header
//!    go on. This stops a page on another port of the same host, or a sibling
//!    subdomain, whose requests carry even `SameSite=Strict` cookies.
//! 2. **Django's checks** (`code: csrf_failed`), below.
//!
//! Checks, for every unsafe method (anything but GET, HEAD, OPTIONS, TRACE),
//! in Django's order: `Origin` (when sent) must be the request's own origin or
//! trusted; on HTTPS without `Origin`, the `Referer` rules; then the
//! `csrftoken` cookie must be present and well-formed, and the `X-CSRFToken`
//! header must carry it, masked (64 chars) or bare (32 chars). A missing
//! cookie is a rejection, which is also what stops login CSRF.

pub mod token;

use std::sync::{Arc, Mutex};

use axum::{
    extract::{FromRequestParts, Request, State},
    middleware::Next,
    response::{IntoResponse, Response},
};
use http::{HeaderMap, Method, header, request::Parts};

use crate::{Latchkey, api::ApiError, context::RequestContext, cookies, origin::Origin};

/// The request header that carries the token (Django's `CSRF_HEADER_NAME`).
pub const HEADER: &str = "x-csrftoken";
const HEADER_DISPLAY: &str = "the 'X-Csrftoken' HTTP header";

/// Why a request was refused, with Django's texts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CsrfReason {
    /// `Origin` is neither ours nor trusted.
    BadOrigin(String),
    /// HTTPS request without `Origin` or `Referer`.
    NoReferer,
    /// `Referer` cannot be parsed.
    MalformedReferer,
    /// `Referer` is http while we are https.
    InsecureReferer,
    /// `Referer` is neither ours nor trusted.
    BadReferer(String),
    /// No `csrftoken` cookie.
    NoCookie,
    /// Cookie of the wrong length.
    CookieLength,
    /// Cookie with characters outside `[A-Za-z0-9]`.
    CookieCharacters,
    /// No token in the header.
    TokenMissing,
    /// Token of the wrong length.
    TokenLength,
    /// Token with invalid characters.
    TokenCharacters,
    /// Token does not match the cookie.
    TokenIncorrect,
    /// `Sec-Fetch-Site` says the request comes from another site (or a
    /// sibling on the same site) and its `Origin` is not trusted.
    FetchMetadata(String),
}

impl std::fmt::Display for CsrfReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CsrfReason::BadOrigin(o) => write!(f, "Origin checking failed - {o} does not match any trusted origins."),
            CsrfReason::NoReferer => f.write_str("Referer checking failed - no Referer."),
            CsrfReason::MalformedReferer => f.write_str("Referer checking failed - Referer is malformed."),
            CsrfReason::InsecureReferer => {
                f.write_str("Referer checking failed - Referer is insecure while host is secure.")
            }
            CsrfReason::BadReferer(r) => write!(f, "Referer checking failed - {r} does not match any trusted origins."),
            CsrfReason::NoCookie => f.write_str("CSRF cookie not set."),
            CsrfReason::CookieLength => f.write_str("CSRF cookie has incorrect length."),
            CsrfReason::CookieCharacters => f.write_str("CSRF cookie has invalid characters."),
            CsrfReason::TokenMissing => f.write_str("CSRF token missing."),
            CsrfReason::TokenLength => {
                write!(f, "CSRF token from {HEADER_DISPLAY} has incorrect length.")
            }
            CsrfReason::TokenCharacters => write!(f, "CSRF token from {HEADER_DISPLAY} has invalid characters."),
            CsrfReason::TokenIncorrect => write!(f, "CSRF token from {HEADER_DISPLAY} incorrect."),
            CsrfReason::FetchMetadata(site) => write!(
                f,
                "Sec-Fetch-Site is {site}: the request comes from a page outside this application and its Origin is not trusted."
            ),
        }
    }
}

impl CsrfReason {
    /// The 403 answer: `{"detail": "CSRF Failed: <reason>", "code": "csrf_failed"}`.
    pub fn into_api_error(self) -> ApiError {
        ApiError::forbidden(self.code(), format!("CSRF Failed: {self}"))
    }

    /// The machine-readable code: `cross_site_request` for the Fetch
    /// Metadata step (retrying with a fresh token cannot help), `csrf_failed`
    /// for Django's checks.
    pub fn code(&self) -> &'static str {
        match self {
            CsrfReason::FetchMetadata(_) => "cross_site_request",
            _ => "csrf_failed",
        }
    }
}

/// Methods that never need a token (RFC 9110 safe methods).
pub fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE)
}

#[derive(Debug, Default)]
struct CsrfState {
    secret: Option<String>,
    needs_update: bool,
}

/// The request's CSRF state: hands out masked tokens and rotates the secret.
#[derive(Debug, Clone, Default)]
pub struct CsrfToken(Arc<Mutex<CsrfState>>);

impl CsrfToken {
    fn lock(&self) -> std::sync::MutexGuard<'_, CsrfState> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A freshly masked token for the current secret, creating the secret if
    /// there is none. The cookie is (re)sent with the response, as Django's
    /// `get_token` does.
    pub fn get(&self) -> String {
        let mut st = self.lock();
        let secret = st.secret.get_or_insert_with(token::new_secret).clone();
        st.needs_update = true;
        token::mask(&secret)
    }

    /// Makes sure the browser has a CSRF cookie, without masking a token
    /// nobody will read. Unlike Django's `ensure_csrf_cookie`, a valid cookie
    /// is not re-sent: this runs on every session check, and the cookie's
    /// one-year expiry is renewed whenever the SPA fetches a token ([`CsrfToken::get`]).
    pub fn ensure_cookie(&self) {
        let mut st = self.lock();
        if st.secret.is_none() {
            st.secret = Some(token::new_secret());
            st.needs_update = true;
        }
    }

    /// Replaces the secret (at login): tokens handed out before stop working.
    pub fn rotate(&self) {
        let mut st = self.lock();
        st.secret = Some(token::new_secret());
        st.needs_update = true;
    }
}

impl<S: Send + Sync> FromRequestParts<S> for CsrfToken {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<CsrfToken>()
            .cloned()
            .ok_or_else(|| ApiError::internal("CsrfToken extractor used without csrf_middleware"))
    }
}

/// The origins trusted beyond the request's own: `allowed_origins` and the
/// public URL.
fn trusted(lk: &Latchkey, origin: &Origin) -> bool {
    lk.settings().allowed_origins.iter().any(|t| t.matches(origin))
        || lk.settings().public_url.as_ref().is_some_and(|p| p.matches(origin))
}

/// Whether `origin` is the request's own origin or a trusted one.
pub fn origin_is_ours_or_trusted(lk: &Latchkey, ctx: &RequestContext, origin: &Origin) -> bool {
    ctx.origin().as_ref() == Some(origin) || trusted(lk, origin)
}

fn header_str(headers: &HeaderMap, name: impl http::header::AsHeaderName) -> Option<&str> {
    headers.get(name).map(|v| v.to_str().unwrap_or("\u{FFFD}"))
}

/// Step 1, Fetch Metadata, in Go 1.25's order: an `Origin` exactly equal
/// to a trusted origin (not a wildcard pattern) passes; otherwise
/// `Sec-Fetch-Site` values other than `same-origin` and `none` are refused.
pub fn check_fetch_metadata(lk: &Latchkey, headers: &HeaderMap) -> Result<(), CsrfReason> {
    let exactly_trusted =
        headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()).and_then(|o| Origin::parse(o).ok()).is_some_and(
            |o| {
                lk.settings().allowed_origins.iter().any(|t| !t.is_wildcard() && *t == o)
                    || lk.settings().public_url.as_ref() == Some(&o)
            },
        );
    if exactly_trusted {
        return Ok(());
    }
    match headers.get("sec-fetch-site").map(|v| v.to_str().unwrap_or("?")) {
        None | Some("same-origin") | Some("none") => Ok(()),
        Some(other) => Err(CsrfReason::FetchMetadata(other.chars().take(40).filter(|c| !c.is_control()).collect())),
    }
}

/// Every check for an unsafe request: [`check_fetch_metadata`], then
/// Django's `CsrfViewMiddleware.process_view` checks in Django's order.
pub fn check(lk: &Latchkey, ctx: &RequestContext, headers: &HeaderMap, cookie: Option<&str>) -> Result<(), CsrfReason> {
    check_fetch_metadata(lk, headers)?;
    if let Some(raw) = header_str(headers, header::ORIGIN) {
        let ok = Origin::parse(raw).is_ok_and(|o| origin_is_ours_or_trusted(lk, ctx, &o));
        if !ok {
            let shown: String = raw.chars().take(200).filter(|c| !c.is_control()).collect();
            return Err(CsrfReason::BadOrigin(shown));
        }
    } else if ctx.secure {
        let referer = header_str(headers, header::REFERER).ok_or(CsrfReason::NoReferer)?;
        let (scheme, _) = referer.split_once("://").ok_or(CsrfReason::MalformedReferer)?;
        let origin = Origin::from_url(referer).ok_or(CsrfReason::MalformedReferer)?;
        if !scheme.eq_ignore_ascii_case("https") {
            return Err(CsrfReason::InsecureReferer);
        }
        let same_host = ctx.origin().is_some_and(|o| o.authority() == origin.authority());
        if !same_host && !trusted(lk, &origin) {
            let shown: String = referer.chars().take(200).filter(|c| !c.is_control()).collect();
            return Err(CsrfReason::BadReferer(shown));
        }
    }
    let cookie = cookie.ok_or(CsrfReason::NoCookie)?;
    token::check_format(cookie).map_err(|e| match e {
        token::FormatError::IncorrectLength => CsrfReason::CookieLength,
        token::FormatError::InvalidCharacters => CsrfReason::CookieCharacters,
    })?;
    let secret = token::to_secret(cookie);
    let request_token = headers
        .get(HEADER)
        .map(|v| v.to_str().unwrap_or("\u{FFFD}"))
        .filter(|v| !v.is_empty())
        .ok_or(CsrfReason::TokenMissing)?;
    token::check_format(request_token).map_err(|e| match e {
        token::FormatError::IncorrectLength => CsrfReason::TokenLength,
        token::FormatError::InvalidCharacters => CsrfReason::TokenCharacters,
    })?;
    if !token::matches(request_token, &secret) {
        return Err(CsrfReason::TokenIncorrect);
    }
    Ok(())
}

/// Middleware: enforces [`check`] on unsafe methods, gives handlers a
/// [`CsrfToken`], and writes the `csrftoken` cookie when it changed.
pub async fn csrf_middleware(State(lk): State<Latchkey>, mut req: Request, next: Next) -> Response {
    let state = match csrf_begin(&lk, &mut req).await {
        Ok(state) => state,
        Err(refused) => return refused.into_response(),
    };
    let mut response = next.run(req).await;
    csrf_finish(&lk, &state, &mut response);
    response
}

/// The request half of [`csrf_middleware`], for layers that run it inline:
/// checks unsafe methods and puts the request's [`CsrfToken`] into its
/// extensions.
///
/// # Errors
/// The 403 of a CSRF failure.
pub async fn csrf_begin(lk: &Latchkey, req: &mut Request) -> Result<CsrfToken, ApiError> {
    let settings = &lk.settings().csrf.cookie;
    let cookie = cookies::find(req.headers(), &settings.name);
    let state = CsrfToken::default();
    if let Some(c) = &cookie
        && token::check_format(c).is_ok()
    {
        let mut st = state.lock();
        st.secret = Some(token::to_secret(c));
        // A masked cookie (older Django) is replaced by the bare secret.
        st.needs_update = c.len() == token::TOKEN_LENGTH;
    }
    if !is_safe(req.method()) {
        let ctx = req.extensions().get::<RequestContext>().cloned().unwrap_or_else(|| {
            RequestContext::from_parts(lk.settings(), req.headers(), req.uri().authority().map(|a| a.as_str()), None)
        });
        if let Err(reason) = check(lk, &ctx, req.headers(), cookie.as_deref()) {
            tracing::warn!(
                target: "latchkey::security::csrf",
                reason = %reason,
                method = %req.method(),
                path = %req.uri().path(),
                "CSRF rejection"
            );
            let detail = format!("{} {}: {reason}", req.method(), req.uri().path());
            lk.audit(
                crate::audit::AuditEvent::new(lk.clock().now(), "csrf_rejected").client(ctx.client_ip).detail(detail),
            )
            .await;
            return Err(reason.into_api_error());
        }
    }
    req.extensions_mut().insert(state.clone());
    Ok(state)
}

/// The response half of [`csrf_middleware`]: writes the cookie when the
/// secret is new or was used (Django renews it then).
pub fn csrf_finish(lk: &Latchkey, state: &CsrfToken, response: &mut Response) {
    let settings = &lk.settings().csrf.cookie;
    let st = state.lock();
    if st.needs_update
        && let Some(secret) = &st.secret
    {
        let now = lk.clock().now();
        response.headers_mut().append(header::SET_COOKIE, cookies::set(settings, secret, now));
        cookies::vary_cookie(response.headers_mut());
    }
}
