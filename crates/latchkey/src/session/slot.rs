//! Typed, expiring values in a session: a flow's state between two requests
//! (a sign-in waiting for its second factor, a TOTP secret being set up, a
//! WebAuthn ceremony, an OpenID Connect flow).
//!
//! A [`Slot`] names the key, the type and the lifetime once. Its deadline is
//! stored with the value and checked on every read, so no flow keeps its own
//! "since" arithmetic, and a value that does not decode as the type (an older
//! release's shape, a tampered store) reads as absent rather than as an error:
//! the flow starts again, as it would after the deadline.

use std::marker::PhantomData;

use serde::{Serialize, de::DeserializeOwned};
use serde_json::{Map, Value, json};
use time::{Duration, OffsetDateTime};

use super::{ClientInfo, Session, SessionKey, SessionKeyHash, SessionRecord, SessionStore, StoreError};

/// A typed value with a lifetime, under one key of a session's data.
#[derive(Debug)]
pub struct Slot<T> {
    key: &'static str,
    ttl: Duration,
    _value: PhantomData<fn() -> T>,
}

/// What a slot stores: the value and the end of its lifetime (Unix seconds).
fn wrap<T: Serialize>(value: &T, until: OffsetDateTime) -> Result<Value, StoreError> {
    let value = serde_json::to_value(value).map_err(|e| StoreError::Backend(format!("session slot: {e}")))?;
    Ok(json!({ "value": value, "until": until.unix_timestamp() }))
}

fn unwrap<T: DeserializeOwned>(mut stored: Value, now: OffsetDateTime) -> Option<T> {
    let until = stored.get("until")?.as_i64()?;
    if now.unix_timestamp() >= until {
        return None;
    }
    serde_json::from_value(stored.get_mut("value")?.take()).ok()
}

impl<T: Serialize + DeserializeOwned> Slot<T> {
    /// The slot `key` (by convention starting with `_`), whose values live
    /// `ttl` from when they are put.
    pub const fn new(key: &'static str, ttl: Duration) -> Self {
        Self { key, ttl, _value: PhantomData }
    }

    /// How long a value lives.
    pub const fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Puts `value` for [`Self::ttl`] from now, creating an anonymous session
    /// if there is none; written after the handler, as every session change.
    ///
    /// # Errors
    /// When the store fails (or `T` does not serialize).
    pub async fn put(&self, session: &Session, value: &T) -> Result<(), StoreError> {
        session.insert(self.key, wrap(value, session.now() + self.ttl)?).await
    }

    /// The value, if one was put and its lifetime has not ended. An expired
    /// or undecodable value is removed.
    ///
    /// # Errors
    /// When the store fails.
    pub async fn get(&self, session: &Session) -> Result<Option<T>, StoreError> {
        let Some(stored) = session.get(self.key).await? else { return Ok(None) };
        let value = unwrap(stored, session.now());
        if value.is_none() {
            session.remove(self.key).await?;
        }
        Ok(value)
    }

    /// The value, taken out of the session: it can be used once, whatever
    /// happens next.
    ///
    /// # Errors
    /// When the store fails.
    pub async fn take(&self, session: &Session) -> Result<Option<T>, StoreError> {
        let Some(stored) = session.get(self.key).await? else { return Ok(None) };
        session.remove(self.key).await?;
        Ok(unwrap(stored, session.now()))
    }

    /// Removes the value (a no-op when there is none).
    ///
    /// # Errors
    /// When the store fails.
    pub async fn clear(&self, session: &Session) -> Result<(), StoreError> {
        session.remove(self.key).await
    }

    /// Stores `value` in a record of its own: a short-lived anonymous session
    /// ([`SessionRecord::short_lived`]) that ends with the slot's lifetime,
    /// for state that must not live in the browser's session (an OpenID
    /// Connect flow, held by its own cookie). Returns the record's key, the
    /// cookie's value.
    ///
    /// # Errors
    /// When the store fails.
    pub async fn put_record(
        &self,
        store: &dyn SessionStore,
        now: OffsetDateTime,
        client: &ClientInfo,
        value: &T,
    ) -> Result<SessionKey, StoreError> {
        let mut data = Map::new();
        data.insert(self.key.to_owned(), wrap(value, now + self.ttl)?);
        let record = SessionRecord::short_lived(SessionKeyHash(String::new()), now, self.ttl, client, data);
        Ok(super::create_under_new_key(store, &record).await?.0)
    }

    /// The value of the record under the cookie value `key`, taken out of the
    /// store: of two requests with one key, at most one gets it. A key of the
    /// wrong shape, an unknown, expired or signed-in record reads as absent.
    ///
    /// # Errors
    /// When the store fails.
    pub async fn take_record(
        &self,
        store: &dyn SessionStore,
        now: OffsetDateTime,
        key: &str,
    ) -> Result<Option<T>, StoreError> {
        let Some(key) = SessionKey::parse(key) else { return Ok(None) };
        let hash: SessionKeyHash = key.hash();
        let Some(mut record) = store.load(&hash, now).await? else { return Ok(None) };
        // Only the request whose delete removed the record may use it.
        if record.user_id.is_some() || !store.delete(&hash).await? {
            return Ok(None);
        }
        Ok(record.data.remove(self.key).and_then(|v| unwrap(v, now)))
    }
}

impl SessionRecord {
    /// A short-lived anonymous record: no user, no idle limit, gone from the
    /// store `ttl` after `now`, holding `data`. The one constructor for a
    /// record that is not a browser's session.
    pub fn short_lived(
        key_hash: SessionKeyHash,
        now: OffsetDateTime,
        ttl: Duration,
        client: &ClientInfo,
        data: Map<String, Value>,
    ) -> Self {
        SessionRecord {
            key_hash,
            user_id: None,
            auth_hash: String::new(),
            data,
            created_at: now,
            last_seen: now,
            expires_at: now + ttl,
            absolute_expires_at: now + ttl,
            idle_timeout: None,
            ip: client.ip.map(|ip| ip.to_string()),
            user_agent: client.user_agent.clone(),
            authenticated_at: None,
            remember: false,
        }
    }
}
