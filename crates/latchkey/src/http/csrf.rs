//! The HTTP half of CSRF protection: reads the cookie and headers into
//! [`RequestFacts`], runs [`crate::csrf::check`] on unsafe methods, gives
//! handlers the request's [`CsrfToken`], and writes the `csrftoken` cookie
//! when it changed.

use axum::{
    extract::{Request, State},
    middleware::Next,
    response::{IntoResponse, Response},
};
use http::{HeaderMap, header};

use super::{ApiError, context::RequestContext, cookies};
use crate::{
    Latchkey,
    audit::AuditEvent,
    csrf::{self, CsrfToken, RequestFacts},
};

fn text(headers: &HeaderMap, name: impl header::AsHeaderName) -> Option<&str> {
    headers.get(name).map(|v| v.to_str().unwrap_or("\u{FFFD}"))
}

/// What the CSRF checks read from a request.
pub(crate) fn facts<'a>(ctx: &RequestContext, headers: &'a HeaderMap) -> RequestFacts<'a> {
    RequestFacts {
        own_origin: ctx.origin(),
        secure: ctx.secure,
        origin: text(headers, header::ORIGIN),
        referer: text(headers, header::REFERER),
        sec_fetch_site: headers.get("sec-fetch-site").map(|v| v.to_str().unwrap_or("?")),
        token: text(headers, csrf::HEADER),
    }
}

/// The 403 answer: `{"detail": "CSRF Failed: <reason>", "code": "csrf_failed"}`
/// (or `cross_site_request` for the Fetch Metadata step).
pub(crate) fn refusal(reason: &csrf::CsrfReason) -> ApiError {
    ApiError::forbidden(reason.code(), format!("CSRF Failed: {reason}"))
}

/// Middleware: enforces [`csrf::check`] on unsafe methods, gives handlers a
/// [`CsrfToken`], and writes the `csrftoken` cookie when it changed. For an
/// application's own routes (see `examples/existing_app.rs`); the API's
/// routes run the same two halves inside [`super::layers::ApiLayer`].
pub async fn csrf_middleware(State(lk): State<Latchkey>, mut req: Request, next: Next) -> Response {
    let state = match csrf_begin(&lk, &mut req).await {
        Ok(state) => state,
        Err(refused) => return refused.into_response(),
    };
    let mut response = next.run(req).await;
    csrf_finish(&lk, &state, &mut response);
    response
}

/// The request half of [`csrf_middleware`]: checks unsafe methods and puts
/// the request's [`CsrfToken`] into its extensions.
///
/// # Errors
/// The 403 of a CSRF failure.
pub async fn csrf_begin(lk: &Latchkey, req: &mut Request) -> Result<CsrfToken, ApiError> {
    let cookie = cookies::find(req.headers(), &lk.settings().csrf.cookie.name);
    let state = CsrfToken::from_cookie(cookie.as_deref());
    if !csrf::is_safe(req.method().as_str()) {
        let ctx = req.extensions().get::<RequestContext>().cloned().unwrap_or_else(|| {
            RequestContext::from_parts(lk.settings(), req.headers(), req.uri().authority().map(|a| a.as_str()), None)
        });
        if let Err(reason) = csrf::check(lk.settings(), &facts(&ctx, req.headers()), cookie.as_deref()) {
            tracing::warn!(
                target: "latchkey::security::csrf",
                reason = %reason,
                method = %req.method(),
                path = %req.uri().path(),
                "CSRF rejection"
            );
            lk.metrics().csrf_rejection(reason.label());
            let detail = format!("{} {}: {reason}", req.method(), req.uri().path());
            lk.core()
                .audit(AuditEvent::new(lk.clock().now(), "csrf_rejected").client(ctx.client_ip).detail(detail))
                .await;
            return Err(refusal(&reason));
        }
    }
    req.extensions_mut().insert(state.clone());
    Ok(state)
}

/// The response half of [`csrf_middleware`]: writes the cookie when the
/// secret is new or was used (Django renews it then).
pub fn csrf_finish(lk: &Latchkey, state: &CsrfToken, response: &mut Response) {
    if let Some(secret) = state.pending_cookie() {
        let cookie = cookies::set(&lk.settings().csrf.cookie, &secret, lk.clock().now());
        response.headers_mut().append(header::SET_COOKIE, cookie);
        cookies::vary_cookie(response.headers_mut());
    }
}
