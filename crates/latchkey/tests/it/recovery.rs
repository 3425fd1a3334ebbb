//! Password reset by mail, in-process: the outbox on the test database, the
//! memory transport, the sender run by hand (`process_outbox`).

use std::{sync::Arc, time::Instant};

use http::{Method, StatusCode};
use latchkey::{mailer::MemoryTransport, settings::Preset};
use serde_json::json;

use crate::helpers::*;

const EMAIL: &str = "demo@example.com";
const NEW_PASSWORD: &str = "a reset passphrase 31";
const SAME_ANSWER: &str = "If an account uses that address, we have sent it a link.";

async fn app_with_mail(
    preset: Preset,
    tweak: impl FnOnce(&mut latchkey::settings::RawSettings),
) -> (TestApp, MemoryTransport) {
    let settings = settings_for(preset, |raw| {
        raw.accounts.frontend_url = Some("https://app.example.com".into());
        tweak(raw);
    });
    let db = latchkey::store::Database::connect(&settings.database_url, true).await.unwrap();
    db.migrate().await.unwrap();
    let app = TestApp::on(settings, db.stores());
    latchkey::testing::create_user_with_email(&app.lk, USER, PASSWORD, EMAIL).await;
    let mail = MemoryTransport::new();
    app.lk.mailing().set_transport(Arc::new(mail.clone()));
    (app, mail)
}

async fn request_reset(app: &mut TestApp, email: &str) -> Res {
    app.unsafe_json(Method::POST, "/api/password/reset/", &json!({ "email": email }).to_string()).await
}

/// Runs the sender until nothing is due (a request becomes a mail, then is sent).
async fn deliver(app: &TestApp) {
    while app.lk.mailing().process_outbox().await > 0 {}
}

/// The key of the newest reset mail.
fn last_reset_key(mail: &MemoryTransport) -> String {
    key_from(mail.sent().iter().rev().find(|m| m.subject == "Reset your password").expect("a reset mail"))
}

fn key_from(mail: &latchkey::mail::Mail) -> String {
    let at = mail.body.find("?key=").expect("a link in the mail") + 5;
    mail.body[at..at + 32].to_owned()
}

async fn confirm(app: &mut TestApp, key: &str, password: &str) -> Res {
    let body = json!({ "key": key, "newPassword": password }).to_string();
    app.unsafe_json(Method::POST, "/api/password/reset/confirm/", &body).await
}

#[tokio::test]
async fn a_reset_mails_a_link_to_the_configured_frontend_and_the_key_sets_the_password_once() {
    for preset in Preset::ALL {
        let (mut app, mail) = app_with_mail(preset, |_| {}).await;
        let mut other = app.browser();
        other.login().await;
        let body = json!({ "email": EMAIL }).to_string();
        let res =
            app.send(Method::POST, "/api/password/reset/", &[("content-type", "application/json")], Some(&body)).await;
        assert_eq!(res.status, StatusCode::FORBIDDEN, "{preset}: CSRF applies");
        // The link is built from accounts.frontend_url, never from the request's Host (localhost:8000 here).
        let res = request_reset(&mut app, "DEMO@Example.com").await;
        assert_eq!((res.status, res.json()["detail"].as_str()), (StatusCode::OK, Some(SAME_ANSWER)), "{preset}");
        assert!(mail.sent().is_empty(), "the request never waits for mail");
        deliver(&app).await;
        let sent = mail.sent();
        assert_eq!(sent.len(), 1, "{preset}");
        assert_eq!(sent[0].to, EMAIL);
        assert!(sent[0].body.contains("https://app.example.com/reset-password?key="), "{}", sent[0].body);
        let key = key_from(&sent[0]);

        let weak = confirm(&mut app, &key, "12345678").await;
        assert_eq!((weak.status, weak.code()), (StatusCode::BAD_REQUEST, "password_invalid".into()));
        assert!(!weak.json()["errors"].as_array().unwrap().is_empty());
        let res = confirm(&mut app, &key, NEW_PASSWORD).await;
        assert_eq!(res.status, StatusCode::OK, "{preset}: a refused password leaves the key usable: {:?}", res.json());
        assert!(res.set_cookie("sessionid").is_none_or(|c| c.contains("Max-Age=0")), "nobody is signed in");
        deliver(&app).await;
        let notice = mail.sent().last().cloned().unwrap();
        assert_eq!(
            (notice.to.as_str(), notice.subject.as_str()),
            (EMAIL, "Your password was changed"),
            "{preset}: the owner is told"
        );
        let again = confirm(&mut app, &key, "another passphrase 77").await;
        assert_eq!((again.status, again.code()), (StatusCode::BAD_REQUEST, "invalid_key".into()), "single use");

        assert_eq!(
            other.get("/api/whoami/").await.json()["username"],
            serde_json::Value::Null,
            "{preset}: sessions ended"
        );
        let mut fresh = app.browser();
        assert_eq!(fresh.login_as(USER, PASSWORD).await.code(), "invalid_credentials", "the old password fails");
        assert_eq!(fresh.login_as(USER, NEW_PASSWORD).await.status, StatusCode::OK, "the new one works");
    }
}

