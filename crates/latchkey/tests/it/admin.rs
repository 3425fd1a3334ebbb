//! The admin API (`/api/admin/`): who gets in, every endpoint, and every
//! rule of who may change whom — in process, in every preset where it matters.

use http::{Method, StatusCode};
use latchkey::{
    Acting, AdminError, User,
    settings::Preset,
    users::{UserChanges, UserUpdate},
};
use serde_json::{Value, json};

use crate::helpers::*;

const STAFF: &str = "staffer";
const ROOT: &str = "root";
const STRONG: &str = "correct horse battery staple 9";

/// An app with `USER` (plain), `STAFF` (staff) and `ROOT` (superuser), signed in as `who`.
async fn admin_app(preset: Preset, who: &str) -> TestApp {
    let mut app = TestApp::new(preset).await;
    promote(&app, STAFF, false).await;
    promote(&app, ROOT, true).await;
    let res = app.login_as(who, PASSWORD).await;
    assert_eq!(res.status, StatusCode::OK, "{:?}", res.json());
    app
}

async fn promote(app: &TestApp, name: &str, superuser: bool) -> User {
    let u = app.create_user(name, PASSWORD).await;
    let up = UserChanges { is_staff: Some(true), is_superuser: Some(superuser), ..UserChanges::default() };
    match app.lk.users().update(u.id, &up).await.unwrap() {
        UserUpdate::Updated(u) => u,
        other => panic!("{other:?}"),
    }
}

async fn id_of(app: &TestApp, name: &str) -> i64 {
    app.lk.users().by_username(name).await.unwrap().unwrap().id
}

async fn signed_in(app: &mut TestApp) -> bool {
    let res = app.get("/api/whoami/").await;
    res.status == StatusCode::OK && res.json()["username"].is_string()
}

fn names(res: &Res) -> Vec<String> {
    res.json()["results"].as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap().to_owned()).collect()
}

async fn patch(app: &mut TestApp, id: i64, body: Value) -> Res {
    app.unsafe_json(Method::PATCH, &format!("/api/admin/users/{id}/"), &body.to_string()).await
}

#[tokio::test]
async fn the_admin_api_refuses_the_anonymous_non_staff_users_and_http_basic() {
    for preset in Preset::ALL {
        let mut anon = TestApp::new(preset).await;
        promote(&anon, STAFF, false).await;
        let basic = format!("Basic {}", base64_encode(&format!("{STAFF}:{PASSWORD}")));
        for path in ["/api/admin/users/", "/api/admin/users/1/", "/api/admin/sessions/", "/api/admin/events/"] {
            let res = anon.get(path).await;
            assert_eq!(
                (res.status, res.code()),
                (StatusCode::FORBIDDEN, "not_authenticated".into()),
                "{preset} {path}"
            );
            let res = anon.send(Method::GET, path, &[("authorization", basic.as_str())], None).await;
            assert_eq!(res.code(), "not_authenticated", "{preset} {path}: HTTP Basic never reaches the admin");
        }
        let mut plain = anon.browser();
        plain.login().await;
        for path in ["/api/admin/users/", "/api/admin/users/1/", "/api/admin/users/1/sessions/", "/api/admin/events/"] {
            let res = plain.get(path).await;
            assert_eq!(
                (res.status, res.code()),
                (StatusCode::FORBIDDEN, "permission_denied".into()),
                "{preset} {path}"
            );
            assert!(res.detail().contains("staff"), "{}", res.detail());
        }
        let res = patch(&mut plain, 1, json!({ "isStaff": true })).await;
        assert_eq!(res.code(), "permission_denied", "{preset}: a user cannot promote themselves");
        // A deactivated staff user is not staff.
        let mut staff = anon.browser();
        staff.login_as(STAFF, PASSWORD).await;
        let id = id_of(&anon, STAFF).await;
        anon.lk.users().set_active(id, false).await.unwrap();
        assert_eq!(staff.get("/api/admin/users/").await.code(), "not_authenticated", "{preset}");
    }
}

