//! `SessionStore` on SQL, for SQLite and PostgreSQL alike (see `stores.rs`).

/// Implements `SessionStore` for `$store`, a struct whose `pool` field is a sqlx
/// pool of the database `$db`; expanded by [`super::stores::sql_stores`].
macro_rules! sql_session_store {
    ($store:ty, $db:ty) => {
        // An anonymous const, so the `use`s below stay inside the expansion.
        const _: () = {
        use sql_prelude::*;

        #[async_trait::async_trait]
        impl $crate::session::SessionStore for $store {
            async fn create(&self, r: &SessionRecord) -> Result<(), StoreError> {
                let res = sqlx::query(
                    "INSERT INTO latchkey_sessions (key_hash, user_id, auth_hash, data, created_at, last_seen, expires_at, absolute_expires_at, idle_timeout, ip, user_agent, authenticated_at, remember)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT (key_hash) DO NOTHING",
                )
                .bind(r.key_hash.as_str())
                .bind(r.user_id)
                .bind(&r.auth_hash)
                .bind(rows::data_json(r))
                .bind(ts(r.created_at))
                .bind(ts(r.last_seen))
                .bind(ts(r.expires_at))
                .bind(ts(r.absolute_expires_at))
                .bind(r.idle_timeout.map_or(0, |d| d.whole_seconds()))
                .bind(r.ip.as_deref())
                .bind(r.user_agent.as_deref())
                .bind(r.authenticated_at.map(ts))
                .bind(r.remember)
                .execute(&self.pool)
                .await?;
                if res.rows_affected() == 0 { Err(StoreError::Conflict) } else { Ok(()) }
            }

            async fn load(&self, key: &SessionKeyHash, now: OffsetDateTime) -> Result<Option<SessionRecord>, StoreError> {
                let row = sqlx::query("SELECT * FROM latchkey_sessions WHERE key_hash = $1 AND expires_at > $2")
                    .bind(key.as_str())
                    .bind(ts(now))
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map(rows::session).transpose()
            }

            async fn save(&self, r: &SessionRecord) -> Result<bool, StoreError> {
                let res = sqlx::query(
                    "UPDATE latchkey_sessions SET user_id = $1, auth_hash = $2, data = $3, last_seen = $4, expires_at = $5, absolute_expires_at = $6,
                       authenticated_at = $7
                     WHERE key_hash = $8",
                )
                .bind(r.user_id)
                .bind(&r.auth_hash)
                .bind(rows::data_json(r))
                .bind(ts(r.last_seen))
                .bind(ts(r.expires_at))
                .bind(ts(r.absolute_expires_at))
                .bind(r.authenticated_at.map(ts))
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
                let res = sqlx::query("UPDATE latchkey_sessions SET last_seen = $1, expires_at = $2 WHERE key_hash = $3")
                    .bind(ts(last_seen))
                    .bind(ts(expires_at))
                    .bind(key.as_str())
                    .execute(&self.pool)
                    .await?;
                Ok(res.rows_affected() == 1)
            }

            async fn delete(&self, key: &SessionKeyHash) -> Result<bool, StoreError> {
                let res = sqlx::query("DELETE FROM latchkey_sessions WHERE key_hash = $1")
                    .bind(key.as_str())
                    .execute(&self.pool)
                    .await?;
                Ok(res.rows_affected() > 0)
            }

            async fn delete_user_sessions(&self, user_id: i64, keep: Option<&SessionKeyHash>) -> Result<u64, StoreError> {
                let res = sqlx::query("DELETE FROM latchkey_sessions WHERE user_id = $1 AND key_hash <> $2")
                    .bind(user_id)
                    .bind(keep.map(SessionKeyHash::as_str).unwrap_or(""))
                    .execute(&self.pool)
                    .await?;
                Ok(res.rows_affected())
            }

            async fn list_user_sessions(&self, user_id: i64, now: OffsetDateTime) -> Result<Vec<SessionRecord>, StoreError> {
                // Each backend says how its driver lists fastest (see ListQuery).
                match LIST_USER_SESSIONS {
                    $crate::store::sql::ListQuery::Rows(sql) => {
                        let rows = sqlx::query(sql).bind(user_id).bind(ts(now)).fetch_all(&self.pool).await?;
                        rows.iter().map(rows::session).collect()
                    }
                    $crate::store::sql::ListQuery::JsonArray(sql) => {
                        let json: String =
                            sqlx::query_scalar(sql).bind(user_id).bind(ts(now)).fetch_one(&self.pool).await?;
                        rows::sessions_from_json(&json)
                    }
                }
            }

            async fn list_live(&self, now: OffsetDateTime, page: PageRequest) -> Result<Page<SessionRecord>, StoreError> {
                let (count, list) = lists::session_list(page);
                let capped: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(count)).persistent(false).bind(ts(now)).fetch_one(&self.pool).await?;
                let rows = sqlx::query(sqlx::AssertSqlSafe(list)).persistent(false).bind(ts(now)).fetch_all(&self.pool).await?;
                let results = rows.iter().map(rows::session).collect::<Result<Vec<_>, _>>()?;
                let estimate = if capped as u64 > $crate::page::EXACT_COUNT_LIMIT {
                    let n: i64 = sqlx::query_scalar(SESSIONS_ESTIMATE).fetch_one(&self.pool).await?;
                    n.max(0) as u64
                } else {
                    0
                };
                Ok(Page::counted(capped as u64, results, || estimate))
            }

            async fn delete_expired(&self, now: OffsetDateTime, batch: u32) -> Result<u64, StoreError> {
                let res = sqlx::query(
                    "DELETE FROM latchkey_sessions WHERE key_hash IN
                       (SELECT key_hash FROM latchkey_sessions WHERE expires_at <= $1 LIMIT $2)",
                )
                .bind(ts(now))
                .bind(i64::from(batch))
                .execute(&self.pool)
                .await?;
                Ok(res.rows_affected())
            }
        }
        };
    };
}

pub(crate) use sql_session_store;
