//! What every service shares: the settings, the clock, the metrics and the
//! audit trail. Nothing here touches a store but the audit store.

use std::sync::Arc;

use crate::{
    audit::{Aggregator, AuditEvent, AuditStore},
    clock::Clock,
    metrics::Metrics,
    settings::Settings,
};

/// The settings, the clock, the metrics and the audit trail, shared by
/// every service (cheap to clone).
#[derive(Clone)]
pub struct Core(Arc<Inner>);

struct Inner {
    settings: Settings,
    clock: Arc<dyn Clock>,
    audit: Arc<dyn AuditStore>,
    aggregator: Aggregator,
    metrics: Metrics,
}

impl Core {
    pub(super) fn new(settings: Settings, clock: Arc<dyn Clock>, audit: Arc<dyn AuditStore>, metrics: Metrics) -> Self {
        Self(Arc::new(Inner { settings, clock, audit, aggregator: Aggregator::default(), metrics }))
    }

    /// Settings.
    pub fn settings(&self) -> &Settings {
        &self.0.settings
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.0.clock
    }

    /// This instance's metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.0.metrics
    }

    /// The audit store.
    pub fn audit_store(&self) -> &Arc<dyn AuditStore> {
        &self.0.audit
    }

    /// Records an event: to the `latchkey::audit` log target and, when
    /// persistence is on, to the audit store. Unauthenticated rejections
    /// ([`crate::audit::AGGREGATED`]) are only counted here, and written and
    /// logged as aggregates by [`Core::flush_audit`]. A store failure is
    /// logged, never turned into a failed request.
    pub async fn audit(&self, event: AuditEvent) {
        if Aggregator::aggregates(&event.event) {
            self.0.aggregator.add(event);
            return;
        }
        tracing::info!(
            target: "latchkey::audit",
            event = %event.event,
            username = event.username.as_deref(),
            actor = event.actor.as_deref(),
            user_id = event.user_id,
            client = event.client_ip.as_deref(),
            count = event.count,
            detail = %event.detail,
            "audit"
        );
        self.persist(&event).await;
    }

    async fn persist(&self, event: &AuditEvent) {
        if self.settings().audit_persist
            && let Err(e) = self.audit_store().record(event).await
        {
            tracing::error!(target: "latchkey::audit", error = %e, "could not persist an audit event");
        }
    }

    /// Writes the aggregated events counted since the last flush, one row
    /// (and at most one log line, up to 20 a flush) per event kind and
    /// client; returns how many aggregates. Servers call this every
    /// `audit.flush_interval` and at shutdown.
    pub async fn flush_audit(&self) -> usize {
        let aggregates = self.0.aggregator.drain();
        let n = aggregates.len();
        for (i, event) in aggregates.into_iter().enumerate() {
            if i < 20 {
                tracing::info!(
                    target: "latchkey::audit",
                    event = %event.event,
                    client = event.client_ip.as_deref(),
                    count = event.count,
                    detail = %event.detail,
                    "audit (aggregated)"
                );
            }
            self.persist(&event).await;
        }
        if n > 20 {
            tracing::info!(target: "latchkey::audit", more = n - 20, "audit (aggregated): more kinds and clients");
        }
        n
    }

    /// Spawns the loop that flushes aggregated audit events every
    /// `audit.flush_interval` (servers call this; call
    /// [`Core::flush_audit`] once more at shutdown).
    pub fn run_audit_flush(&self) -> tokio::task::JoinHandle<()> {
        let core = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(core.settings().audit_flush_interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                core.flush_audit().await;
            }
        })
    }
}
