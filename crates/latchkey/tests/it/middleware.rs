//! The library path for an existing axum app (README, examples/existing_app.rs):
//! the app's own routes behind `session_middleware` and `csrf_middleware`,
//! merged with `latchkey::http::router` and wrapped in `with_layers`.

use axum::{
    Json, Router,
    middleware::from_fn_with_state,
    routing::{get, post},
};
use http::StatusCode;
use latchkey::{CurrentUser, Session, settings::Preset};
use serde_json::{Value, json};

use crate::helpers::*;

async fn notes(CurrentUser(user): CurrentUser) -> Json<Value> {
    Json(json!({ "owner": user.username }))
}

async fn visit(session: Session) -> Result<Json<Value>, latchkey::ApiError> {
    let n = session.get("visits").await?.and_then(|v| v.as_u64()).unwrap_or(0) + 1;
    session.insert("visits", json!(n)).await?;
    Ok(Json(json!({ "visits": n })))
}

async fn existing_app() -> TestApp {
    let mut app = TestApp::new(Preset::SameOrigin).await;
    let lk = app.lk.clone();
    let own = Router::new()
        .route("/notes/", get(notes).post(notes))
        .route("/visit/", post(visit))
        .route_layer(from_fn_with_state(lk.clone(), latchkey::http::session_middleware))
        .route_layer(from_fn_with_state(lk.clone(), latchkey::http::csrf_middleware))
        .with_state(lk.clone());
    let routes = latchkey::http::router(lk.clone()).merge(own).fallback(latchkey::http::append_slash_fallback);
    app.router = latchkey::http::with_layers(routes, &lk);
    app
}

#[tokio::test]
async fn an_apps_own_routes_get_current_user_from_the_session_middleware() {
    let mut app = existing_app().await;
    let res = app.get("/notes/").await;
    assert_eq!((res.status, res.code()), (StatusCode::FORBIDDEN, "not_authenticated".to_owned()));
    app.login().await;
    let res = app.get("/notes/").await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.json()["owner"], USER);
}

#[tokio::test]
async fn an_apps_own_unsafe_routes_are_csrf_checked_by_the_csrf_middleware() {
    let mut app = existing_app().await;
    app.login().await;
    let res = app.send(http::Method::POST, "/notes/", &[("content-type", "application/json")], Some("{}")).await;
    assert_eq!((res.status, res.code()), (StatusCode::FORBIDDEN, "csrf_failed".to_owned()));
    assert!(res.detail().contains("CSRF token missing"), "{}", res.detail());
    let token = app.csrf_token().await;
    let res = app.post_json("/notes/", &token, "{}").await;
    assert_eq!(res.status, StatusCode::OK, "{:?}", res.json());
}

#[tokio::test]
async fn the_session_middleware_saves_session_data_and_issues_the_cookie() {
    let mut app = existing_app().await;
    let token = app.csrf_token().await;
    let first = app.post_json("/visit/", &token, "{}").await;
    assert_eq!(first.json()["visits"], 1);
    assert!(first.set_cookie("sessionid").is_some(), "an anonymous session gets its cookie");
    assert!(first.vary_cookie());
    let second = app.post_json("/visit/", &token, "{}").await;
    assert_eq!(second.json()["visits"], 2, "the change was saved after the first handler");
}
