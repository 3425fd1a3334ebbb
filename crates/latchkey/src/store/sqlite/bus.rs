//! SQLite's cache bus: an events table, polled.

use std::{
    sync::{Mutex, PoisonError},
    time::Duration,
};

use sqlx::SqlitePool;
use time::OffsetDateTime;

use crate::{
    cache::{AuthCache, CacheBus, Invalidation},
    error::StoreError,
};

/// SQLite: invalidations are rows of `latchkey_cache_events`; each round
/// reads the rows after its cursor. A poll that started after a commit sees
/// it, so the poll itself is the barrier.
#[derive(Debug)]
pub struct SqliteBus {
    pool: SqlitePool,
    /// The last event seen; `None` until the first round.
    cursor: Mutex<Option<i64>>,
}

impl SqliteBus {
    /// A bus on this database.
    pub fn new(pool: SqlitePool) -> Self {
        Self { pool, cursor: Mutex::new(None) }
    }

    /// Deletes events older than `age` (every instance has long read them:
    /// one that lagged that far has emptied its cache anyway).
    ///
    /// # Errors
    /// Database failures.
    pub async fn prune(&self, age: Duration) -> Result<u64, StoreError> {
        let cutoff = OffsetDateTime::now_utc().unix_timestamp() - i64::try_from(age.as_secs()).unwrap_or(i64::MAX);
        let r = sqlx::query("DELETE FROM latchkey_cache_events WHERE created_at < $1")
            .bind(cutoff)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected())
    }
}

#[async_trait::async_trait]
impl CacheBus for SqliteBus {
    async fn publish(&self, events: &[Invalidation]) -> Result<(), StoreError> {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        for e in events {
            sqlx::query("INSERT INTO latchkey_cache_events (payload, created_at) VALUES ($1, $2)")
                .bind(e.encode())
                .bind(now)
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }

    async fn sync_round(&self, cache: &AuthCache) -> Result<(), StoreError> {
        // The cursor survives a failed round: the table still holds what came after it.
        let cursor = *self.cursor.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(cursor) = cursor else {
            let max: Option<i64> =
                sqlx::query_scalar("SELECT MAX(seq) FROM latchkey_cache_events").fetch_one(&self.pool).await?;
            *self.cursor.lock().unwrap_or_else(PoisonError::into_inner) = Some(max.unwrap_or(0));
            return Ok(());
        };
        let rows: Vec<(i64, String)> =
            sqlx::query_as("SELECT seq, payload FROM latchkey_cache_events WHERE seq > $1 ORDER BY seq LIMIT 10000")
                .bind(cursor)
                .fetch_all(&self.pool)
                .await?;
        if rows.len() == 10_000 {
            // A burst larger than one page: forget everything rather than page.
            cache.apply(&Invalidation::All);
        } else {
            for (_, payload) in &rows {
                cache.apply(&Invalidation::decode(payload));
            }
        }
        if let Some((seq, _)) = rows.last() {
            *self.cursor.lock().unwrap_or_else(PoisonError::into_inner) = Some(*seq);
        }
        Ok(())
    }
}
