//! What every flow that sends mail shares: the limits on mail-sending
//! requests, queueing a job (and waking the sender), the submitted address,
//! and a single-use key with its link.

use std::sync::{Arc, RwLock};

use crate::{
    auth::AuthError,
    crypto,
    keys::{KeyPurpose, KeyRecord, KeyStore, OneTimeKey},
    mail::{Job, MailTransport, OutboxStore},
    settings::EmailVerification,
    state::Core,
    throttle::{ThrottleStore, Throttled, client_key},
    users::{Email, User, UserStore},
};

/// Mail and the single-use keys it carries: the outbox and its sender, the
/// keys, the counters of mail-sending requests, and the transport.
#[derive(Clone)]
pub struct Mailing {
    pub(super) core: Core,
    pub(super) users: Arc<dyn UserStore>,
    pub(super) keys: Arc<dyn KeyStore>,
    pub(super) outbox: Arc<dyn OutboxStore>,
    pub(super) throttle: Arc<dyn ThrottleStore>,
    /// Wakes the outbox sender (something was just enqueued).
    pub(super) wake: Arc<tokio::sync::Notify>,
    /// The HMAC that binds a reset key to the account's state.
    pub(super) reset_fingerprint_mac: Arc<crypto::SaltedHmac>,
    pub(super) transport: Arc<RwLock<Arc<dyn MailTransport>>>,
}

/// The counting window of the mail-sending request limits.
const WINDOW: time::Duration = time::Duration::HOUR;

/// A submitted address that must be present and valid.
pub(crate) fn required_email(raw: &str) -> Result<Email, AuthError> {
    match Email::parse(raw) {
        Ok(e) if !e.as_str().is_empty() => Ok(e),
        _ => Err(AuthError::InvalidEmail),
    }
}

impl Mailing {
    /// Counts a mail-sending request of `kind` (reset, verify, signup,
    /// email_change: each counted apart) against the per-address and
    /// per-client limits (`accounts.password_reset_per_*`). Both are counted
    /// before either is checked, so hammering one address spends the
    /// client's allowance too; the address is hashed, so the counters never
    /// hold what an attacker typed.
    pub(crate) async fn count_mail_request(
        &self,
        kind: &str,
        email: &str,
        client: Option<std::net::IpAddr>,
    ) -> Result<(), AuthError> {
        let now = self.core.clock().now();
        let accounts = &self.core.settings().accounts;
        let address = crate::crypto::sha256_hex(email.to_lowercase().as_bytes());
        let counters = [
            ("address", format!("{kind}:addr:{address}"), accounts.password_reset_per_address),
            ("client", format!("{kind}:ip:{}", client_key(client)), accounts.password_reset_per_client),
        ];
        let mut refused = None;
        for (scope, key, limit) in counters {
            let c = self.throttle.record_failure(&key, now, WINDOW).await?;
            if c.failures > limit && refused.is_none() {
                refused =
                    Some(Throttled { scope, retry_after: (c.window_start + WINDOW - now).max(time::Duration::SECOND) });
            }
        }
        match refused {
            Some(t) => Err(AuthError::RequestsThrottled(t)),
            None => Ok(()),
        }
    }

    /// Queues `job` and wakes this instance's sender.
    pub(crate) async fn enqueue(&self, job: Job) -> Result<(), AuthError> {
        self.outbox.enqueue(&job, self.core.clock().now()).await?;
        self.wake.notify_one();
        Ok(())
    }

    /// A fresh key of `purpose` for `user_id` and `email`, valid for `ttl`,
    /// and the link that carries it to the SPA page at `path` (always under
    /// `accounts.frontend_url`, never the request's host).
    pub(crate) fn mailed_key(
        &self,
        purpose: KeyPurpose,
        user_id: i64,
        email: &str,
        fingerprint: String,
        ttl: std::time::Duration,
        path: &str,
    ) -> (KeyRecord, String) {
        let now = self.core.clock().now();
        let key = OneTimeKey::generate();
        let record = KeyRecord {
            key_hash: key.hash(),
            purpose,
            user_id,
            email: email.to_owned(),
            fingerprint,
            created_at: now,
            expires_at: now + time::Duration::try_from(ttl).unwrap_or(time::Duration::HOUR),
            used_at: None,
        };
        let link = format!("{}{path}?key={}", self.core.settings().accounts.frontend_url, key.expose());
        (record, link)
    }

    /// Whether `user` must verify the address before signing in: only with
    /// `mandatory`, and never without an address.
    pub fn must_verify(&self, user: &User) -> bool {
        self.core.settings().accounts.email_verification == EmailVerification::Mandatory
            && !user.email.is_empty()
            && !user.email_verified
    }

    /// Tells the account's address that its password changed (ASVS 6.3.7),
    /// through the outbox.
    pub(crate) async fn notify_password_changed(&self, user: &User, how: &str) -> Result<(), AuthError> {
        if user.email.is_empty() {
            return Ok(());
        }
        let mail = crate::mail::password_changed_notice(&user.email, &user.username, how);
        self.enqueue(crate::mail::Job::Mail(mail)).await
    }

    /// How mail leaves (from `email.backend`).
    pub fn transport(&self) -> Arc<dyn MailTransport> {
        self.transport.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Replaces the mail transport, e.g. with a
    /// [`crate::mailer::MemoryTransport`] in tests.
    pub fn set_transport(&self, transport: Arc<dyn MailTransport>) {
        *self.transport.write().unwrap_or_else(std::sync::PoisonError::into_inner) = transport;
    }
}
