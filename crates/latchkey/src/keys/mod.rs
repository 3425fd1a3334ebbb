//! Single-use keys sent by mail (password reset, later email verification):
//! 32 characters from the OS CSPRNG (about 190 bits), stored only as their
//! SHA-256, with what they are for, whose, until when, and when used.
//! Consuming one is atomic, so two requests with the same key cannot both
//! succeed.

use std::fmt;

use time::OffsetDateTime;

use crate::crypto::{CSRF_CHARS, random_string, sha256_hex};
pub use crate::{error::StoreError, mail::Mail};

/// What a key is for; a key of one purpose never works for another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyPurpose {
    /// `POST /api/password/reset/confirm/`.
    PasswordReset,
    /// `POST /api/email/verify/`: proves the owner reads mail at the address.
    VerifyEmail,
    /// `POST /api/email/verify/` after `POST /api/email/change/`: the new
    /// address (the key's `email`) replaces the old one once proved.
    EmailChange,
}

impl KeyPurpose {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyPurpose::PasswordReset => "password_reset",
            KeyPurpose::VerifyEmail => "verify_email",
            KeyPurpose::EmailChange => "email_change",
        }
    }

    /// The purpose of a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "password_reset" => Some(KeyPurpose::PasswordReset),
            "verify_email" => Some(KeyPurpose::VerifyEmail),
            "email_change" => Some(KeyPurpose::EmailChange),
            _ => None,
        }
    }
}

/// A key as mailed. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct OneTimeKey(String);

impl OneTimeKey {
    /// A fresh key: 32 of 62 symbols from the OS CSPRNG (about 190 bits).
    pub fn generate() -> Self {
        Self(random_string(32, CSRF_CHARS))
    }

    /// A key from a request, if it has the shape of one we issue (so junk
    /// never reaches the store).
    pub fn parse(raw: &str) -> Option<Self> {
        (raw.len() == 32 && raw.bytes().all(|b| b.is_ascii_alphanumeric())).then(|| Self(raw.to_owned()))
    }

    /// The key's text, for the link.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What the store keeps.
    pub fn hash(&self) -> String {
        sha256_hex(self.0.as_bytes())
    }
}

impl fmt::Debug for OneTimeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OneTimeKey([redacted])")
    }
}

/// A stored key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    /// SHA-256 of the key, hex.
    pub key_hash: String,
    /// What it is for.
    pub purpose: KeyPurpose,
    /// Whose.
    pub user_id: i64,
    /// The address it was sent to.
    pub email: String,
    /// The account's state when issued (see `Mailing::reset_fingerprint`):
    /// a key whose fingerprint no longer matches is dead.
    pub fingerprint: String,
    /// When it was issued.
    pub created_at: OffsetDateTime,
    /// It is dead from this instant.
    pub expires_at: OffsetDateTime,
    /// When it was used; a used key is dead.
    pub used_at: Option<OffsetDateTime>,
}

/// Storage for keys. Every implementation passes
/// `latchkey::key_store_conformance!` (feature `testing`).
#[async_trait::async_trait]
pub trait KeyStore: Send + Sync + fmt::Debug + 'static {
    /// Stores `key` and, in the same transaction, enqueues `mail` in the
    /// outbox: either both are kept or neither.
    async fn issue(&self, key: &KeyRecord, mail: &Mail, now: OffsetDateTime) -> Result<(), StoreError>;
    /// The key, if it exists with this purpose and is unused and unexpired
    /// at `now` (a look that spends nothing).
    async fn find(
        &self,
        key_hash: &str,
        purpose: KeyPurpose,
        now: OffsetDateTime,
    ) -> Result<Option<KeyRecord>, StoreError>;
    /// Marks the key used and returns it, if it exists with this purpose,
    /// is unused and unexpired at `now` — in one atomic step, so of two
    /// concurrent calls at most one gets it.
    async fn consume(
        &self,
        key_hash: &str,
        purpose: KeyPurpose,
        now: OffsetDateTime,
    ) -> Result<Option<KeyRecord>, StoreError>;
    /// Deletes keys expired at `now`, used or not; returns how many.
    async fn delete_expired(&self, now: OffsetDateTime) -> Result<u64, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_long_random_hashed_and_never_printed() {
        let k = OneTimeKey::generate();
        assert_eq!(OneTimeKey::parse(k.expose()), Some(k.clone()));
        assert_ne!(k, OneTimeKey::generate());
        assert_eq!(k.hash().len(), 64);
        assert!(!format!("{k:?}").contains(k.expose()));
        for bad in ["", "short", &"a".repeat(33), &"é".repeat(16), "0123456789abcdef0123456789abcde!"] {
            assert!(OneTimeKey::parse(bad).is_none(), "{bad}");
        }
    }
}
