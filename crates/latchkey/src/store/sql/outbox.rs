//! `OutboxStore` on SQL, for SQLite and PostgreSQL alike (see `stores.rs`).

/// Implements `OutboxStore` for `$store`, a struct whose `pool` field is a sqlx
/// pool of the database `$db`; expanded by [`super::stores::sql_stores`].
macro_rules! sql_outbox_store {
    ($store:ty, $db:ty) => {
        // An anonymous const, so the `use`s below stay inside the expansion.
        const _: () = {
        use sql_prelude::*;

        #[async_trait::async_trait]
        impl $crate::mail::OutboxStore for $store {
            async fn enqueue(&self, job: &$crate::mail::Job, now: OffsetDateTime) -> Result<i64, StoreError> {
                Ok(sql_shared::insert_job(&mut *self.pool.acquire().await?, job, now).await?)
            }

            async fn claim(
                &self,
                now: OffsetDateTime,
                lease: time::Duration,
                limit: u32,
            ) -> Result<Vec<$crate::mail::OutboxItem>, StoreError> {
                let rows = sqlx::query(CLAIM_OUTBOX)
                    .bind(ts(now))
                    .bind(ts(now + lease))
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?;
                let mut items = rows.iter().map(rows::outbox_item).collect::<Result<Vec<_>, _>>()?;
                items.sort_by_key(|i| i.id);
                Ok(items)
            }

            async fn done(&self, id: i64, now: OffsetDateTime) -> Result<(), StoreError> {
                sqlx::query("UPDATE latchkey_outbox SET done_at = $1, claimed_until = 0 WHERE id = $2")
                    .bind(ts(now))
                    .bind(id)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn failed(
                &self,
                id: i64,
                error: &str,
                retry_at: Option<OffsetDateTime>,
                now: OffsetDateTime,
            ) -> Result<(), StoreError> {
                let q = match retry_at {
                    Some(at) => sqlx::query(
                        "UPDATE latchkey_outbox SET last_error = $1, claimed_until = 0, next_attempt_at = $2 WHERE id = $3",
                    )
                    .bind(error)
                    .bind(ts(at)),
                    None => sqlx::query(
                        "UPDATE latchkey_outbox SET last_error = $1, claimed_until = 0, failed_at = $2 WHERE id = $3",
                    )
                    .bind(error)
                    .bind(ts(now)),
                };
                q.bind(id).execute(&self.pool).await?;
                Ok(())
            }

            async fn list(&self, only_failed: bool, limit: u32) -> Result<Vec<$crate::mail::OutboxItem>, StoreError> {
                let sql = if only_failed {
                    "SELECT * FROM latchkey_outbox WHERE failed_at IS NOT NULL ORDER BY id DESC LIMIT $1"
                } else {
                    "SELECT * FROM latchkey_outbox ORDER BY id DESC LIMIT $1"
                };
                let rows = sqlx::query(sql).bind(i64::from(limit)).fetch_all(&self.pool).await?;
                rows.iter().map(rows::outbox_item).collect()
            }

            async fn retry(&self, id: Option<i64>, now: OffsetDateTime) -> Result<u64, StoreError> {
                let set = "UPDATE latchkey_outbox SET failed_at = NULL, attempts = 0, claimed_until = 0, next_attempt_at = $1
                           WHERE failed_at IS NOT NULL";
                let r = match id {
                    Some(id) => {
                        sqlx::query(sqlx::AssertSqlSafe(format!("{set} AND id = $2"))).bind(ts(now)).bind(id).execute(&self.pool).await?
                    }
                    None => sqlx::query(set).bind(ts(now)).execute(&self.pool).await?,
                };
                Ok(r.rows_affected())
            }

            async fn backlog(&self) -> Result<u64, StoreError> {
                let n: i64 = sqlx::query_scalar(
                    "SELECT count(*) FROM latchkey_outbox WHERE done_at IS NULL AND failed_at IS NULL",
                )
                .fetch_one(&self.pool)
                .await?;
                Ok(u64::try_from(n).unwrap_or(0))
            }
        }
        };
    };
}

pub(crate) use sql_outbox_store;
