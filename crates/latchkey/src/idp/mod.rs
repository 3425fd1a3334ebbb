//! The client side of OpenID Connect, through the `openidconnect` crate (no
//! hand-written JOSE): discovery from `{issuer}/.well-known/openid-configuration`
//! (kept for [`DISCOVERY_TTL`], read again when older or when an ID token's
//! key is unknown), the authorization URL with PKCE S256, `state` and
//! `nonce`, the RFC 9207 `iss` check, the code exchange with
//! client_secret_basic and the ID token's validation (signature against the
//! provider's JWKS, `iss`, `aud`, `azp`, `exp`, `nonce`).
//!
//! HTTP goes through hyper's client with rustls (ring, the Mozilla roots):
//! no redirects followed (a token endpoint that redirects is refused, as the
//! crate advises against SSRF), bounded time and answer size. This folder is
//! to identity providers what `mailer/` is to mail servers: the only place
//! that talks to them.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use openidconnect::{
    AdditionalProviderMetadata, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet,
    EndpointSet, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, ProviderMetadata,
    RedirectUrl, Scope, TokenResponse,
    core::{
        CoreAuthDisplay, CoreAuthenticationFlow, CoreClaimName, CoreClaimType, CoreClient, CoreClientAuthMethod,
        CoreErrorResponseType, CoreGrantType, CoreJsonWebKey, CoreJweContentEncryptionAlgorithm,
        CoreJweKeyManagementAlgorithm, CoreResponseMode, CoreResponseType, CoreSubjectIdentifierType,
    },
};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use crate::{
    crypto::{CSRF_CHARS, random_string},
    oidc::{Flow, VerifiedClaims},
    settings::OidcProvider,
};

/// How long discovery (and the keys it brings) is kept before it is read again.
pub const DISCOVERY_TTL: Duration = Duration::from_secs(3600);
/// After a failed discovery, the provider is reported unavailable for this
/// long without asking it again, so a provider that is down cannot make
/// every start wait for a timeout.
pub const FAILURE_BACKOFF: Duration = Duration::from_secs(5);
/// The longest a provider may take to answer one request.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest answer read from a provider (discovery documents and key
/// sets are a few kilobytes).
pub const MAX_ANSWER_BYTES: usize = 1 << 20;
/// Keys are read again for an unknown signing key at most this often.
const KEY_REFRESH_MIN: Duration = Duration::from_secs(60);

/// RFC 9207's metadata: whether the provider sends `iss` on the redirect back.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Rfc9207 {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    authorization_response_iss_parameter_supported: Option<bool>,
}
impl AdditionalProviderMetadata for Rfc9207 {}

type Metadata = ProviderMetadata<
    Rfc9207,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

type Client =
    CoreClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointMaybeSet, EndpointMaybeSet>;

/// What went wrong with a provider; the message is for the audit trail.
#[derive(Debug, thiserror::Error)]
pub enum IdpError {
    /// Discovery, the keys or the token endpoint could not be reached or read.
    #[error("provider unavailable: {0}")]
    Unavailable(String),
    /// The code exchange was refused or the ID token is invalid.
    #[error("{0}")]
    Token(String),
    /// The token endpoint refused this site's client (`invalid_client`,
    /// `unauthorized_client`): the settings and the provider's registration
    /// disagree, and no retry helps until an operator mends them.
    #[error("{0}")]
    Client(String),
    /// The `iss` response parameter names another issuer, or is missing
    /// where the provider promised it.
    #[error("{0}")]
    IssuerMismatch(String),
}

/// A transport failure, as the `openidconnect` crate's HTTP hook reports it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TransportError(String);

struct Discovered {
    metadata: Metadata,
    at: Instant,
}

#[derive(Default)]
struct Cache {
    discovered: Option<Arc<Discovered>>,
    failed_at: Option<Instant>,
}

type Connector = hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>;

