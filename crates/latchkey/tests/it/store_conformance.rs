//! One conformance suite per store trait, run against every backend and
//! every wrapper: memory, SQLite, PostgreSQL, Redis, and the read-through
//! cache (`Cached<S>`) in front of memory (a local, always-read cache) and
//! in front of PostgreSQL (invalidated over LISTEN/NOTIFY by a running
//! sync loop, as in a deployment).

use std::sync::Arc;

use latchkey::{
    audit::AuditStore,
    cache::{AuthCache, CacheBus, CacheSettings, Cached, LocalBus, run_sync},
    session::SessionStore,
    store::{Database, MemorySessionStore, MemoryThrottleStore, MemoryUserStore, PgBus, SqliteStore},
    testing::{Fixture, PgDatabase, RedisPrefix, new_user, now},
    throttle::ThrottleStore,
    users::UserStore,
};

async fn sqlite() -> Database {
    let db = Database::connect("sqlite::memory:", true).await.unwrap();
    db.migrate().await.unwrap();
    db
}

async fn with_users(db: &Database) {
    // Sessions reference users; create the users the suite uses (ids 1 and 2).
    for name in ["u1", "u2"] {
        db.user_store().create(&new_user(name), now()).await.unwrap();
    }
}

/// A local cache: always read, nothing to wait for.
fn local_cache<S: ?Sized>(inner: Arc<S>) -> Cached<S> {
    Cached::new(inner, Arc::new(AuthCache::local(CacheSettings::default())), Arc::new(LocalBus))
}

