//! Sessions in process memory.

use std::{collections::HashMap, sync::Mutex};

use time::OffsetDateTime;

use crate::{
    error::StoreError,
    page::{Page, PageRequest},
    session::{SessionKeyHash, SessionRecord, SessionStore},
};

/// Sessions in process memory: for tests and single-process development. Lost
/// on restart and not shared between instances.
#[derive(Debug, Default)]
pub struct MemorySessionStore {
    records: Mutex<HashMap<String, SessionRecord>>,
}

impl MemorySessionStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, SessionRecord>> {
        super::lock(&self.records)
    }
}

#[async_trait::async_trait]
impl SessionStore for MemorySessionStore {
    async fn create(&self, record: &SessionRecord) -> Result<(), StoreError> {
        let mut map = self.map();
        if map.contains_key(record.key_hash.as_str()) {
            return Err(StoreError::Conflict);
        }
        map.insert(record.key_hash.0.clone(), record.clone());
        Ok(())
    }

    async fn load(&self, key: &SessionKeyHash, now: OffsetDateTime) -> Result<Option<SessionRecord>, StoreError> {
        Ok(self.map().get(key.as_str()).filter(|r| !r.is_expired(now)).cloned())
    }

    async fn save(&self, record: &SessionRecord) -> Result<bool, StoreError> {
        Ok(match self.map().get_mut(record.key_hash.as_str()) {
            Some(r) => {
                *r = record.clone();
                true
            }
            None => false,
        })
    }

    async fn touch(
        &self,
        key: &SessionKeyHash,
        last_seen: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        Ok(match self.map().get_mut(key.as_str()) {
            Some(r) => {
                r.last_seen = last_seen;
                r.expires_at = expires_at;
                true
            }
            None => false,
        })
    }

    async fn delete(&self, key: &SessionKeyHash) -> Result<bool, StoreError> {
        Ok(self.map().remove(key.as_str()).is_some())
    }

    async fn delete_user_sessions(&self, user_id: i64, keep: Option<&SessionKeyHash>) -> Result<u64, StoreError> {
        let mut map = self.map();
        let before = map.len();
        map.retain(|k, r| r.user_id != Some(user_id) || keep.is_some_and(|keep| keep.as_str() == k));
        Ok((before - map.len()) as u64)
    }

    async fn list_user_sessions(&self, user_id: i64, now: OffsetDateTime) -> Result<Vec<SessionRecord>, StoreError> {
        let mut v: Vec<_> =
            self.map().values().filter(|r| r.user_id == Some(user_id) && !r.is_expired(now)).cloned().collect();
        v.sort_by(|a, b| b.created_at.cmp(&a.created_at).then_with(|| a.key_hash.as_str().cmp(b.key_hash.as_str())));
        Ok(v)
    }

    async fn list_live(&self, now: OffsetDateTime, page: PageRequest) -> Result<Page<SessionRecord>, StoreError> {
        let mut v: Vec<_> =
            self.map().values().filter(|r| r.user_id.is_some() && !r.is_expired(now)).cloned().collect();
        v.sort_by(|a, b| b.last_seen.cmp(&a.last_seen).then_with(|| a.key_hash.as_str().cmp(b.key_hash.as_str())));
        Ok(Page { count: v.len() as u64, count_is_estimate: false, results: page.slice(&v) })
    }

    async fn delete_expired(&self, now: OffsetDateTime, batch: u32) -> Result<u64, StoreError> {
        let mut map = self.map();
        let doomed: Vec<String> =
            map.iter().filter(|(_, r)| r.is_expired(now)).map(|(k, _)| k.clone()).take(batch as usize).collect();
        for k in &doomed {
            map.remove(k);
        }
        Ok(doomed.len() as u64)
    }
}
