//! The sign-in pipeline from the outside: every way in that signs a browser
//! in ends the same way (the device cookie, `last_login`, one `login` audit
//! event naming the way in, one `latchkey_sign_ins_total` count), and HTTP
//! Basic meets the pipeline's refusals. The OpenID Connect way in is
//! checked against a real provider in the server's black-box tests.

use std::sync::Arc;

use http::{Method, StatusCode};
use latchkey::{Clock, mailer::MemoryTransport, settings::Preset};
use serde_json::json;

use crate::{helpers::*, softkey::SoftKey};

/// How many sign-ins the metrics counted for `way`.
async fn sign_ins(app: &TestApp, way: &str) -> f64 {
    sample(&app.lk.render_metrics().await, &format!("latchkey_sign_ins_total{{way=\"{way}\"}}"))
}

/// The clock's time as the stores keep it: whole seconds.
fn now(app: &TestApp) -> time::OffsetDateTime {
    app.clock.now().replace_nanosecond(0).unwrap()
}

/// Asserts that `res` (a sign-in's answer) established a session the way
/// every way in must: the device cookie beside a new session cookie,
/// `last_login` now, one `login` event naming `way`, one count of `way`.
async fn assert_established(app: &TestApp, res: &Res, way: &str) {
    assert_eq!(res.status, StatusCode::OK, "{:?}", res.json());
    let device = res.set_cookie("latchkey_device").unwrap_or_else(|| panic!("{way}: no device cookie in {res:?}"));
    assert!(device.contains("HttpOnly"), "{device}");
    assert!(res.set_cookie("sessionid").is_some(), "{way}: a new session key");
    let user = app.lk.users().by_username(USER).await.unwrap().unwrap();
    assert_eq!(user.last_login, Some(now(app)), "{way}: last_login moved");
    let events = app.lk.audit_store().list(20, None).await.unwrap();
    let logins: Vec<_> =
        events.iter().filter(|e| e.event == "login" && e.at.replace_nanosecond(0).unwrap() == now(app)).collect();
    assert_eq!(logins.len(), 1, "{way}: one login event now: {events:?}");
    assert!(logins[0].detail.starts_with(&format!("via {way};")), "{way}: {}", logins[0].detail);
    assert_eq!(sign_ins(app, way).await, 1.0, "{way}: one sign-in counted");
}

#[tokio::test]
async fn a_password_sign_in_is_established_by_the_pipeline() {
    let mut app = TestApp::new(Preset::SameOrigin).await;
    app.clock.advance(time::Duration::minutes(1));
    let res = app.login().await;
    assert_established(&app, &res, "password").await;
    assert!(app.lk.audit_store().list(1, None).await.unwrap()[0].detail.contains("persistent session"));
}

#[tokio::test]
async fn a_passkey_sign_in_is_established_by_the_pipeline() {
    let mut app = TestApp::new(Preset::Embedded).await;
    app.login().await;
    let mut key = SoftKey::new();
    assert_eq!(crate::webauthn::register(&mut app, &mut key, "Laptop").await.status, StatusCode::CREATED);
    let mut other = app.browser();
    app.clock.advance(time::Duration::minutes(1));
    let res = crate::webauthn::passkey_login(&mut other, &mut key).await;
    assert_established(&app, &res, "passkey").await;
}

#[tokio::test]
async fn the_second_step_is_established_by_the_pipeline_and_the_first_step_is_not() {
    let mut app = TestApp::new(Preset::SameOrigin).await;
    let (secret, _) = crate::mfa::with_totp(&mut app).await;
    let mut other = app.browser();
    app.clock.advance(time::Duration::minutes(1));
    let first = other.login_as(USER, PASSWORD).await;
    assert_eq!((first.status, first.code()), (StatusCode::UNAUTHORIZED, "mfa_required".into()));
    assert!(first.set_cookie("latchkey_device").is_none(), "a first factor alone makes no known device");
    assert_eq!(sign_ins(&app, "password").await, 1.0, "only the set-up's own sign-in counted");
    let res = crate::mfa::second_step(&mut other, &secret.code_at(app.clock.now())).await;
    assert_established(&app, &res, "second_step").await;
}

#[tokio::test]
async fn a_sign_up_that_signs_in_is_established_by_the_pipeline() {
    let settings = settings_for(Preset::SameOrigin, |raw| {
        raw.accounts.signup = Some("open".into());
        raw.accounts.email_verification = Some("none".into());
    });
    let db = latchkey::store::Database::connect(&settings.database_url, true).await.unwrap();
    db.migrate().await.unwrap();
    let mut app = TestApp::on(settings, db.stores());
    app.lk.mailing().set_transport(Arc::new(MemoryTransport::new()));
    app.clock.advance(time::Duration::minutes(1));
    let body = json!({ "username": USER, "email": "demo@example.com", "password": "a sign-up passphrase 8" });
    let res = app.unsafe_json(Method::POST, "/api/signup/", &body.to_string()).await;
    assert_established(&app, &res, "signup").await;
}