/// The HTTP hook the `openidconnect` crate calls: a named type with a
/// boxed `Send` future, so the flows' futures stay `Send` (a closure's
/// future type would tie them to one borrow's lifetime).
struct Http(hyper_util::client::legacy::Client<Connector, http_body_util::Full<bytes::Bytes>>);

impl<'c> openidconnect::AsyncHttpClient<'c> for Http {
    type Error = TransportError;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<openidconnect::HttpResponse, TransportError>> + Send + 'c>,
    >;

    fn call(&'c self, request: openidconnect::HttpRequest) -> Self::Future {
        Box::pin(async move {
            match tokio::time::timeout(REQUEST_TIMEOUT, self.send(request)).await {
                Ok(r) => r,
                Err(_) => Err(TransportError(format!("no answer within {} s", REQUEST_TIMEOUT.as_secs()))),
            }
        })
    }
}

impl Http {
    async fn send(&self, request: openidconnect::HttpRequest) -> Result<openidconnect::HttpResponse, TransportError> {
        use http_body_util::BodyExt;
        let (parts, body) = request.into_parts();
        let request = http::Request::from_parts(parts, http_body_util::Full::new(bytes::Bytes::from(body)));
        let res = self.0.request(request).await.map_err(|e| TransportError(error_chain(&e)))?;
        let (parts, body) = res.into_parts();
        let body = http_body_util::Limited::new(body, MAX_ANSWER_BYTES)
            .collect()
            .await
            .map_err(|e| TransportError(format!("reading the answer: {e}")))?
            .to_bytes();
        Ok(http::Response::from_parts(parts, body.to_vec()))
    }
}

/// [`Http`], keeping the last answer's body: the crate's parse of a claim
/// is lenient where ours must not be.
struct Recording<'h> {
    http: &'h Http,
    last: std::sync::Mutex<Vec<u8>>,
}

impl<'c> openidconnect::AsyncHttpClient<'c> for Recording<'_> {
    type Error = TransportError;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<openidconnect::HttpResponse, TransportError>> + Send + 'c>,
    >;

    fn call(&'c self, request: openidconnect::HttpRequest) -> Self::Future {
        Box::pin(async move {
            let res = self.http.call(request).await?;
            *self.last.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = res.body().clone();
            Ok(res)
        })
    }
}

/// Whether `email_verified` is the JSON boolean `true` in `answer`: a JSON
/// object, or a JWT (an ID token, a signed UserInfo answer) whose payload
/// is one. Called on answers the crate has already verified.
fn claim_is_true(answer: &str) -> bool {
    use base64::Engine;
    let answer = answer.trim();
    let object = if answer.starts_with('{') {
        serde_json::from_str::<serde_json::Value>(answer).ok()
    } else {
        answer
            .split('.')
            .nth(1)
            .and_then(|p| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(p.trim_end_matches('=')).ok())
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
    };
    object.is_some_and(|o| o.get("email_verified") == Some(&serde_json::Value::Bool(true)))
}

/// The configured providers with their discovery caches, and one HTTP client.
pub struct IdentityProviders {
    http: Http,
    caches: Vec<(String, Mutex<Cache>)>,
}

impl std::fmt::Debug for IdentityProviders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentityProviders").field("providers", &self.caches.len()).finish_non_exhaustive()
    }
}

/// What [`IdentityProviders::probe`] found at a provider.
#[derive(Debug)]
pub struct Probe {
    /// The issuer its discovery document names.
    pub issuer: String,
    /// How many keys its key set publishes.
    pub keys: usize,
    /// Whether it sends `iss` on the way back (RFC 9207).
    pub sends_iss: bool,
    /// What its token endpoint made of this site's client id and secret.
    pub credentials: Verdict,
    /// What its authorization endpoint made of this site's client id and
    /// redirect URI.
    pub authorization: Verdict,
}

