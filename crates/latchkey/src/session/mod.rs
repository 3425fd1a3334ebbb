//! Server-side sessions with Django's semantics, on a store trait that every
//! backend implements.
//!
//! The cookie carries a random 32-character key (about 165 bits from the OS
//! CSPRNG). Stores only ever see its SHA-256 ([`SessionKeyHash`]), so a copy of
//! the session table cannot be replayed as cookies. A key the server did not
//! issue is never adopted: an unknown cookie is answered with a deletion
//! cookie, and new sessions always get a fresh key.

mod handle;
mod public_id;
mod slot;

use std::fmt;

pub use handle::{Committed, CookieChange, Session};
pub(crate) use public_id::SESSION_ID_SALT;
pub use public_id::SessionId;
use serde_json::{Map, Value};
pub use slot::Slot;
use time::OffsetDateTime;

use crate::crypto::{SESSION_KEY_CHARS, random_string, sha256_hex};
pub use crate::error::StoreError;
use crate::page::{Page, PageRequest};

/// The raw session key from the cookie. Never logged: `Debug` redacts it.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionKey(String);

impl SessionKey {
    /// A fresh random key.
    pub fn generate() -> Self {
        Self(random_string(32, SESSION_KEY_CHARS))
    }

    /// Accepts a cookie value only if it has the shape of a key we issue, so
    /// junk never reaches the store.
    pub fn parse(value: &str) -> Option<Self> {
        // A range test, not a search of SESSION_KEY_CHARS: this runs on every request.
        debug_assert!(SESSION_KEY_CHARS.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
        (value.len() == 32 && value.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
            .then(|| Self(value.to_owned()))
    }

    /// The cookie value.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What the store keeps.
    pub fn hash(&self) -> SessionKeyHash {
        SessionKeyHash(sha256_hex(self.0.as_bytes()))
    }
}

impl fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionKey([redacted])")
    }
}

/// SHA-256 of a session key, hex-encoded: the stores' primary key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SessionKeyHash(pub String);

impl SessionKeyHash {
    /// The hex string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One stored session.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRecord {
    /// Primary key.
    pub key_hash: SessionKeyHash,
    /// The authenticated user, if any.
    pub user_id: Option<i64>,
    /// HMAC of the user's password hash at login (Django's session auth hash).
    pub auth_hash: String,
    /// Application data.
    pub data: Map<String, Value>,
    /// When the session was created.
    pub created_at: OffsetDateTime,
    /// Last recorded activity.
    pub last_seen: OffsetDateTime,
    /// When the session stops being valid (the earliest of all limits).
    pub expires_at: OffsetDateTime,
    /// Hard upper bound, whatever the activity.
    pub absolute_expires_at: OffsetDateTime,
    /// Inactivity limit fixed at login; `None`: only the absolute limit.
    pub idle_timeout: Option<time::Duration>,
    /// The client address that created the session (after `trusted_proxies`).
    pub ip: Option<String>,
    /// The `User-Agent` that created the session, at most
    /// [`USER_AGENT_MAX_BYTES`] (cut at a character boundary).
    pub user_agent: Option<String>,
    /// When the user last proved their password in this session (login or
    /// re-authentication); `None` for anonymous sessions.
    pub authenticated_at: Option<OffsetDateTime>,
    /// A persistent cookie (`Max-Age`) rather than a browser-session one.
    pub remember: bool,
}

/// The longest `User-Agent` a session keeps, in bytes.
pub const USER_AGENT_MAX_BYTES: usize = 256;

/// `ua` cut to at most [`USER_AGENT_MAX_BYTES`] at a UTF-8 boundary; `None`
/// when empty.
pub fn truncate_user_agent(ua: &str) -> Option<String> {
    let mut end = ua.len().min(USER_AGENT_MAX_BYTES);
    while !ua.is_char_boundary(end) {
        end -= 1;
    }
    let cut = ua[..end].trim();
    (!cut.is_empty()).then(|| cut.to_owned())
}

/// Who is on the other end when a session is created: recorded with it so
/// the user can tell their sessions apart.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientInfo {
    /// The client address (after `trusted_proxies`).
    pub ip: Option<std::net::IpAddr>,
    /// The `User-Agent` header, already cut by [`truncate_user_agent`].
    pub user_agent: Option<String>,
}

impl SessionRecord {
    /// Whether the session is past its expiry at `now`.
    pub fn is_expired(&self, now: OffsetDateTime) -> bool {
        self.expires_at <= now
    }

    /// The expiry after activity at `now`: the idle limit from now, never
    /// beyond the absolute limit.
    pub fn expiry_after_activity(&self, now: OffsetDateTime) -> OffsetDateTime {
        match self.idle_timeout {
            Some(idle) => (now + idle).min(self.absolute_expires_at),
            None => self.absolute_expires_at,
        }
    }
}

