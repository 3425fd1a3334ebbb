//! Sign-up and email verification.
//!
//! Enumeration: usernames are public (as in Django), so a taken one is said
//! so; addresses are not. With `accounts.email_verification = mandatory` a
//! taken address gets the same answer as a new one, and its owner a mail
//! saying someone tried; in the other modes the user is signed in at once,
//! so a taken address must be refused (`email_taken`), which `check
//! --deploy` points out. Verification links are sent by the outbox sender
//! from a `VerifyEmail` job, the way reset links are, so a resend request
//! does the same work whatever the address.

use super::mailing::required_email;
use std::sync::Arc;

use crate::{
    audit::AuditEvent,
    auth::AuthError,
    csrf::CsrfToken,
    keys::KeyStore,
    keys::{KeyPurpose, KeyRecord, OneTimeKey},
    mail::OutboxStore,
    mail::{Job, email_change_notice, signup_attempt_mail, verification_mail},
    password::PasswordHasher,
    password::RawPassword,
    session::{ClientInfo, Session},
    settings::{EmailVerification, Signup},
    state::{Core, Mailing, Oidc, Outcome, Proof, SessionAuth, SignIn, Target, WayIn},
    users::{NewUser, User, UserStore, UserStoreError, Username},
};

/// Sign-up and the account's address (verification, change): what they touch.
#[derive(Clone)]
pub struct Registration {
    pub(super) core: Core,
    pub(super) users: Arc<dyn UserStore>,
    pub(super) hasher: PasswordHasher,
    pub(super) keys: Arc<dyn KeyStore>,
    /// A new account and its verification job are written together.
    pub(super) outbox: Arc<dyn OutboxStore>,
    pub(super) sessions: SessionAuth,
    pub(super) mail: Mailing,
    /// A sign-up that signs in at once is a way in.
    pub(super) sign_in: SignIn,
    /// Proving an address drops the provider links made before.
    pub(super) oidc: Oidc,
}

/// What a sign-up did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignedUp {
    /// The user is signed in (verification `none` or `optional`).
    SignedIn(User),
    /// Check your mail (verification `mandatory`; also the answer for a
    /// taken address, which must not be told apart).
    CheckYourMail,
    /// Signed up, and the sign-in waits for a second factor (one of these).
    SecondFactor(Vec<&'static str>),
}

impl Registration {
    /// Anyone asks for a new verification link for `email`: always the same
    /// answer (throttled like reset requests).
    ///
    /// # Errors
    /// [`AuthError::InvalidEmail`], [`AuthError::RequestsThrottled`], or a store failure.
    pub async fn request_verification(&self, email: &str, client: Option<std::net::IpAddr>) -> Result<(), AuthError> {
        let email = required_email(email)?;
        self.mail.count_mail_request("verify", email.as_str(), client).await?;
        self.mail.enqueue(Job::VerifyEmail { email: email.as_str().to_owned() }).await
    }

    /// Confirms an address with a mailed key: the key is spent and, if the
    /// account still uses the address it was sent to, the address counts as
    /// verified. Returns the user.
    ///
    /// # Errors
    /// [`AuthError::InvalidKey`] (one answer for every reason), or a store failure.
    pub async fn verify_email(&self, key: &str) -> Result<User, AuthError> {
        let key = OneTimeKey::parse(key).ok_or(AuthError::InvalidKey)?;
        let now = self.core.clock().now();
        let hash = key.hash();
        let record = match self.keys.consume(&hash, KeyPurpose::VerifyEmail, now).await? {
            Some(r) => r,
            None => {
                let change = self.keys.consume(&hash, KeyPurpose::EmailChange, now).await?;
                return self.complete_email_change(change.ok_or(AuthError::InvalidKey)?).await;
            }
        };
        let Some(mut user) = self.users.by_id(record.user_id).await? else {
            return Err(AuthError::InvalidKey);
        };
        if !user.email.eq_ignore_ascii_case(&record.email) {
            return Err(AuthError::InvalidKey);
        }
        if !user.email_verified {
            self.users.set_email_verified(user.id, true).await?;
            user.email_verified = true;
            self.core.audit(AuditEvent::new(now, "email_verified").username(&user.username).user_id(user.id)).await;
            self.oidc.unlink_unproved(&user, "by a mailed verification link").await?;
        }
        Ok(user)
    }

