//! Composes the whole application: the API routes and the layers around
//! them, in one documented order.
//!
//! From the outside in:
//!
//! 1. **request log** — one structured line per request (method, path,
//!    status, latency, request id), after everything else has answered;
//! 2. **CORS** (cross-origin preset only) — outermost of the answering
//!    layers, so redirects, 4xx and 5xx (panics included) carry CORS headers
//!    and the SPA sees the `detail` instead of a network error;
//! 3. **panic guard** — a panic becomes a JSON 500, never a dropped connection;
//! 4. **security headers** — nosniff, `X-Frame-Options: DENY`,
//!    `Referrer-Policy: same-origin`, `Cross-Origin-Opener-Policy`, and
//!    `Strict-Transport-Security` when the public URL is https;
//! 5. **JSON errors** — any error response that is not JSON gets our shape;
//! 6. **request timeout** — 408 when a request (a slow body included) takes
//!    longer than `limits.request_timeout`;
//! 7. **request context and Host allow-list** — 400 for unknown hosts;
//! 8. **body limit** — 413 past `limits.max_body_bytes`;
//! 9. routes; on the `/api/` routes themselves: **CSRF** (Fetch Metadata,
//!    then Django's checks), then **session**, and `Cache-Control: no-store`.
//!
//! The server binary adds what only a server can do: a header-read timeout
//! and a cap on open connections.

use std::time::{Duration, Instant};

use axum::{
    Router,
    extract::{ConnectInfo, DefaultBodyLimit, Request, State},
    middleware::{Next, from_fn, from_fn_with_state},
    response::{IntoResponse, Response},
};
use http::{HeaderName, HeaderValue, Method, StatusCode, header};
use tower_http::{
    catch_panic::CatchPanicLayer,
    cors::{AllowOrigin, CorsLayer},
    limit::RequestBodyLimitLayer,
    timeout::TimeoutLayer,
};

use crate::{Latchkey, api, context::context_middleware, crypto::os_random};

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

async fn security_headers(State(hsts): State<Option<HeaderValue>>, req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    if let Some(v) = hsts {
        h.entry(header::STRICT_TRANSPORT_SECURITY).or_insert(v);
    }
    for (name, value) in [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "same-origin"),
        (HeaderName::from_static("cross-origin-opener-policy"), "same-origin"),
    ] {
        h.entry(name).or_insert(HeaderValue::from_static(value));
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

/// Middleware: one structured log line per request. The query string is
/// never logged (tokens end up in query strings in careless clients), nor
/// any header value.
pub async fn request_log(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let id = request_id(&req);
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let peer = req.extensions().get::<ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip());
    let mut res = next.run(req).await;
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut().insert("x-request-id", v);
    }
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
    res
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    api::ApiError::internal("a request handler panicked").into_response()
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

/// Wraps `routes` (which may contain the application's own routes merged
/// with [`api::router`]) in Latchkey's layers, in the order documented above.
pub fn with_layers(routes: Router, lk: &Latchkey) -> Router {
    let limit = lk.settings().max_body_bytes;
    let router = routes
        .layer(DefaultBodyLimit::max(limit))
        .layer(RequestBodyLimitLayer::new(limit))
        .layer(from_fn_with_state(lk.clone(), context_middleware))
        // Slow bodies count against the request timeout (408); slow headers
        // are cut by the server's header-read timeout before this runs.
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, lk.settings().request_timeout))
        .layer(from_fn(api::json_errors))
        .layer(from_fn_with_state(hsts(lk), security_headers))
        .layer(CatchPanicLayer::custom(panic_response));
    let router = if lk.settings().cors_enabled() {
        router.layer(cors_layer(lk)).layer(from_fn(strip_partial_cors))
    } else {
        router
    };
    router.layer(from_fn(request_log))
}

/// The complete Latchkey application: the API, the trailing-slash fallback
/// and every layer.
pub fn build_router(lk: &Latchkey) -> Router {
    with_layers(api::router(lk.clone()).fallback(api::append_slash_fallback), lk)
}
