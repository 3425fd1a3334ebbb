//! WebAuthn on the state: registering passkeys and security keys, listing,
//! renaming and removing them, signing in with a passkey (both factors at
//! once), and a passkey as the second step after a password.
//!
//! A ceremony's state (its challenge, and what it allows) lives server-side
//! in the session, one per kind: new options replace it (one per browser),
//! an answer takes it out whatever the outcome (single use), and it is
//! refused 5 minutes after it began. Anonymous options calls are counted per
//! client before anything is written, so they cannot flood the session
//! store; they reveal nothing about accounts (discoverable credentials: the
//! options name none).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::SecondFactors;
use crate::{
    audit::AuditEvent,
    auth::{AuthError, SecondFactorError},
    mfa::{
        WebauthnCredential, normalize_name, recovery,
        webauthn::{
            CEREMONY_TTL, DiscoverableAuthentication, Passkey, PasskeyAuthentication, PasskeyRegistration,
            PublicKeyCredential, RegisterPublicKeyCredential, Uuid, Webauthn, creation_options, encode_credential_id,
            new_user_handle, request_options,
        },
    },
    session::{ClientInfo, Session, Slot},
    throttle::{Throttled, client_key},
    users::User,
};

/// A registration under way.
const REGISTER: Slot<Registration> = Slot::new("_webauthn_register", CEREMONY_TTL);
/// A passkey sign-in under way.
const LOGIN: Slot<DiscoverableAuthentication> = Slot::new("_webauthn_login", CEREMONY_TTL);
/// A passkey second step under way.
const SECOND_STEP: Slot<SecondStep> = Slot::new("_webauthn_second_step", CEREMONY_TTL);
// A ceremony is taken out of the session when answered (used once, whatever
// happens next); a missing or stale one is `WebauthnNotStarted`.

/// A registration's ceremony, for whom, and the user handle it names.
#[derive(Serialize, Deserialize)]
struct Registration {
    ceremony: PasskeyRegistration,
    user: i64,
    handle: String,
}

/// A second step's ceremony, and whose sign-in it completes.
#[derive(Serialize, Deserialize)]
struct SecondStep {
    ceremony: PasskeyAuthentication,
    user: i64,
}
/// Anonymous options calls per client (IPv6 by /64) and throttle window:
/// generous for people, small for a flood.
pub const OPTIONS_PER_CLIENT: u32 = 300;

/// A credential just registered.
#[derive(Debug, Clone)]
pub struct Registered {
    /// As stored.
    pub credential: WebauthnCredential,
    /// New recovery codes, when this is the user's first second factor
    /// (shown this once).
    pub recovery_codes: Option<Vec<String>>,
}

impl SecondFactors {
    fn rp(&self) -> Result<&Webauthn, AuthError> {
        self.relying_party.as_deref().ok_or(SecondFactorError::WebauthnUnavailable.into())
    }

    fn webauthn_event(&self, kind: &str, user: &User, client: &ClientInfo) -> AuditEvent {
        AuditEvent::new(self.core.clock().now(), kind).username(&user.username).user_id(user.id).client(client.ip)
    }

    /// Registration options for a new passkey or security key of `user`
    /// (`PublicKeyCredentialCreationOptions` as JSON). Needs a recent
    /// authentication; the user's credentials are excluded.
    ///
    /// # Errors
    /// [`SecondFactorError::WebauthnUnavailable`], [`AuthError::ReauthenticationRequired`],
    /// or a store failure.
    pub async fn webauthn_register_options(&self, user: &User, session: &Session) -> Result<Value, AuthError> {
        let rp = self.rp()?;
        self.sessions.require_recent_authentication(session).await?;
        let existing = self.mfa.webauthn_credentials(user.id).await?;
        // One handle per user, so a discoverable sign-in names the account
        // whichever of its credentials is used.
        let handle =
            existing.first().and_then(|c| Uuid::parse_str(&c.user_handle).ok()).unwrap_or_else(new_user_handle);
        let exclude = existing.iter().filter_map(|c| parse_passkey(c).map(|p| p.cred_id().clone())).collect();
        let display = match format!("{} {}", user.first_name, user.last_name).trim() {
            "" => user.username.clone(),
            name => name.to_owned(),
        };
        let (ccr, state) = rp
            .start_passkey_registration(handle, &user.username, &display, Some(exclude))
            .map_err(|_| SecondFactorError::WebauthnFailed)?;
        REGISTER.put(session, &Registration { ceremony: state, user: user.id, handle: handle.to_string() }).await?;
        Ok(creation_options(&ccr))
    }

