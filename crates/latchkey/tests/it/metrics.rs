//! Prometheus metrics in process: each event moves its counter, labelled
//! from fixed sets (route templates, reasons), and the states are read when
//! scraped. The listener and its scrape are in the server's black-box tests.

use http::{Method, StatusCode};
use latchkey::settings::Preset;

use crate::helpers::*;

#[tokio::test]
async fn logins_csrf_refusals_and_requests_are_counted_with_bounded_labels() {
    let mut app = TestApp::new(Preset::SameOrigin).await;
    assert_eq!(app.login_as(USER, "wrong").await.code(), "invalid_credentials");
    // The CSRF cookie from before, but no token: refused by the CSRF check.
    let res = app.send(Method::POST, "/api/login/", &[("content-type", "application/json")], Some("{}")).await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    app.login().await;
    let sessions = app.get("/api/sessions/").await.json();
    let id = sessions["sessions"][0]["id"].as_str().unwrap().to_owned();
    app.get(&format!("/api/sessions/{id}x/")).await;
    app.get("/api/no-such-thing/").await;
    let text = app.lk.render_metrics().await;
    assert_eq!(sample(&text, "latchkey_logins_total{via=\"password\",outcome=\"failed\"}"), 1.0, "{text}");
    assert_eq!(sample(&text, "latchkey_logins_total{via=\"password\",outcome=\"ok\"}"), 1.0, "{text}");
    assert_eq!(sample(&text, "latchkey_csrf_rejections_total{reason=\"token_missing\"}"), 1.0, "{text}");
    let requests = |route: &str, method: &str, status: u16| {
        sample(
            &text,
            &format!("latchkey_http_requests_total{{route=\"{route}\",method=\"{method}\",status=\"{status}\"}}"),
        )
    };
    assert_eq!(requests("/api/login/", "POST", 400), 1.0, "{text}");
    assert_eq!(requests("/api/login/", "POST", 403), 1.0, "{text}");
    assert_eq!(requests("/api/login/", "POST", 200), 1.0, "{text}");
    // An id in the path is labelled by its template; unknown paths by one word.
    assert_eq!(requests("/api/sessions/{id}/", "GET", 405), 1.0, "{text}");
    assert_eq!(requests("other", "GET", 404), 1.0, "{text}");
    assert!(!text.contains(&id), "a session id became a label: {text}");
    assert!(sample(&text, "latchkey_http_request_duration_seconds_count{route=\"/api/login/\"}") >= 3.0, "{text}");
    // States read at scrape time: the signed-in session, the hashing pool.
    assert_eq!(sample(&text, "latchkey_sessions_active"), 1.0, "{text}");
    assert!(text.contains("latchkey_hash_queue_depth 0"), "{text}");
    assert!(sample(&text, "latchkey_hash_wait_seconds_count") >= 2.0, "{text}");
    assert!(text.contains("latchkey_outbox_backlog "), "{text}");
}

#[tokio::test]
async fn throttled_logins_are_counted_as_throttled() {
    let mut app = TestApp::new(Preset::Embedded).await;
    // Five failures of one pair, then the sixth and seventh wait (tests/it/throttle.rs).
    for _ in 0..7 {
        app.login_as(USER, "wrong").await;
    }
    let text = app.lk.render_metrics().await;
    assert_eq!(sample(&text, "latchkey_logins_total{via=\"password\",outcome=\"failed\"}"), 5.0, "{text}");
    assert_eq!(sample(&text, "latchkey_logins_total{via=\"password\",outcome=\"throttled\"}"), 2.0, "{text}");
}
