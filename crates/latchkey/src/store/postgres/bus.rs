//! PostgreSQL's cache bus: `NOTIFY latchkey_cache`.

use std::sync::{
    Mutex, PoisonError,
    atomic::{AtomicU64, Ordering},
};

use sqlx::postgres::PgListener;

use crate::{
    cache::{AuthCache, CacheBus, Invalidation, instance_tag},
    error::StoreError,
};

const CHANNEL: &str = "latchkey_cache";

/// PostgreSQL: `NOTIFY latchkey_cache`. The barrier is a ping this instance
/// notifies to itself: PostgreSQL delivers notifications in commit order, so
/// once the ping arrives, everything committed before it has arrived too.
#[derive(Debug)]
pub struct PgBus {
    pool: sqlx::PgPool,
    tag: String,
    pings: AtomicU64,
    /// The LISTEN connection, kept between rounds; taken out for a round,
    /// so a failed or cancelled round leaves `None` and the next reconnects.
    listener: Mutex<Option<PgListener>>,
}

impl PgBus {
    /// A bus on this database.
    pub fn new(pool: sqlx::PgPool) -> Self {
        Self { pool, tag: instance_tag(), pings: AtomicU64::new(0), listener: Mutex::new(None) }
    }
}

#[async_trait::async_trait]
impl CacheBus for PgBus {
    async fn publish(&self, events: &[Invalidation]) -> Result<(), StoreError> {
        for e in events {
            sqlx::query("SELECT pg_notify($1, $2)").bind(CHANNEL).bind(e.encode()).execute(&self.pool).await?;
        }
        Ok(())
    }

    async fn sync_round(&self, cache: &AuthCache) -> Result<(), StoreError> {
        let kept = self.listener.lock().unwrap_or_else(PoisonError::into_inner).take();
        let mut listener = match kept {
            Some(l) => l,
            None => {
                let mut l = PgListener::connect_with(&self.pool).await?;
                l.listen(CHANNEL).await?;
                l
            }
        };
        let ping = format!("p:{}:{}", self.tag, self.pings.fetch_add(1, Ordering::Relaxed) + 1);
        sqlx::query("SELECT pg_notify($1, $2)").bind(CHANNEL).bind(&ping).execute(&mut listener).await?;
        loop {
            // try_recv, not recv: recv reconnects silently and would hide lost notifications.
            match listener.try_recv().await? {
                Some(n) if n.payload() == ping => break,
                Some(n) if n.payload().starts_with("p:") => {}
                Some(n) => cache.apply(&Invalidation::decode(n.payload())),
                None => return Err(StoreError::Backend("LISTEN connection lost".into())),
            }
        }
        *self.listener.lock().unwrap_or_else(PoisonError::into_inner) = Some(listener);
        Ok(())
    }

    fn disconnect(&self) {
        self.listener.lock().unwrap_or_else(PoisonError::into_inner).take();
    }
}
