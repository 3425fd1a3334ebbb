use serde_json::Value;
use sqlx::SqlitePool;
use time::OffsetDateTime;

use super::{SessionKeyHash, SessionRecord, SessionStore, StoreError};
use crate::rows::{self, ts};

/// Sessions in the SQLite database (table `latchkey_sessions`).
#[derive(Debug, Clone)]
pub struct SqliteSessionStore {
    pool: SqlitePool,
}

impl SqliteSessionStore {
    /// A store on an already-migrated pool.
    pub fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }
}

fn data_json(record: &SessionRecord) -> String {
    Value::Object(record.data.clone()).to_string()
}

#[async_trait::async_trait]
impl SessionStore for SqliteSessionStore {
    async fn create(&self, r: &SessionRecord) -> Result<(), StoreError> {
        let res = sqlx::query(
            "INSERT INTO latchkey_sessions (key_hash, user_id, auth_hash, data, created_at, last_seen, expires_at, absolute_expires_at, idle_timeout)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key_hash) DO NOTHING",
        )
        .bind(r.key_hash.as_str())
        .bind(r.user_id)
        .bind(&r.auth_hash)
        .bind(data_json(r))
        .bind(ts(r.created_at))
        .bind(ts(r.last_seen))
        .bind(ts(r.expires_at))
        .bind(ts(r.absolute_expires_at))
        .bind(r.idle_timeout.map_or(0, |d| d.whole_seconds()))
        .execute(&self.pool)
        .await?;
        if res.rows_affected() == 0 { Err(StoreError::Conflict) } else { Ok(()) }
    }

    async fn load(&self, key: &SessionKeyHash, now: OffsetDateTime) -> Result<Option<SessionRecord>, StoreError> {
        let row = sqlx::query("SELECT * FROM latchkey_sessions WHERE key_hash = ? AND expires_at > ?")
            .bind(key.as_str())
            .bind(ts(now))
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(rows::session).transpose()
    }

    async fn save(&self, r: &SessionRecord) -> Result<bool, StoreError> {
        let res = sqlx::query(
            "UPDATE latchkey_sessions SET user_id = ?, auth_hash = ?, data = ?, last_seen = ?, expires_at = ?, absolute_expires_at = ?
             WHERE key_hash = ?",
        )
        .bind(r.user_id)
        .bind(&r.auth_hash)
        .bind(data_json(r))
        .bind(ts(r.last_seen))
        .bind(ts(r.expires_at))
        .bind(ts(r.absolute_expires_at))
        .bind(r.key_hash.as_str())
        .execute(&self.pool)
        .await?;
        Ok(res.rows_affected() == 1)
    }

    async fn touch(
        &self,
        key: &SessionKeyHash,
        last_seen: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let res = sqlx::query("UPDATE latchkey_sessions SET last_seen = ?, expires_at = ? WHERE key_hash = ?")
            .bind(ts(last_seen))
            .bind(ts(expires_at))
            .bind(key.as_str())
            .execute(&self.pool)
            .await?;
        Ok(res.rows_affected() == 1)
    }

    async fn delete(&self, key: &SessionKeyHash) -> Result<bool, StoreError> {
        let res = sqlx::query("DELETE FROM latchkey_sessions WHERE key_hash = ?")
            .bind(key.as_str())
            .execute(&self.pool)
            .await?;
        Ok(res.rows_affected() > 0)
    }

    async fn delete_user_sessions(&self, user_id: i64, keep: Option<&SessionKeyHash>) -> Result<u64, StoreError> {
        let res = sqlx::query("DELETE FROM latchkey_sessions WHERE user_id = ? AND key_hash != ?")
            .bind(user_id)
            .bind(keep.map(SessionKeyHash::as_str).unwrap_or(""))
            .execute(&self.pool)
            .await?;
        Ok(res.rows_affected())
    }

    async fn list_user_sessions(&self, user_id: i64, now: OffsetDateTime) -> Result<Vec<SessionRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM latchkey_sessions WHERE user_id = ? AND expires_at > ? ORDER BY created_at, key_hash",
        )
        .bind(user_id)
        .bind(ts(now))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(rows::session).collect()
    }

    async fn delete_expired(&self, now: OffsetDateTime, batch: u32) -> Result<u64, StoreError> {
        let res = sqlx::query(
            "DELETE FROM latchkey_sessions WHERE key_hash IN
               (SELECT key_hash FROM latchkey_sessions WHERE expires_at <= ? LIMIT ?)",
        )
        .bind(ts(now))
        .bind(i64::from(batch))
        .execute(&self.pool)
        .await?;
        Ok(res.rows_affected())
    }
}
