//! [`Cached`]: a session or user store with the cache in front.

use std::sync::Arc;

use time::OffsetDateTime;

use super::{AuthCache, CacheBus, Invalidation};
use crate::{
    error::StoreError,
    session::{SessionKeyHash, SessionRecord, SessionStore},
    users::{NewUser, User, UserStore, UserStoreError},
};

/// A store with the cache in front of its per-request read: [`SessionStore::load`]
/// for sessions, [`UserStore::by_id`] for users. Log-in look-ups by name
/// always read the store.
#[derive(Debug)]
pub struct Cached<S: ?Sized> {
    inner: Arc<S>,
    cache: Arc<AuthCache>,
    bus: Arc<dyn CacheBus>,
}

/// Sessions behind the cache.
pub type CachedSessionStore = Cached<dyn SessionStore>;
/// Users behind the cache.
pub type CachedUserStore = Cached<dyn UserStore>;

impl<S: ?Sized> Cached<S> {
    /// Wraps `inner`.
    pub fn new(inner: Arc<S>, cache: Arc<AuthCache>, bus: Arc<dyn CacheBus>) -> Self {
        Self { inner, cache, bus }
    }

    /// `cached`, or what `load` reads, which is then cached with `fill`
    /// unless an invalidation happened since the read began.
    async fn read_through<T, E>(
        &self,
        cached: Option<T>,
        load: impl std::future::Future<Output = Result<Option<T>, E>>,
        fill: impl FnOnce(&AuthCache, u64, &T),
    ) -> Result<Option<T>, E> {
        if cached.is_some() {
            return Ok(cached);
        }
        // The epoch is taken before `load` is first polled, so before the read.
        let epoch = self.cache.begin_fill();
        let found = load.await?;
        if let (Some(epoch), Some(v)) = (epoch, &found) {
            fill(&self.cache, epoch, v);
        }
        Ok(found)
    }

