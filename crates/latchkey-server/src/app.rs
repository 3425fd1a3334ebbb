//! Assembling and running the server.

use std::{
    future::Future,
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Context;
use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::body::{Body as HttpBody, Frame, SizeHint};
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::{conn::auto, graceful::GracefulShutdown},
};
use latchkey::{Backends, Latchkey, Preset, SystemClock, session, store::Database};
use tokio::net::TcpListener;
use tower::ServiceExt;

use crate::{
    config::{Config, ServerSettings},
    conn::{Connections, InFlight},
    spa::Spa,
};

/// A response body that keeps its request "in flight" until it is sent or dropped.
struct Tracked {
    body: Body,
    _in_flight: InFlight,
}

impl HttpBody for Tracked {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        std::pin::Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// A built server, bound to its port but not yet serving.
#[derive(Debug)]
pub struct App {
    listener: TcpListener,
    metrics: Option<TcpListener>,
    router: Router,
    latchkey: Latchkey,
    db: Backends,
    server: ServerSettings,
}

impl App {
    /// Opens the database (which must be migrated), builds the router and
    /// binds `server.bind` (port 0 picks a free port, for tests).
    ///
    /// # Errors
    /// Database, secret key or bind failures, with the cause.
    pub async fn build(config: Config) -> anyhow::Result<App> {
        let Config { latchkey: settings, server } = config;
        let bind = server.bind;
        let (latchkey, db) = Latchkey::open(settings, Arc::new(SystemClock)).await?;
        // The dummy hash for unknown users is computed in the background:
        // it costs a full Argon2 run (~30 ms here) that need not delay the
        // first request; a login arriving sooner waits for the same
        // computation rather than starting its own.
        let hasher = latchkey.hasher().clone();
        tokio::spawn(async move {
            if let Err(e) = hasher.warm_up().await {
                tracing::error!(target: "latchkey::server", error = %e, "password hasher warm-up failed");
            }
        });
        let routes = latchkey::http::router(latchkey.clone()).merge(latchkey::http::routes::health::router(db.clone()));
        // The admin is served in every preset; the SPA in the embedded one.
        let spa = if latchkey.settings().preset == Preset::Embedded {
            let spa = Spa::new(&server.spa);
            spa.check()?;
            Some(spa)
        } else {
            None
        };
        let admin = Spa::admin();
        let routes = routes.fallback(move |method, uri| crate::spa::fallback(spa.clone(), admin.clone(), method, uri));
        let router = latchkey::http::with_layers(routes, &latchkey);
        let listener = listen(bind).with_context(|| format!("cannot listen on {bind}"))?;
        let metrics = match server.metrics_bind {
            Some(addr) => Some(listen(addr).with_context(|| format!("cannot listen on {addr} (metrics.bind)"))?),
            None => None,
        };
        Ok(App { listener, metrics, router, latchkey, db, server })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("bound listener has an address")
    }

    /// The metrics listener's address, when `metrics.bind` is set.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().map(|l| l.local_addr().expect("bound listener has an address"))
    }

    /// The shared state.
    pub fn latchkey(&self) -> &Latchkey {
        &self.latchkey
    }

