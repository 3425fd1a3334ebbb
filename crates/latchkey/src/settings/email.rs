//! `[email]`: how mail leaves (`crate::mailer`) and how the outbox retries,
//! and `[accounts]`: the links in mails and the password-reset limits.

use std::{path::PathBuf, time::Duration};

use secrecy::SecretString;
use serde::Deserialize;

use super::SettingsError;
use crate::origin::Origin;

/// Mail is printed by default (development).
pub const EMAIL_BACKEND: &str = "console";
/// Default folder of the `file` backend.
pub const EMAIL_FILE_DIR: &str = "mail";
/// Default SMTP server.
pub const EMAIL_SMTP_URL: &str = "smtp://127.0.0.1:25";
/// Default sender.
pub const EMAIL_FROM: &str = "noreply@localhost";
/// Default SMTP timeout, seconds.
pub const EMAIL_TIMEOUT: u64 = 10;
/// Default first retry delay, seconds (doubled at each attempt, at most an hour).
pub const EMAIL_RETRY_DELAY: u64 = 5;
/// Default attempts before a message is given up.
pub const EMAIL_MAX_ATTEMPTS: u64 = 10;
/// Sign-up is closed by default: accounts come from the CLI, as in the tutorial.
pub const ACCOUNTS_SIGNUP: &str = "closed";
/// Default verification mode (allauth's name).
pub const ACCOUNTS_EMAIL_VERIFICATION: &str = "optional";
/// Default path of the SPA's verification page.
pub const ACCOUNTS_VERIFY_EMAIL_PATH: &str = "/verify-email";
/// Default lifetime of a verification key, seconds (three days).
pub const ACCOUNTS_EMAIL_VERIFICATION_TTL: u64 = 259_200;
/// Default path of the SPA's reset page.
pub const ACCOUNTS_RESET_PASSWORD_PATH: &str = "/reset-password";
/// Default lifetime of a password-reset key, seconds.
pub const ACCOUNTS_PASSWORD_RESET_TTL: u64 = 3600;
/// Default reset requests per address per hour.
pub const ACCOUNTS_PASSWORD_RESET_PER_ADDRESS: u64 = 5;
/// Default reset requests per client address per hour.
pub const ACCOUNTS_PASSWORD_RESET_PER_CLIENT: u64 = 20;

/// Where mail goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmailBackend {
    /// Printed to standard output (development).
    Console,
    /// One `.eml` file per message in this folder.
    File(PathBuf),
    /// An SMTP server.
    Smtp(SmtpSettings),
}

/// An SMTP server and how to talk to it.
#[derive(Clone)]
pub struct SmtpSettings {
    /// Host name.
    pub host: String,
    /// Port.
    pub port: u16,
    /// How TLS is used.
    pub tls: SmtpTls,
    /// Login, if the server wants one (sent only over TLS).
    pub username: Option<String>,
    /// Its password. Never printed.
    pub password: Option<SecretString>,
}

impl PartialEq for SmtpSettings {
    fn eq(&self, o: &Self) -> bool {
        (&self.host, self.port, self.tls, &self.username) == (&o.host, o.port, o.tls, &o.username)
    }
}

impl Eq for SmtpSettings {}

impl std::fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

/// TLS on an SMTP connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// `smtp://`: STARTTLS when the server offers it; credentials only over TLS.
    Opportunistic,
    /// `smtp://…?tls=required`: STARTTLS or fail.
    Required,
    /// `smtps://`: TLS from the first byte.
    Implicit,
}

/// `[email]` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailSettings {
    /// Where mail goes.
    pub backend: EmailBackend,
    /// The `From` header.
    pub from: String,
    /// SMTP connection and command timeout.
    pub timeout: Duration,
    /// First retry delay; doubled at each attempt, at most an hour.
    pub retry_delay: Duration,
    /// Attempts before a message is given up (`latchkey outbox --retry` revives it).
    pub max_attempts: u32,
}

/// `[email]` as read.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawEmail {
    /// `console`, `file` or `smtp`.
    pub backend: Option<String>,
    /// Folder of the `file` backend.
    pub file_dir: Option<String>,
    /// `smtp://host:port[?tls=required]` or `smtps://host:port`.
    pub smtp_url: Option<String>,
    /// SMTP login.
    pub smtp_username: Option<String>,
    /// SMTP password.
    pub smtp_password: Option<String>,
    /// `From` header.
    pub from: Option<String>,
    /// Seconds.
    pub timeout: Option<u64>,
    /// Seconds.
    pub retry_delay: Option<u64>,
    /// Attempts.
    pub max_attempts: Option<u64>,
}

