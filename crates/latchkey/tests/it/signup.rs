//! Sign-up and email verification, in-process (memory transport, the
//! outbox sender run by hand).

use std::sync::Arc;

use http::{Method, StatusCode};
use latchkey::{mailer::MemoryTransport, settings::Preset};
use serde_json::{Value, json};

use crate::helpers::*;

const GOOD: &str = "a sign-up passphrase 8";

async fn app(preset: Preset, signup: &str, verification: &str) -> (TestApp, MemoryTransport) {
    let (signup, verification) = (signup.to_owned(), verification.to_owned());
    let settings = settings_for(preset, move |raw| {
        raw.accounts.signup = Some(signup);
        raw.accounts.email_verification = Some(verification);
        raw.accounts.frontend_url = Some("https://app.example.com".into());
    });
    let app = TestApp::with_settings(settings).await;
    let mail = MemoryTransport::new();
    app.lk.mailing().set_transport(Arc::new(mail.clone()));
    (app, mail)
}

async fn signup(app: &mut TestApp, username: &str, email: &str, password: &str) -> Res {
    let body = json!({ "username": username, "email": email, "password": password }).to_string();
    app.unsafe_json(Method::POST, "/api/signup/", &body).await
}

async fn deliver(app: &TestApp) {
    while app.lk.mailing().process_outbox().await > 0 {}
}

fn key_in(body: &str, path: &str) -> String {
    let marker = format!("https://app.example.com{path}?key=");
    let at = body.find(&marker).unwrap_or_else(|| panic!("no {marker} in {body}")) + marker.len();
    body[at..at + 32].to_owned()
}

async fn verify(app: &mut TestApp, key: &str) -> Res {
    app.unsafe_json(Method::POST, "/api/email/verify/", &json!({ "key": key }).to_string()).await
}

#[tokio::test]
async fn sign_up_is_closed_by_default_and_absent_then() {
    for preset in Preset::ALL {
        let mut a = TestApp::new(preset).await;
        let res = signup(&mut a, "newbie", "new@example.com", GOOD).await;
        assert_eq!((res.status, res.code()), (StatusCode::NOT_FOUND, "not_found".into()), "{preset}");
        // Every preset says so, the rest preset in its anonymous 403 too.
        let s = a.get("/api/session/").await.json();
        assert_eq!(
            (s["signupOpen"].as_bool(), s["emailVerification"].as_str()),
            (Some(false), Some("optional")),
            "{preset}"
        );
    }
}

#[tokio::test]
async fn with_optional_verification_sign_up_signs_in_and_the_mailed_link_verifies() {
    for preset in Preset::ALL {
        let (mut a, mail) = app(preset, "open", "optional").await;
        let res = signup(&mut a, "newbie", "New@Example.com", GOOD).await;
        assert_eq!(res.status, StatusCode::OK, "{preset}: {:?}", res.json());
        assert_eq!(a.get("/api/whoami/").await.json()["username"], "newbie", "{preset}: signed in");
        let s = a.get("/api/session/").await.json();
        assert_eq!((s["email"].as_str(), s["emailVerified"].as_bool()), (Some("New@example.com"), Some(false)));
        assert!(s["authenticatedAt"].is_string(), "the login after sign-up stamps the time");
        deliver(&a).await;
        let sent = mail.sent();
        assert_eq!(sent.len(), 1, "{preset}");
        assert_eq!(sent[0].subject, "Confirm your email address");
        let key = key_in(&sent[0].body, "/verify-email");
        let res = verify(&mut a, &key).await;
        assert_eq!(res.status, StatusCode::OK, "{preset}: {:?}", res.json());
        assert_eq!(res.json()["email"], "New@example.com", "the owner's browser sees the address");
        assert_eq!(a.get("/api/session/").await.json()["emailVerified"], true);
        let again = verify(&mut a, &key).await;
        assert_eq!((again.status, again.code()), (StatusCode::BAD_REQUEST, "invalid_key".into()));
    }
}

