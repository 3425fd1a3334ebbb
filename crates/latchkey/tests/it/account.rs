//! The account API: the user's sessions, ending them, re-authentication and
//! password change — in every preset.

use http::{Method, StatusCode};
use latchkey::settings::Preset;
use serde_json::{Value, json};

use crate::helpers::*;

const NEW_PASSWORD: &str = "a brand new passphrase 42";

fn sessions(res: &Res) -> Vec<Value> {
    res.json()["sessions"].as_array().unwrap().clone()
}

async fn signed_in(preset: Preset) -> TestApp {
    let mut app = TestApp::new(preset).await;
    app.login().await;
    app
}

/// `app`'s own entry and another's (by user agent) in the list.
async fn other_id(app: &mut TestApp) -> String {
    let list = sessions(&app.get("/api/sessions/").await);
    list.iter().find(|s| s["current"] == false).unwrap()["id"].as_str().unwrap().to_owned()
}

async fn is_signed_in(app: &mut TestApp) -> bool {
    app.get("/api/whoami/").await.json()["username"] == USER
}

async fn login_with_agent(app: &mut TestApp, agent: &str) {
    let token = app.csrf_token().await;
    let body = json!({ "username": USER, "password": PASSWORD }).to_string();
    let headers = [("content-type", "application/json"), ("x-csrftoken", token.as_str()), ("user-agent", agent)];
    let res = app.send(Method::POST, "/api/login/", &headers, Some(&body)).await;
    assert_eq!(res.status, StatusCode::OK);
}

#[tokio::test]
async fn the_sessions_list_is_newest_first_marks_this_one_and_never_shows_a_key() {
    for preset in Preset::ALL {
        let mut a = TestApp::new(preset).await;
        login_with_agent(&mut a, "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Firefox/140.0").await;
        let mut b = a.browser();
        a.clock.advance(time::Duration::seconds(5));
        login_with_agent(&mut b, &format!("Agent/{}", "é".repeat(300))).await;
        let res = a.get("/api/sessions/").await;
        assert_eq!(res.status, StatusCode::OK, "{preset}");
        let list = sessions(&res);
        assert_eq!(list.len(), 2, "{preset}");
        assert_eq!((list[0]["current"].as_bool(), list[1]["current"].as_bool()), (Some(false), Some(true)));
        assert!(list[0]["createdAt"].as_str() > list[1]["createdAt"].as_str(), "newest first");
        let ua = list[0]["userAgent"].as_str().unwrap();
        assert!(ua.len() <= 256 && ua.starts_with("Agent/é"), "cut at 256 bytes on a character boundary");
        assert_eq!(list[1]["userAgent"], "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Firefox/140.0");
        for s in &list {
            for field in ["id", "createdAt", "lastSeenAt", "expiresAt", "remember", "ip"] {
                assert!(s.get(field).is_some(), "{field} in {s}");
            }
        }
        let body = String::from_utf8(res.body.clone()).unwrap();
        for key in [a.session_cookie().unwrap(), b.session_cookie().unwrap()] {
            let hash = latchkey::session::SessionKey::parse(&key).unwrap().hash();
            assert!(!body.contains(&key) && !body.contains(&hash.as_str()[..16]), "no key or key hash in the list");
        }
        assert_eq!(
            b.get("/api/session/").await.json()["authenticatedAt"].as_str(),
            list[0]["createdAt"].as_str(),
            "login stamps the authentication time"
        );
    }
}

