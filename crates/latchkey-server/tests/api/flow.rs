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
            assert_eq!(body, json!({"isAuthenticated": false}));
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
