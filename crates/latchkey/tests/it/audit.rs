//! The audit trail.

use http::{Method, StatusCode};
use latchkey::settings::Preset;

use crate::helpers::*;

#[tokio::test]
async fn logins_failures_throttling_csrf_rejections_and_logouts_are_recorded_without_secrets() {
    let mut app = TestApp::new(Preset::SameOrigin).await;
    app.login_as(USER, "wrong-password-1").await;
    app.login().await;
    let session = app.session_cookie().unwrap();
    app.send(Method::POST, "/api/logout/", &[], None).await; // no token: CSRF rejection
    let token = app.csrf_token().await;
    assert_eq!(app.post_json("/api/logout/", &token, "").await.status, StatusCode::OK);
    for _ in 0..6 {
        app.login_as("ghost", "x").await;
    }
    // Rejections are counted, then written as aggregates by the flush.
    app.lk.core().flush_audit().await;
    let events = app.lk.audit_store().list(100, None).await.unwrap();
    let names: Vec<&str> = events.iter().rev().map(|e| e.event.as_str()).collect();
    for expected in ["login_failed", "login", "csrf_rejected", "logout", "login_throttled"] {
        assert!(names.contains(&expected), "{expected} missing from {names:?}");
    }
    let failed = events.iter().rev().find(|e| e.event == "login_failed").unwrap();
    assert_eq!(failed.username.as_deref(), Some(USER));
    assert!(failed.detail.contains("invalid credentials"));
    let csrf = events.iter().find(|e| e.event == "csrf_rejected").unwrap();
    assert!(csrf.detail.contains("CSRF token missing"), "{}", csrf.detail);
    let all = format!("{events:?}");
    for secret in ["wrong-password-1", PASSWORD, &session, &token] {
        assert!(!all.contains(secret), "audit rows hold a secret: {secret}");
    }
    let only = app.lk.audit_store().list(100, Some("ghost")).await.unwrap();
    assert!(!only.is_empty() && only.iter().all(|e| e.username.as_deref() == Some("ghost")));
}

#[tokio::test]
async fn persistence_can_be_turned_off() {
    let mut app = TestApp::with_settings(settings_for(Preset::SameOrigin, |r| r.audit.persist = Some(false))).await;
    app.login().await;
    assert!(app.lk.audit_store().list(10, None).await.unwrap().is_empty());
}

#[tokio::test]
async fn unauthenticated_rejections_are_written_as_one_counted_row_at_the_flush() {
    let mut app = TestApp::new(Preset::SameOrigin).await;
    for _ in 0..50 {
        assert_eq!(app.send(Method::POST, "/api/logout/", &[], None).await.status, StatusCode::FORBIDDEN);
    }
    assert!(
        app.lk.audit_store().list(100, None).await.unwrap().iter().all(|e| e.event != "csrf_rejected"),
        "nothing is written per rejection"
    );
    assert_eq!(app.lk.core().flush_audit().await, 1);
    let events = app.lk.audit_store().list(100, None).await.unwrap();
    let csrf: Vec<_> = events.iter().filter(|e| e.event == "csrf_rejected").collect();
    assert_eq!(csrf.len(), 1);
    assert_eq!(csrf[0].count, 50);
    assert!(csrf[0].detail.starts_with("50 times"), "{}", csrf[0].detail);
    assert_eq!(app.lk.core().flush_audit().await, 0, "counts start over after a flush");
    app.login().await;
    assert!(app.lk.audit_store().list(1, None).await.unwrap()[0].event == "login", "successes are written at once");
}

#[tokio::test]
async fn openid_connect_callbacks_that_match_no_started_sign_in_are_aggregated_not_written_one_by_one() {
    let mut app = TestApp::new(Preset::Embedded).await;
    for i in 0..50 {
        let path = format!("/api/oidc/corp/callback/?code=c{i}&state=s{i}");
        let res = app.send(Method::GET, &path, &[], None).await;
        assert_eq!(res.status, StatusCode::FOUND);
        assert_eq!(res.headers["location"], "http://localhost/?loginError=state_invalid");
    }
    assert!(
        app.lk.audit_store().list(100, None).await.unwrap().iter().all(|e| !e.event.starts_with("oidc")),
        "nothing is written per refused callback"
    );
    assert_eq!(app.lk.core().flush_audit().await, 1);
    let events = app.lk.audit_store().list(100, None).await.unwrap();
    let refused: Vec<_> = events.iter().filter(|e| e.event == "oidc_callback_refused").collect();
    assert_eq!((refused.len(), refused[0].count), (1, 50), "{refused:?}");
}
