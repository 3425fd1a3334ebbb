//! The read-through cache across instances: two Latchkey instances on one
//! backend (SQLite file, PostgreSQL, PostgreSQL + Redis), each with its own
//! cache and sync loop. Whatever one instance (or a CLI-like writer without
//! a cache) revokes, the other never serves from its cache afterwards.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use http::StatusCode;
use latchkey::testing::{PgDatabase, RedisPrefix};
use latchkey::{
    Latchkey, MockClock, RawPassword, Stores,
    cache::CacheBus,
    settings::Preset,
    store::{Database, PgBus, RedisBus, SqliteBus},
};
use secrecy::SecretString;

use crate::helpers::{PASSWORD, TestApp, USER, settings_for};

/// One instance: its own cache, its own sync loop (when `sync`).
fn instance(stores: Stores, bus: Arc<dyn CacheBus>, clock: &MockClock, sync: bool) -> TestApp {
    let settings = settings_for(Preset::SameOrigin, |r| {
        r.throttle.per_pair = Some(1000);
        r.cache.sync_interval_ms = Some(50);
    });
    let key: SecretString = settings.secret_key.clone().unwrap();
    let lk = Latchkey::with_cache(settings, stores, Arc::new(clock.clone()), key, bus).unwrap();
    if sync {
        // The loop runs on the test's runtime and ends with it.
        let _ = lk.run_cache_sync();
    }
    let router = latchkey::http::build_router(&lk);
    TestApp { lk, router, clock: clock.clone(), jar: Default::default(), host: "localhost:8000".into() }
}

