//! Session semantics: fixation, rotation, expiry, auth hash, cookie flags.

use http::StatusCode;
use latchkey::{RawPassword, session::SessionKey, settings::Preset};
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn a_session_cookie_the_server_did_not_issue_is_never_adopted() {
    let mut app = TestApp::new(Preset::SameOrigin).await;
    let planted = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    app.jar.insert("sessionid".into(), planted.into());
    let res = app.get("/api/session/").await;
    assert_eq!(res.json()["isAuthenticated"], false);
    assert!(res.set_cookie("sessionid").unwrap().contains("Max-Age=0"), "the unknown cookie is deleted");
    app.jar.insert("sessionid".into(), planted.into());
    app.login().await;
    assert_ne!(app.session_cookie().unwrap(), planted, "login issues a fresh key");
    let planted_hash = SessionKey::parse(planted).unwrap().hash();
    assert!(
        app.lk.sessions().load(&planted_hash, app.lk.clock().now()).await.unwrap().is_none(),
        "no row is created for it"
    );
}

#[tokio::test]
async fn the_session_key_rotates_at_every_login_even_for_the_same_user() {
    let mut app = TestApp::new(Preset::SameOrigin).await;
    app.login().await;
    let first = app.session_cookie().unwrap();
    app.login().await;
    let second = app.session_cookie().unwrap();
    assert_ne!(first, second);
    let old = SessionKey::parse(&first).unwrap().hash();
    assert!(app.lk.sessions().load(&old, app.lk.clock().now()).await.unwrap().is_none(), "the old session is deleted");
}

#[tokio::test]
async fn sessions_are_stored_under_a_hash_of_the_key_never_the_key() {
    let mut app = TestApp::new(Preset::SameOrigin).await;
    app.login().await;
    let key = app.session_cookie().unwrap();
    let user = app.lk.users().by_username(USER).await.unwrap().unwrap();
    let rows = app.lk.sessions().list_user_sessions(user.id, app.lk.clock().now()).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_ne!(rows[0].key_hash.as_str(), key);
    assert_eq!(rows[0].key_hash, SessionKey::parse(&key).unwrap().hash());
}

#[tokio::test]
async fn sessions_expire_server_side_after_the_configured_age() {
    let mut app = TestApp::new(Preset::SameOrigin).await;
    app.login().await;
    app.clock.advance(time::Duration::days(14) - time::Duration::seconds(5));
    assert_eq!(app.get("/api/session/").await.json()["isAuthenticated"], true);
    app.clock.advance(time::Duration::seconds(10));
    let res = app.get("/api/session/").await;
    assert_eq!(res.json()["isAuthenticated"], false, "the cookie may outlive the session; the server decides");
    let n = latchkey::session::clear_expired(app.lk.sessions().as_ref(), app.lk.clock().now()).await.unwrap();
    assert_eq!(n, 1);
}

#[tokio::test]
async fn changing_the_password_ends_existing_sessions() {
    let mut app = TestApp::new(Preset::SameOrigin).await;
    app.login().await;
    let user = app.lk.users().by_username(USER).await.unwrap().unwrap();
    let hash = app.lk.hasher().hash(&RawPassword::new("a new password")).await.unwrap();
    app.lk.users().set_password_hash(user.id, &hash).await.unwrap();
    let res = app.get("/api/whoami/").await;
    assert_eq!(res.json(), json!({"isAuthenticated": false}));
    assert!(app.session_cookie().is_none(), "the stale session is flushed");
}

#[tokio::test]
async fn a_deactivated_user_is_logged_out() {
    let mut app = TestApp::new(Preset::SameOrigin).await;
    app.login().await;
    let user = app.lk.users().by_username(USER).await.unwrap().unwrap();
    app.lk.users().set_active(user.id, false).await.unwrap();
    assert_eq!(app.get("/api/session/").await.json()["isAuthenticated"], false);
}

#[tokio::test]
async fn cookies_carry_each_presets_flags() {
    for (preset, samesite, csrf_httponly) in [
        (Preset::Embedded, "SameSite=Strict", false),
        (Preset::SameOrigin, "SameSite=Strict", true),
        (Preset::Rest, "SameSite=Strict", true),
        (Preset::CrossOrigin, "SameSite=Lax", true),
    ] {
        let mut app = TestApp::new(preset).await;
        let res = app.login().await;
        let session = res.set_cookie("sessionid").unwrap();
        let csrf = res.set_cookie("csrftoken").unwrap();
        for c in [&session, &csrf] {
            assert!(c.contains(samesite), "{preset}: {c}");
            assert!(c.contains("Path=/"), "{c}");
            assert!(!c.contains("Secure"), "plain-http defaults: {c}");
            assert!(!c.contains("Domain"), "host-only: {c}");
        }
        assert!(session.contains("HttpOnly") && session.contains("Max-Age=1209600"), "{session}");
        assert_eq!(csrf.contains("HttpOnly"), csrf_httponly, "{preset}: {csrf}");
        assert!(res.vary_cookie());
    }
}

