//! Redis stores for sessions and throttle counters (`session_store_url =
//! "redis://…"`), for several instances sharing state without putting every
//! session read on PostgreSQL.
//!
//! Layout under a configurable prefix (default `latchkey:`):
//! * `{p}s:{key_hash}` — a hash per session (fields below), expiring a day
//!   after the session would, so Redis cleans up even if nobody purges;
//! * `{p}u:{user_id}` — the set of a user's session hashes (revocation, listing);
//! * `{p}exp` — a sorted set of session hashes by expiry (batched purge);
//! * `{p}seen` — a sorted set of signed-in sessions by last activity (the
//!   admin's list of live sessions);
//! * `{p}t:{key}` — a throttle counter (`f` failures, `w` window start).
//!
//! Every write is one Lua script, so it is atomic: a save or touch never
//! resurrects a session deleted meanwhile, and concurrent failures are all
//! counted. (Not Redis Cluster-ready: the keys of one script are not
//! hash-tagged to one slot.)

mod bus;
mod sessions;
mod throttle;

use std::time::Duration;

pub use bus::RedisBus;
use redis::aio::ConnectionManager;

use crate::{error::StoreError, session::SessionKeyHash};

/// A Redis connection (multiplexed, reconnecting) and the key prefix.
#[derive(Clone)]
pub struct RedisStore {
    client: redis::Client,
    conn: ConnectionManager,
    prefix: String,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore").field("prefix", &self.prefix).finish_non_exhaustive()
    }
}

impl From<redis::RedisError> for StoreError {
    fn from(e: redis::RedisError) -> Self {
        StoreError::Backend(e.to_string())
    }
}

impl RedisStore {
    /// Connects (with short timeouts, so an outage gives quick 503s) and
    /// checks the server answers.
    ///
    /// # Errors
    /// Bad URL or unreachable server.
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, StoreError> {
        let client = redis::Client::open(url)?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(1));
        let mut conn = client.get_connection_manager_with_config(config).await?;
        let _: String = redis::cmd("PING").query_async(&mut conn).await?;
        Ok(Self { client, conn, prefix: prefix.to_owned() })
    }

    /// The client (for pub/sub connections of the cache bus).
    pub(crate) fn client(&self) -> &redis::Client {
        &self.client
    }

    /// A handle on the shared connection.
    pub(crate) fn connection(&self) -> ConnectionManager {
        self.conn.clone()
    }

    /// The key prefix.
    pub(crate) fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Whether Redis answers (for health checks).
    pub async fn ping(&self) -> bool {
        let mut c = self.conn.clone();
        redis::cmd("PING").query_async::<String>(&mut c).await.is_ok()
    }

    pub(crate) fn session_key(&self, key: &SessionKeyHash) -> String {
        format!("{}s:{}", self.prefix, key.as_str())
    }

    pub(crate) fn exp_key(&self) -> String {
        format!("{}exp", self.prefix)
    }

    pub(crate) fn throttle_key(&self, key: &str) -> String {
        format!("{}t:{key}", self.prefix)
    }
}
