//! The sign-in pipeline: the one way every way in signs an account in.
//!
//! A way in ([`WayIn`]) brings a [`Proof`] and says where the sign-in lands
//! ([`Target`]); [`SignIn::sign_in`] runs the stages in this order, and
//! nothing else signs anybody in:
//!
//! 1. **identify, throttle, verify** the proof — the only stage that
//!    differs per credential: a password behind the failed-login throttle
//!    with equal work for unknown users (`state/passwords.rs`), a passkey
//!    assertion (`state/webauthn.rs`), the second step of a pending sign-in
//!    (`state/mfa.rs`), or an account vouched for by a provider
//!    (`state/oidc.rs`) or just created (`state/signup.rs`);
//! 2. **account state**: active, and the address verified where
//!    `accounts.email_verification = mandatory` (a new link goes out);
//! 3. **second factor**: a first factor alone, for an account that has a
//!    second one, ends in [`Outcome::SecondFactor`] — a value, not an
//!    error — with the sign-in pending in the session; HTTP Basic cannot
//!    carry one and is refused;
//! 4. **establish**: a new session key and CSRF secret, the device cookie,
//!    `last_login`, one audit event and one metric labelled with the way in.
//!
//! `docs/architecture.md` has the table of each way in by stage. A new way
//! in is a [`WayIn`] and, if it proves something new, a [`Proof`] with its
//! verify step; it must not establish a session itself.

use std::sync::Arc;

use crate::{
    audit::AuditEvent,
    auth::{AuthError, SecondFactorError},
    csrf::CsrfToken,
    password::RawPassword,
    session::{ClientInfo, Session},
    state::{
        Core, Mailing, Passwords, SecondFactors, SessionAuth,
        mfa::{FactorUsed, SecondFactor},
    },
    users::{User, UserStore},
};

/// The sign-in pipeline, and what its stages touch: the password check,
/// the second factors, the sessions, the users (`last_login`), and the mail
/// a sign-in with an unverified address sends.
#[derive(Clone)]
pub struct SignIn {
    pub(super) core: Core,
    pub(super) users: Arc<dyn UserStore>,
    pub(super) passwords: Passwords,
    pub(super) factors: SecondFactors,
    pub(super) sessions: SessionAuth,
    pub(super) mail: Mailing,
}

/// A way into an account, as the audit trail and the metrics name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WayIn {
    /// `POST /api/login/`: a username and password.
    Password,
    /// HTTP Basic on one request (the rest preset): nothing is stored.
    Basic,
    /// `POST /api/login/webauthn/`: a passkey, both factors at once.
    Passkey,
    /// `POST /api/mfa/authenticate/`: the second step of a sign-in pending
    /// after a password or a provider's redirect back.
    SecondStep,
    /// An OpenID Connect provider's redirect back.
    Oidc,
    /// A sign-up that signs in at once (verification `none` or `optional`).
    Signup,
    /// `POST /api/reauthenticate/`: the password again, in a signed-in
    /// session, before a sensitive action.
    Reauthenticate,
}

impl WayIn {
    /// Every way in, in the order of the documentation's table.
    pub const ALL: [WayIn; 7] = [
        WayIn::Password,
        WayIn::Basic,
        WayIn::Passkey,
        WayIn::SecondStep,
        WayIn::Oidc,
        WayIn::Signup,
        WayIn::Reauthenticate,
    ];

    /// The label of metrics and the audit trail.
    pub fn label(self) -> &'static str {
        match self {
            WayIn::Password => "password",
            WayIn::Basic => "basic",
            WayIn::Passkey => "passkey",
            WayIn::SecondStep => "second_step",
            WayIn::Oidc => "oidc",
            WayIn::Signup => "signup",
            WayIn::Reauthenticate => "reauthenticate",
        }
    }
}

/// What a way in offers as proof of who it is.
#[derive(Debug)]
pub enum Proof<'a> {
    /// A username and password, with the browser's device cookie, if it
    /// sent one (a known device of the account is throttled apart).
    Password {
        /// As submitted.
        username: &'a str,
        /// As submitted.
        password: &'a RawPassword,
        /// The device cookie's value.
        device_cookie: Option<&'a str>,
    },
    /// A passkey assertion (`PublicKeyCredential.toJSON()`) answering the
    /// options kept in the session: both factors at once.
    Passkey(serde_json::Value),
    /// The second step of the sign-in pending in the session.
    SecondStep(SecondFactor),
    /// An account vouched for before the pipeline: by a provider's verified
    /// ID token, or a sign-up that just created it. A first factor only.
    Vouched {
        /// The account.
        user: User,
        /// Who vouched, for the audit trail (`provider corp`, `new account`).
        by: String,
    },
}

