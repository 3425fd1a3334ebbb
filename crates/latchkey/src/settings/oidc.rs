//! `[[oidc.providers]]`: the OpenID Connect providers users may sign in
//! with (company SSO, Google-like identity providers).

use std::{fmt, path::PathBuf};

use secrecy::SecretString;
use serde::Deserialize;

use super::SettingsError;
use crate::origin::Origin;

/// The scopes asked for when a provider lists none: the ID token's `sub`,
/// the address and the profile (for the new account's username).
pub const OIDC_SCOPES: &[&str] = &["openid", "email", "profile"];
/// A new identity is linked to a local account with the same address only
/// when this is turned on (and both sides say the address is verified).
pub const OIDC_LINK_BY_VERIFIED_EMAIL: bool = false;

/// One provider, validated.
#[derive(Clone)]
pub struct OidcProvider {
    /// URL-safe, unique: in the routes and the redirect URI.
    pub id: String,
    /// The button's text.
    pub name: String,
    /// The issuer; discovery reads `{issuer}/.well-known/openid-configuration`.
    pub issuer: String,
    /// The client id registered at the provider.
    pub client_id: String,
    /// The client secret (client_secret_basic). Never printed.
    pub client_secret: SecretString,
    /// Where the secret was read from, when not from the config file itself.
    pub client_secret_file: Option<PathBuf>,
    /// Asked for at the provider; always includes `openid`.
    pub scopes: Vec<String>,
    /// Create an account for an unknown identity (when no local account has
    /// its address); `None` follows `accounts.signup`.
    pub auto_signup: Option<bool>,
    /// See [`OIDC_LINK_BY_VERIFIED_EMAIL`].
    pub link_by_verified_email: bool,
    /// `http://` on a loopback host (development and tests); `check --deploy` warns.
    pub plain_http: bool,
}

impl fmt::Debug for OidcProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OidcProvider")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .field("client_secret_file", &self.client_secret_file)
            .field("scopes", &self.scopes)
            .field("auto_signup", &self.auto_signup)
            .field("link_by_verified_email", &self.link_by_verified_email)
            .finish()
    }
}

/// `[oidc]` as read.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawOidc {
    /// `[[oidc.providers]]`.
    pub providers: Vec<RawOidcProvider>,
}

/// One `[[oidc.providers]]` table as read.
#[derive(Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawOidcProvider {
    /// See [`OidcProvider::id`].
    pub id: String,
    /// See [`OidcProvider::name`].
    pub name: Option<String>,
    /// See [`OidcProvider::issuer`].
    pub issuer: String,
    /// See [`OidcProvider::client_id`].
    pub client_id: String,
    /// See [`OidcProvider::client_secret`].
    pub client_secret: String,
    /// A file holding the secret instead (systemd credentials, Docker and
    /// Kubernetes secrets); relative to the working directory.
    pub client_secret_file: Option<PathBuf>,
    /// See [`OidcProvider::scopes`].
    pub scopes: Option<Vec<String>>,
    /// See [`OidcProvider::auto_signup`].
    pub auto_signup: Option<bool>,
    /// See [`OidcProvider::link_by_verified_email`].
    pub link_by_verified_email: Option<bool>,
}

impl fmt::Debug for RawOidcProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawOidcProvider").field("id", &self.id).field("issuer", &self.issuer).finish_non_exhaustive()
    }
}

fn is_loopback(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h == "localhost" || h.ends_with(".localhost") || h.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

impl super::Settings {
    /// The redirect URI of provider `id`, to register at the provider:
    /// `{public_url}/api/oidc/{id}/callback/` (validation requires
    /// `public_url` once any provider is configured).
    pub fn oidc_redirect_uri(&self, id: &str) -> String {
        let base = self.public_url.as_ref().map(ToString::to_string).unwrap_or_default();
        format!("{base}/api/oidc/{id}/callback/")
    }
}

/// The secret in `path`: the whole file but its trailing line break (files
/// written by `echo` or editors end in one; a secret never does).
fn read_secret_file(path: &std::path::Path) -> Result<String, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{} cannot be read: {e}", path.display()))?;
    let secret = text.trim_end_matches(['\n', '\r']);
    if secret.trim().is_empty() {
        return Err(format!("{} is empty", path.display()));
    }
    if secret.contains(['\n', '\r']) {
        return Err(format!("{} holds more than one line; it must hold the secret only", path.display()));
    }
    Ok(secret.to_owned())
}

