//! Upgrading a deployment in place: a database migrated by the release
//! before the account issue (SQLite 0001–0004, PostgreSQL 0001–0002) and
//! Redis records written before sessions recorded their client keep their
//! signed-in sessions across the upgrade, and its users' addresses count as
//! verified. The old rows are written with the old columns only, exactly as
//! that release wrote them.

use http::StatusCode;
use latchkey::{
    Latchkey, Stores,
    session::{SessionKey, SessionStore},
    settings::Preset,
    store::Database,
    testing::{PgDatabase, RedisPrefix},
};
use redis::AsyncCommands;

use crate::helpers::{PASSWORD, TestApp, USER, settings_for};

/// The user row the old release wrote (createsuperuser): every column it had.
const OLD_USER_ROW: &str = "INSERT INTO latchkey_users
    (username, email, password, is_active, is_staff, is_superuser, date_joined)
    VALUES ($1, $2, $3, TRUE, TRUE, TRUE, $4)";

/// The row the old release wrote at login: every column it had.
const OLD_SESSION_ROW: &str = "INSERT INTO latchkey_sessions
    (key_hash, user_id, auth_hash, data, created_at, last_seen, expires_at, absolute_expires_at, idle_timeout)
    VALUES ($1, $2, $3, '{}', $4, $4, $5, $5, 0)";

/// After the upgrade, the old session is still signed in, lists with
/// unknown client fields, and must prove the password before sensitive
/// actions (it has no recorded authentication time).
async fn old_session_still_works(app: &mut TestApp, key: &SessionKey) {
    app.jar.insert("sessionid".into(), key.expose().to_owned());
    let who = app.get("/api/whoami/").await;
    assert_eq!(who.json()["username"], USER, "the session survived the upgrade: {:?}", who.json());
    let list = app.get("/api/sessions/").await.json();
    let s = &list["sessions"][0];
    assert_eq!(list["sessions"].as_array().unwrap().len(), 1);
    assert_eq!((s["current"].as_bool(), s["ip"].is_null(), s["userAgent"].is_null()), (Some(true), true, true));
    assert_eq!(s["remember"], true, "old sessions had persistent cookies");
    let token = app.csrf_token().await;
    let res = app.post_json("/api/sessions/revoke-others/", &token, "{}").await;
    assert_eq!((res.status, res.code()), (StatusCode::FORBIDDEN, "reauthentication_required".into()));
}

