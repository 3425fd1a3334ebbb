//! Signing in with an OpenID Connect provider, linking and unlinking.
//!
//! A start keeps its `state`, `nonce` and PKCE verifier in a record of its
//! own in the session store (any backend, so several instances share it),
//! reachable only through a random key in the browser's flow cookie; the
//! callback takes the record out (deleting it: of two uses, one wins), so a
//! replayed callback URL, or one opened in a browser that did not start the
//! flow, signs nobody in. Every way out of a callback is a redirect to the
//! SPA: signed in (or at the second-factor step) on `next`, or
//! `?loginError=<code>` with the reason in the audit trail.

use std::sync::Arc;

use crate::{
    audit::AuditEvent,
    auth::AuthError,
    oidc::{Failure, Identity, IdentityStore},
    session::{ClientInfo, Session},
    settings::{CookieSettings, OidcProvider, SameSite},
    state::{Core, Mailing, SessionAuth},
    users::User,
};
#[cfg(feature = "oidc")]
use crate::{
    crypto::constant_time_eq,
    csrf::CsrfToken,
    oidc::{FLOW_TTL, Flow, NewIdentity, STARTS_PER_CLIENT, VerifiedClaims, base_username, profile_name},
    session::{SessionStore, Slot},
    settings::Signup,
    state::{Outcome, Proof, SignIn, Target, WayIn},
    throttle::{ThrottleStore, Throttled, client_key},
    users::{Email, NewUser, UserStore, UserStoreError, Username, admin::MAX_NAME_CHARS},
};

/// A flow record: a short-lived anonymous record of its own, held by the
/// flow cookie (never the browser's session, which a sign-in replaces).
#[cfg(feature = "oidc")]
const FLOW: Slot<Flow> = Slot::new("oidc_flow", FLOW_TTL);

/// Signing in with a provider, linking and unlinking: what they touch.
#[derive(Clone)]
pub struct Oidc {
    pub(super) core: Core,
    #[cfg(feature = "oidc")]
    pub(super) users: Arc<dyn UserStore>,
    pub(super) identities: Arc<dyn IdentityStore>,
    /// Flow records are short-lived records of the session store.
    #[cfg(feature = "oidc")]
    pub(super) flows: Arc<dyn SessionStore>,
    pub(super) sessions: SessionAuth,
    /// Unlinking must leave a way in: a passkey counts.
    pub(super) mfa: Arc<dyn crate::mfa::MfaStore>,
    /// The notice when links are dropped.
    pub(super) mail: Mailing,
    #[cfg(feature = "oidc")]
    pub(super) throttle: Arc<dyn ThrottleStore>,
    #[cfg(feature = "oidc")]
    pub(super) idp: Arc<crate::idp::IdentityProviders>,
    /// A provider's redirect back is a way in.
    #[cfg(feature = "oidc")]
    pub(super) sign_in: SignIn,
}

/// A started flow: where to send the browser, and the flow cookie's value.
#[derive(Debug)]
pub struct OidcStarted {
    /// The provider's authorization URL.
    pub location: String,
    /// The key of the flow record, for the flow cookie.
    pub flow_key: String,
}

/// What the callback's query carries.
#[derive(Debug, Default, Clone)]
pub struct CallbackParams {
    /// `code`.
    pub code: Option<String>,
    /// `state`.
    pub state: Option<String>,
    /// `error`.
    pub error: Option<String>,
    /// `error_description`.
    pub error_description: Option<String>,
    /// `iss` (RFC 9207).
    pub iss: Option<String>,
}

/// Why linking or unlinking was refused.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// No provider has that id.
    #[error("unknown provider")]
    UnknownProvider,
    /// No identity of this user has that id.
    #[error("identity not found")]
    IdentityNotFound,
    /// Unlinking would leave the account no way to sign in.
    #[error("last way to sign in")]
    LastSignInMethod,
    /// A start that failed before leaving for the provider.
    #[error("{0}")]
    Failed(Failure),
    /// Throttled starts.
    #[error("too many requests")]
    Throttled(crate::throttle::Throttled),
    /// Anything else of authentication (re-authentication, stores).
    #[error(transparent)]
    Auth(#[from] AuthError),
}

