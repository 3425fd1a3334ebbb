//! What every flow that sends mail shares: the limits on mail-sending
//! requests, queueing a job (and waking the sender), the submitted address,
//! and a single-use key with its link.

use crate::{
    Latchkey,
    auth::AuthError,
    keys::{KeyPurpose, KeyRecord, OneTimeKey},
    mail::Job,
    throttle::{Throttled, client_key},
    users::Email,
};

/// The counting window of the mail-sending request limits.
const WINDOW: time::Duration = time::Duration::HOUR;

/// A submitted address that must be present and valid.
pub(crate) fn required_email(raw: &str) -> Result<Email, AuthError> {
    match Email::parse(raw) {
        Ok(e) if !e.as_str().is_empty() => Ok(e),
        _ => Err(AuthError::InvalidEmail),
    }
}

impl Latchkey {
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
        let now = self.clock().now();
        let accounts = &self.settings().accounts;
        let address = crate::crypto::sha256_hex(email.to_lowercase().as_bytes());
        let counters = [
            ("address", format!("{kind}:addr:{address}"), accounts.password_reset_per_address),
            ("client", format!("{kind}:ip:{}", client_key(client)), accounts.password_reset_per_client),
        ];
        let mut refused = None;
        for (scope, key, limit) in counters {
            let c = self.throttle().record_failure(&key, now, WINDOW).await?;
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
        self.outbox().enqueue(&job, self.clock().now()).await?;
        self.outbox_wake().notify_one();
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
        let now = self.clock().now();
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
        let link = format!("{}{path}?key={}", self.settings().accounts.frontend_url, key.expose());
        (record, link)
    }
}
