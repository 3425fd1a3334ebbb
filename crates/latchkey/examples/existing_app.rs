//! Adding Latchkey to an existing axum application.
//!
//! The app keeps its own state and routes; Latchkey adds the `/api/` auth
//! endpoints (login, logout, CSRF, sessions, …), its layers, and the
//! `CurrentUser` extractor for the app's protected routes.
//!
//! Run: `cargo run -p latchkey --example existing_app`, then
//! ```text
//! curl -c jar -b jar -si http://127.0.0.1:3000/api/csrf/      # note X-CSRFToken
//! curl -c jar -b jar -si -X POST http://127.0.0.1:3000/api/login/ \
//!      -H 'Content-Type: application/json' -H "X-CSRFToken: $TOKEN" \
//!      -d '{"username": "demo", "password": "correct horse battery staple"}'
//! curl -c jar -b jar -s http://127.0.0.1:3000/notes/          # your route
//! ```

use axum::extract::{FromRef, State};
use axum::{Json, Router, routing::get};
use latchkey::{Acting, CurrentUser, Latchkey, RawPassword, http::ApiLayer, settings::RawSettings};
use serde_json::{Value, json};

/// The application's own state, which carries Latchkey too (its
/// extractors find it through `FromRef`).
#[derive(Clone, FromRef)]
struct AppState {
    latchkey: Latchkey,
    greeting: &'static str,
}

/// A protected route: anonymous callers get 403 JSON.
async fn notes(State(s): State<AppState>, CurrentUser(user): CurrentUser) -> Json<Value> {
    Json(json!({ "greeting": s.greeting, "owner": user.username, "notes": ["buy milk"] }))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let settings = RawSettings { database_url: Some("sqlite::memory:".into()), ..Default::default() }.validate()?;
    let (latchkey, _backends) = Latchkey::open_migrated(settings).await?;
    let password = RawPassword::new("correct horse battery staple");
    latchkey.admin().create_user(&Acting::Cli, "demo", "", &password).await?;

    let state = AppState { latchkey: latchkey.clone(), greeting: "hello" };
    // ApiLayer: CSRF on the app's unsafe methods, and the session CurrentUser reads.
    let routes = Router::new().route("/notes/", get(notes)).route_layer(ApiLayer(latchkey.clone())).with_state(state);
    let app = latchkey::http::app(routes, &latchkey);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>()).await?;
    Ok(())
}
