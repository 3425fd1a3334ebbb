//! # Latchkey
//!
//! Session-cookie authentication for single-page apps on axum/tower, wire
//! compatible with the Django "session-based auth for SPAs" tutorial: an
//! HttpOnly session cookie, Django-compatible CSRF tokens, and the tutorial's
//! `/api/csrf/`, `/api/login/`, `/api/logout/`, `/api/session/` and
//! `/api/whoami/` endpoints, in four deployment presets.
//!
//! Start with [`Latchkey`] (the shared state), [`app::build_router`] (the
//! whole layered app) or [`api::router`] plus the extractors in [`auth`] to
//! add Latchkey to an existing axum application (see `examples/`).

pub mod api;
pub mod app;
pub mod audit;
pub mod auth;
pub mod cache;
pub mod clock;
pub mod context;
pub mod cookies;
pub mod crypto;
pub mod csrf;
pub mod db;
pub mod deploy_check;
pub mod origin;
pub mod password;
pub mod password_policy;
pub mod postgres;
pub mod redis_store;
mod rows;
pub mod session;
pub mod settings;
pub mod throttle;
pub mod users;

use std::{fmt, sync::Arc};

use secrecy::SecretString;

pub use crate::{
    api::ApiError,
    auth::{CurrentUser, MaybeUser},
    clock::{Clock, MockClock, SystemClock},
    csrf::CsrfToken,
    password::{PasswordHasher, RawPassword},
    session::{Session, SessionStore},
    settings::{Preset, Settings},
    users::{User, UserStore},
};

/// The stores Latchkey works on; [`db::Database::stores`] makes them for a database.
#[derive(Debug, Clone)]
pub struct Stores {
    /// Sessions.
    pub sessions: Arc<dyn SessionStore>,
    /// Users.
    pub users: Arc<dyn UserStore>,
    /// Failed-attempt counters.
    pub throttle: Arc<dyn throttle::ThrottleStore>,
    /// Audit events.
    pub audit: Arc<dyn audit::AuditStore>,
}

struct Inner {
    settings: Settings,
    sessions: Arc<dyn SessionStore>,
    users: Arc<dyn UserStore>,
    throttle: Arc<dyn throttle::ThrottleStore>,
    audit: Arc<dyn audit::AuditStore>,
    hasher: PasswordHasher,
    clock: Arc<dyn Clock>,
    cache: Option<(Arc<cache::AuthCache>, Arc<dyn cache::CacheBus>)>,
    session_hash_macs: Vec<crypto::SaltedHmac>,
}

/// The connections behind a [`Latchkey`] opened with [`Latchkey::open`],
/// for health checks and an orderly close.
#[derive(Debug, Clone)]
pub struct Backends {
    /// The database.
    pub db: db::Database,
    /// Redis, when sessions live there.
    pub redis: Option<redis_store::RedisStore>,
    /// The read-through cache.
    pub cache: Option<Arc<cache::AuthCache>>,
}

impl Backends {
    /// Closes the database pool.
    pub async fn close(&self) {
        self.db.close().await;
    }
}

/// Latchkey's shared state: settings, stores, hasher, clock and keys. Cheap
/// to clone; use it as (or extract it from) the axum state.
#[derive(Clone)]
pub struct Latchkey(Arc<Inner>);

impl fmt::Debug for Latchkey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Latchkey")
            .field("settings", &self.0.settings)
            .field("sessions", &self.0.sessions)
            .field("users", &self.0.users)
            .finish_non_exhaustive()
    }
}

