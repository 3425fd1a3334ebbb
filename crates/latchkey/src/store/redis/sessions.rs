//! Sessions in Redis: a hash per session, a set per user, a sorted set by
//! expiry, a sorted set of signed-in sessions by activity; every write one
//! Lua script.

use std::collections::HashMap;

use redis::{AsyncCommands, Script};
use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::RedisStore;
use crate::{
    error::StoreError,
    page::{EXACT_COUNT_LIMIT, Page, PageRequest},
    session::{SessionKeyHash, SessionRecord, SessionStore},
    store::{from_ts, ts},
};

/// Redis keeps a session this long past its expiry before dropping it.
const GRACE_MS: i64 = 24 * 3600 * 1000;

const CREATE: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'u', ARGV[1], 'a', ARGV[2], 'd', ARGV[3], 'c', ARGV[4], 'l', ARGV[5], 'e', ARGV[6], 'x', ARGV[7], 'i', ARGV[8],
  'p', ARGV[12], 'g', ARGV[13], 't', ARGV[14], 'r', ARGV[15])
redis.call('PEXPIREAT', KEYS[1], ARGV[9])
redis.call('ZADD', KEYS[2], ARGV[6], ARGV[10])
if ARGV[1] ~= '' then
  redis.call('SADD', ARGV[11] .. 'u:' .. ARGV[1], ARGV[10])
  redis.call('ZADD', ARGV[11] .. 'seen', ARGV[5], ARGV[10])
end
return 1";

const SAVE: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local old = redis.call('HGET', KEYS[1], 'u')
redis.call('HSET', KEYS[1], 'u', ARGV[1], 'a', ARGV[2], 'd', ARGV[3], 'l', ARGV[5], 'e', ARGV[6], 'x', ARGV[7], 't', ARGV[14])
redis.call('PEXPIREAT', KEYS[1], ARGV[9])
redis.call('ZADD', KEYS[2], ARGV[6], ARGV[10])
if old and old ~= '' and old ~= ARGV[1] then redis.call('SREM', ARGV[11] .. 'u:' .. old, ARGV[10]) end
if ARGV[1] ~= '' then
  redis.call('SADD', ARGV[11] .. 'u:' .. ARGV[1], ARGV[10])
  redis.call('ZADD', ARGV[11] .. 'seen', ARGV[5], ARGV[10])
else
  redis.call('ZREM', ARGV[11] .. 'seen', ARGV[10])
end
return 1";

const TOUCH: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'l', ARGV[1], 'e', ARGV[2])
redis.call('PEXPIREAT', KEYS[1], ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[4])
local u = redis.call('HGET', KEYS[1], 'u')
if u and u ~= '' then redis.call('ZADD', ARGV[5], ARGV[1], ARGV[4]) end
return 1";

const DELETE: &str = r"
local u = redis.call('HGET', KEYS[1], 'u')
local n = redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', ARGV[2] .. 'seen', ARGV[1])
if u and u ~= '' then redis.call('SREM', ARGV[2] .. 'u:' .. u, ARGV[1]) end
return n";

const DELETE_USER: &str = r"
local n = 0
for _, m in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if m ~= ARGV[1] then
    n = n + redis.call('DEL', ARGV[2] .. 's:' .. m)
    redis.call('ZREM', KEYS[2], m)
    redis.call('ZREM', ARGV[2] .. 'seen', m)
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
  redis.call('ZREM', ARGV[3] .. 'seen', m)
  if u and u ~= '' then redis.call('SREM', ARGV[3] .. 'u:' .. u, m) end
end
return #ms";

