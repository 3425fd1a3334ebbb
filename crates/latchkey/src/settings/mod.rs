//! Latchkey's settings: one tree whose names mirror Django's, read from any
//! serde source into [`RawSettings`] and validated into typed [`Settings`] at
//! load time, so a bad value is reported before the server starts.
//!
//! One file per section, each with its raw form, its validation and the
//! constants that are its defaults; [`SETTINGS`] documents every key with
//! those same constants (the server reads environment variables by it, and
//! `docs/configuration.md` is checked against it), so each default is
//! written once. Server-only keys (`bind`, `spa.*`, the transport limits)
//! are the server crate's.

mod cache;
mod cookie;
mod email;
mod limits;
mod mfa;
mod oidc;
mod password;
mod session;
mod throttle;

use std::{fmt, net::SocketAddr, str::FromStr, time::Duration};

use ipnet::IpNet;
use secrecy::SecretString;
use serde::Deserialize;

pub use self::{
    cache::*,
    cookie::{COOKIE_PATH, CookieSettings, RawCookie, SameSite},
    email::*,
    limits::*,
    mfa::*,
    oidc::*,
    password::*,
    session::*,
    throttle::*,
};
use crate::origin::{Origin, OriginError};

/// The preset when none is configured.
pub const DEFAULT_PRESET: Preset = Preset::Embedded;
/// Default database: a SQLite file in the working directory.
pub const DATABASE_URL: &str = "sqlite://latchkey.sqlite3";
/// Default prefix of Redis keys.
pub const SESSION_STORE_PREFIX: &str = "latchkey:";
/// Audit events are kept in the database by default.
pub const AUDIT_PERSIST: bool = true;
/// Default interval between writes of aggregated audit events, seconds.
pub const AUDIT_FLUSH_INTERVAL: u64 = 10;
/// Default time, in seconds, after a password was last proved during which
/// sensitive actions need no re-authentication (allauth's default).
pub const AUTH_REAUTHENTICATION_WINDOW: u64 = 300;

/// The four deployment shapes of the tutorial.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    /// The server serves the SPA itself; the SPA reads the `csrftoken` cookie.
    Embedded,
    /// SPA and API behind one reverse proxy; the token comes from `/api/csrf/`.
    SameOrigin,
    /// As same-origin, plus HTTP Basic and DRF-style 403s on session/whoami.
    Rest,
    /// The SPA runs on another origin: CORS with credentials, Lax cookies.
    CrossOrigin,
}

impl Preset {
    /// All presets, in documentation order.
    pub const ALL: [Preset; 4] = [Preset::Embedded, Preset::SameOrigin, Preset::Rest, Preset::CrossOrigin];

    /// The preset's name as written on the command line.
    pub const fn as_str(self) -> &'static str {
        match self {
            Preset::Embedded => "embedded",
            Preset::SameOrigin => "same-origin",
            Preset::Rest => "rest",
            Preset::CrossOrigin => "cross-origin",
        }
    }
}

impl FromStr for Preset {
    type Err = SettingsError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Preset::ALL.into_iter().find(|p| p.as_str() == s).ok_or_else(|| {
            SettingsError::invalid(
                "preset",
                format!("{s:?} is not a preset; use embedded, same-origin, rest or cross-origin"),
            )
        })
    }
}

impl fmt::Display for Preset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The validated settings tree.
#[derive(Clone)]
pub struct Settings {
    /// Deployment preset.
    pub preset: Preset,
    /// The origin users see, if configured.
    pub public_url: Option<Origin>,
    /// `sqlite://…` (default) or `postgres://…`: users, audit, and sessions
    /// and throttle counters unless `session_store_url` is set.
    pub database_url: String,
    /// `redis://…` to keep sessions and throttle counters in Redis.
    pub session_store_url: Option<String>,
    /// Prefix of every Redis key.
    pub session_store_prefix: String,
    /// HMAC key; `None` means "use the one `migrate` stored in the database".
    pub secret_key: Option<SecretString>,
    /// Older keys still accepted while rotating.
    pub secret_key_fallbacks: Vec<SecretString>,
    /// Accepted `Host` header values (Django's `ALLOWED_HOSTS`).
    pub allowed_hosts: Vec<String>,
    /// Origins trusted by the CSRF Origin check and, in cross-origin, by CORS.
    pub allowed_origins: Vec<Origin>,
    /// Proxies whose `X-Forwarded-*` headers are believed.
    pub trusted_proxies: Vec<IpNet>,
    /// Session settings.
    pub session: SessionSettings,
    /// CSRF settings.
    pub csrf: CsrfSettings,
    /// Password hashing.
    pub password_hasher: HasherSettings,
    /// Largest accepted request body on `/api/`.
    pub max_body_bytes: usize,
    /// A whole request (headers and body) must be handled within this.
    pub request_timeout: Duration,
    /// `Strict-Transport-Security` max-age when the public URL is https; 0: no header.
    pub hsts_seconds: u64,
    /// `includeSubDomains` in that header.
    pub hsts_include_subdomains: bool,
    /// Failed-login throttling.
    pub throttle: ThrottlePolicy,
    /// The device cookie of the throttle; `None` when device cookies are off.
    pub device_cookie: Option<CookieSettings>,
    /// Keep audit events in the database (they always go to the log).
    pub audit_persist: bool,
    /// How often aggregated audit events (unauthenticated rejections) are written.
    pub audit_flush_interval: Duration,
    /// Password validators.
    pub password_policy: PasswordPolicy,
    /// The read-through cache of sessions and users.
    pub cache: CacheSettings,
    /// How long after the password was last proved in a session its
    /// sensitive actions are allowed without asking for it again.
    pub reauthentication_window: Duration,
    /// How mail leaves and is retried.
    pub email: EmailSettings,
    /// Links in mails and the password-reset limits.
    pub accounts: AccountsSettings,
    /// The relying party of passkeys and security keys.
    pub webauthn: WebauthnSettings,
    /// Staff without a second factor must set one up before anything else.
    pub mfa_required_for_staff: bool,
    /// OpenID Connect providers users may sign in with (none by default).
    pub oidc_providers: Vec<OidcProvider>,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Secrets are printed as a placeholder; the database URL may carry a
        // password, so only its scheme is shown.
        f.debug_struct("Settings")
            .field("preset", &self.preset)
            .field("public_url", &self.public_url.as_ref().map(ToString::to_string))
            .field("database_url", &redact_url(&self.database_url))
            .field("session_store_url", &self.session_store_url.as_deref().map(redact_url))
            .field("session_store_prefix", &self.session_store_prefix)
            .field("secret_key", &self.secret_key.as_ref().map(|_| "[redacted]"))
            .field("secret_key_fallbacks", &self.secret_key_fallbacks.len())
            .field("allowed_hosts", &self.allowed_hosts)
            .field("allowed_origins", &self.allowed_origins.iter().map(ToString::to_string).collect::<Vec<_>>())
            .field("trusted_proxies", &self.trusted_proxies)
            .field("session", &self.session)
            .field("csrf", &self.csrf)
            .field("password_hasher", &self.password_hasher)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("throttle", &self.throttle)
            .field("email", &self.email)
            .field("accounts", &self.accounts)
            .field("oidc_providers", &self.oidc_providers)
            .finish()
    }
}