impl From<crate::error::StoreError> for OidcError {
    fn from(e: crate::error::StoreError) -> Self {
        OidcError::Auth(e.into())
    }
}

impl Oidc {
    /// The configured providers, in the settings' order.
    pub fn providers(&self) -> &[OidcProvider] {
        &self.core.settings().oidc_providers
    }

    /// The provider with this id.
    pub fn provider(&self, id: &str) -> Option<&OidcProvider> {
        self.providers().iter().find(|p| p.id == id)
    }

    /// The flow cookie: HttpOnly, the session cookie's `Secure` and prefix,
    /// [`crate::oidc::FLOW_TTL`], sent only to `/api/oidc/` (a `__Host-`
    /// cookie must have `Path=/`), and SameSite=Lax (None where the session
    /// cookie is None): it must come back on the provider's cross-site
    /// redirect, which a Strict cookie would not.
    pub fn flow_cookie(&self) -> CookieSettings {
        let session = &self.core.settings().session.cookie;
        let host_only = session.name.starts_with("__Host-");
        CookieSettings {
            name: format!("{}latchkey_oidc", if host_only { "__Host-" } else { "" }),
            age: Some(std::time::Duration::from_secs(600)),
            domain: None,
            path: if host_only { crate::settings::COOKIE_PATH.into() } else { "/api/oidc/".into() },
            secure: session.secure,
            http_only: true,
            same_site: if session.same_site == SameSite::None { SameSite::None } else { SameSite::Lax },
        }
    }

    /// The identities of `user`, oldest first.
    ///
    /// # Errors
    /// Store failures.
    pub async fn identities_of(&self, user: &User) -> Result<Vec<Identity>, OidcError> {
        Ok(self.identities.list(user.id).await?)
    }

    /// Unlinks identity `id` of the user signed in on `session` (a recent
    /// authentication required), unless it is their last way to sign in:
    /// no usable password, no passkey and no other identity.
    ///
    /// # Errors
    /// [`OidcError::IdentityNotFound`], [`OidcError::LastSignInMethod`],
    /// [`AuthError::ReauthenticationRequired`], or a store failure.
    pub async fn unlink_identity(
        &self,
        session: &Session,
        user: &User,
        id: i64,
        client: &ClientInfo,
    ) -> Result<(), OidcError> {
        self.sessions.require_recent_authentication(session).await?;
        let identities = self.identities.list(user.id).await?;
        let Some(identity) = identities.iter().find(|i| i.id == id) else {
            return Err(OidcError::IdentityNotFound);
        };
        let password = !user.password_hash.is_empty() && !user.password_hash.starts_with('!');
        let passkeys = !self.mfa.webauthn_credentials(user.id).await?.is_empty();
        if !password && !passkeys && identities.len() == 1 {
            return Err(OidcError::LastSignInMethod);
        }
        if !self.identities.unlink(user.id, id).await? {
            return Err(OidcError::IdentityNotFound);
        }
        self.core
            .audit(
                AuditEvent::new(self.core.clock().now(), "oidc_unlinked")
                    .username(&user.username)
                    .user_id(user.id)
                    .client(client.ip)
                    .detail(format!("{} ({})", identity.provider, identity.email)),
            )
            .await;
        Ok(())
    }
}

impl Oidc {
    /// The account's address has just been proved through a mailed link or
    /// a reset, after being unverified: every identity linked meanwhile is
    /// unlinked, since whoever linked it need not own the address (a
    /// provider that does not vouch for addresses lets anyone claim one),
    /// and the owner is told at the address just proved. Returns how many.
    ///
    /// # Errors
    /// Store failures.
    pub(super) async fn unlink_unproved(&self, user: &User, how: &str) -> Result<usize, AuthError> {
        let identities = self.identities.list(user.id).await?;
        let mut providers = Vec::new();
        for identity in identities {
            if self.identities.unlink(user.id, identity.id).await? {
                self.core
                    .audit(
                        AuditEvent::new(self.core.clock().now(), "oidc_unlinked")
                            .username(&user.username)
                            .user_id(user.id)
                            .detail(format!(
                                "{} ({}): linked while the address was unverified; proved {how}",
                                identity.provider, identity.email
                            )),
                    )
                    .await;
                providers.push(identity.provider);
            }
        }
        if !providers.is_empty() && !user.email.is_empty() {
            let notice = crate::mail::identities_unlinked_notice(&user.email, &user.username, &providers);
            self.mail.enqueue(crate::mail::Job::Mail(notice)).await?;
        }
        Ok(providers.len())
    }
}

