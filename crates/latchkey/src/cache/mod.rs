//! A read-through cache of sessions and users, so an authenticated request
//! usually costs no store round-trip at all.
//!
//! A cache in front of revocable credentials is only acceptable if it can
//! never serve a session that was logged out, revoked, or whose user changed
//! password or was deactivated — on any instance. A TTL alone cannot promise
//! that, so:
//!
//! * every write that ends or changes a session or a user is **published**
//!   as an [`Invalidation`] on a [`CacheBus`] shared by all instances and
//!   the CLI: an events table on SQLite, `LISTEN/NOTIFY` on PostgreSQL,
//!   pub/sub on Redis;
//! * each serving instance runs a **sync loop** ([`run_sync`]) that
//!   applies other instances' events and then confirms the channel with a
//!   barrier (a self-addressed ping behind everything published before it,
//!   or a poll of the events table). The cache is only read while the last
//!   confirmed barrier *started* less than `2 × sync_interval` ago;
//! * a revoking write **waits `2 × sync_interval`** after publishing before it
//!   returns. Any instance that reads its cache after that has confirmed a
//!   barrier that started after the publication, so it has applied the
//!   event. An instance whose channel is lost, slow or broken stops reading
//!   its cache (and empties it) until the channel is confirmed again;
//! * fills race with invalidations: a fill remembers the cache epoch before
//!   reading the store and is dropped if any invalidation happened meanwhile.
//!
//! Entries also expire after `cache.ttl` and when the session itself
//! expires, so a bug elsewhere cannot keep one alive for long.
//!
//! Here: the cache and its invalidations; `bus.rs`, the channel trait and
//! the sync loop; `cached.rs`, the store wrapper [`Cached`]. Each backend's
//! channel lives with the backend (`store/*/bus.rs`).

use std::{
    collections::HashMap,
    fmt,
    sync::{
        Mutex, MutexGuard,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use time::OffsetDateTime;

pub use self::{
    bus::{CacheBus, LocalBus, run_sync},
    cached::{Cached, CachedSessionStore, CachedUserStore},
};
pub use crate::settings::CacheSettings;
use crate::{
    session::{SessionKeyHash, SessionRecord},
    users::User,
};

mod bus;
mod cached;

/// What an instance must forget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalidation {
    /// One session changed or ended.
    Session(SessionKeyHash),
    /// Every session of a user ended.
    UserSessions(i64),
    /// A user changed (password, active flag): the user and their sessions.
    User(i64),
    /// Everything.
    All,
}

impl Invalidation {
    /// The wire form (short: it travels in NOTIFY payloads and Redis messages).
    pub fn encode(&self) -> String {
        match self {
            Invalidation::Session(h) => format!("s:{}", h.as_str()),
            Invalidation::UserSessions(id) => format!("us:{id}"),
            Invalidation::User(id) => format!("u:{id}"),
            Invalidation::All => "*".into(),
        }
    }

    /// Parses [`Invalidation::encode`]'s output. Anything else is `All`:
    /// forgetting too much is safe, forgetting too little is not.
    pub fn decode(s: &str) -> Self {
        if let Some(h) = s.strip_prefix("s:")
            && h.len() == 64
            && h.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return Invalidation::Session(SessionKeyHash(h.to_owned()));
        }
        if let Some(id) = s.strip_prefix("us:").and_then(|n| n.parse().ok()) {
            return Invalidation::UserSessions(id);
        }
        if let Some(id) = s.strip_prefix("u:").and_then(|n| n.parse().ok()) {
            return Invalidation::User(id);
        }
        Invalidation::All
    }
}

/// A random tag that tells this instance's barrier pings from others'.
#[cfg(any(feature = "postgres", feature = "redis"))]
pub(crate) fn instance_tag() -> String {
    let mut b = [0u8; 8];
    crate::crypto::os_random(&mut b);
    hex::encode(b)
}

/// Counters for benchmarks and health output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct CacheStats {
    /// Whether the cache is being read right now.
    pub active: bool,
    /// Reads answered from the cache.
    pub hits: u64,
    /// Reads that went to the store.
    pub misses: u64,
    /// Times the cache was emptied because its channel was lost or lagged.
    pub drops: u64,
    /// Sessions held.
    pub sessions: usize,
    /// Users held.
    pub users: usize,
}

