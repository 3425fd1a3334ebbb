//! The store traits on SQL, written once for SQLite and PostgreSQL.
//!
//! Both dialects accept the same text for every statement here (`$n`
//! placeholders, `ON CONFLICT`, `RETURNING`, `INSERT … AS t`, `substr`), so
//! each is written once. sqlx gives each driver its own pool, row and
//! argument types, so the bodies are expanded per backend by
//! [`sql_stores!`] (one macro per store kind) on a type with a `pool` field, rather than written
//! generically over `sqlx::Database` with a bound for every bound value.

// The operator's lists build their statements per request (store/sql/lists.rs):
// they run unprepared (`persistent(false)`), so they neither fill the
// connection's statement cache nor get one generic PostgreSQL plan for every
// search term — a rare term wants the trigram index, a common one the
// ordering's index.

/// Implements every store kind for `$store`, a struct whose `pool` field is
/// a sqlx pool of the database `$db`: one macro per kind, each in its file of
/// `store/sql/` (`sessions.rs`, `users.rs`, …). The backend module provides
/// `LIST_USER_SESSIONS` and `CLAIM_OUTBOX`, the two statements its dialect
/// writes itself.
macro_rules! sql_stores {
    ($store:ty, $db:ty) => {
        // The names the store kinds read, written once (each takes what it
        // needs with a glob).
        mod sql_prelude {
            pub(super) use time::OffsetDateTime;

            pub(super) use $crate::{
                audit::AuditEvent,
                error::StoreError,
                page::{Page, PageRequest},
                session::{SessionKeyHash, SessionRecord},
                store::sql::lists,
                store::sql::rows::{self, from_ts, ts},
                throttle::Counter,
                users::{NewUser, User, UserStoreError},
            };
        }

        // The two inserts that also run inside other writes' transactions
        // (a user with its first job, a key with its mail), written once.
        mod sql_shared {
            use time::OffsetDateTime;

            use $crate::{
                store::sql::rows::{self, ts},
                users::{NewUser, User, UserStoreError},
            };

            pub(super) type Conn = <$db as sqlx::Database>::Connection;

            // The two inserts that also run inside other writes' transactions
            // (a user with its first job, a key with its mail), written once.
            pub(super) async fn insert_user(c: &mut Conn, u: &NewUser, now: OffsetDateTime) -> Result<User, UserStoreError> {
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

            pub(super) async fn insert_job(c: &mut Conn, job: &$crate::mail::Job, now: OffsetDateTime) -> Result<i64, sqlx::Error> {
                sqlx::query_scalar(
                    "INSERT INTO latchkey_outbox (kind, payload, created_at, next_attempt_at) VALUES ($1, $2, $3, $3) RETURNING id",
                )
                .bind(job.kind())
                .bind(job.payload())
                .bind(ts(now))
                .fetch_one(c)
                .await
            }
        }

        $crate::store::sql::sessions::sql_session_store!($store, $db);
        $crate::store::sql::users::sql_user_store!($store, $db);
        $crate::store::sql::throttle::sql_throttle_store!($store, $db);
        $crate::store::sql::audit::sql_audit_store!($store, $db);
        $crate::store::sql::identities::sql_identity_store!($store, $db);
        $crate::store::sql::mfa::sql_mfa_store!($store, $db);
        $crate::store::sql::keys::sql_key_store!($store, $db);
        $crate::store::sql::outbox::sql_outbox_store!($store, $db);
    };
}

pub(crate) use sql_stores;
