//! Cookie attributes (`session.cookie.*`, `csrf.cookie.*`).

use std::{str::FromStr, time::Duration};

use serde::Deserialize;

use super::SettingsError;

/// Default `Path` of both cookies.
pub const COOKIE_PATH: &str = "/";

/// The `SameSite` cookie attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SameSite {
    /// Sent only on same-site requests, never on cross-site navigations.
    Strict,
    /// Also sent on top-level cross-site GET navigations.
    Lax,
    /// Sent on every request; browsers require `Secure` with it.
    None,
}

impl SameSite {
    /// The attribute value as written in `Set-Cookie`.
    pub fn as_str(self) -> &'static str {
        match self {
            SameSite::Strict => "Strict",
            SameSite::Lax => "Lax",
            SameSite::None => "None",
        }
    }
}

impl FromStr for SameSite {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "strict" => Ok(SameSite::Strict),
            "lax" => Ok(SameSite::Lax),
            "none" => Ok(SameSite::None),
            _ => Err(format!("{s:?} is not Strict, Lax or None")),
        }
    }
}

/// Attributes of one cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookieSettings {
    /// Cookie name.
    pub name: String,
    /// `Max-Age`; `None` makes a browser-session cookie.
    pub age: Option<Duration>,
    /// `Domain`; `None` (the default) keeps the cookie host-only.
    pub domain: Option<String>,
    /// `Path`.
    pub path: String,
    /// `Secure`.
    pub secure: bool,
    /// `HttpOnly`.
    pub http_only: bool,
    /// `SameSite`.
    pub same_site: SameSite,
}

/// Cookie settings as read from a file or the environment.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawCookie {
    /// See [`CookieSettings::name`].
    pub name: Option<String>,
    /// Seconds; 0 means a browser-session cookie.
    pub age: Option<u64>,
    /// See [`CookieSettings::domain`].
    pub domain: Option<String>,
    /// See [`CookieSettings::path`].
    pub path: Option<String>,
    /// See [`CookieSettings::secure`].
    pub secure: Option<bool>,
    /// See [`CookieSettings::http_only`].
    pub httponly: Option<bool>,
    /// `Strict`, `Lax` or `None`.
    pub samesite: Option<String>,
    /// Prefix the name with `__Host-`.
    pub host_prefix: Option<bool>,
}

/// The defaults of one cookie, which depend on the preset and the public URL.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CookieDefaults<'a> {
    pub(crate) name: &'a str,
    pub(crate) age: u64,
    pub(crate) http_only: bool,
    pub(crate) same_site: SameSite,
    pub(crate) secure: bool,
}

impl RawCookie {
    /// Validates the cookie under `key` (`session.cookie` or `csrf.cookie`).
    pub(crate) fn validate(&self, key: &str, d: CookieDefaults<'_>) -> Result<CookieSettings, SettingsError> {
        let raw = self;
        let same_site = match &raw.samesite {
            Some(s) => s.parse().map_err(|e| SettingsError::invalid(&format!("{key}.samesite"), e))?,
            None => d.same_site,
        };
        let secure = raw.secure.unwrap_or(d.secure);
        if same_site == SameSite::None && !secure {
            return Err(SettingsError::invalid(
                &format!("{key}.samesite"),
                format!(
                    "SameSite=None requires {key}.secure = true: browsers drop SameSite=None cookies that are not Secure"
                ),
            ));
        }
        let name = raw.name.clone().unwrap_or_else(|| d.name.into());
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)) {
            return Err(SettingsError::invalid(&format!("{key}.name"), "use letters, digits, '-', '_' or '.'"));
        }
        let path = raw.path.clone().unwrap_or_else(|| COOKIE_PATH.into());
        if !path.starts_with('/') || path.contains([';', ' ', ',']) {
            return Err(SettingsError::invalid(
                &format!("{key}.path"),
                "must start with '/' and contain no ';', ',' or spaces",
            ));
        }
        if let Some(domain) = &raw.domain
            && (domain.is_empty() || domain.contains([';', ' ', ',', '/', ':']))
        {
            return Err(SettingsError::invalid(&format!("{key}.domain"), "must be a bare domain name"));
        }
        let age = match raw.age.unwrap_or(d.age) {
            0 => None,
            s => Some(Duration::from_secs(s)),
        };
        let http_only = raw.httponly.unwrap_or(d.http_only);
        // __Host- cookies must be Secure, Path=/ and host-only; browsers drop them otherwise.
        let prefix_possible = secure && path == "/" && raw.domain.is_none();
        let prefix = match raw.host_prefix {
            Some(true) if !prefix_possible => {
                return Err(SettingsError::invalid(
                    &format!("{key}.host_prefix"),
                    "a __Host- cookie must be Secure, have Path=/ and no Domain",
                ));
            }
            Some(p) => p,
            None => prefix_possible && (key == "session.cookie" || http_only),
        };
        let name = if prefix && !name.starts_with("__Host-") { format!("__Host-{name}") } else { name };
        Ok(CookieSettings { name, age, domain: raw.domain.clone(), path, secure, http_only, same_site })
    }
}

/// The device cookie's attributes: the session cookie's (Secure, SameSite,
/// the `__Host-` prefix), HttpOnly, `Path=/`, its own name and lifetime;
/// `None` when `age` is zero.
pub(crate) fn device_cookie(session: &CookieSettings, age: time::Duration) -> Option<CookieSettings> {
    let secs = u64::try_from(age.whole_seconds()).ok().filter(|s| *s > 0)?;
    let prefix = if session.name.starts_with("__Host-") { "__Host-" } else { "" };
    Some(CookieSettings {
        name: format!("{prefix}latchkey_device"),
        age: Some(Duration::from_secs(secs)),
        domain: None,
        path: COOKIE_PATH.into(),
        secure: session.secure,
        http_only: true,
        same_site: session.same_site,
    })
}
