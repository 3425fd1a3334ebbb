//! The shared state ([`Latchkey`]) and how it is assembled: from stores
//! given by the caller ([`Latchkey::new`], [`Latchkey::with_cache`]) or from
//! the URLs in the settings ([`Latchkey::open`]). The authentication flows
//! on this state are in `state/auth.rs`.

mod account;
mod admin;
mod auth;
mod mailing;
mod mfa;
mod oidc;
mod outbox;
mod recovery;
mod signin;
mod signup;
#[cfg(feature = "webauthn")]
mod webauthn;

pub use account::{Ended, SessionSummary};
pub(crate) use admin::parse_name;
pub use admin::{Acting, AdminError, AdminSession, AdminSessionId};
pub use mfa::{FactorUsed, SecondFactor, TotpSetup};
pub use oidc::{CallbackParams, OidcError, OidcStarted};
pub use signin::{Outcome, Proof, SignedIn, Target, WayIn};
pub use signup::SignedUp;
#[cfg(feature = "webauthn")]
pub use webauthn::{OPTIONS_PER_CLIENT, Registered};

use std::{fmt, sync::Arc};

use secrecy::{ExposeSecret, SecretString};

pub use crate::store::Stores;
use crate::{
    audit::AuditStore,
    cache::{self, AuthCache, CacheBus},
    clock::Clock,
    crypto,
    keys::KeyStore,
    mail::{MailTransport, OutboxStore},
    password::{HashError, PasswordHasher},
    session::SessionStore,
    settings::{Settings, redact_url},
    store::{Database, DbError},
    throttle::ThrottleStore,
    users::UserStore,
};

/// The ways in a password (or a passkey) is checked, as metrics label them.
const LOGIN_WAYS: [&str; 6] = ["password", "basic", "reauthenticate", "password_change", "passkey", "oidc"];

struct Inner {
    settings: Settings,
    sessions: Arc<dyn SessionStore>,
    users: Arc<dyn UserStore>,
    throttle: Arc<dyn ThrottleStore>,
    audit: Arc<dyn AuditStore>,
    keys: Arc<dyn KeyStore>,
    outbox: Arc<dyn OutboxStore>,
    mfa: Arc<dyn crate::mfa::MfaStore>,
    identities: Arc<dyn crate::oidc::IdentityStore>,
    #[cfg(feature = "oidc")]
    idp: crate::idp::IdentityProviders,
    secret_box: crypto::SecretBox,
    recovery_key: crate::mfa::recovery::RecoveryCodeKey,
    #[cfg(feature = "webauthn")]
    relying_party: Option<crate::mfa::webauthn::Webauthn>,
    transport: std::sync::RwLock<Arc<dyn MailTransport>>,
    outbox_wake: tokio::sync::Notify,
    hasher: PasswordHasher,
    clock: Arc<dyn Clock>,
    cache: Option<(Arc<AuthCache>, Arc<dyn CacheBus>)>,
    session_hash_macs: Vec<crypto::SaltedHmac>,
    device_macs: Vec<crypto::SaltedHmac>,
    session_id_mac: crypto::SaltedHmac,
    reset_fingerprint_mac: crypto::SaltedHmac,
    aggregator: crate::audit::Aggregator,
    metrics: crate::metrics::Metrics,
}

/// The connections behind a [`Latchkey`] opened with [`Latchkey::open`],
/// for health checks and an orderly close.
#[derive(Debug, Clone)]
pub struct Backends {
    /// The database.
    pub db: Database,
    /// Redis, when sessions live there.
    #[cfg(feature = "redis")]
    pub redis: Option<crate::store::RedisStore>,
    /// The read-through cache.
    pub cache: Option<Arc<AuthCache>>,
}

/// The cache sync loop on its own thread ([`Latchkey::run_cache_sync_thread`]).
#[derive(Debug)]
pub struct CacheSyncThread {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl CacheSyncThread {
    /// Ends the loop and waits for its thread (its connections are closed then).
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }
}

impl Drop for CacheSyncThread {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl Backends {
    /// Closes the database pool.
    pub async fn close(&self) {
        self.db.close().await;
    }

