//! Throttle counters in Redis: a hash per key, one Lua script per failure.

use redis::{AsyncCommands, Script};
use time::OffsetDateTime;

use super::RedisStore;
use crate::{
    error::StoreError,
    store::{from_ts, ts},
    throttle::{Counter, ThrottleStore},
};

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
