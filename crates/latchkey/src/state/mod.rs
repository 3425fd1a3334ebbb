//! The shared state ([`Latchkey`]), the feature services it is made of,
//! and how it is assembled: from stores given by the caller
//! ([`Latchkey::new`], [`Latchkey::with_cache`]) or from the URLs in the
//! settings ([`Latchkey::open`]).
//!
//! Each flow is a method of the one service that owns it, and a service
//! holds only the stores, keys and settings its flows touch, so its fields
//! say what a flow may touch. Handlers take the service they need
//! (`State<Accounts>`: each has [`axum::extract::FromRef`] from
//! [`Latchkey`]) or reach it through an accessor (`lk.accounts()`). A flow
//! that needs another feature calls that feature's service, held by name
//! ([`Accounts`] holds the [`SignIn`] that re-authentication goes through);
//! nothing calls across through [`Latchkey`].
//!
//! | service | flows | file |
//! | --- | --- | --- |
//! | [`Core`] | settings, clock, metrics, the audit trail | `core.rs` |
//! | [`SessionAuth`] | a session's user, auth hash and ids; recent authentication; revocation | `session_auth.rs` |
//! | [`Passwords`] | a password behind the throttle; device cookies | `passwords.rs` |
//! | [`Mailing`] | mail-sending limits, keys, the outbox and its sender | `mailing.rs`, `outbox.rs` |
//! | [`SignIn`] | the sign-in pipeline, every way in | `signin.rs` |
//! | [`SecondFactors`] | TOTP, recovery codes, WebAuthn; the second step | `mfa.rs`, `webauthn.rs` |
//! | [`Accounts`] | the user's sessions, re-authentication, password change | `account.rs` |
//! | [`Recovery`] | password reset by mail | `recovery.rs` |
//! | [`Registration`] | sign-up, address verification and change | `signup.rs` |
//! | [`Admin`] | staff and operators on users, sessions, the trail | `admin.rs` |
//! | [`Oidc`] | OpenID Connect sign-in, linking, unlinking | `oidc.rs` |

mod account;
mod admin;
mod core;
mod mailing;
mod mfa;
mod oidc;
mod outbox;
mod passwords;
mod recovery;
mod session_auth;
mod signin;
mod signup;
#[cfg(feature = "webauthn")]
mod webauthn;