    /// Registers the credential the browser created from the options in
    /// `session`, under `name`. The user's first second factor comes with a
    /// set of recovery codes.
    ///
    /// # Errors
    /// [`SecondFactorError::InvalidName`], [`SecondFactorError::WebauthnNotStarted`],
    /// [`SecondFactorError::WebauthnFailed`], [`SecondFactorError::WebauthnCredentialExists`],
    /// or a store failure.
    pub async fn webauthn_register(
        &self,
        user: &User,
        session: &Session,
        name: &str,
        credential: Value,
        client: &ClientInfo,
    ) -> Result<Registered, AuthError> {
        let rp = self.rp()?;
        let name = normalize_name(name).map_err(SecondFactorError::InvalidName)?;
        let saved = REGISTER.take(session).await?.ok_or(SecondFactorError::WebauthnNotStarted)?;
        if saved.user != user.id {
            return Err(SecondFactorError::WebauthnNotStarted.into());
        }
        let reg: RegisterPublicKeyCredential =
            serde_json::from_value(credential).map_err(|_| SecondFactorError::WebauthnFailed)?;
        // Known already (the options excluded it, but a browser may ignore that).
        if self.mfa.webauthn_credential(&encode_credential_id(&reg.raw_id)).await?.is_some() {
            return Err(SecondFactorError::WebauthnCredentialExists.into());
        }
        let passkey = match rp.finish_passkey_registration(&reg, &saved.ceremony) {
            Ok(p) => p,
            Err(e) => {
                self.core
                    .audit(self.webauthn_event("webauthn_failed", user, client).detail(format!("registration: {e}")))
                    .await;
                return Err(SecondFactorError::WebauthnFailed.into());
            }
        };
        let had_factor = !self.mfa_methods(user.id).await?.is_empty();
        let stored = to_json(&passkey)?;
        let new = WebauthnCredential {
            id: 0,
            user_id: user.id,
            credential_id: encode_credential_id(passkey.cred_id()),
            user_handle: saved.handle,
            name,
            sign_count: stored["cred"]["counter"].as_u64().and_then(|c| u32::try_from(c).ok()).unwrap_or(0),
            passkey: stored.to_string(),
            created_at: self.core.clock().now(),
            last_used_at: None,
        };
        let credential =
            self.mfa.add_webauthn_credential(&new).await?.ok_or(SecondFactorError::WebauthnCredentialExists)?;
        let recovery_codes = if had_factor {
            None
        } else {
            let codes = recovery::generate_set();
            let stored: Vec<String> = codes.iter().filter_map(|c| self.recovery_key.stored_form(c)).collect();
            self.mfa.replace_recovery_codes(user.id, &stored, self.core.clock().now()).await?;
            Some(codes)
        };
        self.core
            .audit(self.webauthn_event("mfa_enabled", user, client).detail(format!("passkey {:?}", credential.name)))
            .await;
        Ok(Registered { credential, recovery_codes })
    }