impl Probe {
    /// Whether sign-in with this provider can work, as far as a probe tells.
    pub fn usable(&self) -> bool {
        !matches!(self.credentials, Verdict::Refused(_)) && !matches!(self.authorization, Verdict::Refused(_))
    }
}

/// What an endpoint made of this site's registration.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Accepted.
    Accepted,
    /// Refused, and why: sign-in cannot work until the settings or the
    /// registration are mended.
    Refused(String),
    /// The answer did not say (as given).
    Unconfirmed(String),
}

/// A started sign-in: where to send the browser, and what to keep until
/// the callback.
#[derive(Debug)]
pub struct Authorization {
    /// The provider's authorization URL with every parameter.
    pub url: String,
    /// The state, nonce and PKCE verifier.
    pub flow: Flow,
}

impl IdentityProviders {
    /// A client for `providers`.
    ///
    /// # Errors
    /// When the TLS configuration cannot be built (never with ring's defaults).
    pub fn new(providers: &[OidcProvider]) -> Result<Self, IdpError> {
        let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| IdpError::Unavailable(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let mut connector = hyper_util::client::legacy::connect::HttpConnector::new();
        connector.enforce_http(false);
        connector.set_connect_timeout(Some(REQUEST_TIMEOUT));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(connector);
        let http = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build(https);
        let caches = providers.iter().map(|p| (p.id.clone(), Mutex::new(Cache::default()))).collect();
        Ok(Self { http: Http(http), caches })
    }
}

impl IdentityProviders {
    /// The provider's discovery, from the cache while fresh (and not
    /// `refresh`), else read again.
    async fn discover(&self, p: &OidcProvider, refresh: bool) -> Result<Arc<Discovered>, IdpError> {
        let Some((_, cache)) = self.caches.iter().find(|(id, _)| *id == p.id) else {
            return Err(IdpError::Unavailable(format!("provider {:?} is not configured", p.id)));
        };
        let mut cache = cache.lock().await;
        if let Some(d) = &cache.discovered {
            let age = d.at.elapsed();
            if age < DISCOVERY_TTL && !(refresh && age >= KEY_REFRESH_MIN) {
                return Ok(d.clone());
            }
        }
        if cache.failed_at.is_some_and(|t| t.elapsed() < FAILURE_BACKOFF) {
            return Err(IdpError::Unavailable("discovery failed moments ago".into()));
        }
        let issuer = IssuerUrl::new(p.issuer.clone()).map_err(|e| IdpError::Unavailable(e.to_string()))?;
        let discovered =
            Metadata::discover_async(issuer, &self.http).await.map_err(|e| error_chain(&e)).and_then(|m| {
                // An https issuer whose document sends codes or secrets over
                // plain http is refused, not used.
                match insecure_endpoint(&m, p.plain_http) {
                    Some(url) => Err(format!("the discovery document names a plain-http endpoint {url}")),
                    None => Ok(m),
                }
            });
        match discovered {
            Ok(metadata) => {
                let d = Arc::new(Discovered { metadata, at: Instant::now() });
                cache.discovered = Some(d.clone());
                cache.failed_at = None;
                Ok(d)
            }
            Err(e) => {
                cache.failed_at = Some(Instant::now());
                // A stale discovery beats none while the provider is down.
                match &cache.discovered {
                    Some(d) if !refresh => Ok(d.clone()),
                    _ => Err(IdpError::Unavailable(format!("discovery of {}: {e}", p.issuer))),
                }
            }
        }
    }

    fn client(p: &OidcProvider, d: &Discovered, redirect_uri: &str) -> Result<Client, IdpError> {
        let redirect = RedirectUrl::new(redirect_uri.to_owned()).map_err(|e| IdpError::Unavailable(e.to_string()))?;
        Ok(CoreClient::from_provider_metadata(
            d.metadata.clone(),
            ClientId::new(p.client_id.clone()),
            Some(ClientSecret::new(p.client_secret.expose_secret().to_owned())),
        )
        .set_redirect_uri(redirect))
    }

