//! Second factors on the state: setting up TOTP (with its recovery codes),
//! removing it, regenerating the codes, and the second-factor halves of the
//! sign-in pipeline (`state/signin.rs`): the pending sign-in after a right
//! first factor, and the second step's verify stage. No HTTP here.
//!
//! The pending sign-in lives in the session, under a fresh key, as an
//! anonymous session: nothing that checks authentication sees a user until
//! the second factor is proved. Attempts are counted before a code is
//! checked — per pending session and per account — so guesses, in parallel
//! or not, run into 429 after `MAX_CODE_ATTEMPTS` (and `throttle.per_account`).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::{Duration, OffsetDateTime};

use std::sync::Arc;

use crate::{
    audit::AuditEvent,
    auth::{AuthError, SecondFactorError},
    crypto,
    csrf::CsrfToken,
    mfa::{
        MAX_CODE_ATTEMPTS, PENDING_TTL, SETUP_TTL, recovery,
        totp::{TotpRefusal, TotpSecret},
    },
    session::{ClientInfo, Session, Slot},
    state::{Core, SessionAuth},
    throttle::{ThrottleStore, Throttled},
    users::{User, UserStore},
};

/// The second factors: TOTP, recovery codes and WebAuthn, what setting
/// them up and proving them touch.
#[derive(Clone)]
pub struct SecondFactors {
    pub(super) core: Core,
    pub(super) users: Arc<dyn UserStore>,
    pub(super) mfa: Arc<dyn crate::mfa::MfaStore>,
    pub(super) throttle: Arc<dyn ThrottleStore>,
    pub(super) sessions: SessionAuth,
    /// Seals and opens TOTP secrets.
    pub(super) secret_box: Arc<crypto::SecretBox>,
    /// Keys stored recovery codes.
    pub(super) recovery_key: Arc<recovery::RecoveryCodeKey>,
    /// The WebAuthn relying party, if passkeys can work with these settings.
    #[cfg(feature = "webauthn")]
    pub(super) relying_party: Option<Arc<crate::mfa::webauthn::Webauthn>>,
}

/// A sign-in waiting for its second factor.
const PENDING: Slot<Pending> = Slot::new("_mfa_pending", PENDING_TTL);
/// A TOTP secret being set up, sealed with the secret box.
const SETUP: Slot<String> = Slot::new("_mfa_totp_setup", SETUP_TTL);

/// What a sign-in waiting for its second factor keeps.
#[derive(Debug, Serialize, Deserialize)]
struct Pending {
    user: i64,
    /// The session auth hash at the first factor: a password changed
    /// meanwhile ends the pending sign-in.
    hash: String,
    remember: bool,
}
/// The issuer authenticator apps show beside the account.
const ISSUER: &str = "Latchkey";

/// What the setup page shows: the secret, for typing, and the URL a QR code carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotpSetup {
    /// Unpadded base32.
    pub secret: String,
    /// `otpauth://totp/…`.
    pub otpauth_url: String,
}

/// What the second step of a sign-in offers as proof.
#[derive(Debug, Clone)]
pub enum SecondFactor {
    /// A code: from the authenticator app, or a recovery code.
    Code(String),
    /// A WebAuthn assertion (`PublicKeyCredential.toJSON()`) answering the
    /// options of `/api/mfa/webauthn/options/`.
    Credential(Value),
}

/// How a second factor was proved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FactorUsed {
    /// A code from the authenticator app.
    Totp,
    /// A recovery code; how many are left.
    RecoveryCode(u32),
    /// A passkey or security key, by its name.
    Webauthn(String),
}

impl SecondFactors {
    fn mfa_event(&self, kind: &str, user: &User, client: Option<std::net::IpAddr>) -> AuditEvent {
        AuditEvent::new(self.core.clock().now(), kind).username(&user.username).user_id(user.id).client(client)
    }