/// Where a proved sign-in lands.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    /// A browser's session: signed in under a new key and CSRF secret.
    Session {
        /// The request's session.
        session: &'a Session,
        /// The request's CSRF token.
        csrf: &'a CsrfToken,
        /// A persistent cookie, or one that ends with the browser (a second
        /// step keeps what the first step asked for).
        remember: bool,
    },
    /// The signed-in session of `user` proves the password again: a new
    /// key and CSRF secret, the time of authentication stamped.
    Refresh {
        /// The request's session.
        session: &'a Session,
        /// The request's CSRF token.
        csrf: &'a CsrfToken,
        /// Its user: the proof must be theirs.
        user: &'a User,
    },
    /// This request alone (HTTP Basic): nothing is stored, no cookie is set.
    Request,
}

/// A sign-in that went through.
#[derive(Debug, Clone)]
pub struct SignedIn {
    /// The account, as it is now.
    pub user: User,
    /// The second factor that was proved, if one was.
    pub factor: Option<FactorUsed>,
}

/// How a sign-in ended when nothing failed.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Signed in.
    SignedIn(SignedIn),
    /// The first factor is proved and the account has a second one: the
    /// session holds the pending sign-in (anonymous, under a new key) for
    /// 5 minutes, waiting for one of `methods`.
    SecondFactor {
        /// `totp`, `webauthn`, `recovery_code`.
        methods: Vec<&'static str>,
    },
}

/// A proof that passed its verify step.
struct Proved {
    user: User,
    /// The second factor proved with it (a passkey, a second step).
    factor: Option<FactorUsed>,
    /// How, for the audit trail.
    how: String,
    /// What the pending sign-in asked for (a second step), over the target's.
    remember: Option<bool>,
}

impl SignIn {
    /// Signs in through the pipeline (see the module text): every way in
    /// calls this and nothing else establishes a session.
    ///
    /// # Errors
    /// What the proof's verify step refuses ([`AuthError::InvalidCredentials`],
    /// [`AuthError::Throttled`], [`SecondFactorError::WebauthnFailed`],
    /// [`SecondFactorError::InvalidCode`], [`SecondFactorError::MfaNotPending`], …),
    /// [`AuthError::EmailUnverified`], [`AuthError::SecondFactorUnsupported`]
    /// (HTTP Basic for an account with a second factor), or a store/hasher failure.
    pub async fn sign_in(
        &self,
        way: WayIn,
        proof: Proof<'_>,
        target: Target<'_>,
        client: &ClientInfo,
    ) -> Result<Outcome, AuthError> {
        let proved = self.verify_proof(way, proof, target, client).await?;
        // A refresh proves the session's own user again, nobody else.
        if let Target::Refresh { user, .. } = target
            && user.id != proved.user.id
        {
            return Err(AuthError::InvalidCredentials);
        }
        self.check_account_state(&proved.user, client).await?;
        if proved.factor.is_none() && !matches!(target, Target::Refresh { .. }) {
            let methods = self.factors.mfa_methods(proved.user.id).await?;
            if !methods.is_empty() {
                return match target {
                    Target::Session { session, csrf, remember } => {
                        self.factors
                            .begin_second_factor(session, csrf, &proved.user, remember, &methods, client)
                            .await?;
                        Ok(Outcome::SecondFactor { methods })
                    }
                    Target::Request | Target::Refresh { .. } => Err(AuthError::SecondFactorUnsupported),
                };
            }
        }
        self.establish(way, &proved, target, client).await?;
        Ok(Outcome::SignedIn(SignedIn { user: proved.user, factor: proved.factor }))
    }