pub use account::{Accounts, Ended, SessionSummary};
pub(crate) use admin::parse_name;
pub use admin::{Acting, Admin, AdminError, AdminSession, AdminSessionId};
pub use core::Core;
pub use mailing::Mailing;
pub use mfa::{FactorUsed, SecondFactor, SecondFactors, TotpSetup};
pub use oidc::{CallbackParams, Oidc, OidcError, OidcStarted};
pub use passwords::Passwords;
pub use recovery::Recovery;
pub use session_auth::SessionAuth;
pub use signin::{Outcome, Proof, SignIn, SignedIn, Target, WayIn};
pub use signup::{Registration, SignedUp};
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
    mail::OutboxStore,
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
    core: Core,
    stores: Stores,
    hasher: PasswordHasher,
    cache: Option<(Arc<AuthCache>, Arc<dyn CacheBus>)>,
    session_auth: SessionAuth,
    passwords: Passwords,
    mailing: Mailing,
    sign_in: SignIn,
    factors: SecondFactors,
    accounts: Accounts,
    recovery: Recovery,
    registration: Registration,
    admin: Admin,
    oidc: Oidc,
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
            .field("settings", self.settings())
            .field("sessions", self.sessions())
            .field("users", self.users())
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
        let transport = crate::mailer::transport_for(&settings.email).map_err(|e| BuildError::Mail(e.to_string()))?;
        // The keys themselves are not kept: only what is derived from them.
        let keys = || std::iter::once(&secret_key).chain(settings.secret_key_fallbacks.iter());
        let hash_macs: Arc<[_]> = crate::auth::session_hash_macs(keys()).into();
        let device_macs: Arc<[_]> = crate::auth::macs_for(crate::throttle::DEVICE_SALT, keys()).into();
        // Ids are shown, never verified against older keys: the current key alone.
        let id_mac = Arc::new(crate::auth::macs_for(crate::session::SESSION_ID_SALT, keys()).swap_remove(0));
        // Reset keys live an hour at most; a key rotation may kill them.
        let reset_fingerprint_mac = Arc::new(crate::auth::macs_for(recovery::FINGERPRINT_SALT, keys()).swap_remove(0));
        // Sealed TOTP secrets open with the current key or a fallback;
        // recovery codes are hashed with the current key (regenerate them
        // after a key rotation).
        let secret_box = Arc::new(crypto::SecretBox::new(keys().map(|k| k.expose_secret().as_bytes())));
        let recovery_key = Arc::new(crate::mfa::recovery::RecoveryCodeKey::new(secret_key.expose_secret().as_bytes()));
        #[cfg(feature = "webauthn")]
        let relying_party = crate::mfa::webauthn::relying_party(&settings.webauthn).map(Arc::new);
        #[cfg(feature = "oidc")]
        let idp = Arc::new(
            crate::idp::IdentityProviders::new(&settings.oidc_providers)
                .map_err(|e| BuildError::Oidc(e.to_string()))?,
        );
        let core = Core::new(settings, clock, stores.audit.clone(), metrics);
        let session_auth = SessionAuth {
            core: core.clone(),
            store: stores.sessions.clone(),
            users: stores.users.clone(),
            hash_macs,
            id_mac,
        };
        let passwords = Passwords {
            core: core.clone(),
            users: stores.users.clone(),
            hasher: hasher.clone(),
            throttle: stores.throttle.clone(),
            device_macs,
        };
        let mailing = Mailing {
            core: core.clone(),
            users: stores.users.clone(),
            keys: stores.keys.clone(),
            outbox: stores.outbox.clone(),
            throttle: stores.throttle.clone(),
            wake: Arc::new(tokio::sync::Notify::new()),
            reset_fingerprint_mac,
            transport: Arc::new(std::sync::RwLock::new(transport)),
        };
        let factors = SecondFactors {
            core: core.clone(),
            users: stores.users.clone(),
            mfa: stores.mfa.clone(),
            throttle: stores.throttle.clone(),
            sessions: session_auth.clone(),
            secret_box,
            recovery_key,
            #[cfg(feature = "webauthn")]
            relying_party,
        };
        let sign_in = SignIn {
            core: core.clone(),
            users: stores.users.clone(),
            passwords: passwords.clone(),
            factors: factors.clone(),
            sessions: session_auth.clone(),
            mail: mailing.clone(),
        };
        let accounts = Accounts {
            core: core.clone(),
            users: stores.users.clone(),
            hasher: hasher.clone(),
            sessions: session_auth.clone(),
            passwords: passwords.clone(),
            mail: mailing.clone(),
            sign_in: sign_in.clone(),
        };
        let oidc = Oidc {
            core: core.clone(),
            #[cfg(feature = "oidc")]
            users: stores.users.clone(),
            identities: stores.identities.clone(),
            #[cfg(feature = "oidc")]
            flows: stores.sessions.clone(),
            sessions: session_auth.clone(),
            mfa: stores.mfa.clone(),
            mail: mailing.clone(),
            #[cfg(feature = "oidc")]
            throttle: stores.throttle.clone(),
            #[cfg(feature = "oidc")]
            idp,
            #[cfg(feature = "oidc")]
            sign_in: sign_in.clone(),
        };
        let recovery = Recovery {
            core: core.clone(),
            users: stores.users.clone(),
            hasher: hasher.clone(),
            keys: stores.keys.clone(),
            sessions: session_auth.clone(),
            mail: mailing.clone(),
            oidc: oidc.clone(),
        };
        let registration = Registration {
            core: core.clone(),
            users: stores.users.clone(),
            hasher: hasher.clone(),
            keys: stores.keys.clone(),
            outbox: stores.outbox.clone(),
            sessions: session_auth.clone(),
            mail: mailing.clone(),
            sign_in: sign_in.clone(),
            oidc: oidc.clone(),
        };
        let admin = Admin {
            core: core.clone(),
            users: stores.users.clone(),
            hasher: hasher.clone(),
            mfa: stores.mfa.clone(),
            sessions: session_auth.clone(),
            mail: mailing.clone(),
        };
        Ok(Self(Arc::new(Inner {
            core,
            stores,
            hasher,
            cache,
            session_auth,
            passwords,
            mailing,
            sign_in,
            factors,
            accounts,
            recovery,
            registration,
            admin,
            oidc,
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

    /// The stores, e.g. to build a sibling instance on the same data.
    pub fn stores(&self) -> Stores {
        self.0.stores.clone()
    }

    /// Settings.
    pub fn settings(&self) -> &Settings {
        self.0.core.settings()
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        self.0.core.clock()
    }

    /// This instance's metrics.
    pub fn metrics(&self) -> &crate::metrics::Metrics {
        self.0.core.metrics()
    }

    /// The session store.
    pub fn sessions(&self) -> &Arc<dyn SessionStore> {
        &self.0.stores.sessions
    }

    /// The user store.
    pub fn users(&self) -> &Arc<dyn UserStore> {
        &self.0.stores.users
    }

    /// The failed-attempt counters.
    pub fn throttle(&self) -> &Arc<dyn ThrottleStore> {
        &self.0.stores.throttle
    }

    /// The audit store.
    pub fn audit_store(&self) -> &Arc<dyn AuditStore> {
        &self.0.stores.audit
    }

    /// The single-use keys.
    pub fn keys(&self) -> &Arc<dyn KeyStore> {
        &self.0.stores.keys
    }

    /// The outbox.
    pub fn outbox(&self) -> &Arc<dyn OutboxStore> {
        &self.0.stores.outbox
    }

    /// The second factors' store.
    pub fn mfa(&self) -> &Arc<dyn crate::mfa::MfaStore> {
        &self.0.stores.mfa
    }

    /// The accounts at OpenID Connect providers linked to users.
    pub fn identities(&self) -> &Arc<dyn crate::oidc::IdentityStore> {
        &self.0.stores.identities
    }

    /// The password hasher.
    pub fn hasher(&self) -> &PasswordHasher {
        &self.0.hasher
    }

    /// Settings, clock, metrics and the audit trail.
    pub fn core(&self) -> &Core {
        &self.0.core
    }

    /// A session's user, auth hash and ids; recent authentication; revocation.
    pub fn session_auth(&self) -> &SessionAuth {
        &self.0.session_auth
    }

    /// Checking passwords; device cookies.
    pub fn passwords(&self) -> &Passwords {
        &self.0.passwords
    }

    /// Mail: the outbox and its sender, the transport.
    pub fn mailing(&self) -> &Mailing {
        &self.0.mailing
    }

    /// The sign-in pipeline.
    pub fn signin(&self) -> &SignIn {
        &self.0.sign_in
    }

    /// The second factors.
    pub fn factors(&self) -> &SecondFactors {
        &self.0.factors
    }

    /// The signed-in user's own account.
    pub fn accounts(&self) -> &Accounts {
        &self.0.accounts
    }

    /// Password reset by mail.
    pub fn recovery(&self) -> &Recovery {
        &self.0.recovery
    }

    /// Sign-up and the account's address.
    pub fn registration(&self) -> &Registration {
        &self.0.registration
    }

    /// The admin's flows.
    pub fn admin(&self) -> &Admin {
        &self.0.admin
    }

    /// OpenID Connect.
    pub fn oidc(&self) -> &Oidc {
        &self.0.oidc
    }
}

/// A service's debug form names it only: services hold keys.
macro_rules! debug_by_name {
    ($($service:ident),* $(,)?) => {
        $(impl fmt::Debug for $service {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($service)).finish_non_exhaustive()
            }
        })*
    };
}

debug_by_name! { Core, SessionAuth, Passwords, Mailing, SignIn, SecondFactors, Accounts, Recovery, Registration, Admin, Oidc }