#[tokio::test]
async fn sign_up_explains_every_refusal() {
    let (mut a, _) = app(Preset::SameOrigin, "open", "optional").await;
    assert_eq!(signup(&mut a, "first", "first@example.com", GOOD).await.status, StatusCode::OK);
    let mut b = a.browser();
    for (username, email, password, code) in [
        ("first", "other@example.com", GOOD, "username_taken"),
        ("second", "FIRST@example.com", GOOD, "email_taken"),
        ("bad name", "x@example.com", GOOD, "invalid_username"),
        ("third", "not-an-address", GOOD, "invalid_email"),
        ("third", "", GOOD, "invalid_email"),
        ("third", "t@example.com", "12345678", "password_invalid"),
    ] {
        let res = signup(&mut b, username, email, password).await;
        assert_eq!((res.status, res.code()), (StatusCode::BAD_REQUEST, code.to_owned()), "{username} {email}");
    }
    let missing = b.unsafe_json(Method::POST, "/api/signup/", r#"{"username": "x"}"#).await;
    assert_eq!((missing.status, missing.code()), (StatusCode::BAD_REQUEST, "missing_fields".into()));
    assert!(b.get("/api/whoami/").await.json()["username"].is_null(), "nobody signed in");
}

#[tokio::test]
async fn with_mandatory_verification_a_taken_address_gets_the_same_answer_and_its_owner_a_notice() {
    let (mut a, mail) = app(Preset::SameOrigin, "open", "mandatory").await;
    let fresh = signup(&mut a, "newbie", "new@example.com", GOOD).await;
    assert_eq!(fresh.status, StatusCode::OK);
    assert_eq!(fresh.json()["detail"], "Check your email to finish signing up.");
    assert!(a.get("/api/whoami/").await.json()["username"].is_null(), "not signed in before verifying");
    let mut b = a.browser();
    let taken = signup(&mut b, "copycat", "NEW@example.com", GOOD).await;
    assert_eq!((taken.status, taken.json()), (fresh.status, fresh.json()), "indistinguishable");
    deliver(&a).await;
    let sent = mail.sent();
    assert_eq!(sent.len(), 2, "{sent:?}");
    let notice = sent.iter().find(|m| m.subject.starts_with("Someone tried")).expect("the owner is told");
    assert_eq!(notice.to, "NEW@example.com");
    assert!(notice.body.contains("https://app.example.com/forgot-password"));
    let link = sent.iter().find(|m| m.subject == "Confirm your email address").unwrap();

    // A correct password before verifying: 403 and a new link; a wrong one: the usual 400.
    let res = b.login_as("newbie", GOOD).await;
    assert_eq!((res.status, res.code()), (StatusCode::FORBIDDEN, "email_unverified".into()));
    assert_eq!(b.login_as("newbie", "wrong password").await.code(), "invalid_credentials");
    deliver(&a).await;
    assert_eq!(mail.sent().len(), 3, "the refused login mailed a new link");
    let key = key_in(&link.body, "/verify-email");
    assert_eq!(verify(&mut b, &key).await.status, StatusCode::OK);
    assert_eq!(b.login_as("newbie", GOOD).await.status, StatusCode::OK, "verified: signed in");
    assert!(
        b.unsafe_json(Method::POST, "/api/email/verify/", &json!({"key": key}).to_string()).await.code()
            == "invalid_key"
    );
}

#[tokio::test]
async fn mandatory_verification_exempts_operators_addresses_and_users_without_one_and_binds_http_basic() {
    let (mut a, _) = app(Preset::Rest, "open", "mandatory").await;
    latchkey::testing::create_user_with_email(&a.lk, "operator-made", "operator passphrase 1", "op@example.com").await;
    assert_eq!(
        a.login_as("operator-made", "operator passphrase 1").await.status,
        StatusCode::OK,
        "verified by the operator"
    );
    assert_eq!(a.browser().login_as(USER, PASSWORD).await.status, StatusCode::OK, "no address: exempt");
    assert_eq!(signup(&mut a.browser(), "newbie", "new@example.com", GOOD).await.status, StatusCode::OK);
    let basic = format!("Basic {}", {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(format!("newbie:{GOOD}"))
    });
    let res = a.browser().send(Method::GET, "/api/whoami/", &[("authorization", basic.as_str())], None).await;
    assert_eq!((res.status, res.code()), (StatusCode::FORBIDDEN, "email_unverified".into()), "Basic cannot bypass it");
}

#[tokio::test]
async fn a_resend_request_gets_one_answer_and_mails_only_unverified_accounts() {
    let (mut a, mail) = app(Preset::SameOrigin, "open", "optional").await;
    latchkey::testing::create_user_with_email(&a.lk, "verified", "operator passphrase 1", "done@example.com").await;
    assert_eq!(signup(&mut a.browser(), "newbie", "new@example.com", GOOD).await.status, StatusCode::OK);
    deliver(&a).await;
    let before = mail.sent().len();
    let mut answers: Vec<(StatusCode, Value)> = Vec::new();
    for email in ["new@example.com", "done@example.com", "nobody@example.com"] {
        let res =
            a.unsafe_json(Method::POST, "/api/email/verify/resend/", &json!({ "email": email }).to_string()).await;
        answers.push((res.status, res.json()));
    }
    assert!(answers.windows(2).all(|w| w[0] == w[1]), "{answers:?}");
    deliver(&a).await;
    let sent = mail.sent();
    assert_eq!(sent.len() - before, 1, "only the unverified account gets a link");
    assert_eq!(sent.last().unwrap().to, "new@example.com");
    for _ in 0..4 {
        a.unsafe_json(Method::POST, "/api/email/verify/resend/", r#"{"email": "new@example.com"}"#).await;
    }
    let res = a.unsafe_json(Method::POST, "/api/email/verify/resend/", r#"{"email": "new@example.com"}"#).await;
    assert_eq!((res.status, res.code()), (StatusCode::TOO_MANY_REQUESTS, "throttled".into()));
}

#[tokio::test]
async fn an_email_change_needs_a_recent_password_and_happens_when_the_new_address_is_proved() {
    for preset in Preset::ALL {
        let (mut a, mail) = app(preset, "closed", "optional").await;
        latchkey::testing::create_user_with_email(&a.lk, "alice", "alice passphrase 1", "alice@example.com").await;
        latchkey::testing::create_user_with_email(&a.lk, "bob", "bob passphrase 1", "bob@example.com").await;
        assert_eq!(a.login_as("alice", "alice passphrase 1").await.status, StatusCode::OK);
        let change = |email: &str| json!({ "email": email }).to_string();
        a.clock.advance(time::Duration::minutes(6));
        let res = a.unsafe_json(Method::POST, "/api/email/change/", &change("new@example.com")).await;
        assert_eq!((res.status, res.code()), (StatusCode::FORBIDDEN, "reauthentication_required".into()), "{preset}");
        let res = a.unsafe_json(Method::POST, "/api/reauthenticate/", r#"{"password": "alice passphrase 1"}"#).await;
        assert_eq!(res.status, StatusCode::OK);
        let same = a.unsafe_json(Method::POST, "/api/email/change/", &change("ALICE@example.com")).await;
        assert_eq!((same.status, same.code()), (StatusCode::BAD_REQUEST, "email_unchanged".into()));
        let fresh = a.unsafe_json(Method::POST, "/api/email/change/", &change("new@example.com")).await;
        let taken = a.unsafe_json(Method::POST, "/api/email/change/", &change("BOB@example.com")).await;
        assert_eq!(fresh.status, StatusCode::OK, "{preset}: {:?}", fresh.json());
        assert_eq!((fresh.status, fresh.json()), (taken.status, taken.json()), "a taken address is not revealed");
        deliver(&a).await;
        let sent = mail.sent();
        let to: Vec<&str> = sent.iter().map(|m| m.to.as_str()).collect();
        assert!(
            to.contains(&"new@example.com") && !to.iter().any(|t| t.eq_ignore_ascii_case("bob@example.com")),
            "{to:?}"
        );
        assert_eq!(
            sent.iter().filter(|m| m.to == "alice@example.com").count(),
            2,
            "the old address is told, each time"
        );
        assert_eq!(a.get("/api/session/").await.json()["email"], "alice@example.com", "unchanged until proved");
        let link = sent.iter().find(|m| m.to == "new@example.com").unwrap();
        let res = verify(&mut a, &key_in(&link.body, "/verify-email")).await;
        assert_eq!(res.status, StatusCode::OK, "{preset}: {:?}", res.json());
        let s = a.get("/api/session/").await.json();
        assert_eq!((s["email"].as_str(), s["emailVerified"].as_bool()), (Some("new@example.com"), Some(true)));
    }
}

#[tokio::test]
async fn sign_ups_are_throttled_per_address_and_per_client() {
    let (a, _) = app(Preset::SameOrigin, "open", "optional").await;
    // The first creates the account; the next four are refused as taken, and still count.
    for i in 0..5 {
        let res = signup(&mut a.browser(), &format!("user{i}"), "same@example.com", GOOD).await;
        assert!(res.status == StatusCode::OK || res.code() == "email_taken", "{i}: {:?}", res.json());
    }
    let res = signup(&mut a.browser(), "user5", "same@example.com", GOOD).await;
    assert_eq!((res.status, res.code()), (StatusCode::TOO_MANY_REQUESTS, "throttled".into()), "per address");
    for i in 0..14 {
        signup(&mut a.browser(), &format!("other{i}"), &format!("o{i}@example.com"), GOOD).await;
    }
    let res = signup(&mut a.browser(), "late", "late@example.com", GOOD).await;
    assert_eq!((res.status, res.code()), (StatusCode::TOO_MANY_REQUESTS, "throttled".into()), "per client");
}