#[cfg(feature = "oidc")]
impl Oidc {
    /// Where the browser lands after a callback: `path` on the SPA's origin.
    fn on_frontend(&self, path: &str) -> String {
        format!("{}{path}", self.core.settings().accounts.frontend_url)
    }

    /// Starts a sign-in (or, with `link_user`, linking from the Account
    /// page, the caller having checked the recent authentication) at
    /// provider `id`. Anonymous starts are counted per client before
    /// anything is stored. `next` is kept only if [`crate::oidc::safe_next`]
    /// accepts it.
    ///
    /// # Errors
    /// [`OidcError::UnknownProvider`], [`OidcError::Throttled`],
    /// [`OidcError::Failed`] (`provider_unavailable`), or a store failure.
    pub async fn start(
        &self,
        id: &str,
        next: Option<&str>,
        link_user: Option<&User>,
        client: &ClientInfo,
    ) -> Result<OidcStarted, OidcError> {
        let provider = self.provider(id).ok_or(OidcError::UnknownProvider)?;
        if link_user.is_none() {
            self.count_oidc_start(client).await?;
        }
        let next = next.and_then(crate::oidc::safe_next);
        let started = self
            .idp
            .authorize(provider, &self.core.settings().oidc_redirect_uri(id), next, link_user.map(|u| u.id))
            .await;
        let authorization = match started {
            Ok(a) => a,
            Err(e) => {
                self.core.audit(self.oidc_event("oidc_failed", client, link_user).detail(format!("{id}: {e}"))).await;
                return Err(OidcError::Failed(Failure::ProviderUnavailable));
            }
        };
        let key = FLOW.put_record(self.flows.as_ref(), self.core.clock().now(), client, &authorization.flow).await?;
        Ok(OidcStarted { location: authorization.url, flow_key: key.expose().to_owned() })
    }

    /// Counts an anonymous start of `client`; [`OidcError::Throttled`] past
    /// [`STARTS_PER_CLIENT`] per throttle window (a store failure stays one).
    async fn count_oidc_start(&self, client: &ClientInfo) -> Result<(), OidcError> {
        let policy = &self.core.settings().throttle;
        if !policy.enabled {
            return Ok(());
        }
        let now = self.core.clock().now();
        let key = format!("oidc:ip:{}", client_key(client.ip));
        let c = self.throttle.record_failure(&key, now, policy.window).await?;
        if c.failures > STARTS_PER_CLIENT {
            let retry_after = (c.window_start + policy.window - now).max(time::Duration::SECOND);
            return Err(OidcError::Throttled(Throttled { scope: "client", retry_after }));
        }
        Ok(())
    }

    /// The flow record behind the flow cookie's `key`, taken out of the
    /// store: of two callbacks with one key, at most one gets it.
    async fn take_flow(&self, key: Option<&str>) -> Result<Option<Flow>, AuthError> {
        let Some(key) = key else { return Ok(None) };
        Ok(FLOW.take_record(self.flows.as_ref(), self.core.clock().now(), key).await?)
    }