/// Errors building a [`Latchkey`].
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The hasher parameters are unusable.
    #[error(transparent)]
    Hasher(#[from] password::HashError),
    /// The database failed.
    #[error(transparent)]
    Db(#[from] db::DbError),
    /// The session store (Redis) cannot be reached.
    #[error("cannot reach the session store {0}")]
    SessionStore(String),
    /// No secret key in the settings nor in the database.
    #[error("no secret key: set LATCHKEY_SECRET_KEY or run `latchkey migrate`, which generates one")]
    NoSecretKey,
}

impl Latchkey {
    /// Assembles the state from its parts.
    ///
    /// # Errors
    /// When the hasher parameters are invalid.
    pub fn new(
        settings: Settings,
        stores: Stores,
        clock: Arc<dyn Clock>,
        secret_key: SecretString,
    ) -> Result<Self, BuildError> {
        Self::assemble(settings, stores, clock, secret_key, None)
    }

    fn assemble(
        settings: Settings,
        stores: Stores,
        clock: Arc<dyn Clock>,
        secret_key: SecretString,
        cache: Option<(Arc<cache::AuthCache>, Arc<dyn cache::CacheBus>)>,
    ) -> Result<Self, BuildError> {
        let hasher = PasswordHasher::new(&settings.password_hasher)?;
        let Stores { sessions, users, throttle, audit } = stores;
        // The keys themselves are not kept: only what is derived from them.
        let session_hash_macs =
            auth::session_hash_macs(std::iter::once(&secret_key).chain(settings.secret_key_fallbacks.iter()));
        Ok(Self(Arc::new(Inner {
            settings,
            sessions,
            users,
            throttle,
            audit,
            hasher,
            clock,
            cache,
            session_hash_macs,
        })))
    }

    /// Like [`Latchkey::new`], with the read-through cache in front of the
    /// session and user stores, invalidated through `bus` (see [`cache`]).
    /// The cache is read only while [`Latchkey::run_cache_sync`] runs (or
    /// always, for a [`cache::LocalBus`]); invalidations are published either way.
    ///
    /// # Errors
    /// When the hasher parameters are invalid.
    pub fn with_cache(
        settings: Settings,
        stores: Stores,
        clock: Arc<dyn Clock>,
        secret_key: SecretString,
        bus: Arc<dyn cache::CacheBus>,
    ) -> Result<Self, BuildError> {
        let cache = Arc::new(if bus.shared() {
            cache::AuthCache::new(settings.cache.clone())
        } else {
            cache::AuthCache::local(settings.cache.clone())
        });
        let stores = Stores {
            sessions: Arc::new(cache::CachedSessionStore::new(stores.sessions, cache.clone(), bus.clone())),
            users: Arc::new(cache::CachedUserStore::new(stores.users, cache.clone(), bus.clone())),
            ..stores
        };
        Self::assemble(settings, stores, clock, secret_key, Some((cache, bus)))
    }

    /// The read-through cache, when there is one.
    pub fn cache(&self) -> Option<&Arc<cache::AuthCache>> {
        self.0.cache.as_ref().map(|(c, _)| c)
    }

    /// Spawns the cache's sync loop (servers call this; one-shot commands
    /// do not, so they never read a cache but still publish). `None` when
    /// there is no cache or it is turned off.
    pub fn run_cache_sync(&self) -> Option<tokio::task::JoinHandle<()>> {
        let (cache, bus) = self.0.cache.as_ref()?;
        if !cache.settings().enabled || !bus.shared() {
            return None;
        }
        Some(tokio::spawn(cache::run_sync(bus.clone(), cache.clone())))
    }

    /// The stores, e.g. to build a sibling instance on the same data.
    pub fn stores(&self) -> Stores {
        Stores {
            sessions: self.0.sessions.clone(),
            users: self.0.users.clone(),
            throttle: self.0.throttle.clone(),
            audit: self.0.audit.clone(),
        }
    }

    /// The audit store.
    pub fn audit_store(&self) -> &Arc<dyn audit::AuditStore> {
        &self.0.audit
    }

    /// Opens the database of `settings.database_url` (and Redis, when
    /// `session_store_url` is set), refuses an unmigrated schema, and takes
    /// the secret key from the settings or the database.
    ///
    /// # Errors
    /// Unreachable or unmigrated database, unreachable Redis, missing secret key.
    pub async fn open(settings: Settings, clock: Arc<dyn Clock>) -> Result<(Self, Backends), BuildError> {
        let db = db::Database::connect(&settings.database_url, false).await?;
        db.check_migrated().await?;
        let key = match &settings.secret_key {
            Some(k) => k.clone(),
            None => SecretString::from(db.stored_secret_key().await?.ok_or(BuildError::NoSecretKey)?),
        };
        let mut stores = db.stores();
        let redis = match &settings.session_store_url {
            Some(url) => {
                let r = redis_store::RedisStore::connect(url, &settings.session_store_prefix)
                    .await
                    .map_err(|e| BuildError::SessionStore(format!("{}: {e}", settings::redact_url(url))))?;
                stores.sessions = Arc::new(r.clone());
                stores.throttle = Arc::new(r.clone());
                Some(r)
            }
            None => None,
        };
        // Invalidations travel where every instance already connects: Redis
        // when sessions live there, else the database.
        let bus: Arc<dyn cache::CacheBus> = match (&redis, &db) {
            (Some(r), _) => Arc::new(cache::RedisBus::new(r.clone())),
            (None, db::Database::Postgres(pool)) => Arc::new(cache::PgBus::new(pool.clone())),
            (None, db::Database::Sqlite(pool)) => Arc::new(cache::SqliteBus::new(pool.clone())),
        };
        let lk = Self::with_cache(settings, stores, clock, key, bus)?;
        let cache = lk.cache().cloned();
        Ok((lk, Backends { db, redis, cache }))
    }

    /// Settings.
    pub fn settings(&self) -> &Settings {
        &self.0.settings
    }

    /// The session store.
    pub fn sessions(&self) -> &Arc<dyn SessionStore> {
        &self.0.sessions
    }

    /// The user store.
    pub fn users(&self) -> &Arc<dyn UserStore> {
        &self.0.users
    }

    /// The failed-attempt counters.
    pub fn throttle(&self) -> &Arc<dyn throttle::ThrottleStore> {
        &self.0.throttle
    }

    /// The password hasher.
    pub fn hasher(&self) -> &PasswordHasher {
        &self.0.hasher
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.0.clock
    }

    /// Session-auth-hash HMACs: the secret key's first, then each fallback's.
    pub(crate) fn session_hash_macs(&self) -> &[crypto::SaltedHmac] {
        &self.0.session_hash_macs
    }
}
