//! Redis's cache bus: `PUBLISH {prefix}cache`.

use std::sync::{
    Mutex, PoisonError,
    atomic::{AtomicU64, Ordering},
};

use futures_util::StreamExt;
use redis::aio::PubSub;

use super::RedisStore;
use crate::{
    cache::{AuthCache, CacheBus, Invalidation, instance_tag},
    error::StoreError,
};

/// Redis: `PUBLISH {prefix}cache`. Redis delivers a channel's messages in
/// the order it executed the PUBLISHes, so a self-addressed ping is the barrier.
pub struct RedisBus {
    store: RedisStore,
    channel: String,
    tag: String,
    pings: AtomicU64,
    /// The subscription, kept between rounds; taken out for a round, so a
    /// failed or cancelled round leaves `None` and the next resubscribes.
    pubsub: Mutex<Option<PubSub>>,
}

impl std::fmt::Debug for RedisBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBus").field("channel", &self.channel).finish_non_exhaustive()
    }
}

impl RedisBus {
    /// A bus on this Redis, on a channel under the store's key prefix.
    pub fn new(store: RedisStore) -> Self {
        let channel = format!("{}cache", store.prefix());
        Self { store, channel, tag: instance_tag(), pings: AtomicU64::new(0), pubsub: Mutex::new(None) }
    }
}

#[async_trait::async_trait]
impl CacheBus for RedisBus {
    async fn publish(&self, events: &[Invalidation]) -> Result<(), StoreError> {
        let mut conn = self.store.connection();
        for e in events {
            let _: i64 = redis::cmd("PUBLISH").arg(&self.channel).arg(e.encode()).query_async(&mut conn).await?;
        }
        Ok(())
    }

    async fn sync_round(&self, cache: &AuthCache) -> Result<(), StoreError> {
        let kept = self.pubsub.lock().unwrap_or_else(PoisonError::into_inner).take();
        let mut pubsub = match kept {
            Some(p) => p,
            None => {
                let mut p = self.store.client().get_async_pubsub().await?;
                p.subscribe(&self.channel).await?;
                p
            }
        };
        let ping = format!("p:{}:{}", self.tag, self.pings.fetch_add(1, Ordering::Relaxed) + 1);
        let mut conn = self.store.connection();
        let _: i64 = redis::cmd("PUBLISH").arg(&self.channel).arg(&ping).query_async(&mut conn).await?;
        {
            let mut messages = pubsub.on_message();
            loop {
                let Some(msg) = messages.next().await else {
                    return Err(StoreError::Backend("Redis subscription lost".into()));
                };
                let payload: String = msg.get_payload().unwrap_or_default();
                if payload == ping {
                    break;
                }
                if !payload.starts_with("p:") {
                    cache.apply(&Invalidation::decode(&payload));
                }
            }
        }
        *self.pubsub.lock().unwrap_or_else(PoisonError::into_inner) = Some(pubsub);
        Ok(())
    }

    fn disconnect(&self) {
        self.pubsub.lock().unwrap_or_else(PoisonError::into_inner).take();
    }
}
