//! Isolated PostgreSQL databases and Redis key prefixes for tests. The
//! servers default to the ones on 127.0.0.1 (override with TEST_DATABASE_URL
//! and TEST_REDIS_URL); an unreachable server fails the test loudly, it is
//! never skipped. Each test gets its own database or prefix, dropped after.
//! (Shared by the server crate's tests, which use only part of it.)
#![allow(dead_code)]

use latchkey::{db::Database, redis_store::RedisStore};

fn random_suffix() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos());
    h.write_usize(std::process::id() as usize);
    format!("{:016x}", h.finish())
}

pub fn admin_url() -> String {
    std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

pub fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// Runs a future to completion on a fresh runtime in another thread, so
/// cleanup works from `Drop`, even while a test is panicking.
fn block_on_thread<F: std::future::Future<Output = ()> + Send + 'static>(f: F) {
    let _ = std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f);
    })
    .join();
}

/// A fresh PostgreSQL database, dropped when this guard is.
pub struct PgDatabase {
    pub url: String,
    name: String,
}

impl PgDatabase {
    pub async fn new() -> Self {
        let admin = admin_url();
        let name = format!("latchkey_test_{}", random_suffix());
        let db = Database::connect(&admin, false)
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL at {admin} is required for these tests: {e}"));
        let Database::Postgres(pool) = &db else { unreachable!() };
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(pool).await.unwrap();
        db.close().await;
        let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap();
        Self { url: format!("{base}/{name}"), name }
    }

    /// Connected and migrated.
    pub async fn migrated(&self) -> Database {
        let db = Database::connect(&self.url, false).await.unwrap();
        db.migrate().await.unwrap();
        db
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let (admin, name) = (admin_url(), self.name.clone());
        block_on_thread(async move {
            if let Ok(Database::Postgres(pool)) = Database::connect(&admin, false).await {
                let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
                    .execute(&pool)
                    .await;
                pool.close().await;
            }
        });
    }
}

/// A Redis key prefix of its own, whose keys are deleted when this guard is.
pub struct RedisPrefix {
    pub prefix: String,
}

impl RedisPrefix {
    pub fn new() -> Self {
        Self { prefix: format!("latchkey-test:{}:", random_suffix()) }
    }

    pub async fn store(&self) -> RedisStore {
        let url = redis_url();
        RedisStore::connect(&url, &self.prefix)
            .await
            .unwrap_or_else(|e| panic!("Redis at {url} is required for these tests: {e}"))
    }
}

impl Drop for RedisPrefix {
    fn drop(&mut self) {
        let prefix = self.prefix.clone();
        block_on_thread(async move {
            let Ok(client) = redis::Client::open(redis_url()) else { return };
            let Ok(mut c) = client.get_multiplexed_async_connection().await else { return };
            let mut cursor: u64 = 0;
            loop {
                let Ok((next, keys)): redis::RedisResult<(u64, Vec<String>)> = redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(format!("{prefix}*"))
                    .arg("COUNT")
                    .arg(1000)
                    .query_async(&mut c)
                    .await
                else {
                    return;
                };
                if !keys.is_empty() {
                    let _: redis::RedisResult<i64> = redis::cmd("DEL").arg(&keys).query_async(&mut c).await;
                }
                if next == 0 {
                    return;
                }
                cursor = next;
            }
        });
    }
}