    /// The provider's redirect back. Whatever happens, the answer is a
    /// redirect to the SPA (see the module text); the flow record is spent.
    ///
    /// # Errors
    /// Store and hasher failures only: everything the browser or the
    /// provider can cause is a redirect with `?loginError=`.
    pub async fn callback(
        &self,
        id: &str,
        params: &CallbackParams,
        flow_key: Option<&str>,
        session: &Session,
        csrf: &CsrfToken,
        client: &ClientInfo,
    ) -> Result<String, AuthError> {
        let flow = self.take_flow(flow_key).await?;
        let linking = flow.as_ref().is_some_and(|f| f.link_user.is_some());
        let result = self.finish_callback(id, params, flow, session, csrf, client).await;
        let (location, outcome) = match result {
            Ok(location) => (location, "ok"),
            Err(Refusal::Failed(failure, why)) => {
                // A callback that matches no started sign-in costs an
                // attacker nothing (no start, so no throttle): counted per
                // client and written as one row a flush, like CSRF refusals.
                if failure == Failure::ProviderMisconfigured {
                    // Every sign-in with this provider fails until the
                    // settings are mended: the operator must hear of it.
                    tracing::error!(target: "latchkey::oidc", provider = id, reason = %why,
                        "sign-in with this provider cannot work: its settings and its registration at the provider disagree (docs/oidc.md)");
                }
                let event = if failure == Failure::StateInvalid { "oidc_callback_refused" } else { "oidc_failed" };
                self.core.audit(self.oidc_event(event, client, None).detail(format!("{id}: {failure}: {why}"))).await;
                let page = if linking { "/account?linkError=" } else { "/?loginError=" };
                (self.on_frontend(&format!("{page}{}", failure.code())), "failed")
            }
            Err(Refusal::Auth(e)) => return Err(e),
        };
        if !linking {
            self.core.metrics().login("oidc", outcome);
        }
        Ok(location)
    }

    async fn finish_callback(
        &self,
        id: &str,
        params: &CallbackParams,
        flow: Option<Flow>,
        session: &Session,
        csrf: &CsrfToken,
        client: &ClientInfo,
    ) -> Result<String, Refusal> {
        let fail = |f: Failure, why: &str| Refusal::Failed(f, why.to_owned());
        let Some(flow) = flow else {
            return Err(fail(
                Failure::StateInvalid,
                "no sign-in was started in this browser, or it was used or expired",
            ));
        };
        let state_ok = params.state.as_deref().is_some_and(|s| constant_time_eq(s.as_bytes(), flow.state.as_bytes()));
        if flow.provider != id || !state_ok {
            return Err(fail(Failure::StateInvalid, "the state does not match the sign-in started in this browser"));
        }
        let provider = self.provider(id).ok_or_else(|| fail(Failure::StateInvalid, "provider removed"))?;
        if let Some(error) = &params.error {
            let described: String = params.error_description.as_deref().unwrap_or("").chars().take(200).collect();
            let failure = match error.as_str() {
                "access_denied" => Failure::AccessDenied,
                // Errors about this site's registration, not about the user.
                "unauthorized_client" | "invalid_client" | "invalid_scope" | "unsupported_response_type" => {
                    Failure::ProviderMisconfigured
                }
                _ => Failure::ProviderError,
            };
            let error: String = error.chars().take(64).collect();
            return Err(Refusal::Failed(failure, format!("the provider answered {error:?} {described:?}")));
        }
        self.idp.check_iss(provider, params.iss.as_deref()).await.map_err(idp_refusal)?;
        let code =
            params.code.as_deref().filter(|c| !c.is_empty()).ok_or_else(|| fail(Failure::ProviderError, "no code"))?;
        let claims = self
            .idp
            .exchange(provider, &self.core.settings().oidc_redirect_uri(id), code, &flow)
            .await
            .map_err(idp_refusal)?;
        if let Some(user_id) = flow.link_user {
            return self.finish_link(provider, &claims, user_id, session, client).await;
        }
        let user = self.user_for_identity(provider, &claims, client).await?;
        let proof = Proof::Vouched { user, by: format!("provider {id}") };
        let target = Target::Session { session, csrf, remember: true };
        match self.sign_in.sign_in(WayIn::Oidc, proof, target, client).await {
            // Signed in, or the session holds the pending sign-in and the
            // SPA shows the second step where it lands.
            Ok(Outcome::SignedIn(_) | Outcome::SecondFactor { .. }) => {}
            Err(AuthError::EmailUnverified) => return Err(fail(Failure::EmailUnverified, "address not verified")),
            Err(e) => return Err(Refusal::Auth(e)),
        }
        Ok(self.on_frontend(flow.next.as_deref().unwrap_or("/")))
    }

