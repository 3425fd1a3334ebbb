//! Latchkey's settings: one tree whose names mirror Django's, read from any
//! serde source into [`RawSettings`] and validated into typed [`Settings`] at
//! load time, so a bad value is reported before the server starts.
//!
//! Every setting and its default is listed in [`SETTINGS`], which the server
//! uses to read environment variables and which `docs/configuration.md` is
//! checked against.

use std::{fmt, net::SocketAddr, str::FromStr, time::Duration};

use ipnet::IpNet;
use secrecy::SecretString;
use serde::Deserialize;

use crate::origin::{Origin, OriginError};

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
    pub fn as_str(self) -> &'static str {
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
        match s {
            "embedded" => Ok(Preset::Embedded),
            "same-origin" => Ok(Preset::SameOrigin),
            "rest" => Ok(Preset::Rest),
            "cross-origin" => Ok(Preset::CrossOrigin),
            other => Err(SettingsError::invalid(
                "preset",
                format!("{other:?} is not a preset; use embedded, same-origin, rest or cross-origin"),
            )),
        }
    }
}

impl fmt::Display for Preset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

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

/// Argon2id parameters and the bounds of the hashing pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HasherSettings {
    /// Memory per hash, in KiB.
    pub memory_kib: u32,
    /// Number of passes.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
    /// Hashes that may run at once.
    pub max_concurrent: usize,
    /// Hash requests that may wait for a slot; beyond this, 503.
    pub max_queue: usize,
}

/// How the embedded preset serves the SPA.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpaSettings {
    /// Serve this build folder from disk instead of the SPA embedded in the binary.
    pub dir: Option<std::path::PathBuf>,
    /// `Content-Security-Policy` for SPA pages; `None` picks the default for
    /// the source (strict for the embedded SPA, CDN-friendly for `dir`),
    /// `Some("")` sends none.
    pub csp: Option<String>,
}

/// The validated settings tree.
#[derive(Clone)]
pub struct Settings {
    /// Deployment preset.
    pub preset: Preset,
    /// Listen address.
    pub bind: SocketAddr,
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
    /// A client must finish sending its request headers within this.
    pub header_read_timeout: Duration,
    /// Open connections at most; further ones are closed at once.
    pub max_connections: usize,
    /// `Strict-Transport-Security` max-age when the public URL is https; 0: no header.
    pub hsts_seconds: u64,
    /// `includeSubDomains` in that header.
    pub hsts_include_subdomains: bool,
    /// SPA serving (embedded preset).
    pub spa: SpaSettings,
    /// Failed-login throttling.
    pub throttle: crate::throttle::ThrottlePolicy,
    /// Keep audit events in the database (they always go to the log).
    pub audit_persist: bool,
    /// Password validators.
    pub password_policy: crate::password_policy::PasswordPolicy,
    /// The read-through cache of sessions and users.
    pub cache: crate::cache::CacheSettings,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Secrets are printed as a placeholder; the database URL may carry a
        // password, so only its scheme is shown.
        f.debug_struct("Settings")
            .field("preset", &self.preset)
            .field("bind", &self.bind)
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
            .field("spa", &self.spa)
            .field("throttle", &self.throttle)
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

/// `[password_hasher]` as read.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawHasher {
    /// See [`HasherSettings::memory_kib`].
    pub memory_kib: Option<u32>,
    /// See [`HasherSettings::iterations`].
    pub iterations: Option<u32>,
    /// See [`HasherSettings::parallelism`].
    pub parallelism: Option<u32>,
    /// See [`HasherSettings::max_concurrent`]; 0 means the number of CPUs.
    pub max_concurrent: Option<usize>,
    /// See [`HasherSettings::max_queue`].
    pub max_queue: Option<usize>,
}

/// `[limits]` as read.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawLimits {
    /// See [`Settings::max_body_bytes`].
    pub max_body_bytes: Option<usize>,
    /// Seconds.
    pub request_timeout: Option<u64>,
    /// Seconds.
    pub header_read_timeout: Option<u64>,
    /// See [`Settings::max_connections`].
    pub max_connections: Option<usize>,
}

/// `[security]` as read.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawSecurity {
    /// See [`Settings::hsts_seconds`].
    pub hsts_seconds: Option<u64>,
    /// See [`Settings::hsts_include_subdomains`].
    pub hsts_include_subdomains: Option<bool>,
}

/// `[spa]` as read.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawSpa {
    /// See [`SpaSettings::dir`].
    pub dir: Option<String>,
    /// See [`SpaSettings::csp`].
    pub csp: Option<String>,
}