    /// Serves until `shutdown` completes, then drains in-flight requests
    /// (for at most 10 seconds).
    ///
    /// hyper-util's server is used instead of `axum::serve` because the
    /// latter sets no header-read timeout: a client trickling headers could
    /// hold a connection forever. Which connections are admitted and how
    /// long they are kept is [`crate::conn`]'s policy: a share per client,
    /// the idlest closed first when the table is full, a deadline for the
    /// first request head counted from the accept, and an idle timeout.
    ///
    /// # Errors
    /// Never, today; the signature leaves room for listener failures.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let purge = tokio::spawn(purge_expired_sessions(self.latchkey.clone(), self.db.db.clone()));
        let cache_sync = self.latchkey.run_cache_sync_thread();
        let audit_flush = self.latchkey.core().run_audit_flush();
        // Mail waits in the outbox; an instance stopped mid-delivery leaves
        // its claims to run out, and another sender (or this one, restarted)
        // delivers.
        let outbox = self.latchkey.mailing().run_outbox();
        let metrics = self.metrics.map(|l| tokio::spawn(serve_metrics(l, self.latchkey.clone())));
        let settings = self.server.clone();
        let table = Connections::new(
            settings.max_connections,
            settings.max_connections_per_client,
            self.latchkey.settings().trusted_proxies.clone(),
        );
        let mut builder = auto::Builder::new(TokioExecutor::new());
        // 64 KiB of request head at most (hyper's default is ~400 KiB).
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(settings.header_read_timeout)
            .max_buf_size(64 * 1024);
        // An HTTP/2 peer that stops answering PINGs is dropped; one that
        // answers but sends nothing is closed by the idle timeout below.
        builder
            .http2()
            .timer(TokioTimer::new())
            .keep_alive_interval(Some(settings.keep_alive_timeout / 2))
            .keep_alive_timeout(settings.header_read_timeout)
            .max_header_list_size(64 * 1024)
            .max_concurrent_streams(200)
            .max_pending_accept_reset_streams(20);
        let graceful = GracefulShutdown::new();
        let mut shutdown = std::pin::pin!(shutdown);
        let mut last_accept_warning: Option<Instant> = None;
        loop {
            let (stream, peer) = tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok(conn) => conn,
                    Err(e) => {
                        // EMFILE and friends: free a descriptor by closing the
                        // idlest connection, and back off instead of spinning.
                        let shed = table.shed_one();
                        if last_accept_warning.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
                            tracing::warn!(target: "latchkey::server", error = %e, shed, open = table.len(), "accept failed");
                            last_accept_warning = Some(Instant::now());
                        }
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            let admission = match table.admit(peer.ip()) {
                Ok(a) => a,
                Err(why) => {
                    tracing::debug!(target: "latchkey::server", %peer, ?why, "connection refused");
                    drop(stream);
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let router = self.router.clone();
            let conn_state = admission.conn().clone();
            let service = hyper::service::service_fn(move |mut req: http::Request<Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                let in_flight = conn_state.begin();
                let answer = router.clone().oneshot(req);
                async move {
                    let res = answer.await?;
                    // The request counts as in flight until its body is sent.
                    Ok::<_, std::convert::Infallible>(
                        res.map(|body| Body::new(Tracked { body, _in_flight: in_flight })),
                    )
                }
            });
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
            let conn = graceful.watch(conn.into_owned());
            let (header_read_timeout, keep_alive_timeout) = (settings.header_read_timeout, settings.keep_alive_timeout);
            tokio::spawn(async move {
                let state = admission.conn().clone();
                tokio::select! {
                    result = conn => {
                        if let Err(e) = result {
                            tracing::debug!(target: "latchkey::server", error = %e, "connection ended with an error");
                        }
                    }
                    why = state.expired(header_read_timeout, keep_alive_timeout) => {
                        tracing::debug!(target: "latchkey::server", %peer, why, "connection closed");
                    }
                    () = state.closed() => {
                        tracing::debug!(target: "latchkey::server", %peer, "idle connection closed to make room");
                    }
                }
                drop(admission);
            });
        }
        drop(self.listener);
        tokio::select! {
            () = graceful.shutdown() => {}
            () = tokio::time::sleep(Duration::from_secs(10)) => {
                tracing::warn!(target: "latchkey::server", "connections still open after 10 s; closing them");
            }
        }
        purge.abort();
        audit_flush.abort();
        outbox.abort();
        if let Some(m) = metrics {
            m.abort();
        }
        // What was counted since the last flush is written before the database closes.
        self.latchkey.core().flush_audit().await;
        if let Some(t) = cache_sync {
            t.stop().await;
        }
        self.db.close().await;
        Ok(())
    }
}

/// Binds `addr` with a deep accept queue: when the queue overflows, the
/// kernel leaves clients half-connected where the server cannot see them,
/// let alone close them (tokio's default depth is 1,024; the kernel caps it
/// at `net.core.somaxconn`).
/// `GET /metrics` on the metrics listener, and nothing else. A private
/// port: plain axum, one scrape at a time is all it sees.
async fn serve_metrics(listener: TcpListener, lk: Latchkey) {
    let router = Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let lk = lk.clone();
            async move {
                let text = lk.render_metrics().await;
                let content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8";
                ([(http::header::CONTENT_TYPE, content_type), (http::header::CACHE_CONTROL, "no-store")], text)
            }
        }),
    );
    if let Err(e) = axum::serve(listener, router).await {
        tracing::error!(target: "latchkey::server", error = %e, "the metrics listener stopped");
    }
}

fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(4096)
}

/// Raises the soft limit on open files to the hard limit: Debian's soft
/// default (1,024) equals the default connection cap, so without this the
/// process runs out of descriptors (EMFILE) before the cap protects it.
pub fn raise_open_files_limit(max_connections: usize) {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) if n < max_connections as u64 + 64 => tracing::warn!(
            target: "latchkey::server",
            limit = n,
            max_connections,
            "the open-files limit is barely above limits.max_connections; raise it (ulimit -n) or lower the cap"
        ),
        Ok(_) => {}
        Err(e) => tracing::warn!(target: "latchkey::server", error = %e, "could not raise the open-files limit"),
    }
}

/// Deletes expired sessions once an hour, in batches, off the request path,
/// and (SQLite) cache invalidation events older than an hour.
async fn purge_expired_sessions(lk: Latchkey, db: Database) {
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tick.tick().await;
        match session::clear_expired(lk.sessions().as_ref(), lk.clock().now()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(target: "latchkey::session", deleted = n, "expired sessions purged"),
            Err(e) => tracing::warn!(target: "latchkey::session", error = %e, "expired-session purge failed"),
        }
        if let Err(e) = lk.keys().delete_expired(lk.clock().now()).await {
            tracing::warn!(target: "latchkey::mail", error = %e, "expired-key purge failed");
        }
        if let Database::Sqlite(store) = &db
            && let Err(e) = latchkey::store::SqliteBus::new(store.pool().clone()).prune(Duration::from_secs(3600)).await
        {
            tracing::warn!(target: "latchkey::cache", error = %e, "cache event purge failed");
        }
    }
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!(target: "latchkey::server", "shutdown signal received; draining connections");
}
