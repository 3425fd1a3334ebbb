//! Assembling and running the server.

use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context;
use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::{conn::auto, graceful::GracefulShutdown},
};
use latchkey::{Backends, Latchkey, Preset, SystemClock, session, store::Database};
use tokio::{net::TcpListener, sync::Semaphore};
use tower::ServiceExt;

use crate::{
    config::{Config, ServerSettings},
    spa::Spa,
};

/// A built server, bound to its port but not yet serving.
#[derive(Debug)]
pub struct App {
    listener: TcpListener,
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
        let routes = if latchkey.settings().preset == Preset::Embedded {
            let spa = Spa::new(&server.spa);
            spa.check()?;
            routes.fallback(move |method, uri| crate::spa::fallback(spa.clone(), method, uri))
        } else {
            routes.fallback(latchkey::http::append_slash_fallback)
        };
        let router = latchkey::http::with_layers(routes, &latchkey);
        let listener = TcpListener::bind(bind).await.with_context(|| format!("cannot listen on {bind}"))?;
        Ok(App { listener, router, latchkey, db, server })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("bound listener has an address")
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
    /// hold a connection forever. Connections beyond `limits.max_connections`
    /// are closed at once rather than queued without bound.
    ///
    /// # Errors
    /// Never, today; the signature leaves room for listener failures.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let purge = tokio::spawn(purge_expired_sessions(self.latchkey.clone(), self.db.db.clone()));
        let cache_sync = self.latchkey.run_cache_sync();
        let settings = &self.server;
        let slots = Arc::new(Semaphore::new(settings.max_connections));
        let mut builder = auto::Builder::new(TokioExecutor::new());
        // 64 KiB of request head at most (hyper's default is ~400 KiB).
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(settings.header_read_timeout)
            .max_buf_size(64 * 1024);
        builder.http2().timer(TokioTimer::new());
        let graceful = GracefulShutdown::new();
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            let (stream, peer) = tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok(conn) => conn,
                    Err(e) => {
                        // EMFILE and friends: back off instead of spinning.
                        tracing::warn!(target: "latchkey::server", error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            let Ok(permit) = slots.clone().try_acquire_owned() else {
                tracing::warn!(target: "latchkey::server", %peer, "connection limit reached; closing a new connection");
                drop(stream);
                continue;
            };
            let _ = stream.set_nodelay(true);
            let router = self.router.clone();
            let service = hyper::service::service_fn(move |mut req: http::Request<Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                router.clone().oneshot(req)
            });
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
            let conn = graceful.watch(conn.into_owned());
            tokio::spawn(async move {
                if let Err(e) = conn.await {
                    tracing::debug!(target: "latchkey::server", error = %e, "connection ended with an error");
                }
                drop(permit);
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
        if let Some(t) = cache_sync {
            t.abort();
        }
        self.db.close().await;
        Ok(())
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
