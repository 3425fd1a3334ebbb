//! The tutorial's flow over real HTTP with a cookie-jar client.

use latchkey::settings::Preset;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

async fn token(s: &TestServer) -> String {
    let res = s.client.get(s.url("/api/csrf/")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    res.headers()["x-csrftoken"].to_str().unwrap().to_owned()
}

async fn json(res: reqwest::Response) -> (StatusCode, Value) {
    let status = res.status();
    (status, res.json().await.unwrap())
}

#[tokio::test]
async fn the_tutorial_flow_works_over_http_in_every_preset() {
    for preset in Preset::ALL {
        let s = spawn_app(preset).await;
        let (st, body) = json(s.client.get(s.url("/api/session/")).send().await.unwrap()).await;
        if preset == Preset::Rest {
            assert_eq!(st, StatusCode::FORBIDDEN);
        } else {
            assert_eq!(body["isAuthenticated"], false);
        }
        let t = token(&s).await;
        let (st, body) = json(
            s.client
                .post(s.url("/api/login/"))
                .header("x-csrftoken", &t)
                .json(&json!({"username": USER, "password": PASSWORD}))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!((st, body), (StatusCode::OK, json!({"detail": "Successfully logged in."})), "{preset}");
        let (_, body) =
            json(s.client.get(s.url("/api/whoami/")).header("content-type", "application/json").send().await.unwrap())
                .await;
        assert_eq!(body, json!({"username": "demo"}));
        // The tutorial logs out with GET /api/logout (no slash): 301, then GET /api/logout/.
        let (st, body) = json(s.client.get(s.url("/api/logout")).send().await.unwrap()).await;
        assert_eq!((st, body), (StatusCode::OK, json!({"detail": "Successfully logged out."})));
        let res = s.client.get(s.url("/api/whoami/")).send().await.unwrap();
        if preset == Preset::Rest {
            assert_eq!(res.status(), StatusCode::FORBIDDEN);
        } else {
            assert_eq!(res.json::<Value>().await.unwrap(), json!({"isAuthenticated": false}));
        }
        s.stop().await;
    }
}

#[tokio::test]
async fn a_post_to_a_path_without_slash_keeps_its_body_through_the_redirect() {
    let s = spawn_app(Preset::SameOrigin).await;
    let t = token(&s).await;
    let res = s
        .client
        .post(s.url("/api/login"))
        .header("x-csrftoken", &t)
        .json(&json!({"username": USER, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK, "308 is followed with method and body");
    s.stop().await;
}

#[tokio::test]
async fn concurrent_logins_and_session_checks_all_succeed() {
    // Eight simultaneous logins of one account from one address would trip
    // the per-(account, client) throttle, which counts attempts in flight
    // (tested in it/throttle.rs); this test is about concurrency alone.
    let s = spawn_app_with(Preset::SameOrigin, |r| r.throttle.per_pair = Some(1000)).await;
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let url = s.url("");
        tasks.push(tokio::spawn(async move {
            let c = reqwest::Client::builder().cookie_store(true).build().unwrap();
            let res = c.get(format!("{url}/api/csrf/")).send().await.unwrap();
            let t = res.headers()["x-csrftoken"].to_str().unwrap().to_owned();
            let res = c
                .post(format!("{url}/api/login/"))
                .header("x-csrftoken", t)
                .json(&json!({"username": USER, "password": PASSWORD}))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::OK);
            for _ in 0..5 {
                let v: Value = c.get(format!("{url}/api/session/")).send().await.unwrap().json().await.unwrap();
                assert_eq!(v["isAuthenticated"], json!(true));
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    s.stop().await;
}

/// The account routes over real HTTP, in every preset: list, re-authenticate,
/// sign out everywhere else, change the password, end the current session.
#[tokio::test]
async fn the_account_routes_work_over_http_in_every_preset() {
    for preset in Preset::ALL {
        let s = spawn_app(preset).await;
        let other = reqwest::Client::builder().cookie_store(true).build().unwrap();
        for c in [&s.client, &other] {
            let t =
                c.get(s.url("/api/csrf/")).send().await.unwrap().headers()["x-csrftoken"].to_str().unwrap().to_owned();
            let res = c
                .post(s.url("/api/login/"))
                .header("x-csrftoken", t)
                .json(&json!({"username": USER, "password": PASSWORD}))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::OK, "{preset}");
        }
        let (st, list) = json(s.client.get(s.url("/api/sessions/")).send().await.unwrap()).await;
        assert_eq!((st, list["sessions"].as_array().map(Vec::len)), (StatusCode::OK, Some(2)), "{preset}");
        let (_, session) = json(s.client.get(s.url("/api/session/")).send().await.unwrap()).await;
        assert!(session["authenticatedAt"].is_string(), "{preset}: {session}");

        let post = |path: &'static str, body: Value| {
            let s = &s;
            async move {
                let t = token(s).await;
                json(s.client.post(s.url(path)).header("x-csrftoken", t).json(&body).send().await.unwrap()).await
            }
        };
        let (st, body) = post("/api/reauthenticate/", json!({"password": PASSWORD})).await;
        assert_eq!(st, StatusCode::OK, "{preset}: {body}");
        let (st, body) = post("/api/sessions/revoke-others/", json!({})).await;
        assert_eq!((st, &body["ended"]), (StatusCode::OK, &json!(1)), "{preset}: {body}");
        let gone = other.get(s.url("/api/whoami/")).send().await.unwrap();
        assert!(gone.status() == StatusCode::FORBIDDEN || gone.json::<Value>().await.unwrap()["username"].is_null());

        let (st, body) =
            post("/api/password/change/", json!({"currentPassword": PASSWORD, "newPassword": "over http at last 9"}))
                .await;
        assert_eq!(st, StatusCode::OK, "{preset}: {body}");
        let (_, list) = json(s.client.get(s.url("/api/sessions/")).send().await.unwrap()).await;
        let id = list["sessions"][0]["id"].as_str().unwrap().to_owned();
        let t = token(&s).await;
        let res =
            s.client.delete(s.url(&format!("/api/sessions/{id}/"))).header("x-csrftoken", t).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{preset}");
        let res = s.client.get(s.url("/api/sessions/")).send().await.unwrap();
        let (st, body) = json(res).await;
        assert_eq!((st, body["code"].as_str()), (StatusCode::FORBIDDEN, Some("not_authenticated")), "{preset}");
        s.stop().await;
    }
}
