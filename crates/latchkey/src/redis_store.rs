//! Redis stores for sessions and throttle counters (`session_store_url =
//! "redis://…"`), for several instances sharing state without putting every
//! session read on PostgreSQL.
//!
//! Layout under a configurable prefix (default `latchkey:`):
//! * `{p}s:{key_hash}` — a hash per session (fields below), expiring a day
//!   after the session would, so Redis cleans up even if nobody purges;
//! * `{p}u:{user_id}` — the set of a user's session hashes (revocation, listing);
//! * `{p}exp` — a sorted set of session hashes by expiry (batched purge);
//! * `{p}t:{key}` — a throttle counter (`f` failures, `w` window start).
//!
//! Every write is one Lua script, so it is atomic: a save or touch never
//! resurrects a session deleted meanwhile, and concurrent failures are all
//! counted. (Not Redis Cluster-ready: the keys of one script are not
//! hash-tagged to one slot.)

use std::{collections::HashMap, time::Duration};

use redis::{AsyncCommands, Script, aio::ConnectionManager};
use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::{
    rows::{from_ts, ts},
    session::{SessionKeyHash, SessionRecord, SessionStore, StoreError},
    throttle::{Counter, ThrottleStore},
};

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

/// Redis keeps a session this long past its expiry before dropping it.
const GRACE_MS: i64 = 24 * 3600 * 1000;

const CREATE: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'u', ARGV[1], 'a', ARGV[2], 'd', ARGV[3], 'c', ARGV[4], 'l', ARGV[5], 'e', ARGV[6], 'x', ARGV[7], 'i', ARGV[8])
redis.call('PEXPIREAT', KEYS[1], ARGV[9])
redis.call('ZADD', KEYS[2], ARGV[6], ARGV[10])
if ARGV[1] ~= '' then redis.call('SADD', ARGV[11] .. 'u:' .. ARGV[1], ARGV[10]) end
return 1";

const SAVE: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local old = redis.call('HGET', KEYS[1], 'u')
redis.call('HSET', KEYS[1], 'u', ARGV[1], 'a', ARGV[2], 'd', ARGV[3], 'l', ARGV[5], 'e', ARGV[6], 'x', ARGV[7])
redis.call('PEXPIREAT', KEYS[1], ARGV[9])
redis.call('ZADD', KEYS[2], ARGV[6], ARGV[10])
if old and old ~= '' and old ~= ARGV[1] then redis.call('SREM', ARGV[11] .. 'u:' .. old, ARGV[10]) end
if ARGV[1] ~= '' then redis.call('SADD', ARGV[11] .. 'u:' .. ARGV[1], ARGV[10]) end
return 1";

const TOUCH: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'l', ARGV[1], 'e', ARGV[2])
redis.call('PEXPIREAT', KEYS[1], ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[4])
return 1";

const DELETE: &str = r"
local u = redis.call('HGET', KEYS[1], 'u')
local n = redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if u and u ~= '' then redis.call('SREM', ARGV[2] .. 'u:' .. u, ARGV[1]) end
return n";

const DELETE_USER: &str = r"
local n = 0
for _, m in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if m ~= ARGV[1] then
    n = n + redis.call('DEL', ARGV[2] .. 's:' .. m)
    redis.call('ZREM', KEYS[2], m)
    redis.call('SREM', KEYS[1], m)
  end
end
return n";

const DELETE_EXPIRED: &str = r"
local ms = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
for _, m in ipairs(ms) do
  local k = ARGV[3] .. 's:' .. m
  local u = redis.call('HGET', k, 'u')
  redis.call('DEL', k)
  redis.call('ZREM', KEYS[1], m)
  if u and u ~= '' then redis.call('SREM', ARGV[3] .. 'u:' .. u, m) end
end
return #ms";

const RECORD_FAILURE: &str = r"
local now = tonumber(ARGV[1])
local win = tonumber(ARGV[2])
local w = redis.call('HGET', KEYS[1], 'w')
local f
if (not w) or (tonumber(w) + win <= now) then
  redis.call('HSET', KEYS[1], 'f', 1, 'w', now)
  f = 1
  w = now
else
  f = redis.call('HINCRBY', KEYS[1], 'f', 1)
