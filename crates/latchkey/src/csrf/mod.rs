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

use crate::{origin::Origin, settings::Settings};

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
    /// Every [`CsrfReason::label`].
    pub const LABELS: [&'static str; 13] = [
        "bad_origin",
        "no_referer",
        "malformed_referer",
        "insecure_referer",
        "bad_referer",
        "no_cookie",
        "cookie_length",
        "cookie_characters",
        "token_missing",
        "token_length",
        "token_characters",
        "token_incorrect",
        "fetch_metadata",
    ];

    /// A stable name for metrics: `bad_origin`, `token_missing`, ….
    pub fn label(&self) -> &'static str {
        match self {
            CsrfReason::BadOrigin(_) => "bad_origin",
            CsrfReason::NoReferer => "no_referer",
            CsrfReason::MalformedReferer => "malformed_referer",
            CsrfReason::InsecureReferer => "insecure_referer",
            CsrfReason::BadReferer(_) => "bad_referer",
            CsrfReason::NoCookie => "no_cookie",
            CsrfReason::CookieLength => "cookie_length",
            CsrfReason::CookieCharacters => "cookie_characters",
            CsrfReason::TokenMissing => "token_missing",
            CsrfReason::TokenLength => "token_length",
            CsrfReason::TokenCharacters => "token_characters",
            CsrfReason::TokenIncorrect => "token_incorrect",
            CsrfReason::FetchMetadata(_) => "fetch_metadata",
        }
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
pub fn is_safe(method: &str) -> bool {
    matches!(method, "GET" | "HEAD" | "OPTIONS" | "TRACE")
}

/// What the checks read from a request. Header values that are not valid
/// text are passed as `"\u{FFFD}"` (they can never match), an absent header
/// as `None`.
#[derive(Debug, Clone, Default)]
pub struct RequestFacts<'a> {
    /// The request's own origin (scheme and host as the client used them).
    pub own_origin: Option<Origin>,
    /// HTTPS (or an https public URL): Django's strict Referer rules apply.
    pub secure: bool,
    /// `Origin`.
    pub origin: Option<&'a str>,
    /// `Referer`.
    pub referer: Option<&'a str>,
    /// `Sec-Fetch-Site`.
    pub sec_fetch_site: Option<&'a str>,
    /// The `X-CSRFToken` header.
    pub token: Option<&'a str>,
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

    /// The state of a request that carried `cookie`: a well-formed cookie's
    /// secret is kept (a masked cookie, as older Django wrote, is replaced
    /// by its bare secret); anything else is ignored.
    pub fn from_cookie(cookie: Option<&str>) -> Self {
        let state = CsrfToken::default();
        if let Some(c) = cookie
            && token::check_format(c).is_ok()
        {
            let mut st = state.lock();
            st.secret = Some(token::to_secret(c));
            st.needs_update = c.len() == token::TOKEN_LENGTH;
        }
        state
    }

    /// The secret to (re)send as the cookie, when it is new or was used
    /// (Django renews the cookie then).
    pub fn pending_cookie(&self) -> Option<String> {
        let st = self.lock();
        st.needs_update.then(|| st.secret.clone()).flatten()
    }
}

/// The origins trusted beyond the request's own: `allowed_origins` and the
/// public URL.
fn trusted(settings: &Settings, origin: &Origin) -> bool {
    settings.allowed_origins.iter().any(|t| t.matches(origin))
        || settings.public_url.as_ref().is_some_and(|p| p.matches(origin))
}

/// Whether `origin` is the request's own origin (`own`) or a trusted one.
pub fn origin_is_ours_or_trusted(settings: &Settings, own: Option<&Origin>, origin: &Origin) -> bool {
    own == Some(origin) || trusted(settings, origin)
}

/// Step 1, Fetch Metadata, in Go 1.25's order: an `Origin` exactly equal
/// to a trusted origin (not a wildcard pattern) passes; otherwise
/// `Sec-Fetch-Site` values other than `same-origin` and `none` are refused.
pub fn check_fetch_metadata(settings: &Settings, req: &RequestFacts<'_>) -> Result<(), CsrfReason> {
    let exactly_trusted = req.origin.and_then(|o| Origin::parse(o).ok()).is_some_and(|o| {
        settings.allowed_origins.iter().any(|t| !t.is_wildcard() && *t == o) || settings.public_url.as_ref() == Some(&o)
    });
    if exactly_trusted {
        return Ok(());
    }
    match req.sec_fetch_site {
        None | Some("same-origin") | Some("none") => Ok(()),
        Some(other) => Err(CsrfReason::FetchMetadata(other.chars().take(40).filter(|c| !c.is_control()).collect())),
    }
}

/// Every check for an unsafe request: [`check_fetch_metadata`], then
/// Django's `CsrfViewMiddleware.process_view` checks in Django's order.
/// Like Django's middleware, it reads only settings and the request.
pub fn check(settings: &Settings, req: &RequestFacts<'_>, cookie: Option<&str>) -> Result<(), CsrfReason> {
    check_fetch_metadata(settings, req)?;
    if let Some(raw) = req.origin {
        let ok = Origin::parse(raw).is_ok_and(|o| origin_is_ours_or_trusted(settings, req.own_origin.as_ref(), &o));
        if !ok {
            let shown: String = raw.chars().take(200).filter(|c| !c.is_control()).collect();
            return Err(CsrfReason::BadOrigin(shown));
        }
    } else if req.secure {
        let referer = req.referer.ok_or(CsrfReason::NoReferer)?;
        let (scheme, _) = referer.split_once("://").ok_or(CsrfReason::MalformedReferer)?;
        let origin = Origin::from_url(referer).ok_or(CsrfReason::MalformedReferer)?;
        if !scheme.eq_ignore_ascii_case("https") {
            return Err(CsrfReason::InsecureReferer);
        }
        let same_host = req.own_origin.as_ref().is_some_and(|o| o.authority() == origin.authority());
        if !same_host && !trusted(settings, &origin) {
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
    let request_token = req.token.filter(|v| !v.is_empty()).ok_or(CsrfReason::TokenMissing)?;
    token::check_format(request_token).map_err(|e| match e {
        token::FormatError::IncorrectLength => CsrfReason::TokenLength,
        token::FormatError::InvalidCharacters => CsrfReason::TokenCharacters,
    })?;
    if !token::matches(request_token, &secret) {
        return Err(CsrfReason::TokenIncorrect);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::CsrfReason;

    #[test]
    fn every_reason_has_its_own_metrics_label_from_the_declared_list() {
        let all = [
            CsrfReason::BadOrigin(String::new()),
            CsrfReason::NoReferer,
            CsrfReason::MalformedReferer,
            CsrfReason::InsecureReferer,
            CsrfReason::BadReferer(String::new()),
            CsrfReason::NoCookie,
            CsrfReason::CookieLength,
            CsrfReason::CookieCharacters,
            CsrfReason::TokenMissing,
            CsrfReason::TokenLength,
            CsrfReason::TokenCharacters,
            CsrfReason::TokenIncorrect,
            CsrfReason::FetchMetadata(String::new()),
        ];
        let labels: Vec<&str> = all.iter().map(CsrfReason::label).collect();
        assert_eq!(labels, CsrfReason::LABELS);
    }
}