    /// Stage 1: identify, throttle and verify, per kind of proof.
    async fn verify_proof(
        &self,
        way: WayIn,
        proof: Proof<'_>,
        target: Target<'_>,
        client: &ClientInfo,
    ) -> Result<Proved, AuthError> {
        let session = match target {
            Target::Session { session, .. } | Target::Refresh { session, .. } => Some(session),
            Target::Request => None,
        };
        let first = |user: User, how: String| Proved { user, factor: None, how, remember: None };
        match proof {
            Proof::Password { username, password, device_cookie } => {
                let user = self
                    .passwords
                    .authenticate_throttled(username, password, client.ip, device_cookie, way.label())
                    .await?;
                Ok(first(user, "with a password".into()))
            }
            Proof::Vouched { user, by } => Ok(first(user, by)),
            #[cfg(feature = "webauthn")]
            Proof::Passkey(credential) => {
                let session = session.ok_or(SecondFactorError::WebauthnNotStarted)?;
                let (user, name) = self.factors.verify_passkey(session, credential, client).await?;
                let how = format!("with passkey {name:?}");
                Ok(Proved { user, factor: Some(FactorUsed::Webauthn(name)), how, remember: None })
            }
            #[cfg(not(feature = "webauthn"))]
            Proof::Passkey(_) => Err(SecondFactorError::WebauthnUnavailable.into()),
            Proof::SecondStep(proof) => {
                let session = session.ok_or(SecondFactorError::MfaNotPending)?;
                let (user, used, remember) = self.factors.verify_second_step(session, proof, client).await?;
                let how = match &used {
                    FactorUsed::Totp => "with an authenticator app".to_owned(),
                    FactorUsed::Webauthn(name) => format!("with passkey {name:?}"),
                    FactorUsed::RecoveryCode(left) => format!("with a recovery code ({left} left)"),
                };
                Ok(Proved { user, factor: Some(used), how, remember: Some(remember) })
            }
        }
    }

    /// Stage 2: the account may sign in. Every verify step already refuses
    /// inactive accounts with its own answer (equal work for unknown and
    /// disabled ones); this is the backstop, and the address check.
    async fn check_account_state(&self, user: &User, client: &ClientInfo) -> Result<(), AuthError> {
        if !user.is_active {
            return Err(AuthError::InvalidCredentials);
        }
        self.refuse_unverified(user, client).await
    }

    /// Stage 4: establish what the target asks for, then one audit event
    /// and one metric.
    async fn establish(
        &self,
        way: WayIn,
        proved: &Proved,
        target: Target<'_>,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        let user = &proved.user;
        let now = self.core.clock().now();
        let event = |name: &str| AuditEvent::new(now, name).username(&user.username).user_id(user.id).client(client.ip);
        match target {
            Target::Session { session, csrf, remember } => {
                let remember = proved.remember.unwrap_or(remember);
                session.cycle_login(user.id, self.sessions.session_auth_hash(user), remember, client).await?;
                csrf.rotate();
                self.issue_device_cookie(session, user).await;
                self.users.record_login(user.id, now).await?;
                let kind = if remember { "persistent session" } else { "browser session" };
                self.core.audit(event("login").detail(format!("via {}; {}; {kind}", way.label(), proved.how))).await;
            }
            Target::Refresh { session, csrf, .. } => {
                session.rotate_authenticated(None).await?;
                csrf.rotate();
                self.issue_device_cookie(session, user).await;
                self.core.audit(event("reauthenticated").detail(format!("via {}; {}", way.label(), proved.how))).await;
            }
            // Per request, like DRF's BasicAuthentication: no session, no
            // `last_login`, and no audit row per request (a script would
            // flood the trail); the metric still counts each.
            Target::Request => {}
        }
        self.core.metrics().sign_in(way.label());
        Ok(())
    }

    /// [`AuthError::EmailUnverified`] when `user` must confirm their address
    /// before signing in (`accounts.email_verification = mandatory`); a new
    /// link goes out then, unless this address has asked too often.
    async fn refuse_unverified(&self, user: &User, client: &ClientInfo) -> Result<(), AuthError> {
        if !self.mail.must_verify(user) {
            return Ok(());
        }
        // The user proved who they are, so saying so reveals nothing.
        match self.mail.count_mail_request("verify", &user.email, client.ip).await {
            Ok(()) => self.mail.enqueue(crate::mail::Job::VerifyEmail { email: user.email.clone() }).await?,
            Err(AuthError::RequestsThrottled(_)) => {}
            Err(e) => return Err(e),
        }
        self.core
            .audit(
                AuditEvent::new(self.core.clock().now(), "login_unverified")
                    .username(&user.username)
                    .user_id(user.id)
                    .client(client.ip),
            )
            .await;
        Err(AuthError::EmailUnverified)
    }

    /// This browser is now a known device of the account (the cookie
    /// survives logout); nothing when device cookies are off.
    async fn issue_device_cookie(&self, session: &Session, user: &User) {
        if let Some(value) = self.passwords.device_cookie_for(user) {
            session.set_device_cookie(value).await;
        }
    }
}