/// `[throttle]` as read.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawThrottle {
    /// See [`crate::throttle::ThrottlePolicy::enabled`].
    pub enabled: Option<bool>,
    /// Seconds.
    pub window: Option<u64>,
    /// See [`crate::throttle::ThrottlePolicy::per_pair`].
    pub per_pair: Option<u32>,
    /// See [`crate::throttle::ThrottlePolicy::per_ip`].
    pub per_ip: Option<u32>,
    /// See [`crate::throttle::ThrottlePolicy::per_account`].
    pub per_account: Option<u32>,
    /// Seconds.
    pub max_backoff: Option<u64>,
}

/// The settings tree as read, before validation. Every field is optional; a
/// missing field takes the default documented in [`SETTINGS`].
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawSettings {
    /// See [`Settings::preset`].
    pub preset: Option<String>,
    /// See [`Settings::bind`].
    pub bind: Option<String>,
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
    /// `[spa]`.
    pub spa: RawSpa,
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
}

/// `[cache]` as read.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawCache {
    /// See [`crate::cache::CacheSettings::enabled`].
    pub enabled: Option<bool>,
    /// See [`crate::cache::CacheSettings::max_entries`].
    pub max_entries: Option<usize>,
    /// Seconds.
    pub ttl: Option<u64>,
    /// Milliseconds.
    pub sync_interval_ms: Option<u64>,
}

/// `[password]` as read.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawPasswordPolicy {
    /// Minimum length.
    pub min_length: Option<u64>,
    /// Refuse common passwords.
    pub refuse_common: Option<bool>,
    /// Refuse all-digit passwords.
    pub refuse_numeric: Option<bool>,
    /// Similarity limit; 0 turns it off.
    pub max_similarity: Option<f64>,
}

/// `[audit]` as read.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawAudit {
    /// See [`Settings::audit_persist`].
    pub persist: Option<bool>,
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

/// Documentation of one setting.
#[derive(Debug, Clone, Copy)]
pub struct SettingDoc {
    /// Dotted name, as in the TOML file.
    pub key: &'static str,
    /// Value kind.
    pub kind: Kind,
    /// Default, in words.
    pub default: &'static str,
    /// What it does.
    pub doc: &'static str,
}

macro_rules! settings_doc {
    ($( $key:literal $kind:ident $default:literal $doc:literal ;)*) => {
        /// Every setting, its kind, default and meaning.
        pub const SETTINGS: &[SettingDoc] = &[ $( SettingDoc { key: $key, kind: Kind::$kind, default: $default, doc: $doc } ),* ];
    };
}

