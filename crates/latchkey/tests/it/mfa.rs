//! Second factors through the API: setting up an authenticator app, the
//! sign-in step after the password, recovery codes, and everything that
//! must not let a half-signed-in browser through.

use http::{Method, StatusCode};
use latchkey::Clock;
use latchkey::{
    mfa::{MAX_CODE_ATTEMPTS, totp::TotpSecret},
    settings::Preset,
};
use serde_json::{Value, json};

use crate::helpers::*;

/// Signs `USER` in and sets up an authenticator app; returns its secret
/// and the recovery codes.
pub(crate) async fn with_totp(app: &mut TestApp) -> (TotpSecret, Vec<String>) {
    app.login().await;
    let res = app.get("/api/mfa/totp/").await;
    assert_eq!(res.status, StatusCode::OK, "{:?}", res.json());
    let secret = TotpSecret::from_base32(res.json()["secret"].as_str().unwrap()).unwrap();
    let code = secret.code_at(app.clock.now());
    let res = app.unsafe_json(Method::POST, "/api/mfa/totp/", &json!({ "code": code }).to_string()).await;
    assert_eq!(res.status, StatusCode::OK, "{:?}", res.json());
    let codes =
        res.json()["recoveryCodes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_owned()).collect();
    // The activation's own code cannot sign in: move to the next step.
    app.clock.advance(time::Duration::seconds(30));
    (secret, codes)
}

async fn signed_in_as(app: &mut TestApp) -> Option<String> {
    let res = app.get("/api/whoami/").await;
    (res.status == StatusCode::OK).then(|| res.json()["username"].as_str().map(str::to_owned)).flatten()
}

pub(crate) async fn second_step(app: &mut TestApp, code: &str) -> Res {
    app.unsafe_json(Method::POST, "/api/mfa/authenticate/", &json!({ "code": code }).to_string()).await
}

#[tokio::test]
async fn setup_shows_a_secret_its_url_and_a_qr_code_the_same_for_ten_minutes_and_never_cached() {
    let mut app = TestApp::new(Preset::SameOrigin).await;
    app.login().await;
    let res = app.get("/api/mfa/totp/").await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.header("cache-control"), Some("no-store"));
    let body = res.json();
    let secret = body["secret"].as_str().unwrap().to_owned();
    assert_eq!(secret.len(), 32);
    assert!(body["otpauthUrl"].as_str().unwrap().starts_with("otpauth://totp/Latchkey:demo?secret="));
    assert!(body["qrSvg"].as_str().unwrap().starts_with("<svg"));
    assert_eq!(app.get("/api/mfa/totp/").await.json()["secret"], secret.as_str(), "the same pending secret");
    // After ten minutes (and a fresh sign-in): a new one.
    app.clock.advance(time::Duration::minutes(10));
    assert_eq!(app.get("/api/mfa/totp/").await.code(), "reauthentication_required");
    app.unsafe_json(Method::POST, "/api/reauthenticate/", &json!({ "password": PASSWORD }).to_string()).await;
    assert_ne!(app.get("/api/mfa/totp/").await.json()["secret"], secret.as_str());
    // The secret is not stored anywhere readable: the session keeps it sealed.
    let key = latchkey::session::SessionKey::parse(&app.session_cookie().unwrap()).unwrap().hash();
    let record = app.lk.sessions().load(&key, app.clock.now()).await.unwrap().unwrap();
    let data = serde_json::to_string(&record.data).unwrap();
    assert!(!data.contains(&secret) && data.contains("v1."), "{data}");
}

