//! Composes the whole application: the API routes and the layers around
//! them, in one documented order.
//!
//! From the outside in:
//!
//! 1. **request log** — one structured line per request (method, path,
//!    status, latency, request id), after everything else has answered, and
//!    the request's metrics (by route template: [`super::openapi::route_template`]);
//! 2. **CORS** (cross-origin preset only) — outermost of the answering
//!    layers, so redirects, 4xx and 5xx (panics included) carry CORS headers
//!    and the SPA sees the `detail` instead of a network error;
//! 3. **panic guard** — a panic becomes a JSON 500, never a dropped connection;
//! 4. **security headers** — nosniff, `X-Frame-Options: DENY`,
//!    `Referrer-Policy: same-origin`, `Cross-Origin-Opener-Policy`, and
//!    `Strict-Transport-Security` when the public URL is https;
//! 5. **JSON errors** — any error response that is not JSON gets our shape;
//! 6. **request context and Host allow-list** — 400 for unknown hosts;
//! 7. **request timeout** — 408 when a request (a slow body included) takes
//!    longer than `limits.request_timeout`;
//! 8. **body limit** — 413 past `limits.max_body_bytes`;
//! 9. routes; on the `/api/` routes themselves ([`ApiLayer`]): **CSRF**
//!    (Fetch Metadata, then Django's checks), then **session**, and
//!    `Cache-Control: no-store`.
//!
//! Steps 1, 3–7 and 9 are hand-written tower services ([`RequestLog`],
//! [`Edge`] and [`ApiLayer`]) rather than one `from_fn` middleware each: every `from_fn`
//! layer clones and boxes the rest of the stack on every request, and on
//! the session-check path those copies cost more than the checks
//! themselves (bench/RESULTS.md).
//!
//! The server binary adds what only a server can do: a header-read timeout
//! and a cap on open connections.

use std::{
    convert::Infallible,
    panic::AssertUnwindSafe,
    task::{Context, Poll},
    time::{Duration, Instant},
};

use axum::{
    Router,
    extract::{ConnectInfo, DefaultBodyLimit, Request},
    middleware::{Next, from_fn},
    response::{IntoResponse, Response},
};
use http::{HeaderName, HeaderValue, Method, StatusCode, header};
use tower::{Layer, Service};
use tower_http::{
    cors::{AllowOrigin, CorsLayer},
    limit::RequestBodyLimitLayer,
};

use super::{
    ApiError,
    context::attach_context,
    csrf::{csrf_begin, csrf_finish},
    error::to_json_error,
    session::{session_begin, session_finish},
};
use crate::{Latchkey, crypto::os_random};

/// Headers a preflight may ask for (django-cors-headers' default list).
const CORS_ALLOW_HEADERS: [HeaderName; 6] = [
    header::ACCEPT,
    header::AUTHORIZATION,
    header::CONTENT_TYPE,
    header::USER_AGENT,
    HeaderName::from_static("x-csrftoken"),
    HeaderName::from_static("x-requested-with"),
];

/// The CORS layer of the cross-origin preset: an explicit allow-list (the
/// same list the CSRF Origin check trusts, so the two cannot disagree),
/// credentials, and `X-CSRFToken` exposed so the SPA can read the token.
pub fn cors_layer(lk: &Latchkey) -> CorsLayer {
    let origins: Vec<HeaderValue> =
        lk.settings().allowed_origins.iter().filter_map(|o| HeaderValue::from_str(&o.to_string()).ok()).collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_credentials(true)
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE, Method::OPTIONS])
        .allow_headers(CORS_ALLOW_HEADERS)
        .expose_headers([header::CONTENT_TYPE, HeaderName::from_static("x-csrftoken")])
        .max_age(Duration::from_secs(86_400))
}

/// tower-http still sends `Access-Control-Allow-Credentials` and
/// `-Expose-Headers` to origins it does not allow (it only omits
/// `-Allow-Origin`). Harmless to browsers, but a disallowed origin should see
/// no CORS headers at all, so nothing suggests it is partly trusted.
async fn strip_partial_cors(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    if !res.headers().contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN) {
        let doomed: Vec<HeaderName> =
            res.headers().keys().filter(|k| k.as_str().starts_with("access-control-")).cloned().collect();
        for k in doomed {
            res.headers_mut().remove(k);
        }
    }
    res
}

/// A request id: 64 bits from a per-thread xorshift generator seeded once
/// from the OS. Ids only need to be unique enough to join log lines, not
/// unpredictable, so no system call per request.
fn next_request_id() -> String {
    use std::cell::Cell;
    thread_local! {
        static STATE: Cell<u64> = Cell::new({
            let mut b = [0u8; 8];
            os_random(&mut b);
            u64::from_le_bytes(b) | 1
        });
    }
    STATE.with(|s| {
        let mut x = s.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.set(x);
        format!("{x:016x}")
    })
}

