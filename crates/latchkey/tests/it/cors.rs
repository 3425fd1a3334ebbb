//! The cross-origin preset's CORS behaviour.

use http::{Method, StatusCode};
use latchkey::settings::Preset;

use crate::helpers::*;

const SPA: &str = "http://localhost:5173";

#[tokio::test]
async fn an_allowed_origin_gets_credentials_and_the_csrf_header_exposed() {
    let mut app = TestApp::new(Preset::CrossOrigin).await;
    let res = app.send(Method::GET, "/api/csrf/", &[("origin", SPA)], None).await;
    assert_eq!(res.header("access-control-allow-origin"), Some(SPA));
    assert_eq!(res.header("access-control-allow-credentials"), Some("true"));
    let exposed = res.header("access-control-expose-headers").unwrap().to_ascii_lowercase();
    assert!(exposed.contains("x-csrftoken"), "{exposed}");
}

#[tokio::test]
async fn preflights_from_an_allowed_origin_succeed() {
    let mut app = TestApp::new(Preset::CrossOrigin).await;
    let res = app
        .send(
            Method::OPTIONS,
            "/api/login/",
            &[
                ("origin", SPA),
                ("access-control-request-method", "POST"),
                ("access-control-request-headers", "content-type,x-csrftoken"),
            ],
            None,
        )
        .await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.header("access-control-allow-origin"), Some(SPA));
    assert_eq!(res.header("access-control-allow-credentials"), Some("true"));
    let allowed = res.header("access-control-allow-headers").unwrap().to_ascii_lowercase();
    assert!(allowed.contains("x-csrftoken") && allowed.contains("content-type"), "{allowed}");
    assert!(res.header("access-control-allow-methods").unwrap().contains("POST"));
    assert_eq!(res.header("access-control-max-age"), Some("86400"));
}

#[tokio::test]
async fn a_disallowed_origin_gets_no_cors_headers_at_all() {
    let mut app = TestApp::new(Preset::CrossOrigin).await;
    for (m, extra) in [(Method::GET, None), (Method::OPTIONS, Some(("access-control-request-method", "POST")))] {
        let mut headers = vec![("origin", "http://127.0.0.1:5173")];
        headers.extend(extra);
        let res = app.send(m, "/api/login/", &headers, None).await;
        assert!(res.headers.keys().all(|k| !k.as_str().starts_with("access-control-")), "{:?}", res.headers);
    }
}

#[tokio::test]
async fn cors_headers_are_on_errors_and_redirects_too() {
    let mut app = TestApp::new(Preset::CrossOrigin).await;
    let csrf_fail = app.send(Method::POST, "/api/login/", &[("origin", SPA)], Some("{}")).await;
    assert_eq!(csrf_fail.status, StatusCode::FORBIDDEN);
    let redirect = app.send(Method::GET, "/api/logout", &[("origin", SPA)], None).await;
    assert_eq!(redirect.status, StatusCode::MOVED_PERMANENTLY);
    let missing = app.send(Method::GET, "/api/missing/", &[("origin", SPA)], None).await;
    let method = app.send(Method::GET, "/api/login/", &[("origin", SPA)], None).await;
    for res in [csrf_fail, redirect, missing, method] {
        assert_eq!(res.header("access-control-allow-origin"), Some(SPA), "{}", res.status);
    }
}

#[tokio::test]
async fn the_spa_origin_can_log_in_through_cors_with_the_exposed_token() {
    let mut app = TestApp::new(Preset::CrossOrigin).await;
    let res = app.send(Method::GET, "/api/csrf/", &[("origin", SPA)], None).await;
    let token = res.header("x-csrftoken").unwrap().to_owned();
    let body = serde_json::json!({"username": USER, "password": PASSWORD}).to_string();
    let res = app
        .send(
            Method::POST,
            "/api/login/",
            &[("origin", SPA), ("content-type", "application/json"), ("x-csrftoken", &token)],
            Some(&body),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK);
    let res = app
        .send(
            Method::POST,
            "/api/login/",
            &[("origin", "http://127.0.0.1:5173"), ("content-type", "application/json"), ("x-csrftoken", &token)],
            Some(&body),
        )
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN, "CSRF trust and CORS use the same list");
}

#[tokio::test]
async fn same_origin_presets_send_no_cors_headers() {
    let mut app = TestApp::new(Preset::SameOrigin).await;
    let res = app.send(Method::GET, "/api/csrf/", &[("origin", SPA)], None).await;
    assert!(res.header("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn a_panicking_handler_answers_a_json_500_that_still_carries_cors_headers() {
    let mut app = TestApp::new(Preset::CrossOrigin).await;
    app.router = latchkey::http::with_layers(panicking_routes(), &app.lk);
    let res = app.send(Method::GET, "/api/boom/", &[("origin", SPA)], None).await;
    assert_eq!(res.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(res.json(), serde_json::json!({"detail": "Internal server error.", "code": "server_error"}));
    assert_eq!(res.header("access-control-allow-origin"), Some(SPA));
}

#[tokio::test]
async fn a_handler_that_panics_in_any_preset_answers_a_json_500_with_the_security_headers() {
    for preset in [Preset::Embedded, Preset::SameOrigin, Preset::Rest] {
        let mut app = TestApp::new(preset).await;
        app.router = latchkey::http::with_layers(panicking_routes(), &app.lk);
        for path in ["/api/boom/", "/api/sync-boom/"] {
            let res = app.get(path).await;
            assert_eq!(res.status, StatusCode::INTERNAL_SERVER_ERROR, "{preset:?} {path}");
            assert_eq!(res.json(), serde_json::json!({"detail": "Internal server error.", "code": "server_error"}));
            assert_eq!(res.header("x-content-type-options"), Some("nosniff"));
            assert_eq!(res.header("x-frame-options"), Some("DENY"));
            assert!(res.header("x-request-id").is_some());
        }
    }
}

fn panics_before_returning_a_future(
    _: axum::extract::Request,
) -> std::future::Ready<Result<axum::response::Response, std::convert::Infallible>> {
    panic!("service bug")
}

/// `/api/boom/` panics inside its future, `/api/sync-boom/` before returning one.
fn panicking_routes() -> axum::Router {
    axum::Router::new()
        .route(
            "/api/boom/",
            axum::routing::get(|| async {
                if true {
                    panic!("handler bug");
                }
                "unreachable"
            }),
        )
        .route_service("/api/sync-boom/", tower::service_fn(panics_before_returning_a_future))
}