    /// A ping of the session store when it is not the database (Redis).
    pub fn session_store_ping(&self) -> Option<impl Future<Output = bool> + Send + '_> {
        #[cfg(feature = "redis")]
        return self.redis.as_ref().map(|r| r.ping());
        #[cfg(not(feature = "redis"))]
        return None::<std::future::Ready<bool>>;
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
    Hasher(#[from] HashError),
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// The session store (Redis) cannot be reached.
    #[error("cannot reach the session store {0}")]
    SessionStore(String),
    /// No secret key in the settings nor in the database.
    #[error("no secret key: set LATCHKEY_SECRET_KEY or run `latchkey migrate`, which generates one")]
    NoSecretKey,
    /// The mail transport cannot be built.
    #[error("email: {0}")]
    Mail(String),
    /// The OpenID Connect client cannot be built.
    #[error("oidc: {0}")]
    Oidc(String),
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
        cache: Option<(Arc<AuthCache>, Arc<dyn CacheBus>)>,
    ) -> Result<Self, BuildError> {
        let hasher = PasswordHasher::new(&settings.password_hasher)?;
        let metrics = crate::metrics::Metrics::new();
        metrics.declare(&crate::csrf::CsrfReason::LABELS, &LOGIN_WAYS, &WayIn::ALL.map(WayIn::label));
        hasher.observe_waits(metrics.hash_wait().clone());
        let Stores { sessions, users, throttle, audit, keys: key_store, outbox, mfa, identities } = stores;
        let transport = crate::mailer::transport_for(&settings.email).map_err(|e| BuildError::Mail(e.to_string()))?;
        // The keys themselves are not kept: only what is derived from them.
        let keys = || std::iter::once(&secret_key).chain(settings.secret_key_fallbacks.iter());
        let session_hash_macs = crate::auth::session_hash_macs(keys());
        let device_macs = crate::auth::macs_for(crate::throttle::DEVICE_SALT, keys());
        // Ids are shown, never verified against older keys: the current key alone.
        let session_id_mac = crate::auth::macs_for(crate::session::SESSION_ID_SALT, keys()).swap_remove(0);
        // Reset keys live an hour at most; a key rotation may kill them.
        let reset_fingerprint_mac = crate::auth::macs_for(recovery::FINGERPRINT_SALT, keys()).swap_remove(0);
        // Sealed TOTP secrets open with the current key or a fallback;
        // recovery codes are hashed with the current key (regenerate them
        // after a key rotation).
        let secret_box = crypto::SecretBox::new(keys().map(|k| k.expose_secret().as_bytes()));
        let recovery_key = crate::mfa::recovery::RecoveryCodeKey::new(secret_key.expose_secret().as_bytes());
        #[cfg(feature = "webauthn")]
        let relying_party = crate::mfa::webauthn::relying_party(&settings.webauthn);
        #[cfg(feature = "oidc")]
        let idp = crate::idp::IdentityProviders::new(&settings.oidc_providers)
            .map_err(|e| BuildError::Oidc(e.to_string()))?;
        Ok(Self(Arc::new(Inner {
            settings,
            sessions,
            users,
            throttle,
            audit,
            keys: key_store,
            outbox,
            mfa,
            identities,
            #[cfg(feature = "oidc")]
            idp,
            secret_box,
            recovery_key,
            #[cfg(feature = "webauthn")]
            relying_party,
            transport: std::sync::RwLock::new(transport),
            outbox_wake: tokio::sync::Notify::new(),
            hasher,
            clock,
            cache,
            session_hash_macs,
            device_macs,
            session_id_mac,
            reset_fingerprint_mac,
            aggregator: crate::audit::Aggregator::default(),
            metrics,
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
        bus: Arc<dyn CacheBus>,
    ) -> Result<Self, BuildError> {
        let cache = Arc::new(if bus.shared() {
            AuthCache::new(settings.cache.clone())
        } else {
            AuthCache::local(settings.cache.clone())
        });
        let stores = Stores {
            sessions: Arc::new(cache::Cached::new(stores.sessions, cache.clone(), bus.clone())),
            users: Arc::new(cache::Cached::new(stores.users, cache.clone(), bus.clone())),
            ..stores
        };
        Self::assemble(settings, stores, clock, secret_key, Some((cache, bus)))
    }

    /// The read-through cache, when there is one.
    pub fn cache(&self) -> Option<&Arc<AuthCache>> {
        self.0.cache.as_ref().map(|(c, _)| c)
    }

    /// Spawns the cache's sync loop (servers call this; one-shot commands
    /// do not, so they never read a cache but still publish). `None` when
    /// there is no cache or it is turned off.
    pub fn run_cache_sync(&self) -> Option<tokio::task::JoinHandle<()>> {
        let (cache, bus) = self.sync_parts()?;
        Some(tokio::spawn(cache::run_sync(bus, cache)))
    }

    /// The cache and its bus, when a sync loop has something to do: a cache
    /// that is on, with other instances to hear from.
    fn sync_parts(&self) -> Option<(Arc<AuthCache>, Arc<dyn CacheBus>)> {
        let (cache, bus) = self.0.cache.as_ref()?;
        (cache.settings().enabled && bus.shared()).then(|| (cache.clone(), bus.clone()))
    }

    /// Runs the cache's sync loop on a thread of its own with its own
    /// runtime, so that request load cannot starve it: on a shared runtime a
    /// saturated server delays the loop behind its request tasks until the
    /// channel looks lost and the cache switches itself off. Stopping or
    /// dropping the handle ends the loop. `None` when there is no cache or it
    /// is turned off.
    pub fn run_cache_sync_thread(&self) -> Option<CacheSyncThread> {
        let (cache, bus) = self.sync_parts()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("latchkey-cache-sync".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    Ok(rt) => rt,
                    Err(e) => {
                        tracing::error!(target: "latchkey::cache", error = %e, "cannot start the cache sync runtime; the cache stays off");
                        return;
                    }
                };
                runtime.block_on(async move {
                    tokio::select! {
                        () = cache::run_sync(bus, cache) => {}
                        _ = stopped => {}
                    }
                });
            })
            .ok()?;
        Some(CacheSyncThread { stop: Some(stop), thread: Some(thread) })
    }

    /// The stores, e.g. to build a sibling instance on the same data.
    pub fn stores(&self) -> Stores {
        Stores {
            sessions: self.0.sessions.clone(),
            users: self.0.users.clone(),
            throttle: self.0.throttle.clone(),
            audit: self.0.audit.clone(),
            keys: self.0.keys.clone(),
            outbox: self.0.outbox.clone(),
            mfa: self.0.mfa.clone(),
            identities: self.0.identities.clone(),
        }
    }

    /// The accounts at OpenID Connect providers linked to users.
    pub fn identities(&self) -> &Arc<dyn crate::oidc::IdentityStore> {
        &self.0.identities
    }

    /// The configured OpenID Connect providers' client.
    #[cfg(feature = "oidc")]
    pub(crate) fn idp(&self) -> &crate::idp::IdentityProviders {
        &self.0.idp
    }

    /// The second factors.
    pub fn mfa(&self) -> &Arc<dyn crate::mfa::MfaStore> {
        &self.0.mfa
    }

    /// Seals and opens TOTP secrets.
    pub(crate) fn secret_box(&self) -> &crypto::SecretBox {
        &self.0.secret_box
    }

    /// Keys stored recovery codes.
    pub(crate) fn recovery_key(&self) -> &crate::mfa::recovery::RecoveryCodeKey {
        &self.0.recovery_key
    }

    /// The WebAuthn relying party, if passkeys can work with these settings.
    #[cfg(feature = "webauthn")]
    pub(crate) fn relying_party(&self) -> Option<&crate::mfa::webauthn::Webauthn> {
        self.0.relying_party.as_ref()
    }

    /// The single-use keys.
    pub fn keys(&self) -> &Arc<dyn KeyStore> {
        &self.0.keys
    }

    /// The outbox.
    pub fn outbox(&self) -> &Arc<dyn OutboxStore> {
        &self.0.outbox
    }

    /// How mail leaves (from `email.backend`).
    pub fn mail_transport(&self) -> Arc<dyn MailTransport> {
        self.0.transport.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Replaces the mail transport, e.g. with a
    /// [`crate::mailer::MemoryTransport`] in tests.
    pub fn set_mail_transport(&self, transport: Arc<dyn MailTransport>) {
        *self.0.transport.write().unwrap_or_else(std::sync::PoisonError::into_inner) = transport;
    }

    /// The audit store.
    pub fn audit_store(&self) -> &Arc<dyn AuditStore> {
        &self.0.audit
    }

    /// Opens the database of `settings.database_url` (and Redis, when
    /// `session_store_url` is set), refuses an unmigrated schema, and takes
    /// the secret key from the settings or the database.
    ///
    /// # Errors
    /// Unreachable or unmigrated database, unreachable Redis, missing secret key.
    pub async fn open(settings: Settings, clock: Arc<dyn Clock>) -> Result<(Self, Backends), BuildError> {
        let db = Database::connect(&settings.database_url, false).await?;
        db.check_migrated().await?;
        Self::open_on(db, settings, clock).await
    }

    /// Like [`Latchkey::open`], creating the database (SQLite) and applying
    /// the migrations first, as `latchkey migrate` does: for an application
    /// that embeds Latchkey and has no separate deploy step, and for
    /// `sqlite::memory:` in examples and tests. Uses the system clock.
    ///
    /// # Errors
    /// As [`Latchkey::open`], and a failed migration.
    pub async fn open_migrated(settings: Settings) -> Result<(Self, Backends), BuildError> {
        let db = Database::connect(&settings.database_url, true).await?;
        db.migrate().await?;
        Self::open_on(db, settings, Arc::new(crate::clock::SystemClock)).await
    }

    async fn open_on(db: Database, settings: Settings, clock: Arc<dyn Clock>) -> Result<(Self, Backends), BuildError> {
        let key = match &settings.secret_key {
            Some(k) => k.clone(),
            None => SecretString::from(db.stored_secret_key().await?.ok_or(BuildError::NoSecretKey)?),
        };
        #[cfg_attr(not(feature = "redis"), allow(unused_mut))]
        let mut stores = db.stores();
        #[cfg(feature = "redis")]
        let redis = match &settings.session_store_url {
            Some(url) => {
                let r = crate::store::RedisStore::connect(url, &settings.session_store_prefix)
                    .await
                    .map_err(|e| BuildError::SessionStore(format!("{}: {e}", redact_url(url))))?;
                stores.sessions = Arc::new(r.clone());
                stores.throttle = Arc::new(r.clone());
                Some(r)
            }
            None => None,
        };
        #[cfg(not(feature = "redis"))]
        if let Some(url) = &settings.session_store_url {
            return Err(BuildError::SessionStore(format!(
                "{}: this build has no Redis support (cargo feature `redis`)",
                redact_url(url)
            )));
        }
        // Invalidations travel where every instance already connects: Redis
        // when sessions live there, else the database.
        #[cfg(feature = "redis")]
        let bus: Arc<dyn CacheBus> = match &redis {
            Some(r) => Arc::new(crate::store::RedisBus::new(r.clone())),
            None => db.cache_bus(),
        };
        #[cfg(not(feature = "redis"))]
        let bus = db.cache_bus();
        let lk = Self::with_cache(settings, stores, clock, key, bus)?;
        let cache = lk.cache().cloned();
        Ok((
            lk,
            Backends {
                db,
                #[cfg(feature = "redis")]
                redis,
                cache,
            },
        ))
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
    pub fn throttle(&self) -> &Arc<dyn ThrottleStore> {
        &self.0.throttle
    }

    /// The password hasher.
    pub fn hasher(&self) -> &PasswordHasher {
        &self.0.hasher
    }

    /// This instance's metrics.
    pub fn metrics(&self) -> &crate::metrics::Metrics {
        &self.0.metrics
    }

    /// The metrics in the Prometheus text format, with what is a state
    /// rather than an event read now: the live sessions (a query, reused
    /// for [`crate::metrics::ACTIVE_SESSIONS_TTL`]), the outbox's backlog,
    /// the cache's counters and the hashing pool's queue. A store that does
    /// not answer within two seconds leaves its gauge as it was.
    pub async fn render_metrics(&self) -> String {
        let wait = std::time::Duration::from_secs(2);
        let now = std::time::Instant::now();
        let active_sessions = match self.metrics().cached_active_sessions(now) {
            Some(n) => Some(n),
            None => {
                // The count of a one-item page: exact up to 10,000, estimated beyond.
                let first = crate::page::PageRequest::numbered(1, 1);
                let n = match first {
                    Some(page) => {
                        let listed = tokio::time::timeout(wait, self.sessions().list_live(self.clock().now(), page));
                        listed.await.ok().and_then(Result::ok).map(|p| p.count)
                    }
                    None => None,
                };
                if let Some(n) = n {
                    self.metrics().saw_active_sessions(now, n);
                }
                n
            }
        };
        let outbox_backlog = tokio::time::timeout(wait, self.outbox().backlog()).await.ok().and_then(Result::ok);
        let cache = self.cache().map(|c| c.stats()).map(|s| (s.hits, s.misses, s.drops));
        let snapshot =
            crate::metrics::Snapshot { active_sessions, outbox_backlog, cache, hash_queue: self.hasher().queued() };
        self.metrics().render(snapshot)
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.0.clock
    }

    /// Session-auth-hash HMACs: the secret key's first, then each fallback's.
    pub(crate) fn session_hash_macs(&self) -> &[crypto::SaltedHmac] {
        &self.0.session_hash_macs
    }

    /// Unauthenticated rejections counted since the last audit flush.
    pub(crate) fn aggregator(&self) -> &crate::audit::Aggregator {
        &self.0.aggregator
    }

    /// The HMAC behind the session ids users see.
    pub(crate) fn session_id_mac(&self) -> &crypto::SaltedHmac {
        &self.0.session_id_mac
    }

    /// The HMAC that binds a reset key to the account's state.
    pub(crate) fn reset_fingerprint_mac(&self) -> &crypto::SaltedHmac {
        &self.0.reset_fingerprint_mac
    }

    /// Wakes the outbox sender (something was just enqueued).
    pub(crate) fn outbox_wake(&self) -> &tokio::sync::Notify {
        &self.0.outbox_wake
    }

    /// Device-cookie HMACs: the secret key's first, then each fallback's.
    pub(crate) fn device_macs(&self) -> &[crypto::SaltedHmac] {
        &self.0.device_macs
    }
}