fn request_id(req: &Request) -> String {
    // Reuse a proxy's id when it looks like one (short, printable), so log
    // lines can be joined across hops; otherwise mint 64 random bits.
    req.headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        .map(str::to_owned)
        .unwrap_or_else(next_request_id)
}

/// The `Strict-Transport-Security` value, when the public URL is https.
fn hsts(lk: &Latchkey) -> Option<HeaderValue> {
    let s = lk.settings();
    if !s.public_url.as_ref().is_some_and(crate::origin::Origin::is_secure) || s.hsts_seconds == 0 {
        return None;
    }
    let sub = if s.hsts_include_subdomains { "; includeSubDomains" } else { "" };
    HeaderValue::from_str(&format!("max-age={}{sub}", s.hsts_seconds)).ok()
}

/// A boxed response future.
pub type ResponseFuture = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Response, Infallible>> + Send>>;

/// Layer of [`RequestLog`].
#[derive(Debug, Clone)]
pub struct RequestLogLayer(pub Latchkey);

impl<S> Layer<S> for RequestLogLayer {
    type Service = RequestLog<S>;
    fn layer(&self, inner: S) -> RequestLog<S> {
        RequestLog { inner, lk: self.0.clone() }
    }
}

/// Step 1 of the module docs: the request id, one log line per request and
/// its metrics.
#[derive(Debug, Clone)]
pub struct RequestLog<S> {
    inner: S,
    lk: Latchkey,
}

impl<S> Service<Request> for RequestLog<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        // The clone that was made ready is the one that is called (tower's rule).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let lk = self.lk.clone();
        Box::pin(async move {
            let start = Instant::now();
            let id = request_id(&req);
            let route = super::openapi::route_template(req.uri().path());
            let method = method_label(req.method());
            // Copy what only the log line needs, and only when it is written.
            let logged = tracing::enabled!(target: "latchkey::http", tracing::Level::INFO).then(|| {
                let peer = req.extensions().get::<ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip());
                (req.method().clone(), req.uri().path().to_owned(), peer)
            });
            let mut res = inner.call(req).await?;
            if let Ok(v) = HeaderValue::from_str(&id) {
                res.headers_mut().insert("x-request-id", v);
            }
            let status = crate::metrics::Status(res.status().as_u16());
            lk.metrics().request(crate::metrics::RequestLabels { route, method, status }, start.elapsed());
            let Some((method, path, peer)) = logged else {
                return Ok(res);
            };
            let latency_ms = start.elapsed().as_secs_f64() * 1000.0;
            tracing::info!(
                target: "latchkey::http",
                method = %method,
                path = %path,
                status = res.status().as_u16(),
                latency_ms = format_args!("{latency_ms:.3}"),
                request_id = %id,
                peer = ?peer,
                "request"
            );
            Ok(res)
        })
    }
}

/// A method as a metric label: the ones the API knows, else `other`.
fn method_label(m: &http::Method) -> &'static str {
    match m.as_str() {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    }
}

/// Layer of [`Edge`].
#[derive(Debug, Clone)]
pub struct EdgeLayer {
    lk: Latchkey,
    hsts: Option<HeaderValue>,
}

impl EdgeLayer {
    /// Steps 3–7 for this configuration.
    pub fn new(lk: &Latchkey) -> Self {
        Self { lk: lk.clone(), hsts: hsts(lk) }
    }
}

impl<S> Layer<S> for EdgeLayer {
    type Service = Edge<S>;
    fn layer(&self, inner: S) -> Edge<S> {
        Edge { inner, lk: self.lk.clone(), hsts: self.hsts.clone() }
    }
}

/// Steps 3–7 of the module docs in one service: panic guard, security
/// headers, JSON errors, request context with the Host allow-list, and the
/// request timeout.
#[derive(Debug, Clone)]
pub struct Edge<S> {
    inner: S,
    lk: Latchkey,
    hsts: Option<HeaderValue>,
}

fn panicked(panic: Box<dyn std::any::Any + Send>) -> Response {
    let what = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    tracing::error!(target: "latchkey::http", panic = %what, "a request handler panicked");
    ApiError::internal("a request handler panicked").into_response()
}