/// Storage for sessions. Every implementation (and every wrapper, such as
/// [`crate::cache::Cached`]) passes the same conformance suite: run
/// `latchkey::session_store_conformance!` (feature `testing`) against your
/// own store to check it.
#[async_trait::async_trait]
pub trait SessionStore: Send + Sync + fmt::Debug + 'static {
    /// Inserts a new record; [`StoreError::Conflict`] if the key exists.
    async fn create(&self, record: &SessionRecord) -> Result<(), StoreError>;
    /// The record for `key`, or `None` if absent or expired at `now`.
    async fn load(&self, key: &SessionKeyHash, now: OffsetDateTime) -> Result<Option<SessionRecord>, StoreError>;
    /// Updates an existing record. Returns `false`, writing nothing, if the
    /// record is gone, so a slow request cannot resurrect a session that was
    /// logged out meanwhile.
    async fn save(&self, record: &SessionRecord) -> Result<bool, StoreError>;
    /// Records activity: sets `last_seen` and `expires_at` of a live record.
    /// `false`, writing nothing, if the record is gone.
    async fn touch(
        &self,
        key: &SessionKeyHash,
        last_seen: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<bool, StoreError>;
    /// Deletes one record; `true` if it existed.
    async fn delete(&self, key: &SessionKeyHash) -> Result<bool, StoreError>;
    /// Deletes every session of `user_id` except `keep`; returns how many.
    async fn delete_user_sessions(&self, user_id: i64, keep: Option<&SessionKeyHash>) -> Result<u64, StoreError>;
    /// The unexpired sessions of `user_id`, newest (`created_at`) first.
    async fn list_user_sessions(&self, user_id: i64, now: OffsetDateTime) -> Result<Vec<SessionRecord>, StoreError>;
    /// Deletes up to `batch` sessions expired at `now`; returns how many.
    async fn delete_expired(&self, now: OffsetDateTime, batch: u32) -> Result<u64, StoreError>;
    /// One page of every unexpired signed-in session (anonymous ones are
    /// not listed), most recent activity (`last_seen`) first; the count is
    /// exact up to [`crate::page::EXACT_COUNT_LIMIT`].
    async fn list_live(&self, now: OffsetDateTime, page: PageRequest) -> Result<Page<SessionRecord>, StoreError>;
}

/// Stores `template` under a fresh key (its `key_hash` is replaced) and
/// returns the key. Keys come from a 165-bit space, so a conflict means a
/// broken RNG or a store bug; three tries are all that is reasonable.
pub(crate) async fn create_under_new_key(
    store: &dyn SessionStore,
    template: &SessionRecord,
) -> Result<(SessionKey, SessionRecord), StoreError> {
    for _ in 0..3 {
        let key = SessionKey::generate();
        let record = SessionRecord { key_hash: key.hash(), ..template.clone() };
        match store.create(&record).await {
            Ok(()) => return Ok((key, record)),
            Err(StoreError::Conflict) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(StoreError::Backend("could not allocate a unique session key".into()))
}

/// Deletes every expired session in batches, so a large purge never holds a
/// long write lock; returns the total.
pub async fn clear_expired(store: &dyn SessionStore, now: OffsetDateTime) -> Result<u64, StoreError> {
    let mut total = 0;
    loop {
        let n = store.delete_expired(now, 5_000).await?;
        total += n;
        if n < 5_000 {
            return Ok(total);
        }
        tokio::task::yield_now().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_have_djangos_shape_and_are_unique() {
        let a = SessionKey::generate();
        assert!(SessionKey::parse(a.expose()).is_some());
        assert_ne!(a, SessionKey::generate());
        assert_eq!(a.hash().as_str().len(), 64);
        assert_ne!(a.hash().as_str(), a.expose());
    }

    #[test]
    fn cookie_values_we_could_not_have_issued_are_refused() {
        for bad in ["", "short", &"A".repeat(32), &"a".repeat(33), "../../etc/passwd0000000000000000", &"é".repeat(16)]
        {
            assert!(SessionKey::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn user_agents_are_cut_at_256_bytes_on_a_character_boundary() {
        assert_eq!(truncate_user_agent("Firefox/1").as_deref(), Some("Firefox/1"));
        assert_eq!(truncate_user_agent("  ").as_deref(), None);
        let long = "é".repeat(200); // 400 bytes
        let cut = truncate_user_agent(&long).unwrap();
        assert!(cut.len() <= USER_AGENT_MAX_BYTES && cut.len() == 256);
        let odd = format!("a{}", "é".repeat(200));
        let cut = truncate_user_agent(&odd).unwrap();
        assert_eq!(cut.len(), 255, "never splits a character");
    }

    #[test]
    fn debug_never_shows_the_key() {
        let k = SessionKey::generate();
        assert!(!format!("{k:?}").contains(k.expose()));
    }
}
