//! Every CSRF rejection reason, and the accepted forms, as Django's tests.

use http::{Method, StatusCode};
use latchkey::{csrf::token, settings::Preset};

use crate::helpers::*;

/// POSTs to /api/logout/ with exactly these cookie and headers (no jar).
async fn post(app: &mut TestApp, cookie: Option<&str>, headers: &[(&str, &str)]) -> Res {
    app.jar.clear();
    if let Some(c) = cookie {
        app.jar.insert(app.lk.settings().csrf.cookie.name.clone(), c.into());
    }
    app.send(Method::POST, "/api/logout/", headers, None).await
}

fn assert_rejected(res: &Res, reason: &str) {
    assert_eq!(res.status, StatusCode::FORBIDDEN, "{reason}");
    assert_eq!(res.detail(), format!("CSRF Failed: {reason}"));
    assert_eq!(res.code(), "csrf_failed");
}

/// Passed the CSRF layer: the view answers "not logged in".
fn assert_passed(res: &Res) {
    assert_eq!(res.status, StatusCode::BAD_REQUEST, "{:?}", res.json());
    assert_eq!(res.detail(), "You're not logged in.");
}

#[tokio::test]
async fn a_missing_cookie_is_rejected_which_also_stops_login_csrf() {
    let mut app = TestApp::new(Preset::SameOrigin).await;
    let secret = token::new_secret();
    assert_rejected(&post(&mut app, None, &[("x-csrftoken", &secret)]).await, "CSRF cookie not set.");
}

#[tokio::test]
async fn malformed_cookies_are_rejected_with_their_reason() {
    let mut app = TestApp::new(Preset::SameOrigin).await;
    let secret = token::new_secret();
    assert_rejected(
        &post(&mut app, Some("short"), &[("x-csrftoken", &secret)]).await,
        "CSRF cookie has incorrect length.",
    );
    let bad = format!("{}!", &secret[..31]);
    assert_rejected(
        &post(&mut app, Some(&bad), &[("x-csrftoken", &secret)]).await,
        "CSRF cookie has invalid characters.",
    );
}

#[tokio::test]
async fn a_missing_or_malformed_token_is_rejected_with_its_reason() {
    let mut app = TestApp::new(Preset::SameOrigin).await;
    let secret = token::new_secret();
    assert_rejected(&post(&mut app, Some(&secret), &[]).await, "CSRF token missing.");
    assert_rejected(&post(&mut app, Some(&secret), &[("x-csrftoken", "")]).await, "CSRF token missing.");
    assert_rejected(
        &post(&mut app, Some(&secret), &[("x-csrftoken", "abc")]).await,
        "CSRF token from the 'X-Csrftoken' HTTP header has incorrect length.",
    );
    let bad = format!("{}-", &secret[..31]);
    assert_rejected(
        &post(&mut app, Some(&secret), &[("x-csrftoken", &bad)]).await,
        "CSRF token from the 'X-Csrftoken' HTTP header has invalid characters.",
    );
    let other = token::mask(&token::new_secret());
    assert_rejected(
        &post(&mut app, Some(&secret), &[("x-csrftoken", &other)]).await,
        "CSRF token from the 'X-Csrftoken' HTTP header incorrect.",
    );
}

#[tokio::test]
async fn a_dashed_header_name_is_not_the_csrf_header() {
    let mut app = TestApp::new(Preset::SameOrigin).await;
    let secret = token::new_secret();
    assert_rejected(&post(&mut app, Some(&secret), &[("x-csrf-token", &secret)]).await, "CSRF token missing.");
}

#[tokio::test]
async fn masked_and_bare_tokens_and_cookies_are_all_accepted() {
    let mut app = TestApp::new(Preset::SameOrigin).await;
    let secret = token::new_secret();
    let masked = token::mask(&secret);
    let masked_cookie = token::mask(&secret);
    for (cookie, tok) in [(&secret, &secret), (&secret, &masked), (&masked_cookie, &secret), (&masked_cookie, &masked)]
    {
        assert_passed(&post(&mut app, Some(cookie), &[("x-csrftoken", tok)]).await);
    }
}

#[tokio::test]
async fn a_masked_cookie_is_replaced_by_the_bare_secret() {
    let mut app = TestApp::new(Preset::SameOrigin).await;
    let secret = token::new_secret();
    app.jar.insert("csrftoken".into(), token::mask(&secret));
    app.get("/api/whoami/").await;
    assert_eq!(app.jar["csrftoken"], secret);
}

