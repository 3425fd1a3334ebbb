//! What SQLite and PostgreSQL share: every store statement
//! ([`stores::sql_stores`]), the migration runner and installation values
//! ([`sql_database`]), row decoding ([`rows`]), and the conversion of
//! driver errors. The backend folders keep only what differs by dialect:
//! connection options, DDL, migration locking and the cache bus.

pub(crate) mod audit;
pub(crate) mod identities;
pub(crate) mod keys;
pub(crate) mod lists;
pub(crate) mod mfa;
pub(crate) mod outbox;
pub(crate) mod rows;
pub(crate) mod sessions;
mod stores;
pub(crate) mod throttle;
pub(crate) mod users;

pub(crate) use stores::sql_stores;

use crate::{crypto::sha256_hex, error::StoreError, users::UserStoreError};

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        StoreError::Backend(e.to_string())
    }
}

impl From<sqlx::Error> for UserStoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::Database(db) if db.is_unique_violation() => UserStoreError::Duplicate,
            _ => UserStoreError::Backend(e.to_string()),
        }
    }
}

/// One embedded migration. Never edit one that has shipped: add a new one
/// (the checksum check refuses edited history).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Migration {
    pub(crate) version: i64,
    pub(crate) name: &'static str,
    pub(crate) sql: &'static str,
}

impl Migration {
    pub(crate) fn checksum(&self) -> String {
        sha256_hex(self.sql.as_bytes())
    }
}

/// How a backend lists a user's sessions (`$1` the user, `$2` now), newest
/// first. Measured with `bench/list_sessions.sh`: sqlx's SQLite driver hands
/// rows one at a time from its worker thread, so 1,000 rows cost more there
/// than one row holding them all as a JSON array; PostgreSQL is faster with
/// plain rows than with `json_agg`.
#[derive(Debug, Clone, Copy)]
// Each backend uses one variant: a build with one SQL backend leaves the other unused.
#[cfg_attr(not(all(feature = "sqlite", feature = "postgres")), allow(dead_code))]
pub(crate) enum ListQuery {
    /// One row per session, all `latchkey_sessions` columns.
    Rows(&'static str),
    /// One row, one column: a JSON array of objects keyed by column name
    /// (decoded by `rows::sessions_from_json`).
    JsonArray(&'static str),
}

/// The secret key `migrate` generates: 50 characters from 62 symbols, about
/// 297 bits.
pub(crate) fn new_secret_key() -> String {
    crate::crypto::random_string(50, crate::crypto::CSRF_CHARS)
}

/// Implements the constructor, the migration runner and the installation
/// values on `$store` (a struct with a `pool` field of type `$pool`), given
/// the backend's:
/// `MIGRATIONS: &[Migration]`, `CREATE_MIGRATIONS_TABLE`,
/// `MIGRATIONS_TABLE_EXISTS` (a query returning one boolean),
/// `BEGIN_MIGRATION` (the statement that opens each migration's
/// transaction), and `lock_migrations`/`unlock_migrations` on a connection.
macro_rules! sql_database {
    ($store:ty, $pool:ty) => {
        impl $store {
            /// Stores on an already-migrated pool.
            pub fn new(pool: $pool) -> Self {
                Self { pool }
            }

            /// The pool.
            pub fn pool(&self) -> &$pool {
                &self.pool
            }

            /// The newest schema version this binary knows.
            pub(crate) fn latest_version() -> i64 {
                MIGRATIONS.last().map_or(0, |m| m.version)
            }

            /// The embedded migrations, in order.
            pub(crate) fn migrations() -> &'static [$crate::store::sql::Migration] {
                MIGRATIONS
            }

            /// The migrations applied so far, with their checksums.
            pub(crate) async fn applied(&self) -> Result<Vec<(i64, String)>, $crate::store::DbError> {
                let exists: bool = sqlx::query_scalar(MIGRATIONS_TABLE_EXISTS).fetch_one(&self.pool).await?;
                if !exists {
                    return Ok(Vec::new());
                }
                Ok(sqlx::query_as("SELECT version, checksum FROM latchkey_migrations ORDER BY version")
                    .fetch_all(&self.pool)
                    .await?)
            }

            /// Applies pending migrations, each in its own transaction, one
            /// instance at a time; returns the versions applied.
            pub(crate) async fn migrate(&self) -> Result<Vec<i64>, $crate::store::DbError> {
                self.migrate_to(i64::MAX).await
            }

            /// Applies pending migrations up to `last` (inclusive).
            pub(crate) async fn migrate_to(&self, last: i64) -> Result<Vec<i64>, $crate::store::DbError> {
                let mut conn = self.pool.acquire().await?;
                lock_migrations(&mut conn).await?;
                let result = async {
                    sqlx::query(CREATE_MIGRATIONS_TABLE).execute(&mut *conn).await?;
                    let mut done = Vec::new();
                    for m in MIGRATIONS.iter().filter(|m| m.version <= last) {
                        let mut tx = sqlx::Connection::begin_with(&mut *conn, BEGIN_MIGRATION).await?;
                        let have: Option<String> =
                            sqlx::query_scalar("SELECT checksum FROM latchkey_migrations WHERE version = $1")
                                .bind(m.version)
                                .fetch_optional(&mut *tx)
                                .await?;
                        match have {
                            Some(c) if c == m.checksum() => continue,
                            Some(_) => return Err($crate::store::DbError::Tampered(m.version)),
                            None => {}
                        }
                        sqlx::raw_sql(m.sql).execute(&mut *tx).await?;
                        sqlx::query(
                            "INSERT INTO latchkey_migrations (version, name, checksum, applied_at) VALUES ($1, $2, $3, $4)",
                        )
                        .bind(m.version)
                        .bind(m.name)
                        .bind(m.checksum())
                        .bind(time::OffsetDateTime::now_utc().unix_timestamp())
                        .execute(&mut *tx)
                        .await?;
                        tx.commit().await?;
                        done.push(m.version);
                    }
                    Ok(done)
                }
                .await;
                unlock_migrations(&mut conn).await;
                result
            }

            /// The secret key stored by `migrate`, if any.
            pub(crate) async fn stored_secret_key(&self) -> Result<Option<String>, $crate::store::DbError> {
                Ok(sqlx::query_scalar("SELECT value FROM latchkey_meta WHERE key = 'secret_key'")
                    .fetch_optional(&self.pool)
                    .await?)
            }

            /// Stores a fresh secret key unless one exists (`ON CONFLICT`
            /// keeps the first instance's key when several migrate at once).
            pub(crate) async fn ensure_secret_key(&self) -> Result<(), $crate::store::DbError> {
                sqlx::query("INSERT INTO latchkey_meta (key, value) VALUES ('secret_key', $1) ON CONFLICT (key) DO NOTHING")
                    .bind($crate::store::sql::new_secret_key())
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            /// Whether the database answers a trivial query.
            pub(crate) async fn ping(&self) -> bool {
                sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
            }
        }
    };
}

pub(crate) use sql_database;
