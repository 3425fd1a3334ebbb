//! The ceiling: a bare axum handler answering `{"isAuthenticated": false}`,
//! with no session, CSRF, logging or database: what the machine can do at
//! all for this route.

use axum::{Json, Router, routing::get};
use serde_json::{Value, json};

async fn session() -> Json<Value> {
    Json(json!({ "isAuthenticated": false }))
}

#[tokio::main]
async fn main() {
    let bind = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:8000".into());
    let app = Router::new().route("/api/session/", get(session)).route("/api/whoami/", get(session));
    let listener = tokio::net::TcpListener::bind(&bind).await.expect("bind");
    println!("ceiling listening on http://{bind}/");
    axum::serve(listener, app).await.expect("serve");
}
