//! The five endpoints in every preset, and the bad inputs.

use http::{Method, StatusCode};
use latchkey::settings::Preset;
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn csrf_endpoint_returns_a_masked_token_and_sets_the_secret_cookie_in_every_preset() {
    for preset in Preset::ALL {
        let mut app = TestApp::new(preset).await;
        let res = app.get("/api/csrf/").await;
        assert_eq!(res.status, StatusCode::OK);
        assert_eq!(res.json(), json!({"detail": "CSRF cookie set"}));
        let token = res.header("x-csrftoken").unwrap();
        assert_eq!(token.len(), 64);
        assert!(token.bytes().all(|b| b.is_ascii_alphanumeric()));
        let secret = app.jar["csrftoken"].clone();
        assert_eq!(secret.len(), 32);
        assert_eq!(latchkey::csrf::token::unmask(token), secret);
        assert!(res.vary_cookie());
    }
}

#[tokio::test]
async fn every_csrf_call_hands_out_a_new_mask_of_the_same_secret() {
    let mut app = TestApp::new(Preset::SameOrigin).await;
    let a = app.csrf_token().await;
    let secret = app.jar["csrftoken"].clone();
    let b = app.csrf_token().await;
    assert_ne!(a, b);
    assert_eq!(app.jar["csrftoken"], secret, "a valid secret is kept");
    assert_eq!(latchkey::csrf::token::unmask(&b), secret);
}