#[tokio::test]
async fn re_authentication_refreshes_the_session_through_the_pipeline_without_a_new_login() {
    let mut app = TestApp::new(Preset::SameOrigin).await;
    app.login().await;
    let signed_in_at = now(&app);
    app.clock.advance(time::Duration::minutes(10));
    let old_key = app.session_cookie().unwrap();
    let res = app.unsafe_json(Method::POST, "/api/reauthenticate/", &json!({ "password": PASSWORD }).to_string()).await;
    assert_eq!(res.status, StatusCode::OK, "{:?}", res.json());
    assert_ne!(app.session_cookie().unwrap(), old_key, "a new session key");
    assert!(res.set_cookie("latchkey_device").is_some(), "the password proved again: a known device");
    let user = app.lk.users().by_username(USER).await.unwrap().unwrap();
    assert_eq!(user.last_login, Some(signed_in_at), "re-authenticating is not a new login");
    let last = &app.lk.audit_store().list(1, None).await.unwrap()[0];
    assert_eq!(last.event, "reauthenticated");
    assert!(last.detail.starts_with("via reauthenticate;"), "{}", last.detail);
    assert_eq!(sign_ins(&app, "reauthenticate").await, 1.0);
    let wrong = app.unsafe_json(Method::POST, "/api/reauthenticate/", &json!({ "password": "nope" }).to_string()).await;
    assert_eq!(wrong.code(), "invalid_credentials");
    assert_eq!(sign_ins(&app, "reauthenticate").await, 1.0, "a wrong password counts no sign-in");
}

#[tokio::test]
async fn http_basic_signs_in_one_request_and_stores_nothing() {
    let mut app = TestApp::new(Preset::Rest).await;
    app.clock.advance(time::Duration::minutes(1));
    let auth = format!("Basic {}", base64_encode(&format!("{USER}:{PASSWORD}")));
    let res = app.send(Method::GET, "/api/whoami/", &[("authorization", auth.as_str())], None).await;
    assert_eq!(res.json()["username"], USER);
    assert!(res.set_cookie("latchkey_device").is_none() && res.set_cookie("sessionid").is_none(), "{res:?}");
    assert_eq!(app.lk.users().by_username(USER).await.unwrap().unwrap().last_login, None, "as DRF: no last_login");
    assert!(app.lk.audit_store().list(20, None).await.unwrap().iter().all(|e| e.event != "login"), "no row a request");
    assert_eq!(sign_ins(&app, "basic").await, 1.0, "each request counted");
}

#[tokio::test]
async fn http_basic_meets_the_pipelines_address_check() {
    let settings = settings_for(Preset::Rest, |raw| {
        raw.accounts.email_verification = Some("mandatory".into());
        raw.accounts.frontend_url = Some("https://app.example.com".into());
    });
    let app = TestApp::with_settings(settings).await;
    let mail = MemoryTransport::new();
    app.lk.mailing().set_transport(Arc::new(mail.clone()));
    let user = app.lk.users().by_username(USER).await.unwrap().unwrap();
    app.lk.users().set_email(user.id, "demo@example.com", false).await.unwrap();
    let mut basic = app.browser();
    let auth = format!("Basic {}", base64_encode(&format!("{USER}:{PASSWORD}")));
    let res = basic.send(Method::GET, "/api/whoami/", &[("authorization", auth.as_str())], None).await;
    assert_eq!((res.status, res.code()), (StatusCode::FORBIDDEN, "email_unverified".into()));
    while app.lk.mailing().process_outbox().await > 0 {}
    let sent = mail.sent();
    assert!(
        sent.iter().any(|m| m.to == "demo@example.com"),
        "the pipeline's new link went out, as for a login: {sent:?}"
    );
    assert_eq!(sign_ins(&app, "basic").await, 0.0);
}

#[tokio::test]
async fn every_way_in_is_counted_from_zero() {
    let app = TestApp::new(Preset::SameOrigin).await;
    let text = app.lk.render_metrics().await;
    for way in latchkey::WayIn::ALL {
        let series = format!("latchkey_sign_ins_total{{way=\"{}\"}} 0", way.label());
        assert!(text.contains(&series), "{series} missing:\n{text}");
    }
}
