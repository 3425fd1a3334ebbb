use sqlx::SqlitePool;
use time::OffsetDateTime;

use super::{NewUser, User, UserStore, UserStoreError};
use crate::rows::{self, ts};

/// Users in the SQLite database (table `latchkey_users`).
#[derive(Debug, Clone)]
pub struct SqliteUserStore {
    pool: SqlitePool,
}

impl SqliteUserStore {
    /// A store on an already-migrated pool.
    pub fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }
}

#[async_trait::async_trait]
impl UserStore for SqliteUserStore {
    async fn by_username(&self, username: &str) -> Result<Option<User>, UserStoreError> {
        let row = sqlx::query("SELECT * FROM latchkey_users WHERE username = ?")
            .bind(username)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(rows::user).transpose()
    }

    async fn by_id(&self, id: i64) -> Result<Option<User>, UserStoreError> {
        let row = sqlx::query("SELECT * FROM latchkey_users WHERE id = ?").bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(rows::user).transpose()
    }

    async fn create(&self, u: &NewUser, now: OffsetDateTime) -> Result<User, UserStoreError> {
        let row = sqlx::query(
            "INSERT INTO latchkey_users (username, email, password, is_active, is_staff, is_superuser, date_joined)
             VALUES (?, ?, ?, 1, ?, ?, ?) RETURNING *",
        )
        .bind(u.username.as_str())
        .bind(u.email.as_str())
        .bind(&u.password_hash)
        .bind(u.is_staff)
        .bind(u.is_superuser)
        .bind(ts(now))
        .fetch_one(&self.pool)
        .await?;
        rows::user(&row)
    }

    async fn set_password_hash(&self, id: i64, hash: &str) -> Result<bool, UserStoreError> {
        let r = sqlx::query("UPDATE latchkey_users SET password = ? WHERE id = ?")
            .bind(hash)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() == 1)
    }

    async fn set_active(&self, id: i64, active: bool) -> Result<bool, UserStoreError> {
        let r = sqlx::query("UPDATE latchkey_users SET is_active = ? WHERE id = ?")
            .bind(active)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() == 1)
    }

    async fn record_login(&self, id: i64, now: OffsetDateTime) -> Result<(), UserStoreError> {
        sqlx::query("UPDATE latchkey_users SET last_login = ? WHERE id = ?")
            .bind(ts(now))
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
