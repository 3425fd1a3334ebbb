//! `latchkey check --deploy`: like Django's `check --deploy`, errors and
//! warnings for settings that are unsafe in production.

use std::fmt;

use crate::{
    origin::Origin,
    settings::{EmailBackend, EmailVerification, Preset, SameSite, Settings, Signup, SmtpTls},
};

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// The deployment is unsafe or broken: `check --deploy` exits non-zero.
    Error,
    /// Worth a look.
    Warning,
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Error or warning.
    pub level: Level,
    /// Stable identifier, e.g. `latchkey.E001`.
    pub id: &'static str,
    /// What is wrong and what to do.
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({}) {}", self.id, self.message)
    }
}

/// The registrable domain ("site") of a host, for SameSite reasoning.
/// Hosts without one (localhost, IP addresses) are their own site.
fn site(host: &str) -> String {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.parse::<std::net::IpAddr>().is_ok() {
        return host.to_owned();
    }
    psl::domain_str(host).unwrap_or(host).to_owned()
}

fn is_local(host: &str) -> bool {
    host == "localhost" || host.ends_with(".localhost") || host.starts_with("127.") || host == "[::1]"
}

fn weak_secret(secret: &str) -> bool {
    let distinct: std::collections::HashSet<char> = secret.chars().collect();
    secret.chars().count() < 32 || distinct.len() < 5
}