/// Shows a URL with any `user:password@` part replaced.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}[redacted]{}", &url[..s + 3], &url[at..]),
        _ => url.to_owned(),
    }
}

impl Settings {
    /// Whether HTTP Basic authentication is accepted (the rest preset).
    pub fn basic_auth(&self) -> bool {
        self.preset == Preset::Rest
    }

    /// Whether CORS headers are emitted (the cross-origin preset).
    pub fn cors_enabled(&self) -> bool {
        self.preset == Preset::CrossOrigin
    }

    /// Settings for tests and examples: the preset's defaults, cheap hashing
    /// parameters, an in-memory SQLite database and a fixed secret key.
    pub fn for_tests(preset: Preset) -> Settings {
        let mut raw = RawSettings {
            preset: Some(preset.as_str().into()),
            database_url: Some("sqlite::memory:".into()),
            secret_key: Some("test-secret-key-test-secret-key-0123456789".into()),
            ..RawSettings::default()
        };
        raw.password_hasher.memory_kib = Some(64);
        raw.password_hasher.iterations = Some(1);
        if preset == Preset::CrossOrigin {
            raw.allowed_origins = vec!["http://localhost:5173".into()];
        }
        raw.validate().expect("test settings are valid")
    }
}

/// A setting that failed validation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid setting `{key}`: {message}")]
pub struct SettingsError {
    /// Dotted setting name.
    pub key: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl SettingsError {
    /// An error for `key`.
    pub fn invalid(key: &str, message: impl Into<String>) -> Self {
        Self { key: key.into(), message: message.into() }
    }
}

/// The settings tree as read, before validation. Every field is optional; a
/// missing field takes the default documented in [`SETTINGS`].
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawSettings {
    /// See [`Settings::preset`].
    pub preset: Option<String>,
    /// See [`Settings::public_url`].
    pub public_url: Option<String>,
    /// See [`Settings::database_url`].
    pub database_url: Option<String>,
    /// See [`Settings::session_store_url`].
    pub session_store_url: Option<String>,
    /// See [`Settings::session_store_prefix`].
    pub session_store_prefix: Option<String>,
    /// See [`Settings::secret_key`].
    pub secret_key: Option<String>,
    /// See [`Settings::secret_key_fallbacks`].
    pub secret_key_fallbacks: Vec<String>,
    /// See [`Settings::allowed_hosts`].
    pub allowed_hosts: Option<Vec<String>>,
    /// See [`Settings::allowed_origins`].
    pub allowed_origins: Vec<String>,
    /// See [`Settings::trusted_proxies`].
    pub trusted_proxies: Vec<String>,
    /// `[session]`.
    pub session: RawSession,
    /// `[csrf]`.
    pub csrf: RawCsrf,
    /// `[password_hasher]`.
    pub password_hasher: RawHasher,
    /// `[limits]`.
    pub limits: RawLimits,
    /// `[throttle]`.
    pub throttle: RawThrottle,
    /// `[audit]`.
    pub audit: RawAudit,
    /// `[password]`.
    pub password: RawPasswordPolicy,
    /// `[security]`.
    pub security: RawSecurity,
    /// `[cache]`.
    pub cache: RawCache,
    /// `[auth]`.
    pub auth: RawAuth,
    /// `[email]`.
    pub email: RawEmail,
    /// `[accounts]`.
    pub accounts: RawAccounts,
    /// `[webauthn]`.
    pub webauthn: RawWebauthn,
    /// `[mfa]`.
    pub mfa: RawMfa,
    /// `[oidc]`.
    pub oidc: RawOidc,
}

/// `[auth]` as read.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawAuth {
    /// Seconds; see [`Settings::reauthentication_window`].
    pub reauthentication_window: Option<u64>,
}

/// `[audit]` as read.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawAudit {
    /// See [`Settings::audit_persist`].
    pub persist: Option<bool>,
    /// Seconds.
    pub flush_interval: Option<u64>,
}

/// The kind of value a setting takes (used to read environment variables).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Text.
    String,
    /// `true` / `false`.
    Bool,
    /// A non-negative integer.
    Integer,
    /// A decimal number.
    Float,
    /// A list; in the environment, comma-separated.
    List,
}