end
redis.call('EXPIRE', KEYS[1], win + 60)
return {f, tonumber(w)}";

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

    fn session_key(&self, key: &SessionKeyHash) -> String {
        format!("{}s:{}", self.prefix, key.as_str())
    }

    fn exp_key(&self) -> String {
        format!("{}exp", self.prefix)
    }

    fn throttle_key(&self, key: &str) -> String {
        format!("{}t:{key}", self.prefix)
    }

    fn expire_at_ms(r: &SessionRecord) -> i64 {
        r.absolute_expires_at.max(r.expires_at).unix_timestamp() * 1000 + GRACE_MS
    }

    async fn write(&self, script: &str, r: &SessionRecord) -> Result<bool, StoreError> {
        let mut c = self.conn.clone();
        let n: i64 = Script::new(script)
            .key(self.session_key(&r.key_hash))
            .key(self.exp_key())
            .arg(r.user_id.map(|u| u.to_string()).unwrap_or_default())
            .arg(&r.auth_hash)
            .arg(Value::Object(r.data.clone()).to_string())
            .arg(ts(r.created_at))
            .arg(ts(r.last_seen))
            .arg(ts(r.expires_at))
            .arg(ts(r.absolute_expires_at))
            .arg(r.idle_timeout.map_or(0, |d| d.whole_seconds()))
            .arg(Self::expire_at_ms(r))
            .arg(r.key_hash.as_str())
            .arg(&self.prefix)
            .invoke_async(&mut c)
            .await?;
        Ok(n == 1)
    }

    fn decode(key_hash: &str, h: &HashMap<String, String>) -> Result<SessionRecord, StoreError> {
        let field = |k: &str| h.get(k).ok_or_else(|| StoreError::Corrupt(format!("session field {k} missing")));
        let int = |k: &str| field(k)?.parse::<i64>().map_err(|e| StoreError::Corrupt(e.to_string()));
        let data: Map<String, Value> =
            serde_json::from_str(field("d")?).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let user = field("u")?;
        Ok(SessionRecord {
            key_hash: SessionKeyHash(key_hash.to_owned()),
            user_id: if user.is_empty() {
                None
            } else {
                Some(user.parse().map_err(|_| StoreError::Corrupt("user id".into()))?)
            },
            auth_hash: field("a")?.clone(),
            data,
            created_at: from_ts(int("c")?)?,
            last_seen: from_ts(int("l")?)?,
            expires_at: from_ts(int("e")?)?,
            absolute_expires_at: from_ts(int("x")?)?,
            idle_timeout: match int("i")? {
                0 => None,
                s => Some(time::Duration::seconds(s)),
            },
        })
    }
}

#[async_trait::async_trait]
impl SessionStore for RedisStore {
    async fn create(&self, record: &SessionRecord) -> Result<(), StoreError> {
        if self.write(CREATE, record).await? { Ok(()) } else { Err(StoreError::Conflict) }
    }

    async fn load(&self, key: &SessionKeyHash, now: OffsetDateTime) -> Result<Option<SessionRecord>, StoreError> {
        let mut c = self.conn.clone();
        let h: HashMap<String, String> = c.hgetall(self.session_key(key)).await?;
        if h.is_empty() {
            return Ok(None);
        }
        let r = Self::decode(key.as_str(), &h)?;
        Ok((!r.is_expired(now)).then_some(r))
    }

    async fn save(&self, record: &SessionRecord) -> Result<bool, StoreError> {
        self.write(SAVE, record).await
    }

    async fn touch(
        &self,
        key: &SessionKeyHash,
        last_seen: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let mut c = self.conn.clone();
        let n: i64 = Script::new(TOUCH)
            .key(self.session_key(key))
            .key(self.exp_key())
            .arg(ts(last_seen))
            .arg(ts(expires_at))
            .arg(expires_at.unix_timestamp() * 1000 + GRACE_MS)
            .arg(key.as_str())
            .invoke_async(&mut c)
            .await?;
        Ok(n == 1)
    }

    async fn delete(&self, key: &SessionKeyHash) -> Result<bool, StoreError> {
        let mut c = self.conn.clone();
        let n: i64 = Script::new(DELETE)
            .key(self.session_key(key))
            .key(self.exp_key())
            .arg(key.as_str())
            .arg(&self.prefix)
            .invoke_async(&mut c)
            .await?;
        Ok(n > 0)
    }