// Walks the signed-in sessions by activity, newest first, skipping expired
// ones (their expiry in KEYS[2] at or before ARGV[1], or gone): returns the
// live count (stopping past ARGV[4] once the page is full) and then the
// members from position ARGV[2] (0-based) for ARGV[3] entries.
const LIST_LIVE: &str = r"
local now, offset, limit, cap = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local out, n, start = {}, 0, 0
while true do
  local ms = redis.call('ZREVRANGE', KEYS[1], start, start + 499)
  if #ms == 0 then break end
  for _, m in ipairs(ms) do
    local e = redis.call('ZSCORE', KEYS[2], m)
    if e and tonumber(e) > now then
      if n >= offset and n < offset + limit then out[#out + 1] = m end
      n = n + 1
    end
  end
  if n > cap and n >= offset + limit then break end
  start = start + 500
end
table.insert(out, 1, n)
return out";

/// Every field of a session hash, in the order listings read them.
const FIELDS: [&str; 12] = ["u", "a", "d", "c", "l", "e", "x", "i", "p", "g", "t", "r"];

impl RedisStore {
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
            .arg(r.ip.as_deref().unwrap_or(""))
            .arg(r.user_agent.as_deref().unwrap_or(""))
            .arg(r.authenticated_at.map(|t| ts(t).to_string()).unwrap_or_default())
            .arg(if r.remember { "1" } else { "0" })
            .invoke_async(&mut c)
            .await?;
        Ok(n == 1)
    }

    fn decode(key_hash: &str, h: &HashMap<String, String>) -> Result<SessionRecord, StoreError> {
        Self::decode_with(key_hash, |k| h.get(k))
    }

    /// Decodes a session from its hash fields, `get` giving each by name.
    fn decode_with<'a>(key_hash: &str, get: impl Fn(&str) -> Option<&'a String>) -> Result<SessionRecord, StoreError> {
        let h = get;
        let field = |k: &str| h(k).ok_or_else(|| StoreError::Corrupt(format!("session field {k} missing")));
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
            // Records written before these fields existed lack them: unknown,
            // and the default (persistent) cookie.
            ip: h("p").filter(|v| !v.is_empty()).cloned(),
            user_agent: h("g").filter(|v| !v.is_empty()).cloned(),
            authenticated_at: match h("t").filter(|v| !v.is_empty()) {
                Some(t) => Some(from_ts(t.parse().map_err(|_| StoreError::Corrupt("authenticated_at".into()))?)?),
                None => None,
            },
            remember: h("r").is_none_or(|v| v != "0"),
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
            .arg(format!("{}seen", self.prefix))
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
        let set = format!("{}u:{user_id}", self.prefix);
        let members: Vec<String> = c.smembers(&set).await?;
        if members.is_empty() {
            return Ok(Vec::new());
        }
        // Two round trips whatever the count: the set, then every hash in
        // one pipeline, by field position (no map per session).
        let mut pipe = redis::pipe();
        for m in &members {
            pipe.cmd("HMGET").arg(format!("{}s:{m}", self.prefix)).arg(&FIELDS[..]);
        }
        let hashes: Vec<Vec<Option<String>>> = pipe.query_async(&mut c).await?;
        let mut out = Vec::with_capacity(members.len());
        let mut gone = Vec::new();
        for (m, h) in members.iter().zip(&hashes) {
            // A vanished session has no fields at all (not even its user).
            if h.first().is_none_or(Option::is_none) {
                gone.push(m.as_str());
                continue;
            }
            let r = Self::decode_with(m, |k| FIELDS.iter().position(|f| *f == k).and_then(|i| h.get(i)?.as_ref()))?;
            if !r.is_expired(now) {
                out.push(r);
            }
        }
        if !gone.is_empty() {
            let _: i64 = c.srem(&set, gone).await?;
        }
        out.sort_by(|a, b| b.created_at.cmp(&a.created_at).then_with(|| a.key_hash.as_str().cmp(b.key_hash.as_str())));
        Ok(out)
    }

    async fn list_live(&self, now: OffsetDateTime, page: PageRequest) -> Result<Page<SessionRecord>, StoreError> {
        let mut c = self.conn.clone();
        let seen = format!("{}seen", self.prefix);
        let (capped, members): (u64, Vec<String>) = {
            let mut v: Vec<redis::Value> = Script::new(LIST_LIVE)
                .key(&seen)
                .key(self.exp_key())
                .arg(ts(now))
                .arg(page.offset)
                .arg(page.limit)
                .arg(EXACT_COUNT_LIMIT)
                .invoke_async(&mut c)
                .await?;
            if v.is_empty() {
                return Err(StoreError::Corrupt("session listing returned nothing".into()));
            }
            let corrupt = |e: redis::ParsingError| StoreError::Corrupt(e.to_string());
            let n: u64 = redis::from_redis_value(v.remove(0)).map_err(corrupt)?;
            let members =
                v.into_iter().map(redis::from_redis_value).collect::<Result<Vec<String>, _>>().map_err(corrupt)?;
            (n, members)
        };
        let mut results = Vec::with_capacity(members.len());
        if !members.is_empty() {
            let mut pipe = redis::pipe();
            for m in &members {
                pipe.cmd("HMGET").arg(format!("{}s:{m}", self.prefix)).arg(&FIELDS[..]);
            }
            let hashes: Vec<Vec<Option<String>>> = pipe.query_async(&mut c).await?;
            for (m, h) in members.iter().zip(&hashes) {
                if h.first().is_none_or(Option::is_none) {
                    continue;
                }
                results.push(Self::decode_with(m, |k| {
                    FIELDS.iter().position(|f| *f == k).and_then(|i| h.get(i)?.as_ref())
                })?);
            }
        }
        let estimate = if capped > EXACT_COUNT_LIMIT { c.zcard::<_, u64>(&seen).await? } else { 0 };
        Ok(Page::counted(capped, results, || estimate))
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