    /// Counts an anonymous options call of `client`; 429 past
    /// [`OPTIONS_PER_CLIENT`] per throttle window.
    async fn count_options_call(&self, client: &ClientInfo) -> Result<(), AuthError> {
        let policy = &self.core.settings().throttle;
        if !policy.enabled {
            return Ok(());
        }
        let now = self.core.clock().now();
        let key = format!("webauthn:ip:{}", client_key(client.ip));
        let c = self.throttle.record_failure(&key, now, policy.window).await?;
        if c.failures > OPTIONS_PER_CLIENT {
            let retry_after = (c.window_start + policy.window - now).max(time::Duration::SECOND);
            return Err(AuthError::RequestsThrottled(Throttled { scope: "client", retry_after }));
        }
        Ok(())
    }

    /// Options for signing in with a passkey, no username asked: the
    /// browser offers the discoverable credentials it has for this site.
    /// The ceremony is kept in this browser's session (a short anonymous
    /// one when it has none).
    ///
    /// # Errors
    /// [`SecondFactorError::WebauthnUnavailable`], [`AuthError::RequestsThrottled`],
    /// or a store failure.
    pub async fn passkey_login_options(&self, session: &Session, client: &ClientInfo) -> Result<Value, AuthError> {
        let rp = self.rp()?;
        self.count_options_call(client).await?;
        let (rcr, state) = rp.start_discoverable_authentication().map_err(|_| SecondFactorError::WebauthnFailed)?;
        if session.record().await?.is_none() {
            session.cycle_anonymous(client, CEREMONY_TTL).await?;
        }
        LOGIN.put(session, &state).await?;
        Ok(request_options(&rcr))
    }

    /// The passkey's verify stage of the sign-in pipeline: the assertion
    /// answering the options in `session` names its account (its user
    /// handle must be the one it was registered under) and counts as both
    /// factors. Returns the user and the passkey's name.
    ///
    /// # Errors
    /// [`SecondFactorError::WebauthnNotStarted`], [`SecondFactorError::WebauthnFailed`] (also
    /// for an unknown or inactive account's credential), or a store failure.
    pub(super) async fn verify_passkey(
        &self,
        session: &Session,
        credential: Value,
        client: &ClientInfo,
    ) -> Result<(User, String), AuthError> {
        let result = self.check_passkey(session, credential, client).await;
        let outcome = match &result {
            Ok(_) => "ok",
            Err(
                AuthError::SecondFactor(SecondFactorError::WebauthnFailed)
                | AuthError::SecondFactor(SecondFactorError::WebauthnNotStarted),
            ) => "failed",
            Err(AuthError::RequestsThrottled(_)) => "throttled",
            Err(_) => "error",
        };
        self.core.metrics().login("passkey", outcome);
        result
    }

    async fn check_passkey(
        &self,
        session: &Session,
        credential: Value,
        client: &ClientInfo,
    ) -> Result<(User, String), AuthError> {
        let rp = self.rp()?;
        let state = LOGIN.take(session).await?.ok_or(SecondFactorError::WebauthnNotStarted)?;
        let assertion: PublicKeyCredential =
            serde_json::from_value(credential).map_err(|_| SecondFactorError::WebauthnFailed)?;
        let (handle, raw_id) =
            rp.identify_discoverable_authentication(&assertion).map_err(|_| SecondFactorError::WebauthnFailed)?;
        let stored = self.mfa.webauthn_credential(&encode_credential_id(raw_id)).await?;
        let Some(stored) = stored.filter(|c| c.user_handle == handle.to_string()) else {
            return Err(self.refuse_assertion(None, client, "unknown passkey").await);
        };
        let user = self.users.by_id(stored.user_id).await?.filter(|u| u.is_active);
        let Some(user) = user else {
            return Err(self.refuse_assertion(None, client, "passkey of an inactive account").await);
        };
        let Some(key) = parse_passkey(&stored) else {
            return Err(self.refuse_assertion(Some(&user), client, "unreadable stored passkey").await);
        };
        let result = match rp.finish_discoverable_authentication_v2(&assertion, state, &key) {
            Ok(r) => r,
            Err(e) => return Err(self.refuse_assertion(Some(&user), client, &e.to_string()).await),
        };
        self.record_assertion(&user, &stored, key, &result, client).await?;
        Ok((user, stored.name))
    }