#[tokio::test]
async fn activation_needs_a_code_from_the_secret_and_shows_ten_recovery_codes_once() {
    let mut app = TestApp::new(Preset::Embedded).await;
    app.login().await;
    assert_eq!(
        app.unsafe_json(Method::POST, "/api/mfa/totp/", r#"{"code":"123456"}"#).await.code(),
        "mfa_setup_expired"
    );
    let secret = TotpSecret::from_base32(app.get("/api/mfa/totp/").await.json()["secret"].as_str().unwrap()).unwrap();
    let wrong = if secret.code_at(app.clock.now()) == "000000" { "111111" } else { "000000" };
    let res = app.unsafe_json(Method::POST, "/api/mfa/totp/", &json!({ "code": wrong }).to_string()).await;
    assert_eq!((res.status, res.code()), (StatusCode::BAD_REQUEST, "invalid_code".into()));
    let code = secret.code_at(app.clock.now());
    let res = app.unsafe_json(Method::POST, "/api/mfa/totp/", &json!({ "code": code }).to_string()).await;
    assert_eq!(res.status, StatusCode::OK);
    let codes = res.json()["recoveryCodes"].as_array().unwrap().clone();
    assert_eq!(codes.len(), 10);
    assert_eq!(res.header("cache-control"), Some("no-store"));
    let status = app.get("/api/mfa/").await.json();
    assert_eq!((status["totp"]["enabled"].as_bool(), status["recoveryCodesLeft"].as_u64()), (Some(true), Some(10)));
    assert_eq!(status["methods"], json!(["totp", "recovery_code"]));
    assert_eq!(app.get("/api/mfa/totp/").await.code(), "mfa_already_enabled");
    assert_eq!(app.get("/api/mfa/recovery-codes/").await.json()["remaining"], 10);
    let stored = serde_json::to_string(&app.lk.mfa().totp(1).await.unwrap().unwrap().sealed_secret).unwrap();
    assert!(!stored.contains(&secret.base32()), "sealed at rest");
}

#[tokio::test]
async fn with_a_factor_a_right_password_answers_401_and_signs_nobody_in_anywhere() {
    for preset in Preset::ALL {
        let mut app = TestApp::new(preset).await;
        with_totp(&mut app).await;
        app.unsafe_json(Method::POST, "/api/logout/", "{}").await;
        let res = app.login_as(USER, PASSWORD).await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED, "{preset}");
        assert_eq!(res.code(), "mfa_required");
        assert_eq!(res.json()["methods"], json!(["totp", "recovery_code"]));
        assert_eq!(res.json()["detail"], "A second factor is required.");
        assert!(res.header("www-authenticate").is_none(), "{preset}: no browser Basic prompt");
        assert!(app.session_cookie().is_some(), "the pending sign-in lives in a session");
        assert_eq!(signed_in_as(&mut app).await, None, "{preset}");
        let s = app.get("/api/session/").await;
        assert!(s.json()["isAuthenticated"] != true, "{preset}: {:?}", s.json());
        for path in ["/api/sessions/", "/api/mfa/", "/api/admin/users/"] {
            assert_eq!(app.get(path).await.code(), "not_authenticated", "{preset} {path}");
        }
        let res = app
            .unsafe_json(Method::POST, "/api/password/change/", r#"{"currentPassword":"x","newPassword":"y"}"#)
            .await;
        assert_eq!(res.code(), "not_authenticated", "{preset}");
    }
}

#[tokio::test]
async fn the_second_step_takes_a_current_code_once_with_one_step_of_skew_and_moves_to_new_keys() {
    let mut app = TestApp::new(Preset::SameOrigin).await;
    let (secret, _) = with_totp(&mut app).await;
    app.unsafe_json(Method::POST, "/api/logout/", "{}").await;
    // Past the step the activation used, so the previous step is fresh.
    app.clock.advance(time::Duration::seconds(30));
    app.login_as(USER, PASSWORD).await;
    let pending_key = app.session_cookie().unwrap();
    let pending_token = app.csrf_token().await;
    let earlier = secret.code_at(app.clock.now() - time::Duration::seconds(30));
    let res = second_step(&mut app, &earlier).await;
    assert_eq!(res.status, StatusCode::OK, "one step late is accepted: {:?}", res.json());
    assert_eq!(res.json()["username"], USER);
    assert_eq!(signed_in_as(&mut app).await.as_deref(), Some(USER));
    assert_ne!(app.session_cookie().unwrap(), pending_key, "a new session key");
    assert_ne!(app.csrf_token().await, pending_token, "a new CSRF secret");
    // The same code again, in a new sign-in: refused (replay); two steps off: refused.
    app.unsafe_json(Method::POST, "/api/logout/", "{}").await;
    app.login_as(USER, PASSWORD).await;
    assert_eq!(second_step(&mut app, &earlier).await.code(), "invalid_code");
    let two_late = secret.code_at(app.clock.now() - time::Duration::seconds(60));
    assert_eq!(second_step(&mut app, &two_late).await.code(), "invalid_code");
    let two_early = secret.code_at(app.clock.now() + time::Duration::seconds(60));
    assert_eq!(second_step(&mut app, &two_early).await.code(), "invalid_code");
    let now = secret.code_at(app.clock.now());
    assert_eq!(second_step(&mut app, &now).await.status, StatusCode::OK);
    let events = app.lk.audit_store().list(10, Some(USER)).await.unwrap();
    assert!(events.iter().any(|e| e.event == "mfa_failed") && events.iter().any(|e| e.event == "login_mfa_pending"));
}

#[tokio::test]
async fn a_recovery_code_signs_in_once_in_any_case() {
    let mut app = TestApp::new(Preset::CrossOrigin).await;
    let (_, codes) = with_totp(&mut app).await;
    app.unsafe_json(Method::POST, "/api/logout/", "{}").await;
    app.login_as(USER, PASSWORD).await;
    let res = second_step(&mut app, &codes[3].to_uppercase()).await;
    assert_eq!(res.status, StatusCode::OK, "{:?}", res.json());
    assert_eq!(res.json()["recoveryCodesLeft"], 9);
    app.unsafe_json(Method::POST, "/api/logout/", "{}").await;
    app.login_as(USER, PASSWORD).await;
    assert_eq!(second_step(&mut app, &codes[3]).await.code(), "invalid_code", "used once");
    assert_eq!(second_step(&mut app, &codes[4].replace('-', "")).await.status, StatusCode::OK);
    let events = app.lk.audit_store().list(20, Some(USER)).await.unwrap();
    let used: Vec<_> = events.iter().filter(|e| e.event == "recovery_code_used").collect();
    assert_eq!(used.len(), 2);
    assert!(used[0].detail.contains("8 recovery code(s) left"), "{}", used[0].detail);
}

#[tokio::test]
async fn wrong_codes_are_throttled_per_pending_sign_in_and_stay_throttled_after_it_ends() {
    let mut app = TestApp::new(Preset::SameOrigin).await;
    let (secret, _) = with_totp(&mut app).await;
    app.unsafe_json(Method::POST, "/api/logout/", "{}").await;
    app.login_as(USER, PASSWORD).await;
    let right = secret.code_at(app.clock.now());
    let wrong = if right == "000000" { "111111" } else { "000000" };
    for i in 0..MAX_CODE_ATTEMPTS {
        assert_eq!(second_step(&mut app, wrong).await.code(), "invalid_code", "attempt {i}");
    }
    let res = second_step(&mut app, &right).await;
    assert_eq!((res.status, res.code()), (StatusCode::TOO_MANY_REQUESTS, "throttled".into()), "even the right code");
    assert!(res.header("retry-after").is_some());
    app.clock.advance(time::Duration::minutes(6));
    let res = {
        let c = secret.code_at(app.clock.now());
        second_step(&mut app, &c).await
    };
    assert_eq!(res.status, StatusCode::TOO_MANY_REQUESTS, "still 429 after the pending sign-in expired");
    // Another browser is not affected by this one's count.
    let mut other = app.browser();
    other.login_as(USER, PASSWORD).await;
    assert_eq!(
        {
            let c = secret.code_at(other.clock.now());
            second_step(&mut other, &c).await
        }
        .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn the_account_limit_holds_across_browsers() {
    let mut app =
        TestApp::with_settings(settings_for(Preset::SameOrigin, |raw| raw.throttle.per_account = Some(6))).await;
    let (secret, _) = with_totp(&mut app).await;
    let wrong =
        |s: &TotpSecret, app: &TestApp| if s.code_at(app.clock.now()) == "000000" { "111111" } else { "000000" };
    let mut refused = 0;
    for _ in 0..4 {
        let mut b = app.browser();
        b.login_as(USER, PASSWORD).await;
        for _ in 0..3 {
            let w = wrong(&secret, &b);
            if second_step(&mut b, w).await.status == StatusCode::TOO_MANY_REQUESTS {
                refused += 1;
            }
        }
    }
    assert!(refused >= 12 - 6, "at most 6 attempts per account in the window, {refused} refused");
    // An operator's `latchkey throttle reset --username` lifts it.
    latchkey::throttle::ThrottlePolicy::reset_account(app.lk.throttle().as_ref(), USER).await.unwrap();
    let mut b = app.browser();
    b.login_as(USER, PASSWORD).await;
    let code = secret.code_at(b.clock.now());
    assert_eq!(second_step(&mut b, &code).await.status, StatusCode::OK, "after the operator's reset");
}

#[tokio::test]
async fn a_pending_sign_in_expires_after_five_minutes_and_belongs_to_its_browser() {
    let mut app = TestApp::new(Preset::Embedded).await;
    let (secret, _) = with_totp(&mut app).await;
    app.unsafe_json(Method::POST, "/api/logout/", "{}").await;
    app.login_as(USER, PASSWORD).await;
    // The store itself drops the pending session once its attempt count
    // no longer matters (the throttle window), not weeks later.
    let key = latchkey::session::SessionKey::parse(&app.session_cookie().unwrap()).unwrap().hash();
    let record = app.lk.sessions().load(&key, app.clock.now()).await.unwrap().unwrap();
    let window = app.lk.settings().throttle.window.max(latchkey::mfa::PENDING_TTL);
    assert!(record.expires_at <= app.clock.now() + window, "{:?}", record.expires_at);
    assert!(record.user_id.is_none(), "signed in as nobody");
    let mut stranger = app.browser();
    assert_eq!(
        {
            let c = secret.code_at(app.clock.now());
            second_step(&mut stranger, &c).await
        }
        .code(),
        "mfa_not_pending"
    );
    app.clock.advance(time::Duration::seconds(301));
    assert_eq!(
        {
            let c = secret.code_at(app.clock.now());
            second_step(&mut app, &c).await
        }
        .code(),
        "mfa_not_pending"
    );
    assert_eq!(signed_in_as(&mut app).await, None);
}

#[tokio::test]
async fn a_password_changed_meanwhile_ends_the_pending_sign_in() {
    let mut app = TestApp::new(Preset::SameOrigin).await;
    let (secret, _) = with_totp(&mut app).await;
    app.unsafe_json(Method::POST, "/api/logout/", "{}").await;
    app.login_as(USER, PASSWORD).await;
    let user = app.lk.users().by_username(USER).await.unwrap().unwrap();
    let hash = app.lk.hasher().hash(&latchkey::RawPassword::new("changed elsewhere 1")).await.unwrap();
    app.lk.users().set_password_hash(user.id, &hash).await.unwrap();
    assert_eq!(
        {
            let c = secret.code_at(app.clock.now());
            second_step(&mut app, &c).await
        }
        .code(),
        "mfa_not_pending"
    );
}

#[tokio::test]
async fn http_basic_cannot_sign_in_an_account_with_a_factor() {
    let mut app = TestApp::new(Preset::Rest).await;
    with_totp(&mut app).await;
    let mut basic = app.browser();
    let auth = format!("Basic {}", base64_encode(&format!("{USER}:{PASSWORD}")));
    let res = basic.send(Method::GET, "/api/whoami/", &[("authorization", auth.as_str())], None).await;
    assert_eq!((res.status, res.code()), (StatusCode::FORBIDDEN, "mfa_required".into()));
}

#[tokio::test]
async fn removing_the_app_needs_a_recent_sign_in_and_brings_back_password_only_sign_in() {
    let mut app = TestApp::new(Preset::SameOrigin).await;
    let (secret, _) = with_totp(&mut app).await;
    app.clock.advance(time::Duration::seconds(301));
    assert_eq!(app.send(Method::DELETE, "/api/mfa/totp/", &[], None).await.status, StatusCode::FORBIDDEN);
    let res = app.unsafe_json(Method::DELETE, "/api/mfa/totp/", "{}").await;
    assert_eq!(res.code(), "reauthentication_required");
    app.unsafe_json(Method::POST, "/api/reauthenticate/", &json!({ "password": PASSWORD }).to_string()).await;
    assert_eq!(app.unsafe_json(Method::DELETE, "/api/mfa/totp/", "{}").await.status, StatusCode::OK);
    assert_eq!(app.unsafe_json(Method::DELETE, "/api/mfa/totp/", "{}").await.code(), "mfa_not_enabled");
    assert_eq!(app.get("/api/mfa/").await.json()["methods"], json!([]));
    app.unsafe_json(Method::POST, "/api/logout/", "{}").await;
    assert_eq!(app.login_as(USER, PASSWORD).await.status, StatusCode::OK, "a password alone again");
    let _ = secret;
}

#[tokio::test]
async fn regenerated_recovery_codes_replace_the_old_ones() {
    let mut app = TestApp::new(Preset::SameOrigin).await;
    let (_, old) = with_totp(&mut app).await;
    let res = app.unsafe_json(Method::POST, "/api/mfa/recovery-codes/", "{}").await;
    assert_eq!(res.status, StatusCode::OK);
    let new: Vec<Value> = res.json()["recoveryCodes"].as_array().unwrap().clone();
    assert_eq!(new.len(), 10);
    app.unsafe_json(Method::POST, "/api/logout/", "{}").await;
    app.login_as(USER, PASSWORD).await;
    assert_eq!(second_step(&mut app, &old[0]).await.code(), "invalid_code", "the old set is dead");
    assert_eq!(second_step(&mut app, new[0].as_str().unwrap()).await.status, StatusCode::OK);
}

#[tokio::test]
async fn an_admin_resets_a_lost_device_which_ends_the_users_sessions_under_the_admins_rules() {
    let mut user = TestApp::new(Preset::SameOrigin).await;
    with_totp(&mut user).await;
    let staff = user.create_user("staffer", PASSWORD).await;
    let up = latchkey::users::UserChanges { is_staff: Some(true), ..Default::default() };
    user.lk.users().update(staff.id, &up).await.unwrap();
    let mut admin = user.browser();
    admin.login_as("staffer", PASSWORD).await;
    let id = user.lk.users().by_username(USER).await.unwrap().unwrap().id;
    let factors = admin.get(&format!("/api/admin/users/{id}/mfa/")).await.json();
    assert_eq!((factors["totp"]["enabled"].as_bool(), factors["recoveryCodesLeft"].as_u64()), (Some(true), Some(10)));
    assert_eq!(signed_in_as(&mut user).await.as_deref(), Some(USER));
    let res = admin.unsafe_json(Method::DELETE, &format!("/api/admin/users/{id}/mfa/"), "{}").await;
    assert_eq!(res.status, StatusCode::OK, "{:?}", res.json());
    assert_eq!(signed_in_as(&mut user).await, None, "the user's sessions ended");
    assert_eq!(user.login_as(USER, PASSWORD).await.status, StatusCode::OK, "a password alone again");
    let res = admin.unsafe_json(Method::DELETE, &format!("/api/admin/users/{id}/mfa/"), "{}").await;
    assert_eq!(res.json()["detail"], "The user had no second factor.");
    let events = user.lk.audit_store().list(20, Some(USER)).await.unwrap();
    assert!(events.iter().any(|e| e.event == "mfa_disabled" && e.actor.as_deref() == Some("staffer")));
    // Their own factors: from the account page, not the admin.
    let own = admin.unsafe_json(Method::DELETE, &format!("/api/admin/users/{}/mfa/", staff.id), "{}").await;
    assert_eq!(own.code(), "permission_denied");
    // Needs a recent sign-in, as every admin change.
    admin.clock.advance(time::Duration::seconds(301));
    let late = admin.unsafe_json(Method::DELETE, &format!("/api/admin/users/{id}/mfa/"), "{}").await;
    assert_eq!(late.code(), "reauthentication_required");
}

#[tokio::test]
async fn second_steps_are_counted_by_method_and_outcome() {
    let mut app = TestApp::new(Preset::SameOrigin).await;
    let (secret, codes) = with_totp(&mut app).await;
    app.unsafe_json(Method::POST, "/api/logout/", "{}").await;
    app.login_as(USER, PASSWORD).await;
    assert_eq!(second_step(&mut app, "000000").await.code(), "invalid_code");
    let code = secret.code_at(app.clock.now());
    assert_eq!(second_step(&mut app, &code).await.status, StatusCode::OK);
    app.unsafe_json(Method::POST, "/api/logout/", "{}").await;
    app.login_as(USER, PASSWORD).await;
    assert_eq!(second_step(&mut app, &codes[0]).await.status, StatusCode::OK);
    let text = app.lk.render_metrics().await;
    let series = |m: &str, o: &str| format!("latchkey_second_factor_total{{method=\"{m}\",outcome=\"{o}\"}}");
    assert_eq!(sample(&text, &series("code", "failed")), 1.0, "{text}");
    assert_eq!(sample(&text, &series("totp", "ok")), 1.0, "{text}");
    assert_eq!(sample(&text, &series("recovery_code", "ok")), 1.0, "{text}");
    // The password was right three times, each followed by a second step.
    assert_eq!(sample(&text, "latchkey_logins_total{via=\"password\",outcome=\"ok\"}"), 3.0, "{text}");
}
