//! Opening the database named by `database_url`, embedded versioned
//! migrations, and installation-wide values (the generated secret key).

use std::{str::FromStr, sync::Arc, time::Duration};

use sqlx::{
    Row, SqlitePool,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};

use crate::{
    crypto::{CSRF_CHARS, random_string, sha256_hex},
    session::{SessionStore, SqliteSessionStore},
    settings::redact_url,
    users::{SqliteUserStore, UserStore},
};

/// Embedded SQLite migrations, in order. Never edit one that has shipped:
/// add a new one (the checksum check below refuses edited history).
const SQLITE_MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "initial", include_str!("../migrations/sqlite/0001_initial.sql")),
    (2, "idle_timeout_and_audit", include_str!("../migrations/sqlite/0002_idle_timeout_and_audit.sql")),
];

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
}

impl Database {
    /// Opens the database. With `create`, a missing SQLite file is created
    /// (only `migrate` does that; other commands report a missing file).
    ///
    /// # Errors
    /// When the URL is unsupported or the database cannot be opened.
    pub async fn connect(url: &str, create: bool) -> Result<Self, DbError> {
        if url.starts_with("sqlite:") {
            let open_err = |e: sqlx::Error| DbError::Open { url: redact_url(url), cause: e.to_string() };
            let memory = url.contains(":memory:") || url.contains("mode=memory");
            let opts = SqliteConnectOptions::from_str(url)
                .map_err(open_err)?
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
            .map_err(|e| {
                let mut err = open_err(e);
                if !create && let DbError::Open { cause, .. } = &mut err {
                    cause.push_str(" (run `latchkey migrate` to create it)");
                }
                err
            })?;
            return Ok(Database::Sqlite(pool));
        }
        Err(DbError::Unsupported(redact_url(url)))
    }

    /// The newest schema version this binary knows.
    pub fn latest_version() -> i64 {
        SQLITE_MIGRATIONS.last().map_or(0, |m| m.0)
    }

    async fn ensure_migrations_table(pool: &SqlitePool) -> Result<(), DbError> {
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS latchkey_migrations (
                version INTEGER PRIMARY KEY, name TEXT NOT NULL, checksum TEXT NOT NULL, applied_at INTEGER NOT NULL)",
        )
        .execute(pool)
        .await?;
        Ok(())
    }

    async fn applied(pool: &SqlitePool) -> Result<Vec<(i64, String)>, DbError> {
        let exists: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'latchkey_migrations'",
        )
        .fetch_one(pool)
        .await?;
        if exists == 0 {
            return Ok(Vec::new());
        }
        let rows =
            sqlx::query("SELECT version, checksum FROM latchkey_migrations ORDER BY version").fetch_all(pool).await?;
        rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect()
    }

    fn verify_history(applied: &[(i64, String)]) -> Result<(), DbError> {
        for (version, checksum) in applied {
            match SQLITE_MIGRATIONS.iter().find(|m| m.0 == *version) {
                Some(m) if sha256_hex(m.2.as_bytes()) == *checksum => {}
                Some(_) => return Err(DbError::Tampered(*version)),
                None => return Err(DbError::TooNew(*version)),
            }
        }
        Ok(())
    }

    /// Applies pending migrations, each in its own transaction, and makes
    /// sure a secret key exists. Idempotent. Returns the versions applied.
    ///
    /// # Errors
    /// Driver errors or edited migration history.
    pub async fn migrate(&self) -> Result<Vec<i64>, DbError> {
        let Database::Sqlite(pool) = self;
        Self::ensure_migrations_table(pool).await?;
        let mut done = Vec::new();
        for (version, name, sql) in SQLITE_MIGRATIONS {
            // BEGIN IMMEDIATE takes the write lock up front: two `migrate`
            // runs at once serialise here and the second sees the first's work.
            let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
            let have: Option<String> = sqlx::query_scalar("SELECT checksum FROM latchkey_migrations WHERE version = ?")
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
        Self::verify_history(&Self::applied(pool).await?)?;
        self.ensure_secret_key().await?;
        Ok(done)
    }

    /// Fails with [`DbError::NotMigrated`] unless the schema is current.
    ///
    /// # Errors
    /// See above.
    pub async fn check_migrated(&self) -> Result<(), DbError> {
        let Database::Sqlite(pool) = self;
        let applied = Self::applied(pool).await?;
        Self::verify_history(&applied)?;
        let have = applied.last().map_or(0, |a| a.0);
        let want = Self::latest_version();
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
        let Database::Sqlite(pool) = self;
        Ok(sqlx::query_scalar("SELECT value FROM latchkey_meta WHERE key = 'secret_key'").fetch_optional(pool).await?)
    }

    async fn ensure_secret_key(&self) -> Result<(), DbError> {
        let Database::Sqlite(pool) = self;
        // 50 characters from 62 symbols: about 297 bits.
        sqlx::query("INSERT INTO latchkey_meta (key, value) VALUES ('secret_key', ?) ON CONFLICT (key) DO NOTHING")
            .bind(random_string(50, CSRF_CHARS))
            .execute(pool)
            .await?;
        Ok(())
    }

    /// The session store on this database.
    pub fn session_store(&self) -> Arc<dyn SessionStore> {
        let Database::Sqlite(pool) = self;
        Arc::new(SqliteSessionStore::new(pool.clone()))
    }

    /// The user store on this database.
    pub fn user_store(&self) -> Arc<dyn UserStore> {
        let Database::Sqlite(pool) = self;
        Arc::new(SqliteUserStore::new(pool.clone()))
    }

    /// The failed-attempt counters on this database.
    pub fn throttle_store(&self) -> Arc<dyn crate::throttle::ThrottleStore> {
        let Database::Sqlite(pool) = self;
        Arc::new(crate::throttle::SqliteThrottleStore::new(pool.clone()))
    }

    /// All stores on this database.
    pub fn stores(&self) -> crate::Stores {
        let Database::Sqlite(pool) = self;
        crate::Stores {
            sessions: self.session_store(),
            users: self.user_store(),
            throttle: self.throttle_store(),
            audit: Arc::new(crate::audit::SqliteAuditStore::new(pool.clone())),
        }
    }

    /// Closes the pool (flushes SQLite's WAL on the last connection).
    pub async fn close(&self) {
        let Database::Sqlite(pool) = self;
        pool.close().await;
    }
}
