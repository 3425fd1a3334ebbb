//! Single-use keys and the outbox in process memory, in one store so that
//! issuing a key and enqueueing its mail happen under one lock, as they
//! happen in one transaction on SQL.

use std::{collections::HashMap, sync::Mutex};

use time::OffsetDateTime;

use super::lock;
use crate::{
    error::StoreError,
    keys::{KeyPurpose, KeyRecord, KeyStore},
    mail::{Job, Mail, OutboxItem, OutboxState, OutboxStore},
};

#[derive(Debug, Default)]
struct State {
    keys: HashMap<String, KeyRecord>,
    outbox: Vec<Row>,
}

#[derive(Debug, Clone)]
struct Row {
    item: OutboxItem,
    claimed_until: OffsetDateTime,
}

impl State {
    fn enqueue(&mut self, job: &Job, now: OffsetDateTime) -> i64 {
        let id = self.outbox.last().map_or(1, |r| r.item.id + 1);
        self.outbox.push(Row {
            item: OutboxItem {
                id,
                job: job.clone(),
                created_at: now,
                attempts: 0,
                next_attempt_at: now,
                state: OutboxState::Pending,
                last_error: None,
            },
            claimed_until: OffsetDateTime::UNIX_EPOCH,
        });
        id
    }

    fn row(&mut self, id: i64) -> Option<&mut Row> {
        self.outbox.iter_mut().find(|r| r.item.id == id)
    }
}

/// Keys and the outbox in process memory: for tests and single-process
/// development.
#[derive(Debug, Default)]
pub struct MemoryMailStore {
    state: Mutex<State>,
}

impl MemoryMailStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait::async_trait]
impl KeyStore for MemoryMailStore {
    async fn issue(&self, key: &KeyRecord, mail: &Mail, now: OffsetDateTime) -> Result<(), StoreError> {
        let mut st = lock(&self.state);
        if st.keys.contains_key(&key.key_hash) {
            return Err(StoreError::Conflict);
        }
        st.keys.insert(key.key_hash.clone(), key.clone());
        st.enqueue(&Job::Mail(mail.clone()), now);
        Ok(())
    }

    async fn find(
        &self,
        key_hash: &str,
        purpose: KeyPurpose,
        now: OffsetDateTime,
    ) -> Result<Option<KeyRecord>, StoreError> {
        let st = lock(&self.state);
        Ok(st.keys.get(key_hash).filter(|k| k.purpose == purpose && k.used_at.is_none() && k.expires_at > now).cloned())
    }

    async fn consume(
        &self,
        key_hash: &str,
        purpose: KeyPurpose,
        now: OffsetDateTime,
    ) -> Result<Option<KeyRecord>, StoreError> {
        let mut st = lock(&self.state);
        match st.keys.get_mut(key_hash) {
            Some(k) if k.purpose == purpose && k.used_at.is_none() && k.expires_at > now => {
                k.used_at = Some(now);
                Ok(Some(k.clone()))
            }
            _ => Ok(None),
        }
    }

    async fn delete_expired(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        let mut st = lock(&self.state);
        let before = st.keys.len();
        st.keys.retain(|_, k| k.expires_at > now);
        Ok((before - st.keys.len()) as u64)
    }
}

#[async_trait::async_trait]
impl OutboxStore for MemoryMailStore {
    async fn enqueue(&self, job: &Job, now: OffsetDateTime) -> Result<i64, StoreError> {
        Ok(lock(&self.state).enqueue(job, now))
    }

    async fn claim(
        &self,
        now: OffsetDateTime,
        lease: time::Duration,
        limit: u32,
    ) -> Result<Vec<OutboxItem>, StoreError> {
        let mut st = lock(&self.state);
        let mut out = Vec::new();
        for r in st.outbox.iter_mut() {
            if out.len() >= limit as usize {
                break;
            }
            if r.item.state == OutboxState::Pending && r.item.next_attempt_at <= now && r.claimed_until <= now {
                r.claimed_until = now + lease;
                r.item.attempts += 1;
                out.push(r.item.clone());
            }
        }
        Ok(out)
    }

    async fn done(&self, id: i64, _now: OffsetDateTime) -> Result<(), StoreError> {
        if let Some(r) = lock(&self.state).row(id) {
            r.item.state = OutboxState::Done;
        }
        Ok(())
    }

    async fn failed(
        &self,
        id: i64,
        error: &str,
        retry_at: Option<OffsetDateTime>,
        _now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        if let Some(r) = lock(&self.state).row(id) {
            r.item.last_error = Some(error.to_owned());
            r.claimed_until = OffsetDateTime::UNIX_EPOCH;
            match retry_at {
                Some(at) => r.item.next_attempt_at = at,
                None => r.item.state = OutboxState::Failed,
            }
        }
        Ok(())
    }

    async fn list(&self, only_failed: bool, limit: u32) -> Result<Vec<OutboxItem>, StoreError> {
        let st = lock(&self.state);
        Ok(st
            .outbox
            .iter()
            .rev()
            .filter(|r| !only_failed || r.item.state == OutboxState::Failed)
            .take(limit as usize)
            .map(|r| r.item.clone())
            .collect())
    }

    async fn retry(&self, id: Option<i64>, now: OffsetDateTime) -> Result<u64, StoreError> {
        let mut st = lock(&self.state);
        let mut n = 0;
        for r in
            st.outbox.iter_mut().filter(|r| r.item.state == OutboxState::Failed && id.is_none_or(|id| id == r.item.id))
        {
            r.item.state = OutboxState::Pending;
            r.item.next_attempt_at = now;
            r.item.attempts = 0;
            n += 1;
        }
        Ok(n)
    }

    async fn backlog(&self) -> Result<u64, StoreError> {
        Ok(lock(&self.state).outbox.iter().filter(|r| r.item.state == OutboxState::Pending).count() as u64)
    }
}
