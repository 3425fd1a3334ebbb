//! Which connections the server keeps, and for how long.
//!
//! A socket costs a file descriptor and a slot of `limits.max_connections`
//! whether or not it ever sends a request, so a connection must earn its
//! place:
//!
//! * **admission**: at most `limits.max_connections_per_client` open
//!   connections per client address (IPv6 by /64; `trusted_proxies` exempt,
//!   since behind a proxy every connection comes from it). When the global
//!   cap is reached, the connection idle for longest is closed to make room,
//!   so a new client is still served; only when every connection has a
//!   request in flight is the newcomer refused;
//! * **first request**: a connection that has not delivered a complete
//!   request head within `limits.header_read_timeout` *of being accepted* is
//!   closed — silent sockets, a partial HTTP/2 preface, an HTTP/2 connection
//!   that never finishes its SETTINGS or its first HEADERS;
//! * **idle**: a connection with no request in flight for
//!   `limits.keep_alive_timeout` is closed (HTTP/1.1 keep-alive and HTTP/2
//!   alike; HTTP/2 peers are also pinged and dropped when they do not answer).
//!
//! hyper's own header-read timeout still bounds each later HTTP/1.1 request
//! head from its first byte.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use ipnet::IpNet;
use tokio::sync::Notify;

/// Why a connection was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// This client already holds `max_connections_per_client` connections.
    PerClient,
    /// Every slot is taken by a connection with a request in flight.
    Full,
}

/// One open connection's activity.
#[derive(Debug)]
pub struct Conn {
    id: u64,
    /// The client key (`latchkey::throttle::client_key`: IPv6 by /64).
    client: String,
    accepted: Instant,
    base: Instant,
    in_flight: AtomicUsize,
    served: AtomicU64,
    /// Nanoseconds after `base` when the last request finished.
    idle_since: AtomicU64,
    close: Notify,
    closing: std::sync::atomic::AtomicBool,
    /// Told when a request starts or ends, so a pending deadline is recomputed.
    changed: Notify,
}

impl Conn {
    fn now_nanos(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Marks a request as started; the guard marks it finished when dropped
    /// (after its response body is sent).
    pub fn begin(self: &Arc<Self>) -> InFlight {
        self.served.fetch_add(1, Ordering::Relaxed);
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.changed.notify_one();
        InFlight(self.clone())
    }

    fn idle(&self) -> bool {
        self.in_flight.load(Ordering::Acquire) == 0
    }

    /// When this connection must be closed if nothing changes meanwhile;
    /// `None` while a request is in flight.
    fn deadline(&self, header_read_timeout: Duration, keep_alive_timeout: Duration) -> Option<Instant> {
        if !self.idle() {
            return None;
        }
        if self.served.load(Ordering::Acquire) == 0 {
            return Some(self.accepted + header_read_timeout);
        }
        Some(self.base + Duration::from_nanos(self.idle_since.load(Ordering::Acquire)) + keep_alive_timeout)
    }

    /// Resolves when the server decided to close this connection (eviction).
    pub async fn closed(&self) {
        if self.closing.load(Ordering::Acquire) {
            return;
        }
        self.close.notified().await;
    }

    /// Waits until this connection has overstayed: no complete request head
    /// within `header_read_timeout` of its accept, or idle for
    /// `keep_alive_timeout`. Returns the reason.
    pub async fn expired(&self, header_read_timeout: Duration, keep_alive_timeout: Duration) -> &'static str {
        loop {
            // Taken before the state is read, so a change in between is not missed.
            let changed = self.changed.notified();
            match self.deadline(header_read_timeout, keep_alive_timeout) {
                None => changed.await,
                Some(at) if Instant::now() >= at => {
                    return if self.served.load(Ordering::Acquire) == 0 { "no request head" } else { "idle" };
                }
                Some(at) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(at.into()) => {}
                        () = changed => {}
                    }
                }
            }
        }
    }
}

/// A request in flight on a connection.
#[derive(Debug)]
pub struct InFlight(Arc<Conn>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let c = &self.0;
        c.idle_since.store(c.now_nanos(), Ordering::Release);
        c.in_flight.fetch_sub(1, Ordering::AcqRel);
        c.changed.notify_one();
    }
}

#[derive(Debug, Default)]
struct Table {
    per_client: HashMap<String, usize>,
    live: HashMap<u64, Arc<Conn>>,
    next_id: u64,
}

/// The open connections.
#[derive(Debug)]
pub struct Connections {
    table: Mutex<Table>,
    max_total: usize,
    max_per_client: usize,
    exempt: Vec<IpNet>,
    base: Instant,
}

/// An admitted connection; leaving the table when dropped.
#[derive(Debug)]
pub struct Admission {
    conn: Arc<Conn>,
    table: Arc<Connections>,
}

impl Admission {
    /// The connection's activity record.
    pub fn conn(&self) -> &Arc<Conn> {
        &self.conn
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        let mut t = self.table.lock();
        t.live.remove(&self.conn.id);
        if let Some(n) = t.per_client.get_mut(&self.conn.client) {
            *n -= 1;
            if *n == 0 {
                t.per_client.remove(&self.conn.client);
            }
        }
    }
}

