//! Aggregating unauthenticated rejections. Anyone can send a request that is
//! refused (a CSRF failure, a throttled login, a cross-site logout), so one
//! row each would let anyone grow the database at the speed of the network.
//! They are counted in memory per (event, client address) instead and
//! written as one row per pair with a `count`, at most every flush interval
//! and at shutdown. Events of authenticated users and successes keep a row each.

use std::{
    collections::HashMap,
    sync::{Mutex, PoisonError},
};

use time::OffsetDateTime;

use super::AuditEvent;

/// The events that are aggregated.
pub const AGGREGATED: &[&str] =
    &["csrf_rejected", "login_throttled", "cross_site_logout_refused", "oidc_callback_refused"];

/// Distinct (event, client) pairs kept between flushes; beyond this, further
/// clients are folded into one aggregate per event without an address, so
/// memory stays bounded whatever the number of attacking addresses.
const MAX_KEYS: usize = 10_000;

#[derive(Debug)]
struct Pending {
    count: u32,
    first: OffsetDateTime,
    last: AuditEvent,
}

/// Counts of aggregated events since the last flush.
#[derive(Debug, Default)]
pub struct Aggregator {
    pending: Mutex<HashMap<(String, Option<String>), Pending>>,
}

impl Aggregator {
    /// Whether `event` is aggregated rather than written at once.
    pub fn aggregates(event: &str) -> bool {
        AGGREGATED.contains(&event)
    }

    /// Counts one event.
    pub fn add(&self, event: AuditEvent) {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        let mut key = (event.event.clone(), event.client_ip.clone());
        if pending.len() >= MAX_KEYS && !pending.contains_key(&key) {
            key.1 = None;
        }
        match pending.get_mut(&key) {
            Some(p) => {
                p.count = p.count.saturating_add(1);
                p.last = event;
            }
            None => {
                let first = event.at;
                pending.insert(key, Pending { count: 1, first, last: event });
            }
        }
    }

    /// The aggregates since the last call, one event each, emptying the counts.
    pub fn drain(&self) -> Vec<AuditEvent> {
        let pending = std::mem::take(&mut *self.pending.lock().unwrap_or_else(PoisonError::into_inner));
        let mut out: Vec<AuditEvent> = pending
            .into_iter()
            .map(|((_, client), p)| {
                let mut e = p.last;
                let span = (e.at - p.first).whole_seconds();
                let last = std::mem::take(&mut e.detail);
                e.detail = if p.count == 1 {
                    last
                } else {
                    format!("{} times in {span} s; the last: {last}", p.count).chars().take(500).collect()
                };
                if client.is_none() {
                    e.client_ip = None;
                }
                e.count = p.count;
                e
            })
            .collect();
        out.sort_by_key(|e| e.at);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(name: &str, ip: &str, n: i64) -> AuditEvent {
        AuditEvent::new(OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(n), name)
            .client(Some(ip.parse().unwrap()))
            .detail(format!("attempt {n}"))
    }

    #[test]
    fn events_are_counted_per_kind_and_client_and_drained_once() {
        let a = Aggregator::default();
        for n in 0..1000 {
            a.add(event("csrf_rejected", "10.0.0.1", n));
        }
        a.add(event("csrf_rejected", "10.0.0.2", 5));
        a.add(event("login_throttled", "10.0.0.1", 7));
        let rows = a.drain();
        assert_eq!(rows.len(), 3);
        let big = rows.iter().find(|e| e.count == 1000).unwrap();
        assert_eq!((big.event.as_str(), big.client_ip.as_deref()), ("csrf_rejected", Some("10.0.0.1")));
        assert!(big.detail.starts_with("1000 times in 999 s; the last: attempt 999"), "{}", big.detail);
        assert!(a.drain().is_empty(), "drained once");
    }

    #[test]
    fn many_addresses_cannot_grow_the_counts_without_bound() {
        let a = Aggregator::default();
        for n in 0..(MAX_KEYS as u32 + 500) {
            let ip = std::net::Ipv4Addr::from(0x0a00_0000 + n).to_string();
            a.add(event("csrf_rejected", &ip, 1));
        }
        let rows = a.drain();
        assert_eq!(rows.len(), MAX_KEYS + 1);
        let folded = rows.iter().find(|e| e.client_ip.is_none()).unwrap();
        assert_eq!(folded.count, 500);
    }
}