impl<S, B> Service<Request> for Edge<S>
where
    S: Service<Request, Response = http::Response<B>, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: axum::body::HttpBody<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        use futures_util::FutureExt;
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let (lk, hsts) = (self.lk.clone(), self.hsts.clone());
        Box::pin(async move {
            let method = req.method().clone();
            let res = match attach_context(&lk, &mut req) {
                Err(refused) => refused.into_response(),
                Ok(()) => {
                    // A panic in the synchronous part of `call` or in the future
                    // both become a JSON 500, never a dropped connection.
                    match std::panic::catch_unwind(AssertUnwindSafe(|| inner.call(req))) {
                        Err(panic) => panicked(panic),
                        Ok(fut) => {
                            let guarded = AssertUnwindSafe(fut).catch_unwind();
                            match tokio::time::timeout(lk.settings().request_timeout, guarded).await {
                                Ok(Ok(Ok(res))) => res.map(axum::body::Body::new),
                                Ok(Ok(Err(never))) => match never {},
                                Ok(Err(panic)) => panicked(panic),
                                Err(_) => StatusCode::REQUEST_TIMEOUT.into_response(),
                            }
                        }
                    }
                }
            };
            let mut res = to_json_error(&method, res);
            let h = res.headers_mut();
            if let Some(v) = hsts {
                h.entry(header::STRICT_TRANSPORT_SECURITY).or_insert(v);
            }
            for (name, value) in SECURITY_HEADERS {
                h.entry(name).or_insert(HeaderValue::from_static(value));
            }
            Ok(res)
        })
    }
}

const SECURITY_HEADERS: [(HeaderName, &str); 4] = [
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::X_FRAME_OPTIONS, "DENY"),
    (header::REFERRER_POLICY, "same-origin"),
    (HeaderName::from_static("cross-origin-opener-policy"), "same-origin"),
];

/// The whole application around `routes`, an application's own routes:
/// Latchkey's `/api/` routes merged in, the trailing-slash redirect and JSON
/// 404 as the fallback, and every layer of [`with_layers`]. Put
/// [`ApiLayer`] on `routes` (`.route_layer(ApiLayer(lk.clone()))`) for CSRF
/// on their unsafe methods and the session their extractors read.
pub fn app(routes: Router, lk: &Latchkey) -> Router {
    with_layers(super::router(lk.clone()).merge(routes).fallback(super::append_slash_fallback), lk)
}

/// Wraps `routes` (which may contain the application's own routes merged
/// with [`crate::http::router`]) in Latchkey's layers, in the order documented above.
pub fn with_layers(routes: Router, lk: &Latchkey) -> Router {
    let limit = lk.settings().max_body_bytes;
    // One ServiceBuilder, so each route is wrapped (and boxed) once, not once
    // per layer. Outermost first. Slow bodies count against the request
    // timeout (408); slow headers are cut by the server's header-read
    // timeout before any of this runs.
    let inner = || {
        tower::ServiceBuilder::new()
            .layer(EdgeLayer::new(lk))
            .layer(RequestBodyLimitLayer::new(limit))
            .layer(DefaultBodyLimit::max(limit))
    };
    if lk.settings().cors_enabled() {
        routes
            .layer(inner())
            .layer(cors_layer(lk))
            .layer(from_fn(strip_partial_cors))
            .layer(RequestLogLayer(lk.clone()))
    } else {
        routes.layer(tower::ServiceBuilder::new().layer(RequestLogLayer(lk.clone())).layer(inner()))
    }
}

/// The complete Latchkey application: the API, the trailing-slash fallback
/// and every layer.
pub fn build_router(lk: &Latchkey) -> Router {
    app(Router::new(), lk)
}

/// Step 9: CSRF, then the session, then `Cache-Control: no-store` — what
/// [`super::csrf_middleware`] and [`super::session_middleware`]
/// do, as one hand-written layer: each `from_fn` layer clones and boxes the
/// rest of the stack on every request, which shows on the session check.
#[derive(Debug, Clone)]
pub struct ApiLayer(pub Latchkey);

impl<S> tower::Layer<S> for ApiLayer {
    type Service = ApiService<S>;
    fn layer(&self, inner: S) -> ApiService<S> {
        ApiService { inner, lk: self.0.clone() }
    }
}

/// The service of [`ApiLayer`].
#[derive(Debug, Clone)]
pub struct ApiService<S> {
    inner: S,
    lk: Latchkey,
}

impl<S> tower::Service<Request> for ApiService<S>
where
    S: tower::Service<Request, Response = Response, Error = std::convert::Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = std::convert::Infallible;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let lk = self.lk.clone();
        Box::pin(async move {
            let mut response = match csrf_begin(&lk, &mut req).await {
                Err(refused) => refused.into_response(),
                Ok(csrf) => {
                    let session = session_begin(&lk, &mut req);
                    let Ok(mut response) = inner.call(req).await;
                    session_finish(&lk, &session, &mut response).await;
                    csrf_finish(&lk, &csrf, &mut response);
                    response
                }
            };
            // Authentication answers must never be stored by a browser or proxy cache.
            response.headers_mut().entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
            Ok(response)
        })
    }
}