settings_doc! {
    "preset" String "embedded" "Deployment preset: embedded, same-origin, rest or cross-origin. Decides cookie flags, CORS and Basic auth.";
    "bind" String "127.0.0.1:8000" "Address and port `serve` listens on.";
    "public_url" String "unset" "The origin users see (e.g. https://app.example.com). Trusted for CSRF, added to allowed_hosts, and an https URL turns on Secure cookies.";
    "database_url" String "sqlite://latchkey.sqlite3" "Where users and sessions live. Flat env alias: LATCHKEY_DATABASE_URL.";
    "session_store_url" String "unset (sessions live in the database)" "redis://host:6379/0 keeps sessions and throttle counters in Redis, shared by every instance. Flat env alias: LATCHKEY_SESSION_STORE_URL; flag --session-store.";
    "session_store_prefix" String "latchkey:" "Prefix of every Redis key, so several deployments can share one Redis.";
    "secret_key" String "unset (generated by `migrate` and kept in the database)" "Key for HMACs such as the session auth hash. Flat env alias: LATCHKEY_SECRET_KEY.";
    "secret_key_fallbacks" List "[]" "Previous secret keys, still accepted while rotating.";
    "allowed_hosts" List "bind host, localhost, 127.0.0.1, [::1] and the public_url host" "Accepted Host header values; `.example.com` matches subdomains, `*` anything. Required when binding 0.0.0.0 or ::.";
    "allowed_origins" List "[]" "Origins trusted by the CSRF Origin check in every preset; in cross-origin also the CORS allow-list (at least one required, no wildcards).";
    "trusted_proxies" List "[]" "CIDRs of reverse proxies whose X-Forwarded-For/-Host/-Proto headers are believed.";
    "session.cookie.name" String "sessionid" "Session cookie name.";
    "session.cookie.age" Integer "1209600 (two weeks)" "Absolute session lifetime in seconds, enforced server-side whatever the activity; also the persistent cookie's Max-Age.";
    "session.cookie.host_prefix" Bool "true when the cookie is Secure" "Name the cookie __Host-<name>: browsers then refuse it unless Secure, Path=/ and without Domain, so a sibling subdomain cannot plant one.";
    "session.idle_timeout" Integer "0 (off: the tutorial's two-week cookie)" "Idle limit in seconds for remembered sessions (login without \"remember\": false).";
    "session.browser_session_idle_timeout" Integer "1800 (30 minutes)" "Idle limit in seconds for sessions logged in with \"remember\": false, whose cookie also ends with the browser session.";
    "session.touch_interval" Integer "60" "last_seen is written at most this often (seconds); idle limits are enforced to this precision.";
    "session.cookie.domain" String "unset (host-only)" "Session cookie Domain attribute.";
    "session.cookie.path" String "/" "Session cookie Path attribute.";
    "session.cookie.secure" Bool "true when public_url is https" "Session cookie Secure attribute.";
    "session.cookie.httponly" Bool "true" "Session cookie HttpOnly attribute.";
    "session.cookie.samesite" String "Strict; Lax in cross-origin" "Session cookie SameSite attribute (None requires secure).";
    "csrf.cookie.name" String "csrftoken" "CSRF cookie name.";
    "csrf.cookie.age" Integer "31449600 (one year)" "CSRF cookie Max-Age in seconds; 0 makes a browser-session cookie.";
    "csrf.cookie.domain" String "unset (host-only)" "CSRF cookie Domain attribute.";
    "csrf.cookie.path" String "/" "CSRF cookie Path attribute.";
    "csrf.cookie.secure" Bool "true when public_url is https" "CSRF cookie Secure attribute.";
    "csrf.cookie.httponly" Bool "false in embedded (the SPA reads it), true otherwise" "CSRF cookie HttpOnly attribute.";
    "csrf.cookie.samesite" String "Strict; Lax in cross-origin" "CSRF cookie SameSite attribute.";
    "csrf.cookie.host_prefix" Bool "true when the cookie is Secure and HttpOnly" "Name the cookie __Host-<name>. Off by default where the SPA reads the cookie by name (embedded).";
    "password_hasher.memory_kib" Integer "19456 (19 MiB, OWASP)" "Argon2id memory cost per hash, KiB.";
    "password_hasher.iterations" Integer "2 (OWASP)" "Argon2id passes.";
    "password_hasher.parallelism" Integer "1 (OWASP)" "Argon2id lanes.";
    "password_hasher.max_concurrent" Integer "0 (= number of CPUs)" "Hashes that may run at once on the blocking pool.";
    "password_hasher.max_queue" Integer "64" "Requests that may wait for a hashing slot; beyond this the server answers 503 with Retry-After.";
    "limits.max_body_bytes" Integer "65536" "Largest request body accepted on /api/ (larger: 413).";
    "throttle.enabled" Bool "true" "Throttle failed logins (and HTTP Basic attempts); see docs/security.md for the policy.";
    "throttle.window" Integer "900 (15 minutes)" "Length of the counting window, seconds.";
    "throttle.per_pair" Integer "5" "Attempts per account and client address (IPv6: /64) per window; then 429 until the window ends.";
    "throttle.per_ip" Integer "100" "Attempts per client address per window, all accounts together; then 429 until the window ends.";
    "throttle.per_account" Integer "30" "Attempts per account per window from all addresses before a back-off of 1, 2, 4 … seconds applies.";
    "throttle.max_backoff" Integer "60" "Cap of that back-off, seconds: the longest a distributed attack can make the account owner wait.";
    "password.min_length" Integer "8" "Passwords shorter than this many characters are refused wherever a password is set.";
    "password.refuse_common" Bool "true" "Refuse the 19,640 most common passwords (Django's list).";
    "password.refuse_numeric" Bool "true" "Refuse passwords made only of digits.";
    "password.max_similarity" Float "0.7" "Refuse passwords this similar (0–1) to the username or email, as Django's UserAttributeSimilarityValidator; 0 turns it off.";
    "audit.persist" Bool "true" "Keep audit events (logins, failures, throttling, CSRF rejections, logouts, password changes, revocations) in the database for `latchkey events`; they always go to the log target latchkey::audit.";
    "limits.request_timeout" Integer "30" "Seconds a request may take from its first byte to the answer (slow bodies included); then 408.";
    "limits.header_read_timeout" Integer "10" "Seconds a client has to send its request headers; then the connection is closed (stops slowloris).";
    "limits.max_connections" Integer "1024" "Open connections at most; further ones are closed at once until one ends.";
    "security.hsts_seconds" Integer "31536000 (one year)" "Strict-Transport-Security max-age, sent when public_url is https; 0 sends none.";
    "security.hsts_include_subdomains" Bool "true" "Add includeSubDomains to Strict-Transport-Security.";
    "cache.enabled" Bool "true" "Serve authenticated requests from an in-process read-through cache of sessions and users. Every logout, revocation, password change and deactivation is published to all instances (SQLite: an events table; PostgreSQL: LISTEN/NOTIFY; Redis: pub/sub) and waits cache.sync_interval_ms × 2, after which no instance can still serve the old entry; an instance whose channel is lost empties its cache and reads the store until it is back.";
    "cache.max_entries" Integer "100000" "Sessions (and, separately, users) the cache holds at most; when full it is emptied and refills.";
    "cache.ttl" Integer "300" "Seconds a cached entry is served before it is read again from the store, whatever happens (a backstop; invalidation does the real work).";
    "cache.sync_interval_ms" Integer "50" "How often each instance confirms its invalidation channel. A cache not confirmed within twice this is not used; revoking writes wait twice this before they return.";
    "spa.dir" String "unset (the SPA embedded in the binary)" "Embedded preset: serve this SPA build folder from disk instead (index.html fallback for client-side routes, hashed assets immutable). Flag: --spa-dir.";
    "spa.csp" String "auto" "Content-Security-Policy of SPA pages. auto: strict for the embedded SPA; for spa.dir also allows https: styles, images and fonts (CDN Bootstrap) and hashes inline scripts (Create React App). Empty: no header.";
}

