//! Throttle counters in process memory.

use std::{collections::HashMap, sync::Mutex};

use time::{Duration, OffsetDateTime};

use super::lock;
use crate::{
    error::StoreError,
    throttle::{Counter, ThrottleStore},
};

/// Counters in process memory (tests, single instance).
#[derive(Debug, Default)]
pub struct MemoryThrottleStore(Mutex<HashMap<String, Counter>>);

#[async_trait::async_trait]
impl ThrottleStore for MemoryThrottleStore {
    async fn record_failure(&self, key: &str, now: OffsetDateTime, window: Duration) -> Result<Counter, StoreError> {
        let mut map = lock(&self.0);
        let c = map.entry(key.to_owned()).or_insert(Counter { failures: 0, window_start: now });
        if c.window_start + window <= now {
            *c = Counter { failures: 0, window_start: now };
        }
        c.failures += 1;
        Ok(*c)
    }

    async fn get(&self, key: &str, now: OffsetDateTime, window: Duration) -> Result<Option<Counter>, StoreError> {
        Ok(lock(&self.0).get(key).filter(|c| c.window_start + window > now).copied())
    }

    async fn reset(&self, key: &str) -> Result<(), StoreError> {
        lock(&self.0).remove(key);
        Ok(())
    }

    async fn reset_where(&self, prefix: &str, suffix: &str) -> Result<u64, StoreError> {
        let mut map = lock(&self.0);
        let before = map.len();
        map.retain(|k, _| !(k.starts_with(prefix) && k.ends_with(suffix)));
        Ok((before - map.len()) as u64)
    }
}