    async fn delete_user_sessions(&self, user_id: i64, keep: Option<&SessionKeyHash>) -> Result<u64, StoreError> {
        let mut c = self.conn.clone();
        let n: i64 = Script::new(DELETE_USER)
            .key(format!("{}u:{user_id}", self.prefix))
            .key(self.exp_key())
            .arg(keep.map(SessionKeyHash::as_str).unwrap_or(""))
            .arg(&self.prefix)
            .invoke_async(&mut c)
            .await?;
        Ok(n.max(0) as u64)
    }

    async fn list_user_sessions(&self, user_id: i64, now: OffsetDateTime) -> Result<Vec<SessionRecord>, StoreError> {
        let mut c = self.conn.clone();
        let members: Vec<String> = c.smembers(format!("{}u:{user_id}", self.prefix)).await?;
        let mut out = Vec::new();
        for m in members {
            let h: HashMap<String, String> = c.hgetall(format!("{}s:{m}", self.prefix)).await?;
            if h.is_empty() {
                let _: i64 = c.srem(format!("{}u:{user_id}", self.prefix), &m).await?;
                continue;
            }
            let r = Self::decode(&m, &h)?;
            if !r.is_expired(now) {
                out.push(r);
            }
        }
        out.sort_by(|a, b| (a.created_at, a.key_hash.as_str()).cmp(&(b.created_at, b.key_hash.as_str())));
        Ok(out)
    }

    async fn delete_expired(&self, now: OffsetDateTime, batch: u32) -> Result<u64, StoreError> {
        let mut c = self.conn.clone();
        let n: i64 = Script::new(DELETE_EXPIRED)
            .key(self.exp_key())
            .arg(ts(now))
            .arg(i64::from(batch))
            .arg(&self.prefix)
            .invoke_async(&mut c)
            .await?;
        Ok(n.max(0) as u64)
    }
}

/// Escapes Redis glob characters so a prefix matches literally.
fn glob_escape(s: &str) -> String {
    s.chars().flat_map(|c| if "*?[]\\".contains(c) { vec!['\\', c] } else { vec![c] }).collect()
}

#[async_trait::async_trait]
impl ThrottleStore for RedisStore {
    async fn record_failure(
        &self,
        key: &str,
        now: OffsetDateTime,
        window: time::Duration,
    ) -> Result<Counter, StoreError> {
        let mut c = self.conn.clone();
        let (f, w): (i64, i64) = Script::new(RECORD_FAILURE)
            .key(self.throttle_key(key))
            .arg(ts(now))
            .arg(window.whole_seconds())
            .invoke_async(&mut c)
            .await?;
        Ok(Counter { failures: f.try_into().unwrap_or(u32::MAX), window_start: from_ts(w)? })
    }

    async fn get(&self, key: &str, now: OffsetDateTime, window: time::Duration) -> Result<Option<Counter>, StoreError> {
        let mut c = self.conn.clone();
        let (f, w): (Option<i64>, Option<i64>) =
            redis::cmd("HMGET").arg(self.throttle_key(key)).arg("f").arg("w").query_async(&mut c).await?;
        match (f, w) {
            (Some(f), Some(w)) if w + window.whole_seconds() > ts(now) => {
                Ok(Some(Counter { failures: f.try_into().unwrap_or(u32::MAX), window_start: from_ts(w)? }))
            }
            _ => Ok(None),
        }
    }

    async fn reset(&self, key: &str) -> Result<(), StoreError> {
        let mut c = self.conn.clone();
        let _: i64 = c.del(self.throttle_key(key)).await?;
        Ok(())
    }

    async fn reset_where(&self, prefix: &str, suffix: &str) -> Result<u64, StoreError> {
        let mut c = self.conn.clone();
        let pattern = format!("{}*", glob_escape(&self.throttle_key(prefix)));
        let mut cursor: u64 = 0;
        let mut n = 0u64;
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut c)
                .await?;
            for k in keys.into_iter().filter(|k| k.ends_with(suffix)) {
                let d: i64 = c.del(&k).await?;
                n += d.max(0) as u64;
            }
            if next == 0 {
                return Ok(n);
            }
            cursor = next;
        }
    }
}
