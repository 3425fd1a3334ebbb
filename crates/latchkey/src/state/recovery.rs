//! Password reset by mail, without revealing which addresses have accounts.
//!
//! The request does the same work whatever the address: it counts the
//! attempt (per address and per client) and enqueues a "reset this
//! address" job. The outbox sender resolves the address: for each active
//! account using it, a single-use key and its mail are stored together;
//! for none, nothing. So neither the answer nor its timing says anything.
//!
//! A key works once, for `accounts.password_reset_ttl`, and only while the
//! account is as it was when the key was issued (password, address, last
//! login: Django's `PasswordResetTokenGenerator` rule). Confirming sets the
//! password, marks the address verified, ends every session of the user,
//! and signs nobody in.

use super::mailing::required_email;
use std::sync::Arc;

use crate::{
    audit::AuditEvent,
    auth::AuthError,
    crypto::constant_time_eq,
    keys::{KeyPurpose, KeyStore, OneTimeKey},
    mail::{Job, password_reset_mail},
    password::{PasswordHasher, RawPassword},
    state::{Core, Mailing, Oidc, SessionAuth},
    users::{User, UserStore},
};

/// Password reset by mail: what it touches.
#[derive(Clone)]
pub struct Recovery {
    pub(super) core: Core,
    pub(super) users: Arc<dyn UserStore>,
    pub(super) hasher: PasswordHasher,
    pub(super) keys: Arc<dyn KeyStore>,
    pub(super) sessions: SessionAuth,
    pub(super) mail: Mailing,
    /// Proving an address drops the provider links made before.
    pub(super) oidc: Oidc,
}

/// The HMAC salt of reset-key fingerprints.
pub(crate) const FINGERPRINT_SALT: &str = "latchkey.keys.reset_fingerprint";

impl Recovery {
    /// Someone asks to reset the password of the accounts using `email`:
    /// counted against the per-address and per-client limits, then queued.
    /// The answer is the same whether or not an account uses the address.
    ///
    /// # Errors
    /// [`AuthError::InvalidEmail`] for an address that does not parse,
    /// [`AuthError::RequestsThrottled`] past a limit, or a store failure.
    pub async fn request_password_reset(&self, email: &str, client: Option<std::net::IpAddr>) -> Result<(), AuthError> {
        let email = required_email(email)?;
        self.mail.count_mail_request("reset", email.as_str(), client).await?;
        self.mail.enqueue(Job::PasswordReset { email: email.as_str().to_owned() }).await
    }

    /// Sets a new password with a mailed key. The key must be valid (shape,
    /// purpose, unused, unexpired, account unchanged since); the password
    /// must pass the validators (checked before the key is spent, so a
    /// refused password leaves the link usable). Then every session of the
    /// user ends, the address counts as verified, and nobody is signed in.
    ///
    /// # Errors
    /// [`AuthError::InvalidKey`] (one answer for every reason),
    /// [`AuthError::PasswordInvalid`], or a store/hasher failure.
    pub async fn confirm_password_reset(
        &self,
        key: &str,
        new_password: &RawPassword,
        client: Option<std::net::IpAddr>,
    ) -> Result<(), AuthError> {
        let key = OneTimeKey::parse(key).ok_or(AuthError::InvalidKey)?;
        let now = self.core.clock().now();
        let record = self.keys.find(&key.hash(), KeyPurpose::PasswordReset, now).await?.ok_or(AuthError::InvalidKey)?;
        // The account as stored (the cache could hold an older last login).
        let user = match self.users.by_id(record.user_id).await? {
            Some(u) => self.users.by_username(&u.username).await?,
            None => None,
        };
        let Some(user) = user.filter(|u| u.is_active) else {
            return Err(AuthError::InvalidKey);
        };
        if !constant_time_eq(self.mail.reset_fingerprint(&user).as_bytes(), record.fingerprint.as_bytes()) {
            return Err(AuthError::InvalidKey);
        }
        let problems = self.core.settings().password_policy.check(new_password, &user.username, &user.email);
        if !problems.is_empty() {
            return Err(AuthError::PasswordInvalid(problems));
        }
        // Spent atomically: of two confirmations with one key, one wins.
        if self.keys.consume(&record.key_hash, KeyPurpose::PasswordReset, now).await?.is_none() {
            return Err(AuthError::InvalidKey);
        }
        let hash = self.hasher.hash(new_password).await?;
        self.users.set_password_hash(user.id, &hash).await?;
        if !user.email_verified && user.email.eq_ignore_ascii_case(&record.email) {
            self.users.set_email_verified(user.id, true).await?;
            self.oidc.unlink_unproved(&user, "by a password reset").await?;
        }
        self.core
            .audit(
                AuditEvent::new(now, "password_reset")
                    .username(&user.username)
                    .user_id(user.id)
                    .client(client)
                    .detail("by mailed key"),
            )
            .await;
        self.mail.notify_password_changed(&user, "with a link mailed to this address").await?;
        self.sessions.revoke_user_sessions(&user, "a password reset").await?;
        Ok(())
    }
}

/// The outbox's half of a reset, and what binds a key to the account.
impl Mailing {
    /// What a reset key is bound to: the account's password hash, address
    /// and last login, under the secret key. Any change kills the key.
    pub(super) fn reset_fingerprint(&self, user: &User) -> String {
        let last_login = user.last_login.map_or(0, time::OffsetDateTime::unix_timestamp);
        let state =
            format!("{}\u{0}{}\u{0}{}\u{0}{last_login}", user.id, user.password_hash, user.email.to_lowercase());
        self.reset_fingerprint_mac.hex(state.as_bytes()).to_string()
    }

    /// The outbox's half of a reset request: a key and a mail for each
    /// active account using `email` (none for an unknown address).
    pub(crate) async fn issue_password_resets(&self, email: &str) -> Result<(), AuthError> {
        let accounts = &self.core.settings().accounts;
        for user in self.users.active_by_email(email).await? {
            let (record, link) = self.mailed_key(
                KeyPurpose::PasswordReset,
                user.id,
                &user.email,
                self.reset_fingerprint(&user),
                accounts.password_reset_ttl,
                &accounts.reset_password_path,
            );
            let now = record.created_at;
            let mail = password_reset_mail(&user.email, &user.username, &link, accounts.password_reset_ttl);
            self.keys.issue(&record, &mail, now).await?;
            self.core
                .audit(
                    AuditEvent::new(now, "password_reset_sent")
                        .username(&user.username)
                        .user_id(user.id)
                        .detail("by mail"),
                )
                .await;
        }
        self.wake.notify_one();
        Ok(())
    }
}