    async fn finish_link(
        &self,
        provider: &OidcProvider,
        claims: &VerifiedClaims,
        user_id: i64,
        session: &Session,
        client: &ClientInfo,
    ) -> Result<String, Refusal> {
        let user = self.sessions.session_user(session).await.map_err(Refusal::Auth)?;
        let Some(user) = user.filter(|u| u.id == user_id) else {
            return Err(Refusal::Failed(Failure::LinkInvalid, "the user who started linking is not signed in".into()));
        };
        let existing = self.identities.find(&provider.id, &claims.issuer, &claims.subject).await.map_err(auth)?;
        match existing {
            Some(i) if i.user_id == user.id => {}
            Some(_) => {
                return Err(Refusal::Failed(Failure::IdentityTaken, "that provider account is another user's".into()));
            }
            None => {
                let linked =
                    self.identities.link(&new_identity(provider, claims, user.id), self.core.clock().now()).await;
                if linked.map_err(auth)?.is_none() {
                    return Err(Refusal::Failed(Failure::IdentityTaken, "linked by another user meanwhile".into()));
                }
                self.core
                    .audit(self.oidc_event("oidc_linked", client, Some(&user)).detail(format!(
                        "{} ({})",
                        provider.id,
                        claims.email.as_deref().unwrap_or("")
                    )))
                    .await;
            }
        }
        Ok(self.on_frontend(&format!("/account?linked={}", provider.id)))
    }

    /// The user a provider account signs in as: its linked user, a local
    /// account with the same address (only when the provider's
    /// `link_by_verified_email` is on and both sides say the address is
    /// verified), or a new account when sign-up allows it.
    async fn user_for_identity(
        &self,
        provider: &OidcProvider,
        claims: &VerifiedClaims,
        client: &ClientInfo,
    ) -> Result<User, Refusal> {
        let now = self.core.clock().now();
        if let Some(identity) =
            self.identities.find(&provider.id, &claims.issuer, &claims.subject).await.map_err(auth)?
        {
            let user = self.users.by_id(identity.user_id).await.map_err(|e| Refusal::Auth(e.into()))?;
            let Some(user) = user.filter(|u| u.is_active) else {
                return Err(Refusal::Failed(
                    Failure::AccountInactive,
                    format!("identity {} of an inactive account", identity.id),
                ));
            };
            self.identities.record_use(identity.id, now).await.map_err(auth)?;
            return Ok(user);
        }
        let email = claims.email.as_deref().and_then(|e| Email::parse(e).ok()).filter(|e| !e.as_str().is_empty());
        if let Some(email) = &email
            && self.users.any_with_email(email.as_str()).await.map_err(|e| Refusal::Auth(e.into()))?
        {
            let local = self.users.active_by_email(email.as_str()).await.map_err(|e| Refusal::Auth(e.into()))?;
            let linkable = provider.link_by_verified_email && claims.email_verified;
            return match local.as_slice() {
                [user] if linkable && user.email_verified => {
                    let linked =
                        self.identities.link(&new_identity(provider, claims, user.id), now).await.map_err(auth)?;
                    let Some(identity) = linked else {
                        return Err(Refusal::Failed(Failure::IdentityTaken, "linked meanwhile".into()));
                    };
                    self.identities.record_use(identity.id, now).await.map_err(auth)?;
                    self.core
                        .audit(
                            self.oidc_event("oidc_linked", client, Some(user))
                                .detail(format!("{} (by verified address)", provider.id)),
                        )
                        .await;
                    Ok(user.clone())
                }
                _ => Err(Refusal::Failed(
                    Failure::LinkRequired,
                    "a local account has this address; it must sign in and link from the Account page".into(),
                )),
            };
        }
        let signup_open = provider.auto_signup.unwrap_or(self.core.settings().accounts.signup == Signup::Open);
        if !signup_open {
            return Err(Refusal::Failed(Failure::SignupClosed, "no linked account, and sign-up is closed".into()));
        }
        let mandatory =
            self.core.settings().accounts.email_verification == crate::settings::EmailVerification::Mandatory;
        if email.is_none() && mandatory {
            return Err(Refusal::Failed(Failure::EmailRequired, "the provider gave no address".into()));
        }
        // An account made from an address nobody proved would be a claim on
        // it: its owner, signing up or resetting later, would share the
        // account with whoever holds this provider account.
        if mandatory && !claims.email_verified {
            return Err(Refusal::Failed(
                Failure::ProviderEmailUnverified,
                "the provider does not vouch for the address, and new accounts need a verified one".into(),
            ));
        }
        self.create_from_identity(provider, claims, email.unwrap_or_default(), client).await
    }