    /// The second factors `user_id` can sign in with (empty: none; a
    /// password alone signs them in).
    ///
    /// # Errors
    /// Store failures.
    pub async fn mfa_methods(&self, user_id: i64) -> Result<Vec<&'static str>, AuthError> {
        let mut methods = Vec::new();
        if self.mfa.totp(user_id).await?.is_some() {
            methods.push("totp");
        }
        if !self.mfa.webauthn_credentials(user_id).await?.is_empty() {
            methods.push("webauthn");
        }
        if !methods.is_empty() && self.mfa.recovery_codes_left(user_id).await? > 0 {
            methods.push("recovery_code");
        }
        Ok(methods)
    }

    /// Whether `user` must set up a second factor before anything else
    /// works: staff without one, when `mfa.required_for_staff` is on.
    ///
    /// # Errors
    /// Store failures.
    pub async fn mfa_setup_required(&self, user: &User) -> Result<bool, AuthError> {
        Ok(self.core.settings().mfa_required_for_staff && user.is_staff && self.mfa_methods(user.id).await?.is_empty())
    }

    /// Starts (or shows again, for 10 minutes) the setup of an authenticator
    /// app: a new secret, kept sealed in the session until a code from it
    /// activates it. Needs a recent authentication.
    ///
    /// # Errors
    /// [`AuthError::ReauthenticationRequired`], [`SecondFactorError::MfaAlreadyEnabled`],
    /// or a store failure.
    pub async fn totp_setup(&self, user: &User, session: &Session) -> Result<TotpSetup, AuthError> {
        self.sessions.require_recent_authentication(session).await?;
        if self.mfa.totp(user.id).await?.is_some() {
            return Err(SecondFactorError::MfaAlreadyEnabled.into());
        }
        let secret = match self.pending_setup(session).await? {
            Some(s) => s,
            None => {
                let s = TotpSecret::generate();
                SETUP.put(session, &self.secret_box.seal(s.base32().as_bytes())).await?;
                s
            }
        };
        Ok(TotpSetup { otpauth_url: secret.otpauth_url(ISSUER, &user.username), secret: secret.base32() })
    }

    async fn pending_setup(&self, session: &Session) -> Result<Option<TotpSecret>, AuthError> {
        Ok(SETUP.get(session).await?.and_then(|sealed| self.open_secret(&sealed)))
    }

    fn open_secret(&self, sealed: &str) -> Option<TotpSecret> {
        let plain = self.secret_box.open(sealed)?;
        TotpSecret::from_base32(std::str::from_utf8(&plain).ok()?)
    }

    /// Activates the app being set up with a code from it; returns the new
    /// recovery codes, shown this once.
    ///
    /// # Errors
    /// [`SecondFactorError::MfaSetupExpired`], [`SecondFactorError::InvalidCode`],
    /// [`SecondFactorError::MfaAlreadyEnabled`], [`AuthError::RequestsThrottled`],
    /// or a store failure.
    pub async fn totp_activate(
        &self,
        user: &User,
        session: &Session,
        code: &str,
        client: &ClientInfo,
    ) -> Result<Vec<String>, AuthError> {
        let now = self.core.clock().now();
        if self.mfa.totp(user.id).await?.is_some() {
            return Err(SecondFactorError::MfaAlreadyEnabled.into());
        }
        let secret = self.pending_setup(session).await?.ok_or(SecondFactorError::MfaSetupExpired)?;
        self.count_code_attempt(None, user).await.map_err(AuthError::RequestsThrottled)?;
        let step = secret.verify(code, now, None).map_err(|_| SecondFactorError::InvalidCode)?;
        // Recovery codes come with the first second factor; a passkey
        // registered earlier brought them already.
        let had_codes = self.mfa.recovery_codes_left(user.id).await? > 0
            && !self.mfa.webauthn_credentials(user.id).await?.is_empty();
        let codes = if had_codes { Vec::new() } else { recovery::generate_set() };
        let stored: Vec<String> = codes.iter().filter_map(|c| self.recovery_key.stored_form(c)).collect();
        let sealed = self.secret_box.seal(secret.base32().as_bytes());
        if !self.mfa.enable_totp(user.id, &sealed, &stored, now).await? {
            return Err(SecondFactorError::MfaAlreadyEnabled.into());
        }
        // The code that activated it cannot sign in as well.
        self.mfa.use_totp_step(user.id, step, now).await?;
        SETUP.clear(session).await?;
        self.core.audit(self.mfa_event("mfa_enabled", user, client.ip).detail("authenticator app")).await;
        Ok(codes)
    }

    /// Removes the user's authenticator app (the recovery codes too, unless
    /// a passkey remains). Needs a recent authentication.
    ///
    /// # Errors
    /// [`AuthError::ReauthenticationRequired`], [`SecondFactorError::MfaNotEnabled`],
    /// or a store failure.
    pub async fn totp_disable(&self, user: &User, session: &Session, client: &ClientInfo) -> Result<(), AuthError> {
        self.sessions.require_recent_authentication(session).await?;
        if !self.mfa.disable_totp(user.id).await? {
            return Err(SecondFactorError::MfaNotEnabled.into());
        }
        self.drop_codes_without_factor(user).await?;
        self.core
            .audit(self.mfa_event("mfa_disabled", user, client.ip).detail("authenticator app removed by the user"))
            .await;
        Ok(())
    }

    /// How many unused recovery codes the user has.
    ///
    /// # Errors
    /// Store failures.
    pub async fn recovery_codes_left(&self, user: &User) -> Result<u32, AuthError> {
        Ok(self.mfa.recovery_codes_left(user.id).await?)
    }

    /// A fresh set of recovery codes (the old ones stop working). Needs a
    /// recent authentication and an active factor.
    ///
    /// # Errors
    /// [`AuthError::ReauthenticationRequired`], [`SecondFactorError::MfaNotEnabled`],
    /// or a store failure.
    pub async fn regenerate_recovery_codes(
        &self,
        user: &User,
        session: &Session,
        client: &ClientInfo,
    ) -> Result<Vec<String>, AuthError> {
        self.sessions.require_recent_authentication(session).await?;
        if self.mfa.totp(user.id).await?.is_none() && self.mfa.webauthn_credentials(user.id).await?.is_empty() {
            return Err(SecondFactorError::MfaNotEnabled.into());
        }
        let codes = recovery::generate_set();
        let stored: Vec<String> = codes.iter().filter_map(|c| self.recovery_key.stored_form(c)).collect();
        self.mfa.replace_recovery_codes(user.id, &stored, self.core.clock().now()).await?;
        self.core.audit(self.mfa_event("recovery_codes_regenerated", user, client.ip)).await;
        Ok(codes)
    }

    /// The user's passkeys and security keys, oldest first.
    ///
    /// # Errors
    /// Store failures.
    pub async fn webauthn_credentials(&self, user: &User) -> Result<Vec<crate::mfa::WebauthnCredential>, AuthError> {
        Ok(self.mfa.webauthn_credentials(user.id).await?)
    }

    /// Renames one of the user's credentials.
    ///
    /// # Errors
    /// [`SecondFactorError::InvalidName`], [`SecondFactorError::WebauthnCredentialNotFound`],
    /// or a store failure.
    pub async fn rename_webauthn_credential(&self, user: &User, id: i64, name: &str) -> Result<String, AuthError> {
        let name = crate::mfa::normalize_name(name).map_err(SecondFactorError::InvalidName)?;
        if !self.mfa.rename_webauthn_credential(user.id, id, &name).await? {
            return Err(SecondFactorError::WebauthnCredentialNotFound.into());
        }
        Ok(name)
    }

    /// Removes one of the user's credentials (needs a recent
    /// authentication). The recovery codes go with the last second factor.
    ///
    /// # Errors
    /// [`AuthError::ReauthenticationRequired`],
    /// [`SecondFactorError::WebauthnCredentialNotFound`], or a store failure.
    pub async fn delete_webauthn_credential(
        &self,
        user: &User,
        session: &Session,
        id: i64,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        self.sessions.require_recent_authentication(session).await?;
        let name = self.mfa.webauthn_credentials(user.id).await?.into_iter().find(|c| c.id == id).map(|c| c.name);
        if !self.mfa.delete_webauthn_credential(user.id, id).await? {
            return Err(SecondFactorError::WebauthnCredentialNotFound.into());
        }
        self.drop_codes_without_factor(user).await?;
        let detail = format!("passkey {:?} removed by the user", name.unwrap_or_default());
        self.core.audit(self.mfa_event("mfa_disabled", user, client.ip).detail(detail)).await;
        Ok(())
    }

    /// Recovery codes stand in for a factor: without any, they go too.
    pub(super) async fn drop_codes_without_factor(&self, user: &User) -> Result<(), AuthError> {
        if self.mfa.totp(user.id).await?.is_none() && self.mfa.webauthn_credentials(user.id).await?.is_empty() {
            self.mfa.replace_recovery_codes(user.id, &[], self.core.clock().now()).await?;
        }
        Ok(())
    }

    /// The first factor of `user` was right and they have a second one
    /// (the sign-in pipeline's second-factor stage): the session moves to a
    /// new key, anonymous, holding the pending sign-in; the CSRF secret
    /// changes.
    pub(super) async fn begin_second_factor(
        &self,
        session: &Session,
        csrf: &CsrfToken,
        user: &User,
        remember: bool,
        methods: &[&'static str],
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        let pending = Pending { user: user.id, hash: self.sessions.session_auth_hash(user), remember };
        // The row outlives the pending sign-in (5 minutes) only as long
        // as its attempt count matters, so a browser that ran into 429
        // keeps getting it; then the store drops it.
        let lifetime = PENDING_TTL.max(self.core.settings().throttle.window);
        session.cycle_anonymous(client, lifetime).await?;
        PENDING.put(session, &pending).await?;
        csrf.rotate();
        self.core.audit(self.mfa_event("login_mfa_pending", user, client.ip).detail(methods.join(", "))).await;
        Ok(())
    }

    /// Counts one code attempt — for the pending sign-in of `session` (when
    /// given) and for the account — before the code is checked.
    async fn count_code_attempt(&self, session_key: Option<&str>, user: &User) -> Result<(), Throttled> {
        let policy = &self.core.settings().throttle;
        if !policy.enabled {
            return Ok(());
        }
        let now = self.core.clock().now();
        let store = &self.throttle;
        let over = |c: crate::throttle::Counter, limit: u32, scope| {
            (c.failures > limit).then(|| Throttled {
                scope,
                retry_after: (c.window_start + policy.window - now).max(Duration::seconds(1)),
            })
        };
        let account = crate::throttle::mfa_account_key(&crate::throttle::account_key(&user.username));
        // A store failure must not open the door: refused as throttled.
        let fail = || Throttled { scope: "account", retry_after: Duration::seconds(1) };
        let acct = store.record_failure(&account, now, policy.window).await.map_err(|_| fail())?;
        if let Some(t) = over(acct, policy.per_account, "account") {
            return Err(t);
        }
        if let Some(key) = session_key {
            let c =
                store.record_failure(&format!("mfa:session:{key}"), now, policy.window).await.map_err(|_| fail())?;
            if let Some(t) = over(c, MAX_CODE_ATTEMPTS, "session") {
                return Err(t);
            }
        }
        Ok(())
    }

    /// The user whose sign-in waits in `session` for a second factor, if it
    /// is still fresh (5 minutes), the user active and their password the
    /// one that was entered. A stale pending state is removed.
    pub(super) async fn pending_user(&self, session: &Session) -> Result<Option<User>, AuthError> {
        let Some(pending) = PENDING.get(session).await? else { return Ok(None) };
        match self.users.by_id(pending.user).await? {
            Some(u) if self.pending_holds(&pending, &u) => Ok(Some(u)),
            _ => {
                PENDING.clear(session).await?;
                Ok(None)
            }
        }
    }

    /// The second factors the sign-in pending in `session` accepts, if one
    /// is pending (after a password, or a provider's redirect back): the
    /// SPA shows the second step when it loads.
    ///
    /// # Errors
    /// Store failures.
    pub async fn mfa_pending_methods(&self, session: &Session) -> Result<Option<Vec<&'static str>>, AuthError> {
        match self.pending_user(session).await? {
            Some(user) => Ok(Some(self.mfa_methods(user.id).await?)),
            None => Ok(None),
        }
    }

    /// Whether the (fresh: the slot saw to it) pending sign-in `pending` of
    /// `user` still holds: the user active, and their password the one that
    /// was entered.
    fn pending_holds(&self, pending: &Pending, user: &User) -> bool {
        user.is_active && self.sessions.verify_session_auth_hash(&pending.hash, user)
    }

    /// The second step's verify stage of the sign-in pipeline: whether
    /// `proof` (a code from the authenticator app, a recovery code or a
    /// passkey) completes the sign-in waiting in `session`. Returns the
    /// user, how, and whether the first step asked for a persistent cookie;
    /// the pending sign-in is spent.
    ///
    /// # Errors
    /// [`SecondFactorError::MfaNotPending`], [`SecondFactorError::InvalidCode`] (for a
    /// passkey: [`SecondFactorError::WebauthnFailed`]),
    /// [`AuthError::Throttled`] (also after the pending sign-in ended, while
    /// the count lasts), or a store failure.
    pub(super) async fn verify_second_step(
        &self,
        session: &Session,
        proof: SecondFactor,
        client: &ClientInfo,
    ) -> Result<(User, FactorUsed, bool), AuthError> {
        // Until it succeeds, a code may be the app's or a recovery code.
        let tried = match &proof {
            SecondFactor::Code(_) => "code",
            SecondFactor::Credential(_) => "webauthn",
        };
        let result = self.prove_second_factor(session, proof, client).await;
        let (method, outcome) = match &result {
            Ok((_, FactorUsed::Totp, _)) => ("totp", "ok"),
            Ok((_, FactorUsed::RecoveryCode(_), _)) => ("recovery_code", "ok"),
            Ok((_, FactorUsed::Webauthn(_), _)) => ("webauthn", "ok"),
            Err(AuthError::RequestsThrottled(_) | AuthError::Throttled(_)) => (tried, "throttled"),
            Err(
                AuthError::SecondFactor(SecondFactorError::InvalidCode)
                | AuthError::SecondFactor(SecondFactorError::WebauthnFailed),
            ) => (tried, "failed"),
            Err(_) => (tried, "error"),
        };
        self.core.metrics().second_factor(method, outcome);
        result
    }

    async fn prove_second_factor(
        &self,
        session: &Session,
        proof: SecondFactor,
        client: &ClientInfo,
    ) -> Result<(User, FactorUsed, bool), AuthError> {
        let now = self.core.clock().now();
        let Some(key) = session.key_hash().await? else {
            return Err(SecondFactorError::MfaNotPending.into());
        };
        let pending = PENDING.get(session).await?;
        let named = match &pending {
            Some(p) => self.users.by_id(p.user).await?,
            None => None,
        };
        let (Some(pending), Some(named)) = (pending, named) else {
            // Refused without a pending sign-in, but still counted for this
            // browser, so the limit outlives the pending state.
            self.refuse_if_throttled(&key.0).await?;
            return Err(SecondFactorError::MfaNotPending.into());
        };
        self.count_code_attempt(Some(&key.0), &named).await.map_err(AuthError::Throttled)?;
        if !self.pending_holds(&pending, &named) {
            PENDING.clear(session).await?;
            return Err(SecondFactorError::MfaNotPending.into());
        }
        let user = named;
        let (used, refusal) = match proof {
            SecondFactor::Code(code) => {
                (self.check_code(&user, &code, now).await?, AuthError::SecondFactor(SecondFactorError::InvalidCode))
            }
            #[cfg(feature = "webauthn")]
            SecondFactor::Credential(c) => (
                self.check_second_step_assertion(session, &user, c, client).await?.map(FactorUsed::Webauthn),
                AuthError::SecondFactor(SecondFactorError::WebauthnFailed),
            ),
            #[cfg(not(feature = "webauthn"))]
            SecondFactor::Credential(_) => return Err(SecondFactorError::WebauthnUnavailable.into()),
        };
        let Some(used) = used else {
            self.core.audit(self.mfa_event("mfa_failed", &user, client.ip)).await;
            return Err(refusal);
        };
        let remember = pending.remember;
        PENDING.clear(session).await?;
        if let FactorUsed::RecoveryCode(left) = &used {
            self.core
                .audit(
                    self.mfa_event("recovery_code_used", &user, client.ip)
                        .detail(format!("{left} recovery code(s) left")),
                )
                .await;
        }
        Ok((user, used, remember))
    }

    async fn refuse_if_throttled(&self, session_key: &str) -> Result<(), AuthError> {
        let policy = &self.core.settings().throttle;
        let now = self.core.clock().now();
        if policy.enabled
            && let Some(c) = self.throttle.get(&format!("mfa:session:{session_key}"), now, policy.window).await?
            && c.failures >= MAX_CODE_ATTEMPTS
        {
            let retry_after = (c.window_start + policy.window - now).max(Duration::seconds(1));
            return Err(AuthError::Throttled(Throttled { scope: "session", retry_after }));
        }
        Ok(())
    }

    /// Which factor `code` proves for `user`, marking it used; `None` when
    /// it proves none (wrong, replayed, or a used recovery code).
    async fn check_code(&self, user: &User, code: &str, now: OffsetDateTime) -> Result<Option<FactorUsed>, AuthError> {
        if let Some(factor) = self.mfa.totp(user.id).await?
            && let Some(secret) = self.open_secret(&factor.sealed_secret)
        {
            match secret.verify(code, now, factor.last_step) {
                // Stored only if no other request used this step first.
                Ok(step) if self.mfa.use_totp_step(user.id, step, now).await? => return Ok(Some(FactorUsed::Totp)),
                Ok(_) | Err(TotpRefusal::Replayed) => return Ok(None),
                Err(TotpRefusal::Invalid) => {}
            }
        }
        if let Some(stored) = self.recovery_key.stored_form(code)
            && self.mfa.use_recovery_code(user.id, &stored, now).await?
        {
            let left = self.mfa.recovery_codes_left(user.id).await?;
            return Ok(Some(FactorUsed::RecoveryCode(left)));
        }
        Ok(None)
    }
}