#[tokio::test]
async fn an_https_public_url_makes_both_cookies_secure() {
    let settings = settings_for(Preset::SameOrigin, |r| r.public_url = Some("https://app.example.com".into()));
    let mut app = TestApp::with_settings(settings).await;
    app.host = "app.example.com".into();
    let token = app.csrf_token().await;
    let body = json!({"username": USER, "password": PASSWORD}).to_string();
    let res = app
        .send(
            http::Method::POST,
            "/api/login/",
            &[("content-type", "application/json"), ("x-csrftoken", &token), ("origin", "https://app.example.com")],
            Some(&body),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{:?}", res.json());
    assert!(res.set_cookie("__Host-sessionid").unwrap().contains("Secure"));
    assert!(res.set_cookie("__Host-csrftoken").unwrap().contains("Secure"));
}

#[tokio::test]
async fn anonymous_requests_create_no_session_rows() {
    let mut app = TestApp::new(Preset::SameOrigin).await;
    for _ in 0..5 {
        app.get("/api/session/").await;
        app.get("/api/csrf/").await;
        app.login_as(USER, "wrong").await;
    }
    assert!(app.session_cookie().is_none());
    let n =
        latchkey::session::clear_expired(app.lk.sessions().as_ref(), app.lk.clock().now() + time::Duration::days(365))
            .await
            .unwrap();
    assert_eq!(n, 0);
}

async fn login_with(app: &mut TestApp, extra: serde_json::Value) -> Res {
    let token = app.csrf_token().await;
    let mut body = json!({"username": USER, "password": PASSWORD});
    body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    app.post_json("/api/login/", &token, &body.to_string()).await
}

fn lifetime(tweak: impl FnOnce(&mut latchkey::settings::RawSettings)) -> latchkey::Settings {
    settings_for(Preset::SameOrigin, tweak)
}

#[tokio::test]
async fn an_idle_session_expires_and_activity_keeps_it_alive() {
    let mut app = TestApp::with_settings(lifetime(|r| {
        r.session.idle_timeout = Some(600);
        r.session.touch_interval = Some(60);
    }))
    .await;
    app.login().await;
    for _ in 0..5 {
        app.clock.advance(time::Duration::minutes(8));
        assert_eq!(
            app.get("/api/session/").await.json()["isAuthenticated"],
            true,
            "activity every 8 min keeps it alive"
        );
    }
    app.clock.advance(time::Duration::minutes(11));
    assert_eq!(app.get("/api/session/").await.json()["isAuthenticated"], false, "11 idle minutes end it");
}

#[tokio::test]
async fn the_absolute_limit_ends_even_an_active_session() {
    let mut app = TestApp::with_settings(lifetime(|r| {
        r.session.idle_timeout = Some(600);
        r.session.cookie.age = Some(3600);
    }))
    .await;
    app.login().await;
    for _ in 0..6 {
        app.clock.advance(time::Duration::minutes(9));
        assert_eq!(app.get("/api/session/").await.json()["isAuthenticated"], true);
    }
    app.clock.advance(time::Duration::minutes(7));
    assert_eq!(
        app.get("/api/session/").await.json()["isAuthenticated"],
        false,
        "61 minutes after login, however active"
    );
}

#[tokio::test]
async fn last_seen_is_written_at_most_once_per_touch_interval() {
    let mut app = TestApp::with_settings(lifetime(|r| {
        r.session.idle_timeout = Some(3600);
        r.session.touch_interval = Some(60);
    }))
    .await;
    app.login().await;
    let user = app.lk.users().by_username(USER).await.unwrap().unwrap();
    let seen = |app: &TestApp| {
        let lk = app.lk.clone();
        async move { lk.sessions().list_user_sessions(user.id, lk.clock().now()).await.unwrap()[0].last_seen }
    };
    let first = seen(&app).await;
    app.clock.advance(time::Duration::seconds(30));
    app.get("/api/session/").await;
    assert_eq!(seen(&app).await, first, "no write within the interval");
    app.clock.advance(time::Duration::seconds(31));
    app.get("/api/session/").await;
    assert_eq!(
        seen(&app).await.unix_timestamp(),
        app.lk.clock().now().unix_timestamp(),
        "written once the interval passed"
    );
}

#[tokio::test]
async fn remember_false_gives_a_browser_session_cookie_with_a_short_idle_limit() {
    let mut app = TestApp::new(Preset::SameOrigin).await;
    let res = login_with(&mut app, json!({"remember": false})).await;
    assert_eq!(res.status, StatusCode::OK);
    let cookie = res.set_cookie("sessionid").unwrap();
    assert!(!cookie.contains("Max-Age") && !cookie.contains("Expires"), "browser-session cookie: {cookie}");
    app.clock.advance(time::Duration::minutes(29));
    assert_eq!(app.get("/api/session/").await.json()["isAuthenticated"], true);
    app.clock.advance(time::Duration::minutes(31));
    assert_eq!(app.get("/api/session/").await.json()["isAuthenticated"], false, "30 idle minutes by default");
}

#[tokio::test]
async fn remembered_sessions_keep_the_tutorials_two_week_cookie() {
    let mut app = TestApp::new(Preset::SameOrigin).await;
    for extra in [json!({}), json!({"remember": true})] {
        let res = login_with(&mut app, extra).await;
        assert!(res.set_cookie("sessionid").unwrap().contains("Max-Age=1209600"));
    }
    app.clock.advance(time::Duration::days(13));
    assert_eq!(app.get("/api/session/").await.json()["isAuthenticated"], true, "no idle limit by default");
    let token = app.csrf_token().await;
    let bad = app.post_json("/api/login/", &token, r#"{"username":"demo","password":"x","remember":"yes"}"#).await;
    assert_eq!((bad.status, bad.code()), (StatusCode::BAD_REQUEST, "parse_error".to_owned()));
}

#[tokio::test]
async fn the_session_endpoint_says_when_the_session_expires() {
    let mut app = TestApp::new(Preset::SameOrigin).await;
    app.login().await;
    let body = app.get("/api/session/").await.json();
    let at = time::OffsetDateTime::parse(
        body["expiresAt"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert_eq!(at.unix_timestamp(), (app.lk.clock().now() + time::Duration::days(14)).unix_timestamp());
    app.jar.clear();
    assert!(app.get("/api/session/").await.json().get("expiresAt").is_none());
}

#[tokio::test]
async fn secure_deployments_use_host_prefixed_cookie_names() {
    let settings = settings_for(Preset::SameOrigin, |r| r.public_url = Some("https://app.example.com".into()));
    let mut app = TestApp::with_settings(settings).await;
    app.host = "app.example.com".into();
    let res = app.get("/api/csrf/").await;
    let token = res.header("x-csrftoken").unwrap().to_owned();
    assert!(res.set_cookie("__Host-csrftoken").unwrap().contains("Secure"));
    let body = json!({"username": USER, "password": PASSWORD}).to_string();
    let res = app
        .send(
            http::Method::POST,
            "/api/login/",
            &[("content-type", "application/json"), ("x-csrftoken", &token), ("origin", "https://app.example.com")],
            Some(&body),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK, "{:?}", res.json());
    let c = res.set_cookie("__Host-sessionid").unwrap();
    assert!(c.contains("Secure") && c.contains("Path=/") && !c.contains("Domain"), "{c}");
    assert_eq!(app.get("/api/whoami/").await.json()["username"], "demo");
}

mod slots {
    use std::sync::Arc;

    use latchkey::{
        Clock,
        session::{ClientInfo, Session, SessionKey, SessionStore, Slot},
        settings::Preset,
    };
    use serde::{Deserialize, Serialize};
    use time::Duration;

    use crate::helpers::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Challenge {
        user: i64,
        nonce: String,
    }

    const CHALLENGE: Slot<Challenge> = Slot::new("_test_challenge", Duration::minutes(5));

    fn challenge() -> Challenge {
        Challenge { user: 7, nonce: "n-1".into() }
    }

    async fn session_of(app: &TestApp) -> Session {
        let store: Arc<dyn SessionStore> = app.lk.sessions().clone();
        let clock: Arc<dyn Clock> = Arc::new(app.clock.clone());
        Session::new(store, clock, &app.lk.settings().session, None)
    }

    #[tokio::test]
    async fn a_slot_gives_back_what_was_put_until_its_lifetime_ends() {
        let app = TestApp::new(Preset::SameOrigin).await;
        let session = session_of(&app).await;
        CHALLENGE.put(&session, &challenge()).await.unwrap();
        app.clock.advance(Duration::minutes(5) - Duration::seconds(1));
        assert_eq!(CHALLENGE.get(&session).await.unwrap(), Some(challenge()), "still within its lifetime");
        assert_eq!(CHALLENGE.get(&session).await.unwrap(), Some(challenge()), "get does not spend it");
        app.clock.advance(Duration::seconds(1));
        assert_eq!(CHALLENGE.get(&session).await.unwrap(), None, "gone at the deadline");
        assert_eq!(session.get("_test_challenge").await.unwrap(), None, "an expired value is removed");
    }

    #[tokio::test]
    async fn a_slot_taken_once_is_gone() {
        let app = TestApp::new(Preset::SameOrigin).await;
        let session = session_of(&app).await;
        CHALLENGE.put(&session, &challenge()).await.unwrap();
        assert_eq!(CHALLENGE.take(&session).await.unwrap(), Some(challenge()));
        assert_eq!(CHALLENGE.take(&session).await.unwrap(), None);
        CHALLENGE.put(&session, &challenge()).await.unwrap();
        app.clock.advance(Duration::minutes(6));
        assert_eq!(CHALLENGE.take(&session).await.unwrap(), None, "an expired value is not given out");
    }

    #[tokio::test]
    async fn a_value_of_another_shape_reads_as_absent_not_as_an_error() {
        let app = TestApp::new(Preset::SameOrigin).await;
        let session = session_of(&app).await;
        // An older release's shape: a bag with a "since".
        session.insert("_test_challenge", serde_json::json!({ "user": 7, "since": 0 })).await.unwrap();
        assert_eq!(CHALLENGE.get(&session).await.unwrap(), None);
        let far = app.clock.now().unix_timestamp() + 3600;
        session
            .insert("_test_challenge", serde_json::json!({ "value": { "user": "seven" }, "until": far }))
            .await
            .unwrap();
        assert_eq!(CHALLENGE.take(&session).await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_short_lived_record_is_anonymous_ends_with_the_slot_and_is_taken_once() {
        let app = TestApp::new(Preset::SameOrigin).await;
        let store = app.lk.sessions().as_ref();
        let client = ClientInfo { ip: Some("192.0.2.9".parse().unwrap()), user_agent: Some("UA/1".into()) };
        let now = app.clock.now();
        let key = CHALLENGE.put_record(store, now, &client, &challenge()).await.unwrap();
        let record = store.load(&key.hash(), now).await.unwrap().expect("stored under the key's hash");
        assert_eq!(record.user_id, None);
        // Stores keep whole seconds.
        let end = (now + Duration::minutes(5)).unix_timestamp();
        assert_eq!(record.absolute_expires_at.unix_timestamp(), end);
        assert_eq!(record.expires_at.unix_timestamp(), end);
        assert_eq!(record.idle_timeout, None);
        assert_eq!(record.ip.as_deref(), Some("192.0.2.9"));
        assert_eq!(CHALLENGE.take_record(store, now, key.expose()).await.unwrap(), Some(challenge()));
        assert_eq!(CHALLENGE.take_record(store, now, key.expose()).await.unwrap(), None, "spent");
        assert!(store.load(&key.hash(), now).await.unwrap().is_none(), "and deleted");

        let late = CHALLENGE.put_record(store, now, &client, &challenge()).await.unwrap();
        let after = now + Duration::minutes(5);
        assert_eq!(CHALLENGE.take_record(store, after, late.expose()).await.unwrap(), None, "expired");
        assert_eq!(CHALLENGE.take_record(store, now, "not a key").await.unwrap(), None);
        assert_eq!(CHALLENGE.take_record(store, now, SessionKey::generate().expose()).await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_signed_in_session_is_never_taken_as_a_short_lived_record() {
        let mut app = TestApp::new(Preset::SameOrigin).await;
        app.login().await;
        let cookie = app.session_cookie().unwrap();
        let store = app.lk.sessions().as_ref();
        let now = app.clock.now();
        assert_eq!(CHALLENGE.take_record(store, now, &cookie).await.unwrap(), None);
        assert!(store.load(&SessionKey::parse(&cookie).unwrap().hash(), now).await.unwrap().is_some(), "left alone");
    }
}