/// A setting's default as documented: the constant the code uses, with a
/// note for people, or words where the default depends on other settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DefaultValue {
    /// Words only (the default is computed, or "unset").
    Text(&'static str),
    /// Text value and note.
    Str(&'static str, &'static str),
    /// Integer value and note.
    Int(u64, &'static str),
    /// Boolean value and note.
    Bool(bool, &'static str),
    /// Number value and note.
    Float(f64, &'static str),
}

impl fmt::Display for DefaultValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (value, note) = match *self {
            DefaultValue::Text(t) => return f.write_str(t),
            DefaultValue::Str(v, n) => (v.to_owned(), n),
            DefaultValue::Int(v, n) => (v.to_string(), n),
            DefaultValue::Bool(v, n) => (v.to_string(), n),
            DefaultValue::Float(v, n) => (v.to_string(), n),
        };
        if note.is_empty() { f.write_str(&value) } else { write!(f, "{value} ({note})") }
    }
}

/// Documentation of one setting.
#[derive(Debug, Clone, Copy)]
pub struct SettingDoc {
    /// Dotted name, as in the TOML file.
    pub key: &'static str,
    /// Value kind.
    pub kind: Kind,
    /// Default.
    pub default: DefaultValue,
    /// What it does.
    pub doc: &'static str,
}

impl SettingDoc {
    /// The row of the table in `docs/configuration.md`.
    pub fn table_row(&self) -> String {
        let kind = match self.kind {
            Kind::String => "string",
            Kind::Bool => "bool",
            Kind::Integer => "integer",
            Kind::Float => "float",
            Kind::List => "list",
        };
        format!("| `{}` | {kind} | {} | {} |", self.key, self.default, self.doc)
    }
}

/// Every library setting, its kind, default and meaning (the server crate
/// lists its own keys beside these).
pub const SETTINGS: &[SettingDoc] = &[
    SettingDoc {
        key: "preset",
        kind: Kind::String,
        default: DefaultValue::Str(DEFAULT_PRESET.as_str(), ""),
        doc: "Deployment preset: embedded, same-origin, rest or cross-origin. Decides cookie flags, CORS and Basic auth.",
    },
    SettingDoc {
        key: "public_url",
        kind: Kind::String,
        default: DefaultValue::Text("unset"),
        doc: "The origin users see (e.g. https://app.example.com). Trusted for CSRF, added to allowed_hosts, and an https URL turns on Secure cookies.",
    },
    SettingDoc {
        key: "database_url",
        kind: Kind::String,
        default: DefaultValue::Str(DATABASE_URL, ""),
        doc: "Where users and sessions live. Flat env alias: LATCHKEY_DATABASE_URL.",
    },
    SettingDoc {
        key: "session_store_url",
        kind: Kind::String,
        default: DefaultValue::Text("unset (sessions live in the database)"),
        doc: "redis://host:6379/0 keeps sessions and throttle counters in Redis, shared by every instance. Flat env alias: LATCHKEY_SESSION_STORE_URL; flag --session-store.",
    },
    SettingDoc {
        key: "session_store_prefix",
        kind: Kind::String,
        default: DefaultValue::Str(SESSION_STORE_PREFIX, ""),
        doc: "Prefix of every Redis key, so several deployments can share one Redis.",
    },
    SettingDoc {
        key: "secret_key",
        kind: Kind::String,
        default: DefaultValue::Text("unset (generated by `migrate` and kept in the database)"),
        doc: "Key for HMACs such as the session auth hash. Flat env alias: LATCHKEY_SECRET_KEY.",
    },
    SettingDoc {
        key: "secret_key_fallbacks",
        kind: Kind::List,
        default: DefaultValue::Text("[]"),
        doc: "Previous secret keys, still accepted while rotating.",
    },
    SettingDoc {
        key: "allowed_hosts",
        kind: Kind::List,
        default: DefaultValue::Text("bind host, localhost, 127.0.0.1, [::1] and the public_url host"),
        doc: "Accepted Host header values; `.example.com` matches subdomains, `*` anything. Required when binding 0.0.0.0 or ::.",
    },
    SettingDoc {
        key: "allowed_origins",
        kind: Kind::List,
        default: DefaultValue::Text("[]"),
        doc: "Origins trusted by the CSRF Origin check in every preset; in cross-origin also the CORS allow-list (at least one required, no wildcards).",
    },
    SettingDoc {
        key: "trusted_proxies",
        kind: Kind::List,
        default: DefaultValue::Text("[]"),
        doc: "CIDRs of reverse proxies whose X-Forwarded-For/-Host/-Proto headers are believed.",
    },
    SettingDoc {
        key: "session.cookie.name",
        kind: Kind::String,
        default: DefaultValue::Str(session::SESSION_COOKIE_NAME, ""),
        doc: "Session cookie name.",
    },
    SettingDoc {
        key: "session.cookie.age",
        kind: Kind::Integer,
        default: DefaultValue::Int(session::SESSION_COOKIE_AGE, "two weeks"),
        doc: "Absolute session lifetime in seconds, enforced server-side whatever the activity; also the persistent cookie's Max-Age.",
    },
    SettingDoc {
        key: "session.cookie.host_prefix",
        kind: Kind::Bool,
        default: DefaultValue::Text("true when the cookie is Secure"),
        doc: "Name the cookie __Host-<name>: browsers then refuse it unless Secure, Path=/ and without Domain, so a sibling subdomain cannot plant one.",
    },
    SettingDoc {
        key: "session.idle_timeout",
        kind: Kind::Integer,
        default: DefaultValue::Int(session::SESSION_IDLE_TIMEOUT, "off: the tutorial's two-week cookie"),
        doc: "Idle limit in seconds for remembered sessions (login without \"remember\": false).",
    },
    SettingDoc {
        key: "session.browser_session_idle_timeout",
        kind: Kind::Integer,
        default: DefaultValue::Int(session::BROWSER_SESSION_IDLE_TIMEOUT, "30 minutes"),
        doc: "Idle limit in seconds for sessions logged in with \"remember\": false, whose cookie also ends with the browser session.",
    },
    SettingDoc {
        key: "session.touch_interval",
        kind: Kind::Integer,
        default: DefaultValue::Int(session::TOUCH_INTERVAL, ""),
        doc: "last_seen is written at most this often (seconds); idle limits are enforced to this precision.",
    },
    SettingDoc {
        key: "session.cookie.domain",
        kind: Kind::String,
        default: DefaultValue::Text("unset (host-only)"),
        doc: "Session cookie Domain attribute.",
    },
    SettingDoc {
        key: "session.cookie.path",
        kind: Kind::String,
        default: DefaultValue::Str(cookie::COOKIE_PATH, ""),
        doc: "Session cookie Path attribute.",
    },
    SettingDoc {
        key: "session.cookie.secure",
        kind: Kind::Bool,
        default: DefaultValue::Text("true when public_url is https"),
        doc: "Session cookie Secure attribute.",
    },
    SettingDoc {
        key: "session.cookie.httponly",
        kind: Kind::Bool,
        default: DefaultValue::Bool(session::SESSION_COOKIE_HTTPONLY, ""),
        doc: "Session cookie HttpOnly attribute.",
    },
    SettingDoc {
        key: "session.cookie.samesite",
        kind: Kind::String,
        default: DefaultValue::Text("Strict; Lax in cross-origin"),
        doc: "Session cookie SameSite attribute (None requires secure).",
    },
    SettingDoc {
        key: "csrf.cookie.name",
        kind: Kind::String,
        default: DefaultValue::Str(session::CSRF_COOKIE_NAME, ""),
        doc: "CSRF cookie name.",
    },
    SettingDoc {
        key: "csrf.cookie.age",
        kind: Kind::Integer,
        default: DefaultValue::Int(session::CSRF_COOKIE_AGE, "one year"),
        doc: "CSRF cookie Max-Age in seconds; 0 makes a browser-session cookie.",
    },
    SettingDoc {
        key: "csrf.cookie.domain",
        kind: Kind::String,
        default: DefaultValue::Text("unset (host-only)"),
        doc: "CSRF cookie Domain attribute.",
    },
    SettingDoc {
        key: "csrf.cookie.path",
        kind: Kind::String,
        default: DefaultValue::Str(cookie::COOKIE_PATH, ""),
        doc: "CSRF cookie Path attribute.",
    },
    SettingDoc {
        key: "csrf.cookie.secure",
        kind: Kind::Bool,
        default: DefaultValue::Text("true when public_url is https"),
        doc: "CSRF cookie Secure attribute.",
    },
    SettingDoc {
        key: "csrf.cookie.httponly",
        kind: Kind::Bool,
        default: DefaultValue::Text("false in embedded (the SPA reads it), true otherwise"),
        doc: "CSRF cookie HttpOnly attribute.",
    },
    SettingDoc {
        key: "csrf.cookie.samesite",
        kind: Kind::String,
        default: DefaultValue::Text("Strict; Lax in cross-origin"),
        doc: "CSRF cookie SameSite attribute.",
    },
    SettingDoc {
        key: "csrf.cookie.host_prefix",
        kind: Kind::Bool,
        default: DefaultValue::Text("true when the cookie is Secure and HttpOnly"),
        doc: "Name the cookie __Host-<name>. Off by default where the SPA reads the cookie by name (embedded).",
    },
    SettingDoc {
        key: "password_hasher.memory_kib",
        kind: Kind::Integer,
        default: DefaultValue::Int(password::HASHER_MEMORY_KIB as u64, "19 MiB, OWASP"),
        doc: "Argon2id memory cost per hash, KiB.",
    },
    SettingDoc {
        key: "password_hasher.iterations",
        kind: Kind::Integer,
        default: DefaultValue::Int(password::HASHER_ITERATIONS as u64, "OWASP"),
        doc: "Argon2id passes.",
    },
    SettingDoc {
        key: "password_hasher.parallelism",
        kind: Kind::Integer,
        default: DefaultValue::Int(password::HASHER_PARALLELISM as u64, "OWASP"),
        doc: "Argon2id lanes.",
    },
    SettingDoc {
        key: "password_hasher.max_concurrent",
        kind: Kind::Integer,
        default: DefaultValue::Int(password::HASHER_MAX_CONCURRENT as u64, "= number of CPUs"),
        doc: "Hashes that may run at once on the blocking pool.",
    },
    SettingDoc {
        key: "password_hasher.max_queue",
        kind: Kind::Integer,
        default: DefaultValue::Int(password::HASHER_MAX_QUEUE as u64, ""),
        doc: "Requests that may wait for a hashing slot; beyond this the server answers 503 with Retry-After.",
    },
    SettingDoc {
        key: "limits.max_body_bytes",
        kind: Kind::Integer,
        default: DefaultValue::Int(limits::MAX_BODY_BYTES as u64, ""),
        doc: "Largest request body accepted on /api/ (larger: 413).",
    },
    SettingDoc {
        key: "throttle.enabled",
        kind: Kind::Bool,
        default: DefaultValue::Bool(throttle::THROTTLE_ENABLED, ""),
        doc: "Throttle failed logins (and HTTP Basic attempts); see docs/security.md for the policy.",
    },
    SettingDoc {
        key: "throttle.window",
        kind: Kind::Integer,
        default: DefaultValue::Int(throttle::THROTTLE_WINDOW, "15 minutes"),
        doc: "Length of the counting window, seconds.",
    },
    SettingDoc {
        key: "throttle.per_pair",
        kind: Kind::Integer,
        default: DefaultValue::Int(throttle::THROTTLE_PER_PAIR as u64, ""),
        doc: "Attempts per account and client address (IPv6: /64) per window; then 429 until the window ends.",
    },
    SettingDoc {
        key: "throttle.per_ip",
        kind: Kind::Integer,
        default: DefaultValue::Int(throttle::THROTTLE_PER_IP as u64, ""),
        doc: "Attempts per client address per window, all accounts together; then 429 until the window ends.",
    },
    SettingDoc {
        key: "throttle.per_account",
        kind: Kind::Integer,
        default: DefaultValue::Int(throttle::THROTTLE_PER_ACCOUNT as u64, ""),
        doc: "Attempts per account per window from all addresses before a back-off of 1, 2, 4 … seconds applies.",
    },
    SettingDoc {
        key: "throttle.max_backoff",
        kind: Kind::Integer,
        default: DefaultValue::Int(throttle::THROTTLE_MAX_BACKOFF, ""),
        doc: "Cap of that back-off, seconds: the longest a distributed attack can make the account owner wait at a time in a browser that has not signed in before.",
    },
    SettingDoc {
        key: "throttle.device_cookie_age",
        kind: Kind::Integer,
        default: DefaultValue::Int(throttle::THROTTLE_DEVICE_COOKIE_AGE, "one year"),
        doc: "Lifetime in seconds of the device cookie a successful login sets (latchkey_device: signed, HttpOnly, kept across logout). A login that presents a valid device cookie for its account is exempt from the per-account back-off and the per-client limit; 0 turns device cookies off.",
    },
    SettingDoc {
        key: "throttle.device_max_failures",
        kind: Kind::Integer,
        default: DefaultValue::Int(throttle::THROTTLE_DEVICE_MAX_FAILURES as u64, ""),
        doc: "Failed logins one device cookie may make per window before it is locked out and never trusted again.",
    },
    SettingDoc {
        key: "password.min_length",
        kind: Kind::Integer,
        default: DefaultValue::Int(password::PASSWORD_MIN_LENGTH, ""),
        doc: "Passwords shorter than this many characters are refused wherever a password is set.",
    },
    SettingDoc {
        key: "password.refuse_common",
        kind: Kind::Bool,
        default: DefaultValue::Bool(password::PASSWORD_REFUSE_COMMON, ""),
        doc: "Refuse the 19,640 most common passwords (Django's list).",
    },
    SettingDoc {
        key: "password.refuse_numeric",
        kind: Kind::Bool,
        default: DefaultValue::Bool(password::PASSWORD_REFUSE_NUMERIC, ""),
        doc: "Refuse passwords made only of digits.",
    },
    SettingDoc {
        key: "password.max_similarity",
        kind: Kind::Float,
        default: DefaultValue::Float(password::PASSWORD_MAX_SIMILARITY, ""),
        doc: "Refuse passwords this similar (0–1) to the username or email, as Django's UserAttributeSimilarityValidator; 0 turns it off.",
    },
    SettingDoc {
        key: "audit.persist",
        kind: Kind::Bool,
        default: DefaultValue::Bool(AUDIT_PERSIST, ""),
        doc: "Keep audit events (logins, failures, throttling, CSRF rejections, logouts, password changes, revocations) in the database for `latchkey events`; they always go to the log target latchkey::audit.",
    },
    SettingDoc {
        key: "audit.flush_interval",
        kind: Kind::Integer,
        default: DefaultValue::Int(AUDIT_FLUSH_INTERVAL, ""),
        doc: "Seconds between writes of aggregated audit events: unauthenticated rejections (CSRF failures, throttled logins, refused cross-site logouts) are counted in memory per kind and client address and written as one row with a count this often and at shutdown, so nobody can grow the database by sending requests.",
    },
    SettingDoc {
        key: "auth.reauthentication_window",
        kind: Kind::Integer,
        default: DefaultValue::Int(AUTH_REAUTHENTICATION_WINDOW, "five minutes"),
        doc: "Seconds after the password was last entered in a session (login or POST /api/reauthenticate/) during which its sensitive actions — ending another session, signing out everywhere else — are allowed; later they answer 403 reauthentication_required until the user enters the password again.",
    },
    SettingDoc {
        key: "email.backend",
        kind: Kind::String,
        default: DefaultValue::Str(email::EMAIL_BACKEND, ""),
        doc: "Where mail goes: console (printed, for development), file (one .eml per message in email.file_dir) or smtp (email.smtp_url). Mail waits in the outbox table until delivered, so an outage delays it and loses none.",
    },
    SettingDoc {
        key: "email.file_dir",
        kind: Kind::String,
        default: DefaultValue::Str(email::EMAIL_FILE_DIR, "relative to the working directory"),
        doc: "Folder of the file backend.",
    },
    SettingDoc {
        key: "email.smtp_url",
        kind: Kind::String,
        default: DefaultValue::Str(email::EMAIL_SMTP_URL, ""),
        doc: "smtp://host:port uses STARTTLS when the server offers it and sends credentials only over TLS; smtp://host:port?tls=required refuses a server without STARTTLS; smtps://host:port is TLS from the first byte (port 465 by default).",
    },
    SettingDoc {
        key: "email.smtp_username",
        kind: Kind::String,
        default: DefaultValue::Text("unset"),
        doc: "SMTP login, sent only over TLS.",
    },
    SettingDoc {
        key: "email.smtp_password",
        kind: Kind::String,
        default: DefaultValue::Text("unset"),
        doc: "SMTP password; a secret, never printed (prefer LATCHKEY_EMAIL__SMTP_PASSWORD).",
    },
    SettingDoc {
        key: "email.from",
        kind: Kind::String,
        default: DefaultValue::Str(email::EMAIL_FROM, ""),
        doc: "The From header of every mail.",
    },
    SettingDoc {
        key: "email.timeout",
        kind: Kind::Integer,
        default: DefaultValue::Int(email::EMAIL_TIMEOUT, ""),
        doc: "Seconds an SMTP connection or command may take before the attempt fails (and is retried).",
    },
    SettingDoc {
        key: "email.retry_delay",
        kind: Kind::Integer,
        default: DefaultValue::Int(email::EMAIL_RETRY_DELAY, ""),
        doc: "Seconds before the first retry of a failed delivery; doubled at each attempt, at most an hour.",
    },
    SettingDoc {
        key: "email.max_attempts",
        kind: Kind::Integer,
        default: DefaultValue::Int(email::EMAIL_MAX_ATTEMPTS, ""),
        doc: "Delivery attempts before a message is marked failed; `latchkey outbox --retry` sends it again.",
    },
    SettingDoc {
        key: "accounts.signup",
        kind: Kind::String,
        default: DefaultValue::Str(email::ACCOUNTS_SIGNUP, "as the tutorial: accounts come from the CLI"),
        doc: "closed: POST /api/signup/ answers 404; open: anyone may create an account there.",
    },
    SettingDoc {
        key: "accounts.email_verification",
        kind: Kind::String,
        default: DefaultValue::Str(email::ACCOUNTS_EMAIL_VERIFICATION, ""),
        doc: "none: no verification mail; optional: a verification mail is sent, unverified users may sign in; mandatory: a correct password for an unverified address answers 403 email_unverified (and mails a new link). Addresses set by an operator, and users without one, are exempt.",
    },
    SettingDoc {
        key: "accounts.verify_email_path",
        kind: Kind::String,
        default: DefaultValue::Str(email::ACCOUNTS_VERIFY_EMAIL_PATH, ""),
        doc: "The SPA's page that confirms an address; the mailed link is frontend_url + this path + ?key=….",
    },
    SettingDoc {
        key: "accounts.email_verification_ttl",
        kind: Kind::Integer,
        default: DefaultValue::Int(email::ACCOUNTS_EMAIL_VERIFICATION_TTL, "three days"),
        doc: "Seconds a verification link works (once).",
    },
    SettingDoc {
        key: "accounts.frontend_url",
        kind: Kind::String,
        default: DefaultValue::Text("public_url; in cross-origin, else the first allowed origin; else http://<bind>"),
        doc: "Where the SPA lives: links in mails start here. They are never built from the request's Host or Origin, which an attacker chooses (reset-link poisoning).",
    },
    SettingDoc {
        key: "accounts.reset_password_path",
        kind: Kind::String,
        default: DefaultValue::Str(email::ACCOUNTS_RESET_PASSWORD_PATH, ""),
        doc: "The SPA's page for choosing a new password; the mailed link is frontend_url + this path + ?key=….",
    },
    SettingDoc {
        key: "accounts.password_reset_ttl",
        kind: Kind::Integer,
        default: DefaultValue::Int(email::ACCOUNTS_PASSWORD_RESET_TTL, "one hour"),
        doc: "Seconds a password-reset link works (once, and only until the password or address changes or the user signs in).",
    },
    SettingDoc {
        key: "accounts.password_reset_per_address",
        kind: Kind::Integer,
        default: DefaultValue::Int(email::ACCOUNTS_PASSWORD_RESET_PER_ADDRESS, ""),
        doc: "Password-reset requests per address per hour, whether or not an account uses it; then 429 throttled.",
    },
    SettingDoc {
        key: "accounts.password_reset_per_client",
        kind: Kind::Integer,
        default: DefaultValue::Int(email::ACCOUNTS_PASSWORD_RESET_PER_CLIENT, ""),
        doc: "Password-reset requests per client address (IPv6 by /64) per hour; then 429 throttled.",
    },
    SettingDoc {
        key: "webauthn.rp_id",
        kind: Kind::String,
        default: DefaultValue::Text("the host of public_url; else localhost"),
        doc: "The domain passkeys are bound to; it cannot change later without every passkey being registered again. Never an IP address. Pages on public_url and on the allowed_origins at or below this domain may use passkeys (without public_url, any port of localhost).",
    },
    SettingDoc {
        key: "webauthn.rp_name",
        kind: Kind::String,
        default: DefaultValue::Str(WEBAUTHN_RP_NAME, ""),
        doc: "The site's name as authenticators show it.",
    },
    SettingDoc {
        key: "mfa.required_for_staff",
        kind: Kind::Bool,
        default: DefaultValue::Bool(MFA_REQUIRED_FOR_STAFF, "as Django"),
        doc: "Staff without a second factor are sent to set one up: until they have, every other route (the admin's too) answers 403 mfa_setup_required.",
    },
    SettingDoc {
        key: "oidc.providers",
        kind: Kind::List,
        default: DefaultValue::Text("none"),
        doc: "OpenID Connect providers, as [[oidc.providers]] tables in the TOML file (not from the environment): id, name, issuer, client_id, client_secret or client_secret_file (a file holding it), scopes (default openid email profile), auto_signup (default: follows accounts.signup), link_by_verified_email (default false). Needs public_url. See docs/oidc.md.",
    },
    SettingDoc {
        key: "limits.request_timeout",
        kind: Kind::Integer,
        default: DefaultValue::Int(limits::REQUEST_TIMEOUT, ""),
        doc: "Seconds a request may take from its first byte to the answer (slow bodies included); then 408.",
    },
    SettingDoc {
        key: "security.hsts_seconds",
        kind: Kind::Integer,
        default: DefaultValue::Int(limits::HSTS_SECONDS, "one year"),
        doc: "Strict-Transport-Security max-age, sent when public_url is https; 0 sends none.",
    },
    SettingDoc {
        key: "security.hsts_include_subdomains",
        kind: Kind::Bool,
        default: DefaultValue::Bool(limits::HSTS_INCLUDE_SUBDOMAINS, ""),
        doc: "Add includeSubDomains to Strict-Transport-Security.",
    },
    SettingDoc {
        key: "cache.enabled",
        kind: Kind::Bool,
        default: DefaultValue::Bool(cache::CACHE_ENABLED, ""),
        doc: "Serve authenticated requests from an in-process read-through cache of sessions and users. Every logout, revocation, password change and deactivation is published to all instances (SQLite: an events table; PostgreSQL: LISTEN/NOTIFY; Redis: pub/sub) and waits cache.sync_interval_ms × 2, after which no instance can still serve the old entry; an instance whose channel is lost empties its cache and reads the store until it is back.",
    },
    SettingDoc {
        key: "cache.max_entries",
        kind: Kind::Integer,
        default: DefaultValue::Int(cache::CACHE_MAX_ENTRIES as u64, ""),
        doc: "Sessions (and, separately, users) the cache holds at most; when full it is emptied and refills.",
    },
    SettingDoc {
        key: "cache.ttl",
        kind: Kind::Integer,
        default: DefaultValue::Int(cache::CACHE_TTL, ""),
        doc: "Seconds a cached entry is served before it is read again from the store, whatever happens (a backstop; invalidation does the real work).",
    },
    SettingDoc {
        key: "cache.sync_interval_ms",
        kind: Kind::Integer,
        default: DefaultValue::Int(cache::CACHE_SYNC_INTERVAL_MS, ""),
        doc: "How often each instance confirms its invalidation channel. A cache not confirmed within twice this is not used; revoking writes wait twice this before they return.",
    },
];

impl RawSettings {
    /// Validates into typed settings, filling preset-dependent defaults.
    ///
    /// # Errors
    /// The first invalid setting, with a message that says how to fix it.
    pub fn validate(self) -> Result<Settings, SettingsError> {
        self.validate_serving_on(None)
    }

    /// As [`RawSettings::validate`], for a server listening on `listen`:
    /// its host joins the default `allowed_hosts`, and listening on every
    /// interface requires an explicit `allowed_hosts`.
    ///
    /// # Errors
    /// The first invalid setting, with a message that says how to fix it.
    pub fn validate_serving_on(self, listen: Option<SocketAddr>) -> Result<Settings, SettingsError> {
        let preset: Preset = match self.preset.as_deref() {
            Some(p) => p.parse()?,
            None => DEFAULT_PRESET,
        };
        let public_url = match &self.public_url {
            Some(s) if !s.is_empty() => {
                Some(Origin::parse(s).map_err(|e: OriginError| SettingsError::invalid("public_url", e.to_string()))?)
            }
            _ => None,
        };
        let database_url = self.database_url.clone().unwrap_or_else(|| DATABASE_URL.into());
        if !(database_url.starts_with("sqlite:")
            || database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://"))
        {
            return Err(SettingsError::invalid(
                "database_url",
                format!("{:?} is not supported; use sqlite://FILE or postgres://…", redact_url(&database_url)),
            ));
        }
        let session_store_url = match self.session_store_url.filter(|u| !u.is_empty()) {
            Some(u) if u.starts_with("redis://") || u.starts_with("rediss://") => Some(u),
            Some(u) => {
                return Err(SettingsError::invalid(
                    "session_store_url",
                    format!("{:?} is not supported; use redis://host:port/db", redact_url(&u)),
                ));
            }
            None => None,
        };
        let session_store_prefix = self.session_store_prefix.unwrap_or_else(|| SESSION_STORE_PREFIX.into());
        let secret_key = match self.secret_key {
            Some(k) if k.is_empty() => {
                return Err(SettingsError::invalid(
                    "secret_key",
                    "must not be empty; unset it to use the key `migrate` stores",
                ));
            }
            Some(k) => Some(SecretString::from(k)),
            None => None,
        };
        let secret_key_fallbacks =
            self.secret_key_fallbacks.into_iter().filter(|k| !k.is_empty()).map(SecretString::from).collect();
        let allowed_origins = allowed_origins(&self.allowed_origins, preset)?;
        let allowed_hosts = allowed_hosts(self.allowed_hosts.clone(), listen, public_url.as_ref())?;
        // Links in mails: the configured origin users see, never the request's Host.
        let frontend_fallback = match (&public_url, preset, allowed_origins.first(), listen) {
            (Some(u), ..) => u.clone(),
            (None, Preset::CrossOrigin, Some(o), _) => o.clone(),
            (None, _, _, Some(bind)) => Origin::parse(&format!("http://{bind}")).unwrap_or_else(|_| localhost()),
            _ => localhost(),
        };
        let accounts = self.accounts.validate(frontend_fallback)?;
        let webauthn = self.webauthn.validate(public_url.as_ref(), &allowed_origins)?;
        let oidc_providers = self.oidc.validate(public_url.as_ref())?;
        let email = self.email.validate()?;
        let mut trusted_proxies = Vec::new();
        for p in &self.trusted_proxies {
            let net = p.parse::<IpNet>().or_else(|_| p.parse::<std::net::IpAddr>().map(IpNet::from)).map_err(|_| {
                SettingsError::invalid("trusted_proxies", format!("{p:?} is not an IP address or CIDR"))
            })?;
            trusted_proxies.push(net);
        }
        let secure_default = public_url.as_ref().is_some_and(Origin::is_secure);
        let (session, csrf) = session::validate(&self.session, &self.csrf, preset, secure_default)?;
        let (max_body_bytes, request_timeout) = self.limits.validate()?;
        let throttle = self.throttle.validate()?;
        let device_cookie = cookie::device_cookie(&session.cookie, throttle.device_cookie_age);
        Ok(Settings {
            preset,
            public_url,
            database_url,
            session_store_url,
            session_store_prefix,
            secret_key,
            secret_key_fallbacks,
            allowed_hosts,
            allowed_origins,
            trusted_proxies,
            session,
            csrf,
            password_hasher: self.password_hasher.validate()?,
            max_body_bytes,
            request_timeout,
            hsts_seconds: self.security.hsts_seconds.unwrap_or(HSTS_SECONDS),
            hsts_include_subdomains: self.security.hsts_include_subdomains.unwrap_or(HSTS_INCLUDE_SUBDOMAINS),
            throttle,
            device_cookie,
            audit_persist: self.audit.persist.unwrap_or(AUDIT_PERSIST),
            audit_flush_interval: Duration::from_secs(self.audit.flush_interval.unwrap_or(AUDIT_FLUSH_INTERVAL).max(1)),
            cache: self.cache.validate()?,
            password_policy: self.password.validate()?,
            email,
            accounts,
            webauthn,
            mfa_required_for_staff: self.mfa.required_for_staff.unwrap_or(MFA_REQUIRED_FOR_STAFF),
            oidc_providers,
            reauthentication_window: match self.auth.reauthentication_window.unwrap_or(AUTH_REAUTHENTICATION_WINDOW) {
                0 => {
                    return Err(SettingsError::invalid(
                        "auth.reauthentication_window",
                        "must be at least 1 second: with 0 no sensitive action could ever succeed",
                    ));
                }
                n => Duration::from_secs(n),
            },
        })
    }
}

fn localhost() -> Origin {
    Origin::parse("http://localhost").expect("a valid origin")
}

fn allowed_origins(raw: &[String], preset: Preset) -> Result<Vec<Origin>, SettingsError> {
    let mut allowed_origins = Vec::new();
    for o in raw {
        if o.trim() == "*" {
            return Err(SettingsError::invalid(
                "allowed_origins",
                "\"*\" cannot be used: credentials (cookies) must never be shared with every origin; list each origin",
            ));
        }
        let origin = Origin::parse(o.trim()).map_err(|e| SettingsError::invalid("allowed_origins", e.to_string()))?;
        if preset == Preset::CrossOrigin && (origin.is_wildcard() || o.contains('*')) {
            return Err(SettingsError::invalid(
                "allowed_origins",
                format!("{o:?}: wildcard origins cannot be combined with CORS credentials; list each origin"),
            ));
        }
        allowed_origins.push(origin);
    }
    if preset == Preset::CrossOrigin && allowed_origins.is_empty() {
        return Err(SettingsError::invalid(
            "allowed_origins",
            "the cross-origin preset needs at least one origin (e.g. --allowed-origin http://localhost:5173)",
        ));
    }
    Ok(allowed_origins)
}

fn allowed_hosts(
    raw: Option<Vec<String>>,
    listen: Option<SocketAddr>,
    public_url: Option<&Origin>,
) -> Result<Vec<String>, SettingsError> {
    if let Some(list) = raw
        && !list.is_empty()
    {
        return Ok(list.into_iter().map(|h| h.trim().to_ascii_lowercase()).collect());
    }
    if let Some(bind) = listen
        && bind.ip().is_unspecified()
    {
        return Err(SettingsError::invalid(
            "allowed_hosts",
            format!(
                "binding {bind} accepts connections from anywhere; list the host names clients use with --allowed-host"
            ),
        ));
    }
    let mut hosts = vec!["localhost".to_owned(), "127.0.0.1".to_owned(), "[::1]".to_owned()];
    if let Some(bind) = listen {
        let bind_host = match bind.ip() {
            std::net::IpAddr::V6(ip) => format!("[{ip}]"),
            ip => ip.to_string(),
        };
        if !hosts.contains(&bind_host) {
            hosts.push(bind_host);
        }
    }
    if let Some(p) = public_url
        && !hosts.iter().any(|h| h == p.host())
    {
        hosts.push(p.host().to_owned());
    }
    Ok(hosts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(preset: &str) -> RawSettings {
        RawSettings { preset: Some(preset.into()), ..Default::default() }
    }

    #[test]
    fn presets_set_the_tutorials_cookie_flags() {
        let e = raw("embedded").validate().unwrap();
        assert_eq!((e.csrf.cookie.http_only, e.csrf.cookie.same_site), (false, SameSite::Strict));
        assert_eq!((e.session.cookie.http_only, e.session.cookie.same_site), (true, SameSite::Strict));
        for p in ["same-origin", "rest"] {
            let s = raw(p).validate().unwrap();
            assert!(s.csrf.cookie.http_only && s.session.cookie.http_only);
            assert_eq!(s.csrf.cookie.same_site, SameSite::Strict);
        }
        let mut c = raw("cross-origin");
        c.allowed_origins = vec!["http://localhost:5173".into()];
        let c = c.validate().unwrap();
        assert!(c.csrf.cookie.http_only && c.session.cookie.http_only);
        assert_eq!((c.csrf.cookie.same_site, c.session.cookie.same_site), (SameSite::Lax, SameSite::Lax));
    }

    #[test]
    fn defaults_follow_django() {
        let s = RawSettings::default().validate().unwrap();
        assert_eq!(s.preset, Preset::Embedded);
        assert_eq!(s.session.cookie.name, "sessionid");
        assert_eq!(s.session.age, Duration::from_secs(14 * 24 * 3600));
        assert_eq!(s.csrf.cookie.name, "csrftoken");
        assert_eq!(s.database_url, "sqlite://latchkey.sqlite3");
        assert!(!s.session.cookie.secure);
        assert_eq!(s.allowed_hosts, vec!["localhost", "127.0.0.1", "[::1]"]);
    }

    #[test]
    fn an_https_public_url_turns_on_secure_cookies_and_is_an_allowed_host() {
        let mut r = raw("same-origin");
        r.public_url = Some("https://app.example.com".into());
        let s = r.validate().unwrap();
        assert!(s.session.cookie.secure && s.csrf.cookie.secure);
        assert!(s.allowed_hosts.contains(&"app.example.com".to_string()));
    }

    #[test]
    fn cross_origin_requires_an_explicit_origin_list_without_wildcards() {
        let err = raw("cross-origin").validate().unwrap_err();
        assert_eq!(err.key, "allowed_origins");
        for bad in ["*", "https://*.example.com"] {
            let mut r = raw("cross-origin");
            r.allowed_origins = vec![bad.into()];
            let err = r.validate().unwrap_err();
            assert!(err.message.contains("credentials"), "{err}");
        }
        let mut r = raw("same-origin");
        r.allowed_origins = vec!["https://*.example.com".into()];
        assert!(r.validate().is_ok(), "wildcards are fine for CSRF trust alone");
    }

    #[test]
    fn secure_cookies_get_the_host_prefix_except_a_csrf_cookie_the_spa_reads() {
        for (preset, csrf_name) in [("same-origin", "__Host-csrftoken"), ("embedded", "csrftoken")] {
            let mut r = raw(preset);
            r.public_url = Some("https://app.example.com".into());
            let s = r.validate().unwrap();
            assert_eq!(s.session.cookie.name, "__Host-sessionid");
            assert_eq!(s.csrf.cookie.name, csrf_name, "{preset}");
        }
        assert_eq!(raw("same-origin").validate().unwrap().session.cookie.name, "sessionid", "plain http: no prefix");
        let mut r = raw("same-origin");
        r.session.cookie.host_prefix = Some(true);
        assert_eq!(r.validate().unwrap_err().key, "session.cookie.host_prefix");
        let mut r = raw("same-origin");
        r.public_url = Some("https://app.example.com".into());
        r.session.cookie.host_prefix = Some(false);
        assert_eq!(r.validate().unwrap().session.cookie.name, "sessionid");
    }

    #[test]
    fn samesite_none_without_secure_is_rejected() {
        let mut r = raw("same-origin");
        r.session.cookie.samesite = Some("None".into());
        assert!(r.clone().validate().unwrap_err().message.contains("Secure"));
        r.session.cookie.secure = Some(true);
        assert!(r.validate().is_ok());
    }

    #[test]
    fn binding_every_interface_requires_allowed_hosts() {
        let mut r = raw("same-origin");
        let any: SocketAddr = "0.0.0.0:8000".parse().unwrap();
        assert_eq!(r.clone().validate_serving_on(Some(any)).unwrap_err().key, "allowed_hosts");
        r.allowed_hosts = Some(vec!["app.example.com".into()]);
        assert!(r.validate_serving_on(Some(any)).is_ok());
    }

    #[test]
    fn bad_values_name_the_setting() {
        let mut r = raw("nope");
        assert_eq!(r.clone().validate().unwrap_err().key, "preset");
        r.preset = None;
        r.trusted_proxies = vec!["10.0.0.0/33".into()];
        assert_eq!(r.clone().validate().unwrap_err().key, "trusted_proxies");
        r.trusted_proxies = vec!["10.0.0.1".into(), "192.168.0.0/16".into()];
        assert!(r.clone().validate().is_ok());
        r.cache.sync_interval_ms = Some(1);
        assert_eq!(r.clone().validate().unwrap_err().key, "cache.sync_interval_ms");
        r.cache.sync_interval_ms = None;
        r.cache.max_entries = Some(0);
        assert_eq!(r.clone().validate().unwrap_err().key, "cache.max_entries");
    }

    #[test]
    fn the_cache_is_on_by_default_with_a_100_ms_revocation_bound() {
        let s = raw("same-origin").validate().unwrap();
        assert!(s.cache.enabled);
        assert_eq!(s.cache.sync_interval * 2, std::time::Duration::from_millis(100));
    }

    #[test]
    fn debug_output_never_shows_secrets() {
        let mut r = raw("same-origin");
        r.secret_key = Some("super-secret-value-1234567890".into());
        r.database_url = Some("postgres://user:hunter2@db/x".into());
        let s = format!("{:?}", r.validate().unwrap());
        assert!(!s.contains("super-secret-value"));
        assert!(!s.contains("hunter2"));
    }

    #[test]
    fn documented_defaults_render_as_the_docs_table_shows_them() {
        let row = |k: &str| SETTINGS.iter().find(|s| s.key == k).unwrap().default.to_string();
        assert_eq!(row("session.cookie.age"), "1209600 (two weeks)");
        assert_eq!(row("password.max_similarity"), "0.7");
        assert_eq!(row("preset"), "embedded");
        assert_eq!(row("throttle.enabled"), "true");
    }

    #[test]
    fn the_default_policies_are_the_validated_empty_sections() {
        let s = RawSettings::default().validate().unwrap();
        assert_eq!(s.throttle, ThrottlePolicy::default());
        assert_eq!(s.cache, CacheSettings::default());
        assert_eq!(s.password_policy, PasswordPolicy::default());
        assert_eq!(s.throttle.max_backoff, time::Duration::seconds(60));
    }

    #[test]
    fn every_raw_field_is_documented() {
        let keys: Vec<_> = SETTINGS.iter().map(|s| s.key).collect();
        for k in [
            "preset",
            "session.cookie.samesite",
            "csrf.cookie.httponly",
            "password_hasher.max_queue",
            "limits.max_body_bytes",
        ] {
            assert!(keys.contains(&k), "{k}");
        }
    }
}