#[tokio::test]
async fn unknown_addresses_get_the_same_answer_and_no_mail() {
    let (mut app, mail) = app_with_mail(Preset::SameOrigin, |_| {}).await;
    let known = request_reset(&mut app, EMAIL).await;
    let unknown = request_reset(&mut app, "nobody@example.com").await;
    assert_eq!((known.status, known.json()), (unknown.status, unknown.json()));
    deliver(&app).await;
    assert_eq!(mail.sent().len(), 1, "only the existing account gets mail");
    let bad = request_reset(&mut app, "not an address").await;
    assert_eq!((bad.status, bad.code()), (StatusCode::BAD_REQUEST, "invalid_email".into()));
    let missing = app.unsafe_json(Method::POST, "/api/password/reset/", "{}").await;
    assert_eq!((missing.status, missing.code()), (StatusCode::BAD_REQUEST, "missing_fields".into()));
}

#[tokio::test]
async fn an_address_shared_by_two_accounts_gets_one_mail_per_account_and_inactive_ones_none() {
    let (mut app, mail) = app_with_mail(Preset::SameOrigin, |_| {}).await;
    let second =
        latchkey::testing::create_user_with_email(&app.lk, "demo-two", "second passphrase 1", "Demo@Example.com").await;
    let third = latchkey::testing::create_user_with_email(&app.lk, "demo-off", "third passphrase 1", EMAIL).await;
    app.lk.users().set_active(third.id, false).await.unwrap();
    request_reset(&mut app, EMAIL).await;
    deliver(&app).await;
    let sent = mail.sent();
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert!(
        sent.iter().any(|m| m.body.contains("Hello demo,")) && sent.iter().any(|m| m.body.contains("Hello demo-two,"))
    );
    assert_eq!(second.username, "demo-two");
}

#[tokio::test]
async fn a_key_dies_when_the_user_signs_in_or_the_password_changes_or_it_expires() {
    let (mut app, mail) = app_with_mail(Preset::SameOrigin, |_| {}).await;
    // The user signs in after the key was issued.
    request_reset(&mut app, EMAIL).await;
    deliver(&app).await;
    let key = last_reset_key(&mail);
    app.clock.advance(time::Duration::seconds(2));
    let mut b = app.browser();
    b.login().await;
    assert_eq!(confirm(&mut app, &key, NEW_PASSWORD).await.code(), "invalid_key", "signed in since");

    // The password changes after the key was issued.
    app.clock.advance(time::Duration::seconds(2));
    request_reset(&mut app, EMAIL).await;
    deliver(&app).await;
    let key = last_reset_key(&mail);
    let body = json!({"currentPassword": PASSWORD, "newPassword": "changed meanwhile 5"}).to_string();
    assert_eq!(b.unsafe_json(Method::POST, "/api/password/change/", &body).await.status, StatusCode::OK);
    assert_eq!(confirm(&mut app, &key, NEW_PASSWORD).await.code(), "invalid_key", "password changed since");

    // The key outlives its hour.
    request_reset(&mut app, EMAIL).await;
    deliver(&app).await;
    let key = last_reset_key(&mail);
    app.clock.advance(time::Duration::hours(1));
    assert_eq!(confirm(&mut app, &key, NEW_PASSWORD).await.code(), "invalid_key", "expired after an hour");
    for junk in ["", "short", &"x".repeat(32), &"é".repeat(16), &"a".repeat(5000)] {
        let res = confirm(&mut app, junk, NEW_PASSWORD).await;
        assert_eq!((res.status, res.code()), (StatusCode::BAD_REQUEST, "invalid_key".into()), "{junk}");
    }
}

#[tokio::test]
async fn reset_requests_are_throttled_per_address_and_per_client() {
    let (mut app, _) = app_with_mail(Preset::SameOrigin, |_| {}).await;
    for _ in 0..5 {
        assert_eq!(request_reset(&mut app, "victim@example.com").await.status, StatusCode::OK);
    }
    let res = request_reset(&mut app, "victim@example.com").await;
    assert_eq!((res.status, res.code()), (StatusCode::TOO_MANY_REQUESTS, "throttled".into()));
    assert!(res.header("retry-after").is_some_and(|s| s.parse::<u64>().unwrap() > 3000));
    // Another address from the same client: allowed until the client's 20 per hour.
    for i in 0..14 {
        assert_eq!(request_reset(&mut app, &format!("x{i}@example.com")).await.status, StatusCode::OK, "{i}");
    }
    assert_eq!(
        request_reset(&mut app, "y@example.com").await.status,
        StatusCode::TOO_MANY_REQUESTS,
        "the client's limit"
    );
    app.clock.advance(time::Duration::hours(1));
    assert_eq!(request_reset(&mut app, "victim@example.com").await.status, StatusCode::OK, "the window ends");
}

