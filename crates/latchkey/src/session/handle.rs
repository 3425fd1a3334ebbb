//! The request's session: loaded lazily, written back once, and what the
//! response must do with the cookie. The HTTP half (reading the cookie,
//! writing `Set-Cookie`) is `crate::http::session`.

use std::sync::Arc;

use serde_json::Value;
use time::OffsetDateTime;
use tokio::sync::Mutex;

use super::{ClientInfo, SessionKey, SessionKeyHash, SessionRecord, SessionStore, StoreError};
use crate::{clock::Clock, settings::SessionSettings};

/// The current request's session, lazily loaded: a request that never asks
/// for it costs no store round-trip.
#[derive(Clone)]
pub struct Session(Arc<Inner>);

struct Inner {
    store: Arc<dyn SessionStore>,
    clock: Arc<dyn Clock>,
    age: time::Duration,
    idle_timeout: Option<time::Duration>,
    browser_session_idle_timeout: time::Duration,
    touch_interval: time::Duration,
    cookie_key: Option<SessionKey>,
    had_cookie: bool,
    state: Mutex<SessState>,
}

#[derive(Default)]
struct SessState {
    loaded: bool,
    key: Option<SessionKey>,
    record: Option<SessionRecord>,
    accessed: bool,
    modified: bool,
    issue_cookie: bool,
    persistent_cookie: bool,
    delete_cookie: bool,
    // A device cookie the sign-in of this request issued (see `set_device_cookie`).
    device_cookie: Option<String>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("had_cookie", &self.0.had_cookie).finish_non_exhaustive()
    }
}

/// What the response must carry, once the handler is done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// The session cookie.
    pub cookie: CookieChange,
    /// A device cookie a sign-in issued ([`Session::set_device_cookie`]).
    pub device_cookie: Option<String>,
}

/// What the response must do with the session cookie, once the handler is done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CookieChange {
    /// The session was never looked at: the response does not depend on the
    /// cookie, so nothing is sent (not even `Vary: Cookie`).
    Untouched,
    /// The cookie stays as it is.
    Keep,
    /// Send this key: persistent (`Max-Age`) or a browser-session cookie.
    Set {
        /// The session key, the cookie's value.
        key: String,
        /// `Max-Age` or a browser-session cookie.
        persistent: bool,
    },
    /// Tell the browser to drop the cookie.
    Delete,
}

impl Session {
    /// The session of a request that carried `cookie_value` (not loaded yet:
    /// a request that never asks costs no store round-trip).
    pub fn new(
        store: Arc<dyn SessionStore>,
        clock: Arc<dyn Clock>,
        s: &SessionSettings,
        cookie_value: Option<String>,
    ) -> Self {
        let had_cookie = cookie_value.is_some();
        let dur = |d: std::time::Duration| time::Duration::try_from(d).unwrap_or(time::Duration::weeks(2));
        Session(Arc::new(Inner {
            store,
            clock,
            age: dur(s.age),
            idle_timeout: s.idle_timeout.map(dur),
            browser_session_idle_timeout: dur(s.browser_session_idle_timeout),
            touch_interval: dur(s.touch_interval),
            cookie_key: cookie_value.as_deref().and_then(SessionKey::parse),
            had_cookie,
            state: Mutex::new(SessState::default()),
        }))
    }