    async fn create_from_identity(
        &self,
        provider: &OidcProvider,
        claims: &VerifiedClaims,
        email: Email,
        client: &ClientInfo,
    ) -> Result<User, Refusal> {
        let now = self.core.clock().now();
        let base = base_username(claims.preferred_username.as_deref(), claims.email.as_deref());
        // An unusable password (Django's "!" prefix): this account signs in
        // through its provider until its owner sets a password by reset.
        let password_hash = format!("!{}", crate::crypto::random_string(40, crate::crypto::CSRF_CHARS));
        let mut user = None;
        for attempt in 0..12u32 {
            let candidate = match attempt {
                0 => base.clone(),
                1..=8 => format!("{base}{}", attempt + 1),
                _ => format!("{base}{}", crate::crypto::random_string(6, b"0123456789")),
            };
            let Ok(username) = Username::parse(&candidate) else { continue };
            if self.users.by_username(username.as_str()).await.map_err(|e| Refusal::Auth(e.into()))?.is_some() {
                continue;
            }
            let new = NewUser {
                username,
                email: email.clone(),
                email_verified: claims.email_verified && !email.as_str().is_empty(),
                first_name: profile_name(claims.given_name.as_deref(), MAX_NAME_CHARS),
                last_name: profile_name(claims.family_name.as_deref(), MAX_NAME_CHARS),
                password_hash: password_hash.clone(),
                is_staff: false,
                is_superuser: false,
            };
            match self.users.create(&new, now).await {
                Ok(u) => {
                    user = Some(u);
                    break;
                }
                Err(UserStoreError::Duplicate) => continue,
                Err(e) => return Err(Refusal::Auth(e.into())),
            }
        }
        let Some(user) = user else {
            return Err(Refusal::Failed(Failure::SignupClosed, format!("no free username near {base:?}")));
        };
        let linked = self.identities.link(&new_identity(provider, claims, user.id), now).await.map_err(auth)?;
        if linked.is_none() {
            // Two first sign-ins of one provider account raced: the other
            // one's account stands; this one is switched off, not left usable.
            self.users.set_active(user.id, false).await.map_err(|e| Refusal::Auth(e.into()))?;
            return Err(Refusal::Failed(Failure::IdentityTaken, "a first sign-in raced another".into()));
        }
        self.core
            .audit(
                AuditEvent::new(now, "signup")
                    .username(&user.username)
                    .user_id(user.id)
                    .client(client.ip)
                    .detail(format!("via {}", provider.id)),
            )
            .await;
        Ok(user)
    }

    fn oidc_event(&self, name: &str, client: &ClientInfo, user: Option<&User>) -> AuditEvent {
        let mut e = AuditEvent::new(self.core.clock().now(), name).client(client.ip);
        if let Some(u) = user {
            e = e.username(&u.username).user_id(u.id);
        }
        e
    }
}

/// How a callback failed: a reason for the browser, or a server failure.
#[cfg(feature = "oidc")]
enum Refusal {
    Failed(Failure, String),
    Auth(AuthError),
}

#[cfg(feature = "oidc")]
fn auth(e: crate::error::StoreError) -> Refusal {
    Refusal::Auth(e.into())
}

#[cfg(feature = "oidc")]
fn idp_refusal(e: crate::idp::IdpError) -> Refusal {
    match e {
        crate::idp::IdpError::Unavailable(why) => Refusal::Failed(Failure::ProviderUnavailable, why),
        crate::idp::IdpError::Token(why) => Refusal::Failed(Failure::TokenInvalid, why),
        crate::idp::IdpError::Client(why) => Refusal::Failed(Failure::ProviderMisconfigured, why),
        crate::idp::IdpError::IssuerMismatch(why) => Refusal::Failed(Failure::IssuerMismatch, why),
    }
}

#[cfg(feature = "oidc")]
fn new_identity(provider: &OidcProvider, claims: &VerifiedClaims, user_id: i64) -> NewIdentity {
    NewIdentity {
        user_id,
        provider: provider.id.clone(),
        issuer: claims.issuer.clone(),
        subject: claims.subject.clone(),
        email: claims.email.clone().unwrap_or_default(),
    }
}
