//! Adding Latchkey to an existing axum application.
//!
//! The app has its own state and its own routes; Latchkey contributes the
//! `/api/` auth endpoints, the session and CSRF layers, and the
//! `CurrentUser` extractor for the app's protected routes.
//!
//! Run: `cargo run -p latchkey --example existing_app`, then
//! ```text
//! curl -c jar -b jar -si http://127.0.0.1:3000/api/csrf/      # note X-CSRFToken
//! curl -c jar -b jar -si -X POST http://127.0.0.1:3000/api/login/ \
//!      -H 'Content-Type: application/json' -H "X-CSRFToken: $TOKEN" \
//!      -d '{"username": "demo", "password": "demo-password"}'
//! curl -c jar -b jar -s http://127.0.0.1:3000/notes/          # your route
//! ```

use std::sync::Arc;

use axum::{
    Json, Router,
    extract::{FromRef, State},
    middleware::from_fn_with_state,
    routing::get,
};
use latchkey::{
    CurrentUser, Latchkey, RawPassword, SystemClock,
    settings::{Preset, RawSettings},
    store::Database,
    users::{Email, NewUser, Username},
};
use secrecy::SecretString;
use serde_json::{Value, json};

/// The application's own state, which also carries Latchkey.
#[derive(Clone)]
struct AppState {
    latchkey: Latchkey,
    greeting: &'static str,
}

// Latchkey's extractors find their state through `FromRef`.
impl FromRef<AppState> for Latchkey {
    fn from_ref(s: &AppState) -> Latchkey {
        s.latchkey.clone()
    }
}

/// A protected route of the application: anonymous callers get 403 JSON.
async fn notes(State(state): State<AppState>, CurrentUser(user): CurrentUser) -> Json<Value> {
    Json(json!({ "greeting": state.greeting, "owner": user.username, "notes": ["buy milk"] }))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let settings = RawSettings {
        preset: Some(Preset::SameOrigin.as_str().into()),
        database_url: Some("sqlite::memory:".into()),
        ..Default::default()
    }
    .validate()?;

    let db = Database::connect(&settings.database_url, true).await?;
    db.migrate().await?;
    let key = SecretString::from(db.stored_secret_key().await?.expect("migrate stores a key"));
    let latchkey = Latchkey::new(settings, db.stores(), Arc::new(SystemClock), key)?;

    let hash = latchkey.hasher().hash(&RawPassword::new("demo-password")).await?;
    let user = NewUser {
        username: Username::parse("demo")?,
        email: Email::default(),
        email_verified: false,
        password_hash: hash,
        is_staff: false,
        is_superuser: false,
    };
    latchkey.users().create(&user, latchkey.clock().now()).await?;

    let state = AppState { latchkey: latchkey.clone(), greeting: "hello" };
    // The app's routes need the session and CSRF middleware too, so their
    // unsafe methods are CSRF-protected and CurrentUser can read the session.
    let app_routes = Router::new()
        .route("/notes/", get(notes))
        .route_layer(from_fn_with_state(latchkey.clone(), latchkey::http::session_middleware))
        .route_layer(from_fn_with_state(latchkey.clone(), latchkey::http::csrf_middleware))
        .with_state(state);
    let routes =
        latchkey::http::router(latchkey.clone()).merge(app_routes).fallback(latchkey::http::append_slash_fallback);
    let app = latchkey::http::with_layers(routes, &latchkey);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>()).await?;
    Ok(())
}