/// The time of one reset request.
async fn timed(app: &mut TestApp, address: &str) -> std::time::Duration {
    let t = Instant::now();
    assert_eq!(request_reset(app, address).await.status, StatusCode::OK);
    t.elapsed()
}

fn median(mut v: Vec<std::time::Duration>) -> std::time::Duration {
    v.sort();
    v[v.len() / 2]
}

/// Both paths do the same store work (count, enqueue): their times match.
#[tokio::test]
async fn existing_and_unknown_addresses_take_the_same_time() {
    let (mut app, _) = app_with_mail(Preset::SameOrigin, |raw| {
        raw.throttle.enabled = Some(false);
        raw.accounts.password_reset_per_address = Some(1000);
        raw.accounts.password_reset_per_client = Some(1000);
    })
    .await;
    for i in 0..50 {
        latchkey::testing::create_user_with_email(
            &app.lk,
            &format!("user{i}"),
            "some passphrase 9",
            &format!("user{i}@example.com"),
        )
        .await;
    }
    for i in 0..20 {
        timed(&mut app, &format!("warm{i}@example.com")).await;
    }
    // Interleaved, so whatever else the machine does weighs on both series alike.
    let (mut existing, mut unknown) = (Vec::new(), Vec::new());
    for i in 0..50 {
        existing.push(timed(&mut app, &format!("user{i}@example.com")).await);
        unknown.push(timed(&mut app, &format!("ghost{i}@example.com")).await);
    }
    let (existing, unknown) = (median(existing), median(unknown));
    let ratio = existing.as_secs_f64() / unknown.as_secs_f64();
    eprintln!("reset request medians: existing {existing:?}, unknown {unknown:?}, ratio {ratio:.3}");
    assert!((0.8..=1.25).contains(&ratio), "median existing {existing:?} vs unknown {unknown:?} (ratio {ratio:.2})");
}

#[tokio::test]
async fn a_completed_reset_confirms_the_address_and_signs_nobody_in() {
    let (mut app, mail) = app_with_mail(Preset::SameOrigin, |_| {}).await;
    let user = app.lk.users().by_username(USER).await.unwrap().unwrap();
    app.lk.users().set_email_verified(user.id, false).await.unwrap();
    request_reset(&mut app, EMAIL).await;
    deliver(&app).await;
    let res = confirm(&mut app, &key_from(&mail.sent()[0]), NEW_PASSWORD).await;
    assert_eq!(res.status, StatusCode::OK);
    assert!(app.lk.users().by_id(user.id).await.unwrap().unwrap().email_verified, "the mail reached its owner");
    assert!(app.get("/api/whoami/").await.json()["username"].is_null(), "nobody signed in");
}

#[tokio::test]
async fn the_file_backend_writes_one_eml_per_message() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("mail");
    let settings = settings_for(Preset::SameOrigin, |raw| {
        raw.email.backend = Some("file".into());
        raw.email.file_dir = Some(out.display().to_string());
    });
    let db = latchkey::store::Database::connect(&settings.database_url, true).await.unwrap();
    db.migrate().await.unwrap();
    let mut app = TestApp::on(settings, db.stores());
    latchkey::testing::create_user_with_email(&app.lk, USER, PASSWORD, EMAIL).await;
    request_reset(&mut app, EMAIL).await;
    deliver(&app).await;
    let files: Vec<_> = std::fs::read_dir(&out).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(files[0].extension().and_then(|e| e.to_str()), Some("eml"));
    let text = std::fs::read_to_string(&files[0]).unwrap();
    assert!(text.contains("Subject: Reset your password") && text.contains(&format!("To: {EMAIL}")), "{text}");
}

#[tokio::test]
async fn a_reset_key_dies_when_the_address_changes() {
    let (mut app, mail) = app_with_mail(Preset::SameOrigin, |_| {}).await;
    request_reset(&mut app, EMAIL).await;
    deliver(&app).await;
    let key = last_reset_key(&mail);
    let user = app.lk.users().by_username(USER).await.unwrap().unwrap();
    app.lk.users().set_email(user.id, "elsewhere@example.com", true).await.unwrap();
    assert_eq!(confirm(&mut app, &key, NEW_PASSWORD).await.code(), "invalid_key", "the address changed since");
}