fn parse_smtp_url(url: &str) -> Result<(String, u16, SmtpTls), String> {
    let (scheme, rest) = url.split_once("://").ok_or("expected smtp://host:port or smtps://host:port")?;
    let (hostport, query) = rest.split_once('?').unwrap_or((rest, ""));
    let hostport = hostport.trim_end_matches('/');
    let tls = match (scheme, query) {
        ("smtp", "") => SmtpTls::Opportunistic,
        ("smtp", "tls=required") => SmtpTls::Required,
        ("smtps", "") => SmtpTls::Implicit,
        ("smtp" | "smtps", q) => return Err(format!("unknown option {q:?}; the only one is ?tls=required on smtp://")),
        (s, _) => return Err(format!("unknown scheme {s:?}; use smtp:// or smtps://")),
    };
    let default_port = if tls == SmtpTls::Implicit { 465 } else { 25 };
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) if !hostport.ends_with(']') => (h, p.parse::<u16>().map_err(|_| format!("invalid port {p:?}"))?),
        _ => (hostport, default_port),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() || host.contains(['@', '/', ' ']) {
        return Err("expected smtp://host:port (credentials go in email.smtp_username and email.smtp_password)".into());
    }
    Ok((host.to_owned(), port, tls))
}

impl RawEmail {
    pub(crate) fn validate(&self) -> Result<EmailSettings, SettingsError> {
        let backend = match self.backend.as_deref().unwrap_or(EMAIL_BACKEND) {
            "console" => EmailBackend::Console,
            "file" => EmailBackend::File(PathBuf::from(self.file_dir.as_deref().unwrap_or(EMAIL_FILE_DIR))),
            "smtp" => {
                let url = self.smtp_url.as_deref().unwrap_or(EMAIL_SMTP_URL);
                let (host, port, tls) = parse_smtp_url(url).map_err(|m| SettingsError::invalid("email.smtp_url", m))?;
                EmailBackend::Smtp(SmtpSettings {
                    host,
                    port,
                    tls,
                    username: self.smtp_username.clone().filter(|u| !u.is_empty()),
                    password: self.smtp_password.clone().filter(|p| !p.is_empty()).map(SecretString::from),
                })
            }
            other => {
                return Err(SettingsError::invalid(
                    "email.backend",
                    format!("{other:?} is not a backend; use console, file or smtp"),
                ));
            }
        };
        let from = self.from.clone().unwrap_or_else(|| EMAIL_FROM.into());
        if !from.contains('@') {
            return Err(SettingsError::invalid(
                "email.from",
                "expected an address, e.g. noreply@example.com or \"Name <noreply@example.com>\"",
            ));
        }
        let max_attempts = self.max_attempts.unwrap_or(EMAIL_MAX_ATTEMPTS);
        if max_attempts == 0 {
            return Err(SettingsError::invalid("email.max_attempts", "must be at least 1"));
        }
        Ok(EmailSettings {
            backend,
            from,
            timeout: Duration::from_secs(self.timeout.unwrap_or(EMAIL_TIMEOUT).max(1)),
            retry_delay: Duration::from_secs(self.retry_delay.unwrap_or(EMAIL_RETRY_DELAY).max(1)),
            max_attempts: u32::try_from(max_attempts).unwrap_or(u32::MAX),
        })
    }
}

/// Whether anyone may create an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signup {
    /// Accounts come from the CLI (or an admin); `POST /api/signup/` is 404.
    Closed,
    /// `POST /api/signup/` creates accounts.
    Open,
}

/// What an unverified address may do (allauth's modes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailVerification {
    /// No verification mail is sent.
    None,
    /// A verification mail is sent; unverified users may sign in.
    Optional,
    /// Users with an unverified address cannot sign in (403 `email_unverified`).
    Mandatory,
}

impl EmailVerification {
    /// The setting's word.
    pub fn as_str(self) -> &'static str {
        match self {
            EmailVerification::None => "none",
            EmailVerification::Optional => "optional",
            EmailVerification::Mandatory => "mandatory",
        }
    }
}

/// `[accounts]` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountsSettings {
    /// Whether anyone may sign up.
    pub signup: Signup,
    /// What an unverified address may do.
    pub email_verification: EmailVerification,
    /// The SPA's verification page; the key goes in `?key=`.
    pub verify_email_path: String,
    /// Lifetime of a verification key.
    pub email_verification_ttl: Duration,
    /// Where the SPA lives: links in mails start here, never with the
    /// request's `Host` or `Origin`.
    pub frontend_url: Origin,
    /// The SPA's reset page; the key goes in `?key=`.
    pub reset_password_path: String,
    /// Lifetime of a reset key.
    pub password_reset_ttl: Duration,
    /// Reset requests per address per hour.
    pub password_reset_per_address: u32,
    /// Reset requests per client address per hour.
    pub password_reset_per_client: u32,
}