    /// Forgets `inv` here, publishes it, then waits until no instance can
    /// still serve what it names (see the module docs).
    async fn revoke(&self, inv: Invalidation) -> Result<(), StoreError> {
        self.cache.apply(&inv);
        self.bus.publish(std::slice::from_ref(&inv)).await?;
        if self.bus.shared() {
            tokio::time::sleep(self.cache.staleness_bound()).await;
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl SessionStore for Cached<dyn SessionStore> {
    async fn create(&self, record: &SessionRecord) -> Result<(), StoreError> {
        self.inner.create(record).await
    }

    async fn load(&self, key: &SessionKeyHash, now: OffsetDateTime) -> Result<Option<SessionRecord>, StoreError> {
        self.read_through(self.cache.session(key, now), self.inner.load(key, now), AuthCache::fill_session).await
    }

    async fn save(&self, record: &SessionRecord) -> Result<bool, StoreError> {
        let saved = self.inner.save(record).await?;
        let inv = Invalidation::Session(record.key_hash.clone());
        self.cache.apply(&inv);
        // Application data only (a login makes a new key): other instances
        // need to reload it, but nothing is revoked, so no need to wait.
        self.bus.publish(&[inv]).await?;
        Ok(saved)
    }

    async fn touch(
        &self,
        key: &SessionKeyHash,
        last_seen: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let live = self.inner.touch(key, last_seen, expires_at).await?;
        if live {
            self.cache.touched(key, last_seen, expires_at);
        } else {
            self.cache.apply(&Invalidation::Session(key.clone()));
        }
        Ok(live)
    }

    async fn delete(&self, key: &SessionKeyHash) -> Result<bool, StoreError> {
        let existed = self.inner.delete(key).await?;
        let inv = Invalidation::Session(key.clone());
        if existed {
            self.revoke(inv).await?;
        } else {
            self.cache.apply(&inv);
        }
        Ok(existed)
    }

    async fn delete_user_sessions(&self, user_id: i64, keep: Option<&SessionKeyHash>) -> Result<u64, StoreError> {
        let n = self.inner.delete_user_sessions(user_id, keep).await?;
        self.revoke(Invalidation::UserSessions(user_id)).await?;
        Ok(n)
    }

    async fn list_user_sessions(&self, user_id: i64, now: OffsetDateTime) -> Result<Vec<SessionRecord>, StoreError> {
        self.inner.list_user_sessions(user_id, now).await
    }

    async fn delete_expired(&self, now: OffsetDateTime, batch: u32) -> Result<u64, StoreError> {
        // Expired entries are never served (the cache checks expiry itself).
        self.inner.delete_expired(now, batch).await
    }

    async fn list_live(
        &self,
        now: OffsetDateTime,
        page: crate::page::PageRequest,
    ) -> Result<crate::page::Page<SessionRecord>, StoreError> {
        // Operators see the store itself, never a cached copy.
        self.inner.list_live(now, page).await
    }
}

impl Cached<dyn UserStore> {
    async fn changed(&self, id: i64) -> Result<(), UserStoreError> {
        self.revoke(Invalidation::User(id)).await.map_err(|e| UserStoreError::Backend(e.to_string()))
    }
}

#[async_trait::async_trait]
impl UserStore for Cached<dyn UserStore> {
    async fn by_username(&self, username: &str) -> Result<Option<User>, UserStoreError> {
        self.inner.by_username(username).await
    }

    async fn by_id(&self, id: i64) -> Result<Option<User>, UserStoreError> {
        self.read_through(self.cache.user(id), self.inner.by_id(id), AuthCache::fill_user).await
    }

    async fn create(&self, user: &NewUser, now: OffsetDateTime) -> Result<User, UserStoreError> {
        self.inner.create(user, now).await
    }

    async fn create_with_job(
        &self,
        user: &NewUser,
        now: OffsetDateTime,
        job: &crate::mail::Job,
        outbox: &dyn crate::mail::OutboxStore,
    ) -> Result<User, UserStoreError> {
        // Pass through, so the inner store's transaction is kept.
        self.inner.create_with_job(user, now, job, outbox).await
    }

    async fn set_password_hash(&self, id: i64, hash: &str) -> Result<bool, UserStoreError> {
        let changed = self.inner.set_password_hash(id, hash).await?;
        self.changed(id).await?;
        Ok(changed)
    }

    async fn set_active(&self, id: i64, active: bool) -> Result<bool, UserStoreError> {
        let changed = self.inner.set_active(id, active).await?;
        self.changed(id).await?;
        Ok(changed)
    }

    async fn record_login(&self, id: i64, now: OffsetDateTime) -> Result<(), UserStoreError> {
        self.inner.record_login(id, now).await?;
        // last_login plays no part in authentication: no need to publish,
        // nor to evict (a login storm would empty the cache for nothing).
        self.cache.logged_in(id, now);
        Ok(())
    }

    async fn active_by_email(&self, email: &str) -> Result<Vec<User>, UserStoreError> {
        // Never cached: the password-reset rules need the account as stored.
        self.inner.active_by_email(email).await
    }

    async fn any_with_email(&self, email: &str) -> Result<bool, UserStoreError> {
        self.inner.any_with_email(email).await
    }

    async fn set_email(&self, id: i64, email: &str, verified: bool) -> Result<bool, UserStoreError> {
        let changed = self.inner.set_email(id, email, verified).await?;
        self.changed(id).await?;
        Ok(changed)
    }

    async fn set_email_verified(&self, id: i64, verified: bool) -> Result<bool, UserStoreError> {
        let changed = self.inner.set_email_verified(id, verified).await?;
        self.changed(id).await?;
        Ok(changed)
    }

    async fn list(&self, query: &crate::users::UserQuery) -> Result<crate::page::Page<User>, UserStoreError> {
        self.inner.list(query).await
    }

    async fn import(
        &self,
        user: &crate::users::import::ImportedUser,
        update: bool,
    ) -> Result<crate::users::import::ImportOutcome, UserStoreError> {
        let outcome = self.inner.import(user, update).await?;
        // An overwritten user (flags, password) must not be served from any
        // instance's copy a moment longer.
        if let crate::users::import::ImportOutcome::Updated(u) = &outcome {
            self.changed(u.id).await?;
        }
        Ok(outcome)
    }

    async fn update(
        &self,
        id: i64,
        changes: &crate::users::UserChanges,
    ) -> Result<crate::users::UserUpdate, UserStoreError> {
        let outcome = self.inner.update(id, changes).await?;
        // Every instance drops its copy: a deactivation must end the
        // user's sessions everywhere at once.
        self.changed(id).await?;
        Ok(outcome)
    }
}