impl Connections {
    /// A table for at most `max_total` connections, `max_per_client` each
    /// from one client unless it is in `exempt`.
    pub fn new(max_total: usize, max_per_client: usize, exempt: Vec<IpNet>) -> Arc<Self> {
        Arc::new(Self { table: Mutex::new(Table::default()), max_total, max_per_client, exempt, base: Instant::now() })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Open connections now.
    pub fn len(&self) -> usize {
        self.lock().live.len()
    }

    /// Whether no connection is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Admits a connection from `peer`, closing the longest-idle connection
    /// if the table is full.
    ///
    /// # Errors
    /// [`Refused`] when the client holds its share, or nothing is idle.
    pub fn admit(self: &Arc<Self>, peer: IpAddr) -> Result<Admission, Refused> {
        // One client as the throttle counts one: IPv4 as is, IPv6 by /64.
        let client = latchkey::throttle::client_key(Some(peer));
        let exempt = self.exempt.iter().any(|n| n.contains(&peer));
        let mut t = self.lock();
        if !exempt && t.per_client.get(&client).copied().unwrap_or(0) >= self.max_per_client {
            return Err(Refused::PerClient);
        }
        // Connections already told to close still hold their slot until
        // their task ends; they are not counted against the newcomer.
        let open = t.live.values().filter(|c| !c.closing.load(Ordering::Acquire)).count();
        if open >= self.max_total && !Self::evict_idlest(&t) {
            return Err(Refused::Full);
        }
        t.next_id += 1;
        let now = Instant::now();
        let conn = Arc::new(Conn {
            id: t.next_id,
            client,
            accepted: now,
            base: self.base,
            in_flight: AtomicUsize::new(0),
            served: AtomicU64::new(0),
            idle_since: AtomicU64::new(u64::try_from(now.duration_since(self.base).as_nanos()).unwrap_or(u64::MAX)),
            close: Notify::new(),
            closing: std::sync::atomic::AtomicBool::new(false),
            changed: Notify::new(),
        });
        *t.per_client.entry(conn.client.clone()).or_insert(0) += 1;
        t.live.insert(conn.id, conn.clone());
        Ok(Admission { conn, table: self.clone() })
    }

    /// Closes the connection idle for longest (one that has not sent a
    /// request yet counts as idle since its accept, so a client that has just
    /// connected is not the first to go). `false` when none is idle.
    fn evict_idlest(t: &Table) -> bool {
        let victim = t
            .live
            .values()
            .filter(|c| c.idle() && !c.closing.load(Ordering::Acquire))
            .min_by_key(|c| c.idle_since.load(Ordering::Acquire));
        match victim {
            Some(c) => {
                c.closing.store(true, Ordering::Release);
                c.close.notify_one();
                true
            }
            None => false,
        }
    }

    /// Closes one idle connection to free a file descriptor (after EMFILE).
    pub fn shed_one(&self) -> bool {
        Self::evict_idlest(&self.lock())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn ipv6_clients_share_a_64() {
        let t = Connections::new(100, 1, Vec::new());
        let _a = t.admit("2001:db8:1:2::1".parse().unwrap()).unwrap();
        assert_eq!(t.admit("2001:db8:1:2:ffff::9".parse().unwrap()).unwrap_err(), Refused::PerClient);
        assert!(t.admit("2001:db8:1:3::1".parse().unwrap()).is_ok(), "another /64 is another client");
    }

    #[tokio::test]
    async fn one_client_gets_its_share_and_proxies_are_exempt() {
        let t = Connections::new(100, 2, vec!["10.0.0.1/32".parse().unwrap()]);
        let me: IpAddr = "192.0.2.1".parse().unwrap();
        let a = t.admit(me).unwrap();
        let _b = t.admit(me).unwrap();
        assert_eq!(t.admit(me).unwrap_err(), Refused::PerClient);
        assert!(t.admit("192.0.2.2".parse().unwrap()).is_ok(), "another client is not affected");
        drop(a);
        assert!(t.admit(me).is_ok(), "a closed connection frees its share");
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let held: Vec<_> = (0..10).map(|_| t.admit(proxy).unwrap()).collect();
        assert_eq!(held.len(), 10);
    }

    #[tokio::test]
    async fn a_full_table_closes_the_idlest_connection_but_never_a_busy_one() {
        let t = Connections::new(2, 10, Vec::new());
        let silent = t.admit("192.0.2.1".parse().unwrap()).unwrap();
        let busy = t.admit("192.0.2.2".parse().unwrap()).unwrap();
        let _request = busy.conn().begin();
        let newcomer = t.admit("192.0.2.3".parse().unwrap()).unwrap();
        tokio::time::timeout(Duration::from_secs(1), silent.conn().closed()).await.expect("the silent one is closed");
        let _also_busy = newcomer.conn().begin();
        drop(silent);
        // Both remaining connections have a request in flight.
        assert_eq!(t.admit("192.0.2.4".parse().unwrap()).unwrap_err(), Refused::Full);
    }

    #[tokio::test]
    async fn connections_expire_without_a_request_head_or_when_idle() {
        let t = Connections::new(10, 10, Vec::new());
        let (hrt, ka) = (Duration::from_millis(200), Duration::from_millis(400));
        let a = t.admit("192.0.2.1".parse().unwrap()).unwrap();
        let started = Instant::now();
        assert_eq!(a.conn().expired(hrt, ka).await, "no request head");
        let waited = started.elapsed();
        assert!(waited >= hrt && waited < hrt * 2, "counted from the accept: {waited:?}");
        let b = t.admit("192.0.2.2".parse().unwrap()).unwrap();
        let request = b.conn().begin();
        let busy = tokio::time::timeout(ka * 2, b.conn().expired(hrt, ka)).await;
        assert!(busy.is_err(), "a connection with a request in flight never expires");
        drop(request);
        let started = Instant::now();
        assert_eq!(b.conn().expired(hrt, ka).await, "idle");
        let waited = started.elapsed();
        assert!(waited >= ka - Duration::from_millis(5) && waited < ka * 2, "{waited:?}");
    }
}
