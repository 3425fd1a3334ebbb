//! The channel that carries invalidations between instances, and the sync
//! loop that confirms it (see the module docs of [`crate::cache`]).

use std::{fmt, sync::Arc, time::Instant};

use super::{AuthCache, Invalidation};
use crate::error::StoreError;

/// The channel that carries invalidations between instances.
#[async_trait::async_trait]
pub trait CacheBus: Send + Sync + fmt::Debug + 'static {
    /// Sends invalidations to every instance (this one applies them itself).
    async fn publish(&self, events: &[Invalidation]) -> Result<(), StoreError>;
    /// One round of the sync loop: applies what other instances published
    /// since the last round and returns once a barrier confirms that
    /// everything published before the round started has been seen. An
    /// error means the channel is lost. A bus keeps its connection between
    /// rounds and must reconnect in the next round after an error or after
    /// a round that was cancelled (the loop drops a round that overruns).
    async fn sync_round(&self, cache: &AuthCache) -> Result<(), StoreError>;
    /// Whether other instances can exist (false: nothing to wait for).
    fn shared(&self) -> bool {
        true
    }
    /// Drops the connection kept between rounds (the sync loop ends; a
    /// kept connection would otherwise hold a pool slot and stall its close).
    fn disconnect(&self) {}
}

/// Disconnects the bus when the sync loop ends, also when it is aborted.
struct Disconnect(Arc<dyn CacheBus>);

impl Drop for Disconnect {
    fn drop(&mut self) {
        self.0.disconnect();
    }
}

/// Runs the sync loop of `cache` on `bus` until the task is dropped.
pub async fn run_sync(bus: Arc<dyn CacheBus>, cache: Arc<AuthCache>) {
    let _disconnect = Disconnect(bus.clone());
    let interval = cache.settings().sync_interval;
    let bound = cache.staleness_bound();
    let mut last_ok: Option<Instant> = None;
    loop {
        let started = Instant::now();
        let round = tokio::time::timeout(bound, bus.sync_round(&cache))
            .await
            .unwrap_or_else(|_| Err(StoreError::Backend(format!("no barrier within {} ms", bound.as_millis()))));
        match round {
            Ok(()) => {
                // After a gap events may have been missed (NOTIFY and pub/sub
                // do not replay): start from an empty cache.
                if last_ok.is_none_or(|t| started.duration_since(t) > bound) {
                    cache.apply(&Invalidation::All);
                }
                cache.mark_synced(started);
                last_ok = Some(started);
            }
            Err(e) => {
                if last_ok.is_some() {
                    tracing::warn!(target: "latchkey::cache", error = %e, "invalidation channel lost or too slow; cache off until it is back");
                }
                cache.drop_all();
                last_ok = None;
            }
        }
        tokio::time::sleep(interval.saturating_sub(started.elapsed())).await;
    }
}

/// No other instance: publishing is a no-op.
#[derive(Debug, Default)]
pub struct LocalBus;

#[async_trait::async_trait]
impl CacheBus for LocalBus {
    async fn publish(&self, _: &[Invalidation]) -> Result<(), StoreError> {
        Ok(())
    }
    async fn sync_round(&self, _: &AuthCache) -> Result<(), StoreError> {
        Ok(())
    }
    fn shared(&self) -> bool {
        false
    }
}
