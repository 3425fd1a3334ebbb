//! Second factors: time-based one-time passwords (RFC 6238, [`totp`]),
//! single-use recovery codes ([`recovery`]) and WebAuthn credentials —
//! passkeys and security keys ([`webauthn`]). The rules and the storage
//! trait only: no HTTP. The flows are `state/mfa.rs` and `state/webauthn.rs`.

pub mod recovery;
pub mod totp;
#[cfg(feature = "webauthn")]
pub mod webauthn;

use std::fmt;

use time::OffsetDateTime;

use crate::error::StoreError;

/// How long a sign-in may wait for its second factor after the password.
pub const PENDING_TTL: time::Duration = time::Duration::minutes(5);
/// How long a TOTP secret being set up stays the same (shown again on reload).
pub const SETUP_TTL: time::Duration = time::Duration::minutes(10);
/// Codes tried per pending sign-in before 429 (the account has its own
/// limit, `throttle.per_account`).
pub const MAX_CODE_ATTEMPTS: u32 = 5;

/// A user's active TOTP factor, as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpFactor {
    /// The secret, sealed with a key derived from the secret key.
    pub sealed_secret: String,
    /// The last step a code was accepted for (a code is accepted once).
    pub last_step: Option<u64>,
    /// When it was set up.
    pub created_at: OffsetDateTime,
    /// When a code was last accepted.
    pub last_used_at: Option<OffsetDateTime>,
}

impl fmt::Debug for TotpFactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TotpFactor")
            .field("last_step", &self.last_step)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

/// A registered WebAuthn credential (a passkey or a security key).
#[derive(Clone, PartialEq, Eq)]
pub struct WebauthnCredential {
    /// Ours: what the API names it by.
    pub id: i64,
    /// Whose.
    pub user_id: i64,
    /// The authenticator's credential id, base64url (unique).
    pub credential_id: String,
    /// The WebAuthn user handle it was registered under (a random UUID per
    /// user, so an authenticator learns nothing about the account).
    pub user_handle: String,
    /// The user's name for it.
    pub name: String,
    /// The public key and flags, as webauthn-rs serialises a `Passkey`.
    pub passkey: String,
    /// The authenticator's signature counter last seen (0: it keeps none).
    pub sign_count: u32,
    /// When it was registered.
    pub created_at: OffsetDateTime,
    /// When it last proved a sign-in.
    pub last_used_at: Option<OffsetDateTime>,
}

impl fmt::Debug for WebauthnCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebauthnCredential")
            .field("id", &self.id)
            .field("user_id", &self.user_id)
            .field("name", &self.name)
            .field("sign_count", &self.sign_count)
            .finish_non_exhaustive()
    }
}

/// Authenticator-app (TOTP) factors: one per user, each accepted step kept so a code is never used twice.
#[async_trait::async_trait]
pub trait TotpStore: Send + Sync + fmt::Debug + 'static {
    /// The user's active TOTP factor, if any.
    async fn totp(&self, user_id: i64) -> Result<Option<TotpFactor>, StoreError>;
    /// TOTP factor is active already.
    async fn enable_totp(
        &self,
        user_id: i64,
        sealed_secret: &str,
        recovery_codes: &[String],
        now: OffsetDateTime,
    ) -> Result<bool, StoreError>;
    /// another instance a moment ago).
    async fn use_totp_step(&self, user_id: i64, step: u64, now: OffsetDateTime) -> Result<bool, StoreError>;
    /// Removes the user's TOTP factor only; `true` if there was one.
    async fn disable_totp(&self, user_id: i64) -> Result<bool, StoreError>;
}

/// Passkeys and security keys (WebAuthn credentials), found by their credential id at sign-in.
#[async_trait::async_trait]
pub trait WebauthnStore: Send + Sync + fmt::Debug + 'static {
    /// The user's WebAuthn credentials, oldest first.
    async fn webauthn_credentials(&self, user_id: i64) -> Result<Vec<WebauthnCredential>, StoreError>;
    /// The credential with this authenticator credential id, whoever's.
    async fn webauthn_credential(&self, credential_id: &str) -> Result<Option<WebauthnCredential>, StoreError>;
    /// writing nothing, when its credential id is registered already.
    async fn add_webauthn_credential(
        &self,
        credential: &WebauthnCredential,
    ) -> Result<Option<WebauthnCredential>, StoreError>;
    /// assertion twice at once.
    async fn use_webauthn_credential(
        &self,
        id: i64,
        sign_count: u32,
        passkey: &str,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError>;
    /// Renames the user's credential `id`; `false` if they have none so named.
    async fn rename_webauthn_credential(&self, user_id: i64, id: i64, name: &str) -> Result<bool, StoreError>;
    /// Removes the user's credential `id`; `false` if they have none.
    async fn delete_webauthn_credential(&self, user_id: i64, id: i64) -> Result<bool, StoreError>;
}

/// Recovery codes, kept in their stored (keyed-hash) form, each used once.
#[async_trait::async_trait]
pub trait RecoveryCodeStore: Send + Sync + fmt::Debug + 'static {
    /// How many unused recovery codes the user has.
    async fn recovery_codes_left(&self, user_id: i64) -> Result<u32, StoreError>;
    /// is none (unknown, or used already — maybe a moment ago elsewhere).
    async fn use_recovery_code(&self, user_id: i64, stored: &str, now: OffsetDateTime) -> Result<bool, StoreError>;
    /// Replaces every recovery code of the user.
    async fn replace_recovery_codes(
        &self,
        user_id: i64,
        recovery_codes: &[String],
        now: OffsetDateTime,
    ) -> Result<(), StoreError>;
}

/// Storage for second factors, one trait per factor ([`TotpStore`],
/// [`WebauthnStore`], [`RecoveryCodeStore`]) so a flow names the factor it
/// touches; this one adds what spans them. Every implementation passes the
/// same conformance suite (`latchkey::mfa_store_conformance!`, feature
/// `testing`).
#[async_trait::async_trait]
pub trait MfaStore: TotpStore + WebauthnStore + RecoveryCodeStore {
    /// recovery codes; `true` if there was one.
    async fn reset(&self, user_id: i64) -> Result<bool, StoreError>;
}

/// The longest name of a credential, in characters.
pub const MAX_NAME_CHARS: usize = 64;
/// A credential's name when none is given.
pub const DEFAULT_NAME: &str = "Passkey";

/// A name for a credential: trimmed, control characters refused, at most
/// [`MAX_NAME_CHARS`]; empty becomes [`DEFAULT_NAME`].
///
/// # Errors
/// What is wrong with it, in words.
pub fn normalize_name(raw: &str) -> Result<String, String> {
    let name = raw.trim();
    if name.chars().any(char::is_control) {
        return Err("A name cannot contain control characters.".into());
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(format!("A name has at most {MAX_NAME_CHARS} characters."));
    }
    Ok(if name.is_empty() { DEFAULT_NAME.to_owned() } else { name.to_owned() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_bounded_and_default_to_passkey() {
        assert_eq!(normalize_name("  Laptop  ").unwrap(), "Laptop");
        assert_eq!(normalize_name("").unwrap(), DEFAULT_NAME);
        assert!(normalize_name("a\u{0}b").is_err());
        assert!(normalize_name(&"x".repeat(65)).is_err());
        assert_eq!(normalize_name(&"é".repeat(64)).unwrap().chars().count(), 64);
    }
}