/// A shared cache on PostgreSQL with its sync loop running, as a server runs it.
struct SyncLoop(tokio::task::JoinHandle<()>, #[allow(dead_code)] PgDatabase);

impl Drop for SyncLoop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn pg_cache(pg: &PgDatabase) -> (Database, Arc<AuthCache>, Arc<dyn CacheBus>) {
    let db = pg.migrated().await;
    let Database::Postgres(store) = &db else { unreachable!() };
    let bus: Arc<dyn CacheBus> = Arc::new(PgBus::new(store.pool().clone()));
    let cache = Arc::new(AuthCache::new(CacheSettings::default()));
    (db, cache, bus)
}

async fn wait_active(cache: &AuthCache) {
    let start = std::time::Instant::now();
    while !cache.is_active() {
        assert!(start.elapsed() < std::time::Duration::from_secs(10), "the cache never became active");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

mod sessions {
    use super::*;

    async fn memory() -> Fixture<dyn SessionStore> {
        Fixture::new(Arc::new(MemorySessionStore::new()))
    }

    async fn sqlite_store() -> Fixture<dyn SessionStore> {
        let db = sqlite().await;
        with_users(&db).await;
        Fixture::new(db.session_store())
    }

    async fn postgres_store() -> Fixture<dyn SessionStore> {
        let pg = PgDatabase::new().await;
        let db = pg.migrated().await;
        with_users(&db).await;
        Fixture::with_guard(db.session_store(), pg)
    }

    async fn redis_store() -> Fixture<dyn SessionStore> {
        let prefix = RedisPrefix::new();
        let store = prefix.store().await;
        Fixture::with_guard(Arc::new(store), prefix)
    }

    async fn cached_memory() -> Fixture<dyn SessionStore> {
        let inner: Arc<dyn SessionStore> = Arc::new(MemorySessionStore::new());
        Fixture::new(Arc::new(local_cache(inner)))
    }

    async fn cached_postgres() -> Fixture<dyn SessionStore> {
        let pg = PgDatabase::new().await;
        let (db, cache, bus) = pg_cache(&pg).await;
        with_users(&db).await;
        let sync = tokio::spawn(run_sync(bus.clone(), cache.clone()));
        wait_active(&cache).await;
        Fixture::with_guard(Arc::new(Cached::new(db.session_store(), cache, bus)), SyncLoop(sync, pg))
    }

    latchkey::session_store_conformance! {
        memory => memory();
        sqlite => sqlite_store();
        postgres => postgres_store();
        redis => redis_store();
        cached_memory => cached_memory();
        cached_postgres => cached_postgres();
    }
}

mod throttle {
    use super::*;

    async fn memory() -> Fixture<dyn ThrottleStore> {
        Fixture::new(Arc::new(MemoryThrottleStore::default()))
    }

    async fn sqlite_store() -> Fixture<dyn ThrottleStore> {
        Fixture::new(sqlite().await.throttle_store())
    }

    async fn postgres() -> Fixture<dyn ThrottleStore> {
        let pg = PgDatabase::new().await;
        let db = pg.migrated().await;
        Fixture::with_guard(db.throttle_store(), pg)
    }

    async fn redis() -> Fixture<dyn ThrottleStore> {
        let prefix = RedisPrefix::new();
        let store = prefix.store().await;
        Fixture::with_guard(Arc::new(store), prefix)
    }

    latchkey::throttle_store_conformance! {
        memory => memory();
        sqlite => sqlite_store();
        postgres => postgres();
        redis => redis();
    }
}

mod users {
    use super::*;

    async fn memory() -> Fixture<dyn UserStore> {
        Fixture::new(Arc::new(MemoryUserStore::new()))
    }

    async fn sqlite_store() -> Fixture<dyn UserStore> {
        Fixture::new(sqlite().await.user_store())
    }

    async fn postgres() -> Fixture<dyn UserStore> {
        let pg = PgDatabase::new().await;
        let db = pg.migrated().await;
        Fixture::with_guard(db.user_store(), pg)
    }

    async fn cached_memory() -> Fixture<dyn UserStore> {
        let inner: Arc<dyn UserStore> = Arc::new(MemoryUserStore::new());
        Fixture::new(Arc::new(local_cache(inner)))
    }

    async fn cached_postgres() -> Fixture<dyn UserStore> {
        let pg = PgDatabase::new().await;
        let (db, cache, bus) = pg_cache(&pg).await;
        let sync = tokio::spawn(run_sync(bus.clone(), cache.clone()));
        wait_active(&cache).await;
        Fixture::with_guard(Arc::new(Cached::new(db.user_store(), cache, bus)), SyncLoop(sync, pg))
    }

    latchkey::user_store_conformance! {
        memory => memory();
        sqlite => sqlite_store();
        postgres => postgres();
        cached_memory => cached_memory();
        cached_postgres => cached_postgres();
    }
}

mod audit {
    use super::*;

    async fn sqlite_store() -> Fixture<dyn AuditStore> {
        Fixture::new(sqlite().await.stores().audit)
    }

    async fn postgres() -> Fixture<dyn AuditStore> {
        let pg = PgDatabase::new().await;
        let db = pg.migrated().await;
        Fixture::with_guard(db.stores().audit, pg)
    }

    latchkey::audit_store_conformance! {
        sqlite => sqlite_store();
        postgres => postgres();
    }
}

/// A user's own store can run the exported suite: the SQLite store, built
/// by hand on a pool as an application would.
mod own_store {
    use super::*;

    async fn own() -> Fixture<dyn SessionStore> {
        let db = sqlite().await;
        with_users(&db).await;
        let Database::Sqlite(store) = &db else { unreachable!() };
        Fixture::new(Arc::new(SqliteStore::new(store.pool().clone())))
    }

    latchkey::session_store_conformance! {
        sqlite_by_hand => own();
    }
}

mod mail {
    use super::*;

    pub(super) async fn memory() -> Fixture<latchkey::Stores> {
        Fixture::new(Arc::new(latchkey::Stores::memory()))
    }

    pub(super) async fn sqlite_store() -> Fixture<latchkey::Stores> {
        Fixture::new(Arc::new(sqlite().await.stores()))
    }

    pub(super) async fn postgres() -> Fixture<latchkey::Stores> {
        let pg = PgDatabase::new().await;
        let db = pg.migrated().await;
        Fixture::with_guard(Arc::new(db.stores()), pg)
    }

    latchkey::mail_store_conformance! {
        memory => memory();
        sqlite => sqlite_store();
        postgres => postgres();
    }
}

mod mfa {
    // The same fixtures as the mail stores': a whole `Stores` per backend.
    use super::mail::{memory, postgres, sqlite_store};

    latchkey::mfa_store_conformance! {
        memory => memory();
        sqlite => sqlite_store();
        postgres => postgres();
    }
}

mod identities {
    // The same fixtures as the mail stores': a whole `Stores` per backend.
    use super::mail::{memory, postgres, sqlite_store};

    latchkey::identity_store_conformance! {
        memory => memory();
        sqlite => sqlite_store();
        postgres => postgres();
    }
}
