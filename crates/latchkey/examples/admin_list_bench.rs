//! Measures the admin's user list on 1,000,000 users (SQLite, PostgreSQL):
//! the first page of a search, of each filter and of each ordering, as the
//! whole `GET /api/admin/users/` request in-process (staff session check,
//! the count — exact up to 10,000, estimated beyond — the page, JSON).
//! Users are seeded in bulk SQL with one precomputed password hash (a
//! million Argon2 hashes would take hours), through the real schema, its
//! indexes and (SQLite) its search triggers. Prints Markdown rows;
//! `bench/admin_list.sh` records them in `bench/RESULTS-admin-list.md`.
//! Target: p99 ≤ 50 ms for each.
//!
//! `cargo run --release -p latchkey --example admin_list_bench -- [sqlite|postgres] [USERS] [ITERATIONS]`

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use axum::body::Body;
use http::{Request, StatusCode, header};
use latchkey::{
    Latchkey, SystemClock,
    session::{SessionKey, SessionRecord},
    settings::{Preset, Settings},
    store::Database,
    testing::{PgDatabase, create_user},
    users::UserChanges,
};
use time::OffsetDateTime;
use tower::ServiceExt;

/// The queries timed: a label and the query string.
const QUERIES: &[(&str, &str)] = &[
    ("no filter (newest first)", ""),
    ("search, rare term (\"42424\")", "search=42424"),
    ("search, common term (\"example\", 1 in 4)", "search=example"),
    ("search, 2 characters (\"an\")", "search=an"),
    ("search, no match", "search=nobody-has-this"),
    ("filter isStaff=true (100 users)", "isStaff=true"),
    ("filter isSuperuser=true (10 users)", "isSuperuser=true"),
    ("filter isActive=false (1 %)", "isActive=false"),
    ("filter isStaff=false", "isStaff=false"),
    ("ordering=username", "ordering=username"),
    ("ordering=-username", "ordering=-username"),
    ("ordering=dateJoined", "ordering=dateJoined"),
    ("ordering=-dateJoined", "ordering=-dateJoined"),
    ("ordering=lastLogin", "ordering=lastLogin"),
    ("ordering=-lastLogin", "ordering=-lastLogin"),
    ("search common + isActive=true + ordering=username", "search=example&isActive=true&ordering=username"),
    ("search rare + ordering=-lastLogin", "search=42424&ordering=-lastLogin"),
    ("page 40 of no filter", "page=40"),
];

const FIRST: [&str; 20] = [
    "anna", "ben", "carla", "dmitri", "emma", "farid", "grace", "hugo", "ines", "jonas", "kim", "lena", "mateo",
    "nora", "omar", "paula", "quinn", "rosa", "sven", "tariq",
];
const LAST: [&str; 13] = [
    "smith", "garcia", "muller", "rossi", "kowalski", "nguyen", "okafor", "silva", "tanaka", "dubois", "ivanova",
    "berg", "cohen",
];

