//! The store traits on SQL, written once for SQLite and PostgreSQL.
//!
//! Both dialects accept the same text for every statement here (`$n`
//! placeholders, `ON CONFLICT`, `RETURNING`, `INSERT … AS t`, `substr`), so
//! each is written once. sqlx gives each driver its own pool, row and
//! argument types, so the bodies are expanded per backend by
//! [`sql_stores!`] on a type with a `pool` field, rather than written
//! generically over `sqlx::Database` with a bound for every bound value.

// The operator's lists build their statements per request (store/sql/lists.rs):
// they run unprepared (`persistent(false)`), so they neither fill the
// connection's statement cache nor get one generic PostgreSQL plan for every
// search term — a rare term wants the trigram index, a common one the
// ordering's index.

/// Implements `SessionStore`, `UserStore`, `ThrottleStore`, `AuditStore`,
/// `MfaStore`, `IdentityStore`, `KeyStore` and `OutboxStore` for `$store`, a struct whose `pool` field is
/// a sqlx pool of the database `$db`; the backend module provides `LIST_USER_SESSIONS` and
/// `CLAIM_OUTBOX`, the two statements its dialect writes itself.
macro_rules! sql_stores {
    ($store:ty, $db:ty) => {
        // An anonymous const, so the `use`s below stay inside the expansion.
        const _: () = {
        use time::OffsetDateTime;

        type Conn = <$db as sqlx::Database>::Connection;

        // The two inserts that also run inside other writes' transactions
        // (a user with its first job, a key with its mail), written once.
        async fn insert_user(c: &mut Conn, u: &NewUser, now: OffsetDateTime) -> Result<User, UserStoreError> {
            let row = sqlx::query(
                "INSERT INTO latchkey_users (username, email, password, is_active, is_staff, is_superuser, date_joined, email_verified,
                                             first_name, last_name)
                 VALUES ($1, $2, $3, TRUE, $4, $5, $6, $7, $8, $9) RETURNING *",
            )
            .bind(u.username.as_str())
            .bind(u.email.as_str())
            .bind(&u.password_hash)
            .bind(u.is_staff)
            .bind(u.is_superuser)
            .bind(ts(now))
            .bind(u.email_verified)
            .bind(&u.first_name)
            .bind(&u.last_name)
            .fetch_one(c)
            .await?;
            rows::user(&row)
        }

        async fn insert_job(c: &mut Conn, job: &$crate::mail::Job, now: OffsetDateTime) -> Result<i64, sqlx::Error> {
            sqlx::query_scalar(
                "INSERT INTO latchkey_outbox (kind, payload, created_at, next_attempt_at) VALUES ($1, $2, $3, $3) RETURNING id",
            )
            .bind(job.kind())
            .bind(job.payload())
            .bind(ts(now))
            .fetch_one(c)
            .await
        }

        use $crate::{
            audit::AuditEvent,
            error::StoreError,
            page::{Page, PageRequest},
            store::sql::lists,
            session::{SessionKeyHash, SessionRecord},
            store::sql::rows::{self, from_ts, ts},
            throttle::Counter,
            users::{NewUser, User, UserStoreError},
        };

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
                insert_user(&mut *self.pool.acquire().await?, u, now).await
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
                let user = insert_user(&mut tx, u, now).await?;
                insert_job(&mut tx, job, now).await?;
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

        macro_rules! identity_columns {
            () => { "id, user_id, provider, issuer, subject, email, created_at, last_used_at" };
        }

        type IdentityRow = (i64, i64, String, String, String, String, i64, Option<i64>);

        fn identity(r: IdentityRow) -> Result<$crate::oidc::Identity, StoreError> {
            let (id, user_id, provider, issuer, subject, email, created, used) = r;
            Ok($crate::oidc::Identity {
                id,
                user_id,
                provider,
                issuer,
                subject,
                email,
                created_at: from_ts(created)?,
                last_used_at: used.map(from_ts).transpose()?,
            })
        }

        #[async_trait::async_trait]
        impl $crate::oidc::IdentityStore for $store {
            async fn link(
                &self,
                i: &$crate::oidc::NewIdentity,
                now: OffsetDateTime,
            ) -> Result<Option<$crate::oidc::Identity>, StoreError> {
                let row: Option<IdentityRow> = sqlx::query_as(concat!(
                    "INSERT INTO latchkey_identities (user_id, provider, issuer, subject, email, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (provider, issuer, subject) DO NOTHING RETURNING ",
                    identity_columns!()
                ))
                .bind(i.user_id)
                .bind(&i.provider)
                .bind(&i.issuer)
                .bind(&i.subject)
                .bind(&i.email)
                .bind(ts(now))
                .fetch_optional(&self.pool)
                .await?;
                row.map(identity).transpose()
            }

            async fn find(
                &self,
                provider: &str,
                issuer: &str,
                subject: &str,
            ) -> Result<Option<$crate::oidc::Identity>, StoreError> {
                let row: Option<IdentityRow> = sqlx::query_as(concat!(
                    "SELECT ", identity_columns!(), " FROM latchkey_identities WHERE provider = $1 AND issuer = $2 AND subject = $3"
                ))
                .bind(provider)
                .bind(issuer)
                .bind(subject)
                .fetch_optional(&self.pool)
                .await?;
                row.map(identity).transpose()
            }

            async fn list(&self, user_id: i64) -> Result<Vec<$crate::oidc::Identity>, StoreError> {
                let rows: Vec<IdentityRow> = sqlx::query_as(concat!(
                    "SELECT ", identity_columns!(), " FROM latchkey_identities WHERE user_id = $1 ORDER BY created_at, id"
                ))
                .bind(user_id)
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map(identity).collect()
            }

            async fn unlink(&self, user_id: i64, id: i64) -> Result<bool, StoreError> {
                let r = sqlx::query("DELETE FROM latchkey_identities WHERE id = $1 AND user_id = $2")
                    .bind(id)
                    .bind(user_id)
                    .execute(&self.pool)
                    .await?;
                Ok(r.rows_affected() == 1)
            }

            async fn record_use(&self, id: i64, now: OffsetDateTime) -> Result<(), StoreError> {
                sqlx::query("UPDATE latchkey_identities SET last_used_at = $1 WHERE id = $2")
                    .bind(ts(now))
                    .bind(id)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }
        }

        macro_rules! webauthn_columns {
            () => { "id, user_id, credential_id, user_handle, name, passkey, sign_count, created_at, last_used_at" };
        }

        #[async_trait::async_trait]
        impl $crate::mfa::MfaStore for $store {
            async fn totp(&self, user_id: i64) -> Result<Option<$crate::mfa::TotpFactor>, StoreError> {
                let row: Option<(String, i64, i64, Option<i64>)> = sqlx::query_as(
                    "SELECT secret, last_step, created_at, last_used_at FROM latchkey_mfa_totp WHERE user_id = $1",
                )
                .bind(user_id)
                .fetch_optional(&self.pool)
                .await?;
                row.map(|(sealed_secret, last_step, created, used)| {
                    Ok($crate::mfa::TotpFactor {
                        sealed_secret,
                        last_step: u64::try_from(last_step).ok(),
                        created_at: from_ts(created)?,
                        last_used_at: used.map(from_ts).transpose()?,
                    })
                })
                .transpose()
            }

            async fn enable_totp(
                &self,
                user_id: i64,
                sealed_secret: &str,
                recovery_codes: &[String],
                now: OffsetDateTime,
            ) -> Result<bool, StoreError> {
                // The factor and its codes, or neither.
                let mut tx = self.pool.begin().await?;
                let added = sqlx::query(
                    "INSERT INTO latchkey_mfa_totp (user_id, secret, created_at) VALUES ($1, $2, $3) ON CONFLICT (user_id) DO NOTHING",
                )
                .bind(user_id)
                .bind(sealed_secret)
                .bind(ts(now))
                .execute(&mut *tx)
                .await?;
                if added.rows_affected() == 0 {
                    return Ok(false);
                }
                if !recovery_codes.is_empty() {
                    insert_recovery_codes(&mut tx, user_id, recovery_codes, now).await?;
                }
                tx.commit().await?;
                Ok(true)
            }

            async fn use_totp_step(&self, user_id: i64, step: u64, now: OffsetDateTime) -> Result<bool, StoreError> {
                // One statement: of two requests with the same code, one wins.
                let r = sqlx::query(
                    "UPDATE latchkey_mfa_totp SET last_step = $2, last_used_at = $3 WHERE user_id = $1 AND last_step < $2",
                )
                .bind(user_id)
                .bind(i64::try_from(step).unwrap_or(i64::MAX))
                .bind(ts(now))
                .execute(&self.pool)
                .await?;
                Ok(r.rows_affected() == 1)
            }

            async fn reset(&self, user_id: i64) -> Result<bool, StoreError> {
                let mut tx = self.pool.begin().await?;
                sqlx::query("DELETE FROM latchkey_mfa_recovery_codes WHERE user_id = $1").bind(user_id).execute(&mut *tx).await?;
                let r = sqlx::query("DELETE FROM latchkey_mfa_totp WHERE user_id = $1").bind(user_id).execute(&mut *tx).await?;
                let w = sqlx::query("DELETE FROM latchkey_webauthn_credentials WHERE user_id = $1").bind(user_id).execute(&mut *tx).await?;
                tx.commit().await?;
                Ok(r.rows_affected() + w.rows_affected() > 0)
            }

            async fn disable_totp(&self, user_id: i64) -> Result<bool, StoreError> {
                let r = sqlx::query("DELETE FROM latchkey_mfa_totp WHERE user_id = $1").bind(user_id).execute(&self.pool).await?;
                Ok(r.rows_affected() > 0)
            }

            async fn webauthn_credentials(&self, user_id: i64) -> Result<Vec<$crate::mfa::WebauthnCredential>, StoreError> {
                let rows: Vec<WebauthnRow> = sqlx::query_as(concat!(
                    "SELECT ", webauthn_columns!(), " FROM latchkey_webauthn_credentials WHERE user_id = $1 ORDER BY created_at, id"
                ))
                .bind(user_id)
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map(webauthn_credential).collect()
            }

            async fn webauthn_credential(&self, credential_id: &str) -> Result<Option<$crate::mfa::WebauthnCredential>, StoreError> {
                let row: Option<WebauthnRow> = sqlx::query_as(concat!(
                    "SELECT ", webauthn_columns!(), " FROM latchkey_webauthn_credentials WHERE credential_id = $1"
                ))
                .bind(credential_id)
                .fetch_optional(&self.pool)
                .await?;
                row.map(webauthn_credential).transpose()
            }

            async fn add_webauthn_credential(
                &self,
                c: &$crate::mfa::WebauthnCredential,
            ) -> Result<Option<$crate::mfa::WebauthnCredential>, StoreError> {
                let row: Option<WebauthnRow> = sqlx::query_as(concat!(
                    "INSERT INTO latchkey_webauthn_credentials (user_id, credential_id, user_handle, name, passkey, sign_count, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (credential_id) DO NOTHING RETURNING ", webauthn_columns!()
                ))
                .bind(c.user_id)
                .bind(&c.credential_id)
                .bind(&c.user_handle)
                .bind(&c.name)
                .bind(&c.passkey)
                .bind(i64::from(c.sign_count))
                .bind(ts(c.created_at))
                .fetch_optional(&self.pool)
                .await?;
                row.map(webauthn_credential).transpose()
            }

            async fn use_webauthn_credential(
                &self,
                id: i64,
                sign_count: u32,
                passkey: &str,
                now: OffsetDateTime,
            ) -> Result<bool, StoreError> {
                // One statement: of two requests with the same assertion (or
                // a clone's), one moves the counter and the other finds it moved.
                let r = sqlx::query(
                    "UPDATE latchkey_webauthn_credentials SET sign_count = $2, passkey = $3, last_used_at = $4
                     WHERE id = $1 AND (sign_count < $2 OR ($2 = 0 AND sign_count = 0))",
                )
                .bind(id)
                .bind(i64::from(sign_count))
                .bind(passkey)
                .bind(ts(now))
                .execute(&self.pool)
                .await?;
                Ok(r.rows_affected() == 1)
            }

            async fn rename_webauthn_credential(&self, user_id: i64, id: i64, name: &str) -> Result<bool, StoreError> {
                let r = sqlx::query("UPDATE latchkey_webauthn_credentials SET name = $3 WHERE id = $2 AND user_id = $1")
                    .bind(user_id)
                    .bind(id)
                    .bind(name)
                    .execute(&self.pool)
                    .await?;
                Ok(r.rows_affected() == 1)
            }

            async fn delete_webauthn_credential(&self, user_id: i64, id: i64) -> Result<bool, StoreError> {
                let r = sqlx::query("DELETE FROM latchkey_webauthn_credentials WHERE id = $2 AND user_id = $1")
                    .bind(user_id)
                    .bind(id)
                    .execute(&self.pool)
                    .await?;
                Ok(r.rows_affected() == 1)
            }

            async fn recovery_codes_left(&self, user_id: i64) -> Result<u32, StoreError> {
                let n: i64 = sqlx::query_scalar(
                    "SELECT count(*) FROM latchkey_mfa_recovery_codes WHERE user_id = $1 AND used_at IS NULL",
                )
                .bind(user_id)
                .fetch_one(&self.pool)
                .await?;
                Ok(u32::try_from(n).unwrap_or(u32::MAX))
            }

            async fn use_recovery_code(&self, user_id: i64, stored: &str, now: OffsetDateTime) -> Result<bool, StoreError> {
                let r = sqlx::query(
                    "UPDATE latchkey_mfa_recovery_codes SET used_at = $3 WHERE user_id = $1 AND code = $2 AND used_at IS NULL",
                )
                .bind(user_id)
                .bind(stored)
                .bind(ts(now))
                .execute(&self.pool)
                .await?;
                Ok(r.rows_affected() == 1)
            }

            async fn replace_recovery_codes(
                &self,
                user_id: i64,
                recovery_codes: &[String],
                now: OffsetDateTime,
            ) -> Result<(), StoreError> {
                let mut tx = self.pool.begin().await?;
                insert_recovery_codes(&mut tx, user_id, recovery_codes, now).await?;
                tx.commit().await?;
                Ok(())
            }
        }

        type WebauthnRow = (i64, i64, String, String, String, String, i64, i64, Option<i64>);

        fn webauthn_credential(r: WebauthnRow) -> Result<$crate::mfa::WebauthnCredential, StoreError> {
            let (id, user_id, credential_id, user_handle, name, passkey, sign_count, created, used) = r;
            Ok($crate::mfa::WebauthnCredential {
                id,
                user_id,
                credential_id,
                user_handle,
                name,
                passkey,
                sign_count: u32::try_from(sign_count).unwrap_or(u32::MAX),
                created_at: from_ts(created)?,
                last_used_at: used.map(from_ts).transpose()?,
            })
        }

        /// Replaces the user's recovery codes, inside the caller's transaction.
        async fn insert_recovery_codes(
            c: &mut Conn,
            user_id: i64,
            codes: &[String],
            now: OffsetDateTime,
        ) -> Result<(), sqlx::Error> {
            sqlx::query("DELETE FROM latchkey_mfa_recovery_codes WHERE user_id = $1").bind(user_id).execute(&mut *c).await?;
            for code in codes {
                sqlx::query("INSERT INTO latchkey_mfa_recovery_codes (user_id, code, created_at) VALUES ($1, $2, $3)")
                    .bind(user_id)
                    .bind(code)
                    .bind(ts(now))
                    .execute(&mut *c)
                    .await?;
            }
            Ok(())
        }

        #[async_trait::async_trait]
        impl $crate::keys::KeyStore for $store {
            async fn issue(&self, k: &$crate::keys::KeyRecord, mail: &$crate::mail::Mail, now: OffsetDateTime) -> Result<(), StoreError> {
                // The key and its mail, or neither.
                let mut tx = self.pool.begin().await?;
                sqlx::query(
                    "INSERT INTO latchkey_keys (key_hash, purpose, user_id, email, fingerprint, created_at, expires_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(&k.key_hash)
                .bind(k.purpose.as_str())
                .bind(k.user_id)
                .bind(&k.email)
                .bind(&k.fingerprint)
                .bind(ts(k.created_at))
                .bind(ts(k.expires_at))
                .execute(&mut *tx)
                .await?;
                insert_job(&mut tx, &$crate::mail::Job::Mail(mail.clone()), now).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn find(
                &self,
                key_hash: &str,
                purpose: $crate::keys::KeyPurpose,
                now: OffsetDateTime,
            ) -> Result<Option<$crate::keys::KeyRecord>, StoreError> {
                let row = sqlx::query(
                    "SELECT * FROM latchkey_keys WHERE key_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3",
                )
                .bind(key_hash)
                .bind(purpose.as_str())
                .bind(ts(now))
                .fetch_optional(&self.pool)
                .await?;
                row.as_ref().map(rows::key).transpose()
            }

            async fn consume(
                &self,
                key_hash: &str,
                purpose: $crate::keys::KeyPurpose,
                now: OffsetDateTime,
            ) -> Result<Option<$crate::keys::KeyRecord>, StoreError> {
                // One statement: of two concurrent uses, one finds used_at set.
                let row = sqlx::query(
                    "UPDATE latchkey_keys SET used_at = $1
                     WHERE key_hash = $2 AND purpose = $3 AND used_at IS NULL AND expires_at > $1 RETURNING *",
                )
                .bind(ts(now))
                .bind(key_hash)
                .bind(purpose.as_str())
                .fetch_optional(&self.pool)
                .await?;
                row.as_ref().map(rows::key).transpose()
            }

            async fn delete_expired(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
                let r = sqlx::query("DELETE FROM latchkey_keys WHERE expires_at <= $1").bind(ts(now)).execute(&self.pool).await?;
                Ok(r.rows_affected())
            }
        }

        #[async_trait::async_trait]
        impl $crate::mail::OutboxStore for $store {
            async fn enqueue(&self, job: &$crate::mail::Job, now: OffsetDateTime) -> Result<i64, StoreError> {
                Ok(insert_job(&mut *self.pool.acquire().await?, job, now).await?)
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

pub(crate) use sql_stores;
