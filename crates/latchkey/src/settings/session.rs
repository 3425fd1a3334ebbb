//! `[session]` and `[csrf]`: the two cookies and the session lifetimes.

use std::time::Duration;

use serde::Deserialize;

use super::{
    Preset, SettingsError,
    cookie::{CookieDefaults, CookieSettings, RawCookie, SameSite},
};

/// Default session cookie name (Django's `SESSION_COOKIE_NAME`).
pub const SESSION_COOKIE_NAME: &str = "sessionid";
/// Default absolute session lifetime in seconds: two weeks (Django's `SESSION_COOKIE_AGE`).
pub const SESSION_COOKIE_AGE: u64 = 1_209_600;
/// The session cookie is HttpOnly unless configured otherwise.
pub const SESSION_COOKIE_HTTPONLY: bool = true;
/// Default idle limit of remembered sessions in seconds; 0: none.
pub const SESSION_IDLE_TIMEOUT: u64 = 0;
/// Default idle limit of browser-session logins in seconds: 30 minutes.
pub const BROWSER_SESSION_IDLE_TIMEOUT: u64 = 1800;
/// Default interval between `last_seen` writes, seconds.
pub const TOUCH_INTERVAL: u64 = 60;
/// Default CSRF cookie name (Django's `CSRF_COOKIE_NAME`).
pub const CSRF_COOKIE_NAME: &str = "csrftoken";
/// Default CSRF cookie `Max-Age` in seconds: one year (Django's `CSRF_COOKIE_AGE`).
pub const CSRF_COOKIE_AGE: u64 = 31_449_600;

/// Session settings (Django's `SESSION_*`).
#[derive(Debug, Clone)]
pub struct SessionSettings {
    /// The session cookie.
    pub cookie: CookieSettings,
    /// Absolute lifetime of a session, whatever its activity (Django's
    /// `SESSION_COOKIE_AGE`); also the persistent cookie's `Max-Age`.
    pub age: Duration,
    /// Idle limit of remembered (persistent-cookie) sessions; `None`: none.
    pub idle_timeout: Option<Duration>,
    /// Idle limit of sessions logged in with `"remember": false`, whose
    /// cookie ends with the browser session.
    pub browser_session_idle_timeout: Duration,
    /// `last_seen` is written at most this often, so reads stay cheap.
    pub touch_interval: Duration,
}

/// CSRF settings (Django's `CSRF_*`).
#[derive(Debug, Clone)]
pub struct CsrfSettings {
    /// The `csrftoken` cookie.
    pub cookie: CookieSettings,
}

/// `[session]` as read.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawSession {
    /// The session cookie.
    pub cookie: RawCookie,
    /// Seconds; 0 turns the idle limit off.
    pub idle_timeout: Option<u64>,
    /// Seconds.
    pub browser_session_idle_timeout: Option<u64>,
    /// Seconds.
    pub touch_interval: Option<u64>,
}

/// `[csrf]` as read.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawCsrf {
    /// The CSRF cookie.
    pub cookie: RawCookie,
}

/// Validates both sections: their cookies' defaults depend on the preset
/// (SameSite, the CSRF cookie's HttpOnly) and on whether the public URL is
/// https (Secure), and the two names must differ.
pub(crate) fn validate(
    session: &RawSession,
    csrf: &RawCsrf,
    preset: Preset,
    secure: bool,
) -> Result<(SessionSettings, CsrfSettings), SettingsError> {
    let same_site = if preset == Preset::CrossOrigin { SameSite::Lax } else { SameSite::Strict };
    let session_cookie = session.cookie.validate(
        "session.cookie",
        CookieDefaults {
            name: SESSION_COOKIE_NAME,
            age: SESSION_COOKIE_AGE,
            http_only: SESSION_COOKIE_HTTPONLY,
            same_site,
            secure,
        },
    )?;
    let age = session_cookie.age.unwrap_or(Duration::from_secs(SESSION_COOKIE_AGE));
    let idle_timeout = match session.idle_timeout.unwrap_or(SESSION_IDLE_TIMEOUT) {
        0 => None,
        s => Some(Duration::from_secs(s)),
    };
    let browser_session_idle_timeout =
        Duration::from_secs(session.browser_session_idle_timeout.unwrap_or(BROWSER_SESSION_IDLE_TIMEOUT));
    if browser_session_idle_timeout.is_zero() {
        return Err(SettingsError::invalid("session.browser_session_idle_timeout", "must be at least 1 second"));
    }
    let touch_interval = Duration::from_secs(session.touch_interval.unwrap_or(TOUCH_INTERVAL));
    let csrf_cookie = csrf.cookie.validate(
        "csrf.cookie",
        CookieDefaults {
            name: CSRF_COOKIE_NAME,
            age: CSRF_COOKIE_AGE,
            // The embedded SPA reads the cookie; everywhere else the token
            // comes from /api/csrf/ and scripts need not see the cookie.
            http_only: preset != Preset::Embedded,
            same_site,
            secure,
        },
    )?;
    if csrf_cookie.name == session_cookie.name {
        return Err(SettingsError::invalid("csrf.cookie.name", "must differ from session.cookie.name"));
    }
    Ok((
        SessionSettings { cookie: session_cookie, age, idle_timeout, browser_session_idle_timeout, touch_interval },
        CsrfSettings { cookie: csrf_cookie },
    ))
}