    /// Options for proving the second factor of the sign-in pending in
    /// `session` with one of that user's passkeys or security keys.
    ///
    /// # Errors
    /// [`SecondFactorError::MfaNotPending`], [`SecondFactorError::WebauthnUnavailable`], or
    /// a store failure.
    pub async fn webauthn_second_step_options(&self, session: &Session) -> Result<Value, AuthError> {
        let rp = self.rp()?;
        let user = self.pending_user(session).await?.ok_or(SecondFactorError::MfaNotPending)?;
        let keys: Vec<Passkey> =
            self.mfa.webauthn_credentials(user.id).await?.iter().filter_map(parse_passkey).collect();
        if keys.is_empty() {
            return Err(SecondFactorError::MfaNotEnabled.into());
        }
        let (rcr, state) = rp.start_passkey_authentication(&keys).map_err(|_| SecondFactorError::WebauthnFailed)?;
        SECOND_STEP.put(session, &SecondStep { ceremony: state, user: user.id }).await?;
        Ok(request_options(&rcr))
    }

    /// Whether `credential` (an assertion answering the options in
    /// `session`) proves `user`'s second factor; records its use if so.
    pub(super) async fn check_second_step_assertion(
        &self,
        session: &Session,
        user: &User,
        credential: Value,
        client: &ClientInfo,
    ) -> Result<Option<String>, AuthError> {
        let rp = self.rp()?;
        let saved = SECOND_STEP.take(session).await?.ok_or(SecondFactorError::WebauthnNotStarted)?;
        if saved.user != user.id {
            return Err(SecondFactorError::WebauthnNotStarted.into());
        }
        let Ok(assertion) = serde_json::from_value::<PublicKeyCredential>(credential) else { return Ok(None) };
        let stored = self.mfa.webauthn_credential(&encode_credential_id(assertion.get_credential_id())).await?;
        let Some(stored) = stored.filter(|c| c.user_id == user.id) else { return Ok(None) };
        let Some(key) = parse_passkey(&stored) else { return Ok(None) };
        match rp.finish_passkey_authentication(&assertion, &saved.ceremony) {
            Ok(result) => {
                self.record_assertion(user, &stored, key, &result, client).await?;
                Ok(Some(stored.name))
            }
            Err(e) => {
                tracing::debug!(error = %e, "a second-step assertion did not verify");
                Ok(None)
            }
        }
    }

    /// Stores the new counter of a verified assertion; refused when it did
    /// not move forward (a cloned authenticator, or the same assertion twice).
    async fn record_assertion(
        &self,
        user: &User,
        stored: &WebauthnCredential,
        mut key: Passkey,
        result: &webauthn_rs::prelude::AuthenticationResult,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        key.update_credential(result);
        let now = self.core.clock().now();
        if !self.mfa.use_webauthn_credential(stored.id, result.counter(), &to_json(&key)?.to_string(), now).await? {
            let why = format!("passkey {:?}: its signature counter did not move forward (a cloned key?)", stored.name);
            return Err(self.refuse_assertion(Some(user), client, &why).await);
        }
        Ok(())
    }

    async fn refuse_assertion(&self, user: Option<&User>, client: &ClientInfo, why: &str) -> AuthError {
        let mut event = AuditEvent::new(self.core.clock().now(), "webauthn_failed").client(client.ip).detail(why);
        if let Some(u) = user {
            event = event.username(&u.username).user_id(u.id);
        }
        self.core.audit(event).await;
        AuthError::SecondFactor(SecondFactorError::WebauthnFailed)
    }
}

fn to_json<T: Serialize>(value: &T) -> Result<Value, AuthError> {
    serde_json::to_value(value).map_err(|_| AuthError::SecondFactor(SecondFactorError::WebauthnFailed))
}

fn parse_passkey(c: &WebauthnCredential) -> Option<Passkey> {
    serde_json::from_str(&c.passkey).ok()
}
