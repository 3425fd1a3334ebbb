//! `UserStore` on SQL, for SQLite and PostgreSQL alike (see `stores.rs`).

/// Implements `UserStore` for `$store`, a struct whose `pool` field is a sqlx
/// pool of the database `$db`; expanded by [`super::stores::sql_stores`].
macro_rules! sql_user_store {
    ($store:ty, $db:ty) => {
        // An anonymous const, so the `use`s below stay inside the expansion.
        const _: () = {
        use sql_prelude::*;

        #[async_trait::async_trait]
        impl $crate::users::UserStore for $store {
            async fn by_username(&self, username: &str) -> Result<Option<User>, UserStoreError> {
                let row = sqlx::query("SELECT * FROM latchkey_users WHERE username = $1")
                    .bind(username)
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map(rows::user).transpose()
            }

            async fn by_id(&self, id: i64) -> Result<Option<User>, UserStoreError> {
                let row = sqlx::query("SELECT * FROM latchkey_users WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map(rows::user).transpose()
            }

            async fn create(&self, u: &NewUser, now: OffsetDateTime) -> Result<User, UserStoreError> {
                sql_shared::insert_user(&mut *self.pool.acquire().await?, u, now).await
            }

            async fn create_with_job(
                &self,
                u: &NewUser,
                now: OffsetDateTime,
                job: &$crate::mail::Job,
                _outbox: &dyn $crate::mail::OutboxStore,
            ) -> Result<User, UserStoreError> {
                // The outbox lives in this database: one transaction for both.
                let mut tx = self.pool.begin().await?;
                let user = sql_shared::insert_user(&mut tx, u, now).await?;
                sql_shared::insert_job(&mut tx, job, now).await?;
                tx.commit().await?;
                Ok(user)
            }

            async fn import(
                &self,
                u: &$crate::users::import::ImportedUser,
                update: bool,
            ) -> Result<$crate::users::import::ImportOutcome, UserStoreError> {
                use $crate::users::import::ImportOutcome;
                let mut tx = self.pool.begin().await?;
                let inserted = sqlx::query(
                    "INSERT INTO latchkey_users (username, email, email_verified, first_name, last_name, password,
                                                 is_active, is_staff, is_superuser, last_login, date_joined)
                     VALUES ($1, $2, TRUE, $3, $4, $5, $6, $7, $8, $9, $10)
                     ON CONFLICT (username) DO NOTHING RETURNING *",
                )
                .bind(u.username.as_str())
                .bind(u.email.as_str())
                .bind(&u.first_name)
                .bind(&u.last_name)
                .bind(&u.password_hash)
                .bind(u.is_active)
                .bind(u.is_staff)
                .bind(u.is_superuser)
                .bind(u.last_login.map(ts))
                .bind(ts(u.date_joined))
                .fetch_optional(&mut *tx)
                .await?;
                let outcome = match inserted {
                    Some(row) => ImportOutcome::Inserted(rows::user(&row)?),
                    None if !update => ImportOutcome::Skipped,
                    None => {
                        let row = sqlx::query(
                            "UPDATE latchkey_users SET email = $2, email_verified = TRUE, first_name = $3, last_name = $4,
                                 password = $5, is_active = $6, is_staff = $7, is_superuser = $8, last_login = $9, date_joined = $10
                             WHERE username = $1 RETURNING *",
                        )
                        .bind(u.username.as_str())
                        .bind(u.email.as_str())
                        .bind(&u.first_name)
                        .bind(&u.last_name)
                        .bind(&u.password_hash)
                        .bind(u.is_active)
                        .bind(u.is_staff)
                        .bind(u.is_superuser)
                        .bind(u.last_login.map(ts))
                        .bind(ts(u.date_joined))
                        .fetch_one(&mut *tx)
                        .await?;
                        ImportOutcome::Updated(rows::user(&row)?)
                    }
                };
                tx.commit().await?;
                Ok(outcome)
            }

            async fn set_password_hash(&self, id: i64, hash: &str) -> Result<bool, UserStoreError> {
                let r = sqlx::query("UPDATE latchkey_users SET password = $1 WHERE id = $2")
                    .bind(hash)
                    .bind(id)
                    .execute(&self.pool)
                    .await?;
                Ok(r.rows_affected() == 1)
            }

            async fn set_active(&self, id: i64, active: bool) -> Result<bool, UserStoreError> {
                let r = sqlx::query("UPDATE latchkey_users SET is_active = $1 WHERE id = $2")
                    .bind(active)
                    .bind(id)
                    .execute(&self.pool)
                    .await?;
                Ok(r.rows_affected() == 1)
            }

            async fn record_login(&self, id: i64, now: OffsetDateTime) -> Result<(), UserStoreError> {
                sqlx::query("UPDATE latchkey_users SET last_login = $1 WHERE id = $2")
                    .bind(ts(now))
                    .bind(id)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn active_by_email(&self, email: &str) -> Result<Vec<User>, UserStoreError> {
                // lower() on both sides, as the index: Unicode-aware on PostgreSQL, ASCII on SQLite.
                let rows = sqlx::query(
                    "SELECT * FROM latchkey_users WHERE lower(email) = lower($1) AND is_active = TRUE ORDER BY id",
                )
                .bind(email)
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(rows::user).collect()
            }

            async fn any_with_email(&self, email: &str) -> Result<bool, UserStoreError> {
                Ok(sqlx::query_scalar("SELECT count(*) > 0 FROM latchkey_users WHERE lower(email) = lower($1)")
                    .bind(email)
                    .fetch_one(&self.pool)
                    .await?)
            }

            async fn set_email(&self, id: i64, email: &str, verified: bool) -> Result<bool, UserStoreError> {
                let r = sqlx::query("UPDATE latchkey_users SET email = $1, email_verified = $2 WHERE id = $3")
                    .bind(email)
                    .bind(verified)
                    .bind(id)
                    .execute(&self.pool)
                    .await?;
                Ok(r.rows_affected() == 1)
            }

            async fn set_email_verified(&self, id: i64, verified: bool) -> Result<bool, UserStoreError> {
                let r = sqlx::query("UPDATE latchkey_users SET email_verified = $1 WHERE id = $2")
                    .bind(verified)
                    .bind(id)
                    .execute(&self.pool)
                    .await?;
                Ok(r.rows_affected() == 1)
            }

            async fn list(&self, q: &$crate::users::UserQuery) -> Result<Page<User>, UserStoreError> {
                let plan = lists::user_list(q, USER_SEARCH);
                let capped: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(plan.count)).persistent(false).bind(&plan.arg).fetch_one(&self.pool).await?;
                let capped = capped as u64;
                let dense = capped > $crate::page::EXACT_COUNT_LIMIT;
                let (sql, arg) = if dense { (plan.dense_page, &plan.like_arg) } else { (plan.page, &plan.arg) };
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).persistent(false).bind(arg).fetch_all(&self.pool).await?;
                let results = rows.iter().map(rows::user).collect::<Result<Vec<_>, _>>()?;
                let estimate = if dense {
                    // Ids grow by one per user (users are deactivated, not
                    // deleted): the largest is the table's size, scaled by
                    // the share of the newest users that match.
                    let total: Option<i64> = sqlx::query_scalar("SELECT max(id) FROM latchkey_users").fetch_one(&self.pool).await?;
                    let total = total.unwrap_or(0).max(0) as u64;
                    let matched: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(plan.sample)).persistent(false).bind(&plan.like_arg).fetch_one(&self.pool).await?;
                    $crate::page::scale_estimate(matched as u64, lists::ESTIMATE_SAMPLE.min(total), total)
                } else {
                    0
                };
                Ok(Page::counted(capped, results, || estimate))
            }

            async fn update(&self, id: i64, c: &$crate::users::UserChanges) -> Result<$crate::users::UserUpdate, UserStoreError> {
                use $crate::users::UserUpdate;
                let mut tx = self.pool.begin().await?;
                if c.is_active == Some(false) || c.is_superuser == Some(false) {
                    if let Some(lock) = LOCK_SUPERUSERS {
                        sqlx::query(lock).execute(&mut *tx).await?;
                    }
                }
                let row = sqlx::query(lists::UPDATE_USER)
                    .bind(id)
                    .bind(c.email.as_deref())
                    .bind(c.email_verified)
                    .bind(c.first_name.as_deref())
                    .bind(c.last_name.as_deref())
                    .bind(c.is_active)
                    .bind(c.is_staff)
                    .bind(c.is_superuser)
                    .fetch_optional(&mut *tx)
                    .await?;
                let outcome = match row {
                    Some(row) => UserUpdate::Updated(rows::user(&row)?),
                    None => {
                        let exists: bool = sqlx::query_scalar("SELECT count(*) > 0 FROM latchkey_users WHERE id = $1")
                            .bind(id)
                            .fetch_one(&mut *tx)
                            .await?;
                        if exists { UserUpdate::LastSuperuser } else { UserUpdate::NotFound }
                    }
                };
                tx.commit().await?;
                Ok(outcome)
            }
        }
        };
    };
}

pub(crate) use sql_user_store;
