//! Prometheus metrics, every name prefixed `latchkey_`.
//!
//! One [`Metrics`] per [`crate::Latchkey`] (its own registry, so two apps in
//! one process, as in the tests, count apart). Events are counted where they
//! happen (the request layer, the CSRF check, the sign-in flows); what is a
//! state rather than an event (sessions alive, the outbox, the cache's and
//! the hashing pool's counters) is read when scraped
//! ([`crate::Latchkey::render_metrics`]). Label values come from fixed
//! sets: route templates, not paths; codes, not messages.

use std::{
    fmt::Write as _,
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use prometheus_client::{
    encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder, text::encode},
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};

/// An HTTP status code as a label value.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub struct Status(pub u16);

impl EncodeLabelValue for Status {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> std::fmt::Result {
        write!(encoder, "{}", self.0)
    }
}

/// The labels of a request.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// The route template (`/api/sessions/{id}/`), `spa` or `other`.
    pub route: &'static str,
    /// GET, POST, … (`other` for anything else).
    pub method: &'static str,
    /// The status code.
    pub status: Status,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabel {
    route: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LoginLabels {
    via: &'static str,
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WayLabel {
    way: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FactorLabels {
    method: &'static str,
    outcome: &'static str,
}

/// Latency buckets, in seconds: 0.5 ms to 10 s (an Argon2 hash sits near 50 ms).
const LATENCY_BUCKETS: [f64; 14] =
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

/// How long a count of live sessions is reused: counting is a query.
pub const ACTIVE_SESSIONS_TTL: Duration = Duration::from_secs(15);

/// Values read at scrape time.
#[derive(Debug, Clone, Copy, Default)]
pub struct Snapshot {
    /// Signed-in sessions (`None`: the store did not answer).
    pub active_sessions: Option<u64>,
    /// Mail and other jobs waiting (`None`: the database did not answer).
    pub outbox_backlog: Option<u64>,
    /// The read-through cache's hits, misses and drops, when there is a cache.
    pub cache: Option<(u64, u64, u64)>,
    /// Hashes waiting for a slot of the pool.
    pub hash_queue: u64,
}

/// The metrics of one [`crate::Latchkey`].
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabel, Histogram, fn() -> Histogram>,
    logins: Family<LoginLabels, Counter>,
    sign_ins: Family<WayLabel, Counter>,
    csrf_rejections: Family<ReasonLabel, Counter>,
    second_factor: Family<FactorLabels, Counter>,
    hash_wait: Histogram,
    active_sessions: Gauge,
    outbox_backlog: Gauge,
    hash_queue: Gauge,
    cache_hits: Counter<u64, AtomicU64>,
    cache_misses: Counter<u64, AtomicU64>,
    cache_drops: Counter<u64, AtomicU64>,
    // The last count of live sessions and when it was taken.
    sessions_seen: Mutex<Option<(Instant, u64)>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Every metric, registered and at zero.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("latchkey");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RouteLabel, Histogram, fn() -> Histogram>::new_with_constructor(latency_histogram);
        let logins = Family::<LoginLabels, Counter>::default();
        let sign_ins = Family::<WayLabel, Counter>::default();
        let csrf_rejections = Family::<ReasonLabel, Counter>::default();
        let second_factor = Family::<FactorLabels, Counter>::default();
        let hash_wait = latency_histogram();
        let (active_sessions, outbox_backlog, hash_queue) = (Gauge::default(), Gauge::default(), Gauge::default());
        let (cache_hits, cache_misses, cache_drops) = (Counter::default(), Counter::default(), Counter::default());
        registry.register("http_requests", "HTTP requests by route template, method and status", requests.clone());
        registry.register("http_request_duration_seconds", "Time to answer, by route template", latency.clone());
        registry.register(
            "logins",
            "Password checks by way in (password, basic, reauthenticate, …) and outcome (ok, failed, throttled); \
             passkey sign-ins as via=passkey",
            logins.clone(),
        );
        registry.register(
            "sign_ins",
            "Completed sign-ins by way in (password, basic, passkey, second_step, oidc, signup, reauthenticate): \
             each the sign-in pipeline's establish stage, once",
            sign_ins.clone(),
        );
        registry.register(
            "csrf_rejections",
            "Unsafe requests refused by the CSRF check, by reason",
            csrf_rejections.clone(),
        );
        registry.register(
            "second_factor",
            "Second steps of a sign-in by method (totp, recovery_code, webauthn) and outcome (ok, failed, throttled)",
            second_factor.clone(),
        );
        registry.register(
            "sessions_active",
            "Signed-in sessions (counted at most every 15 s)",
            active_sessions.clone(),
        );
        registry.register("outbox_backlog", "Jobs (mails) waiting to be sent", outbox_backlog.clone());
        registry.register("hash_queue_depth", "Password hashes waiting for a slot of the pool", hash_queue.clone());
        registry.register("hash_wait_seconds", "Time a password hash waited for a slot of the pool", hash_wait.clone());
        registry.register("cache_hits", "Reads answered by the read-through cache", cache_hits.clone());
        registry.register("cache_misses", "Reads the cache passed to the store", cache_misses.clone());
        registry.register(
            "cache_drops",
            "Times the cache was emptied (its invalidation channel lost or lagging)",
            cache_drops.clone(),
        );
        Self {
            registry,
            requests,
            latency,
            logins,
            sign_ins,
            csrf_rejections,
            second_factor,
            hash_wait,
            active_sessions,
            outbox_backlog,
            hash_queue,
            cache_hits,
            cache_misses,
            cache_drops,
            sessions_seen: Mutex::new(None),
        }
    }

    /// Starts the series a dashboard plots at zero, so they exist (and
    /// `rate()` works) before the first event: every CSRF reason, every way
    /// in by outcome, every second-step method by outcome.
    pub fn declare(&self, csrf_reasons: &[&'static str], login_ways: &[&'static str], sign_in_ways: &[&'static str]) {
        for way in sign_in_ways {
            let _ = self.sign_ins.get_or_create(&WayLabel { way });
        }
        for reason in csrf_reasons {
            let _ = self.csrf_rejections.get_or_create(&ReasonLabel { reason });
        }
        for via in login_ways {
            for outcome in ["ok", "failed", "throttled"] {
                let _ = self.logins.get_or_create(&LoginLabels { via, outcome });
            }
        }
        for (method, outcome) in [
            ("totp", "ok"),
            ("recovery_code", "ok"),
            ("webauthn", "ok"),
            ("code", "failed"),
            ("code", "throttled"),
            ("webauthn", "failed"),
            ("webauthn", "throttled"),
        ] {
            let _ = self.second_factor.get_or_create(&FactorLabels { method, outcome });
        }
    }

    /// One answered request.
    pub fn request(&self, labels: RequestLabels, elapsed: Duration) {
        self.latency.get_or_create(&RouteLabel { route: labels.route }).observe(elapsed.as_secs_f64());
        self.requests.get_or_create(&labels).inc();
    }

    /// One password check (`outcome`: `ok`, `failed`, `throttled`).
    pub fn login(&self, via: &'static str, outcome: &'static str) {
        self.logins.get_or_create(&LoginLabels { via, outcome }).inc();
    }

    /// One completed sign-in (the pipeline's establish stage).
    pub fn sign_in(&self, way: &'static str) {
        self.sign_ins.get_or_create(&WayLabel { way }).inc();
    }

    /// One refusal of the CSRF check.
    pub fn csrf_rejection(&self, reason: &'static str) {
        self.csrf_rejections.get_or_create(&ReasonLabel { reason }).inc();
    }

    /// One second step (`method`: `totp`, `recovery_code`, `webauthn`).
    pub fn second_factor(&self, method: &'static str, outcome: &'static str) {
        self.second_factor.get_or_create(&FactorLabels { method, outcome }).inc();
    }

    /// The histogram of the hashing pool's wait (the hasher observes it).
    pub fn hash_wait(&self) -> &Histogram {
        &self.hash_wait
    }

    /// The count of live sessions if it is recent enough to reuse.
    pub fn cached_active_sessions(&self, now: Instant) -> Option<u64> {
        let seen = self.sessions_seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.filter(|(at, _)| now.duration_since(*at) < ACTIVE_SESSIONS_TTL).map(|(_, n)| n)
    }

    /// Remembers a fresh count of live sessions.
    pub fn saw_active_sessions(&self, now: Instant, n: u64) {
        *self.sessions_seen.lock().unwrap_or_else(|e| e.into_inner()) = Some((now, n));
    }

    /// The Prometheus text format (OpenMetrics), with `snapshot`'s values.
    pub fn render(&self, snapshot: Snapshot) -> String {
        let to_i64 = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        if let Some(n) = snapshot.active_sessions {
            self.active_sessions.set(to_i64(n));
        }
        if let Some(n) = snapshot.outbox_backlog {
            self.outbox_backlog.set(to_i64(n));
        }
        self.hash_queue.set(to_i64(snapshot.hash_queue));
        if let Some((hits, misses, drops)) = snapshot.cache {
            // The cache counts from its start, as these do: the same value.
            self.cache_hits.inner().store(hits, Ordering::Relaxed);
            self.cache_misses.inner().store(misses, Ordering::Relaxed);
            self.cache_drops.inner().store(drops, Ordering::Relaxed);
        }
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_render_with_the_prefix_and_their_labels() {
        let m = Metrics::new();
        m.login("password", "failed");
        m.login("password", "failed");
        m.csrf_rejection("token_missing");
        m.request(
            RequestLabels { route: "/api/login/", method: "POST", status: Status(400) },
            Duration::from_millis(3),
        );
        let text = m.render(Snapshot { active_sessions: Some(7), cache: Some((5, 2, 0)), ..Snapshot::default() });
        assert!(text.contains("latchkey_logins_total{via=\"password\",outcome=\"failed\"} 2"), "{text}");
        assert!(text.contains("latchkey_csrf_rejections_total{reason=\"token_missing\"} 1"), "{text}");
        assert!(
            text.contains("latchkey_http_requests_total{route=\"/api/login/\",method=\"POST\",status=\"400\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("latchkey_http_request_duration_seconds_bucket{le=\"0.005\",route=\"/api/login/\"} 1"),
            "{text}"
        );
        assert!(text.contains("latchkey_sessions_active 7"), "{text}");
        assert!(text.contains("latchkey_cache_hits_total 5"), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
    }

    #[test]
    fn a_count_of_sessions_is_reused_for_fifteen_seconds_only() {
        let m = Metrics::new();
        let t0 = Instant::now();
        assert_eq!(m.cached_active_sessions(t0), None);
        m.saw_active_sessions(t0, 3);
        assert_eq!(m.cached_active_sessions(t0 + Duration::from_secs(14)), Some(3));
        assert_eq!(m.cached_active_sessions(t0 + ACTIVE_SESSIONS_TTL), None);
    }
}