/// The seeding statement: `$1` users from a series, one precomputed hash
/// (`$2`), staff every 10,000th, superuser every 100,000th, inactive every
/// 100th, a quarter on example.com, 30 % never logged in.
fn seed_sql(series: &str) -> String {
    let pick = |list: &[&str], n: &str| {
        let cases: String = list.iter().enumerate().map(|(i, v)| format!(" WHEN {i} THEN '{v}'")).collect();
        format!("(CASE {n} % {}{cases} END)", list.len())
    };
    let first = pick(&FIRST, "n");
    let last = pick(&LAST, "(n / 20)");
    format!(
        "INSERT INTO latchkey_users (username, email, password, is_active, is_staff, is_superuser, date_joined, last_login, email_verified, first_name, last_name)
         SELECT {first} || '.' || {last} || n,
                {first} || n || '@' || (CASE n % 4 WHEN 0 THEN 'example.com' WHEN 1 THEN 'mail.test' WHEN 2 THEN 'corp.invalid' ELSE 'uni.invalid' END),
                $2, n % 100 <> 0, n % 10000 = 0, n % 100000 = 0, 1600000000 + n * 30,
                CASE WHEN n % 10 < 3 THEN NULL ELSE 1700000000 + ((n * 7919) % 1000000) * 60 END,
                TRUE, {first}, {last}
         FROM {series}"
    )
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let backend = args.get(1).cloned().unwrap_or_else(|| "sqlite".into());
    let users: i64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1_000_000);
    let iterations: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(200);
    let settings = Settings::for_tests(Preset::SameOrigin);
    let key = settings.secret_key.clone().expect("test settings carry a key");
    let hash = latchkey::PasswordHasher::new(&settings.password_hasher)?
        .hash(&latchkey::RawPassword::new("seeded password 1"))
        .await?;

    let mut _pg = None;
    let file = std::env::temp_dir().join(format!("latchkey-admin-bench-{}.sqlite3", std::process::id()));
    let t = Instant::now();
    let db = if backend == "postgres" {
        let pg = PgDatabase::new().await;
        let db = pg.migrated().await;
        _pg = Some(pg);
        db
    } else {
        let db = Database::connect(&format!("sqlite://{}", file.display()), true).await?;
        db.migrate().await?;
        db
    };
    match &db {
        Database::Sqlite(s) => {
            let series =
                "(WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < $1) SELECT n FROM seq)";
            sqlx::query(sqlx::AssertSqlSafe(seed_sql(series))).bind(users).bind(&hash).execute(s.pool()).await?;
            sqlx::query("ANALYZE").execute(s.pool()).await?;
            // What the search index costs: its pages beside the table's.
            let sizes: Vec<(String, i64)> = sqlx::query_as(
                "SELECT CASE WHEN name LIKE 'latchkey_users_search%' THEN 'the FTS5 trigram search index'
                             WHEN name = 'latchkey_users' THEN 'the users table'
                             ELSE 'the other indexes and tables' END AS what, sum(pgsize)
                 FROM dbstat GROUP BY what ORDER BY what",
            )
            .fetch_all(s.pool())
            .await?;
            for (what, bytes) in sizes {
                eprintln!("sqlite: {what}: {} MB", bytes / 1_000_000);
            }
        }
        Database::Postgres(s) => {
            let series = "generate_series(1, $1::BIGINT) AS g(n)";
            sqlx::query(sqlx::AssertSqlSafe(seed_sql(series))).bind(users).bind(&hash).execute(s.pool()).await?;
            sqlx::query("ANALYZE latchkey_users").execute(s.pool()).await?;
        }
    }
    let seeded = t.elapsed();
    let stores = db.stores();
    let lk = Latchkey::new(settings, stores, Arc::new(SystemClock), key)?;
    let staff = create_user(&lk, "bench-staff", "bench password 1").await;
    lk.users().update(staff.id, &UserChanges { is_staff: Some(true), ..UserChanges::default() }).await?;
    let now = OffsetDateTime::now_utc();
    let session = SessionKey::generate();
    lk.sessions()
        .create(&SessionRecord {
            key_hash: session.hash(),
            user_id: Some(staff.id),
            auth_hash: lk.session_auth().session_auth_hash(&staff),
            data: Default::default(),
            created_at: now,
            last_seen: now,
            expires_at: now + time::Duration::days(1),
            absolute_expires_at: now + time::Duration::days(1),
            idle_timeout: None,
            ip: None,
            user_agent: None,
            authenticated_at: Some(now),
            remember: true,
        })
        .await?;
    let cookie = format!("sessionid={}", session.expose());
    let router = latchkey::http::build_router(&lk);

    // Each query is timed in turn, round after round, so background work
    // (checkpoints, autovacuum) falls on all of them alike.
    let mut times: Vec<Vec<Duration>> = vec![Vec::with_capacity(iterations); QUERIES.len()];
    let mut counts = vec![String::new(); QUERIES.len()];
    for round in 0..(iterations + 5) {
        for (i, (_, q)) in QUERIES.iter().enumerate() {
            let req = Request::get(format!("/api/admin/users/?{q}"))
                .header(header::HOST, "localhost")
                .header(header::COOKIE, &cookie)
                .body(Body::empty())?;
            let t = Instant::now();
            let res = router.clone().oneshot(req).await?;
            let status = res.status();
            let body = http_body_util::BodyExt::collect(res.into_body()).await?.to_bytes();
            let took = t.elapsed();
            assert_eq!(status, StatusCode::OK, "{q}: {}", String::from_utf8_lossy(&body));
            if round >= 5 {
                times[i].push(took);
            } else if round == 0 {
                let v: serde_json::Value = serde_json::from_slice(&body)?;
                let about = if v["countIsEstimate"] == true { "≈ " } else { "" };
                counts[i] = format!("{about}{}", v["count"]);
            }
        }
    }
    for (i, (label, _)) in QUERIES.iter().enumerate() {
        let t = &mut times[i];
        t.sort();
        println!(
            "| {backend} | {label} | {} | {} | {} | {} | {} |",
            counts[i],
            t.len(),
            ms(percentile(t, 0.5)),
            ms(percentile(t, 0.99)),
            ms(*t.last().expect("timed")),
        );
    }
    eprintln!("{backend}: seeded {users} users in {:.1} s", seeded.as_secs_f64());
    if let Database::Sqlite(_) = &db {
        let size: u64 = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0)
            + std::fs::metadata(format!("{}-wal", file.display())).map(|m| m.len()).unwrap_or(0);
        eprintln!("sqlite: the database file and its WAL right after seeding: {} MB", size / 1_000_000);
    }
    db.close().await;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
    }
    Ok(())
}
