//! Storage: one folder per backend, each implementing the domain's store
//! traits (`SessionStore`, `UserStore`, `ThrottleStore`, `AuditStore`) and
//! the cache's `CacheBus`; opening a database from its URL; migrations.
//!
//! * `memory/` — process memory (tests, examples);
//! * `sqlite/` — the embedded default (feature `sqlite`);
//! * `postgres/` — several instances on one database (feature `postgres`);
//! * `redis/` — sessions and throttle counters (feature `redis`);
//! * `sql/` — what SQLite and PostgreSQL share: every statement written
//!   once, the migration runner, row decoding.

pub mod memory;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "redis")]
mod redis;
// Users and the audit trail live in a SQL database: a build needs one.
#[cfg(not(any(feature = "sqlite", feature = "postgres")))]
compile_error!("latchkey needs a database backend: enable the `sqlite` or `postgres` feature");

pub mod django;
pub(crate) mod sql;
#[cfg(feature = "sqlite")]
mod sqlite;

use std::sync::Arc;

use time::OffsetDateTime;

pub use self::memory::{MemoryMailStore, MemorySessionStore, MemoryThrottleStore, MemoryUserStore};
#[cfg(feature = "postgres")]
pub use self::postgres::{PgBus, PgStore};
#[cfg(feature = "redis")]
pub use self::redis::{RedisBus, RedisStore};
#[cfg(feature = "sqlite")]
pub use self::sqlite::{SqliteBus, SqliteStore};
use crate::{
    audit::AuditStore, cache::CacheBus, error::StoreError, keys::KeyStore, mail::OutboxStore, session::SessionStore,
    settings::redact_url, throttle::ThrottleStore, users::UserStore,
};

/// The stores Latchkey works on; [`Database::stores`] makes them for a database.
#[derive(Debug, Clone)]
pub struct Stores {
    /// Sessions.
    pub sessions: Arc<dyn SessionStore>,
    /// Users.
    pub users: Arc<dyn UserStore>,
    /// Failed-attempt counters.
    pub throttle: Arc<dyn ThrottleStore>,
    /// Audit events.
    pub audit: Arc<dyn AuditStore>,
    /// Single-use keys (password reset).
    pub keys: Arc<dyn KeyStore>,
    /// Mail and the requests that produce it, until done.
    pub outbox: Arc<dyn OutboxStore>,
    /// Second factors.
    pub mfa: Arc<dyn crate::mfa::MfaStore>,
    /// Accounts at OpenID Connect providers linked to users.
    pub identities: Arc<dyn crate::oidc::IdentityStore>,
}

impl Stores {
    /// Every store in process memory (audit events only logged): for tests
    /// and single-process development.
    pub fn memory() -> Stores {
        let mail = Arc::new(MemoryMailStore::new());
        Stores {
            sessions: Arc::new(MemorySessionStore::new()),
            users: Arc::new(MemoryUserStore::new()),
            throttle: Arc::new(MemoryThrottleStore::default()),
            audit: Arc::new(crate::audit::NoAuditStore),
            keys: mail.clone(),
            outbox: mail,
            mfa: Arc::new(memory::MemoryMfaStore::new()),
            identities: Arc::new(memory::MemoryIdentityStore::default()),
        }
    }
}

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
    Driver(String),
}

impl From<sqlx::Error> for DbError {
    fn from(e: sqlx::Error) -> Self {
        DbError::Driver(e.to_string())
    }
}

/// Unix seconds, as every backend stores times.
pub(crate) fn ts(t: OffsetDateTime) -> i64 {
    t.unix_timestamp()
}

/// Back from Unix seconds; an impossible value is a corrupt record.
pub(crate) fn from_ts(s: i64) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp(s).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn open_error(url: &str, e: impl std::fmt::Display, create: bool) -> DbError {
    let mut cause = e.to_string();
    if !create && url.starts_with("sqlite:") {
        cause.push_str(" (run `latchkey migrate` to create it)");
    }
    DbError::Open { url: redact_url(url), cause }
}

/// An open database, named by `database_url`.
#[derive(Debug, Clone)]
pub enum Database {
    /// SQLite (the embedded default).
    #[cfg(feature = "sqlite")]
    Sqlite(SqliteStore),
    /// PostgreSQL (several instances sharing state).
    #[cfg(feature = "postgres")]
    Postgres(PgStore),
}

/// Runs `$body` with `$db` bound to the backend's store, whichever it is.
macro_rules! each_backend {
    ($self:expr, $db:ident => $body:expr) => {
        match $self {
            #[cfg(feature = "sqlite")]
            Database::Sqlite($db) => $body,
            #[cfg(feature = "postgres")]
            Database::Postgres($db) => $body,
        }
    };
}

