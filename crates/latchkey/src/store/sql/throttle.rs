//! `ThrottleStore` on SQL, for SQLite and PostgreSQL alike (see `stores.rs`).

/// Implements `ThrottleStore` for `$store`, a struct whose `pool` field is a sqlx
/// pool of the database `$db`; expanded by [`super::stores::sql_stores`].
macro_rules! sql_throttle_store {
    ($store:ty, $db:ty) => {
        // An anonymous const, so the `use`s below stay inside the expansion.
        const _: () = {
        use sql_prelude::*;

        #[async_trait::async_trait]
        impl $crate::throttle::ThrottleStore for $store {
            async fn record_failure(
                &self,
                key: &str,
                now: OffsetDateTime,
                window: time::Duration,
            ) -> Result<Counter, StoreError> {
                // One statement: concurrent failures serialise on the row.
                let (failures, start): (i64, i64) = sqlx::query_as(
                    "INSERT INTO latchkey_throttle AS t (key, failures, window_start) VALUES ($1, 1, $2)
                     ON CONFLICT (key) DO UPDATE SET
                       failures = CASE WHEN t.window_start + $3 <= $2 THEN 1 ELSE t.failures + 1 END,
                       window_start = CASE WHEN t.window_start + $3 <= $2 THEN $2 ELSE t.window_start END
                     RETURNING failures, window_start",
                )
                .bind(key)
                .bind(ts(now))
                .bind(window.whole_seconds())
                .fetch_one(&self.pool)
                .await?;
                Ok(Counter { failures: failures.try_into().unwrap_or(u32::MAX), window_start: from_ts(start)? })
            }

            async fn get(&self, key: &str, now: OffsetDateTime, window: time::Duration) -> Result<Option<Counter>, StoreError> {
                let row: Option<(i64, i64)> = sqlx::query_as(
                    "SELECT failures, window_start FROM latchkey_throttle WHERE key = $1 AND window_start + $2 > $3",
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
                sqlx::query("DELETE FROM latchkey_throttle WHERE key = $1").bind(key).execute(&self.pool).await?;
                Ok(())
            }

            async fn reset_where(&self, prefix: &str, suffix: &str) -> Result<u64, StoreError> {
                // substr comparisons, not LIKE, so no character in a key is a wildcard.
                let res = sqlx::query(
                    "DELETE FROM latchkey_throttle WHERE substr(key, 1, length($1)) = $1
                       AND length(key) >= length($1) + length($2) AND substr(key, length(key) - length($2) + 1) = $2",
                )
                .bind(prefix)
                .bind(suffix)
                .execute(&self.pool)
                .await?;
                Ok(res.rows_affected())
            }
        }
        };
    };
}

pub(crate) use sql_throttle_store;
