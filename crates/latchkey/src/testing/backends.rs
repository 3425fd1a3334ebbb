//! Isolated PostgreSQL databases and Redis key prefixes for tests. The
//! servers default to the ones on 127.0.0.1 (override with
//! `TEST_DATABASE_URL` and `TEST_REDIS_URL`); an unreachable server fails
//! the test loudly, it is never skipped. Each test gets its own database or
//! prefix, dropped after.

#[cfg(feature = "postgres")]
use crate::store::Database;
#[cfg(feature = "redis")]
use crate::store::RedisStore;

#[cfg_attr(not(any(feature = "postgres", feature = "redis")), allow(dead_code))]
fn random_suffix() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos());
    h.write_usize(std::process::id() as usize);
    format!("{:016x}", h.finish())
}

/// The PostgreSQL server's administrative URL.
pub fn admin_url() -> String {
    std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// The Redis server's URL.
pub fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// Runs a future to completion on a fresh runtime in another thread, so
/// cleanup works from `Drop`, even while a test is panicking.
#[cfg_attr(not(any(feature = "postgres", feature = "redis")), allow(dead_code))]
fn block_on_thread<F: std::future::Future<Output = ()> + Send + 'static>(f: F) {
    let _ = std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f);
    })
    .join();
}

/// A fresh PostgreSQL database, dropped when this guard is.
#[cfg(feature = "postgres")]
#[derive(Debug)]
pub struct PgDatabase {
    /// Its URL.
    pub url: String,
    name: String,
}

#[cfg(feature = "postgres")]
impl PgDatabase {
    /// Creates the database.
    ///
    /// # Panics
    /// When PostgreSQL cannot be reached.
    pub async fn new() -> Self {
        let admin = admin_url();
        let name = format!("latchkey_test_{}", random_suffix());
        let db = Database::connect(&admin, false)
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL at {admin} is required for these tests: {e}"));
        let Database::Postgres(store) = &db else { unreachable!("a postgres:// URL opens PostgreSQL") };
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(store.pool()).await.unwrap();
        db.close().await;
        let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap();
        Self { url: format!("{base}/{name}"), name }
    }

    /// Connected and migrated.
    ///
    /// # Panics
    /// When the database cannot be opened or migrated.
    pub async fn migrated(&self) -> Database {
        let db = Database::connect(&self.url, false).await.unwrap();
        db.migrate().await.unwrap();
        db
    }
}

#[cfg(feature = "postgres")]
impl Drop for PgDatabase {
    fn drop(&mut self) {
        let (admin, name) = (admin_url(), self.name.clone());
        block_on_thread(async move {
            if let Ok(Database::Postgres(store)) = Database::connect(&admin, false).await {
                let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
                    .execute(store.pool())
                    .await;
                store.pool().close().await;
            }
        });
    }
}

/// A Redis key prefix of its own, whose keys are deleted when this guard is.
#[cfg(feature = "redis")]
#[derive(Debug)]
pub struct RedisPrefix {
    /// The prefix.
    pub prefix: String,
}

#[cfg(feature = "redis")]
impl Default for RedisPrefix {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(feature = "redis")]
impl RedisPrefix {
    /// A fresh prefix.
    pub fn new() -> Self {
        Self { prefix: format!("latchkey-test:{}:", random_suffix()) }
    }

    /// A store under this prefix.
    ///
    /// # Panics
    /// When Redis cannot be reached.
    pub async fn store(&self) -> RedisStore {
        let url = redis_url();
        RedisStore::connect(&url, &self.prefix)
            .await
            .unwrap_or_else(|e| panic!("Redis at {url} is required for these tests: {e}"))
    }
}

#[cfg(feature = "redis")]
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