impl Database {
    /// Opens the database. With `create`, a missing SQLite file is created
    /// (only `migrate` does that; other commands report a missing file).
    ///
    /// # Errors
    /// When the URL is unsupported in this build or the database cannot be opened.
    pub async fn connect(url: &str, create: bool) -> Result<Self, DbError> {
        #[cfg(feature = "sqlite")]
        if url.starts_with("sqlite:") {
            return Ok(Database::Sqlite(SqliteStore::connect(url, create).await?));
        }
        #[cfg(feature = "postgres")]
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Database::Postgres(PgStore::connect(url, create).await?));
        }
        Err(DbError::Unsupported(redact_url(url)))
    }

    /// The newest schema version this binary knows for this backend.
    pub fn latest_version(&self) -> i64 {
        match self {
            #[cfg(feature = "sqlite")]
            Database::Sqlite(_) => SqliteStore::latest_version(),
            #[cfg(feature = "postgres")]
            Database::Postgres(_) => PgStore::latest_version(),
        }
    }

    fn verify_history(&self, applied: &[(i64, String)]) -> Result<(), DbError> {
        let migrations = match self {
            #[cfg(feature = "sqlite")]
            Database::Sqlite(_) => SqliteStore::migrations(),
            #[cfg(feature = "postgres")]
            Database::Postgres(_) => PgStore::migrations(),
        };
        for (version, checksum) in applied {
            match migrations.iter().find(|m| m.version == *version) {
                Some(m) if m.checksum() == *checksum => {}
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
        let done = each_backend!(self, db => db.migrate().await?);
        each_backend!(self, db => self.verify_history(&db.applied().await?)?);
        each_backend!(self, db => db.ensure_secret_key().await?);
        Ok(done)
    }

    /// Applies the migrations up to `version` only, as an older release
    /// would have: for tests of the upgrade from that release.
    ///
    /// # Errors
    /// Driver errors.
    #[cfg(feature = "testing")]
    #[doc(hidden)]
    pub async fn migrate_to(&self, version: i64) -> Result<Vec<i64>, DbError> {
        let done = each_backend!(self, db => db.migrate_to(version).await?);
        each_backend!(self, db => db.ensure_secret_key().await?);
        Ok(done)
    }

    /// Fails with [`DbError::NotMigrated`] unless the schema is current.
    ///
    /// # Errors
    /// See above.
    pub async fn check_migrated(&self) -> Result<(), DbError> {
        let applied = each_backend!(self, db => db.applied().await?);
        each_backend!(self, _db => self.verify_history(&applied)?);
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
        each_backend!(self, db => db.stored_secret_key().await)
    }

    /// Whether the database answers a trivial query (for health checks).
    pub async fn ping(&self) -> bool {
        each_backend!(self, db => db.ping().await)
    }

    /// The session store on this database.
    pub fn session_store(&self) -> Arc<dyn SessionStore> {
        each_backend!(self, db => Arc::new(db.clone()))
    }

    /// The user store on this database.
    pub fn user_store(&self) -> Arc<dyn UserStore> {
        each_backend!(self, db => Arc::new(db.clone()))
    }

    /// The failed-attempt counters on this database.
    pub fn throttle_store(&self) -> Arc<dyn ThrottleStore> {
        each_backend!(self, db => Arc::new(db.clone()))
    }

    /// All stores on this database.
    pub fn stores(&self) -> Stores {
        Stores {
            sessions: self.session_store(),
            users: self.user_store(),
            throttle: self.throttle_store(),
            audit: each_backend!(self, db => Arc::new(db.clone())),
            keys: each_backend!(self, db => Arc::new(db.clone())),
            outbox: each_backend!(self, db => Arc::new(db.clone())),
            mfa: each_backend!(self, db => Arc::new(db.clone())),
            identities: each_backend!(self, db => Arc::new(db.clone())),
        }
    }

    /// The channel that carries cache invalidations between the instances
    /// on this database: an events table (SQLite) or LISTEN/NOTIFY (PostgreSQL).
    pub fn cache_bus(&self) -> Arc<dyn CacheBus> {
        match self {
            #[cfg(feature = "sqlite")]
            Database::Sqlite(db) => Arc::new(SqliteBus::new(db.pool().clone())),
            #[cfg(feature = "postgres")]
            Database::Postgres(db) => Arc::new(PgBus::new(db.pool().clone())),
        }
    }

    /// Closes the pool (flushes SQLite's WAL on the last connection).
    pub async fn close(&self) {
        each_backend!(self, db => db.pool().close().await)
    }
}