    /// Reaches `p` as an operator's check, as a sign-in would: discovery and
    /// the keys (read afresh by a new instance, as `latchkey check` makes;
    /// from the cache while fresh otherwise); a token request with a
    /// made-up code, which tells whether the client id and secret are
    /// accepted, since clients are authenticated before the code is looked
    /// at (RFC 6749, 5.2: `invalid_grant` then, else `invalid_client`); and
    /// an authorization request, which providers answer with an error page
    /// of their own (4xx) when the client or its redirect URI is not
    /// registered, and with a redirect to their login when it is (a page
    /// with 200 says too little: some show their login so, some an error).
    /// No user and no real code are involved.
    ///
    /// # Errors
    /// [`IdpError::Unavailable`] when discovery, the keys or an endpoint
    /// cannot be reached.
    pub async fn probe(&self, p: &OidcProvider, redirect_uri: &str) -> Result<Probe, IdpError> {
        let d = self.discover(p, false).await?;
        let client = Self::client(p, &d, redirect_uri)?;
        let (_, verifier) = PkceCodeChallenge::new_random_sha256();
        let answer = client
            .exchange_code(AuthorizationCode::new(format!("latchkey-check-{}", random_string(32, CSRF_CHARS))))
            .map_err(|e| IdpError::Unavailable(e.to_string()))?
            .set_pkce_verifier(verifier)
            .request_async(&self.http)
            .await;
        let credentials = match answer {
            Err(openidconnect::RequestTokenError::ServerResponse(r))
                if *r.error() == CoreErrorResponseType::InvalidGrant =>
            {
                Verdict::Accepted
            }
            Err(e) => match token_error(p, e) {
                IdpError::Token(why) => Verdict::Unconfirmed(why),
                IdpError::Client(why) => Verdict::Refused(why),
                e => return Err(e),
            },
            Ok(_) => Verdict::Unconfirmed("the token endpoint accepted a made-up code".into()),
        };
        let authorization = self.probe_authorization(p, redirect_uri).await?;
        Ok(Probe {
            issuer: d.metadata.issuer().to_string(),
            keys: d.metadata.jwks().keys().len(),
            sends_iss: d.metadata.additional_metadata().authorization_response_iss_parameter_supported == Some(true),
            credentials,
            authorization,
        })
    }