#[tokio::test]
async fn a_foreign_or_null_origin_is_rejected_even_with_a_valid_token() {
    let mut app = TestApp::new(Preset::SameOrigin).await;
    let secret = token::new_secret();
    for origin in [
        "http://evil.example",
        "null",
        "https://localhost:8000",
        "http://localhost:8001",
        "http://localhost:8000.evil.org",
        "https://[",
    ] {
        let res = post(&mut app, Some(&secret), &[("x-csrftoken", &secret), ("origin", origin)]).await;
        assert_rejected(&res, &format!("Origin checking failed - {origin} does not match any trusted origins."));
    }
}

#[tokio::test]
async fn the_requests_own_origin_and_trusted_origins_pass() {
    let settings = settings_for(Preset::SameOrigin, |r| {
        r.allowed_origins = vec!["http://localhost:81".into(), "https://*.example.com".into()];
    });
    let mut app = TestApp::with_settings(settings).await;
    let secret = token::new_secret();
    for origin in ["http://localhost:8000", "http://localhost:81", "https://app.example.com"] {
        assert_passed(&post(&mut app, Some(&secret), &[("x-csrftoken", &secret), ("origin", origin)]).await);
    }
    let res = post(&mut app, Some(&secret), &[("x-csrftoken", &secret), ("origin", "http://app.example.com")]).await;
    assert_eq!(res.status, StatusCode::FORBIDDEN, "wildcards are scheme-scoped");
}

#[tokio::test]
async fn plain_http_requests_without_origin_are_not_referer_checked() {
    let mut app = TestApp::new(Preset::SameOrigin).await;
    let secret = token::new_secret();
    assert_passed(
        &post(&mut app, Some(&secret), &[("x-csrftoken", &secret), ("referer", "http://evil.example/")]).await,
    );
}

#[tokio::test]
async fn https_requests_without_origin_follow_djangos_referer_rules() {
    let settings = settings_for(Preset::SameOrigin, |r| {
        r.public_url = Some("https://app.example.com".into());
        r.allowed_origins = vec!["https://partner.example.org".into()];
    });
    let mut app = TestApp::with_settings(settings).await;
    app.host = "app.example.com".into();
    let s = token::new_secret();
    let t = ("x-csrftoken", s.as_str());
    assert_rejected(&post(&mut app, Some(&s), &[t]).await, "Referer checking failed - no Referer.");
    for bad in ["not a url", "https://", "//app.example.com/", "https://[/x"] {
        assert_rejected(
            &post(&mut app, Some(&s), &[t, ("referer", bad)]).await,
            "Referer checking failed - Referer is malformed.",
        );
    }
    assert_rejected(
        &post(&mut app, Some(&s), &[t, ("referer", "http://app.example.com/")]).await,
        "Referer checking failed - Referer is insecure while host is secure.",
    );
    assert_rejected(
        &post(&mut app, Some(&s), &[t, ("referer", "https://www.evil.org/somepage")]).await,
        "Referer checking failed - https://www.evil.org/somepage does not match any trusted origins.",
    );
    assert_passed(&post(&mut app, Some(&s), &[t, ("referer", "https://app.example.com/login")]).await);
    assert_passed(&post(&mut app, Some(&s), &[t, ("referer", "https://partner.example.org/x")]).await);
}

#[tokio::test]
async fn safe_methods_need_no_token() {
    let mut app = TestApp::new(Preset::SameOrigin).await;
    for m in [Method::GET, Method::HEAD] {
        let res = app.send(m.clone(), "/api/session/", &[("origin", "http://evil.example")], None).await;
        assert_eq!(res.status, StatusCode::OK, "{m}");
    }
}

#[tokio::test]
async fn the_embedded_spa_can_echo_the_cookie_it_reads() {
    let mut app = TestApp::new(Preset::Embedded).await;
    let res = app.get("/api/session/").await;
    let cookie = res.set_cookie("csrftoken").unwrap();
    assert!(!cookie.contains("HttpOnly"), "the embedded SPA must be able to read it: {cookie}");
    let secret = app.jar["csrftoken"].clone();
    let res = app.login_as_with_token(&secret).await;
    assert_eq!(res.status, StatusCode::OK);
}

