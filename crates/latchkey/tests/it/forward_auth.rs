//! `GET /api/auth/verify/`: forward auth for a reverse proxy's
//! `auth_request`. It says who the browser is and writes nothing back.

use http::{Method, StatusCode};
use latchkey::settings::Preset;
use serde_json::json;

use crate::helpers::*;

const VERIFY: &str = "/api/auth/verify/";

#[tokio::test]
async fn a_valid_session_gets_204_with_who_and_their_groups_in_every_preset() {
    for preset in Preset::ALL {
        let mut app = TestApp::new(preset).await;
        app.login().await;
        let res = app.get(VERIFY).await;
        assert_eq!(res.status, StatusCode::NO_CONTENT, "{preset}");
        assert_eq!(res.header("x-auth-request-user"), Some(USER), "{preset}");
        assert_eq!(res.header("x-auth-request-groups"), Some(""), "{preset}: a plain user");
        assert!(res.header("x-auth-request-email").is_some());
        assert_eq!(res.header("cache-control"), Some("no-store"));
        assert!(res.set_cookies().is_empty(), "{preset}: no cookie written: {:?}", res.set_cookies());
        assert!(res.body.is_empty());
    }
}

#[tokio::test]
async fn anonymous_expired_and_forged_sessions_get_401_and_no_cookie() {
    let mut app = TestApp::new(Preset::SameOrigin).await;
    let res = app.get(VERIFY).await;
    assert_eq!((res.status, res.code()), (StatusCode::UNAUTHORIZED, "not_authenticated".into()));
    assert!(res.header("x-auth-request-user").is_none());
    assert!(res.set_cookies().is_empty(), "no CSRF cookie, no session cookie");
    app.jar.insert("sessionid".into(), "forged0123456789forged0123456789".into());
    let res = app.get(VERIFY).await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    assert!(res.set_cookies().is_empty(), "an unknown cookie is not deleted here");
    // A session that expired.
    app.jar.clear();
    app.login().await;
    app.clock.advance(time::Duration::weeks(3));
    let res = app.get(VERIFY).await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    assert!(res.set_cookies().is_empty());
    // Headers a client sends itself prove nothing.
    let mut anon = app.browser();
    let res = anon
        .send(
            Method::GET,
            VERIFY,
            &[
                ("x-auth-request-user", USER),
                ("authorization", &format!("Basic {}", base64_encode(&format!("{USER}:{PASSWORD}")))),
            ],
            None,
        )
        .await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED, "session only: not HTTP Basic, not a forged header");
}

#[tokio::test]
async fn a_logout_or_a_password_change_elsewhere_ends_access_at_once() {
    let mut app = TestApp::new(Preset::Embedded).await;
    app.login().await;
    assert_eq!(app.get(VERIFY).await.status, StatusCode::NO_CONTENT);
    let cookie = app.session_cookie().unwrap();
    app.unsafe_json(Method::POST, "/api/logout/", "{}").await;
    let mut stolen = app.browser();
    stolen.jar.insert("sessionid".into(), cookie);
    assert_eq!(stolen.get(VERIFY).await.status, StatusCode::UNAUTHORIZED, "the old cookie is dead");
    app.login().await;
    let mut other = app.browser();
    other.login().await;
    let body = json!({ "currentPassword": PASSWORD, "newPassword": "a brand new passphrase 7" }).to_string();
    assert_eq!(app.unsafe_json(Method::POST, "/api/password/change/", &body).await.status, StatusCode::OK);
    assert_eq!(other.get(VERIFY).await.status, StatusCode::UNAUTHORIZED, "the other browser lost access");
    assert_eq!(app.get(VERIFY).await.status, StatusCode::NO_CONTENT, "this one continues");
}

#[tokio::test]
async fn staff_1_requires_staff_and_says_so() {
    let mut app = TestApp::new(Preset::SameOrigin).await;
    app.login().await;
    let res = app.get("/api/auth/verify/?staff=1").await;
    assert_eq!((res.status, res.code()), (StatusCode::FORBIDDEN, "permission_denied".into()));
    assert_eq!(app.get("/api/auth/verify/?staff=0").await.status, StatusCode::NO_CONTENT);
    assert_eq!(app.get("/api/auth/verify/?staff=maybe").await.code(), "invalid_parameter");
    let staff = app.create_user("staffer", PASSWORD).await;
    let up = latchkey::users::UserChanges { is_staff: Some(true), ..Default::default() };
    app.lk.users().update(staff.id, &up).await.unwrap();
    let mut s = app.browser();
    s.login_as("staffer", PASSWORD).await;
    let res = s.get("/api/auth/verify/?staff=1").await;
    assert_eq!(res.status, StatusCode::NO_CONTENT);
    assert_eq!(
        (res.header("x-auth-request-user"), res.header("x-auth-request-groups")),
        (Some("staffer"), Some("staff"))
    );
}

#[tokio::test]
async fn only_get_and_head_and_the_errors_are_json() {
    let mut app = TestApp::new(Preset::CrossOrigin).await;
    let res = app.send(Method::POST, VERIFY, &[], None).await;
    assert_eq!(res.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(res.code(), "method_not_allowed");
    assert_eq!(app.send(Method::HEAD, VERIFY, &[], None).await.status, StatusCode::UNAUTHORIZED);
    let res = app.send(Method::GET, "/api/auth/verify", &[], None).await;
    assert_eq!(res.status, StatusCode::MOVED_PERMANENTLY, "the slash redirect knows it");
}
