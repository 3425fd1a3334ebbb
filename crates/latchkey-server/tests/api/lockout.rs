//! Knowing a username must not let anyone keep its owner out: a browser
//! that signed in before carries a device cookie and is exempt from the
//! per-account back-off; a fresh browser waits at most `throttle.max_backoff`;
//! a stolen device cookie that keeps failing stops being trusted.

use std::{
    net::IpAddr,
    time::{Duration, Instant},
};

use latchkey::settings::Preset;
use reqwest::{Client, StatusCode};
use serde_json::json;

use crate::helpers::*;

const MAX_BACKOFF: u64 = 3;

fn browser(from: [u8; 4]) -> Client {
    Client::builder().cookie_store(true).local_address(IpAddr::from(from)).build().unwrap()
}

/// One login attempt with this browser's cookies; the status and Retry-After.
async fn login(s: &TestServer, c: &Client, password: &str) -> (StatusCode, Option<u64>) {
    let res = c.get(s.url("/api/csrf/")).send().await.unwrap();
    let token = res.headers()["x-csrftoken"].to_str().unwrap().to_owned();
    let res = c
        .post(s.url("/api/login/"))
        .header("x-csrftoken", token)
        .json(&json!({"username": USER, "password": password}))
        .send()
        .await
        .unwrap();
    let retry = res.headers().get("retry-after").map(|v| v.to_str().unwrap().parse().unwrap());
    (res.status(), retry)
}

async fn logout(s: &TestServer, c: &Client) {
    let res = c.get(s.url("/api/csrf/")).send().await.unwrap();
    let token = res.headers()["x-csrftoken"].to_str().unwrap().to_owned();
    assert_eq!(c.post(s.url("/api/logout/")).header("x-csrftoken", token).send().await.unwrap().status(), 200);
}

/// Eight addresses (127.0.0.2–9) guessing the owner's password until `until`.
fn attack(s: &TestServer, until: Instant) -> Vec<tokio::task::JoinHandle<u32>> {
    (2..10)
        .map(|n| {
            let (base, c) = (s.url(""), browser([127, 0, 0, n]));
            tokio::spawn(async move {
                let mut tries = 0;
                while Instant::now() < until {
                    let res = c.get(format!("{base}/api/csrf/")).send().await.unwrap();
                    let token = res.headers()["x-csrftoken"].to_str().unwrap().to_owned();
                    let _ = c
                        .post(format!("{base}/api/login/"))
                        .header("x-csrftoken", token)
                        .json(&json!({"username": USER, "password": format!("guess-{tries}")}))
                        .send()
                        .await;
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                tries
            })
        })
        .collect()
}

async fn throttled_server() -> TestServer {
    spawn_app_with(Preset::SameOrigin, |r| {
        r.throttle.per_account = Some(10);
        r.throttle.max_backoff = Some(MAX_BACKOFF);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owners_known_browser_logs_in_at_the_first_try_while_an_attack_keeps_the_account_in_back_off() {
    let s = throttled_server().await;
    let owner = browser([127, 0, 0, 10]);
    assert_eq!(login(&s, &owner, PASSWORD).await.0, StatusCode::OK, "the owner signs in once: a known device");
    logout(&s, &owner).await;
    let until = Instant::now() + Duration::from_secs(8);
    let attackers = attack(&s, until);
    tokio::time::sleep(Duration::from_secs(2)).await;

    // A fresh browser of the owner is in the back-off, but never told to wait longer than max_backoff.
    let fresh = browser([127, 0, 0, 11]);
    let (status, retry) = login(&s, &fresh, PASSWORD).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "the attack keeps the account in back-off");
    assert!(retry.unwrap() <= MAX_BACKOFF, "told to wait {retry:?} s, more than max_backoff");

    // The known browser gets in at the first try, every time.
    while Instant::now() + Duration::from_secs(1) < until {
        let (status, retry) = login(&s, &owner, PASSWORD).await;
        assert_eq!(status, StatusCode::OK, "the owner's known browser was refused (retry after {retry:?})");
        logout(&s, &owner).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let mut tries = 0;
    for a in attackers {
        tries += a.await.unwrap();
    }
    assert!(tries > 100, "the attack made only {tries} attempts");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stolen_device_cookie_that_keeps_failing_stops_working() {
    let s = throttled_server().await;
    let owner = browser([127, 0, 0, 10]);
    let res = {
        let c = Client::builder().local_address(IpAddr::from([127, 0, 0, 10])).build().unwrap();
        let res = c.get(s.url("/api/csrf/")).send().await.unwrap();
        let token = res.headers()["x-csrftoken"].to_str().unwrap().to_owned();
        let csrf = res.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
        c.post(s.url("/api/login/"))
            .header("x-csrftoken", token)
            .header("cookie", csrf)
            .json(&json!({"username": USER, "password": PASSWORD}))
            .send()
            .await
            .unwrap()
    };
    let device = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("latchkey_device="))
        .expect("a successful login sets the device cookie");
    assert!(device.contains("HttpOnly"), "{device}");
    let stolen = device.split(';').next().unwrap().to_owned();
    // The thief guesses with the cookie from several addresses, past device_max_failures (5).
    for n in 0..8u8 {
        let c = browser([127, 0, 1, n]);
        let res = c.get(s.url("/api/csrf/")).send().await.unwrap();
        let token = res.headers()["x-csrftoken"].to_str().unwrap().to_owned();
        let csrf = res.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
        let _ = c
            .post(s.url("/api/login/"))
            .header("x-csrftoken", token)
            .header("cookie", format!("{csrf}; {stolen}"))
            .json(&json!({"username": USER, "password": format!("guess-{n}")}))
            .send()
            .await
            .unwrap();
    }
    // Now keep the account in back-off: the stolen cookie no longer exempts anyone.
    let until = Instant::now() + Duration::from_secs(4);
    let attackers = attack(&s, until);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let c = Client::builder().local_address(IpAddr::from([127, 0, 0, 12])).build().unwrap();
    let res = c.get(s.url("/api/csrf/")).send().await.unwrap();
    let token = res.headers()["x-csrftoken"].to_str().unwrap().to_owned();
    let csrf = res.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let res = c
        .post(s.url("/api/login/"))
        .header("x-csrftoken", token)
        .header("cookie", format!("{csrf}; {stolen}"))
        .json(&json!({"username": USER, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS, "the abused cookie still exempts from the back-off");
    for a in attackers {
        a.await.unwrap();
    }
    drop(owner);
    let dir = s.stop_keeping_data().await;
    let url = format!("sqlite://{}", db_path(dir.path()).display());
    let (ok, out, err) = run(latchkey(dir.path()).args(["--database", &url, "events", "--limit", "500"]));
    assert!(ok, "{err}");
    assert!(out.contains("device_locked"), "the lockout is in the audit trail:\n{out}");
    assert!(out.contains("account_backoff"), "{out}");
}
