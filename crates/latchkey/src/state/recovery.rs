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

use crate::{
    Latchkey,
    audit::AuditEvent,
    auth::AuthError,
    crypto::constant_time_eq,
    keys::{KeyPurpose, KeyRecord, OneTimeKey},
    mail::{Job, password_reset_mail},
    password::RawPassword,
    throttle::{Throttled, client_key},
    users::{Email, User},
};

/// The HMAC salt of reset-key fingerprints.
pub(crate) const FINGERPRINT_SALT: &str = "latchkey.keys.reset_fingerprint";

/// The counting window of the reset-request limits.
const RESET_WINDOW: time::Duration = time::Duration::HOUR;

impl Latchkey {
    /// What a reset key is bound to: the account's password hash, address
    /// and last login, under the secret key. Any change kills the key.
    fn reset_fingerprint(&self, user: &User) -> String {
        let last_login = user.last_login.map_or(0, time::OffsetDateTime::unix_timestamp);
        let state =
            format!("{}\u{0}{}\u{0}{}\u{0}{last_login}", user.id, user.password_hash, user.email.to_lowercase());
        self.reset_fingerprint_mac().hex(state.as_bytes()).to_string()
    }

    /// Someone asks to reset the password of the accounts using `email`:
    /// counted against the per-address and per-client limits, then queued.
    /// The answer is the same whether or not an account uses the address.
    ///
    /// # Errors
    /// [`AuthError::InvalidEmail`] for an address that does not parse,
    /// [`AuthError::RequestsThrottled`] past a limit, or a store failure.
    pub async fn request_password_reset(&self, email: &str, client: Option<std::net::IpAddr>) -> Result<(), AuthError> {
        let email = Email::parse(email).map_err(|_| AuthError::InvalidEmail)?;
        if email.as_str().is_empty() {
            return Err(AuthError::InvalidEmail);
        }
        let now = self.clock().now();
        let accounts = &self.settings().accounts;
        // The address is stored hashed: the counters never hold what an attacker typed.
        let address = crate::crypto::sha256_hex(email.as_str().to_lowercase().as_bytes());
        let counters = [
            ("address", format!("reset:addr:{address}"), accounts.password_reset_per_address),
            ("client", format!("reset:ip:{}", client_key(client)), accounts.password_reset_per_client),
        ];
        // Both counted before either is checked: hammering one address
        // spends the client's allowance too.
        let mut refused = None;
        for (scope, key, limit) in counters {
            let c = self.throttle().record_failure(&key, now, RESET_WINDOW).await?;
            if c.failures > limit && refused.is_none() {
                let retry_after = (c.window_start + RESET_WINDOW - now).max(time::Duration::SECOND);
                refused = Some(Throttled { scope, retry_after });
            }
        }
        if let Some(t) = refused {
            return Err(AuthError::RequestsThrottled(t));
        }
        self.outbox().enqueue(&Job::PasswordReset { email: email.as_str().to_owned() }, now).await?;
        self.outbox_wake().notify_one();
        Ok(())
    }

    /// The outbox's half of a reset request: a key and a mail for each
    /// active account using `email` (none for an unknown address).
    pub(crate) async fn issue_password_resets(&self, email: &str) -> Result<(), AuthError> {
        let accounts = &self.settings().accounts;
        for user in self.users().active_by_email(email).await? {
            let now = self.clock().now();
            let key = OneTimeKey::generate();
            let ttl = time::Duration::try_from(accounts.password_reset_ttl).unwrap_or(time::Duration::HOUR);
            let record = KeyRecord {
                key_hash: key.hash(),
                purpose: KeyPurpose::PasswordReset,
                user_id: user.id,
                email: user.email.clone(),
                fingerprint: self.reset_fingerprint(&user),
                created_at: now,
                expires_at: now + ttl,
                used_at: None,
            };
            let link = format!("{}{}?key={}", accounts.frontend_url, accounts.reset_password_path, key.expose());
            let mail = password_reset_mail(&user.email, &user.username, &link, accounts.password_reset_ttl);
            self.keys().issue(&record, &mail, now).await?;
            self.audit(
                AuditEvent::new(now, "password_reset_sent").username(&user.username).user_id(user.id).detail("by mail"),
            )
            .await;
        }
        self.outbox_wake().notify_one();
        Ok(())
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
        let now = self.clock().now();
        let record =
            self.keys().find(&key.hash(), KeyPurpose::PasswordReset, now).await?.ok_or(AuthError::InvalidKey)?;
        // The account as stored (the cache could hold an older last login).
        let user = match self.users().by_id(record.user_id).await? {
            Some(u) => self.users().by_username(&u.username).await?,
            None => None,
        };
        let Some(user) = user.filter(|u| u.is_active) else {
            return Err(AuthError::InvalidKey);
        };
        if !constant_time_eq(self.reset_fingerprint(&user).as_bytes(), record.fingerprint.as_bytes()) {
            return Err(AuthError::InvalidKey);
        }
        let problems = self.settings().password_policy.check(new_password, &user.username, &user.email);
        if !problems.is_empty() {
            return Err(AuthError::PasswordInvalid(problems));
        }
        // Spent atomically: of two confirmations with one key, one wins.
        if self.keys().consume(&record.key_hash, KeyPurpose::PasswordReset, now).await?.is_none() {
            return Err(AuthError::InvalidKey);
        }
        let hash = self.hasher().hash(new_password).await?;
        self.users().set_password_hash(user.id, &hash).await?;
        if !user.email_verified && user.email.eq_ignore_ascii_case(&record.email) {
            self.users().set_email_verified(user.id, true).await?;
        }
        self.audit(
            AuditEvent::new(now, "password_reset")
                .username(&user.username)
                .user_id(user.id)
                .client(client)
                .detail("by mailed key"),
        )
        .await;
        self.notify_password_changed(&user, "with a link mailed to this address").await?;
        self.revoke_user_sessions(&user, "a password reset").await?;
        Ok(())
    }
}