    /// A signed-in user asks to use `new` as their address (needs a recent
    /// authentication). A link goes to the new address and a notice to the
    /// old one; the address changes when the link is used. An address
    /// another account uses gets the same answer and no link.
    ///
    /// # Errors
    /// [`AuthError::ReauthenticationRequired`], [`AuthError::InvalidEmail`],
    /// [`AuthError::EmailUnchanged`], [`AuthError::RequestsThrottled`], or a store failure.
    pub async fn request_email_change(
        &self,
        user: &User,
        session: &Session,
        new: &str,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        self.sessions.require_recent_authentication(session).await?;
        let new = required_email(new)?;
        if new.as_str().eq_ignore_ascii_case(&user.email) {
            return Err(AuthError::EmailUnchanged);
        }
        self.mail.count_mail_request("email_change", new.as_str(), client.ip).await?;
        let now = self.core.clock().now();
        let accounts = &self.core.settings().accounts;
        if !self.users.any_with_email(new.as_str()).await? {
            let (record, link) = self.mail.mailed_key(
                KeyPurpose::EmailChange,
                user.id,
                new.as_str(),
                String::new(),
                accounts.email_verification_ttl,
                &accounts.verify_email_path,
            );
            let mail = verification_mail(new.as_str(), &user.username, &link, accounts.email_verification_ttl);
            self.keys.issue(&record, &mail, now).await?;
        }
        if !user.email.is_empty() {
            self.mail.enqueue(Job::Mail(email_change_notice(&user.email, &user.username, new.as_str()))).await?;
        }
        self.mail.wake.notify_one();
        self.core
            .audit(
                AuditEvent::new(now, "email_change_requested")
                    .username(&user.username)
                    .user_id(user.id)
                    .client(client.ip),
            )
            .await;
        Ok(())
    }

    async fn complete_email_change(&self, record: KeyRecord) -> Result<User, AuthError> {
        let Some(mut user) = self.users.by_id(record.user_id).await? else {
            return Err(AuthError::InvalidKey);
        };
        // Taken by another account since the link was sent: the link is dead.
        if self.users.any_with_email(&record.email).await? && !user.email.eq_ignore_ascii_case(&record.email) {
            return Err(AuthError::InvalidKey);
        }
        self.users.set_email(user.id, &record.email, true).await?;
        let was_verified = user.email_verified;
        self.core
            .audit(
                AuditEvent::new(self.core.clock().now(), "email_changed")
                    .username(&user.username)
                    .user_id(user.id)
                    .detail(format!("from {} to {}", user.email, record.email)),
            )
            .await;
        user.email = record.email;
        user.email_verified = true;
        if !was_verified {
            self.oidc.unlink_unproved(&user, "by a mailed address-change link").await?;
        }
        Ok(user)
    }