fn cookie(
    key: &str,
    raw: &RawCookie,
    name: &str,
    age: Option<u64>,
    http_only: bool,
    same_site: SameSite,
    secure: bool,
) -> Result<CookieSettings, SettingsError> {
    let same_site = match &raw.samesite {
        Some(s) => s.parse().map_err(|e| SettingsError::invalid(&format!("{key}.samesite"), e))?,
        None => same_site,
    };
    let secure = raw.secure.unwrap_or(secure);
    if same_site == SameSite::None && !secure {
        return Err(SettingsError::invalid(
            &format!("{key}.samesite"),
            format!(
                "SameSite=None requires {key}.secure = true: browsers drop SameSite=None cookies that are not Secure"
            ),
        ));
    }
    let name = raw.name.clone().unwrap_or_else(|| name.into());
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)) {
        return Err(SettingsError::invalid(&format!("{key}.name"), "use letters, digits, '-', '_' or '.'"));
    }
    let path = raw.path.clone().unwrap_or_else(|| "/".into());
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
    let age = match raw.age.or(age) {
        Some(0) | None => None,
        Some(s) => Some(Duration::from_secs(s)),
    };
    let http_only = raw.httponly.unwrap_or(http_only);
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

fn is_unspecified(addr: &SocketAddr) -> bool {
    addr.ip().is_unspecified()
}

fn cache_settings(raw: &RawCache) -> Result<crate::cache::CacheSettings, SettingsError> {
    let d = crate::cache::CacheSettings::default();
    let sync_interval = raw.sync_interval_ms.map_or(d.sync_interval, Duration::from_millis);
    if !(Duration::from_millis(5)..=Duration::from_secs(10)).contains(&sync_interval) {
        return Err(SettingsError::invalid("cache.sync_interval_ms", "must be between 5 and 10000"));
    }
    let max_entries = raw.max_entries.unwrap_or(d.max_entries);
    if max_entries == 0 {
        return Err(SettingsError::invalid(
            "cache.max_entries",
            "must be at least 1; use cache.enabled = false to turn the cache off",
        ));
    }
    Ok(crate::cache::CacheSettings {
        enabled: raw.enabled.unwrap_or(d.enabled),
        max_entries,
        ttl: raw.ttl.map_or(d.ttl, Duration::from_secs),
        sync_interval,
    })
}

