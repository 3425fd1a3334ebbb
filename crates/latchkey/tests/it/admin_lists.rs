//! The operator's lists past 10,000 rows, on SQLite and PostgreSQL: the
//! count turns into an estimate (flagged), close to the truth, and the page
//! is still the right one — the paths small tests never reach.

use latchkey::{
    page::PageRequest,
    store::Database,
    testing::PgDatabase,
    users::{UserQuery, admin::UserOrdering},
};
use time::OffsetDateTime;

const USERS: i64 = 12_000;
const SESSIONS: i64 = 10_500;

/// Seeds in bulk: `USERS` users (every 4th on example.com, joined a second
/// apart), `SESSIONS` live sessions of user 1, one audit event per user.
fn seed_statements(series_users: &str, series_sessions: &str, now: i64) -> Vec<String> {
    vec![
        format!(
            "INSERT INTO latchkey_users (username, email, password, is_active, is_staff, is_superuser, date_joined, email_verified)
             SELECT 'member' || n, 'member' || n || (CASE WHEN n % 4 = 0 THEN '@example.com' ELSE '@mail.test' END), 'x',
                    TRUE, FALSE, FALSE, 1600000000 + n, TRUE FROM {series_users}"
        ),
        format!(
            "INSERT INTO latchkey_sessions (key_hash, user_id, auth_hash, data, created_at, last_seen, expires_at, absolute_expires_at)
             SELECT 'k' || n, 1, 'h', '{{}}', {now}, {now} - n, {now} + 3600, {now} + 3600 FROM {series_sessions}"
        ),
        format!(
            "INSERT INTO latchkey_auth_events (at, event, username, detail, count)
             SELECT {now}, CASE WHEN n % 2 = 0 THEN 'login' ELSE 'logout' END, 'member' || n, '', 1 FROM {series_users}"
        ),
    ]
}

async fn seed(db: &Database, now: i64) {
    match db {
        Database::Sqlite(s) => {
            let series = |n: i64| {
                format!(
                    "(WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < {n}) SELECT n FROM seq)"
                )
            };
            for sql in seed_statements(&series(USERS), &series(SESSIONS), now) {
                sqlx::query(sqlx::AssertSqlSafe(sql)).execute(s.pool()).await.unwrap();
            }
        }
        Database::Postgres(s) => {
            let series = |n: i64| format!("generate_series(1, {n}) AS g(n)");
            for sql in seed_statements(&series(USERS), &series(SESSIONS), now) {
                sqlx::query(sqlx::AssertSqlSafe(sql)).execute(s.pool()).await.unwrap();
            }
            sqlx::query("ANALYZE").execute(s.pool()).await.unwrap();
        }
    }
}

async fn beyond_the_exact_count(db: Database) {
    let now = OffsetDateTime::now_utc();
    seed(&db, now.unix_timestamp()).await;
    let stores = db.stores();
    let first = UserQuery { ordering: UserOrdering::parse("-dateJoined").unwrap(), ..UserQuery::default() };
    let all = stores.users.list(&first).await.unwrap();
    assert!(all.count_is_estimate, "more than 10,000 users: an estimate");
    assert_eq!(all.count, 12_000, "the estimate of the whole table is its size");
    assert_eq!(all.results.first().map(|u| u.username.as_str()), Some("member12000"), "the newest first");
    assert_eq!(all.results.len(), 25);

    let search = UserQuery { search: Some("EXAMPLE".into()), ..first.clone() };
    let found = stores.users.list(&search).await.unwrap();
    // 3,000 of 12,000 match: exact.
    assert_eq!((found.count, found.count_is_estimate), (3_000, false));
    assert_eq!(found.results[0].username, "member12000");
    let common = UserQuery { search: Some("member".into()), ..first.clone() };
    let found = stores.users.list(&common).await.unwrap();
    assert!(found.count_is_estimate && found.count == 12_000, "{} {}", found.count, found.count_is_estimate);
    assert!(found.results.iter().all(|u| u.username.contains("member")));
    let deep = UserQuery { page: PageRequest { offset: 11_990, limit: 25 }, ..first.clone() };
    let page = stores.users.list(&deep).await.unwrap();
    assert_eq!(page.results.len(), 10, "the last page");
    assert_eq!(page.results.last().map(|u| u.username.as_str()), Some("member1"));

    let live = stores.sessions.list_live(now, PageRequest::default()).await.unwrap();
    assert!(live.count_is_estimate && live.count >= 10_500, "{} {}", live.count, live.count_is_estimate);
    assert_eq!(live.results[0].key_hash.as_str(), "k1", "most recent activity first");

    let events = stores.audit.query(None, None, PageRequest::default()).await.unwrap();
    assert!(events.count_is_estimate && events.count == 12_000, "{} {}", events.count, events.count_is_estimate);
    let logins = stores.audit.query(None, Some("login"), PageRequest::default()).await.unwrap();
    assert_eq!((logins.count, logins.count_is_estimate), (6_000, false), "half are logins: under the limit, exact");
    assert_eq!(logins.results[0].1.username.as_deref(), Some("member12000"));
    db.close().await;
}

#[tokio::test]
async fn on_sqlite_lists_past_ten_thousand_estimate_their_count_and_still_page_right() {
    let db = Database::connect("sqlite::memory:", true).await.unwrap();
    db.migrate().await.unwrap();
    beyond_the_exact_count(db).await;
}

#[tokio::test]
async fn on_postgresql_lists_past_ten_thousand_estimate_their_count_and_still_page_right() {
    let pg = PgDatabase::new().await;
    beyond_the_exact_count(pg.migrated().await).await;
}

#[tokio::test]
async fn in_redis_live_sessions_past_ten_thousand_estimate_their_count_and_still_page_right() {
    use latchkey::SessionStore;
    let prefix = latchkey::testing::RedisPrefix::new();
    let store = prefix.store().await;
    let now = OffsetDateTime::now_utc();
    let mut newest = None;
    for i in 0..10_050 {
        let (_, mut r) = latchkey::testing::session_record(Some(1 + i % 7), now, time::Duration::hours(1));
        r.last_seen = now - time::Duration::seconds(i);
        store.create(&r).await.unwrap();
        newest.get_or_insert(r.key_hash);
    }
    // Anonymous and expired sessions are not listed (nor counted).
    let (_, anonymous) = latchkey::testing::session_record(None, now, time::Duration::hours(1));
    store.create(&anonymous).await.unwrap();
    let live = store.list_live(now, PageRequest::default()).await.unwrap();
    assert!(live.count_is_estimate && live.count >= 10_050, "{} {}", live.count, live.count_is_estimate);
    assert_eq!(live.results.len(), 25);
    assert_eq!(Some(&live.results[0].key_hash), newest.as_ref(), "most recent activity first");
    let last = store.list_live(now, PageRequest { offset: 10_040, limit: 25 }).await.unwrap();
    assert_eq!(last.results.len(), 10, "the last page");
}
