//! The HTTP half of sessions: the cookie in, the [`Session`] into the
//! request's extensions, and `Set-Cookie` / `Vary: Cookie` out.

use axum::{
    extract::{Request, State},
    middleware::Next,
    response::Response,
};
use http::header;

use super::cookies;
use crate::{Latchkey, session::CookieChange, session::Session, settings::CookieSettings};

/// Middleware that gives handlers a [`Session`] and writes its cookie. For
/// an application's own routes (see `examples/existing_app.rs`); the API's
/// routes run the same two halves inside [`super::layers::ApiLayer`].
pub async fn session_middleware(State(lk): State<Latchkey>, mut req: Request, next: Next) -> Response {
    let session = session_begin(&lk, &mut req);
    let mut response = next.run(req).await;
    session_finish(&lk, &session, &mut response).await;
    response
}

/// The request half of [`session_middleware`]: the request's session (not
/// loaded yet), also put into its extensions.
pub fn session_begin(lk: &Latchkey, req: &mut Request) -> Session {
    let cookie = cookies::find(req.headers(), &lk.settings().session.cookie.name);
    let session = Session::new(lk.sessions().clone(), lk.clock().clone(), &lk.settings().session, cookie);
    req.extensions_mut().insert(session.clone());
    session
}

/// The response half of [`session_middleware`]: saves a modified session
/// and writes (or deletes) the cookie, and the device cookie a sign-in
/// issued.
pub async fn session_finish(lk: &Latchkey, session: &Session, response: &mut Response) {
    let committed = session.commit(response.status().is_server_error()).await;
    // Whatever way in signed this browser in, the device cookie goes out
    // here, so no route can forget it.
    if let (Some(value), Some(settings)) = (committed.device_cookie, &lk.settings().device_cookie) {
        response.headers_mut().append(header::SET_COOKIE, cookies::set(settings, &value, lk.clock().now()));
    }
    let change = committed.cookie;
    let cookie = &lk.settings().session.cookie;
    let headers = response.headers_mut();
    match change {
        CookieChange::Untouched => return,
        CookieChange::Keep => {}
        CookieChange::Set { key, persistent } => {
            let now = lk.clock().now();
            let value = if persistent {
                cookies::set(cookie, &key, now)
            } else {
                cookies::set(&CookieSettings { age: None, ..cookie.clone() }, &key, now)
            };
            headers.append(header::SET_COOKIE, value);
        }
        CookieChange::Delete => {
            headers.append(header::SET_COOKIE, cookies::delete(cookie));
        }
    }
    cookies::vary_cookie(headers);
}