impl RawSettings {
    /// Validates into typed settings, filling preset-dependent defaults.
    ///
    /// # Errors
    /// The first invalid setting, with a message that says how to fix it.
    pub fn validate(self) -> Result<Settings, SettingsError> {
        let preset: Preset = self.preset.as_deref().unwrap_or("embedded").parse()?;
        let bind_str = self.bind.as_deref().unwrap_or("127.0.0.1:8000");
        let bind: SocketAddr = bind_str.parse().map_err(|_| {
            SettingsError::invalid("bind", format!("{bind_str:?} is not an address such as 127.0.0.1:8000"))
        })?;
        let public_url = match &self.public_url {
            Some(s) if !s.is_empty() => {
                Some(Origin::parse(s).map_err(|e: OriginError| SettingsError::invalid("public_url", e.to_string()))?)
            }
            _ => None,
        };
        let database_url = self.database_url.clone().unwrap_or_else(|| "sqlite://latchkey.sqlite3".into());
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
        let session_store_prefix = self.session_store_prefix.unwrap_or_else(|| "latchkey:".into());
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

        let mut allowed_origins = Vec::new();
        for o in &self.allowed_origins {
            if o.trim() == "*" {
                return Err(SettingsError::invalid(
                    "allowed_origins",
                    "\"*\" cannot be used: credentials (cookies) must never be shared with every origin; list each origin",
                ));
            }
            let origin =
                Origin::parse(o.trim()).map_err(|e| SettingsError::invalid("allowed_origins", e.to_string()))?;
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

        let allowed_hosts = match self.allowed_hosts {
            Some(list) if !list.is_empty() => list.into_iter().map(|h| h.trim().to_ascii_lowercase()).collect(),
            _ => {
                if is_unspecified(&bind) {
                    return Err(SettingsError::invalid(
                        "allowed_hosts",
                        format!(
                            "binding {bind} accepts connections from anywhere; list the host names clients use with --allowed-host"
                        ),
                    ));
                }
                let mut hosts = vec!["localhost".to_owned(), "127.0.0.1".to_owned(), "[::1]".to_owned()];
                let bind_host = match bind.ip() {
                    std::net::IpAddr::V6(ip) => format!("[{ip}]"),
                    ip => ip.to_string(),
                };
                if !hosts.contains(&bind_host) {
                    hosts.push(bind_host);
                }
                if let Some(p) = &public_url
                    && !hosts.iter().any(|h| h == p.host())
                {
                    hosts.push(p.host().to_owned());
                }
                hosts
            }
        };

        let mut trusted_proxies = Vec::new();
        for p in &self.trusted_proxies {
            let net = p.parse::<IpNet>().or_else(|_| p.parse::<std::net::IpAddr>().map(IpNet::from)).map_err(|_| {
                SettingsError::invalid("trusted_proxies", format!("{p:?} is not an IP address or CIDR"))
            })?;
            trusted_proxies.push(net);
        }

        let secure_default = public_url.as_ref().is_some_and(Origin::is_secure);
        let same_site = if preset == Preset::CrossOrigin { SameSite::Lax } else { SameSite::Strict };
        let session_cookie = cookie(
            "session.cookie",
            &self.session.cookie,
            "sessionid",
            Some(1_209_600),
            true,
            same_site,
            secure_default,
        )?;
        let session_age = session_cookie.age.unwrap_or(Duration::from_secs(1_209_600));
        let idle_timeout = match self.session.idle_timeout.unwrap_or(0) {
            0 => None,
            s => Some(Duration::from_secs(s)),
        };
        let browser_session_idle_timeout =
            Duration::from_secs(self.session.browser_session_idle_timeout.unwrap_or(1800));
        if browser_session_idle_timeout.is_zero() {
            return Err(SettingsError::invalid("session.browser_session_idle_timeout", "must be at least 1 second"));
        }
        let touch_interval = Duration::from_secs(self.session.touch_interval.unwrap_or(60));
        let csrf_cookie = cookie(
            "csrf.cookie",
            &self.csrf.cookie,
            "csrftoken",
            Some(31_449_600),
            preset != Preset::Embedded,
            same_site,
            secure_default,
        )?;
        if csrf_cookie.name == session_cookie.name {
            return Err(SettingsError::invalid("csrf.cookie.name", "must differ from session.cookie.name"));
        }

        let h = &self.password_hasher;
        let parallelism = h.parallelism.unwrap_or(1);
        let memory_kib = h.memory_kib.unwrap_or(19_456);
        if parallelism == 0 || parallelism > 255 {
            return Err(SettingsError::invalid("password_hasher.parallelism", "must be between 1 and 255"));
        }
        if memory_kib < 8 * parallelism {
            return Err(SettingsError::invalid("password_hasher.memory_kib", "must be at least 8 × parallelism"));
        }
        let iterations = h.iterations.unwrap_or(2);
        if iterations == 0 {
            return Err(SettingsError::invalid("password_hasher.iterations", "must be at least 1"));
        }
        let max_concurrent = match h.max_concurrent.unwrap_or(0) {
            0 => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2),
            n => n,
        };
        let max_body_bytes = self.limits.max_body_bytes.unwrap_or(65_536);
        if max_body_bytes < 256 {
            return Err(SettingsError::invalid("limits.max_body_bytes", "must be at least 256"));
        }

        Ok(Settings {
            preset,
            bind,
            public_url,
            database_url,
            session_store_url,
            session_store_prefix,
            secret_key,
            secret_key_fallbacks,
            allowed_hosts,
            allowed_origins,
            trusted_proxies,
            session: SessionSettings {
                cookie: session_cookie,
                age: session_age,
                idle_timeout,
                browser_session_idle_timeout,
                touch_interval,
            },
            csrf: CsrfSettings { cookie: csrf_cookie },
            password_hasher: HasherSettings {
                memory_kib,
                iterations,
                parallelism,
                max_concurrent,
                max_queue: h.max_queue.unwrap_or(64),
            },
            max_body_bytes,
            request_timeout: Duration::from_secs(self.limits.request_timeout.unwrap_or(30).max(1)),
            header_read_timeout: Duration::from_secs(self.limits.header_read_timeout.unwrap_or(10).max(1)),
            max_connections: self.limits.max_connections.unwrap_or(1024).max(1),
            hsts_seconds: self.security.hsts_seconds.unwrap_or(31_536_000),
            hsts_include_subdomains: self.security.hsts_include_subdomains.unwrap_or(true),
            throttle: {
                let t = &self.throttle;
                let d = crate::throttle::ThrottlePolicy::default();
                let secs = |v: Option<u64>, dflt: time::Duration| {
                    v.map_or(dflt, |s| time::Duration::seconds(s.min(i64::MAX as u64) as i64))
                };
                let policy = crate::throttle::ThrottlePolicy {
                    enabled: t.enabled.unwrap_or(true),
                    window: secs(t.window, d.window),
                    per_pair: t.per_pair.unwrap_or(d.per_pair),
                    per_ip: t.per_ip.unwrap_or(d.per_ip),
                    per_account: t.per_account.unwrap_or(d.per_account),
                    max_backoff: secs(t.max_backoff, d.max_backoff),
                };
                if policy.window < time::Duration::seconds(1) || policy.max_backoff < time::Duration::seconds(1) {
                    return Err(SettingsError::invalid(
                        "throttle.window",
                        "window and max_backoff must be at least 1 second",
                    ));
                }
                if policy.per_pair == 0 || policy.per_ip == 0 || policy.per_account == 0 {
                    return Err(SettingsError::invalid(
                        "throttle.per_pair",
                        "limits must be at least 1 (disable with throttle.enabled = false)",
                    ));
                }
                policy
            },
            audit_persist: self.audit.persist.unwrap_or(true),
            cache: cache_settings(&self.cache)?,
            password_policy: {
                let p = &self.password;
                let max = p.max_similarity.unwrap_or(0.7);
                if !(0.0..=1.0).contains(&max) {
                    return Err(SettingsError::invalid("password.max_similarity", "must be between 0 and 1"));
                }
                crate::password_policy::PasswordPolicy {
                    min_length: p.min_length.unwrap_or(8).try_into().unwrap_or(usize::MAX),
                    refuse_common: p.refuse_common.unwrap_or(true),
                    refuse_numeric: p.refuse_numeric.unwrap_or(true),
                    max_similarity: (max > 0.0).then_some(max),
                }
            },
            spa: SpaSettings {
                dir: self.spa.dir.filter(|d| !d.is_empty()).map(std::path::PathBuf::from),
                csp: self.spa.csp.filter(|c| c != "auto"),
            },
        })
    }
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
        assert_eq!(s.bind.to_string(), "127.0.0.1:8000");
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
        r.bind = Some("0.0.0.0:8000".into());
        assert_eq!(r.clone().validate().unwrap_err().key, "allowed_hosts");
        r.allowed_hosts = Some(vec!["app.example.com".into()]);
        assert!(r.validate().is_ok());
    }

    #[test]
    fn bad_values_name_the_setting() {
        let mut r = raw("nope");
        assert_eq!(r.clone().validate().unwrap_err().key, "preset");
        r.preset = None;
        r.bind = Some("localhost".into());
        assert_eq!(r.clone().validate().unwrap_err().key, "bind");
        r.bind = None;
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
