//! Passkeys and security keys through the API, with a software
//! authenticator (`softkey.rs`): registration, the list, signing in with a
//! passkey and no password, a passkey as the second step after a password,
//! and every check a forged, replayed, cloned or stale answer must fail.

use http::{Method, StatusCode};
use latchkey::{OPTIONS_PER_CLIENT, settings::Preset};
use serde_json::{Value, json};

use crate::{helpers::*, softkey::SoftKey};

async fn post(app: &mut TestApp, path: &str, body: Value) -> Res {
    app.unsafe_json(Method::POST, path, &body.to_string()).await
}

async fn register_options(app: &mut TestApp) -> Value {
    let res = post(app, "/api/mfa/webauthn/register/options/", json!({})).await;
    assert_eq!(res.status, StatusCode::OK, "{:?}", res.json());
    res.json()
}

/// Registers `key` for the signed-in user under `name`.
pub(crate) async fn register(app: &mut TestApp, key: &mut SoftKey, name: &str) -> Res {
    let options = register_options(app).await;
    let credential = key.create(&options);
    post(app, "/api/mfa/webauthn/register/", json!({ "name": name, "credential": credential })).await
}

async fn login_options(app: &mut TestApp) -> Value {
    let res = post(app, "/api/login/webauthn/options/", json!({})).await;
    assert_eq!(res.status, StatusCode::OK, "{:?}", res.json());
    res.json()
}

pub(crate) async fn passkey_login(app: &mut TestApp, key: &mut SoftKey) -> Res {
    let options = login_options(app).await;
    let assertion = key.get(&options);
    post(app, "/api/login/webauthn/", json!({ "credential": assertion })).await
}

async fn whoami(app: &mut TestApp) -> Option<String> {
    let res = app.get("/api/whoami/").await;
    (res.status == StatusCode::OK).then(|| res.json()["username"].as_str().map(str::to_owned)).flatten()
}

async fn logout(app: &mut TestApp) {
    post(app, "/api/logout/", json!({})).await;
    assert_eq!(whoami(app).await, None);
}

