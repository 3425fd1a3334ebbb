//! Measures `GET /api/sessions/` for a user with 1,000 live sessions on
//! every backend (memory, SQLite, PostgreSQL, Redis), among 20,000 sessions
//! of other users: the whole request in-process (CSRF/session layers, the
//! store query, an HMAC id per session, JSON), and the store's
//! `list_user_sessions` alone. Prints one Markdown row per backend and
//! layer; `bench/list_sessions.sh` records them in
//! `bench/RESULTS-list-sessions.md`. Target: p99 ≤ 20 ms.
//!
//! `cargo run --release -p latchkey --example list_sessions_bench -- [memory|sqlite|postgres|redis] [ITERATIONS]`

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
    testing::{PgDatabase, RedisPrefix, create_user},
};
use time::OffsetDateTime;
use tower::ServiceExt;

const MINE: usize = 1_000;
const OTHERS: usize = 20_000;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn record(user_id: Option<i64>, auth_hash: &str, i: usize, now: OffsetDateTime) -> (SessionKey, SessionRecord) {
    let key = SessionKey::generate();
    let created = now - time::Duration::seconds(i as i64);
    let rec = SessionRecord {
        key_hash: key.hash(),
        user_id,
        auth_hash: auth_hash.to_owned(),
        data: Default::default(),
        created_at: created,
        last_seen: created,
        expires_at: now + time::Duration::days(14),
        absolute_expires_at: now + time::Duration::days(14),
        idle_timeout: None,
        ip: Some(format!("198.51.100.{}", i % 250)),
        user_agent: Some(
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36"
                .into(),
        ),
        authenticated_at: Some(created),
        remember: true,
    };
    (key, rec)
}

/// Times `n` runs of `f` (after 20 warm-up runs); sorted.
async fn time_it<F, Fut>(n: usize, mut f: F) -> Vec<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for _ in 0..20 {
        f().await;
    }
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        f().await;
        out.push(t.elapsed());
    }
    out.sort();
    out
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let backend = args.get(1).cloned().unwrap_or_else(|| "sqlite".into());
    let iterations: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(300);
    let settings = Settings::for_tests(Preset::SameOrigin);
    let key = settings.secret_key.clone().expect("test settings carry a key");

    // The guards keep the PostgreSQL database and the Redis keys until the end.
    let mut _pg = None;
    let mut _redis = None;
    let file = std::env::temp_dir().join(format!("latchkey-list-bench-{}.sqlite3", std::process::id()));
    let db = match backend.as_str() {
        "postgres" => {
            let pg = PgDatabase::new().await;
            let db = pg.migrated().await;
            _pg = Some(pg);
            Some(db)
        }
        "memory" => None,
        _ => {
            let db = Database::connect(&format!("sqlite://{}", file.display()), true).await?;
            db.migrate().await?;
            Some(db)
        }
    };
    let mut stores = match &db {
        Some(db) => db.stores(),
        None => latchkey::Stores::memory(),
    };
    if backend == "redis" {
        let prefix = RedisPrefix::new();
        stores.sessions = Arc::new(prefix.store().await);
        _redis = Some(prefix);
    }
    let sessions = stores.sessions.clone();
    let lk = Latchkey::new(settings, stores, Arc::new(SystemClock), key)?;
    let user = create_user(&lk, "bench-user", "bench password 1").await;
    let other = create_user(&lk, "someone-else", "bench password 2").await;
    let (hash, other_hash) = (lk.session_auth().session_auth_hash(&user), lk.session_auth().session_auth_hash(&other));
    let now = OffsetDateTime::now_utc();
    let t = Instant::now();
    let mut cookie = None;
    for i in 0..MINE {
        let (k, r) = record(Some(user.id), &hash, i, now);
        sessions.create(&r).await?;
        cookie.get_or_insert(k);
    }
    for i in 0..OTHERS {
        let (_, r) = record(if i % 2 == 0 { Some(other.id) } else { None }, &other_hash, i, now);
        sessions.create(&r).await?;
    }
    let setup = t.elapsed();
    let cookie = format!("sessionid={}", cookie.expect("one session").expose());

    let store_times = time_it(iterations, || {
        let s = sessions.clone();
        async move {
            let listed = s.list_user_sessions(user.id, OffsetDateTime::now_utc()).await.expect("list");
            assert_eq!(listed.len(), MINE);
        }
    })
    .await;

    let router = latchkey::http::build_router(&lk);
    let http_times = time_it(iterations, || {
        let (router, cookie) = (router.clone(), cookie.clone());
        async move {
            let req = Request::get("/api/sessions/")
                .header(header::HOST, "localhost")
                .header(header::COOKIE, cookie)
                .body(Body::empty())
                .expect("a request");
            let res = router.oneshot(req).await.expect("an answer");
            assert_eq!(res.status(), StatusCode::OK);
            let body = http_body_util::BodyExt::collect(res.into_body()).await.expect("a body").to_bytes();
            assert!(body.len() > MINE * 200, "{} bytes", body.len());
        }
    })
    .await;

    for (layer, times) in
        [("GET /api/sessions/ (in-process)", &http_times), ("list_user_sessions (store)", &store_times)]
    {
        println!(
            "| {backend} | {layer} | {MINE} of {} | {} | {} | {} | {} | {:.1} s |",
            MINE + OTHERS,
            times.len(),
            ms(percentile(times, 0.5)),
            ms(percentile(times, 0.99)),
            ms(*times.last().expect("timed")),
            setup.as_secs_f64(),
        );
    }
    if let Some(db) = db {
        db.close().await;
    }
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
    }
    Ok(())
}