/// `[accounts]` as read.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawAccounts {
    /// `closed` or `open`.
    pub signup: Option<String>,
    /// `none`, `optional` or `mandatory`.
    pub email_verification: Option<String>,
    /// See [`AccountsSettings::verify_email_path`].
    pub verify_email_path: Option<String>,
    /// Seconds.
    pub email_verification_ttl: Option<u64>,
    /// See [`AccountsSettings::frontend_url`].
    pub frontend_url: Option<String>,
    /// See [`AccountsSettings::reset_password_path`].
    pub reset_password_path: Option<String>,
    /// Seconds.
    pub password_reset_ttl: Option<u64>,
    /// Per hour.
    pub password_reset_per_address: Option<u64>,
    /// Per hour.
    pub password_reset_per_client: Option<u64>,
}

impl RawAccounts {
    /// `fallback`: what the frontend URL is when none is set (computed from
    /// the other settings by the caller).
    pub(crate) fn validate(&self, fallback: Origin) -> Result<AccountsSettings, SettingsError> {
        let frontend_url = match self.frontend_url.as_deref() {
            Some(u) if !u.is_empty() => {
                Origin::parse(u).map_err(|e| SettingsError::invalid("accounts.frontend_url", e.to_string()))?
            }
            _ => fallback,
        };
        let page = |key: &str, v: &Option<String>, default: &str| {
            let path = v.clone().unwrap_or_else(|| default.into());
            if !path.starts_with('/') || path.contains(['?', '#']) {
                return Err(SettingsError::invalid(
                    key,
                    format!("must be a path starting with / (no ? or #), e.g. {default}"),
                ));
            }
            Ok(path)
        };
        let path = page("accounts.reset_password_path", &self.reset_password_path, ACCOUNTS_RESET_PASSWORD_PATH)?;
        let verify_path = page("accounts.verify_email_path", &self.verify_email_path, ACCOUNTS_VERIFY_EMAIL_PATH)?;
        let signup = match self.signup.as_deref().unwrap_or(ACCOUNTS_SIGNUP) {
            "closed" => Signup::Closed,
            "open" => Signup::Open,
            other => return Err(SettingsError::invalid("accounts.signup", format!("{other:?}: use closed or open"))),
        };
        let email_verification = match self.email_verification.as_deref().unwrap_or(ACCOUNTS_EMAIL_VERIFICATION) {
            "none" => EmailVerification::None,
            "optional" => EmailVerification::Optional,
            "mandatory" => EmailVerification::Mandatory,
            other => {
                return Err(SettingsError::invalid(
                    "accounts.email_verification",
                    format!("{other:?}: use none, optional or mandatory"),
                ));
            }
        };
        let verify_ttl = self.email_verification_ttl.unwrap_or(ACCOUNTS_EMAIL_VERIFICATION_TTL);
        if !(60..=30 * 24 * 3600).contains(&verify_ttl) {
            return Err(SettingsError::invalid(
                "accounts.email_verification_ttl",
                "must be between 60 and 2592000 seconds",
            ));
        }
        let ttl = self.password_reset_ttl.unwrap_or(ACCOUNTS_PASSWORD_RESET_TTL);
        if !(60..=7 * 24 * 3600).contains(&ttl) {
            return Err(SettingsError::invalid("accounts.password_reset_ttl", "must be between 60 and 604800 seconds"));
        }
        let limit = |key: &str, v: Option<u64>, default: u64| match v.unwrap_or(default) {
            0 => Err(SettingsError::invalid(key, "must be at least 1")),
            n => Ok(u32::try_from(n).unwrap_or(u32::MAX)),
        };
        Ok(AccountsSettings {
            signup,
            email_verification,
            verify_email_path: verify_path,
            email_verification_ttl: Duration::from_secs(verify_ttl),
            frontend_url,
            reset_password_path: path,
            password_reset_ttl: Duration::from_secs(ttl),
            password_reset_per_address: limit(
                "accounts.password_reset_per_address",
                self.password_reset_per_address,
                ACCOUNTS_PASSWORD_RESET_PER_ADDRESS,
            )?,
            password_reset_per_client: limit(
                "accounts.password_reset_per_client",
                self.password_reset_per_client,
                ACCOUNTS_PASSWORD_RESET_PER_CLIENT,
            )?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_urls_say_how_tls_is_used() {
        assert_eq!(
            parse_smtp_url("smtp://mail.example.com:587").unwrap(),
            ("mail.example.com".into(), 587, SmtpTls::Opportunistic)
        );
        assert_eq!(parse_smtp_url("smtp://mx:2525?tls=required").unwrap().2, SmtpTls::Required);
        assert_eq!(parse_smtp_url("smtps://mx").unwrap(), ("mx".into(), 465, SmtpTls::Implicit));
        assert_eq!(parse_smtp_url("smtp://[::1]:25").unwrap().0, "::1");
        for bad in
            ["mx:25", "http://mx", "smtp://user:pw@mx:25", "smtp://mx:port", "smtps://mx?tls=required", "smtp://"]
        {
            assert!(parse_smtp_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_smtp_password_is_never_printed() {
        let raw = RawEmail {
            backend: Some("smtp".into()),
            smtp_password: Some("hunter2-secret".into()),
            ..RawEmail::default()
        };
        let s = raw.validate().unwrap();
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}