#[tokio::test]
async fn registration_options_need_a_recent_sign_in_and_exclude_the_users_keys() {
    let mut app = TestApp::new(Preset::Embedded).await;
    assert_eq!(post(&mut app, "/api/mfa/webauthn/register/options/", json!({})).await.code(), "not_authenticated");
    app.login().await;
    let o = register_options(&mut app).await;
    assert_eq!((o["rp"]["id"].as_str(), o["rp"]["name"].as_str()), (Some("localhost"), Some("Latchkey")));
    assert_eq!(o["user"]["name"], USER);
    assert_eq!(o["authenticatorSelection"]["residentKey"], "preferred");
    assert_eq!(o["authenticatorSelection"]["userVerification"], "required");
    assert_eq!(o["excludeCredentials"], json!([]));
    let mut key = SoftKey::new();
    assert_eq!(register(&mut app, &mut key, "Laptop").await.status, StatusCode::CREATED);
    let o = register_options(&mut app).await;
    let excluded: Vec<&str> =
        o["excludeCredentials"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(excluded.len(), 1, "{o}");
    assert_eq!(o["user"]["id"].as_str().unwrap().len(), 22, "a 16-byte random handle, base64url");
    app.clock.advance(time::Duration::minutes(6));
    let res = post(&mut app, "/api/mfa/webauthn/register/options/", json!({})).await;
    assert_eq!(res.code(), "reauthentication_required");
}

#[tokio::test]
async fn a_first_passkey_brings_recovery_codes_and_can_be_listed_renamed_and_removed() {
    let mut app = TestApp::new(Preset::SameOrigin).await;
    app.login().await;
    let mut key = SoftKey::new();
    let res = register(&mut app, &mut key, "  Laptop  ").await;
    assert_eq!(res.status, StatusCode::CREATED, "{:?}", res.json());
    assert_eq!(res.header("cache-control"), Some("no-store"));
    let body = res.json();
    assert_eq!(body["credential"]["name"], "Laptop");
    assert_eq!(body["recoveryCodes"].as_array().unwrap().len(), 10, "the first second factor");
    let id = body["credential"]["id"].as_i64().unwrap();
    let status = app.get("/api/mfa/").await.json();
    assert_eq!(status["methods"], json!(["webauthn", "recovery_code"]));
    assert_eq!(status["webauthn"][0]["name"], "Laptop");
    // A second key: no new codes.
    let mut other = SoftKey::new();
    let res = register(&mut app, &mut other, "").await;
    assert_eq!((res.json()["credential"]["name"].as_str(), res.json().get("recoveryCodes")), (Some("Passkey"), None));
    let list = app.get("/api/mfa/webauthn/credentials/").await.json();
    let names: Vec<&str> = list["results"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Laptop", "Passkey"]);
    assert!(list["results"][0]["lastUsedAt"].is_null());
    // The same authenticator again: refused.
    let again = register(&mut app, &mut key, "Again").await;
    assert_eq!((again.status, again.code()), (StatusCode::CONFLICT, "webauthn_credential_exists".into()));
    app.create_user("carol", "correct horse battery staple").await;
    let mut carol = app.browser();
    carol.login_as("carol", "correct horse battery staple").await;
    let res = register(&mut carol, &mut key.clone(), "Not mine").await;
    assert_eq!(res.code(), "webauthn_credential_exists", "one credential, one account");
    // Rename.
    let path = format!("/api/mfa/webauthn/credentials/{id}/");
    let res = app.unsafe_json(Method::PATCH, &path, r#"{"name":"Work laptop"}"#).await;
    assert_eq!((res.status, res.json()["name"].as_str()), (StatusCode::OK, Some("Work laptop")));
    let long = json!({ "name": "x".repeat(65) }).to_string();
    assert_eq!(app.unsafe_json(Method::PATCH, &path, &long).await.code(), "invalid_name");
    for bad in ["/api/mfa/webauthn/credentials/999/", "/api/mfa/webauthn/credentials/abc/"] {
        assert_eq!(app.unsafe_json(Method::PATCH, bad, r#"{"name":"x"}"#).await.code(), "credential_not_found");
    }
    // Another user cannot touch it.
    app.create_user("eve", "correct horse battery staple").await;
    let mut eve = app.browser();
    eve.login_as("eve", "correct horse battery staple").await;
    assert_eq!(eve.unsafe_json(Method::PATCH, &path, r#"{"name":"mine"}"#).await.code(), "credential_not_found");
    assert_eq!(eve.unsafe_json(Method::DELETE, &path, "").await.code(), "credential_not_found");
    // Removing both: the codes go with the last one; a stale sign-in is asked again.
    app.clock.advance(time::Duration::minutes(6));
    assert_eq!(app.unsafe_json(Method::DELETE, &path, "").await.code(), "reauthentication_required");
    post(&mut app, "/api/reauthenticate/", json!({ "password": PASSWORD })).await;
    assert_eq!(app.unsafe_json(Method::DELETE, &path, "").await.status, StatusCode::OK);
    assert_eq!(app.get("/api/mfa/").await.json()["recoveryCodesLeft"], 10, "a key remains");
    let other_id = app.get("/api/mfa/webauthn/credentials/").await.json()["results"][0]["id"].as_i64().unwrap();
    let res = app.unsafe_json(Method::DELETE, &format!("/api/mfa/webauthn/credentials/{other_id}/"), "").await;
    assert_eq!(res.status, StatusCode::OK);
    let status = app.get("/api/mfa/").await.json();
    assert_eq!((status["methods"].clone(), status["recoveryCodesLeft"].as_u64()), (json!([]), Some(0)));
    let kinds = audit_kinds(&app).await;
    assert_eq!(kinds.iter().filter(|k| *k == "mfa_enabled").count(), 2, "{kinds:?}");
    assert_eq!(kinds.iter().filter(|k| *k == "mfa_disabled").count(), 2, "{kinds:?}");
}

async fn audit_kinds(app: &TestApp) -> Vec<String> {
    app.lk.audit_store().list(1000, None).await.unwrap().into_iter().map(|e| e.event).collect()
}

#[tokio::test]
async fn a_ceremony_is_used_once_expires_in_five_minutes_and_stays_in_its_browser() {
    let mut app = TestApp::new(Preset::Embedded).await;
    app.login().await;
    let mut key = SoftKey::new();
    let options = register_options(&mut app).await;
    let credential = key.create(&options);
    let body = json!({ "name": "Key", "credential": credential });
    // Another signed-in browser of the same user cannot finish it.
    let mut elsewhere = app.browser();
    elsewhere.login().await;
    let res = post(&mut elsewhere, "/api/mfa/webauthn/register/", body.clone()).await;
    assert_eq!(res.code(), "webauthn_not_started");
    assert_eq!(post(&mut app, "/api/mfa/webauthn/register/", body.clone()).await.status, StatusCode::CREATED);
    assert_eq!(post(&mut app, "/api/mfa/webauthn/register/", body).await.code(), "webauthn_not_started", "once");
    // Sign-in options expire.
    logout(&mut app).await;
    let options = login_options(&mut app).await;
    app.clock.advance(time::Duration::minutes(5));
    let assertion = key.get(&options);
    let res = post(&mut app, "/api/login/webauthn/", json!({ "credential": assertion })).await;
    assert_eq!((res.status, res.code()), (StatusCode::BAD_REQUEST, "webauthn_not_started".into()));
    // An answer carried to a browser that did not ask for it.
    let options = login_options(&mut app).await;
    let assertion = key.get(&options);
    let mut thief = app.browser();
    let res = post(&mut thief, "/api/login/webauthn/", json!({ "credential": assertion.clone() })).await;
    assert_eq!(res.code(), "webauthn_not_started");
    assert_eq!(whoami(&mut thief).await, None);
    assert_eq!(post(&mut app, "/api/login/webauthn/", json!({ "credential": assertion })).await.status, StatusCode::OK);
}

#[tokio::test]
async fn signing_in_with_a_passkey_needs_no_password_and_moves_to_new_keys_in_every_preset() {
    for preset in Preset::ALL {
        let mut app = TestApp::new(preset).await;
        if preset == Preset::CrossOrigin {
            app.host = "localhost:8000".into();
        }
        app.login().await;
        let mut key = SoftKey::new();
        if preset == Preset::CrossOrigin {
            // The SPA's origin runs the ceremony there.
            key.origin = "http://localhost:5173".into();
        }
        assert_eq!(register(&mut app, &mut key, "Laptop").await.status, StatusCode::CREATED, "{preset}");
        logout(&mut app).await;
        let options = login_options(&mut app).await;
        assert_eq!(options.get("allowCredentials").cloned().unwrap_or(json!([])), json!([]), "{preset}: names no one");
        assert_eq!(options["userVerification"], "required");
        assert_eq!(options["rpId"], "localhost");
        let before = (app.session_cookie(), app.csrf_token().await);
        let assertion = key.get(&options);
        let res = post(&mut app, "/api/login/webauthn/", json!({ "credential": assertion })).await;
        assert_eq!(res.status, StatusCode::OK, "{preset}: {:?}", res.json());
        assert_eq!(res.json()["username"], USER);
        assert_eq!(whoami(&mut app).await.as_deref(), Some(USER), "{preset}");
        assert_ne!(app.session_cookie(), before.0, "{preset}: a new session key");
        let session = app.get("/api/session/").await.json();
        assert_eq!(session["isAuthenticated"], true);
        let last = app.get("/api/mfa/webauthn/credentials/").await.json()["results"][0].clone();
        assert!(last["lastUsedAt"].is_string(), "{preset}: {last}");
        // The sign-in counts as recent: a sensitive action needs no password.
        assert_eq!(register_options(&mut app).await["rp"]["id"], "localhost");
    }
}

#[tokio::test]
async fn a_passkey_signs_in_an_account_with_totp_without_asking_for_a_code() {
    let mut app = TestApp::new(Preset::Rest).await;
    app.login().await;
    let secret = latchkey::mfa::totp::TotpSecret::from_base32(
        app.get("/api/mfa/totp/").await.json()["secret"].as_str().unwrap(),
    )
    .unwrap();
    let code = secret.code_at(latchkey::Clock::now(&app.clock));
    assert_eq!(post(&mut app, "/api/mfa/totp/", json!({ "code": code })).await.status, StatusCode::OK);
    let mut key = SoftKey::new();
    let res = register(&mut app, &mut key, "Phone").await;
    assert!(res.json().get("recoveryCodes").is_none(), "TOTP brought them");
    logout(&mut app).await;
    let res = app.login_as(USER, PASSWORD).await;
    assert_eq!(res.json()["methods"], json!(["totp", "webauthn", "recovery_code"]));
    assert_eq!(passkey_login(&mut app, &mut key).await.status, StatusCode::OK);
    assert_eq!(whoami(&mut app).await.as_deref(), Some(USER));
}

#[tokio::test]
async fn a_forged_origin_challenge_signature_or_missing_verification_is_refused() {
    let mut app = TestApp::new(Preset::Embedded).await;
    app.login().await;
    let mut key = SoftKey::new();
    register(&mut app, &mut key, "Laptop").await;
    logout(&mut app).await;
    let mut attempt = async |app: &mut TestApp, spoil: &dyn Fn(&mut SoftKey, &Value) -> Value| {
        let options = login_options(app).await;
        let assertion = spoil(&mut key, &options);
        post(app, "/api/login/webauthn/", json!({ "credential": assertion })).await
    };
    let phishing = |k: &mut SoftKey, o: &Value| {
        let mut k = k.clone();
        k.origin = "http://localhost.evil.example".into();
        k.counter += 10;
        k.get(o)
    };
    let other_rp = |k: &mut SoftKey, o: &Value| {
        let mut k = k.clone();
        k.rp_id = "example.com".into();
        k.counter += 20;
        k.get(o)
    };
    let stale_challenge = |k: &mut SoftKey, o: &Value| {
        let mut o = o.clone();
        o["challenge"] = json!("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
        k.get(&o)
    };
    let bad_signature = |k: &mut SoftKey, o: &Value| {
        use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
        let mut a = k.get(o);
        let mut sig = URL_SAFE_NO_PAD.decode(a["response"]["signature"].as_str().unwrap()).unwrap();
        sig[20] ^= 1;
        a["response"]["signature"] = json!(URL_SAFE_NO_PAD.encode(sig));
        a
    };
    let no_verification = |k: &mut SoftKey, o: &Value| {
        k.counter += 1;
        k.assert_with(o, 0x01)
    };
    let stranger = |_: &mut SoftKey, o: &Value| SoftKey::new().get(o);
    let not_json = |_: &mut SoftKey, _: &Value| json!({ "id": 5 });
    for (what, spoil) in [
        ("another origin", &phishing as &dyn Fn(&mut SoftKey, &Value) -> Value),
        ("another RP id", &other_rp),
        ("another challenge", &stale_challenge),
        ("a bad signature", &bad_signature),
        ("no user verification", &no_verification),
        ("an unknown credential", &stranger),
        ("not an assertion", &not_json),
    ] {
        let res = attempt(&mut app, spoil).await;
        assert_eq!((res.status, res.code()), (StatusCode::BAD_REQUEST, "webauthn_failed".into()), "{what}");
        assert_eq!(whoami(&mut app).await, None, "{what}");
    }
    assert_eq!(passkey_login(&mut app, &mut key).await.status, StatusCode::OK, "the real key still works");
    assert!(audit_kinds(&app).await.iter().filter(|k| *k == "webauthn_failed").count() >= 5);
}

#[tokio::test]
async fn a_cloned_key_whose_counter_does_not_move_forward_is_refused() {
    let mut app = TestApp::new(Preset::Embedded).await;
    app.login().await;
    let mut key = SoftKey::new();
    register(&mut app, &mut key, "Laptop").await;
    logout(&mut app).await;
    let mut clone = key.clone();
    key.counter = 4;
    assert_eq!(passkey_login(&mut app, &mut key).await.status, StatusCode::OK, "counter 5");
    logout(&mut app).await;
    clone.counter = 2;
    let res = passkey_login(&mut app, &mut clone).await;
    assert_eq!(res.code(), "webauthn_failed", "counter 3 after 5");
    assert_eq!(whoami(&mut app).await, None);
    assert_eq!(passkey_login(&mut app, &mut key).await.status, StatusCode::OK, "counter 6");
}

#[tokio::test]
async fn the_credentials_user_handle_must_be_the_one_it_was_registered_under() {
    let mut app = TestApp::new(Preset::Embedded).await;
    app.login().await;
    let mut key = SoftKey::new();
    register(&mut app, &mut key, "Laptop").await;
    logout(&mut app).await;
    let real = key.user_handle.clone();
    key.user_handle = vec![7u8; 16];
    assert_eq!(passkey_login(&mut app, &mut key).await.code(), "webauthn_failed");
    key.user_handle = real;
    assert_eq!(passkey_login(&mut app, &mut key).await.status, StatusCode::OK);
}

#[tokio::test]
async fn an_inactive_accounts_passkey_signs_nobody_in() {
    let mut app = TestApp::new(Preset::Embedded).await;
    app.login().await;
    let mut key = SoftKey::new();
    register(&mut app, &mut key, "Laptop").await;
    logout(&mut app).await;
    let user = app.lk.users().by_username(USER).await.unwrap().unwrap();
    app.lk.users().set_active(user.id, false).await.unwrap();
    assert_eq!(passkey_login(&mut app, &mut key).await.code(), "webauthn_failed");
    assert_eq!(whoami(&mut app).await, None);
}

#[tokio::test]
async fn after_a_password_a_passkey_proves_the_second_factor_and_only_the_pending_users() {
    for preset in Preset::ALL {
        let mut app = TestApp::new(preset).await;
        let mut key = SoftKey::new();
        if preset == Preset::CrossOrigin {
            key.origin = "http://localhost:5173".into();
        }
        app.create_user("mallory", "correct horse battery staple").await;
        let mut mallory = app.browser();
        mallory.login_as("mallory", "correct horse battery staple").await;
        let mut mallory_key = SoftKey::new();
        mallory_key.origin = key.origin.clone();
        register(&mut mallory, &mut mallory_key, "Mallory's").await;

        app.login().await;
        register(&mut app, &mut key, "Laptop").await;
        logout(&mut app).await;
        let res = post(&mut app, "/api/mfa/webauthn/options/", json!({})).await;
        assert_eq!(res.code(), "mfa_not_pending", "{preset}");
        let res = app.login_as(USER, PASSWORD).await;
        assert_eq!(res.json()["methods"], json!(["webauthn", "recovery_code"]), "{preset}");
        let res = post(&mut app, "/api/mfa/webauthn/options/", json!({})).await;
        assert_eq!(res.status, StatusCode::OK, "{preset}");
        let options = res.json();
        assert_eq!(options["allowCredentials"].as_array().unwrap().len(), 1, "{preset}: this user's keys only");
        // Another user's valid key is no second factor for this one.
        let assertion = mallory_key.get(&options);
        let res = post(&mut app, "/api/mfa/authenticate/", json!({ "credential": assertion })).await;
        assert_eq!(res.code(), "webauthn_failed", "{preset}");
        assert_eq!(whoami(&mut app).await, None, "{preset}");
        let options = post(&mut app, "/api/mfa/webauthn/options/", json!({})).await.json();
        let before = app.session_cookie();
        let assertion = key.get(&options);
        let res = post(&mut app, "/api/mfa/authenticate/", json!({ "credential": assertion })).await;
        assert_eq!(res.status, StatusCode::OK, "{preset}: {:?}", res.json());
        assert_eq!(whoami(&mut app).await.as_deref(), Some(USER), "{preset}");
        assert_ne!(app.session_cookie(), before, "{preset}");
    }
}

#[tokio::test]
async fn a_passkey_second_step_counts_against_the_pending_sign_ins_attempts() {
    let mut app = TestApp::new(Preset::Embedded).await;
    app.login().await;
    let mut key = SoftKey::new();
    register(&mut app, &mut key, "Laptop").await;
    logout(&mut app).await;
    app.login_as(USER, PASSWORD).await;
    for _ in 0..latchkey::mfa::MAX_CODE_ATTEMPTS {
        let options = post(&mut app, "/api/mfa/webauthn/options/", json!({})).await.json();
        let assertion = SoftKey::new().get(&options);
        assert_eq!(
            post(&mut app, "/api/mfa/authenticate/", json!({ "credential": assertion })).await.code(),
            "webauthn_failed"
        );
    }
    let options = post(&mut app, "/api/mfa/webauthn/options/", json!({})).await.json();
    let assertion = key.get(&options);
    let res = post(&mut app, "/api/mfa/authenticate/", json!({ "credential": assertion })).await;
    assert_eq!((res.status, res.code()), (StatusCode::TOO_MANY_REQUESTS, "throttled".into()));
    assert!(res.header("retry-after").is_some());
}

#[tokio::test]
async fn anonymous_options_calls_are_throttled_per_client_before_they_reach_the_store() {
    let mut app = TestApp::new(Preset::SameOrigin).await;
    let token = app.csrf_token().await;
    for i in 0..OPTIONS_PER_CLIENT {
        // A new browser each time (no cookie): the flood a script would send.
        let mut b = app.browser();
        b.jar.insert("csrftoken".into(), app.jar["csrftoken"].clone());
        let res = b.post_json("/api/login/webauthn/options/", &token, "{}").await;
        assert_eq!(res.status, StatusCode::OK, "call {i}");
    }
    let mut b = app.browser();
    b.jar.insert("csrftoken".into(), app.jar["csrftoken"].clone());
    let res = b.post_json("/api/login/webauthn/options/", &token, "{}").await;
    assert_eq!((res.status, res.code()), (StatusCode::TOO_MANY_REQUESTS, "throttled".into()));
    assert!(res.header("retry-after").is_some());
    assert!(b.session_cookie().is_none(), "refused before a session is written");
}

#[tokio::test]
async fn passkey_routes_need_csrf_and_answer_json_errors_for_bad_bodies() {
    let mut app = TestApp::new(Preset::SameOrigin).await;
    for path in ["/api/login/webauthn/options/", "/api/login/webauthn/", "/api/mfa/webauthn/options/"] {
        let res = app.send(Method::POST, path, &[("content-type", "application/json")], Some("{}")).await;
        assert_eq!((res.status, res.code()), (StatusCode::FORBIDDEN, "csrf_failed".into()), "{path}");
    }
    assert_eq!(post(&mut app, "/api/login/webauthn/", json!({})).await.code(), "missing_fields");
    assert_eq!(post(&mut app, "/api/login/webauthn/", json!({ "credential": "x" })).await.code(), "parse_error");
    assert_eq!(
        post(&mut app, "/api/login/webauthn/", json!({ "credential": {} })).await.code(),
        "webauthn_not_started"
    );
    assert_eq!(post(&mut app, "/api/mfa/authenticate/", json!({})).await.code(), "missing_fields");
    let res = app.get("/api/login/webauthn/").await;
    assert_eq!(res.status, StatusCode::METHOD_NOT_ALLOWED);
}

async fn staff_app(preset: Preset, required: bool) -> TestApp {
    let settings = settings_for(preset, |raw| raw.mfa.required_for_staff = Some(required));
    let app = TestApp::with_settings(settings).await;
    let u = app.create_user("staffer", PASSWORD).await;
    let up = latchkey::users::UserChanges { is_staff: Some(true), ..Default::default() };
    app.lk.users().update(u.id, &up).await.unwrap();
    app
}

#[tokio::test]
async fn with_mfa_required_for_staff_a_staff_user_without_a_factor_can_only_set_one_up() {
    for preset in Preset::ALL {
        let mut app = staff_app(preset, true).await;
        assert_eq!(
            app.login_as("staffer", PASSWORD).await.status,
            StatusCode::OK,
            "{preset}: the password still signs in"
        );
        let session = app.get("/api/session/").await.json();
        assert_eq!(
            (session["isAuthenticated"].as_bool(), session["mfaSetupRequired"].as_bool()),
            (Some(true), Some(true))
        );
        for path in ["/api/whoami/", "/api/sessions/", "/api/admin/users/", "/api/admin/events/"] {
            let res = app.get(path).await;
            assert_eq!(
                (res.status, res.code()),
                (StatusCode::FORBIDDEN, "mfa_setup_required".into()),
                "{preset} {path}"
            );
        }
        let res =
            post(&mut app, "/api/password/change/", json!({ "currentPassword": PASSWORD, "newPassword": "x" })).await;
        assert_eq!(res.code(), "mfa_setup_required", "{preset}");
        // What setting one up needs works.
        assert_eq!(app.get("/api/mfa/").await.status, StatusCode::OK, "{preset}");
        app.clock.advance(time::Duration::minutes(6));
        assert_eq!(
            post(&mut app, "/api/mfa/webauthn/register/options/", json!({})).await.code(),
            "reauthentication_required"
        );
        assert_eq!(
            post(&mut app, "/api/reauthenticate/", json!({ "password": PASSWORD })).await.status,
            StatusCode::OK
        );
        let mut key = SoftKey::new();
        if preset == Preset::CrossOrigin {
            key.origin = "http://localhost:5173".into();
        }
        assert_eq!(register(&mut app, &mut key, "Laptop").await.status, StatusCode::CREATED, "{preset}");
        assert_eq!(app.get("/api/session/").await.json()["mfaSetupRequired"], false);
        assert_eq!(whoami(&mut app).await.as_deref(), Some("staffer"), "{preset}");
        assert_eq!(app.get("/api/admin/users/").await.status, StatusCode::OK, "{preset}");
        // A plain user is never asked.
        let mut plain = app.browser();
        plain.login().await;
        assert_eq!(whoami(&mut plain).await.as_deref(), Some(USER), "{preset}");
        assert_eq!(plain.get("/api/session/").await.json()["mfaSetupRequired"], false);
    }
}

#[tokio::test]
async fn by_default_staff_may_work_without_a_second_factor() {
    let mut app = staff_app(Preset::Embedded, false).await;
    app.login_as("staffer", PASSWORD).await;
    assert_eq!(app.get("/api/admin/users/").await.status, StatusCode::OK);
    assert_eq!(app.get("/api/session/").await.json()["mfaSetupRequired"], false);
}

/// Register, sign in with the passkey alone, then prove the second step
/// with it after a password: the ceremonies' state travels in whatever
/// store holds the sessions.
async fn passkey_round_trip(mut app: TestApp) {
    app.create_user(USER, PASSWORD).await;
    app.login().await;
    let mut key = SoftKey::new();
    assert_eq!(register(&mut app, &mut key, "Laptop").await.status, StatusCode::CREATED);
    logout(&mut app).await;
    assert_eq!(passkey_login(&mut app, &mut key).await.status, StatusCode::OK);
    assert_eq!(whoami(&mut app).await.as_deref(), Some(USER));
    logout(&mut app).await;
    assert_eq!(app.login_as(USER, PASSWORD).await.code(), "mfa_required");
    let options = post(&mut app, "/api/mfa/webauthn/options/", json!({})).await.json();
    let assertion = key.get(&options);
    let res = post(&mut app, "/api/mfa/authenticate/", json!({ "credential": assertion.clone() })).await;
    assert_eq!(res.status, StatusCode::OK, "{:?}", res.json());
    assert_eq!(whoami(&mut app).await.as_deref(), Some(USER));
    // The same assertion again, in a new pending sign-in: its challenge is gone.
    logout(&mut app).await;
    app.login_as(USER, PASSWORD).await;
    let res = post(&mut app, "/api/mfa/authenticate/", json!({ "credential": assertion })).await;
    assert_eq!(res.code(), "webauthn_not_started");
}

#[tokio::test]
async fn passkeys_work_with_every_store_in_memory() {
    passkey_round_trip(TestApp::on(settings_for(Preset::Embedded, |_| {}), latchkey::Stores::memory())).await;
}

#[tokio::test]
async fn passkeys_work_on_postgresql() {
    let pg = latchkey::testing::PgDatabase::new().await;
    let db = pg.migrated().await;
    passkey_round_trip(TestApp::on(settings_for(Preset::SameOrigin, |_| {}), db.stores())).await;
}

#[tokio::test]
async fn passkeys_work_with_sessions_in_redis() {
    let pg = latchkey::testing::PgDatabase::new().await;
    let db = pg.migrated().await;
    let prefix = latchkey::testing::RedisPrefix::new();
    let mut stores = db.stores();
    stores.sessions = std::sync::Arc::new(prefix.store().await);
    passkey_round_trip(TestApp::on(settings_for(Preset::CrossOrigin, |_| {}), stores)).await;
}

#[tokio::test]
async fn staff_see_a_users_passkeys_and_a_reset_removes_them_with_the_sessions() {
    let mut app = staff_app(Preset::SameOrigin, false).await;
    app.login().await;
    let mut key = SoftKey::new();
    register(&mut app, &mut key, "Lost phone").await;
    let user_id = app.lk.users().by_username(USER).await.unwrap().unwrap().id;
    let mut staff = app.browser();
    staff.login_as("staffer", PASSWORD).await;
    let factors = staff.get(&format!("/api/admin/users/{user_id}/mfa/")).await.json();
    assert_eq!(factors["webauthn"][0]["name"], "Lost phone", "{factors}");
    assert_eq!((factors["totp"]["enabled"].as_bool(), factors["recoveryCodesLeft"].as_u64()), (Some(false), Some(10)));
    let res = staff.unsafe_json(Method::DELETE, &format!("/api/admin/users/{user_id}/mfa/"), "").await;
    assert_eq!(res.status, StatusCode::OK, "{:?}", res.json());
    assert_eq!(whoami(&mut app).await, None, "the user's sessions ended");
    let factors = staff.get(&format!("/api/admin/users/{user_id}/mfa/")).await.json();
    assert_eq!((factors["webauthn"].clone(), factors["recoveryCodesLeft"].as_u64()), (json!([]), Some(0)));
    assert_eq!(passkey_login(&mut app, &mut key).await.code(), "webauthn_failed", "the lost key signs nobody in");
    assert_eq!(app.login_as(USER, PASSWORD).await.status, StatusCode::OK, "the password alone again");
}
