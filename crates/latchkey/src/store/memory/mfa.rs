//! Second factors in process memory.

use std::{collections::HashMap, sync::Mutex};

use time::OffsetDateTime;

use super::lock;
use crate::{
    error::StoreError,
    mfa::{MfaStore, RecoveryCodeStore, TotpFactor, TotpStore, WebauthnCredential, WebauthnStore},
};

#[derive(Debug, Default)]
struct Inner {
    totp: HashMap<i64, TotpFactor>,
    /// (stored form, used) per user.
    codes: HashMap<i64, Vec<(String, bool)>>,
    webauthn: Vec<WebauthnCredential>,
    next_id: i64,
}

/// Second factors in process memory: for tests and single-process development.
#[derive(Debug, Default)]
pub struct MemoryMfaStore(Mutex<Inner>);

impl MemoryMfaStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait::async_trait]
impl TotpStore for MemoryMfaStore {
    async fn totp(&self, user_id: i64) -> Result<Option<TotpFactor>, StoreError> {
        Ok(lock(&self.0).totp.get(&user_id).cloned())
    }

    async fn enable_totp(
        &self,
        user_id: i64,
        sealed_secret: &str,
        recovery_codes: &[String],
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let mut inner = lock(&self.0);
        if inner.totp.contains_key(&user_id) {
            return Ok(false);
        }
        let factor = TotpFactor {
            sealed_secret: sealed_secret.to_owned(),
            last_step: None,
            created_at: now,
            last_used_at: None,
        };
        inner.totp.insert(user_id, factor);
        if !recovery_codes.is_empty() {
            inner.codes.insert(user_id, recovery_codes.iter().map(|c| (c.clone(), false)).collect());
        }
        Ok(true)
    }

    async fn use_totp_step(&self, user_id: i64, step: u64, now: OffsetDateTime) -> Result<bool, StoreError> {
        Ok(match lock(&self.0).totp.get_mut(&user_id) {
            Some(f) if f.last_step.is_none_or(|last| step > last) => {
                f.last_step = Some(step);
                f.last_used_at = Some(now);
                true
            }
            _ => false,
        })
    }

    async fn disable_totp(&self, user_id: i64) -> Result<bool, StoreError> {
        Ok(lock(&self.0).totp.remove(&user_id).is_some())
    }
}

#[async_trait::async_trait]
impl WebauthnStore for MemoryMfaStore {
    async fn webauthn_credentials(&self, user_id: i64) -> Result<Vec<WebauthnCredential>, StoreError> {
        Ok(lock(&self.0).webauthn.iter().filter(|c| c.user_id == user_id).cloned().collect())
    }

    async fn webauthn_credential(&self, credential_id: &str) -> Result<Option<WebauthnCredential>, StoreError> {
        Ok(lock(&self.0).webauthn.iter().find(|c| c.credential_id == credential_id).cloned())
    }

    async fn add_webauthn_credential(
        &self,
        credential: &WebauthnCredential,
    ) -> Result<Option<WebauthnCredential>, StoreError> {
        let mut inner = lock(&self.0);
        if inner.webauthn.iter().any(|c| c.credential_id == credential.credential_id) {
            return Ok(None);
        }
        inner.next_id += 1;
        let added = WebauthnCredential { id: inner.next_id, ..credential.clone() };
        inner.webauthn.push(added.clone());
        Ok(Some(added))
    }

    async fn use_webauthn_credential(
        &self,
        id: i64,
        sign_count: u32,
        passkey: &str,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let mut inner = lock(&self.0);
        let Some(c) = inner.webauthn.iter_mut().find(|c| c.id == id) else { return Ok(false) };
        if !(sign_count > c.sign_count || (sign_count == 0 && c.sign_count == 0)) {
            return Ok(false);
        }
        c.sign_count = sign_count;
        passkey.clone_into(&mut c.passkey);
        c.last_used_at = Some(now);
        Ok(true)
    }

    async fn rename_webauthn_credential(&self, user_id: i64, id: i64, name: &str) -> Result<bool, StoreError> {
        let mut inner = lock(&self.0);
        match inner.webauthn.iter_mut().find(|c| c.id == id && c.user_id == user_id) {
            Some(c) => {
                name.clone_into(&mut c.name);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn delete_webauthn_credential(&self, user_id: i64, id: i64) -> Result<bool, StoreError> {
        let mut inner = lock(&self.0);
        let before = inner.webauthn.len();
        inner.webauthn.retain(|c| !(c.id == id && c.user_id == user_id));
        Ok(inner.webauthn.len() < before)
    }
}

#[async_trait::async_trait]
impl RecoveryCodeStore for MemoryMfaStore {
    async fn recovery_codes_left(&self, user_id: i64) -> Result<u32, StoreError> {
        let inner = lock(&self.0);
        Ok(inner.codes.get(&user_id).map_or(0, |c| c.iter().filter(|(_, used)| !used).count() as u32))
    }

    async fn use_recovery_code(&self, user_id: i64, stored: &str, _now: OffsetDateTime) -> Result<bool, StoreError> {
        let mut inner = lock(&self.0);
        match inner.codes.get_mut(&user_id).and_then(|c| c.iter_mut().find(|(s, used)| s == stored && !used)) {
            Some(code) => {
                code.1 = true;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn replace_recovery_codes(
        &self,
        user_id: i64,
        recovery_codes: &[String],
        _now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        lock(&self.0).codes.insert(user_id, recovery_codes.iter().map(|c| (c.clone(), false)).collect());
        Ok(())
    }
}

#[async_trait::async_trait]
impl MfaStore for MemoryMfaStore {
    async fn reset(&self, user_id: i64) -> Result<bool, StoreError> {
        let mut inner = lock(&self.0);
        inner.codes.remove(&user_id);
        let before = inner.webauthn.len();
        inner.webauthn.retain(|c| c.user_id != user_id);
        let had_keys = inner.webauthn.len() < before;
        Ok(inner.totp.remove(&user_id).is_some() || had_keys)
    }
}
