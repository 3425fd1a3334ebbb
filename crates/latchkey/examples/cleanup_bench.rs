//! Measures the expired-session purge at scale: N expired sessions plus
//! live ones, purged in batches by `latchkey::session::clear_expired` while a
//! reader keeps loading live sessions; reports the purge time and the
//! readers' latency before and during the purge.
//!
//! `cargo run --release -p latchkey --example cleanup_bench -- sqlite 1000000`
//! `cargo run --release -p latchkey --example cleanup_bench -- postgres 1000000 [ADMIN_URL]`
//! (bench/cleanup.sh runs both and records bench/RESULTS-cleanup.md.)

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use latchkey::{
    session::{SessionKey, SessionKeyHash, SessionStore},
    store::Database,
};
use time::OffsetDateTime;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

async fn read_loop(
    store: Arc<dyn SessionStore>,
    keys: Arc<Vec<SessionKeyHash>>,
    stop: Arc<AtomicBool>,
) -> Vec<Duration> {
    let mut out = Vec::new();
    let mut i = 0;
    while !stop.load(Ordering::Relaxed) {
        let t = Instant::now();
        let r = store.load(&keys[i % keys.len()], OffsetDateTime::now_utc()).await.expect("load");
        out.push(t.elapsed());
        assert!(r.is_some(), "a live session vanished");
        i += 1;
    }
    out.sort();
    out
}

fn fmt(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let backend = args.get(1).map(String::as_str).unwrap_or("sqlite");
    let n: i64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1_000_000);
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let live = 1_000i64;

    let tmp = tempfile::tempdir()?;
    let (db, cleanup): (Database, Option<(String, String)>) = match backend {
        "sqlite" => {
            let url = format!("sqlite://{}", tmp.path().join("bench.sqlite3").display());
            (Database::connect(&url, true).await?, None)
        }
        "postgres" => {
            let admin = args.get(3).cloned().unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".into());
            let name = format!("latchkey_bench_{}", std::process::id());
            let Database::Postgres(store) = Database::connect(&admin, false).await? else { unreachable!() };
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(store.pool()).await?;
            store.pool().close().await;
            let url = format!("{}/{name}", admin.rsplit_once('/').unwrap().0);
            (Database::connect(&url, false).await?, Some((admin, name)))
        }
        other => return Err(format!("unknown backend {other}").into()),
    };
    db.migrate().await?;

    let t = Instant::now();
    // Bulk-generate rows in the database itself: N expired, `live` live.
    match &db {
        Database::Sqlite(store) => {
            let pool = store.pool();
            sqlx::query(
                "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT ?1)
                 INSERT INTO latchkey_sessions (key_hash, user_id, auth_hash, data, created_at, last_seen, expires_at, absolute_expires_at)
                 SELECT printf('%064x', x), NULL, '', '{}', ?2 - 100, ?2 - 100, ?2 - 1, ?2 - 1 FROM c",
            )
            .bind(n)
            .bind(now)
            .execute(pool)
            .await?;
        }
        Database::Postgres(store) => {
            let pool = store.pool();
            sqlx::query(
                "INSERT INTO latchkey_sessions (key_hash, user_id, auth_hash, data, created_at, last_seen, expires_at, absolute_expires_at)
                 SELECT lpad(to_hex(i), 64, '0'), NULL, '', '{}', $2 - 100, $2 - 100, $2 - 1, $2 - 1 FROM generate_series(1, $1) i",
            )
            .bind(n)
            .bind(now)
            .execute(pool)
            .await?;
            sqlx::query("ANALYZE latchkey_sessions").execute(pool).await?;
        }
    }
    let store = db.session_store();
    let mut keys = Vec::new();
    for _ in 0..live {
        let key = SessionKey::generate();
        let t0 = OffsetDateTime::now_utc();
        let rec = latchkey::session::SessionRecord {
            key_hash: key.hash(),
            user_id: None,
            auth_hash: String::new(),
            data: Default::default(),
            created_at: t0,
            last_seen: t0,
            expires_at: t0 + time::Duration::days(14),
            absolute_expires_at: t0 + time::Duration::days(14),
            idle_timeout: None,
            ip: None,
            user_agent: None,
            authenticated_at: None,
            remember: true,
        };
        store.create(&rec).await?;
        keys.push(rec.key_hash);
    }
    let setup = t.elapsed();
    let keys = Arc::new(keys);

    // Baseline reads, then reads during the purge.
    let stop = Arc::new(AtomicBool::new(false));
    let reader = tokio::spawn(read_loop(store.clone(), keys.clone(), stop.clone()));
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    let before = reader.await?;

    let stop = Arc::new(AtomicBool::new(false));
    let reader = tokio::spawn(read_loop(store.clone(), keys.clone(), stop.clone()));
    let t = Instant::now();
    let deleted = latchkey::session::clear_expired(store.as_ref(), OffsetDateTime::now_utc()).await?;
    let purge = t.elapsed();
    stop.store(true, Ordering::Relaxed);
    let during = reader.await?;
    assert_eq!(deleted, n as u64, "every expired session is purged");
    for k in keys.iter() {
        assert!(store.load(k, OffsetDateTime::now_utc()).await?.is_some(), "a live session was purged");
    }

    println!(
        "| {backend} | {n} | {setup:.1?} | {purge:.2?} | {:.0} | {} / {} | {} / {} / {} | {} |",
        deleted as f64 / purge.as_secs_f64(),
        fmt(percentile(&before, 0.5)),
        fmt(percentile(&before, 0.99)),
        fmt(percentile(&during, 0.5)),
        fmt(percentile(&during, 0.99)),
        fmt(during.last().copied().unwrap_or_default()),
        during.len(),
    );
    db.close().await;
    if let Some((admin, name)) = cleanup
        && let Database::Postgres(store) = Database::connect(&admin, false).await?
    {
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
            .execute(store.pool())
            .await?;
    }
    Ok(())
}