    /// Creates an account (`accounts.signup = open`). See the module text
    /// for what a taken address gets.
    ///
    /// # Errors
    /// [`AuthError::SignupClosed`], [`AuthError::InvalidUsername`],
    /// [`AuthError::InvalidEmail`], [`AuthError::PasswordInvalid`],
    /// [`AuthError::UsernameTaken`], [`AuthError::EmailTaken`] (not with
    /// `mandatory`), [`AuthError::RequestsThrottled`], or a store/hasher failure.
    pub async fn signup(
        &self,
        session: &Session,
        csrf: &CsrfToken,
        username: &str,
        email: &str,
        password: &RawPassword,
        client: &ClientInfo,
    ) -> Result<SignedUp, AuthError> {
        let accounts = &self.core.settings().accounts;
        if accounts.signup == Signup::Closed {
            return Err(AuthError::SignupClosed);
        }
        let username = Username::parse(username).map_err(|e| AuthError::InvalidUsername(e.0))?;
        let email = required_email(email)?;
        let problems = self.core.settings().password_policy.check(password, username.as_str(), email.as_str());
        if !problems.is_empty() {
            return Err(AuthError::PasswordInvalid(problems));
        }
        self.mail.count_mail_request("signup", email.as_str(), client.ip).await?;
        if self.users.by_username(username.as_str()).await?.is_some() {
            return Err(AuthError::UsernameTaken);
        }
        let mandatory = accounts.email_verification == EmailVerification::Mandatory;
        // Any account, active or not, holds its address.
        let taken = self.users.any_with_email(email.as_str()).await?;
        // The password is hashed either way, so a taken address costs the same time.
        let hash = self.hasher.hash(password).await?;
        if taken {
            if !mandatory {
                return Err(AuthError::EmailTaken);
            }
            let front = &accounts.frontend_url;
            let login = format!("{front}/");
            let reset = format!("{front}/forgot-password");
            self.mail.enqueue(Job::Mail(signup_attempt_mail(email.as_str(), &login, &reset))).await?;
            return Ok(SignedUp::CheckYourMail);
        }
        let new = NewUser {
            username,
            email,
            email_verified: false,
            password_hash: hash,
            first_name: String::new(),
            last_name: String::new(),
            is_staff: false,
            is_superuser: false,
        };
        // The account and its verification job together (one transaction on SQL).
        let created = match accounts.email_verification {
            EmailVerification::None => self.users.create(&new, self.core.clock().now()).await,
            _ => {
                let job = Job::VerifyEmail { email: new.email.as_str().to_owned() };
                self.users.create_with_job(&new, self.core.clock().now(), &job, self.outbox.as_ref()).await
            }
        };
        let user = match created {
            Ok(u) => u,
            // Two sign-ups raced for the name.
            Err(UserStoreError::Duplicate) => return Err(AuthError::UsernameTaken),
            Err(e) => return Err(e.into()),
        };
        self.core
            .audit(
                AuditEvent::new(self.core.clock().now(), "signup")
                    .username(&user.username)
                    .user_id(user.id)
                    .client(client.ip),
            )
            .await;
        self.mail.wake.notify_one();
        if mandatory {
            return Ok(SignedUp::CheckYourMail);
        }
        let proof = Proof::Vouched { user, by: "new account".into() };
        let target = Target::Session { session, csrf, remember: true };
        Ok(match self.sign_in.sign_in(WayIn::Signup, proof, target, client).await? {
            Outcome::SignedIn(signed_in) => SignedUp::SignedIn(signed_in.user),
            // A new account has no second factor, so this cannot be; the
            // answer is still the truth if it were.
            Outcome::SecondFactor { methods } => SignedUp::SecondFactor(methods),
        })
    }
}

/// The outbox's half of a verification request.
impl Mailing {
    /// The outbox's half: a key and a mail for each active account using
    /// `email` whose address is not verified yet.
    pub(crate) async fn issue_verifications(&self, email: &str) -> Result<(), AuthError> {
        let accounts = &self.core.settings().accounts;
        for user in self.users.active_by_email(email).await? {
            if user.email_verified {
                continue;
            }
            let (record, link) = self.mailed_key(
                KeyPurpose::VerifyEmail,
                user.id,
                &user.email,
                String::new(),
                accounts.email_verification_ttl,
                &accounts.verify_email_path,
            );
            let mail = verification_mail(&user.email, &user.username, &link, accounts.email_verification_ttl);
            self.keys.issue(&record, &mail, record.created_at).await?;
        }
        self.wake.notify_one();
        Ok(())
    }
}
