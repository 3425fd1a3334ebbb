//! Failed-login throttling through the API.

use std::sync::Arc;

use http::{Method, StatusCode};
use latchkey::{Latchkey, MockClock, settings::Preset};
use serde_json::json;

use crate::helpers::*;

async fn attempt(app: &mut TestApp, user: &str, pw: &str) -> Res {
    app.login_as(user, pw).await
}

#[tokio::test]
async fn the_sixth_failed_login_is_429_with_retry_after_and_costs_no_hash() {
    let mut app = TestApp::new(Preset::SameOrigin).await;
    for _ in 0..5 {
        assert_eq!(attempt(&mut app, USER, "wrong").await.status, StatusCode::BAD_REQUEST);
    }
    let before = app.lk.hasher().invocations();
    let res = attempt(&mut app, USER, PASSWORD).await;
    assert_eq!(res.status, StatusCode::TOO_MANY_REQUESTS, "even the right password waits");
    assert_eq!(res.code(), "throttled");
    assert_eq!(res.header("retry-after"), Some("900"));
    assert_eq!(app.lk.hasher().invocations(), before, "a throttled attempt runs no hash");
    app.clock.advance(time::Duration::minutes(15));
    assert_eq!(attempt(&mut app, USER, PASSWORD).await.status, StatusCode::OK, "the window ends");
}

#[tokio::test]
async fn unknown_and_existing_accounts_are_throttled_identically() {
    let mut app = TestApp::new(Preset::SameOrigin).await;
    let mut answers = Vec::new();
    for user in [USER, "no-such-user"] {
        let mut seq = Vec::new();
        for _ in 0..7 {
            let r = attempt(&mut app, user, "wrong").await;
            seq.push((r.status, r.header("retry-after").map(str::to_owned), r.json()));
        }
        answers.push(seq);
    }
    assert_eq!(answers[0], answers[1], "a 429 must not reveal which accounts exist");
}

#[tokio::test]
async fn concurrent_attempts_cannot_slip_past_the_limit() {
    let app = TestApp::new(Preset::SameOrigin).await;
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let mut client = TestApp {
            lk: app.lk.clone(),
            router: app.router.clone(),
            clock: app.clock.clone(),
            jar: Default::default(),
            host: app.host.clone(),
        };
        tasks.push(tokio::spawn(async move { client.login_as(USER, "wrong").await.status }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    let processed = statuses.iter().filter(|s| **s == StatusCode::BAD_REQUEST).count();
    let throttled = statuses.iter().filter(|s| **s == StatusCode::TOO_MANY_REQUESTS).count();
    assert_eq!((processed, throttled), (5, 15), "{statuses:?}");
}

#[tokio::test]
async fn http_basic_goes_through_the_same_throttle() {
    use base64::Engine;
    let mut app = TestApp::new(Preset::Rest).await;
    let bad = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{USER}:wrong")));
    for _ in 0..5 {
        let r = app.send(Method::GET, "/api/whoami/", &[("authorization", &bad)], None).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
    }
    let good = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}")));
    let r = app.send(Method::GET, "/api/whoami/", &[("authorization", &good)], None).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        attempt(&mut app, USER, PASSWORD).await.status,
        StatusCode::TOO_MANY_REQUESTS,
        "login shares the counter"
    );
}

#[tokio::test]
async fn instances_sharing_a_store_share_the_counters() {
    let a = TestApp::new(Preset::SameOrigin).await;
    // A second instance on the same stores (as several servers on one database are).
    let clock = MockClock::default();
    let lk2 = Latchkey::new(
        a.lk.settings().clone(),
        a.lk.stores(),
        Arc::new(clock.clone()),
        a.lk.settings().secret_key.clone().unwrap(),
    )
    .unwrap();
    let mut b = TestApp {
        router: latchkey::http::build_router(&lk2),
        lk: lk2,
        clock,
        jar: Default::default(),
        host: a.host.clone(),
    };
    let mut a = a;
    for i in 0..5 {
        let app = if i % 2 == 0 { &mut a } else { &mut b };
        assert_eq!(attempt(app, USER, "wrong").await.status, StatusCode::BAD_REQUEST);
    }
    assert_eq!(attempt(&mut a, USER, "wrong").await.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(attempt(&mut b, USER, "wrong").await.status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn throttling_can_be_turned_off() {
    let mut app = TestApp::with_settings(settings_for(Preset::SameOrigin, |r| r.throttle.enabled = Some(false))).await;
    for _ in 0..8 {
        assert_eq!(attempt(&mut app, USER, "wrong").await.status, StatusCode::BAD_REQUEST);
    }
    let res = attempt(&mut app, USER, PASSWORD).await;
    assert_eq!(res.json(), json!({"detail": "Successfully logged in."}));
}

/// Password hashing never queues without bound: with one hashing slot and no
/// queue, logins that arrive while a hash runs get 503 `hasher_busy` with
/// `Retry-After` at once, and the server keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_beyond_the_hash_queue_get_503_with_retry_after_not_an_unbounded_wait() {
    let settings = crate::helpers::settings_for(Preset::SameOrigin, |r| {
        r.password_hasher.memory_kib = Some(16 * 1024);
        r.password_hasher.iterations = Some(3);
        r.password_hasher.max_concurrent = Some(1);
        r.password_hasher.max_queue = Some(0);
        r.throttle.per_pair = Some(1000);
    });
    let mut app = TestApp::with_settings(settings).await;
    let token = app.csrf_token().await;
    let body = serde_json::json!({"username": USER, "password": PASSWORD}).to_string();
    let logins: Vec<_> = (0..8)
        .map(|_| {
            let (lk, router, jar, host) = (app.lk.clone(), app.router.clone(), app.jar.clone(), app.host.clone());
            let (token, body) = (token.clone(), body.clone());
            tokio::spawn(async move {
                let mut client = TestApp { lk, router, clock: MockClock::default(), jar, host };
                client.post_json("/api/login/", &token, &body).await
            })
        })
        .collect();
    let mut busy = 0;
    for l in logins {
        let res = l.await.unwrap();
        match res.status {
            StatusCode::OK => {}
            StatusCode::SERVICE_UNAVAILABLE => {
                assert_eq!(res.code(), "hasher_busy");
                assert_eq!(res.header("retry-after"), Some("1"));
                busy += 1;
            }
            s => panic!("unexpected {s}: {:?}", res.json()),
        }
    }
    assert!(busy > 0, "eight logins at once on one slot without a queue: some must be turned away");
    assert_eq!(app.get("/api/session/").await.status, StatusCode::OK, "the server keeps serving");
}
