//! `[webauthn]` and `[mfa]`: who the passkeys belong to (the relying party)
//! and the second-factor policy.

use serde::Deserialize;

use super::SettingsError;
use crate::origin::Origin;

/// The relying-party id when there is no `public_url`: browsers treat
/// `localhost` as a secure context, so passkeys work in development.
pub const WEBAUTHN_RP_ID: &str = "localhost";
/// The name authenticators show beside the account.
pub const WEBAUTHN_RP_NAME: &str = "Latchkey";
/// Staff may sign in with a password alone by default (Django's behaviour).
pub const MFA_REQUIRED_FOR_STAFF: bool = false;

/// The relying party of WebAuthn ceremonies, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebauthnSettings {
    /// The domain credentials are bound to (never an IP address, never a port).
    pub rp_id: String,
    /// Shown by authenticators.
    pub rp_name: String,
    /// The origins whose pages may run a ceremony: `public_url` and the
    /// `allowed_origins` on `rp_id` or below it.
    pub origins: Vec<Origin>,
    /// Without a `public_url` (or with an IP address there), any port of
    /// `http(s)://localhost`: a development server's port is not known in
    /// advance.
    pub any_localhost_port: bool,
    /// `allowed_origins` that cannot use passkeys (another domain than
    /// `rp_id`): reported by `check`, never accepted in a ceremony.
    pub ignored_origins: Vec<Origin>,
}

/// `[webauthn]` as read.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawWebauthn {
    /// See [`WebauthnSettings::rp_id`].
    pub rp_id: Option<String>,
    /// See [`WebauthnSettings::rp_name`].
    pub rp_name: Option<String>,
}

/// `[mfa]` as read.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawMfa {
    /// See `Settings::mfa_required_for_staff`.
    pub required_for_staff: Option<bool>,
}

/// Whether `host` is `rp_id` or a subdomain of it (the WebAuthn rule for
/// which pages may use an RP id).
pub fn host_within(host: &str, rp_id: &str) -> bool {
    host == rp_id || host.strip_suffix(rp_id).is_some_and(|rest| rest.ends_with('.'))
}

fn is_ip(host: &str) -> bool {
    host.trim_start_matches('[').trim_end_matches(']').parse::<std::net::IpAddr>().is_ok()
}

impl RawWebauthn {
    /// Validates against the origins the site is served from.
    ///
    /// # Errors
    /// An RP id that is an IP address, not a domain, or that the public URL's
    /// host does not belong to.
    pub fn validate(
        &self,
        public_url: Option<&Origin>,
        allowed_origins: &[Origin],
    ) -> Result<WebauthnSettings, SettingsError> {
        let rp_id = match (self.rp_id.as_deref().map(str::trim).filter(|s| !s.is_empty()), public_url) {
            (Some(id), _) => {
                let id = id.to_ascii_lowercase();
                if is_ip(&id) {
                    return Err(SettingsError::invalid(
                        "webauthn.rp_id",
                        format!("{id:?} is an IP address; an RP id must be a domain (use localhost for development)"),
                    ));
                }
                if id.contains(['/', ':', '*']) || id.starts_with('.') || id.ends_with('.') {
                    return Err(SettingsError::invalid(
                        "webauthn.rp_id",
                        format!("{id:?} is not a domain; write the host alone, e.g. example.com"),
                    ));
                }
                id
            }
            (None, Some(u)) if !is_ip(u.host()) => u.host().to_owned(),
            // An IP address cannot be an RP id: passkeys work only when the
            // site is opened as localhost (a secure context) until an rp_id
            // or a public_url with a domain is set; `check` says so.
            _ => WEBAUTHN_RP_ID.to_owned(),
        };
        let mut origins = Vec::new();
        // An IP-address public_url cannot use any RP id; `check` says so.
        if let Some(u) = public_url.filter(|u| !is_ip(u.host())) {
            if !host_within(u.host(), &rp_id) {
                return Err(SettingsError::invalid(
                    "webauthn.rp_id",
                    format!("{rp_id:?} does not cover public_url {u}; use its host or a parent domain of it"),
                ));
            }
            origins.push(u.clone());
        }
        let mut ignored_origins = Vec::new();
        for o in allowed_origins {
            if host_within(o.host(), &rp_id) {
                if !origins.contains(o) {
                    origins.push(o.clone());
                }
            } else {
                ignored_origins.push(o.clone());
            }
        }
        let rp_name = self.rp_name.clone().filter(|n| !n.trim().is_empty()).unwrap_or_else(|| WEBAUTHN_RP_NAME.into());
        let any_localhost_port = public_url.is_none_or(|u| is_ip(u.host())) && rp_id == WEBAUTHN_RP_ID;
        Ok(WebauthnSettings { any_localhost_port, rp_id, rp_name, origins, ignored_origins })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o(s: &str) -> Origin {
        Origin::parse(s).unwrap()
    }

    fn raw(rp_id: Option<&str>) -> RawWebauthn {
        RawWebauthn { rp_id: rp_id.map(Into::into), rp_name: None }
    }

    #[test]
    fn the_rp_id_defaults_to_the_public_url_host_else_localhost_with_any_port() {
        let w = raw(None).validate(Some(&o("https://app.example.com")), &[]).unwrap();
        assert_eq!(
            (w.rp_id.as_str(), w.origins.clone(), w.any_localhost_port),
            ("app.example.com", vec![o("https://app.example.com")], false)
        );
        let w = raw(None).validate(None, &[o("http://localhost:5173")]).unwrap();
        assert_eq!(
            (w.rp_id.as_str(), w.origins.clone(), w.any_localhost_port),
            ("localhost", vec![o("http://localhost:5173")], true)
        );
        let w = raw(None).validate(Some(&o("http://127.0.0.1:8000")), &[]).unwrap();
        assert_eq!(w.rp_id, "localhost", "an IP host cannot be the RP id");
        assert_eq!(w.rp_name, WEBAUTHN_RP_NAME);
    }

    #[test]
    fn an_ip_address_or_a_url_is_refused_as_rp_id() {
        for bad in ["127.0.0.1", "[::1]", "::1", "https://example.com", "example.com:443", ".example.com"] {
            let e = raw(Some(bad)).validate(None, &[]).unwrap_err();
            assert_eq!(e.key, "webauthn.rp_id", "{bad}");
        }
    }

    #[test]
    fn the_public_url_must_be_within_the_rp_id_and_foreign_origins_are_set_aside() {
        let e = raw(Some("example.com")).validate(Some(&o("https://app.notexample.com")), &[]).unwrap_err();
        assert!(e.message.contains("does not cover"), "{e}");
        let w = raw(Some("example.com"))
            .validate(
                Some(&o("https://app.example.com")),
                &[o("https://admin.example.com"), o("https://evil.com"), o("https://badexample.com")],
            )
            .unwrap();
        assert_eq!(w.origins, vec![o("https://app.example.com"), o("https://admin.example.com")]);
        assert_eq!(w.ignored_origins, vec![o("https://evil.com"), o("https://badexample.com")]);
    }
}
