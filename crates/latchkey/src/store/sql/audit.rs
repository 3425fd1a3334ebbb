//! `AuditStore` on SQL, for SQLite and PostgreSQL alike (see `stores.rs`).

/// Implements `AuditStore` for `$store`, a struct whose `pool` field is a sqlx
/// pool of the database `$db`; expanded by [`super::stores::sql_stores`].
macro_rules! sql_audit_store {
    ($store:ty, $db:ty) => {
        // An anonymous const, so the `use`s below stay inside the expansion.
        const _: () = {
        use sql_prelude::*;

        #[async_trait::async_trait]
        impl $crate::audit::AuditStore for $store {
            async fn record(&self, e: &AuditEvent) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO latchkey_auth_events (at, event, username, user_id, client_ip, detail, count, actor)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(ts(e.at))
                .bind(&e.event)
                .bind(&e.username)
                .bind(e.user_id)
                .bind(&e.client_ip)
                .bind(&e.detail)
                .bind(i64::from(e.count))
                .bind(&e.actor)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn list(&self, limit: u32, username: Option<&str>) -> Result<Vec<AuditEvent>, StoreError> {
                let rows = sqlx::query(
                    "SELECT at, event, username, actor, user_id, client_ip, detail, count FROM latchkey_auth_events
                     WHERE $1 IS NULL OR username = $1 ORDER BY id DESC LIMIT $2",
                )
                .bind(username)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(rows::audit_event).collect()
            }

            async fn query(
                &self,
                user: Option<&str>,
                kind: Option<&str>,
                page: PageRequest,
            ) -> Result<Page<(i64, AuditEvent)>, StoreError> {
                let (count, list, sample) = lists::event_list(page);
                let capped: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(count)).persistent(false).bind(user).bind(kind).fetch_one(&self.pool).await?;
                let rows = sqlx::query(sqlx::AssertSqlSafe(list)).persistent(false).bind(user).bind(kind).fetch_all(&self.pool).await?;
                let results = rows
                    .iter()
                    .map(|r| Ok((sqlx::Row::try_get::<i64, _>(r, "id")?, rows::audit_event(r)?)))
                    .collect::<Result<Vec<_>, StoreError>>()?;
                let estimate = if capped as u64 > $crate::page::EXACT_COUNT_LIMIT {
                    // Ids grow by one per event: the span of ids is the
                    // table's size, scaled by the share of a sample that matches.
                    let (lo, hi): (Option<i64>, Option<i64>) =
                        sqlx::query_as("SELECT min(id), max(id) FROM latchkey_auth_events").fetch_one(&self.pool).await?;
                    let total = (hi.unwrap_or(0) - lo.unwrap_or(0) + 1).max(0) as u64;
                    let matched: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sample)).persistent(false).bind(user).bind(kind).fetch_one(&self.pool).await?;
                    $crate::page::scale_estimate(matched as u64, lists::ESTIMATE_SAMPLE.min(total), total)
                } else {
                    0
                };
                Ok(Page::counted(capped as u64, results, || estimate))
            }
        }
        };
    };
}

pub(crate) use sql_audit_store;