#[tokio::test]
async fn session_checks_issue_a_missing_csrf_cookie_and_leave_a_valid_one_alone() {
    let mut app = TestApp::new(Preset::Embedded).await;
    assert!(app.get("/api/session/").await.set_cookie("csrftoken").is_some(), "a browser without one gets one");
    let secret = app.jar["csrftoken"].clone();
    let res = app.get("/api/session/").await;
    assert!(res.set_cookie("csrftoken").is_none(), "a valid cookie is not re-sent on every check");
    assert_eq!(app.jar["csrftoken"], secret);
    // Fetching a token renews the cookie's expiry, as Django's get_token does.
    let res = app.get("/api/csrf/").await;
    assert!(res.set_cookie("csrftoken").unwrap().starts_with(&format!("csrftoken={secret};")));
}

impl TestApp {
    async fn login_as_with_token(&mut self, token: &str) -> Res {
        let body = serde_json::json!({"username": USER, "password": PASSWORD}).to_string();
        self.post_json("/api/login/", token, &body).await
    }
}

#[tokio::test]
async fn fetch_metadata_refuses_cross_site_and_same_site_pages_even_with_a_valid_token() {
    let mut app = TestApp::new(Preset::SameOrigin).await;
    let s = token::new_secret();
    for (site, origin) in [
        ("cross-site", "http://evil.example"),
        ("same-site", "http://localhost:9999"),
        ("same-site", "http://localhost:8000"),
    ] {
        let res = post(&mut app, Some(&s), &[("x-csrftoken", &s), ("sec-fetch-site", site), ("origin", origin)]).await;
        assert_eq!(res.status, StatusCode::FORBIDDEN, "{site} {origin}");
        assert_eq!(res.code(), "cross_site_request");
        assert!(res.detail().contains(&format!("Sec-Fetch-Site is {site}")), "{}", res.detail());
    }
    for site in ["same-origin", "none"] {
        assert_passed(&post(&mut app, Some(&s), &[("x-csrftoken", &s), ("sec-fetch-site", site)]).await);
    }
}

#[tokio::test]
async fn fetch_metadata_comes_first_and_the_token_is_still_checked_after_it() {
    let mut app = TestApp::new(Preset::SameOrigin).await;
    let res = post(&mut app, None, &[("sec-fetch-site", "cross-site")]).await;
    assert_eq!(res.code(), "cross_site_request", "refused before the cookie is even looked at");
    let s = token::new_secret();
    assert_rejected(&post(&mut app, Some(&s), &[("sec-fetch-site", "same-origin")]).await, "CSRF token missing.");
}

#[tokio::test]
async fn an_exactly_trusted_origin_passes_fetch_metadata_so_cross_site_deployments_work() {
    // app.example.net calls api.example.com: cross-site, so SameSite=None; Secure cookies.
    let settings = settings_for(Preset::CrossOrigin, |r| {
        r.public_url = Some("https://api.example.com".into());
        r.allowed_origins = vec!["https://app.example.net".into()];
        r.session.cookie.samesite = Some("None".into());
        r.csrf.cookie.samesite = Some("None".into());
    });
    let mut app = TestApp::with_settings(settings).await;
    app.host = "api.example.com".into();
    let s = token::new_secret();
    let ok = post(
        &mut app,
        Some(&s),
        &[("x-csrftoken", &s), ("sec-fetch-site", "cross-site"), ("origin", "https://app.example.net")],
    )
    .await;
    assert_passed(&ok);
    let res = post(
        &mut app,
        Some(&s),
        &[("x-csrftoken", &s), ("sec-fetch-site", "cross-site"), ("origin", "https://evil.example.net")],
    )
    .await;
    assert_eq!(res.code(), "cross_site_request");
}

#[tokio::test]
async fn a_wildcard_trusted_origin_does_not_bypass_fetch_metadata() {
    let settings = settings_for(Preset::SameOrigin, |r| r.allowed_origins = vec!["http://*.localhost".into()]);
    let mut app = TestApp::with_settings(settings).await;
    let s = token::new_secret();
    let res = post(
        &mut app,
        Some(&s),
        &[("x-csrftoken", &s), ("sec-fetch-site", "same-site"), ("origin", "http://a.localhost")],
    )
    .await;
    assert_eq!(res.code(), "cross_site_request");
}