async fn sql_upgrade(db: Database, old_version: i64) {
    db.migrate_to(old_version).await.unwrap();
    let settings = settings_for(Preset::Embedded, |_| {});
    let lk = Latchkey::new(
        settings.clone(),
        db.stores(),
        std::sync::Arc::new(latchkey::SystemClock),
        settings.secret_key.clone().unwrap(),
    )
    .unwrap();
    let now = lk.clock().now().unix_timestamp();
    let hash = lk.hasher().hash(&latchkey::RawPassword::new(PASSWORD)).await.unwrap();
    for (name, email) in [(USER, "demo@example.com"), ("no-address", "")] {
        match &db {
            Database::Sqlite(s) => {
                let q = sqlx::query(OLD_USER_ROW).bind(name).bind(email).bind(&hash).bind(now);
                q.execute(s.pool()).await.unwrap();
            }
            Database::Postgres(s) => {
                let q = sqlx::query(OLD_USER_ROW).bind(name).bind(email).bind(&hash).bind(now);
                q.execute(s.pool()).await.unwrap();
            }
        }
    }
    let id: i64 = match &db {
        Database::Sqlite(s) => sqlx::query_scalar("SELECT id FROM latchkey_users WHERE username = $1")
            .bind(USER)
            .fetch_one(s.pool())
            .await
            .unwrap(),
        Database::Postgres(s) => sqlx::query_scalar("SELECT id FROM latchkey_users WHERE username = $1")
            .bind(USER)
            .fetch_one(s.pool())
            .await
            .unwrap(),
    };
    // Only what the session auth hash reads: the id and the password hash.
    let user = latchkey::User {
        id,
        username: USER.into(),
        email: String::new(),
        email_verified: false,
        first_name: String::new(),
        last_name: String::new(),
        password_hash: hash.clone(),
        is_active: true,
        is_staff: true,
        is_superuser: true,
        last_login: None,
        date_joined: lk.clock().now(),
    };
    let key = SessionKey::generate();
    let (hash, auth, exp) = (key.hash().as_str().to_owned(), lk.session_auth().session_auth_hash(&user), now + 3600);
    match &db {
        Database::Sqlite(s) => {
            let q = sqlx::query(OLD_SESSION_ROW).bind(hash).bind(user.id).bind(auth).bind(now).bind(exp);
            q.execute(s.pool()).await.unwrap();
        }
        Database::Postgres(s) => {
            let q = sqlx::query(OLD_SESSION_ROW).bind(hash).bind(user.id).bind(auth).bind(now).bind(exp);
            q.execute(s.pool()).await.unwrap();
        }
    }
    let applied = db.migrate().await.unwrap();
    assert!(!applied.is_empty() && applied.iter().all(|v| *v > old_version), "{applied:?}");
    db.check_migrated().await.unwrap();
    let mut app = TestApp::on(settings, db.stores());
    old_session_still_works(&mut app, &key).await;
    let verified = |name: &'static str| {
        let users = app.lk.users().clone();
        async move { users.by_username(name).await.unwrap().unwrap().email_verified }
    };
    assert!(verified(USER).await, "an address set before verification existed counts as verified");
    assert!(!verified("no-address").await, "no address, nothing verified");
}

#[tokio::test]
async fn a_sqlite_database_of_the_previous_release_upgrades_with_its_sessions() {
    sql_upgrade(Database::connect("sqlite::memory:", true).await.unwrap(), 4).await;
}

#[tokio::test]
async fn a_postgres_database_of_the_previous_release_upgrades_with_its_sessions() {
    let pg = PgDatabase::new().await;
    sql_upgrade(Database::connect(&pg.url, false).await.unwrap(), 2).await;
}

#[tokio::test]
async fn redis_sessions_written_before_the_client_fields_existed_keep_working() {
    let prefix = RedisPrefix::new();
    let redis = prefix.store().await;
    let db = Database::connect("sqlite::memory:", true).await.unwrap();
    db.migrate().await.unwrap();
    let settings = settings_for(Preset::Embedded, |_| {});
    let stores = Stores { sessions: std::sync::Arc::new(redis.clone()), ..db.stores() };
    let mut app = TestApp::on(settings, stores);
    let user = app.create_user(USER, PASSWORD).await;
    let key = SessionKey::generate();
    let now = app.lk.clock().now().unix_timestamp();
    // The old release's CREATE script: these eight fields and nothing else.
    let client = redis::Client::open(latchkey::testing::redis_url()).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let h = key.hash();
    let fields: Vec<(&str, String)> = vec![
        ("u", user.id.to_string()),
        ("a", app.lk.session_auth().session_auth_hash(&user)),
        ("d", "{}".into()),
        ("c", now.to_string()),
        ("l", now.to_string()),
        ("e", (now + 3600).to_string()),
        ("x", (now + 3600).to_string()),
        ("i", "0".into()),
    ];
    let _: () = c.hset_multiple(format!("{}s:{}", prefix.prefix, h.as_str()), &fields).await.unwrap();
    let _: () = c.sadd(format!("{}u:{}", prefix.prefix, user.id), h.as_str()).await.unwrap();
    let _: () = c.zadd(format!("{}exp", prefix.prefix), h.as_str(), now + 3600).await.unwrap();
    let loaded = redis.load(&h, app.lk.clock().now()).await.unwrap().unwrap();
    assert_eq!((loaded.ip, loaded.user_agent, loaded.authenticated_at, loaded.remember), (None, None, None, true));
    old_session_still_works(&mut app, &key).await;
}