#[tokio::test]
async fn every_account_route_refuses_the_anonymous_and_http_basic() {
    for preset in Preset::ALL {
        let mut app = TestApp::new(preset).await;
        let basic = format!("Basic {}", base64_encode(&format!("{USER}:{PASSWORD}")));
        for (method, path) in [
            (Method::GET, "/api/sessions/"),
            (Method::DELETE, "/api/sessions/0123456789abcdef0123456789abcdef/"),
            (Method::POST, "/api/sessions/revoke-others/"),
            (Method::POST, "/api/password/change/"),
            (Method::POST, "/api/reauthenticate/"),
        ] {
            let body = json!({"password": PASSWORD, "currentPassword": PASSWORD, "newPassword": NEW_PASSWORD});
            let token = app.csrf_token().await;
            let headers = [
                ("content-type", "application/json"),
                ("x-csrftoken", token.as_str()),
                ("authorization", basic.as_str()),
            ];
            let res = app.send(method.clone(), path, &headers, Some(&body.to_string())).await;
            assert_eq!(
                (res.status, res.code()),
                (StatusCode::FORBIDDEN, "not_authenticated".into()),
                "{preset} {method} {path}: Basic credentials must not count here"
            );
        }
        // The same Basic header does authenticate where the rest preset allows it.
        if preset == Preset::Rest {
            let ok = app.send(Method::GET, "/api/whoami/", &[("authorization", basic.as_str())], None).await;
            assert_eq!(ok.json()["username"], USER);
        }
    }
}

#[tokio::test]
async fn every_unsafe_account_route_needs_the_csrf_token() {
    for preset in Preset::ALL {
        let mut app = signed_in(preset).await;
        let id = sessions(&app.get("/api/sessions/").await)[0]["id"].as_str().unwrap().to_owned();
        for (method, path) in [
            (Method::DELETE, format!("/api/sessions/{id}/")),
            (Method::POST, "/api/sessions/revoke-others/".into()),
            (Method::POST, "/api/password/change/".into()),
            (Method::POST, "/api/reauthenticate/".into()),
        ] {
            let body = json!({"password": PASSWORD, "currentPassword": PASSWORD, "newPassword": NEW_PASSWORD});
            let res =
                app.send(method.clone(), &path, &[("content-type", "application/json")], Some(&body.to_string())).await;
            assert_eq!(res.status, StatusCode::FORBIDDEN, "{preset} {method} {path}");
            assert!(res.code().starts_with("csrf"), "{preset} {path}: {}", res.code());
        }
        assert!(is_signed_in(&mut app).await, "{preset}: nothing happened");
        assert_eq!(sessions(&app.get("/api/sessions/").await).len(), 1);
    }
}

#[tokio::test]
async fn ending_a_session_of_another_account_or_an_unknown_id_is_the_same_404() {
    for preset in Preset::ALL {
        let mut mallory = TestApp::new(preset).await;
        mallory.create_user("mallory", "mallory-password-1").await;
        let mut alice = mallory.browser();
        alice.login().await;
        let alice_id = sessions(&alice.get("/api/sessions/").await)[0]["id"].as_str().unwrap().to_owned();
        assert_eq!(mallory.login_as("mallory", "mallory-password-1").await.status, StatusCode::OK);
        let mut answers = Vec::new();
        for id in [alice_id.as_str(), "0123456789abcdef0123456789abcdef", "not-an-id", "%00", &"a".repeat(500)] {
            let res = mallory.unsafe_json(Method::DELETE, &format!("/api/sessions/{id}/"), "").await;
            assert_eq!((res.status, res.code()), (StatusCode::NOT_FOUND, "session_not_found".into()), "{preset} {id}");
            answers.push(res.json());
        }
        assert!(answers.windows(2).all(|w| w[0] == w[1]), "one answer for all");
        assert!(is_signed_in(&mut alice).await, "{preset}: alice's session is untouched");
    }
}

#[tokio::test]
async fn ending_the_current_session_is_a_logout() {
    for preset in Preset::ALL {
        let mut app = signed_in(preset).await;
        let id = sessions(&app.get("/api/sessions/").await)[0]["id"].as_str().unwrap().to_owned();
        // No recent authentication needed to end one's own session.
        app.clock.advance(time::Duration::hours(1));
        let res = app.unsafe_json(Method::DELETE, &format!("/api/sessions/{id}/"), "").await;
        assert_eq!(res.status, StatusCode::OK, "{preset} {:?}", res.json());
        assert_eq!(res.json()["detail"], "Session ended.");
        assert!(res.set_cookie("sessionid").unwrap().contains("Max-Age=0"), "the cookie is cleared");
        assert!(!is_signed_in(&mut app).await);
    }
}

