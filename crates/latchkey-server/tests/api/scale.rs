//! Several instances sharing PostgreSQL (and Redis), and what happens when a
//! dependency goes away and comes back.

use std::{
    net::SocketAddr,
    process::{Child, Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};

use latchkey::testing::{PgDatabase, RedisPrefix, redis_url};

use crate::helpers::*;

async fn token(c: &reqwest::Client, base: &str) -> String {
    let res = c.get(format!("{base}/api/csrf/")).send().await.unwrap();
    res.headers()["x-csrftoken"].to_str().unwrap().to_owned()
}

async fn login(c: &reqwest::Client, base: &str, pw: &str) -> StatusCode {
    let t = token(c, base).await;
    c.post(format!("{base}/api/login/"))
        .header("x-csrftoken", t)
        .json(&json!({"username": USER, "password": pw}))
        .send()
        .await
        .unwrap()
        .status()
}

async fn whoami(c: &reqwest::Client, base: &str) -> Value {
    c.get(format!("{base}/api/whoami/")).send().await.unwrap().json().await.unwrap()
}

/// One browser (one cookie jar) talking to two instances, as behind a load balancer.
async fn shared_state_across_instances(a: &TestServer, b: &TestServer) {
    let (ua, ub) = (a.url(""), b.url(""));
    // A cookie jar keyed by host: both instances are 127.0.0.1, so cookies flow to both.
    let c = reqwest::Client::builder().cookie_store(true).build().unwrap();
    assert_eq!(login(&c, &ua, PASSWORD).await, StatusCode::OK);
    assert_eq!(whoami(&c, &ub).await, json!({"username": USER}), "a session made on A is valid on B");
    let t = token(&c, &ub).await;
    assert_eq!(
        c.post(format!("{ub}/api/logout/")).header("x-csrftoken", t).send().await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(whoami(&c, &ua).await, json!({"isAuthenticated": false}), "a logout on B is seen on A");

    // Failed logins count across both instances.
    let attacker = reqwest::Client::builder().cookie_store(true).build().unwrap();
    for i in 0..5 {
        let base = if i % 2 == 0 { &ua } else { &ub };
        assert_eq!(login(&attacker, base, "wrong").await, StatusCode::BAD_REQUEST);
    }
    assert_eq!(login(&attacker, &ua, PASSWORD).await, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(login(&attacker, &ub, PASSWORD).await, StatusCode::TOO_MANY_REQUESTS);
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder().cookie_store(true).user_agent("scale-test").build().unwrap()
}

async fn send_unsafe(c: &reqwest::Client, base: &str, method: reqwest::Method, path: &str, body: Value) -> Value {
    let t = token(c, base).await;
    let res = c.request(method, format!("{base}{path}")).header("x-csrftoken", t).json(&body).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK, "{path}");
    res.json().await.unwrap()
}

/// Ending a session, or changing the password, on one instance signs the
/// other browsers out on the other instance at once, although that instance
/// had their sessions in its cache.
async fn account_changes_across_instances(a: &TestServer, b: &TestServer) {
    let (ua, ub) = (a.url(""), b.url(""));
    let (x, y) = (browser(), browser());
    assert_eq!(login(&x, &ua, PASSWORD).await, StatusCode::OK);
    assert_eq!(login(&y, &ub, PASSWORD).await, StatusCode::OK);
    for base in [&ua, &ub] {
        assert_eq!(whoami(&x, base).await["username"], USER, "cached on both instances");
    }
    let list: Value = y.get(format!("{ua}/api/sessions/")).send().await.unwrap().json().await.unwrap();
    let sessions = list["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2, "{list}");
    assert!(sessions.iter().all(|s| s["ip"] == "127.0.0.1" && s["userAgent"] == "scale-test"), "{list}");
    let xid = sessions.iter().find(|s| s["current"] == false).unwrap()["id"].as_str().unwrap().to_owned();
    send_unsafe(&y, &ua, reqwest::Method::DELETE, &format!("/api/sessions/{xid}/"), json!({})).await;
    assert_eq!(whoami(&x, &ub).await, json!({"isAuthenticated": false}), "ended on A, anonymous on B at once");

    assert_eq!(login(&x, &ua, PASSWORD).await, StatusCode::OK);
    assert_eq!(whoami(&x, &ub).await["username"], USER);
    let body = json!({"currentPassword": PASSWORD, "newPassword": "another good passphrase 7"});
    let changed = send_unsafe(&y, &ua, reqwest::Method::POST, "/api/password/change/", body).await;
    assert_eq!(changed["ended"], 1);
    assert_eq!(whoami(&x, &ub).await, json!({"isAuthenticated": false}), "password changed on A: anonymous on B");
    assert_eq!(whoami(&y, &ub).await["username"], USER, "the changing session continues on every instance");
    assert_eq!(login(&browser(), &ub, PASSWORD).await, StatusCode::BAD_REQUEST, "the old password fails on B");
}

#[tokio::test]
async fn on_postgresql_ending_a_session_or_changing_the_password_is_seen_by_every_instance() {
    let pg = PgDatabase::new().await;
    let a = spawn_on(&pg.url, None).await;
    let b = spawn_on(&pg.url, None).await;
    account_changes_across_instances(&a, &b).await;
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn with_redis_ending_a_session_or_changing_the_password_is_seen_by_every_instance() {
    let pg = PgDatabase::new().await;
    let prefix = RedisPrefix::new();
    let a = spawn_on(&pg.url, Some((&redis_url(), &prefix.prefix))).await;
    let b = spawn_on(&pg.url, Some((&redis_url(), &prefix.prefix))).await;
    account_changes_across_instances(&a, &b).await;
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn two_instances_on_postgresql_share_sessions_logouts_and_throttling() {
    let pg = PgDatabase::new().await;
    let a = spawn_on(&pg.url, None).await;
    let b = spawn_on(&pg.url, None).await;
    shared_state_across_instances(&a, &b).await;
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn two_instances_with_sessions_in_redis_share_sessions_logouts_and_throttling() {
    let pg = PgDatabase::new().await;
    let prefix = RedisPrefix::new();
    let a = spawn_on(&pg.url, Some((&redis_url(), &prefix.prefix))).await;
    let b = spawn_on(&pg.url, Some((&redis_url(), &prefix.prefix))).await;
    shared_state_across_instances(&a, &b).await;
    let health: Value = a.client.get(a.url("/api/health/")).send().await.unwrap().json().await.unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["database"], "ok");
    assert_eq!(health["session_store"], "ok");
    assert_eq!(health["cache"]["drops"], 0, "{health}");
    // B read A's session (through its cache) and never lost its channel.
    let health: Value = b.client.get(b.url("/api/health/")).send().await.unwrap().json().await.unwrap();
    assert_eq!(health["cache"]["drops"], 0, "{health}");
    assert!(health["cache"]["hits"].as_u64().unwrap() + health["cache"]["misses"].as_u64().unwrap() > 0, "{health}");
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn migrate_is_safe_from_several_instances_at_once() {
    let pg = PgDatabase::new().await;
    let runs: Vec<_> = (0..4)
        .map(|_| {
            let url = pg.url.clone();
            tokio::spawn(async move {
                let db = latchkey::store::Database::connect(&url, false).await.unwrap();
                let applied = db.migrate().await.unwrap();
                db.close().await;
                (applied.len(), db.latest_version())
            })
        })
        .collect();
    let (mut total, mut migrations) = (0, 0);
    for r in runs {
        let (applied, latest) = r.await.unwrap();
        total += applied;
        migrations = latest;
    }
    assert_eq!(total, migrations as usize, "each migration was applied by exactly one instance");
}

/// A TCP proxy the test owns, so a dependency can be cut and restored
/// without touching the shared server other tests use.
struct Proxy {
    addr: SocketAddr,
    up: Arc<AtomicBool>,
}

impl Proxy {
    async fn to(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let up = Arc::new(AtomicBool::new(true));
        let flag = up.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else { return };
                if !flag.load(Ordering::SeqCst) {
                    continue; // dropped: refused while cut
                }
                let flag = flag.clone();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(target).await else { return };
                    let copy = tokio::io::copy_bidirectional(&mut client, &mut server);
                    let watch = async {
                        while flag.load(Ordering::SeqCst) {
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    };
                    tokio::select! { _ = copy => {}, () = watch => {} }
                });
            }
        });
        Self { addr, up }
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

async fn ready(s: &TestServer) -> (StatusCode, Value) {
    let res = s.client.get(s.url("/readyz")).send().await.unwrap();
    (res.status(), res.json().await.unwrap())
}

#[tokio::test]
async fn a_database_outage_gives_quick_503s_and_service_resumes_without_a_restart() {
    let pg = PgDatabase::new().await;
    let target: SocketAddr = "127.0.0.1:5432".parse().unwrap();
    let proxy = Proxy::to(target).await;
    let via_proxy = pg.url.replace("127.0.0.1:5432", &proxy.addr.to_string());
    let s = spawn_on(&via_proxy, None).await;
    let c = reqwest::Client::builder().cookie_store(true).build().unwrap();
    let base = s.url("");
    assert_eq!(login(&c, &base, PASSWORD).await, StatusCode::OK);

    proxy.cut();
    tokio::time::sleep(Duration::from_millis(300)).await; // the proxy drops live connections within 50 ms
    let start = Instant::now();
    let res = c.get(format!("{base}/api/whoami/")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(res.headers().contains_key("retry-after"));
    assert_eq!(res.json::<Value>().await.unwrap()["code"], "unavailable");
    assert!(start.elapsed() < Duration::from_secs(5), "answered in {:?}, not hung", start.elapsed());
    let (status, body) = ready(&s).await;
    assert_eq!((status, body["database"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, Some("down")));
    assert_eq!(s.client.get(s.url("/healthz")).send().await.unwrap().status(), StatusCode::OK, "alive all along");

    proxy.restore();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let res = c.get(format!("{base}/api/whoami/")).send().await.unwrap();
        if res.status() == StatusCode::OK {
            assert_eq!(
                res.json::<Value>().await.unwrap(),
                json!({"username": USER}),
                "the session survived the outage"
            );
            break;
        }
        assert!(Instant::now() < deadline, "did not recover within 15 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(ready(&s).await.0, StatusCode::OK);
    s.stop().await;
}

/// A private redis-server on a free port, killed and restarted by the test.
struct PrivateRedis {
    child: Option<Child>,
    dir: tempfile::TempDir,
}

impl PrivateRedis {
    fn start(port: u16, dir: tempfile::TempDir) -> Self {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server is installed");
        let deadline = Instant::now() + Duration::from_secs(5);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "private redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Self { child: Some(child), dir }
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

#[tokio::test]
async fn a_redis_outage_gives_quick_503s_and_service_resumes_without_a_restart() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut redis = PrivateRedis::start(port, tempfile::tempdir().unwrap());
    let pg = PgDatabase::new().await;
    let url = format!("redis://127.0.0.1:{port}");
    let s = spawn_on(&pg.url, Some((&url, "latchkey:"))).await;
    let c = reqwest::Client::builder().cookie_store(true).build().unwrap();
    let base = s.url("");
    assert_eq!(login(&c, &base, PASSWORD).await, StatusCode::OK);

    redis.kill();
    let start = Instant::now();
    let res = c.get(format!("{base}/api/whoami/")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(start.elapsed() < Duration::from_secs(5), "answered in {:?}", start.elapsed());
    let (status, body) = ready(&s).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["session_store"], "down");
    assert_eq!(body["database"], "ok");

    let dir = std::mem::replace(&mut redis.dir, tempfile::tempdir().unwrap());
    let _redis = PrivateRedis::start(port, dir);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        // The private Redis kept nothing, so the old session is gone: a new login must work.
        if login(&c, &base, PASSWORD).await == StatusCode::OK {
            break;
        }
        assert!(Instant::now() < deadline, "did not recover within 15 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(whoami(&c, &base).await, json!({"username": USER}));
    assert_eq!(ready(&s).await.0, StatusCode::OK);
    s.stop().await;
}

/// A staff user deactivates someone through instance A; that user's browser
/// on instance B, whose session B has cached, is signed out at once.
async fn admin_deactivation_across_instances(database_url: &str, a: &TestServer, b: &TestServer) {
    let (ua, ub) = (a.url(""), b.url(""));
    let db = latchkey::store::Database::connect(database_url, false).await.unwrap();
    let users = db.stores().users;
    let me = users.by_username(USER).await.unwrap().unwrap();
    let promote = latchkey::users::UserChanges { is_staff: Some(true), is_superuser: Some(true), ..Default::default() };
    users.update(me.id, &promote).await.unwrap();
    db.close().await;
    let staff = browser();
    assert_eq!(login(&staff, &ua, PASSWORD).await, StatusCode::OK);
    let body = json!({"username": "victim", "password": "victim's own passphrase 5"});
    let t = token(&staff, &ua).await;
    let res = staff.post(format!("{ua}/api/admin/users/")).header("x-csrftoken", t).json(&body).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let victim_id = res.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let victim = browser();
    let t = token(&victim, &ub).await;
    let res = victim.post(format!("{ub}/api/login/")).header("x-csrftoken", t).json(&body).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    for base in [&ua, &ub] {
        assert_eq!(whoami(&victim, base).await["username"], "victim", "cached on both instances");
    }
    let seen: Value =
        staff.get(format!("{ua}/api/admin/sessions/?user=victim")).send().await.unwrap().json().await.unwrap();
    assert_eq!(seen["count"], 1, "A lists the session made on B: {seen}");
    let changed = send_unsafe(
        &staff,
        &ua,
        reqwest::Method::PATCH,
        &format!("/api/admin/users/{victim_id}/"),
        json!({"isActive": false}),
    )
    .await;
    assert_eq!(changed["isActive"], false);
    assert_eq!(
        whoami(&victim, &ub).await,
        json!({"isAuthenticated": false}),
        "deactivated on A: anonymous on B at once"
    );
    let t = token(&victim, &ub).await;
    let res = victim.post(format!("{ub}/api/login/")).header("x-csrftoken", t).json(&body).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST, "and cannot sign in on B");
}

#[tokio::test]
async fn on_postgresql_an_admin_deactivation_on_one_instance_signs_the_user_out_on_every_instance() {
    let pg = PgDatabase::new().await;
    let a = spawn_on(&pg.url, None).await;
    let b = spawn_on(&pg.url, None).await;
    admin_deactivation_across_instances(&pg.url, &a, &b).await;
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn with_redis_an_admin_deactivation_on_one_instance_signs_the_user_out_on_every_instance() {
    let pg = PgDatabase::new().await;
    let prefix = RedisPrefix::new();
    let a = spawn_on(&pg.url, Some((&redis_url(), &prefix.prefix))).await;
    let b = spawn_on(&pg.url, Some((&redis_url(), &prefix.prefix))).await;
    admin_deactivation_across_instances(&pg.url, &a, &b).await;
    a.stop().await;
    b.stop().await;
}
