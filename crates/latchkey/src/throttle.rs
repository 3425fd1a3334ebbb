//! Counters for failed attempts, behind a store trait so that several
//! instances can share them (the SQLite table here; PostgreSQL and Redis
//! implement the same trait). The throttling *policy* lives with the login
//! code; this module only counts, atomically.

use std::{collections::HashMap, fmt, sync::Mutex};

use sqlx::SqlitePool;
use time::{Duration, OffsetDateTime};

use crate::session::{
    StoreError,
    sqlite::{from_ts, ts},
};

/// The state of one counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counter {
    /// Failures in the current window.
    pub failures: u32,
    /// When the current window started.
    pub window_start: OffsetDateTime,
}

/// Atomic failure counters with a fixed window.
#[async_trait::async_trait]
pub trait ThrottleStore: Send + Sync + fmt::Debug + 'static {
    /// Adds one failure to `key` and returns the counter afterwards. A counter
    /// whose window (of length `window`) has passed starts again at 1.
    /// Concurrent calls never lose a count.
    async fn record_failure(&self, key: &str, now: OffsetDateTime, window: Duration) -> Result<Counter, StoreError>;
    /// The live counter of `key`, if its window has not passed.
    async fn get(&self, key: &str, now: OffsetDateTime, window: Duration) -> Result<Option<Counter>, StoreError>;
    /// Forgets `key` (after a success, or by an operator).
    async fn reset(&self, key: &str) -> Result<(), StoreError>;
}

/// Counters in process memory (tests, single instance).
#[derive(Debug, Default)]
pub struct MemoryThrottleStore(Mutex<HashMap<String, Counter>>);

#[async_trait::async_trait]
impl ThrottleStore for MemoryThrottleStore {
    async fn record_failure(&self, key: &str, now: OffsetDateTime, window: Duration) -> Result<Counter, StoreError> {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let c = map.entry(key.to_owned()).or_insert(Counter { failures: 0, window_start: now });
        if c.window_start + window <= now {
            *c = Counter { failures: 0, window_start: now };
        }
        c.failures += 1;
        Ok(*c)
    }

    async fn get(&self, key: &str, now: OffsetDateTime, window: Duration) -> Result<Option<Counter>, StoreError> {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        Ok(map.get(key).filter(|c| c.window_start + window > now).copied())
    }

    async fn reset(&self, key: &str) -> Result<(), StoreError> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).remove(key);
        Ok(())
    }
}

/// Counters in the SQLite table `latchkey_throttle`.
#[derive(Debug, Clone)]
pub struct SqliteThrottleStore {
    pool: SqlitePool,
}

impl SqliteThrottleStore {
    /// A store on an already-migrated pool.
    pub fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }
}

#[async_trait::async_trait]
impl ThrottleStore for SqliteThrottleStore {
    async fn record_failure(&self, key: &str, now: OffsetDateTime, window: Duration) -> Result<Counter, StoreError> {
        // One statement, so concurrent failures serialise inside SQLite.
        let (failures, start): (i64, i64) = sqlx::query_as(
            "INSERT INTO latchkey_throttle (key, failures, window_start) VALUES (?1, 1, ?2)
             ON CONFLICT (key) DO UPDATE SET
               failures = CASE WHEN window_start + ?3 <= ?2 THEN 1 ELSE failures + 1 END,
               window_start = CASE WHEN window_start + ?3 <= ?2 THEN ?2 ELSE window_start END
             RETURNING failures, window_start",
        )
        .bind(key)
        .bind(ts(now))
        .bind(window.whole_seconds())
        .fetch_one(&self.pool)
        .await?;
        Ok(Counter { failures: failures.try_into().unwrap_or(u32::MAX), window_start: from_ts(start)? })
    }

    async fn get(&self, key: &str, now: OffsetDateTime, window: Duration) -> Result<Option<Counter>, StoreError> {
        let row: Option<(i64, i64)> = sqlx::query_as(
            "SELECT failures, window_start FROM latchkey_throttle WHERE key = ? AND window_start + ? > ?",
        )
        .bind(key)
        .bind(window.whole_seconds())
        .bind(ts(now))
        .fetch_optional(&self.pool)
        .await?;
        row.map(|(f, s)| Ok(Counter { failures: f.try_into().unwrap_or(u32::MAX), window_start: from_ts(s)? }))
            .transpose()
    }

    async fn reset(&self, key: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM latchkey_throttle WHERE key = ?").bind(key).execute(&self.pool).await?;
        Ok(())
    }
}
