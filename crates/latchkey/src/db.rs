//! Opening the database named by `database_url`, embedded versioned
//! migrations, and installation-wide values (the generated secret key).

use std::{str::FromStr, sync::Arc, time::Duration};

use sqlx::{
    PgPool, Row, SqlitePool,
    postgres::{PgConnectOptions, PgPoolOptions},
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};

use crate::{
    crypto::{CSRF_CHARS, random_string, sha256_hex},
    postgres::PgStore,
    session::{SessionStore, SqliteSessionStore},
    settings::redact_url,
    users::{SqliteUserStore, UserStore},
};

/// Embedded SQLite migrations, in order. Never edit one that has shipped:
/// add a new one (the checksum check below refuses edited history).
const SQLITE_MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "initial", include_str!("../migrations/sqlite/0001_initial.sql")),
    (2, "idle_timeout_and_audit", include_str!("../migrations/sqlite/0002_idle_timeout_and_audit.sql")),
    (3, "cache_events", include_str!("../migrations/sqlite/0003_cache_events.sql")),
];

/// Embedded PostgreSQL migrations, in order (same rule).
const PG_MIGRATIONS: &[(i64, &str, &str)] = &[(1, "initial", include_str!("../migrations/postgres/0001_initial.sql"))];

/// Key of the advisory lock that serialises `migrate` across instances.
const MIGRATE_LOCK: i64 = 0x6c61_7463_686b_6579; // "latchkey"

/// Database failures, worded for operators.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The URL's scheme has no backend in this build.
    #[error("unsupported database URL {0}")]
    Unsupported(String),
    /// The database cannot be opened.
    #[error("cannot open database {url}: {cause}")]
    Open {
        /// Redacted URL.
        url: String,
        /// Driver message.
        cause: String,
    },
    /// Schema missing or behind.
    #[error("the database is not migrated (schema version {have}, need {want}); run `latchkey migrate` first")]
    NotMigrated {
        /// Applied version.
        have: i64,
        /// Required version.
        want: i64,
    },
    /// An applied migration differs from the embedded one.
    #[error("migration {0} was changed after it was applied; restore it and add a new migration instead")]
    Tampered(i64),
    /// The schema is newer than this binary.
    #[error("the database schema (version {0}) is newer than this latchkey; upgrade latchkey")]
    TooNew(i64),
    /// Any other driver error.
    #[error("database error: {0}")]
    Sqlx(#[from] sqlx::Error),
}

/// An open database.
#[derive(Debug, Clone)]
pub enum Database {
    /// SQLite (the embedded default).
    Sqlite(SqlitePool),
    /// PostgreSQL (several instances sharing state).
    Postgres(PgPool),
}

fn open_error(url: &str, e: impl std::fmt::Display, create: bool) -> DbError {
    let mut cause = e.to_string();
    if !create && url.starts_with("sqlite:") {
        cause.push_str(" (run `latchkey migrate` to create it)");
    }
    DbError::Open { url: redact_url(url), cause }
}