    async fn probe_authorization(&self, p: &OidcProvider, redirect_uri: &str) -> Result<Verdict, IdpError> {
        let url = self.authorize(p, redirect_uri, None, None).await?.url;
        let request = http::Request::get(url.as_str())
            .body(Vec::new())
            .map_err(|e| IdpError::Unavailable(format!("authorization endpoint: {e}")))?;
        let res = match tokio::time::timeout(REQUEST_TIMEOUT, self.http.send(request)).await {
            Ok(Ok(res)) => res,
            Ok(Err(e)) => return Err(IdpError::Unavailable(format!("authorization endpoint: {e}"))),
            Err(_) => return Err(IdpError::Unavailable("authorization endpoint: no answer in time".into())),
        };
        let location = res.headers().get(http::header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or("");
        Ok(authorization_verdict(res.status(), location, redirect_uri, &p.client_id))
    }

    /// Starts a sign-in at `p`: the authorization URL (code flow, PKCE S256,
    /// a fresh `state` and `nonce`) and the flow to keep.
    ///
    /// # Errors
    /// [`IdpError::Unavailable`] when discovery fails.
    pub async fn authorize(
        &self,
        p: &OidcProvider,
        redirect_uri: &str,
        next: Option<String>,
        link_user: Option<i64>,
    ) -> Result<Authorization, IdpError> {
        let d = self.discover(p, false).await?;
        let client = Self::client(p, &d, redirect_uri)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let state = random_string(43, CSRF_CHARS);
        let nonce = random_string(43, CSRF_CHARS);
        let (s, n) = (state.clone(), nonce.clone());
        let mut request = client
            .authorize_url(CoreAuthenticationFlow::AuthorizationCode, move || CsrfToken::new(s), move || Nonce::new(n))
            .set_pkce_challenge(challenge);
        for scope in p.scopes.iter().filter(|s| *s != "openid") {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let (url, _, _) = request.url();
        let flow = Flow { provider: p.id.clone(), state, nonce, verifier: verifier.secret().clone(), next, link_user };
        Ok(Authorization { url: url.to_string(), flow })
    }

    /// The RFC 9207 mix-up defence: an `iss` on the redirect back must be
    /// the provider's issuer, and one the provider promised must be there.
    ///
    /// # Errors
    /// [`IdpError::IssuerMismatch`], or [`IdpError::Unavailable`].
    pub async fn check_iss(&self, p: &OidcProvider, iss: Option<&str>) -> Result<(), IdpError> {
        let d = self.discover(p, false).await?;
        let expected = d.metadata.issuer().as_str();
        match iss {
            Some(i) if i == expected => Ok(()),
            Some(i) => Err(IdpError::IssuerMismatch(format!("iss {i:?} is not the provider's issuer {expected:?}"))),
            None if d.metadata.additional_metadata().authorization_response_iss_parameter_supported == Some(true) => {
                Err(IdpError::IssuerMismatch("the provider sends iss, and the answer had none".into()))
            }
            None => Ok(()),
        }
    }

    /// Exchanges `code` (with the flow's PKCE verifier, client_secret_basic)
    /// and validates the ID token against the flow's nonce. An ID token
    /// signed by a key the cached key set lacks reads the keys again once.
    ///
    /// # Errors
    /// [`IdpError::Token`] for a refused exchange or an invalid token,
    /// [`IdpError::Client`] when the provider refuses this site's client,
    /// [`IdpError::Unavailable`] when the provider cannot be reached.
    pub async fn exchange(
        &self,
        p: &OidcProvider,
        redirect_uri: &str,
        code: &str,
        flow: &Flow,
    ) -> Result<VerifiedClaims, IdpError> {
        let d = self.discover(p, false).await?;
        let client = Self::client(p, &d, redirect_uri)?;
        let response = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| IdpError::Unavailable(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(flow.verifier.clone()))
            .request_async(&self.http)
            .await
            .map_err(|e| token_error(p, e))?;
        let token = response.id_token().ok_or_else(|| IdpError::Token("the answer has no ID token".into()))?;
        let nonce = Nonce::new(flow.nonce.clone());
        let claims = match token.claims(&client.id_token_verifier(), &nonce) {
            Ok(c) => c.clone(),
            Err(openidconnect::ClaimsVerificationError::SignatureVerification(_)) => {
                // The provider may have rotated its keys since discovery.
                let fresh = self.discover(p, true).await?;
                let client = Self::client(p, &fresh, redirect_uri)?;
                token
                    .claims(&client.id_token_verifier(), &nonce)
                    .map_err(|e| IdpError::Token(format!("ID token: {}", error_chain(&e))))?
                    .clone()
            }
            Err(e) => return Err(IdpError::Token(format!("ID token: {}", error_chain(&e)))),
        };
        let mut out = VerifiedClaims {
            issuer: claims.issuer().as_str().to_owned(),
            subject: claims.subject().as_str().to_owned(),
            email: claims.email().map(|e| e.as_str().trim().to_owned()).filter(|e| !e.is_empty()),
            // The JSON boolean only: the crate also reads the string "true",
            // which vouches for nothing (issue 32, finding 2).
            email_verified: claims.email_verified() == Some(true) && claim_is_true(&token.to_string()),
            preferred_username: claims.preferred_username().map(|u| u.as_str().to_owned()),
            given_name: claims.given_name().and_then(|n| n.get(None)).map(|n| n.as_str().to_owned()),
            family_name: claims.family_name().and_then(|n| n.get(None)).map(|n| n.as_str().to_owned()),
        };
        // Many providers put the profile in the UserInfo answer only (OpenID
        // Connect Core 5.4 lets them); it must name the ID token's subject.
        if out.email.is_none() || out.preferred_username.is_none() {
            let request = client.user_info(response.access_token().clone(), Some(claims.subject().clone()));
            if let Ok(request) = request {
                let recording = Recording { http: &self.http, last: std::sync::Mutex::new(Vec::new()) };
                let info: openidconnect::core::CoreUserInfoClaims =
                    request.request_async(&recording).await.map_err(|e| match e {
                        openidconnect::UserInfoError::Request(e) => IdpError::Unavailable(format!("userinfo: {e}")),
                        e => IdpError::Token(format!("userinfo: {}", error_chain(&e))),
                    })?;
                if out.email.is_none() {
                    out.email = info.email().map(|e| e.as_str().trim().to_owned()).filter(|e| !e.is_empty());
                    let raw = recording.last.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
                    out.email_verified =
                        info.email_verified() == Some(true) && claim_is_true(&String::from_utf8_lossy(&raw));
                }
                if out.preferred_username.is_none() {
                    out.preferred_username = info.preferred_username().map(|u| u.as_str().to_owned());
                }
                if out.given_name.is_none() {
                    out.given_name = info.given_name().and_then(|n| n.get(None)).map(|n| n.as_str().to_owned());
                }
                if out.family_name.is_none() {
                    out.family_name = info.family_name().and_then(|n| n.get(None)).map(|n| n.as_str().to_owned());
                }
            }
        }
        out.email_verified &= out.email.is_some();
        Ok(out)
    }
}

/// The first endpoint of `m` that is not https, unless the issuer itself
/// is plain http (a loopback provider in development).
fn insecure_endpoint(m: &Metadata, plain_http_issuer: bool) -> Option<String> {
    if plain_http_issuer {
        return None;
    }
    let urls = [
        Some(m.authorization_endpoint().as_str()),
        m.token_endpoint().map(|u| u.as_str()),
        Some(m.jwks_uri().as_str()),
        m.userinfo_endpoint().map(|u| u.as_str()),
    ];
    urls.into_iter().flatten().find(|u| !u.starts_with("https://")).map(str::to_owned)
}

/// What an authorization endpoint's answer to a probe says about the
/// client and its redirect URI.
fn authorization_verdict(status: http::StatusCode, location: &str, redirect_uri: &str, client_id: &str) -> Verdict {
    // A redirect back to us carries the provider's error, if any
    // (invalid_scope, unauthorized_client…); elsewhere, its login.
    if status.is_redirection() && location.starts_with(redirect_uri) {
        let error = openidconnect::url::Url::parse(location)
            .ok()
            .and_then(|u| u.query_pairs().find(|(k, _)| k == "error").map(|(_, v)| v.into_owned()));
        return match error {
            Some(e) => Verdict::Refused(format!("the authorization endpoint answered {e:?}")),
            None => Verdict::Accepted,
        };
    }
    if status.is_client_error() {
        Verdict::Refused(format!(
            "the authorization endpoint refused it (HTTP {}): is {redirect_uri} registered for the client {client_id:?}?",
            status.as_u16()
        ))
    } else if status.is_redirection() {
        Verdict::Accepted
    } else if status.is_success() {
        // Most providers show their login this way; a few show errors so.
        Verdict::Unconfirmed(format!(
            "the authorization endpoint answered with a page (HTTP {}), its login or an error of its own",
            status.as_u16()
        ))
    } else {
        Verdict::Unconfirmed(format!("the authorization endpoint answered HTTP {}", status.as_u16()))
    }
}

type TokenRequestError =
    openidconnect::RequestTokenError<TransportError, openidconnect::StandardErrorResponse<CoreErrorResponseType>>;

/// A refused code exchange, sorted: the provider unreachable, this site's
/// client refused (only an operator can mend that), or the code or token.
fn token_error(p: &OidcProvider, e: TokenRequestError) -> IdpError {
    match e {
        openidconnect::RequestTokenError::Request(e) => IdpError::Unavailable(format!("token endpoint: {e}")),
        openidconnect::RequestTokenError::ServerResponse(r)
            if matches!(
                r.error(),
                CoreErrorResponseType::InvalidClient | CoreErrorResponseType::UnauthorizedClient
            ) =>
        {
            IdpError::Client(format!(
                "the token endpoint refused the client {:?} ({}): check client_id and client_secret against the provider's registration",
                p.client_id,
                r.error()
            ))
        }
        e => IdpError::Token(format!("code exchange refused: {}", error_chain(&e))),
    }
}

/// An error and its sources, one line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_json_boolean_true_vouches_for_an_address() {
        use base64::Engine;
        let jwt = |payload: &str| {
            let enc = base64::engine::general_purpose::URL_SAFE_NO_PAD;
            format!("{}.{}.sig", enc.encode(r#"{"alg":"RS256"}"#), enc.encode(payload))
        };
        assert!(claim_is_true(r#"{"email_verified": true}"#));
        assert!(claim_is_true(&jwt(r#"{"sub":"a","email_verified":true}"#)));
        for no in
            [r#"{"email_verified": "true"}"#, r#"{"email_verified": 1}"#, r#"{"email_verified": false}"#, "{}", "junk"]
        {
            assert!(!claim_is_true(no), "{no}");
            assert!(!claim_is_true(&jwt(no)), "{no} in a JWT");
        }
    }

    #[test]
    fn a_probe_reads_the_authorization_endpoints_answer_as_providers_give_it() {
        let ours = "https://app.example.com/api/oidc/corp/callback/";
        let verdict = |status: u16, location: &str| {
            authorization_verdict(http::StatusCode::from_u16(status).unwrap(), location, ours, "latchkey")
        };
        assert_eq!(verdict(302, "https://login.example.com/interaction/abc"), Verdict::Accepted);
        assert_eq!(
            verdict(303, &format!("{ours}?code=x&state=y")),
            Verdict::Accepted,
            "an existing login at the provider"
        );
        let back = verdict(302, &format!("{ours}?error=invalid_scope&state=y"));
        assert_eq!(back, Verdict::Refused("the authorization endpoint answered \"invalid_scope\"".into()));
        let Verdict::Refused(why) = verdict(400, "") else { panic!("a 400 is a refusal") };
        assert!(why.contains("HTTP 400") && why.contains(ours) && why.contains("\"latchkey\""), "{why}");
        assert!(matches!(verdict(200, ""), Verdict::Unconfirmed(_)), "a page says too little");
        assert!(matches!(verdict(500, ""), Verdict::Unconfirmed(_)));
    }

    fn metadata(token: &str) -> Metadata {
        serde_json::from_value(serde_json::json!({
            "issuer": "https://login.example.com",
            "authorization_endpoint": "https://login.example.com/auth",
            "token_endpoint": token,
            "jwks_uri": "https://login.example.com/jwks",
            "userinfo_endpoint": "https://login.example.com/me",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "authorization_response_iss_parameter_supported": true,
        }))
        .unwrap()
    }

    #[test]
    fn an_https_issuer_may_not_send_codes_or_secrets_to_a_plain_http_endpoint() {
        assert_eq!(insecure_endpoint(&metadata("https://login.example.com/token"), false), None);
        assert_eq!(
            insecure_endpoint(&metadata("http://login.example.com/token"), false).as_deref(),
            Some("http://login.example.com/token")
        );
        assert_eq!(insecure_endpoint(&metadata("http://127.0.0.1:9/token"), true), None, "a loopback dev issuer");
        assert_eq!(
            metadata("https://x/token").additional_metadata().authorization_response_iss_parameter_supported,
            Some(true),
            "RFC 9207's flag is read from discovery"
        );
    }
}