impl RawOidc {
    /// Validates every provider.
    ///
    /// # Errors
    /// A provider without an id, issuer or client, a duplicate id, an issuer
    /// that is not `https://` (plain http only on loopback hosts), scopes
    /// without `openid`, or providers without a `public_url` (the redirect
    /// URI is never built from a request's `Host`).
    pub fn validate(self, public_url: Option<&Origin>) -> Result<Vec<OidcProvider>, SettingsError> {
        let mut out: Vec<OidcProvider> = Vec::new();
        for (i, p) in self.providers.into_iter().enumerate() {
            let key = |field: &str| format!("oidc.providers[{i}].{field}");
            let bad = |field: &str, msg: String| SettingsError { key: key(field), message: msg };
            let id = p.id.trim().to_owned();
            if id.is_empty()
                || id.len() > 32
                || !id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
            {
                return Err(bad(
                    "id",
                    format!("{id:?} must be 1-32 of a-z, 0-9, - and _ (it is part of the redirect URI)"),
                ));
            }
            if out.iter().any(|o| o.id == id) {
                return Err(bad("id", format!("{id:?} is used by two providers")));
            }
            let issuer = p.issuer.trim().trim_end_matches('/').to_owned();
            let plain_http = match issuer.split_once("://") {
                Some(("https", rest)) if !rest.is_empty() => false,
                Some(("http", rest)) => {
                    let host = Origin::parse(&format!("http://{}", rest.split('/').next().unwrap_or(""))).ok();
                    if !host.as_ref().is_some_and(|o| is_loopback(o.host())) {
                        return Err(bad(
                            "issuer",
                            format!(
                                "{issuer:?} must be https:// (plain http only for localhost or 127.0.0.1 in development)"
                            ),
                        ));
                    }
                    true
                }
                _ => return Err(bad("issuer", format!("{issuer:?} is not an https:// URL"))),
            };
            if issuer.contains(['?', '#']) {
                return Err(bad("issuer", format!("{issuer:?} must not have a query or fragment")));
            }
            if p.client_id.trim().is_empty() {
                return Err(bad("client_id", "is required (the id the provider gave this site)".into()));
            }
            let client_secret = match (p.client_secret.is_empty(), &p.client_secret_file) {
                (true, None) => {
                    return Err(bad(
                        "client_secret",
                        "is required (sent with client_secret_basic), or client_secret_file naming a file that holds it"
                            .into(),
                    ));
                }
                (false, Some(_)) => {
                    return Err(bad("client_secret_file", "and client_secret are both set; keep one".into()));
                }
                (false, None) => p.client_secret,
                (true, Some(path)) => read_secret_file(path).map_err(|m| bad("client_secret_file", m))?,
            };
            let scopes = match p.scopes {
                Some(s) => s.iter().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect::<Vec<_>>(),
                None => OIDC_SCOPES.iter().map(|s| (*s).to_owned()).collect(),
            };
            if !scopes.iter().any(|s| s == "openid") {
                return Err(bad("scopes", format!("{scopes:?} must include \"openid\"")));
            }
            if let Some(s) = scopes.iter().find(|s| s.contains(|c: char| c.is_whitespace() || c.is_control())) {
                return Err(bad("scopes", format!("{s:?} is not one scope")));
            }
            let name = p.name.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty()).unwrap_or_else(|| id.clone());
            out.push(OidcProvider {
                id,
                name,
                issuer,
                client_id: p.client_id.trim().to_owned(),
                client_secret: SecretString::from(client_secret),
                client_secret_file: p.client_secret_file,
                scopes,
                auto_signup: p.auto_signup,
                link_by_verified_email: p.link_by_verified_email.unwrap_or(OIDC_LINK_BY_VERIFIED_EMAIL),
                plain_http,
            });
        }
        if !out.is_empty() && public_url.is_none() {
            return Err(SettingsError {
                key: "public_url".into(),
                message: "is required when oidc.providers are configured: the redirect URI registered at the provider is {public_url}/api/oidc/{id}/callback/, never built from a request's Host".into(),
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    fn provider(id: &str, issuer: &str) -> RawOidcProvider {
        RawOidcProvider {
            id: id.into(),
            issuer: issuer.into(),
            client_id: "client".into(),
            client_secret: "s3cret".into(),
            ..RawOidcProvider::default()
        }
    }

    fn validate(providers: Vec<RawOidcProvider>) -> Result<Vec<OidcProvider>, SettingsError> {
        RawOidc { providers }.validate(Some(&Origin::parse("https://app.example.com").unwrap()))
    }

    #[test]
    fn a_provider_gets_the_documented_defaults_and_its_secret_is_never_printed() {
        let p = validate(vec![provider("corp", "https://login.example.com/")]).unwrap().remove(0);
        assert_eq!((p.name.as_str(), p.issuer.as_str()), ("corp", "https://login.example.com"));
        assert_eq!(p.scopes, ["openid", "email", "profile"]);
        assert_eq!((p.auto_signup, p.link_by_verified_email, p.plain_http), (None, false, false));
        assert_eq!(p.client_secret.expose_secret(), "s3cret");
        assert!(!format!("{p:?}").contains("s3cret"));
        assert!(!format!("{:?}", provider("x", "https://a.example")).contains("s3cret"));
        assert!(validate(vec![]).unwrap().is_empty());
    }

    #[test]
    fn issuers_must_be_https_except_on_loopback_hosts() {
        for ok in ["http://127.0.0.1:9000", "http://localhost:9000/realms/x", "http://[::1]:1"] {
            assert!(validate(vec![provider("a", ok)]).unwrap()[0].plain_http, "{ok}");
        }
        for bad in ["http://login.example.com", "ftp://x", "login.example.com", "https://", "https://x/?a=1"] {
            let e = validate(vec![provider("a", bad)]).unwrap_err();
            assert_eq!(e.key, "oidc.providers[0].issuer", "{bad}");
        }
    }

    #[test]
    fn ids_are_url_safe_and_unique_and_openid_is_always_asked_for() {
        for bad in ["", "Corp", "a/b", "a b", &"x".repeat(33)] {
            assert_eq!(validate(vec![provider(bad, "https://a.example")]).unwrap_err().key, "oidc.providers[0].id");
        }
        let e = validate(vec![provider("a", "https://a.example"), provider("a", "https://b.example")]).unwrap_err();
        assert_eq!(e.key, "oidc.providers[1].id");
        let mut p = provider("a", "https://a.example");
        p.scopes = Some(vec!["email".into()]);
        assert_eq!(validate(vec![p]).unwrap_err().key, "oidc.providers[0].scopes");
        let mut p = provider("a", "https://a.example");
        p.client_secret = String::new();
        assert_eq!(validate(vec![p]).unwrap_err().key, "oidc.providers[0].client_secret");
    }

    #[test]
    fn the_secret_may_come_from_a_file_and_exactly_one_source_is_given() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, "fr0m-a-file\n").unwrap();
        let mut p = provider("a", "https://a.example");
        p.client_secret = String::new();
        p.client_secret_file = Some(path.clone());
        let v = validate(vec![p.clone()]).unwrap().remove(0);
        assert_eq!(v.client_secret.expose_secret(), "fr0m-a-file");
        assert_eq!(v.client_secret_file.as_deref(), Some(path.as_path()));
        assert!(!format!("{v:?}").contains("fr0m-a-file"));

        let mut both = p.clone();
        both.client_secret = "inline".into();
        assert_eq!(validate(vec![both]).unwrap_err().key, "oidc.providers[0].client_secret_file");
        for (content, words) in [("\n", "is empty"), ("two\nlines\n", "more than one line")] {
            std::fs::write(&path, content).unwrap();
            let e = validate(vec![p.clone()]).unwrap_err();
            assert_eq!(e.key, "oidc.providers[0].client_secret_file");
            assert!(e.message.contains(words), "{e:?}");
        }
        p.client_secret_file = Some(dir.path().join("missing"));
        let e = validate(vec![p]).unwrap_err();
        assert!(e.message.contains("missing") && e.message.contains("cannot be read"), "{e:?}");
    }

    #[test]
    fn providers_need_a_public_url() {
        let e = RawOidc { providers: vec![provider("a", "https://a.example")] }.validate(None).unwrap_err();
        assert_eq!(e.key, "public_url");
        assert!(RawOidc::default().validate(None).unwrap().is_empty());
    }
}