impl Database {
    /// Opens the database. With `create`, a missing SQLite file is created
    /// (only `migrate` does that; other commands report a missing file).
    /// Pools give up on a connection after a few seconds, so an outage turns
    /// into quick 503s instead of hung requests.
    ///
    /// # Errors
    /// When the URL is unsupported or the database cannot be opened.
    pub async fn connect(url: &str, create: bool) -> Result<Self, DbError> {
        if url.starts_with("sqlite:") {
            let memory = url.contains(":memory:") || url.contains("mode=memory");
            let opts = SqliteConnectOptions::from_str(url)
                .map_err(|e| open_error(url, e, create))?
                .create_if_missing(create)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(5));
            let opts = if memory {
                opts
            } else {
                // WAL lets readers proceed while one writer commits; NORMAL
                // sync is durable against process crashes in WAL mode.
                opts.journal_mode(SqliteJournalMode::Wal).synchronous(SqliteSynchronous::Normal)
            };
            // An in-memory database exists once per connection: keep exactly
            // one, forever, so every query sees the same data.
            let pool = if memory {
                SqlitePoolOptions::new().max_connections(1).min_connections(1).idle_timeout(None).max_lifetime(None)
            } else {
                SqlitePoolOptions::new().max_connections(8)
            }
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(opts)
            .await
            .map_err(|e| open_error(url, e, create))?;
            return Ok(Database::Sqlite(pool));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let opts = PgConnectOptions::from_str(url).map_err(|e| open_error(url, e, create))?;
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(2))
                .idle_timeout(Duration::from_secs(300))
                .test_before_acquire(false)
                .connect_with(opts)
                .await
                .map_err(|e| open_error(url, e, create))?;
            return Ok(Database::Postgres(pool));
        }
        Err(DbError::Unsupported(redact_url(url)))
    }

    fn migrations(&self) -> &'static [(i64, &'static str, &'static str)] {
        match self {
            Database::Sqlite(_) => SQLITE_MIGRATIONS,
            Database::Postgres(_) => PG_MIGRATIONS,
        }
    }

    /// The newest schema version this binary knows for this backend.
    pub fn latest_version(&self) -> i64 {
        self.migrations().last().map_or(0, |m| m.0)
    }

    async fn applied(&self) -> Result<Vec<(i64, String)>, DbError> {
        let query = "SELECT version, checksum FROM latchkey_migrations ORDER BY version";
        let rows = match self {
            Database::Sqlite(pool) => {
                let exists: i64 = sqlx::query_scalar(
                    "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'latchkey_migrations'",
                )
                .fetch_one(pool)
                .await?;
                if exists == 0 {
                    return Ok(Vec::new());
                }
                sqlx::query(query)
                    .fetch_all(pool)
                    .await?
                    .iter()
                    .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
                    .collect::<Result<_, sqlx::Error>>()?
            }
            Database::Postgres(pool) => {
                let exists: bool =
                    sqlx::query_scalar("SELECT to_regclass('latchkey_migrations') IS NOT NULL").fetch_one(pool).await?;
                if !exists {
                    return Ok(Vec::new());
                }
                sqlx::query(query)
                    .fetch_all(pool)
                    .await?
                    .iter()
                    .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
                    .collect::<Result<_, sqlx::Error>>()?
            }
        };
        Ok(rows)
    }

    fn verify_history(&self, applied: &[(i64, String)]) -> Result<(), DbError> {
        for (version, checksum) in applied {
            match self.migrations().iter().find(|m| m.0 == *version) {
                Some(m) if sha256_hex(m.2.as_bytes()) == *checksum => {}
                Some(_) => return Err(DbError::Tampered(*version)),
                None => return Err(DbError::TooNew(*version)),
            }
        }
        Ok(())
    }

    /// Applies pending migrations, each in its own transaction, and makes
    /// sure a secret key exists. Idempotent, and safe to run from several
    /// instances at once (SQLite: `BEGIN IMMEDIATE`; PostgreSQL: an advisory
    /// lock). Returns the versions applied.
    ///
    /// # Errors
    /// Driver errors or edited migration history.
    pub async fn migrate(&self) -> Result<Vec<i64>, DbError> {
        let mut done = Vec::new();
        match self {
            Database::Sqlite(pool) => {
                sqlx::query(
                    "CREATE TABLE IF NOT EXISTS latchkey_migrations (
                        version INTEGER PRIMARY KEY, name TEXT NOT NULL, checksum TEXT NOT NULL, applied_at INTEGER NOT NULL)",
                )
                .execute(pool)
                .await?;
                for (version, name, sql) in SQLITE_MIGRATIONS {
                    // BEGIN IMMEDIATE takes the write lock up front: two `migrate`
                    // runs at once serialise here and the second sees the first's work.
                    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                    let have: Option<String> =
                        sqlx::query_scalar("SELECT checksum FROM latchkey_migrations WHERE version = ?")
                            .bind(version)
                            .fetch_optional(&mut *tx)
                            .await?;
                    match have {
                        Some(c) if c == sha256_hex(sql.as_bytes()) => continue,
                        Some(_) => return Err(DbError::Tampered(*version)),
                        None => {}
                    }
                    sqlx::raw_sql(*sql).execute(&mut *tx).await?;
                    sqlx::query("INSERT INTO latchkey_migrations (version, name, checksum, applied_at) VALUES (?, ?, ?, strftime('%s','now'))")
                        .bind(version)
                        .bind(name)
                        .bind(sha256_hex(sql.as_bytes()))
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    done.push(*version);
                }
            }
            Database::Postgres(pool) => {
                // One connection holds a session advisory lock for the whole run,
                // so instances starting together migrate one after the other.
                let mut conn = pool.acquire().await?;
                sqlx::query("SELECT pg_advisory_lock($1)").bind(MIGRATE_LOCK).execute(&mut *conn).await?;
                let result = async {
                    sqlx::query(
                        "CREATE TABLE IF NOT EXISTS latchkey_migrations (
                            version BIGINT PRIMARY KEY, name TEXT NOT NULL, checksum TEXT NOT NULL, applied_at BIGINT NOT NULL)",
                    )
                    .execute(&mut *conn)
                    .await?;
                    for (version, name, sql) in PG_MIGRATIONS {
                        let have: Option<String> = sqlx::query_scalar("SELECT checksum FROM latchkey_migrations WHERE version = $1")
                            .bind(version)
                            .fetch_optional(&mut *conn)
                            .await?;
                        match have {
                            Some(c) if c == sha256_hex(sql.as_bytes()) => continue,
                            Some(_) => return Err(DbError::Tampered(*version)),
                            None => {}
                        }
                        let mut tx = sqlx::Acquire::begin(&mut *conn).await?;
                        sqlx::raw_sql(*sql).execute(&mut *tx).await?;
                        sqlx::query(
                            "INSERT INTO latchkey_migrations (version, name, checksum, applied_at)
                             VALUES ($1, $2, $3, extract(epoch from now())::bigint)",
                        )
                        .bind(version)
                        .bind(name)
                        .bind(sha256_hex(sql.as_bytes()))
                        .execute(&mut *tx)
                        .await?;
                        tx.commit().await?;
                        done.push(*version);
                    }
                    Ok(())
                }
                .await;
                let _ = sqlx::query("SELECT pg_advisory_unlock($1)").bind(MIGRATE_LOCK).execute(&mut *conn).await;
                result?;
            }
        }
        self.verify_history(&self.applied().await?)?;
        self.ensure_secret_key().await?;
        Ok(done)
    }

    /// Fails with [`DbError::NotMigrated`] unless the schema is current.
    ///
    /// # Errors
    /// See above.
    pub async fn check_migrated(&self) -> Result<(), DbError> {
        let applied = self.applied().await?;
        self.verify_history(&applied)?;
        let have = applied.last().map_or(0, |a| a.0);
        let want = self.latest_version();
        if have < want {
            return Err(DbError::NotMigrated { have, want });
        }
        Ok(())
    }

    /// The secret key stored by `migrate`, if any.
    ///
    /// # Errors
    /// Driver errors.
    pub async fn stored_secret_key(&self) -> Result<Option<String>, DbError> {
        let q = "SELECT value FROM latchkey_meta WHERE key = 'secret_key'";
        Ok(match self {
            Database::Sqlite(pool) => sqlx::query_scalar(q).fetch_optional(pool).await?,
            Database::Postgres(pool) => sqlx::query_scalar(q).fetch_optional(pool).await?,
        })
    }

    async fn ensure_secret_key(&self) -> Result<(), DbError> {
        // 50 characters from 62 symbols: about 297 bits. ON CONFLICT keeps the
        // first instance's key when several migrate at once.
        let key = random_string(50, CSRF_CHARS);
        match self {
            Database::Sqlite(pool) => {
                sqlx::query(
                    "INSERT INTO latchkey_meta (key, value) VALUES ('secret_key', ?) ON CONFLICT (key) DO NOTHING",
                )
                .bind(key)
                .execute(pool)
                .await?;
            }
            Database::Postgres(pool) => {
                sqlx::query(
                    "INSERT INTO latchkey_meta (key, value) VALUES ('secret_key', $1) ON CONFLICT (key) DO NOTHING",
                )
                .bind(key)
                .execute(pool)
                .await?;
            }
        }
        Ok(())
    }

    /// Whether the database answers a trivial query (for health checks).
    pub async fn ping(&self) -> bool {
        match self {
            Database::Sqlite(pool) => sqlx::query("SELECT 1").execute(pool).await.is_ok(),
            Database::Postgres(pool) => sqlx::query("SELECT 1").execute(pool).await.is_ok(),
        }
    }

    /// The session store on this database.
    pub fn session_store(&self) -> Arc<dyn SessionStore> {
        match self {
            Database::Sqlite(pool) => Arc::new(SqliteSessionStore::new(pool.clone())),
            Database::Postgres(pool) => Arc::new(PgStore::new(pool.clone())),
        }
    }

    /// The user store on this database.
    pub fn user_store(&self) -> Arc<dyn UserStore> {
        match self {
            Database::Sqlite(pool) => Arc::new(SqliteUserStore::new(pool.clone())),
            Database::Postgres(pool) => Arc::new(PgStore::new(pool.clone())),
        }
    }

    /// The failed-attempt counters on this database.
    pub fn throttle_store(&self) -> Arc<dyn crate::throttle::ThrottleStore> {
        match self {
            Database::Sqlite(pool) => Arc::new(crate::throttle::SqliteThrottleStore::new(pool.clone())),
            Database::Postgres(pool) => Arc::new(PgStore::new(pool.clone())),
        }
    }

    /// All stores on this database.
    pub fn stores(&self) -> crate::Stores {
        let audit: Arc<dyn crate::audit::AuditStore> = match self {
            Database::Sqlite(pool) => Arc::new(crate::audit::SqliteAuditStore::new(pool.clone())),
            Database::Postgres(pool) => Arc::new(PgStore::new(pool.clone())),
        };
        crate::Stores {
            sessions: self.session_store(),
            users: self.user_store(),
            throttle: self.throttle_store(),
            audit,
        }
    }

    /// Closes the pool (flushes SQLite's WAL on the last connection).
    pub async fn close(&self) {
        match self {
            Database::Sqlite(pool) => pool.close().await,
            Database::Postgres(pool) => pool.close().await,
        }
    }
}