#[tokio::test]
async fn login_with_valid_credentials_starts_a_session() {
    let mut app = TestApp::new(Preset::SameOrigin).await;
    let res = app.login().await;
    assert_eq!(res.json(), json!({"detail": "Successfully logged in."}));
    let sid = app.session_cookie().unwrap();
    assert_eq!(sid.len(), 32);
    assert!(sid.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
    let me = app.get("/api/whoami/").await;
    assert_eq!(me.json(), json!({"username": "demo"}));
    assert_eq!(app.get("/api/session/").await.json()["isAuthenticated"], json!(true));
    let user = app.lk.users().by_username(USER).await.unwrap().unwrap();
    assert!(user.last_login.is_some(), "last_login is recorded");
}

#[tokio::test]
async fn login_rotates_the_csrf_secret_so_pre_login_tokens_stop_working() {
    let mut app = TestApp::new(Preset::SameOrigin).await;
    let before_token = app.csrf_token().await;
    let before_secret = app.jar["csrftoken"].clone();
    let body = json!({"username": USER, "password": PASSWORD}).to_string();
    let res = app.post_json("/api/login/", &before_token, &body).await;
    assert_eq!(res.status, StatusCode::OK);
    assert!(res.set_cookie("csrftoken").is_some(), "login re-sends the CSRF cookie");
    assert_ne!(app.jar["csrftoken"], before_secret);
    let stale = app.post_json("/api/logout/", &before_token, "{}").await;
    assert_eq!(stale.status, StatusCode::FORBIDDEN);
    assert_eq!(stale.code(), "csrf_failed");
    let fresh = app.csrf_token().await;
    assert_eq!(app.post_json("/api/logout/", &fresh, "{}").await.status, StatusCode::OK);
}

#[tokio::test]
async fn login_without_username_or_password_asks_for_both() {
    let mut app = TestApp::new(Preset::SameOrigin).await;
    let token = app.csrf_token().await;
    for body in [r#"{}"#, r#"{"username":"demo"}"#, r#"{"password":"x"}"#, r#"{"username":null,"password":"x"}"#] {
        let res = app.post_json("/api/login/", &token, body).await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(res.detail(), "Please provide username and password.");
    }
}

#[tokio::test]
async fn wrong_password_unknown_user_and_inactive_user_get_one_answer_and_one_hash_each() {
    let mut app = TestApp::new(Preset::SameOrigin).await;
    let inactive = app.create_user("sleepy", "pw-sleepy").await;
    app.lk.users().set_active(inactive.id, false).await.unwrap();
    app.lk.hasher().warm_up().await.unwrap();
    for (user, pw) in [(USER, "wrong"), ("nobody", "whatever"), ("sleepy", "pw-sleepy"), ("", ""), ("bad name!", "x")] {
        let before = app.lk.hasher().invocations();
        let res = app.login_as(user, pw).await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{user}");
        assert_eq!(res.json(), json!({"detail": "Invalid credentials.", "code": "invalid_credentials"}), "{user}");
        assert_eq!(app.lk.hasher().invocations() - before, 1, "exactly one hash for {user:?}");
        assert!(app.session_cookie().is_none());
    }
}

#[tokio::test]
async fn usernames_are_case_sensitive_and_nfkc_normalised_at_login() {
    let mut app = TestApp::new(Preset::SameOrigin).await;
    assert_eq!(app.login_as("DEMO", PASSWORD).await.status, StatusCode::BAD_REQUEST);
    // Fullwidth "ｄｅｍｏ" folds to "demo" under NFKC.
    assert_eq!(app.login_as("ｄｅｍｏ", PASSWORD).await.status, StatusCode::OK);
}

#[tokio::test]
async fn bad_login_bodies_get_400_json_never_500() {
    let mut app = TestApp::new(Preset::SameOrigin).await;
    let token = app.csrf_token().await;
    for body in [
        "",
        "{",
        "[]",
        "\"x\"",
        "null",
        r#"{"username": 1, "password": 2}"#,
        r#"{"username": "demo", "password": ["x"]}"#,
    ] {
        let res = app.post_json("/api/login/", &token, body).await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{body:?}");
        assert!(!res.detail().is_empty());
        assert_eq!(res.code(), "parse_error", "{body:?}");
    }
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    assert_eq!(app.post_json("/api/login/", &token, &deep).await.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn non_json_bodies_are_415_which_also_stops_text_plain_login_csrf() {
    let mut app = TestApp::new(Preset::SameOrigin).await;
    let token = app.csrf_token().await;
    let body = json!({"username": USER, "password": PASSWORD}).to_string();
    for ct in ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"] {
        let res =
            app.send(Method::POST, "/api/login/", &[("content-type", ct), ("x-csrftoken", &token)], Some(&body)).await;
        assert_eq!(res.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{ct}");
        assert_eq!(res.code(), "unsupported_media_type");
    }
    let res = app.send(Method::POST, "/api/login/", &[("x-csrftoken", &token)], Some(&body)).await;
    assert_eq!(res.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "no content type");
    let ok = app
        .send(
            Method::POST,
            "/api/login/",
            &[("content-type", "application/json; charset=utf-8"), ("x-csrftoken", &token)],
            Some(&body),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK);
}

#[tokio::test]
async fn a_get_with_a_content_type_but_no_body_is_fine() {
    let mut app = TestApp::new(Preset::SameOrigin).await;
    let res = app.send(Method::GET, "/api/whoami/", &[("content-type", "application/json")], None).await;
    assert_eq!(res.status, StatusCode::OK);
}

#[tokio::test]
async fn oversized_bodies_are_413_json() {
    let mut app = TestApp::new(Preset::SameOrigin).await;
    let token = app.csrf_token().await;
    let big = format!(r#"{{"username":"demo","password":"{}"}}"#, "x".repeat(70_000));
    let res = app.post_json("/api/login/", &token, &big).await;
    assert_eq!(res.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(res.code(), "payload_too_large");
}

#[tokio::test]
async fn login_allows_only_post_and_says_so_in_json() {
    let mut app = TestApp::new(Preset::SameOrigin).await;
    let res = app.get("/api/login/").await;
    assert_eq!(res.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(res.header("allow"), Some("POST"));
    assert_eq!(res.json(), json!({"detail": "Method \"GET\" not allowed.", "code": "method_not_allowed"}));
    // Django order: an unsafe wrong method is CSRF-checked first.
    assert_eq!(app.send(Method::PUT, "/api/login/", &[], None).await.status, StatusCode::FORBIDDEN);
    let token = app.csrf_token().await;
    assert_eq!(
        app.send(Method::PUT, "/api/login/", &[("x-csrftoken", &token)], None).await.status,
        StatusCode::METHOD_NOT_ALLOWED
    );
}

#[tokio::test]
async fn post_logout_deletes_the_session_server_side_and_the_cookie() {
    let mut app = TestApp::new(Preset::SameOrigin).await;
    app.login().await;
    let sid = app.session_cookie().unwrap();
    let token = app.csrf_token().await;
    let res = app.post_json("/api/logout/", &token, "").await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.json(), json!({"detail": "Successfully logged out."}));
    let deletion = res.set_cookie("sessionid").unwrap();
    assert!(deletion.contains("Max-Age=0"), "{deletion}");
    // Replaying the old cookie: anonymous, and the cookie is deleted again.
    app.jar.insert("sessionid".into(), sid.clone());
    let replay = app.get("/api/session/").await;
    assert_eq!(replay.json(), json!({"isAuthenticated": false, "signupOpen": false, "emailVerification": "optional"}));
    assert!(replay.set_cookie("sessionid").unwrap().contains("Max-Age=0"));
    let hash = latchkey::session::SessionKey::parse(&sid).unwrap().hash();
    assert!(app.lk.sessions().load(&hash, app.lk.clock().now()).await.unwrap().is_none());
}

#[tokio::test]
async fn logout_when_anonymous_is_400() {
    let mut app = TestApp::new(Preset::SameOrigin).await;
    let token = app.csrf_token().await;
    let res = app.post_json("/api/logout/", &token, "").await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert_eq!(res.detail(), "You're not logged in.");
    assert_eq!(app.get("/api/logout/").await.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn post_logout_needs_a_csrf_token() {
    let mut app = TestApp::new(Preset::SameOrigin).await;
    app.login().await;
    let res = app.send(Method::POST, "/api/logout/", &[], None).await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    assert_eq!(res.detail(), "CSRF Failed: CSRF token missing.");
    assert_eq!(app.get("/api/session/").await.json()["isAuthenticated"], true);
}

async fn get_logout(app: &mut TestApp, headers: &[(&str, &str)]) -> StatusCode {
    app.login().await;
    let res = app.send(Method::GET, "/api/logout/", headers, None).await;
    let still_in = app.get("/api/session/").await.json()["isAuthenticated"] == true;
    assert_eq!(res.status == StatusCode::OK, !still_in, "status and session state agree");
    if res.status == StatusCode::FORBIDDEN {
        assert_eq!(res.code(), "cross_site_logout");
    }
    res.status
}

#[tokio::test]
async fn get_logout_works_from_the_app_itself_and_from_plain_clients() {
    let mut app = TestApp::new(Preset::SameOrigin).await;
    assert_eq!(get_logout(&mut app, &[]).await, StatusCode::OK, "curl-like, no headers");
    assert_eq!(get_logout(&mut app, &[("sec-fetch-site", "same-origin")]).await, StatusCode::OK);
    assert_eq!(get_logout(&mut app, &[("sec-fetch-site", "none")]).await, StatusCode::OK, "typed in the address bar");
    assert_eq!(get_logout(&mut app, &[("referer", "http://localhost:8000/app")]).await, StatusCode::OK);
}

#[tokio::test]
async fn get_logout_from_a_foreign_page_is_refused() {
    let mut app = TestApp::new(Preset::SameOrigin).await;
    for headers in [
        vec![("sec-fetch-site", "cross-site")],
        vec![("sec-fetch-site", "cross-site"), ("referer", "http://localhost:8000/")],
        // Same site (another port of localhost): SameSite=Strict cookies are sent, only we can refuse.
        vec![("sec-fetch-site", "same-site"), ("referer", "http://localhost:9999/evil.html")],
        vec![("sec-fetch-site", "same-site")],
        vec![("sec-fetch-site", "same-site"), ("origin", "http://localhost:9999")],
        vec![("origin", "http://evil.example")],
        vec![("referer", "http://evil.example/page")],
        vec![("origin", "null")],
    ] {
        assert_eq!(get_logout(&mut app, &headers).await, StatusCode::FORBIDDEN, "{headers:?}");
        app.jar.clear();
    }
}

#[tokio::test]
async fn get_logout_from_an_allowed_same_site_origin_works() {
    let mut app = TestApp::new(Preset::CrossOrigin).await;
    let headers = [("sec-fetch-site", "same-site"), ("origin", "http://localhost:5173")];
    assert_eq!(get_logout(&mut app, &headers).await, StatusCode::OK);
}

#[tokio::test]
async fn known_paths_without_a_slash_redirect_keeping_method_and_query() {
    let mut app = TestApp::new(Preset::SameOrigin).await;
    let res = app.get("/api/logout").await;
    assert_eq!(res.status, StatusCode::MOVED_PERMANENTLY);
    assert_eq!(res.header("location"), Some("/api/logout/"));
    let res = app.send(Method::POST, "/api/login?next=/x", &[], Some("{}")).await;
    assert_eq!(res.status, StatusCode::PERMANENT_REDIRECT, "308 keeps POST and its body");
    assert_eq!(res.header("location"), Some("/api/login/?next=/x"));
    let res = app.get("/api/nothing").await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    assert_eq!(res.json(), json!({"detail": "Not found.", "code": "not_found"}));
}

#[tokio::test]
async fn session_and_whoami_for_anonymous_users_follow_the_tutorial() {
    for preset in [Preset::Embedded, Preset::SameOrigin, Preset::CrossOrigin] {
        let mut app = TestApp::new(preset).await;
        let res = app.get("/api/session/").await;
        // The tutorial's field, plus what the SPA needs to know to offer sign-up.
        assert_eq!(res.json(), json!({"isAuthenticated": false, "signupOpen": false, "emailVerification": "optional"}));
        assert!(res.set_cookie("csrftoken").is_some(), "ensure_csrf_cookie");
        assert!(res.vary_cookie());
        assert_eq!(app.get("/api/whoami/").await.json(), json!({"isAuthenticated": false}));
    }
}

#[tokio::test]
async fn rest_preset_answers_anonymous_session_and_whoami_with_403() {
    let mut app = TestApp::new(Preset::Rest).await;
    let drf = json!({"detail": "Authentication credentials were not provided.", "code": "not_authenticated"});
    let res = app.get("/api/whoami/").await;
    assert_eq!((res.status, res.json()), (StatusCode::FORBIDDEN, drf.clone()));
    // DRF's 403, plus what the SPA needs to offer sign-up.
    let res = app.get("/api/session/").await;
    let mut expected = drf;
    expected["signupOpen"] = json!(false);
    expected["emailVerification"] = json!("optional");
    assert_eq!((res.status, res.json()), (StatusCode::FORBIDDEN, expected));
    app.login().await;
    assert_eq!(app.get("/api/whoami/").await.json(), json!({"username": "demo"}));
}

fn basic(user: &str, pw: &str) -> String {
    use base64::Engine;
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pw}")))
}

#[tokio::test]
async fn rest_preset_accepts_http_basic_on_session_and_whoami() {
    let mut app = TestApp::new(Preset::Rest).await;
    let good = basic(USER, PASSWORD);
    let res = app.send(Method::GET, "/api/whoami/", &[("authorization", &good)], None).await;
    assert_eq!(res.json(), json!({"username": "demo"}));
    let res = app.send(Method::GET, "/api/session/", &[("authorization", &good)], None).await;
    assert_eq!(res.json()["isAuthenticated"], true);
    assert!(res.json().get("expiresAt").is_none(), "Basic auth has no session to expire");
    assert!(app.session_cookie().is_none(), "Basic auth creates no session");
    for bad in [basic(USER, "wrong"), basic("nobody", "x")] {
        let res = app.send(Method::GET, "/api/session/", &[("authorization", &bad)], None).await;
        assert_eq!(res.status, StatusCode::FORBIDDEN);
        assert_eq!(res.json(), json!({"detail": "Invalid username/password.", "code": "authentication_failed"}));
    }
}

#[tokio::test]
async fn http_basic_is_ignored_outside_the_rest_preset() {
    let mut app = TestApp::new(Preset::SameOrigin).await;
    let res = app.send(Method::GET, "/api/whoami/", &[("authorization", &basic(USER, PASSWORD))], None).await;
    assert_eq!(res.json(), json!({"isAuthenticated": false}));
}

#[tokio::test]
async fn disallowed_hosts_get_400_json() {
    let mut app = TestApp::new(Preset::SameOrigin).await;
    app.host = "evil.example".into();
    let res = app.get("/api/session/").await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST);
    assert_eq!(res.code(), "disallowed_host");
    app.host = "127.0.0.1:8000".into();
    assert_eq!(app.get("/api/session/").await.status, StatusCode::OK);
}

#[tokio::test]
async fn every_response_carries_the_baseline_security_headers() {
    let mut app = TestApp::new(Preset::SameOrigin).await;
    for path in ["/api/csrf/", "/api/nothing", "/api/login/"] {
        let res = app.get(path).await;
        assert_eq!(res.header("x-content-type-options"), Some("nosniff"), "{path}");
        assert_eq!(res.header("x-frame-options"), Some("DENY"));
        assert_eq!(res.header("referrer-policy"), Some("same-origin"));
        assert!(res.header("x-request-id").is_some());
    }
}

#[tokio::test]
async fn error_bodies_are_json_with_detail_and_code() {
    let mut app = TestApp::new(Preset::SameOrigin).await;
    for (method, path) in [(Method::GET, "/nope"), (Method::DELETE, "/api/csrf/"), (Method::GET, "/api/login/")] {
        let res = app.send(method, path, &[], None).await;
        assert!(res.status.is_client_error());
        assert_eq!(res.header("content-type"), Some("application/json"));
        assert!(!res.detail().is_empty() && !res.code().is_empty(), "{path}");
    }
}

#[tokio::test]
async fn head_never_logs_anyone_out() {
    let mut app = TestApp::new(Preset::SameOrigin).await;
    app.login().await;
    let res = app.send(Method::HEAD, "/api/logout/", &[], None).await;
    assert_eq!(res.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(app.get("/api/session/").await.json()["isAuthenticated"], true);
}

#[tokio::test]
async fn a_successful_login_upgrades_a_hash_made_with_old_parameters_and_a_failed_one_does_not() {
    let app = TestApp::new(Preset::SameOrigin).await;
    // The same stores, served with stronger hashing parameters.
    let mut settings = app.lk.settings().clone();
    settings.password_hasher.memory_kib = 128;
    let lk2 = latchkey::Latchkey::new(
        settings,
        app.lk.stores(),
        std::sync::Arc::new(app.clock.clone()),
        app.lk.settings().secret_key.clone().unwrap(),
    )
    .unwrap();
    let mut strong = TestApp {
        router: latchkey::http::build_router(&lk2),
        lk: lk2,
        clock: app.clock.clone(),
        jar: Default::default(),
        host: app.host.clone(),
    };
    let stored =
        |lk: latchkey::Latchkey| async move { lk.users().by_username(USER).await.unwrap().unwrap().password_hash };
    assert!(stored(strong.lk.clone()).await.contains("m=64,"));
    assert_eq!(strong.login_as(USER, "wrong").await.status, StatusCode::BAD_REQUEST);
    assert!(stored(strong.lk.clone()).await.contains("m=64,"), "no upgrade on a wrong password");
    strong.login().await;
    assert!(stored(strong.lk.clone()).await.contains("m=128,"), "upgraded after a successful check");
    assert_eq!(strong.get("/api/whoami/").await.json()["username"], "demo", "the new session survives the upgrade");
}