/// Runs every deployment check. `stored_secret` is the key `migrate`
/// generated, when the database could be read (`Some(None)`: readable but
/// no key there; `None`: not checked).
pub fn deploy_checks(s: &Settings, stored_secret: Option<Option<&str>>) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut err = |id, message: String| out.push(Finding { level: Level::Error, id, message });
    let https = s.public_url.as_ref().is_some_and(Origin::is_secure);

    if https && !s.session.cookie.secure {
        err("latchkey.E001", "public_url is https but session.cookie.secure is false: the session cookie would also travel over plain HTTP.".into());
    }
    if https && !s.csrf.cookie.secure {
        err("latchkey.E002", "public_url is https but csrf.cookie.secure is false.".into());
    }
    for (key, c) in [("session.cookie", &s.session.cookie), ("csrf.cookie", &s.csrf.cookie)] {
        if c.same_site == SameSite::None && !c.secure {
            err("latchkey.E003", format!("{key}.samesite is None without Secure: browsers drop such cookies."));
        }
        if let Some(domain) = &c.domain {
            let d = domain.trim_start_matches('.');
            if psl::suffix_str(d) == Some(d) {
                err(
                    "latchkey.E004",
                    format!(
                        "{key}.domain {domain:?} is a public suffix: browsers refuse it, and it would share the cookie with every site under it."
                    ),
                );
            }
        }
    }
    match (&s.secret_key, stored_secret) {
        (Some(_), _) => {}
        (None, Some(None)) => err(
            "latchkey.E005",
            "no secret key: set LATCHKEY_SECRET_KEY or run `latchkey migrate`, which generates one.".into(),
        ),
        (None, Some(Some(k))) if weak_secret(k) => err(
            "latchkey.E006",
            "the secret key stored in the database is weak; set a long random LATCHKEY_SECRET_KEY.".into(),
        ),
        _ => {}
    }
    if let Some(k) = &s.secret_key
        && weak_secret(secrecy::ExposeSecret::expose_secret(k))
    {
        err(
            "latchkey.E006",
            "secret_key is weak: use at least 32 random characters (`openssl rand -base64 48`).".into(),
        );
    }
    for o in &s.allowed_origins {
        if o.is_wildcard() && s.cors_enabled() {
            err(
                "latchkey.E007",
                format!("allowed origin {o} is a wildcard: CORS with credentials needs exact origins."),
            );
        }
        if https && !o.is_secure() && !is_local(o.host()) {
            err(
                "latchkey.E008",
                format!(
                    "allowed origin {o} is plain http while the deployment is https: a network attacker could act as that origin."
                ),
            );
        }
    }
    if s.preset == Preset::CrossOrigin {
        let api_host = s.public_url.as_ref().map(|p| p.host().to_owned()).unwrap_or_else(|| {
            s.allowed_hosts.iter().find(|h| !h.starts_with('.') && h.as_str() != "*").cloned().unwrap_or_default()
        });
        for o in &s.allowed_origins {
            let cross_site =
                site(o.host()) != site(&api_host) || s.public_url.as_ref().is_some_and(|p| p.scheme() != o.scheme());
            if cross_site && s.session.cookie.same_site != SameSite::None {
                err(
                    "latchkey.E009",
                    format!(
                        "allowed origin {o} is on another site than the API ({api_host}): browsers do not send {:?} cookies on its requests, so logins will not stick. \
                         Serve both under one site, or use HTTPS with session.cookie.samesite = \"None\" and csrf.cookie.samesite = \"None\" (Secure).",
                        s.session.cookie.same_site
                    ),
                );
            }
        }
    }

    if let EmailBackend::Smtp(smtp) = &s.email.backend
        && smtp.tls == SmtpTls::Opportunistic
        && !is_local(&smtp.host)
        && smtp.host != "::1"
    {
        err(
            "latchkey.E010",
            format!(
                "email.smtp_url sends mail to {} without requiring TLS: anyone on the path can read reset links or                  strip STARTTLS. Use smtp://{}:{}?tls=required or smtps://.",
                smtp.host, smtp.host, smtp.port
            ),
        );
    }

    let mut warn = |id, message: String| out.push(Finding { level: Level::Warning, id, message });
    if s.accounts.signup == Signup::Open && s.accounts.email_verification != EmailVerification::Mandatory {
        warn(
            "latchkey.W012",
            format!(
                "sign-up is open with accounts.email_verification = {}: a taken address must be refused \
                 (email_taken), so anyone can learn which addresses have accounts. Use mandatory to hide it.",
                s.accounts.email_verification.as_str()
            ),
        );
    }
    if https && !matches!(s.email.backend, EmailBackend::Smtp(_)) {
        warn(
            "latchkey.W011",
            "email.backend is not smtp: password-reset mail is printed or written to files, not sent.".into(),
        );
    }
    match &s.public_url {
        None => warn(
            "latchkey.W001",
            "public_url is not set: cookies are not Secure and HSTS is off. Set it to the https:// origin users see."
                .into(),
        ),
        Some(p) if !p.is_secure() && !is_local(p.host()) => warn(
            "latchkey.W002",
            format!("public_url {p} is plain http: sessions can be stolen on the network. Serve over HTTPS."),
        ),
        _ => {}
    }
    if https && s.hsts_seconds == 0 {
        warn("latchkey.W003", "security.hsts_seconds is 0: browsers may still try plain HTTP first.".into());
    }
    if !s.throttle.enabled {
        warn("latchkey.W004", "throttle.enabled is false: nothing slows down password guessing.".into());
    }
    if s.password_policy.min_length < 8 || !s.password_policy.refuse_common {
        warn(
            "latchkey.W005",
            "the password validators are relaxed below ASVS level 1 (8 characters, common passwords refused).".into(),
        );
    }
    let h = &s.password_hasher;
    if u64::from(h.memory_kib) * u64::from(h.iterations) < 19_456 * 2 {
        warn(
            "latchkey.W006",
            format!(
                "password_hasher is weaker than OWASP's minimum (m=19456 KiB, t=2): m={} t={}.",
                h.memory_kib, h.iterations
            ),
        );
    }
    if s.allowed_hosts.iter().any(|h| h == "*") {
        warn("latchkey.W007", "allowed_hosts contains \"*\": any Host header is accepted.".into());
    }
    if s.trusted_proxies.iter().any(|n| n.prefix_len() == 0) {
        warn(
            "latchkey.W008",
            "trusted_proxies trusts every address: anyone can forge X-Forwarded-For/-Host/-Proto.".into(),
        );
    }
    if !s.audit_persist {
        warn(
            "latchkey.W009",
            "audit.persist is false: `latchkey events` will show nothing (events still go to the log).".into(),
        );
    }
    let w = &s.webauthn;
    if s.public_url.as_ref().is_some_and(|u| u.host() != w.rp_id && !crate::settings::host_within(u.host(), &w.rp_id)) {
        warn(
            "latchkey.W013",
            format!(
                "public_url's host is an IP address, which cannot be a WebAuthn RP id: passkeys work only on \
                 http://localhost. Serve the site under a domain name, or set webauthn.rp_id (currently {}).",
                w.rp_id
            ),
        );
    }
    if w.origins.is_empty() && !w.any_localhost_port {
        warn(
            "latchkey.W014",
            format!(
                "no origin is on webauthn.rp_id {}: passkeys are unavailable. Set public_url to an origin on it.",
                w.rp_id
            ),
        );
    }
    if !w.ignored_origins.is_empty() {
        let list: Vec<String> = w.ignored_origins.iter().map(ToString::to_string).collect();
        warn(
            "latchkey.W015",
            format!(
                "allowed_origins {} are not on webauthn.rp_id {}: pages there cannot use passkeys (browsers refuse an \
                 RP id of another domain). Choose a parent domain of all of them as rp_id if they should.",
                list.join(", "),
                w.rp_id
            ),
        );
    }
    for p in s.oidc_providers.iter().filter(|p| p.plain_http) {
        warn(
            "latchkey.W016",
            format!(
                "oidc provider {:?} has a plain-http issuer {}: its tokens and keys travel unencrypted. Use the \
                 provider's https:// issuer outside development.",
                p.id, p.issuer
            ),
        );
    }
    if matches!(s.preset, Preset::SameOrigin | Preset::Rest) && s.trusted_proxies.is_empty() {
        warn(
            "latchkey.W010",
            format!(
                "the {} preset runs behind a reverse proxy, but trusted_proxies is empty: every connection and request \
                 seems to come from the proxy's address, so all clients share one limits.max_connections_per_client \
                 and one throttle per-client limit. List the proxy's address in trusted_proxies.",
                s.preset
            ),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::RawSettings;

    fn ids(f: &[Finding]) -> Vec<&str> {
        f.iter().map(|f| f.id).collect()
    }

    /// Findings but W015 (origins on another domain cannot use passkeys),
    /// for the tests of other rules with such origins.
    fn without_w015(f: Vec<Finding>) -> Vec<Finding> {
        f.into_iter().filter(|f| f.id != "latchkey.W015").collect()
    }

    fn prod() -> RawSettings {
        let mut r = RawSettings {
            preset: Some("same-origin".into()),
            public_url: Some("https://app.example.com".into()),
            secret_key: Some("k2J9x!pQ7zR4mW8vL1nB6cT3yH5gF0dS-aE".into()),
            trusted_proxies: vec!["10.0.0.2".into()],
            ..Default::default()
        };
        r.email.backend = Some("smtp".into());
        r.email.smtp_url = Some("smtps://mail.example.com".into());
        r
    }

    #[test]
    fn a_plain_http_oidc_issuer_is_warned_about() {
        let provider = |issuer: &str| crate::settings::RawOidcProvider {
            id: "corp".into(),
            issuer: issuer.into(),
            client_id: "c".into(),
            client_secret: "s".into(),
            ..Default::default()
        };
        let mut r = prod();
        r.oidc.providers = vec![provider("https://login.example.com")];
        assert!(!ids(&deploy_checks(&r.clone().validate().unwrap(), None)).contains(&"latchkey.W016"));
        r.oidc.providers = vec![provider("http://127.0.0.1:9000")];
        let f = deploy_checks(&r.validate().unwrap(), None);
        assert!(f.iter().any(|f| f.id == "latchkey.W016" && f.message.contains("\"corp\"")), "{f:?}");
    }

    #[test]
    fn a_proxied_preset_without_trusted_proxies_is_warned_about() {
        for preset in ["same-origin", "rest"] {
            let r = RawSettings { preset: Some(preset.into()), trusted_proxies: Vec::new(), ..prod() };
            let f = deploy_checks(&r.validate().unwrap(), Some(None));
            assert_eq!(ids(&f), ["latchkey.W010"], "{preset}: {f:?}");
            assert!(f[0].message.contains("max_connections_per_client"));
        }
        let embedded = RawSettings { preset: Some("embedded".into()), trusted_proxies: Vec::new(), ..prod() };
        assert!(!ids(&deploy_checks(&embedded.validate().unwrap(), Some(None))).contains(&"latchkey.W010"));
    }

    #[test]
    fn a_sound_https_deployment_has_no_findings() {
        assert_eq!(deploy_checks(&prod().validate().unwrap(), Some(None)), vec![]);
    }

    #[test]
    fn insecure_cookies_behind_https_are_errors() {
        let mut r = prod();
        r.session.cookie.secure = Some(false);
        r.csrf.cookie.secure = Some(false);
        let f = deploy_checks(&r.validate().unwrap(), None);
        assert!(ids(&f).contains(&"latchkey.E001") && ids(&f).contains(&"latchkey.E002"), "{f:?}");
        assert!(f.iter().all(|f| f.level == Level::Error));
    }

    #[test]
    fn missing_or_weak_secrets_are_errors() {
        let mut r = prod();
        r.secret_key = None;
        let s = r.validate().unwrap();
        assert_eq!(ids(&deploy_checks(&s, Some(None))), ["latchkey.E005"]);
        assert_eq!(ids(&deploy_checks(&s, Some(Some("short")))), ["latchkey.E006"]);
        let mut r = prod();
        r.secret_key = Some("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".into());
        assert_eq!(ids(&deploy_checks(&r.validate().unwrap(), None)), ["latchkey.E006"]);
    }

    #[test]
    fn a_public_suffix_cookie_domain_is_an_error() {
        let mut r = prod();
        r.session.cookie.domain = Some("vercel.app".into());
        r.session.cookie.host_prefix = Some(false);
        assert!(ids(&deploy_checks(&r.validate().unwrap(), None)).contains(&"latchkey.E004"));
        let mut r = prod();
        r.session.cookie.domain = Some("example.com".into());
        r.session.cookie.host_prefix = Some(false);
        assert!(!ids(&deploy_checks(&r.validate().unwrap(), None)).contains(&"latchkey.E004"));
    }

    #[test]
    fn plain_http_origins_in_an_https_deployment_are_errors() {
        let mut r = prod();
        r.allowed_origins = vec!["http://partner.example.org".into(), "http://localhost:5173".into()];
        let f = without_w015(deploy_checks(&r.validate().unwrap(), None));
        assert_eq!(ids(&f), ["latchkey.E008"], "localhost is fine: {f:?}");
    }

    #[test]
    fn cross_site_origins_with_lax_cookies_are_explained() {
        let mut r = prod();
        r.preset = Some("cross-origin".into());
        r.public_url = Some("https://api.example.com".into());
        r.allowed_origins = vec!["https://app.example.com".into(), "https://myapp.vercel.app".into()];
        let f = without_w015(deploy_checks(&r.clone().validate().unwrap(), None));
        assert_eq!(ids(&f), ["latchkey.E009"], "same site passes, the other site does not: {f:?}");
        assert!(f[0].message.contains("SameSite") || f[0].message.contains("samesite"));
        r.session.cookie.samesite = Some("None".into());
        r.csrf.cookie.samesite = Some("None".into());
        assert!(without_w015(deploy_checks(&r.validate().unwrap(), None)).is_empty());
    }

    #[test]
    fn the_tutorials_localhost_cross_origin_setup_is_same_site() {
        let r = RawSettings {
            preset: Some("cross-origin".into()),
            allowed_origins: vec!["http://localhost:5173".into()],
            ..Default::default()
        };
        assert!(!ids(&deploy_checks(&r.validate().unwrap(), None)).contains(&"latchkey.E009"));
    }

    #[test]
    fn smtp_to_a_remote_host_must_require_tls() {
        for (url, flagged) in [
            ("smtp://mail.example.com:587", true),
            ("smtp://mail.example.com:587?tls=required", false),
            ("smtps://mail.example.com", false),
            ("smtp://127.0.0.1:25", false),
            ("smtp://localhost:1025", false),
        ] {
            let mut r = prod();
            r.email.backend = Some("smtp".into());
            r.email.smtp_url = Some(url.into());
            let f = deploy_checks(&r.validate().unwrap(), None);
            assert_eq!(ids(&f).contains(&"latchkey.E010"), flagged, "{url}");
            assert!(!ids(&f).contains(&"latchkey.W011"));
        }
        let mut console = prod();
        console.email.backend = None;
        assert!(
            ids(&deploy_checks(&console.validate().unwrap(), None)).contains(&"latchkey.W011"),
            "console mail in production"
        );
    }

    #[test]
    fn open_sign_up_without_mandatory_verification_is_said_to_reveal_addresses() {
        for (mode, warned) in [("none", true), ("optional", true), ("mandatory", false)] {
            let mut r = prod();
            r.accounts.signup = Some("open".into());
            r.accounts.email_verification = Some(mode.into());
            assert_eq!(ids(&deploy_checks(&r.validate().unwrap(), None)).contains(&"latchkey.W012"), warned, "{mode}");
        }
        assert!(!ids(&deploy_checks(&prod().validate().unwrap(), None)).contains(&"latchkey.W012"), "closed sign-up");
    }

    #[test]
    fn development_defaults_give_warnings_not_errors() {
        let f = deploy_checks(
            &RawSettings::default().validate().unwrap(),
            Some(Some("k2J9x!pQ7zR4mW8vL1nB6cT3yH5gF0dS-aE")),
        );
        assert!(ids(&f).contains(&"latchkey.W001"));
        assert!(f.iter().all(|f| f.level == Level::Warning), "{f:?}");
    }

    #[test]
    fn passkey_settings_that_cannot_work_are_explained() {
        let mut r = prod();
        r.public_url = Some("https://203.0.113.7".into());
        r.allowed_hosts = Some(vec!["203.0.113.7".into()]);
        assert!(ids(&deploy_checks(&r.validate().unwrap(), None)).contains(&"latchkey.W013"));
        let mut r = prod();
        r.webauthn.rp_id = Some("example.com".into());
        r.allowed_origins = vec!["https://admin.example.com".into(), "https://partner.example.org".into()];
        let f = deploy_checks(&r.validate().unwrap(), None);
        assert!(ids(&f).contains(&"latchkey.W015"), "{f:?}");
        assert!(f.iter().any(|f| f.message.contains("https://partner.example.org")), "{f:?}");
        let mut r = prod();
        r.public_url = None;
        r.webauthn.rp_id = Some("example.com".into());
        assert!(ids(&deploy_checks(&r.validate().unwrap(), None)).contains(&"latchkey.W014"));
        assert!(
            !ids(&deploy_checks(&prod().validate().unwrap(), None)).iter().any(|id| [
                "latchkey.W013",
                "latchkey.W014",
                "latchkey.W015"
            ]
            .contains(id))
        );
    }
}