#[tokio::test]
async fn ending_another_session_needs_a_recent_password_and_signs_that_browser_out() {
    for preset in Preset::ALL {
        let mut a = signed_in(preset).await;
        let mut b = a.browser();
        b.login().await;
        let other = other_id(&mut a).await;
        // Within the window (login stamped the time): allowed right away.
        a.clock.advance(time::Duration::seconds(299));
        let res = a.unsafe_json(Method::DELETE, &format!("/api/sessions/{other}/"), "").await;
        assert_eq!(res.status, StatusCode::OK, "{preset} {:?}", res.json());
        assert!(!is_signed_in(&mut b).await, "{preset}: the other browser is signed out on its next request");
        assert!(is_signed_in(&mut a).await);

        b.login().await;
        let other = other_id(&mut a).await;
        a.clock.advance(time::Duration::seconds(2)); // a's login is now 301 s old
        let res = a.unsafe_json(Method::DELETE, &format!("/api/sessions/{other}/"), "").await;
        assert_eq!((res.status, res.code()), (StatusCode::FORBIDDEN, "reauthentication_required".into()));
        assert!(is_signed_in(&mut b).await, "refused: nothing ended");
    }
}

#[tokio::test]
async fn reauthentication_rotates_the_key_and_csrf_secret_and_reopens_the_window() {
    for preset in Preset::ALL {
        let mut a = signed_in(preset).await;
        let mut b = a.browser();
        b.login().await;
        a.clock.advance(time::Duration::minutes(10));
        let before = a.get("/api/session/").await.json()["authenticatedAt"].clone();

        let wrong = a.unsafe_json(Method::POST, "/api/reauthenticate/", r#"{"password": "wrong"}"#).await;
        assert_eq!((wrong.status, wrong.code()), (StatusCode::BAD_REQUEST, "invalid_credentials".into()));
        assert!(is_signed_in(&mut a).await, "a wrong password leaves the session alone");
        let missing = a.unsafe_json(Method::POST, "/api/reauthenticate/", "{}").await;
        assert_eq!((missing.status, missing.code()), (StatusCode::BAD_REQUEST, "missing_fields".into()));

        let key = a.session_cookie().unwrap();
        let old_token = a.csrf_token().await;
        let res = a.unsafe_json(Method::POST, "/api/reauthenticate/", &json!({"password": PASSWORD}).to_string()).await;
        assert_eq!(res.status, StatusCode::OK, "{preset} {:?}", res.json());
        assert_ne!(a.session_cookie().unwrap(), key, "{preset}: a new session key");
        assert!(res.set_cookie("csrftoken").is_some() || preset != Preset::Embedded, "a new CSRF secret");
        let after = a.get("/api/session/").await.json()["authenticatedAt"].clone();
        assert!(after.as_str() > before.as_str(), "stamped: {before} -> {after}");
        // The old key is dead; the old CSRF token no longer matches the new secret.
        let mut thief = a.browser();
        thief.jar.insert("sessionid".into(), key);
        assert!(!is_signed_in(&mut thief).await);
        let stale = a
            .send(
                Method::POST,
                "/api/sessions/revoke-others/",
                &[("content-type", "application/json"), ("x-csrftoken", &old_token)],
                Some("{}"),
            )
            .await;
        assert_eq!(stale.status, StatusCode::FORBIDDEN, "{preset}: the CSRF secret changed");
        // The window is open again.
        let res = a.unsafe_json(Method::POST, "/api/sessions/revoke-others/", "{}").await;
        assert_eq!((res.status, res.json()["ended"].as_u64()), (StatusCode::OK, Some(1)), "{preset}");
        assert!(!is_signed_in(&mut b).await && is_signed_in(&mut a).await);
    }
}

#[tokio::test]
async fn wrong_passwords_in_reauthentication_and_password_change_count_in_the_login_throttle() {
    let mut app = signed_in(Preset::SameOrigin).await;
    for i in 0..5 {
        let (path, body) = if i % 2 == 0 {
            ("/api/reauthenticate/", json!({"password": "wrong"}))
        } else {
            ("/api/password/change/", json!({"currentPassword": "wrong", "newPassword": NEW_PASSWORD}))
        };
        let res = app.unsafe_json(Method::POST, path, &body.to_string()).await;
        assert_eq!(res.code(), "invalid_credentials");
    }
    let res = app.unsafe_json(Method::POST, "/api/reauthenticate/", &json!({"password": PASSWORD}).to_string()).await;
    assert_eq!((res.status, res.code()), (StatusCode::TOO_MANY_REQUESTS, "throttled".into()));
    assert!(is_signed_in(&mut app).await, "throttling does not end the session");
    let mut other = app.browser();
    assert_eq!(other.login_as(USER, PASSWORD).await.status, StatusCode::TOO_MANY_REQUESTS, "the login too");
}

#[tokio::test]
async fn sign_out_everywhere_else_keeps_only_this_session() {
    for preset in Preset::ALL {
        let mut a = signed_in(preset).await;
        let mut others: Vec<TestApp> = (0..3).map(|_| a.browser()).collect();
        for o in &mut others {
            o.login().await;
        }
        let res = a.unsafe_json(Method::POST, "/api/sessions/revoke-others/", "").await;
        assert_eq!(res.status, StatusCode::OK, "{preset} {:?}", res.json());
        assert_eq!(res.json()["ended"], 3);
        assert_eq!(res.json()["detail"], "3 other sessions ended.");
        for o in &mut others {
            assert!(!is_signed_in(o).await);
        }
        assert!(is_signed_in(&mut a).await);
        let list = sessions(&a.get("/api/sessions/").await);
        assert_eq!((list.len(), list[0]["current"].as_bool()), (1, Some(true)));
    }
}

#[tokio::test]
async fn a_password_change_ends_every_other_session_and_keeps_this_one_under_a_new_key() {
    for preset in Preset::ALL {
        let mut a = signed_in(preset).await;
        let mut b = a.browser();
        b.login().await;
        // A password change needs the current password, not a recent login.
        a.clock.advance(time::Duration::hours(1));
        let key = a.session_cookie().unwrap();
        let body = json!({"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD}).to_string();
        let res = a.unsafe_json(Method::POST, "/api/password/change/", &body).await;
        assert_eq!(res.status, StatusCode::OK, "{preset} {:?}", res.json());
        assert_eq!(res.json()["ended"], 1);
        assert_ne!(a.session_cookie().unwrap(), key, "a new key");
        assert!(is_signed_in(&mut a).await, "{preset}: this session continues");
        assert!(!is_signed_in(&mut b).await, "{preset}: the other one is anonymous");
        assert_eq!(sessions(&a.get("/api/sessions/").await).len(), 1, "the other row is gone, not just invalid");
        let mut fresh = a.browser();
        assert_eq!(fresh.login_as(USER, PASSWORD).await.code(), "invalid_credentials", "the old password fails");
        assert_eq!(fresh.login_as(USER, NEW_PASSWORD).await.status, StatusCode::OK, "the new one works");
        // The recent-authentication window restarted with the change.
        let res = a.unsafe_json(Method::POST, "/api/sessions/revoke-others/", "{}").await;
        assert_eq!(res.status, StatusCode::OK, "{preset}");
    }
}

#[tokio::test]
async fn a_refused_new_password_lists_djangos_codes_and_changes_nothing() {
    let mut a = signed_in(Preset::SameOrigin).await;
    let mut b = a.browser();
    b.login().await;
    let before = a.lk.hasher().invocations();
    let body = json!({"currentPassword": PASSWORD, "newPassword": "1234"}).to_string();
    let res = a.unsafe_json(Method::POST, "/api/password/change/", &body).await;
    assert_eq!((res.status, res.code()), (StatusCode::BAD_REQUEST, "password_invalid".into()));
    let errors = res.json()["errors"].clone();
    let codes: Vec<&str> = errors.as_array().unwrap().iter().map(|e| e["code"].as_str().unwrap()).collect();
    assert_eq!(codes, ["password_too_short", "password_too_common", "password_entirely_numeric"]);
    assert!(res.json()["errors"][0]["message"].as_str().unwrap().contains("at least 8 characters"));
    assert_eq!(a.lk.hasher().invocations(), before, "refused before any hashing");
    let similar = json!({"currentPassword": PASSWORD, "newPassword": "demo123"}).to_string();
    let res = a.unsafe_json(Method::POST, "/api/password/change/", &similar).await;
    assert_eq!(res.json()["errors"][1]["code"], "password_too_similar", "{:?}", res.json());
    let wrong = json!({"currentPassword": "nope", "newPassword": NEW_PASSWORD}).to_string();
    let res = a.unsafe_json(Method::POST, "/api/password/change/", &wrong).await;
    assert_eq!((res.status, res.code()), (StatusCode::BAD_REQUEST, "invalid_credentials".into()));
    let missing = a.unsafe_json(Method::POST, "/api/password/change/", r#"{"currentPassword": "x"}"#).await;
    assert_eq!((missing.status, missing.code()), (StatusCode::BAD_REQUEST, "missing_fields".into()));
    let typed =
        a.unsafe_json(Method::POST, "/api/password/change/", r#"{"currentPassword": 1, "newPassword": 2}"#).await;
    assert_eq!((typed.status, typed.code()), (StatusCode::BAD_REQUEST, "parse_error".into()));
    assert!(is_signed_in(&mut a).await && is_signed_in(&mut b).await, "nothing changed");
    assert_eq!(b.browser().login_as(USER, PASSWORD).await.status, StatusCode::OK);
}

#[tokio::test]
async fn password_changes_and_session_ends_are_audited() {
    let mut a = signed_in(Preset::SameOrigin).await;
    let mut b = a.browser();
    b.login().await;
    let other = other_id(&mut a).await;
    a.unsafe_json(Method::DELETE, &format!("/api/sessions/{other}/"), "").await;
    a.unsafe_json(Method::POST, "/api/reauthenticate/", &json!({"password": PASSWORD}).to_string()).await;
    let body = json!({"currentPassword": PASSWORD, "newPassword": NEW_PASSWORD}).to_string();
    a.unsafe_json(Method::POST, "/api/password/change/", &body).await;
    let events: Vec<String> =
        a.lk.audit_store().list(50, Some(USER)).await.unwrap().into_iter().map(|e| e.event).collect();
    for e in ["session_ended", "reauthenticated", "password_changed", "sessions_revoked"] {
        assert!(events.iter().any(|x| x == e), "{e} in {events:?}");
    }
}

#[tokio::test]
async fn wrong_methods_get_405_with_allow_and_missing_slashes_redirect() {
    for preset in Preset::ALL {
        let mut app = signed_in(preset).await;
        for (method, path, allow) in [
            (Method::GET, "/api/password/change/", "POST"),
            (Method::GET, "/api/reauthenticate/", "POST"),
            (Method::GET, "/api/sessions/revoke-others/", "POST"),
            (Method::GET, "/api/sessions/0123456789abcdef0123456789abcdef/", "DELETE"),
            (Method::PUT, "/api/sessions/", "GET,HEAD"),
        ] {
            let res = app.unsafe_json(method.clone(), path, "{}").await;
            assert_eq!(res.status, StatusCode::METHOD_NOT_ALLOWED, "{preset} {method} {path}");
            assert_eq!(res.code(), "method_not_allowed");
            assert_eq!(res.header("allow").map(|a| a.replace(' ', "")), Some(allow.to_owned()), "{path}");
        }
        for (method, path, status) in [
            (Method::GET, "/api/sessions", StatusCode::MOVED_PERMANENTLY),
            (Method::POST, "/api/password/change", StatusCode::PERMANENT_REDIRECT),
            (Method::DELETE, "/api/sessions/0123456789abcdef0123456789abcdef", StatusCode::PERMANENT_REDIRECT),
        ] {
            let res = app.send(method, path, &[], None).await;
            assert_eq!(res.status, status, "{preset} {path}");
            assert_eq!(res.header("location"), Some(format!("{path}/").as_str()));
        }
        let res = app.send(Method::DELETE, "/api/sessions/a/b", &[], None).await;
        assert_eq!(res.status, StatusCode::NOT_FOUND, "two segments are no session");
    }
}

#[tokio::test]
async fn cross_origin_account_routes_carry_cors_for_the_spa_and_preflight_delete() {
    const SPA: &str = "http://localhost:5173";
    let mut app = signed_in(Preset::CrossOrigin).await;
    let pre = app
        .send(
            Method::OPTIONS,
            "/api/sessions/0123456789abcdef0123456789abcdef/",
            &[
                ("origin", SPA),
                ("access-control-request-method", "DELETE"),
                ("access-control-request-headers", "x-csrftoken"),
            ],
            None,
        )
        .await;
    assert_eq!(pre.status, StatusCode::OK);
    assert!(pre.header("access-control-allow-methods").unwrap().contains("DELETE"));
    assert_eq!(pre.header("access-control-allow-credentials"), Some("true"));
    let token = app.csrf_token().await;
    for (method, path) in [
        (Method::GET, "/api/sessions/"),
        (Method::POST, "/api/sessions/revoke-others/"),
        (Method::POST, "/api/reauthenticate/"),
        (Method::POST, "/api/password/change/"),
        (Method::DELETE, "/api/sessions/0123456789abcdef0123456789abcdef/"),
    ] {
        let headers = [("origin", SPA), ("content-type", "application/json"), ("x-csrftoken", token.as_str())];
        let res = app.send(method.clone(), path, &headers, Some("{}")).await;
        assert_eq!(res.header("access-control-allow-origin"), Some(SPA), "{method} {path} ({})", res.status);
        assert!(!res.status.is_server_error());
    }
}

#[tokio::test]
async fn hostile_input_to_the_account_routes_gets_a_json_4xx_never_a_5xx() {
    let mut app = signed_in(Preset::SameOrigin).await;
    let long = "x".repeat(60_000);
    let bodies: Vec<String> = vec![
        String::new(),
        "not json".into(),
        "[]".into(),
        "null".into(),
        r#"{"password": null}"#.into(),
        r#"{"password": ["a"]}"#.into(),
        r#"{"currentPassword": {"a": 1}, "newPassword": true}"#.into(),
        format!(r#"{{"password": "{long}", "currentPassword": "{long}", "newPassword": "{long}"}}"#),
        "{\"password\": \"\\u0000\\ud800\"}".into(),
    ];
    for path in ["/api/reauthenticate/", "/api/password/change/", "/api/sessions/revoke-others/"] {
        for body in &bodies {
            let token = app.csrf_token().await;
            for ct in ["application/json", "text/plain", "application/x-www-form-urlencoded"] {
                let headers = [("content-type", ct), ("x-csrftoken", token.as_str())];
                let res = app.send(Method::POST, path, &headers, Some(body)).await;
                assert!(!res.status.is_server_error(), "{path} {ct} {}: {}", &body[..body.len().min(40)], res.status);
                assert!(res.json().get("code").is_some() || res.status.is_success(), "{path}: {:?}", res.json());
            }
        }
    }
    for id in [
        "%FF%FE",
        "%00",
        "..%2F..%2Fetc",
        "%E2%80%AE",
        &"f".repeat(32),
        &"0".repeat(10_000),
        "ABCDEF0123456789ABCDEF0123456789",
    ] {
        let res = app.unsafe_json(Method::DELETE, &format!("/api/sessions/{id}/"), "").await;
        assert!(res.status.is_client_error(), "{id}: {}", res.status);
        assert!(res.json().get("code").is_some());
    }
    assert!(is_signed_in(&mut app).await);
}