struct Entry<T> {
    value: T,
    at: Instant,
}

type Sessions = HashMap<String, Entry<SessionRecord>>;
type Users = HashMap<i64, Entry<User>>;

/// The cache itself: two maps, an epoch for fill/invalidation races, and the
/// time of the last confirmed barrier.
pub struct AuthCache {
    settings: CacheSettings,
    sessions: Mutex<Sessions>,
    users: Mutex<Users>,
    epoch: AtomicU64,
    base: Instant,
    /// Nanoseconds after `base` at which the last confirmed barrier started, plus one; 0: none.
    synced: AtomicU64,
    /// No other instance exists (tests, memory stores): always in sync.
    local: AtomicBool,
    hits: AtomicU64,
    misses: AtomicU64,
    drops: AtomicU64,
}

impl fmt::Debug for AuthCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthCache").field("settings", &self.settings).field("stats", &self.stats()).finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves maps that are merely incomplete;
    // the data is still consistent, so poisoning is not an error here.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl AuthCache {
    /// An empty cache that is not read until its sync loop confirms a barrier.
    pub fn new(settings: CacheSettings) -> Self {
        Self {
            settings,
            sessions: Mutex::new(HashMap::new()),
            users: Mutex::new(HashMap::new()),
            epoch: AtomicU64::new(0),
            base: Instant::now(),
            synced: AtomicU64::new(0),
            local: AtomicBool::new(false),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            drops: AtomicU64::new(0),
        }
    }

    /// A cache for a single process with no other writer (memory stores):
    /// always in sync, no loop needed.
    pub fn local(settings: CacheSettings) -> Self {
        let c = Self::new(settings);
        c.local.store(true, Ordering::Relaxed);
        c
    }

    /// The settings.
    pub fn settings(&self) -> &CacheSettings {
        &self.settings
    }

    /// How long a stale barrier is tolerated; also how long a revoking
    /// write waits after publishing.
    pub fn staleness_bound(&self) -> Duration {
        self.settings.sync_interval * 2
    }

    /// Whether reads may be answered from the cache now.
    pub fn is_active(&self) -> bool {
        if !self.settings.enabled {
            return false;
        }
        if self.local.load(Ordering::Relaxed) {
            return true;
        }
        let synced = self.synced.load(Ordering::Acquire);
        synced != 0 && self.base.elapsed().as_nanos() < u128::from(synced - 1) + self.staleness_bound().as_nanos()
    }

    /// Records a confirmed barrier that started at `started`.
    pub fn mark_synced(&self, started: Instant) {
        let nanos = u64::try_from(started.saturating_duration_since(self.base).as_nanos()).unwrap_or(u64::MAX - 1);
        self.synced.fetch_max(nanos + 1, Ordering::AcqRel);
    }

    /// Stops reading the cache and empties it (channel lost).
    pub fn drop_all(&self) {
        self.synced.store(0, Ordering::Release);
        self.drops.fetch_add(1, Ordering::Relaxed);
        self.apply(&Invalidation::All);
    }

    /// Forgets what `inv` names, at once, on this instance.
    pub fn apply(&self, inv: &Invalidation) {
        // Both locks, in a fixed order, while the epoch moves: a fill checks
        // the epoch under its map's lock, so it sees either the old epoch and
        // is evicted here, or the new one and gives up.
        let mut sessions = lock(&self.sessions);
        let mut users = lock(&self.users);
        self.epoch.fetch_add(1, Ordering::AcqRel);
        match inv {
            Invalidation::Session(h) => {
                sessions.remove(h.as_str());
            }
            Invalidation::UserSessions(id) => sessions.retain(|_, e| e.value.user_id != Some(*id)),
            Invalidation::User(id) => {
                users.remove(id);
                sessions.retain(|_, e| e.value.user_id != Some(*id));
            }
            Invalidation::All => {
                sessions.clear();
                users.clear();
            }
        }
    }

    fn fresh(&self, at: Instant) -> bool {
        at.elapsed() < self.settings.ttl
    }

    /// A cached live session, or `None` (and the caller reads the store).
    pub fn session(&self, key: &SessionKeyHash, now: OffsetDateTime) -> Option<SessionRecord> {
        self.get(&self.sessions, key.as_str(), |r| !r.is_expired(now))
    }

    /// A cached user, or `None`.
    pub fn user(&self, id: i64) -> Option<User> {
        self.get(&self.users, &id, |_| true)
    }

    /// A copy of the entry under `key` if the cache is active and the entry
    /// is within its TTL and `usable`; a stale entry is removed. Counts the
    /// hit or miss.
    fn get<K, Q, T>(&self, map: &Mutex<HashMap<K, Entry<T>>>, key: &Q, usable: impl FnOnce(&T) -> bool) -> Option<T>
    where
        K: std::borrow::Borrow<Q> + std::hash::Hash + Eq,
        Q: std::hash::Hash + Eq + ?Sized,
        T: Clone,
    {
        if !self.is_active() {
            return None;
        }
        let mut map = lock(map);
        let hit = match map.get(key) {
            Some(e) if self.fresh(e.at) && usable(&e.value) => Some(e.value.clone()),
            Some(_) => {
                map.remove(key);
                None
            }
            None => None,
        };
        drop(map);
        if hit.is_some() { &self.hits } else { &self.misses }.fetch_add(1, Ordering::Relaxed);
        hit
    }

    /// The epoch before a store read, or `None` when the result must not be cached.
    pub fn begin_fill(&self) -> Option<u64> {
        self.is_active().then(|| self.epoch.load(Ordering::Acquire))
    }

    fn insert<K: std::hash::Hash + Eq, T>(&self, map: &mut HashMap<K, Entry<T>>, epoch: u64, key: K, value: T) {
        if self.epoch.load(Ordering::Acquire) != epoch {
            return;
        }
        if map.len() >= self.settings.max_entries {
            map.clear();
        }
        map.insert(key, Entry { value, at: Instant::now() });
    }

    /// Caches a session read from the store, unless an invalidation happened since `epoch`.
    pub fn fill_session(&self, epoch: u64, record: &SessionRecord) {
        let mut map = lock(&self.sessions);
        self.insert(&mut map, epoch, record.key_hash.0.clone(), record.clone());
    }

    /// Caches a user read from the store, unless an invalidation happened since `epoch`.
    pub fn fill_user(&self, epoch: u64, user: &User) {
        let mut map = lock(&self.users);
        self.insert(&mut map, epoch, user.id, user.clone());
    }

    /// Keeps a cached session's activity in step with a touch this instance wrote.
    pub fn touched(&self, key: &SessionKeyHash, last_seen: OffsetDateTime, expires_at: OffsetDateTime) {
        if let Some(e) = lock(&self.sessions).get_mut(key.as_str()) {
            e.value.last_seen = last_seen;
            e.value.expires_at = expires_at;
        }
    }

    /// Keeps a cached user's `last_login` in step with a login this instance recorded.
    pub fn logged_in(&self, id: i64, at: OffsetDateTime) {
        if let Some(e) = lock(&self.users).get_mut(&id) {
            e.value.last_login = Some(at);
        }
    }

    /// Counters.
    pub fn stats(&self) -> CacheStats {
        CacheStats {
            active: self.is_active(),
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            drops: self.drops.load(Ordering::Relaxed),
            sessions: lock(&self.sessions).len(),
            users: lock(&self.users).len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(n: u8, user: i64, now: OffsetDateTime) -> SessionRecord {
        SessionRecord {
            key_hash: SessionKeyHash(format!("{n:064x}")),
            user_id: Some(user),
            auth_hash: String::new(),
            data: Default::default(),
            created_at: now,
            last_seen: now,
            expires_at: now + time::Duration::hours(1),
            absolute_expires_at: now + time::Duration::hours(1),
            idle_timeout: None,
            ip: None,
            user_agent: None,
            authenticated_at: None,
            remember: true,
        }
    }

    fn settings() -> CacheSettings {
        CacheSettings { sync_interval: Duration::from_millis(20), ..CacheSettings::default() }
    }

    #[test]
    fn invalidations_round_trip_and_anything_unreadable_forgets_everything() {
        let h = SessionKeyHash("ab".repeat(32));
        for inv in [Invalidation::Session(h), Invalidation::UserSessions(7), Invalidation::User(-3), Invalidation::All]
        {
            assert_eq!(Invalidation::decode(&inv.encode()), inv);
        }
        for junk in ["", "s:xyz", "u:", "us:abc", "p:1:2", "hello"] {
            assert_eq!(Invalidation::decode(junk), Invalidation::All, "{junk:?}");
        }
    }

    #[test]
    fn nothing_is_served_until_the_channel_is_confirmed_nor_once_it_goes_stale() {
        let now = OffsetDateTime::now_utc();
        let c = AuthCache::new(settings());
        assert!(!c.is_active() && c.begin_fill().is_none(), "unconfirmed caches are neither read nor filled");
        c.mark_synced(Instant::now());
        let epoch = c.begin_fill().unwrap();
        c.fill_session(epoch, &record(1, 1, now));
        assert!(c.session(&record(1, 1, now).key_hash, now).is_some());
        std::thread::sleep(c.staleness_bound() + Duration::from_millis(10));
        assert!(!c.is_active());
        assert!(c.session(&record(1, 1, now).key_hash, now).is_none(), "a stale channel must not be trusted");
    }

    #[test]
    fn a_fill_that_raced_an_invalidation_is_dropped() {
        let now = OffsetDateTime::now_utc();
        let c = AuthCache::local(settings());
        let epoch = c.begin_fill().unwrap();
        // The store was read (live), then a logout was applied, then the fill lands.
        c.apply(&Invalidation::Session(record(1, 1, now).key_hash));
        c.fill_session(epoch, &record(1, 1, now));
        assert!(c.session(&record(1, 1, now).key_hash, now).is_none());
        assert_eq!(c.stats().sessions, 0);
    }

    #[test]
    fn invalidations_reach_exactly_what_they_name() {
        let now = OffsetDateTime::now_utc();
        let c = AuthCache::local(settings());
        let e = c.begin_fill().unwrap();
        for (n, user) in [(1, 1), (2, 1), (3, 2)] {
            c.fill_session(e, &record(n, user, now));
        }
        c.apply(&Invalidation::UserSessions(1));
        assert!(c.session(&record(1, 1, now).key_hash, now).is_none());
        assert!(c.session(&record(2, 1, now).key_hash, now).is_none());
        assert!(c.session(&record(3, 2, now).key_hash, now).is_some(), "another user's session stays");
        c.apply(&Invalidation::All);
        assert_eq!(c.stats().sessions, 0);
    }

    #[test]
    fn expired_sessions_and_entries_past_their_ttl_are_not_served() {
        let now = OffsetDateTime::now_utc();
        let c = AuthCache::local(CacheSettings { ttl: Duration::from_millis(30), ..settings() });
        let e = c.begin_fill().unwrap();
        c.fill_session(e, &record(1, 1, now));
        assert!(c.session(&record(1, 1, now).key_hash, now + time::Duration::hours(2)).is_none(), "expired");
        c.fill_session(c.begin_fill().unwrap(), &record(2, 1, now));
        std::thread::sleep(Duration::from_millis(40));
        assert!(c.session(&record(2, 1, now).key_hash, now).is_none(), "past the TTL");
    }

    #[test]
    fn a_full_cache_is_emptied_rather_than_grown() {
        let now = OffsetDateTime::now_utc();
        let c = AuthCache::local(CacheSettings { max_entries: 2, ..settings() });
        let e = c.begin_fill().unwrap();
        for n in 1..=3 {
            c.fill_session(e, &record(n, 1, now));
        }
        assert_eq!(c.stats().sessions, 1);
        assert!(c.session(&record(3, 1, now).key_hash, now).is_some());
    }

    #[test]
    fn a_lost_channel_empties_the_cache_and_counts_a_drop() {
        let now = OffsetDateTime::now_utc();
        let c = AuthCache::new(settings());
        c.mark_synced(Instant::now());
        c.fill_session(c.begin_fill().unwrap(), &record(1, 1, now));
        c.drop_all();
        let s = c.stats();
        assert!(!s.active);
        assert_eq!((s.sessions, s.drops), (0, 1));
    }
}