#[tokio::test]
async fn unsafe_admin_requests_need_the_csrf_token() {
    for preset in Preset::ALL {
        let mut app = admin_app(preset, ROOT).await;
        let id = id_of(&app, USER).await;
        let res = app
            .send(
                Method::PATCH,
                &format!("/api/admin/users/{id}/"),
                &[("content-type", "application/json")],
                Some(r#"{"isActive": false}"#),
            )
            .await;
        assert_eq!(res.status, StatusCode::FORBIDDEN, "{preset}");
        assert!(app.lk.users().by_id(id).await.unwrap().unwrap().is_active, "{preset}: nothing changed");
        for (method, path) in
            [(Method::DELETE, format!("/api/admin/users/{id}/sessions/")), (Method::POST, "/api/admin/users/".into())]
        {
            let res = app.send(method, &path, &[("content-type", "application/json")], Some("{}")).await;
            assert_eq!(res.status, StatusCode::FORBIDDEN, "{preset} {path}");
        }
    }
}

#[tokio::test]
async fn staff_list_users_with_search_filters_ordering_and_pages_in_drfs_shape() {
    let mut app = admin_app(Preset::Embedded, STAFF).await;
    for i in 0..30 {
        app.create_user(&format!("member{i:02}"), PASSWORD).await;
    }
    let res = app.get("/api/admin/users/").await;
    assert_eq!(res.status, StatusCode::OK);
    let body = res.json();
    assert_eq!((body["count"].as_u64(), body["countIsEstimate"].as_bool()), (Some(33), Some(false)));
    assert_eq!(body["results"].as_array().unwrap().len(), 25, "25 by default");
    let first = &body["results"][0];
    for field in [
        "id",
        "username",
        "email",
        "emailVerified",
        "firstName",
        "lastName",
        "isActive",
        "isStaff",
        "isSuperuser",
        "dateJoined",
        "lastLogin",
    ] {
        assert!(first.get(field).is_some(), "{field} in {first}");
    }
    assert!(!String::from_utf8_lossy(&res.body).contains("argon2"), "never a password hash");
    assert_eq!(
        names(&app.get("/api/admin/users/?search=MEMBER0&ordering=-username&pageSize=3").await),
        ["member09", "member08", "member07"]
    );
    let res = app.get("/api/admin/users/?search=member&ordering=username&page=4&pageSize=8").await;
    assert_eq!(
        (res.json()["count"].as_u64(), names(&res)),
        (
            Some(30),
            vec![
                "member24".into(),
                "member25".into(),
                "member26".into(),
                "member27".into(),
                "member28".into(),
                "member29".into()
            ]
        )
    );
    assert_eq!(names(&app.get("/api/admin/users/?isStaff=true&ordering=username").await), [ROOT, STAFF]);
    assert_eq!(names(&app.get("/api/admin/users/?isSuperuser=true").await), [ROOT]);
    assert_eq!(app.get("/api/admin/users/?isActive=false").await.json()["count"], 0);
    let logged = names(&app.get("/api/admin/users/?ordering=-lastLogin&pageSize=1").await);
    assert_eq!(logged, [STAFF], "the one who signed in last");
    for bad in [
        "pageSize=0",
        "pageSize=101",
        "pageSize=x",
        "page=0",
        "page=-1",
        "page=99999999999999999999",
        "isStaff=yes",
        "ordering=password",
        "ordering=date_joined",
        "search=a&search=b",
        &format!("search={}", "x".repeat(101)),
        // Found by schemathesis: a NUL reached SQLite's FTS5 and came back as a 503.
        "search=g%C2%B1%00",
        "search=a%0Ab",
        "isActive=false&search=%00",
    ] {
        let res = app.get(&format!("/api/admin/users/?{bad}")).await;
        assert_eq!((res.status, res.code()), (StatusCode::BAD_REQUEST, "invalid_parameter".into()), "{bad}");
    }
    let res = app.get("/api/admin/users/?page=999").await;
    assert_eq!(
        (res.status, res.json()["results"].as_array().unwrap().len()),
        (StatusCode::OK, 0),
        "past the end: empty"
    );
}

#[tokio::test]
async fn staff_create_users_the_validators_apply_and_it_is_audited() {
    let mut app = admin_app(Preset::SameOrigin, STAFF).await;
    let res = app
        .unsafe_json(
            Method::POST,
            "/api/admin/users/",
            &json!({"username": "newbie", "email": "New@Example.ORG", "password": STRONG}).to_string(),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{:?}", res.json());
    let u = res.json();
    assert_eq!(
        (u["username"].as_str(), u["email"].as_str(), u["isStaff"].as_bool()),
        (Some("newbie"), Some("New@example.org"), Some(false))
    );
    let mut newbie = app.browser();
    assert_eq!(newbie.login_as("newbie", STRONG).await.status, StatusCode::OK, "the new account signs in");
    for (body, code) in [
        (json!({"username": "weak", "password": "password"}), "password_invalid"),
        (json!({"username": "newbie", "password": STRONG}), "username_taken"),
        (json!({"username": "bad name", "password": STRONG}), "invalid_field"),
        (json!({"username": "x", "email": "nope", "password": STRONG}), "invalid_field"),
        (json!({"username": "x"}), "missing_fields"),
    ] {
        let res = app.unsafe_json(Method::POST, "/api/admin/users/", &body.to_string()).await;
        assert_eq!((res.status, res.code()), (StatusCode::BAD_REQUEST, code.to_owned()), "{body}");
    }
    let events = app.get("/api/admin/events/?kind=user_created").await.json();
    assert_eq!(events["count"], 1);
    let e = &events["results"][0];
    assert_eq!((e["actor"].as_str(), e["target"].as_str()), (Some(STAFF), Some("newbie")));
}

#[tokio::test]
async fn every_admin_change_needs_a_recent_authentication() {
    let mut app = admin_app(Preset::Rest, ROOT).await;
    let id = id_of(&app, USER).await;
    app.clock.advance(time::Duration::seconds(301));
    assert_eq!(app.get("/api/admin/users/").await.status, StatusCode::OK, "reading needs none");
    let attempts: Vec<(Method, String, Value)> = vec![
        (Method::PATCH, format!("/api/admin/users/{id}/"), json!({"firstName": "X"})),
        (Method::POST, format!("/api/admin/users/{id}/password/"), json!({"newPassword": STRONG})),
        (Method::DELETE, format!("/api/admin/users/{id}/sessions/"), json!({})),
        (Method::POST, "/api/admin/users/".into(), json!({"username": "late", "password": STRONG})),
    ];
    for (method, path, body) in &attempts {
        let res = app.unsafe_json(method.clone(), path, &body.to_string()).await;
        assert_eq!(
            (res.status, res.code()),
            (StatusCode::FORBIDDEN, "reauthentication_required".into()),
            "{method} {path}"
        );
    }
    assert_eq!(app.lk.users().by_id(id).await.unwrap().unwrap().first_name, "", "nothing changed");
    let res = app.unsafe_json(Method::POST, "/api/reauthenticate/", &json!({"password": PASSWORD}).to_string()).await;
    assert_eq!(res.status, StatusCode::OK);
    let res = patch(&mut app, id, json!({"firstName": "Ann", "lastName": " Example "})).await;
    assert_eq!(res.status, StatusCode::OK, "{:?}", res.json());
    assert_eq!((res.json()["firstName"].as_str(), res.json()["lastName"].as_str()), (Some("Ann"), Some("Example")));
}

#[tokio::test]
async fn only_superusers_change_privileges_edit_superusers_or_end_their_sessions() {
    let mut staff = admin_app(Preset::Embedded, STAFF).await;
    let (user, root) = (id_of(&staff, USER).await, id_of(&staff, ROOT).await);
    let mut root_browser = staff.browser();
    root_browser.login_as(ROOT, PASSWORD).await;
    let refusals: Vec<(Method, String, Value, &str)> = vec![
        (
            Method::PATCH,
            format!("/api/admin/users/{user}/"),
            json!({"isStaff": true}),
            "Only superusers can change the staff or superuser status.",
        ),
        (
            Method::PATCH,
            format!("/api/admin/users/{user}/"),
            json!({"isSuperuser": true}),
            "Only superusers can change the staff or superuser status.",
        ),
        (
            Method::PATCH,
            format!("/api/admin/users/{root}/"),
            json!({"firstName": "Eve"}),
            "Only superusers can change a superuser.",
        ),
        (
            Method::POST,
            format!("/api/admin/users/{root}/password/"),
            json!({"newPassword": STRONG}),
            "Only superusers can change a superuser.",
        ),
        (
            Method::DELETE,
            format!("/api/admin/users/{root}/sessions/"),
            json!({}),
            "Only superusers can end a superuser's sessions.",
        ),
    ];
    for (method, path, body, rule) in &refusals {
        let res = staff.unsafe_json(method.clone(), path, &body.to_string()).await;
        assert_eq!(
            (res.status, res.code(), res.detail()),
            (StatusCode::FORBIDDEN, "permission_denied".into(), rule.to_string()),
            "{method} {path}"
        );
    }
    let list = staff.get(&format!("/api/admin/users/{root}/sessions/")).await.json();
    let root_session = list["sessions"][0]["id"].as_str().unwrap().to_owned();
    let res = staff.unsafe_json(Method::DELETE, &format!("/api/admin/sessions/{root_session}/"), "{}").await;
    assert_eq!(res.code(), "permission_denied");
    assert_eq!(root_browser.get("/api/whoami/").await.json()["username"], ROOT, "the superuser is still signed in");
    // What staff may do: names and activation of ordinary users.
    assert_eq!(patch(&mut staff, user, json!({"firstName": "Ann"})).await.status, StatusCode::OK);
    // And what a superuser may.
    let res = patch(&mut root_browser, user, json!({"isStaff": true})).await;
    assert_eq!((res.status, res.json()["isStaff"].as_bool()), (StatusCode::OK, Some(true)));
    let staff_id = id_of(&staff, STAFF).await;
    assert_eq!(patch(&mut root_browser, staff_id, json!({"isSuperuser": true})).await.status, StatusCode::OK);
}

#[tokio::test]
async fn nobody_demotes_or_deactivates_themselves_and_one_active_superuser_always_remains() {
    let mut root = admin_app(Preset::CrossOrigin, ROOT).await;
    let me = id_of(&root, ROOT).await;
    for (body, rule) in [
        (json!({"isSuperuser": false}), "You cannot remove your own superuser status."),
        (json!({"isActive": false}), "You cannot deactivate your own account."),
        (json!({"isStaff": false}), "You cannot remove your own staff status: you would lose access to the admin."),
    ] {
        let res = patch(&mut root, me, body.clone()).await;
        assert_eq!((res.status, res.detail()), (StatusCode::FORBIDDEN, rule.to_owned()), "{body}");
    }
    let res = root
        .unsafe_json(
            Method::POST,
            &format!("/api/admin/users/{me}/password/"),
            &json!({"newPassword": STRONG}).to_string(),
        )
        .await;
    assert_eq!(res.code(), "permission_denied", "one's own password is changed from the account page");
    // The last active superuser: only the CLI can even try (any staff
    // user who could is a superuser themselves), and it is refused.
    let err = root
        .lk
        .admin()
        .update_user(&Acting::Cli, me, &UserChanges { is_active: Some(false), ..UserChanges::default() })
        .await
        .unwrap_err();
    assert!(matches!(err, AdminError::Refused(r) if r.0.contains("last active superuser")), "{err}");
    let other = promote(&root, "root2", true).await;
    root.lk
        .admin()
        .update_user(&Acting::Cli, me, &UserChanges { is_superuser: Some(false), ..UserChanges::default() })
        .await
        .unwrap();
    let err = root
        .lk
        .admin()
        .update_user(&Acting::Cli, other.id, &UserChanges { is_active: Some(false), ..UserChanges::default() })
        .await
        .unwrap_err();
    assert!(matches!(err, AdminError::Refused(_)), "{err}");
}

#[tokio::test]
async fn deactivating_a_user_ends_every_session_of_theirs_at_once_and_is_audited() {
    for preset in Preset::ALL {
        let mut staff = admin_app(preset, STAFF).await;
        let mut victim = staff.browser();
        victim.login().await;
        let mut victim2 = staff.browser();
        victim2.login().await;
        let id = id_of(&staff, USER).await;
        let res = patch(&mut staff, id, json!({"isActive": false})).await;
        assert_eq!((res.status, res.json()["isActive"].as_bool()), (StatusCode::OK, Some(false)), "{preset}");
        for b in [&mut victim, &mut victim2] {
            assert!(!signed_in(b).await, "{preset}: signed out");
        }
        assert_eq!(
            victim.login_as(USER, PASSWORD).await.code(),
            "invalid_credentials",
            "{preset}: cannot sign in again"
        );
        let events = staff.get(&format!("/api/admin/events/?user={USER}")).await.json();
        let kinds: Vec<&str> =
            events["results"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
        assert_eq!(&kinds[..3], ["login_failed", "sessions_revoked", "user_deactivated"], "{preset}");
        let e = &events["results"][2];
        assert_eq!(
            (e["actor"].as_str(), e["target"].as_str(), e["detail"].as_str()),
            (Some(STAFF), Some(USER), Some("isActive=false"))
        );
        let res = patch(&mut staff, id, json!({"isActive": true})).await;
        assert_eq!(res.status, StatusCode::OK);
        assert_eq!(victim.login_as(USER, PASSWORD).await.status, StatusCode::OK, "{preset}: reactivated");
    }
}

#[tokio::test]
async fn setting_a_password_applies_the_validators_and_ends_the_users_sessions() {
    let mut staff = admin_app(Preset::SameOrigin, STAFF).await;
    let mut victim = staff.browser();
    victim.login().await;
    let id = id_of(&staff, USER).await;
    let path = format!("/api/admin/users/{id}/password/");
    let res = staff.unsafe_json(Method::POST, &path, &json!({"newPassword": "123"}).to_string()).await;
    assert_eq!((res.status, res.code()), (StatusCode::BAD_REQUEST, "password_invalid".into()));
    assert!(res.json()["errors"].as_array().unwrap().len() >= 2, "{:?}", res.json());
    assert!(signed_in(&mut victim).await, "a refused password changes nothing");
    let res = staff.unsafe_json(Method::POST, &path, &json!({"newPassword": STRONG}).to_string()).await;
    assert_eq!((res.status, res.json()["ended"].as_u64()), (StatusCode::OK, Some(1)), "{:?}", res.json());
    assert!(!signed_in(&mut victim).await, "signed out");
    assert_eq!(victim.login_as(USER, PASSWORD).await.code(), "invalid_credentials");
    assert_eq!(victim.login_as(USER, STRONG).await.status, StatusCode::OK);
    let e = &staff.get("/api/admin/events/?kind=password_changed").await.json()["results"][0];
    assert_eq!((e["actor"].as_str(), e["target"].as_str()), (Some(STAFF), Some(USER)));
}

#[tokio::test]
async fn sessions_are_listed_per_user_and_in_all_and_ended_one_by_one_or_all_at_once() {
    let mut staff = admin_app(Preset::Embedded, STAFF).await;
    let id = id_of(&staff, USER).await;
    let mut a = staff.browser();
    a.login().await;
    staff.clock.advance(time::Duration::seconds(5));
    let mut b = staff.browser();
    b.login().await;
    let list = staff.get(&format!("/api/admin/users/{id}/sessions/")).await.json();
    let sessions = list["sessions"].as_array().unwrap().clone();
    assert_eq!(sessions.len(), 2);
    for s in &sessions {
        assert!(s["id"].as_str().unwrap().starts_with(&format!("{id}.")), "{s}");
        assert_eq!((s["current"].as_bool(), s["user"]["username"].as_str()), (Some(false), Some(USER)));
    }
    // Every live session: newest activity first, the caller's own marked.
    let all = staff.get("/api/admin/sessions/").await.json();
    assert_eq!(all["count"], 3);
    assert_eq!(all["results"][0]["user"]["username"], USER);
    assert!(all["results"].as_array().unwrap().iter().any(|s| s["current"] == true && s["user"]["username"] == STAFF));
    assert_eq!(staff.get(&format!("/api/admin/sessions/?user={USER}")).await.json()["count"], 2);
    assert_eq!(staff.get("/api/admin/sessions/?user=nobody").await.json()["count"], 0);
    let paged = staff.get("/api/admin/sessions/?pageSize=1&page=2").await.json();
    assert_eq!((paged["count"].as_u64(), paged["results"].as_array().unwrap().len()), (Some(3), 1));
    // One, by the admin's id (b's, the newest).
    let newest = sessions[0]["id"].as_str().unwrap();
    let res = staff.unsafe_json(Method::DELETE, &format!("/api/admin/sessions/{newest}/"), "{}").await;
    assert_eq!(res.status, StatusCode::OK, "{:?}", res.json());
    assert!(!signed_in(&mut b).await);
    assert!(signed_in(&mut a).await);
    let res = staff.unsafe_json(Method::DELETE, &format!("/api/admin/sessions/{newest}/"), "{}").await;
    assert_eq!((res.status, res.code()), (StatusCode::NOT_FOUND, "session_not_found".into()), "already ended");
    let hex = newest.split_once('.').unwrap().1;
    for bogus in [
        hex.to_owned(),
        format!("999.{hex}"),
        format!("{}.{hex}", id_of(&staff, STAFF).await),
        "x.y".into(),
        format!("+{id}.{hex}"),
    ] {
        let res = staff.unsafe_json(Method::DELETE, &format!("/api/admin/sessions/{bogus}/"), "{}").await;
        assert_eq!(res.code(), "session_not_found", "{bogus}");
    }
    // All of them.
    let res = staff.unsafe_json(Method::DELETE, &format!("/api/admin/users/{id}/sessions/"), "{}").await;
    assert_eq!(res.json()["ended"], 1);
    assert!(!signed_in(&mut a).await);
    assert_eq!(staff.get("/api/admin/sessions/").await.json()["count"], 1, "only the staff user's own");
}

#[tokio::test]
async fn events_are_listed_newest_first_by_user_as_actor_or_target_and_by_kind() {
    let mut staff = admin_app(Preset::Embedded, STAFF).await;
    let id = id_of(&staff, USER).await;
    let mut u = staff.browser();
    u.login().await;
    patch(&mut staff, id, json!({"lastName": "Doe"})).await;
    let mine = staff.get(&format!("/api/admin/events/?user={STAFF}")).await.json();
    let kinds: Vec<&str> = mine["results"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["user_changed", "login"], "as actor, and their own login");
    let theirs = staff.get(&format!("/api/admin/events/?user={USER}")).await.json();
    assert_eq!(theirs["results"][0]["kind"], "user_changed");
    assert_eq!(theirs["results"][1]["kind"], "login");
    let e = &theirs["results"][0];
    for field in ["id", "at", "kind", "actor", "target", "clientIp", "detail", "count"] {
        assert!(e.get(field).is_some(), "{field} in {e}");
    }
    assert_eq!(staff.get("/api/admin/events/?kind=login").await.json()["count"], 2);
    assert_eq!(
        staff.get("/api/admin/events/?kind=login&pageSize=1&page=2").await.json()["results"][0]["target"],
        STAFF
    );
    assert_eq!(staff.get("/api/admin/events/?pageSize=500").await.code(), "invalid_parameter");
    assert_eq!(staff.get("/api/admin/events/?user=%00").await.code(), "invalid_parameter");
    assert_eq!(staff.get("/api/admin/sessions/?user=a%00b").await.code(), "invalid_parameter");
}

#[tokio::test]
async fn a_change_refuses_unknown_fields_and_wrong_types_and_ignores_read_only_ones() {
    let mut root = admin_app(Preset::Embedded, ROOT).await;
    let id = id_of(&root, USER).await;
    for (body, code) in [
        (json!({"isActive": "no"}), "parse_error"),
        (json!({"firstName": 3}), "parse_error"),
        (json!({"password": "x"}), "unknown_field"),
        (json!({"email": "not an address"}), "invalid_email"),
        (json!({"firstName": "x".repeat(151)}), "invalid_field"),
        (json!({"lastName": "a\u{0}b"}), "invalid_field"),
    ] {
        let res = patch(&mut root, id, body.clone()).await;
        assert_eq!((res.status, res.code()), (StatusCode::BAD_REQUEST, code.to_owned()), "{body}");
    }
    let before = root.get(&format!("/api/admin/users/{id}/")).await.json();
    let mut echoed = before.clone();
    echoed["username"] = json!("renamed");
    echoed["email"] = json!("Moved@Example.org");
    let res = patch(&mut root, id, echoed).await;
    assert_eq!(res.status, StatusCode::OK, "{:?}", res.json());
    let after = res.json();
    assert_eq!(after["username"], USER, "read-only fields sent back are ignored");
    assert_eq!((after["email"].as_str(), after["emailVerified"].as_bool()), (Some("Moved@example.org"), Some(false)));
    for missing in
        ["/api/admin/users/999/", "/api/admin/users/abc/", "/api/admin/users/0/", "/api/admin/users/999/sessions/"]
    {
        let res = root.get(missing).await;
        assert_eq!((res.status, res.code()), (StatusCode::NOT_FOUND, "user_not_found".into()), "{missing}");
    }
    assert_eq!(patch(&mut root, 999, json!({"firstName": "x"})).await.code(), "user_not_found");
    let res = root.send(Method::PUT, &format!("/api/admin/users/{id}/"), &[], None).await;
    assert_eq!(res.status.as_u16() / 100, 4, "a wrong method is a client error");
}
