//! Linked identities in memory.

use std::sync::Mutex;

use time::OffsetDateTime;

use super::lock;
use crate::{
    error::StoreError,
    oidc::{Identity, IdentityStore, NewIdentity},
};

/// Identities in process memory, in linking order.
#[derive(Debug, Default)]
pub struct MemoryIdentityStore {
    rows: Mutex<(i64, Vec<Identity>)>,
}

#[async_trait::async_trait]
impl IdentityStore for MemoryIdentityStore {
    async fn link(&self, i: &NewIdentity, now: OffsetDateTime) -> Result<Option<Identity>, StoreError> {
        let mut g = lock(&self.rows);
        if g.1.iter().any(|r| r.provider == i.provider && r.issuer == i.issuer && r.subject == i.subject) {
            return Ok(None);
        }
        g.0 += 1;
        let row = Identity {
            id: g.0,
            user_id: i.user_id,
            provider: i.provider.clone(),
            issuer: i.issuer.clone(),
            subject: i.subject.clone(),
            email: i.email.clone(),
            created_at: now,
            last_used_at: None,
        };
        g.1.push(row.clone());
        Ok(Some(row))
    }

    async fn find(&self, provider: &str, issuer: &str, subject: &str) -> Result<Option<Identity>, StoreError> {
        Ok(lock(&self.rows)
            .1
            .iter()
            .find(|r| r.provider == provider && r.issuer == issuer && r.subject == subject)
            .cloned())
    }

    async fn list(&self, user_id: i64) -> Result<Vec<Identity>, StoreError> {
        let mut out: Vec<Identity> = lock(&self.rows).1.iter().filter(|r| r.user_id == user_id).cloned().collect();
        out.sort_by_key(|r| (r.created_at, r.id));
        Ok(out)
    }

    async fn unlink(&self, user_id: i64, id: i64) -> Result<bool, StoreError> {
        let mut g = lock(&self.rows);
        let before = g.1.len();
        g.1.retain(|r| !(r.id == id && r.user_id == user_id));
        Ok(g.1.len() < before)
    }

    async fn record_use(&self, id: i64, now: OffsetDateTime) -> Result<(), StoreError> {
        if let Some(r) = lock(&self.rows).1.iter_mut().find(|r| r.id == id) {
            r.last_used_at = Some(now);
        }
        Ok(())
    }
}