async fn wait_active(app: &TestApp) {
    let cache = app.lk.cache().unwrap();
    let start = Instant::now();
    while !cache.is_active() {
        assert!(start.elapsed() < Duration::from_secs(10), "cache never became active: {:?}", cache.stats());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn authenticated(app: &mut TestApp, jar: &TestApp) -> bool {
    app.jar = jar.jar.clone();
    let res = app.get("/api/session/").await;
    assert_eq!(res.status, StatusCode::OK);
    res.json()["isAuthenticated"] == true
}

/// Reads on `b` until one is answered from its cache (the sync loop may be
/// momentarily behind on a loaded test machine, so a single read could miss).
async fn warm(b: &mut TestApp, a: &TestApp) {
    wait_active(b).await;
    let cache = b.lk.cache().unwrap().clone();
    for _ in 0..50 {
        let before = cache.stats().hits;
        assert!(authenticated(b, a).await, "b does not see a's session");
        if cache.stats().hits > before {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("b never answered from its cache: {:?}", cache.stats());
}

/// Waits (at most 10 s) until `app` reaches its database again after an
/// outage, 20 times in a row: more than the pool's connections, so every cut
/// connection it still held has been found dead and replaced. A failed login
/// always reads and writes the database (user look-up, throttle counters),
/// and leaves `app`'s own session alone.
async fn served_again(app: &mut TestApp) {
    let start = Instant::now();
    let mut in_a_row = 0;
    let jar = app.jar.clone();
    loop {
        let res = app.login_as("probe", "not-a-password").await;
        app.jar = jar.clone();
        in_a_row = if res.status == StatusCode::SERVICE_UNAVAILABLE { 0 } else { in_a_row + 1 };
        if in_a_row == 20 {
            return;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "never served again: {}", res.status);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Logs out on `a`, then sends the logged-out cookie to `b` (which had it
/// cached), and asserts `b` treats it as anonymous.
async fn logout_on_a_is_seen_by_b(a: &mut TestApp, b: &mut TestApp) {
    let token = a.csrf_token().await;
    assert_eq!(a.post_json("/api/logout/", &token, "{}").await.status, StatusCode::OK);
    let mut stale = a.jar.clone();
    stale.insert("sessionid".into(), b.jar["sessionid"].clone());
    b.jar = stale;
    let res = b.get("/api/session/").await;
    assert_eq!(res.json()["isAuthenticated"], false, "b served a logged-out session");
}

/// The scenarios every backend must pass: logout, revocation, password
/// change and deactivation on `a` are seen by `b` at once, although `b` was
/// serving that session from its cache.
async fn revocations_reach_the_other_instance(mut a: TestApp, mut b: TestApp) {
    a.create_user(USER, PASSWORD).await;

    // Logout.
    a.login().await;
    warm(&mut b, &a).await;
    logout_on_a_is_seen_by_b(&mut a, &mut b).await;

    // Revocation (what `changepassword`, `deactivate` and operators do).
    a.jar.clear();
    a.login().await;
    warm(&mut b, &a).await;
    let user = a.lk.users().by_username(USER).await.unwrap().unwrap();
    a.lk.session_auth().revoke_user_sessions(&user, "test").await.unwrap();
    assert!(!authenticated(&mut b, &a).await, "b served a revoked session");

    // Password change alone (no revocation): the auth hash no longer matches.
    a.jar.clear();
    a.login().await;
    warm(&mut b, &a).await;
    let fresh = a.lk.hasher().hash(&RawPassword::new("another password 123")).await.unwrap();
    assert!(a.lk.users().set_password_hash(user.id, &fresh).await.unwrap());
    assert!(!authenticated(&mut b, &a).await, "b served a session of a changed password");

    // Deactivation alone.
    let original = a.lk.hasher().hash(&RawPassword::new(PASSWORD)).await.unwrap();
    a.lk.users().set_password_hash(user.id, &original).await.unwrap();
    a.jar.clear();
    a.login().await;
    warm(&mut b, &a).await;
    assert!(a.lk.users().set_active(user.id, false).await.unwrap());
    assert!(!authenticated(&mut b, &a).await, "b served a session of a deactivated user");
}

fn sqlite_url(dir: &tempfile::TempDir) -> String {
    format!("sqlite://{}/cache.sqlite3", dir.path().display())
}

async fn sqlite_instance(url: &str, clock: &MockClock, sync: bool) -> TestApp {
    let db = Database::connect(url, true).await.unwrap();
    db.migrate().await.unwrap();
    let Database::Sqlite(store) = &db else { unreachable!() };
    instance(db.stores(), Arc::new(SqliteBus::new(store.pool().clone())), clock, sync)
}

async fn pg_instance(db: &PgDatabase, clock: &MockClock) -> TestApp {
    let db = db.migrated().await;
    let Database::Postgres(store) = &db else { unreachable!() };
    instance(db.stores(), Arc::new(PgBus::new(store.pool().clone())), clock, true)
}

async fn pg_redis_instance(db: &PgDatabase, prefix: &RedisPrefix, clock: &MockClock) -> TestApp {
    let db = db.migrated().await;
    let redis = prefix.store().await;
    let mut stores = db.stores();
    stores.sessions = Arc::new(redis.clone());
    stores.throttle = Arc::new(redis.clone());
    instance(stores, Arc::new(RedisBus::new(redis)), clock, true)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_instances_never_serve_a_session_revoked_on_the_other() {
    let dir = tempfile::tempdir().unwrap();
    let clock = MockClock::default();
    let a = sqlite_instance(&sqlite_url(&dir), &clock, true).await;
    let b = sqlite_instance(&sqlite_url(&dir), &clock, true).await;
    revocations_reach_the_other_instance(a, b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cli_writer_without_a_cache_still_invalidates_a_servers_cache() {
    let dir = tempfile::tempdir().unwrap();
    let clock = MockClock::default();
    // `a` is what `latchkey changepassword` / `deactivate` run: no sync loop.
    let a = sqlite_instance(&sqlite_url(&dir), &clock, false).await;
    assert!(!a.lk.cache().unwrap().is_active(), "a one-shot command must not read a cache");
    let b = sqlite_instance(&sqlite_url(&dir), &clock, true).await;
    revocations_reach_the_other_instance(a, b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_instances_never_serve_a_session_revoked_on_the_other() {
    let db = PgDatabase::new().await;
    let clock = MockClock::default();
    let a = pg_instance(&db, &clock).await;
    let b = pg_instance(&db, &clock).await;
    revocations_reach_the_other_instance(a, b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_instances_never_serve_a_session_revoked_on_the_other() {
    let db = PgDatabase::new().await;
    let prefix = RedisPrefix::new();
    let clock = MockClock::default();
    let a = pg_redis_instance(&db, &prefix, &clock).await;
    let b = pg_redis_instance(&db, &prefix, &clock).await;
    revocations_reach_the_other_instance(a, b).await;
}

/// Readers hammer `b` while `a` logs out: every read that starts after the
/// logout returned must be anonymous (the wait after publishing is what
/// guarantees it, not luck with timing).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_read_that_starts_after_a_logout_returns_is_authenticated() {
    let db = PgDatabase::new().await;
    let clock = MockClock::default();
    let mut a = pg_instance(&db, &clock).await;
    let mut b = pg_instance(&db, &clock).await;
    a.create_user(USER, PASSWORD).await;
    for round in 0..3 {
        a.jar.clear();
        a.login().await;
        warm(&mut b, &a).await;
        let jar = a.jar.clone();
        let done = Arc::new(std::sync::Mutex::new(None::<Instant>));
        let mut readers = Vec::new();
        for _ in 0..4 {
            let (lk, router, jar, done) = (b.lk.clone(), b.router.clone(), jar.clone(), done.clone());
            readers.push(tokio::spawn(async move {
                let mut reader = TestApp {
                    lk,
                    router,
                    clock: MockClock::default(),
                    jar: jar.clone(),
                    host: "localhost:8000".into(),
                };
                let mut late_authenticated = 0;
                let start = Instant::now();
                while start.elapsed() < Duration::from_millis(600) {
                    // The same cookie every time, even after a deletion cookie.
                    reader.jar = jar.clone();
                    let began = Instant::now();
                    let res = reader.get("/api/session/").await;
                    let after_logout = done.lock().unwrap().is_some_and(|t| began > t);
                    if after_logout && res.json()["isAuthenticated"] == true {
                        late_authenticated += 1;
                    }
                    // A cache hit never waits on I/O; let the sync loop run,
                    // as socket reads do in a real server.
                    tokio::task::yield_now().await;
                }
                late_authenticated
            }));
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
        let token = a.csrf_token().await;
        assert_eq!(a.post_json("/api/logout/", &token, "{}").await.status, StatusCode::OK);
        *done.lock().unwrap() = Some(Instant::now());
        for r in readers {
            assert_eq!(r.await.unwrap(), 0, "round {round}: b authenticated a session after its logout returned");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_that_loses_its_channel_empties_its_cache_and_recovers() {
    let db = PgDatabase::new().await;
    let clock = MockClock::default();
    let mut a = pg_instance(&db, &clock).await;
    let mut b = pg_instance(&db, &clock).await;
    a.create_user(USER, PASSWORD).await;
    a.login().await;
    warm(&mut b, &a).await;
    let cache = b.lk.cache().unwrap().clone();
    let drops = cache.stats().drops;

    // Cut every connection to the database, both LISTEN connections included.
    let Database::Postgres(admin) = Database::connect(&db.url, false).await.unwrap() else { unreachable!() };
    sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
        .execute(admin.pool())
        .await
        .unwrap();
    let start = Instant::now();
    while cache.stats().drops == drops {
        assert!(start.elapsed() < Duration::from_secs(5), "the lost channel went unnoticed: {:?}", cache.stats());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(cache.stats().sessions, 0, "a cache whose channel was lost must be emptied");

    // Back again: the cache serves, and revocations still reach it. Both
    // instances answer 503 until their pools have replaced the cut
    // connections (the first use of each finds it dead); wait for both.
    served_again(&mut a).await;
    warm(&mut b, &a).await;
    logout_on_a_is_seen_by_b(&mut a, &mut b).await;
    admin.pool().close().await;
}