    async fn ensure_loaded<'a>(&'a self, st: &mut tokio::sync::MutexGuard<'a, SessState>) -> Result<(), StoreError> {
        st.accessed = true;
        if !st.loaded {
            if let Some(key) = &self.0.cookie_key {
                let now = self.0.clock.now();
                if let Some(mut rec) = self.0.store.load(&key.hash(), now).await? {
                    // Idle tracking writes at most once per touch_interval, so
                    // most authenticated reads cost one store round-trip.
                    let live = if rec.idle_timeout.is_some() && now - rec.last_seen >= self.0.touch_interval {
                        let expires_at = rec.expiry_after_activity(now);
                        rec.last_seen = now;
                        rec.expires_at = expires_at;
                        self.0.store.touch(&rec.key_hash, now, expires_at).await?
                    } else {
                        true
                    };
                    if live {
                        st.key = Some(key.clone());
                        st.record = Some(rec);
                    }
                }
            }
            st.loaded = true;
        }
        Ok(())
    }

    /// The stored record, if the request carries a live session.
    ///
    /// # Errors
    /// When the store fails.
    pub async fn record(&self) -> Result<Option<SessionRecord>, StoreError> {
        let mut st = self.0.state.lock().await;
        self.ensure_loaded(&mut st).await?;
        Ok(st.record.clone())
    }

    /// `f` of the stored record, if the request carries a live session,
    /// without copying the record (this is on every authenticated request).
    ///
    /// # Errors
    /// When the store fails.
    pub async fn read<T>(&self, f: impl FnOnce(&SessionRecord) -> T) -> Result<Option<T>, StoreError> {
        let mut st = self.0.state.lock().await;
        self.ensure_loaded(&mut st).await?;
        Ok(st.record.as_ref().map(f))
    }

    /// The logged-in user's id.
    ///
    /// # Errors
    /// When the store fails.
    pub async fn user_id(&self) -> Result<Option<i64>, StoreError> {
        Ok(self.read(|r| r.user_id).await?.flatten())
    }

    /// A value stored in the session.
    ///
    /// # Errors
    /// When the store fails.
    pub async fn get(&self, key: &str) -> Result<Option<Value>, StoreError> {
        Ok(self.read(|r| r.data.get(key).cloned()).await?.flatten())
    }

    /// The session's clock's time (slots stamp their deadlines with it).
    pub(super) fn now(&self) -> OffsetDateTime {
        self.0.clock.now()
    }

    /// Stores a value, creating an (anonymous) session if there is none. The
    /// change is written after the handler, unless the response is a 5xx.
    ///
    /// # Errors
    /// When the store fails.
    pub async fn insert(&self, key: &str, value: Value) -> Result<(), StoreError> {
        let mut st = self.0.state.lock().await;
        self.ensure_loaded(&mut st).await?;
        if st.record.is_none() {
            self.create_locked(&mut st, None, String::new(), true, &ClientInfo::default()).await?;
        }
        if let Some(r) = st.record.as_mut() {
            r.data.insert(key.to_owned(), value);
            st.modified = true;
        }
        Ok(())
    }

    /// Removes a value (a no-op without a session).
    ///
    /// # Errors
    /// When the store fails.
    pub async fn remove(&self, key: &str) -> Result<(), StoreError> {
        let mut st = self.0.state.lock().await;
        self.ensure_loaded(&mut st).await?;
        if let Some(r) = st.record.as_mut()
            && r.data.remove(key).is_some()
        {
            st.modified = true;
        }
        Ok(())
    }

    /// Starts an anonymous session under a brand-new key, deleting the old
    /// one server-side (a session of a signed-in user is ended; an anonymous
    /// one's data carries over). The step between a password and a second
    /// factor uses it: whoever held the old key does not hold the new one.
    /// The new session ends after `lifetime` at the latest (the store drops
    /// it then, whatever its data says).
    ///
    /// # Errors
    /// When the store fails.
    pub async fn cycle_anonymous(&self, client: &ClientInfo, lifetime: time::Duration) -> Result<(), StoreError> {
        let mut st = self.0.state.lock().await;
        self.ensure_loaded(&mut st).await?;
        if let Some(old) = st.record.take() {
            self.0.store.delete(&old.key_hash).await?;
            if old.user_id.is_none() {
                st.record = Some(old);
            }
        }
        self.create_locked(&mut st, None, String::new(), true, client).await?;
        if let Some(r) = st.record.as_mut() {
            let end = r.created_at + lifetime;
            if end < r.absolute_expires_at {
                r.absolute_expires_at = end;
                r.expires_at = r.expires_at.min(end);
                r.idle_timeout = None;
                st.modified = true;
            }
        }
        Ok(())
    }

    async fn create_locked(
        &self,
        st: &mut SessState,
        user_id: Option<i64>,
        auth_hash: String,
        remember: bool,
        client: &ClientInfo,
    ) -> Result<(), StoreError> {
        let now = self.0.clock.now();
        let absolute = now + self.0.age;
        let idle_timeout = if remember { self.0.idle_timeout } else { Some(self.0.browser_session_idle_timeout) };
        let expires = idle_timeout.map_or(absolute, |idle| (now + idle).min(absolute));
        let data = st.record.take().map(|r| r.data).unwrap_or_default();
        let template = SessionRecord {
            key_hash: SessionKeyHash(String::new()),
            user_id,
            auth_hash,
            data,
            created_at: now,
            last_seen: now,
            expires_at: expires,
            absolute_expires_at: absolute,
            idle_timeout,
            ip: client.ip.map(|ip| ip.to_string()),
            user_agent: client.user_agent.clone(),
            // Only a login authenticates; an anonymous session never is.
            authenticated_at: user_id.map(|_| now),
            remember,
        };
        self.store_under_new_key(st, template).await
    }

    /// Stores `template` under a fresh key and makes it the request's
    /// session, whose cookie the response sets.
    async fn store_under_new_key(&self, st: &mut SessState, template: SessionRecord) -> Result<(), StoreError> {
        let (key, record) = super::create_under_new_key(self.0.store.as_ref(), &template).await?;
        st.persistent_cookie = record.remember;
        st.key = Some(key);
        st.record = Some(record);
        st.issue_cookie = true;
        st.delete_cookie = false;
        st.modified = false;
        Ok(())
    }

    /// Moves the current session to a brand-new key (the old key is deleted
    /// server-side), stamps it as authenticated now, and, when given, stores
    /// a new session auth hash (after a password change). Everything else —
    /// data, creation time, lifetimes, cookie kind — carries over: the session
    /// continues, only a stolen copy of its old key dies. Returns the new
    /// key's hash, or `None` (nothing done) without an authenticated session.
    ///
    /// # Errors
    /// When the store fails.
    pub async fn rotate_authenticated(&self, auth_hash: Option<String>) -> Result<Option<SessionKeyHash>, StoreError> {
        let mut st = self.0.state.lock().await;
        self.ensure_loaded(&mut st).await?;
        let Some(old) = st.record.clone().filter(|r| r.user_id.is_some()) else {
            return Ok(None);
        };
        let mut template = old.clone();
        template.authenticated_at = Some(self.0.clock.now());
        if let Some(h) = auth_hash {
            template.auth_hash = h;
        }
        self.store_under_new_key(&mut st, template).await?;
        self.0.store.delete(&old.key_hash).await?;
        Ok(st.record.as_ref().map(|r| r.key_hash.clone()))
    }

    /// The stored key hash of the current session (to tell it apart in a
    /// list of the user's sessions), if there is a live one.
    ///
    /// # Errors
    /// When the store fails.
    pub async fn key_hash(&self) -> Result<Option<SessionKeyHash>, StoreError> {
        self.read(|r| r.key_hash.clone()).await
    }

    /// Starts an authenticated session under a brand-new key, deleting the
    /// old one server-side. Called at every login, also when the same user
    /// logs in again (Django keeps the key then; a fresh key is the safer
    /// choice and costs nothing). Application data in an anonymous session
    /// is carried over; a session of another user is flushed first.
    ///
    /// The new session records `client` (address and browser, for the
    /// user's list of sessions) and is stamped as authenticated now.
    ///
    /// `remember` chooses a persistent cookie (`Max-Age`, the remembered
    /// idle limit) or a browser-session cookie with the shorter
    /// `browser_session_idle_timeout`; browsers restore "session" cookies
    /// after a restart, so the server-side idle limit is what really ends it.
    ///
    /// # Errors
    /// When the store fails.
    pub async fn cycle_login(
        &self,
        user_id: i64,
        auth_hash: String,
        remember: bool,
        client: &ClientInfo,
    ) -> Result<(), StoreError> {
        let mut st = self.0.state.lock().await;
        self.ensure_loaded(&mut st).await?;
        if let Some(old) = st.record.take() {
            self.0.store.delete(&old.key_hash).await?;
            if old.user_id.is_none() {
                st.record = Some(old);
            }
        }
        self.create_locked(&mut st, Some(user_id), auth_hash, remember, client).await
    }

    /// Deletes the session server-side and tells the browser to drop the
    /// cookie (logout). Returns whether there was a session.
    ///
    /// # Errors
    /// When the store fails.
    pub async fn flush(&self) -> Result<bool, StoreError> {
        let mut st = self.0.state.lock().await;
        self.ensure_loaded(&mut st).await?;
        let existed = match st.record.take() {
            Some(r) => self.0.store.delete(&r.key_hash).await?,
            None => false,
        };
        st.key = None;
        st.modified = false;
        st.issue_cookie = false;
        st.delete_cookie = true;
        Ok(existed)
    }

    /// Hands the browser a device cookie with this answer (the sign-in
    /// pipeline's establish stage calls this; the HTTP half writes it with
    /// the session cookie). The device cookie outlives the session: it makes
    /// this browser a known device of the account for the failed-login
    /// throttle (`crate::throttle`).
    pub async fn set_device_cookie(&self, value: String) {
        self.0.state.lock().await.device_cookie = Some(value);
    }

    /// When the current session expires.
    ///
    /// # Errors
    /// When the store fails.
    pub async fn expires_at(&self) -> Result<Option<OffsetDateTime>, StoreError> {
        self.read(|r| r.expires_at).await
    }

    /// After the handler: saves a modified session (never after a 5xx,
    /// as Django: the request failed half-way) and says what to do with
    /// the cookie, and which device cookie to send (none after a 5xx).
    pub async fn commit(&self, server_error: bool) -> Committed {
        let mut st = self.0.state.lock().await;
        let device_cookie = st.device_cookie.take().filter(|_| !server_error);
        let cookie = self.cookie_change(&mut st, server_error).await;
        Committed { cookie, device_cookie }
    }

    async fn cookie_change(&self, st: &mut SessState, server_error: bool) -> CookieChange {
        if !st.accessed {
            return CookieChange::Untouched;
        }
        if st.modified
            && !server_error
            && let Some(rec) = st.record.clone()
        {
            match self.0.store.save(&rec).await {
                Ok(true) => {}
                Ok(false) => {
                    st.record = None;
                    st.delete_cookie = true;
                }
                Err(e) => {
                    tracing::error!(target: "latchkey::session", error = %e, "could not save session")
                }
            }
        }
        if st.issue_cookie && !server_error {
            if let Some(key) = &st.key {
                return CookieChange::Set { key: key.expose().to_owned(), persistent: st.persistent_cookie };
            }
            CookieChange::Keep
        } else if st.delete_cookie || (self.0.had_cookie && st.loaded && st.record.is_none()) {
            // An unknown, expired or malformed cookie is deleted, as Django
            // does, so the browser stops sending it.
            CookieChange::Delete
        } else {
            CookieChange::Keep
        }
    }
}
