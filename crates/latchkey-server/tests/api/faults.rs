//! Real processes killed with SIGKILL: an instance behind nginx under load,
//! and the SQLite server in the middle of writes. Loopback only, bounded in
//! time, and never touching the shared PostgreSQL beyond the test's own
//! database.

use std::{
    collections::HashSet,
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use serde_json::{Value, json};

use latchkey::testing::PgDatabase;

use crate::helpers::*;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `latchkey serve` on `port` (0: one the system picks, so no other process
/// can take it first); waits until it listens and says on which port.
fn serve(dir: &std::path::Path, port: u16, extra: &[&str], env: &[(&str, &str)]) -> (Child, u16) {
    let mut cmd = latchkey(dir);
    cmd.args(["serve", "--preset", "same-origin", "--bind", &format!("127.0.0.1:{port}")]).args(extra);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert!(line.contains("listening"), "server did not start: {line:?}");
    let port = line
        .split("http://127.0.0.1:")
        .nth(1)
        .and_then(|rest| rest.split('/').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no port in {line:?}"));
    (child, port)
}

fn nginx(listen: u16, b1: u16, b2: u16) -> (Child, tempfile::TempDir) {
    let template =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/nginx/nginx.scale.conf")).unwrap();
    let conf = template
        .replace("${LISTEN}", &format!("127.0.0.1:{listen}"))
        .replace("${BACKEND_1}", &format!("127.0.0.1:{b1}"))
        .replace("${BACKEND_2}", &format!("127.0.0.1:{b2}"))
        .replace("${FRONTEND}", "127.0.0.1:9");
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("logs")).unwrap();
    std::fs::write(dir.path().join("nginx.conf"), conf).unwrap();
    let d = dir.path().display().to_string();
    let child = Command::new("nginx")
        .args([
            "-p",
            &d,
            "-c",
            &format!("{d}/nginx.conf"),
            "-g",
            &format!("daemon off; pid {d}/nginx.pid; error_log {d}/logs/error.log;"),
        ])
        .stderr(Stdio::null())
        .spawn()
        .expect("nginx must be installed for the multi-instance tests (apt-get install nginx)");
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::net::TcpStream::connect(("127.0.0.1", listen)).is_err() {
        assert!(Instant::now() < deadline, "nginx did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    (child, dir)
}

/// Stops every process it holds when dropped, also when a test fails.
/// SIGTERM first (nginx's master stops its workers only then; SIGKILL would
/// orphan them), SIGKILL if still alive after two seconds.
struct Killer(Vec<Child>);

impl Drop for Killer {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = Command::new("kill").args(["-TERM", &c.id().to_string()]).status();
        }
        for c in &mut self.0 {
            let deadline = Instant::now() + Duration::from_secs(2);
            while Instant::now() < deadline && matches!(c.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

async fn login(c: &reqwest::Client, base: &str) -> reqwest::Response {
    let res = c.get(format!("{base}/api/csrf/")).send().await.unwrap();
    let t = res.headers()["x-csrftoken"].to_str().unwrap().to_owned();
    c.post(format!("{base}/api/login/"))
        .header("x-csrftoken", t)
        .json(&json!({"username": USER, "password": PASSWORD}))
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_postgresql_behind_nginx_survive_a_kill_9_and_share_everything() {
    behind_nginx(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_with_redis_sessions_behind_nginx_survive_a_kill_9_and_share_everything() {
    let prefix = latchkey::testing::RedisPrefix::new();
    behind_nginx(Some(&prefix.prefix)).await;
}

/// Two `latchkey serve` processes on one PostgreSQL database (sessions in
/// Redis under `redis_prefix` when given) behind nginx with
/// deploy/nginx/nginx.scale.conf: login through nginx, traffic on both,
/// one killed under load, restarted, rejoining; logout through one seen by
/// the other; throttling counted across both.
async fn behind_nginx(redis_prefix: Option<&str>) {
    let pg = PgDatabase::new().await;
    let dir = tempfile::tempdir().unwrap();
    let db = ["--database", pg.url.as_str()];
    assert!(run(latchkey(dir.path()).arg("migrate").args(db)).0);
    assert!(
        run(latchkey(dir.path())
            .args(["createsuperuser", "--username", USER, "--no-input"])
            .args(db)
            .env("LATCHKEY_PASSWORD", PASSWORD))
        .0
    );
    let redis_url = latchkey::testing::redis_url();
    let mut flags = vec!["--database", pg.url.as_str(), "--trusted-proxy", "127.0.0.1"];
    if redis_prefix.is_some() {
        flags.extend(["--session-store", redis_url.as_str()]);
    }
    let env: Vec<(&str, &str)> = redis_prefix.map(|p| vec![("LATCHKEY_SESSION_STORE_PREFIX", p)]).unwrap_or_default();
    let (flags, env) = (flags.as_slice(), env.as_slice());
    let ((a, pa), (b, pb)) = (serve(dir.path(), 0, flags, env), serve(dir.path(), 0, flags, env));
    let mut procs = Killer(vec![a, b]);
    let pn = free_port();
    let (nginx_child, _nginx_dir) = nginx(pn, pa, pb);
    procs.0.push(nginx_child);
    let base = format!("http://127.0.0.1:{pn}");
    let c = reqwest::Client::builder().cookie_store(true).timeout(Duration::from_secs(5)).build().unwrap();
    assert_eq!(login(&c, &base).await.status(), 200);

    let results: Arc<Mutex<Vec<(u16, String, bool)>>> = Arc::default();
    let deadline = Instant::now() + Duration::from_secs(4);
    let mut load = Vec::new();
    for _ in 0..8 {
        let (c, base, results) = (c.clone(), base.clone(), results.clone());
        load.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                match c.get(format!("{base}/api/whoami/")).send().await {
                    Ok(res) => {
                        let status = res.status().as_u16();
                        let upstream =
                            res.headers().get("x-upstream").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
                        let ok = res.json::<Value>().await.ok() == Some(json!({"username": USER}));
                        results.lock().unwrap().push((status, upstream, ok));
                    }
                    Err(_) => results.lock().unwrap().push((0, String::new(), false)),
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let _ = procs.0[0].kill(); // SIGKILL
    let _ = procs.0[0].wait();
    for t in load {
        t.await.unwrap();
    }
    let results = results.lock().unwrap().clone();
    let failures = results.iter().filter(|r| !r.2).count();
    let upstreams: HashSet<&str> = results.iter().map(|r| r.1.as_str()).collect();
    eprintln!("kill -9 under load: {} requests, {failures} failed, upstreams {upstreams:?}", results.len());
    assert!(results.len() > 50, "too little load: {}", results.len());
    assert!(
        upstreams.iter().any(|u| u.ends_with(&format!(":{pa}")))
            && upstreams.iter().any(|u| u.ends_with(&format!(":{pb}"))),
        "{upstreams:?}"
    );
    assert!(failures <= 8, "{failures} of {} requests failed; at most the 8 in flight may", results.len());

    // The killed instance restarts and takes traffic again; the session still holds.
    procs.0[0] = serve(dir.path(), pa, flags, env).0;
    let back = Instant::now() + Duration::from_secs(15);
    loop {
        let res = c.get(format!("{base}/api/whoami/")).send().await.unwrap();
        let upstream = res.headers().get("x-upstream").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        assert_eq!(res.json::<Value>().await.unwrap(), json!({"username": USER}));
        if upstream.ends_with(&format!(":{pa}")) {
            break;
        }
        assert!(Instant::now() < back, "the restarted instance got no traffic within 15 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A logout through one instance is seen by the other (cookies ignore
    // ports, so the jar's cookies go to each instance directly too).
    let (ua, ub) = (format!("http://127.0.0.1:{pa}"), format!("http://127.0.0.1:{pb}"));
    let res = c.get(format!("{ua}/api/csrf/")).send().await.unwrap();
    let t = res.headers()["x-csrftoken"].to_str().unwrap().to_owned();
    assert_eq!(c.post(format!("{ua}/api/logout/")).header("x-csrftoken", t).send().await.unwrap().status(), 200);
    let v: Value = c.get(format!("{ub}/api/whoami/")).send().await.unwrap().json().await.unwrap();
    assert_eq!(v, json!({"isAuthenticated": false}), "logout on A is seen on B");
    let v: Value = c.get(format!("{base}/api/whoami/")).send().await.unwrap().json().await.unwrap();
    assert_eq!(v, json!({"isAuthenticated": false}), "and through nginx");

    // Failed logins count across both instances.
    let attacker = reqwest::Client::builder().cookie_store(true).build().unwrap();
    for i in 0..5 {
        let target = if i % 2 == 0 { &ua } else { &ub };
        let res = attacker.get(format!("{target}/api/csrf/")).send().await.unwrap();
        let t = res.headers()["x-csrftoken"].to_str().unwrap().to_owned();
        let res = attacker
            .post(format!("{target}/api/login/"))
            .header("x-csrftoken", t)
            .json(&json!({"username": USER, "password": "wrong"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400);
    }
    for target in [&ua, &ub, &base] {
        let res = attacker.get(format!("{target}/api/csrf/")).send().await.unwrap();
        let t = res.headers()["x-csrftoken"].to_str().unwrap().to_owned();
        let res = attacker
            .post(format!("{target}/api/login/"))
            .header("x-csrftoken", t)
            .json(&json!({"username": USER, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 429, "{target}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_keeps_every_acknowledged_session_and_user_through_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    assert!(run(latchkey(dir.path()).arg("migrate")).0);
    assert!(
        run(latchkey(dir.path())
            .args(["createsuperuser", "--username", USER, "--no-input"])
            .env("LATCHKEY_PASSWORD", PASSWORD))
        .0
    );
    let env = [("LATCHKEY_THROTTLE__PER_IP", "1000000")];
    let (child, port) = serve(dir.path(), 0, &[], &env);
    let mut server = Killer(vec![child]);
    let base = format!("http://127.0.0.1:{port}");

    let sessions: Arc<Mutex<Vec<String>>> = Arc::default();
    let stop = Instant::now() + Duration::from_secs(2);
    let mut writers = Vec::new();
    for _ in 0..4 {
        let (base, sessions) = (base.clone(), sessions.clone());
        writers.push(tokio::spawn(async move {
            while Instant::now() < stop + Duration::from_secs(1) {
                let c = reqwest::Client::builder().cookie_store(true).timeout(Duration::from_secs(2)).build().unwrap();
                let Ok(res) = c.get(format!("{base}/api/csrf/")).send().await else { return };
                let t = res.headers()["x-csrftoken"].to_str().unwrap().to_owned();
                let Ok(res) = c
                    .post(format!("{base}/api/login/"))
                    .header("x-csrftoken", t)
                    .json(&json!({"username": USER, "password": PASSWORD}))
                    .send()
                    .await
                else {
                    return;
                };
                if res.status() == 200 {
                    let cookie = res
                        .headers()
                        .get_all("set-cookie")
                        .iter()
                        .filter_map(|v| v.to_str().ok())
                        .find(|c| c.starts_with("sessionid="));
                    if let Some(c) = cookie {
                        sessions.lock().unwrap().push(c.split(';').next().unwrap().to_owned());
                    }
                }
            }
        }));
    }
    // Users created by the CLI at the same time, each acknowledged by exit status 0.
    let users_dir = dir.path().to_owned();
    let users = tokio::task::spawn_blocking(move || {
        let mut acked = Vec::new();
        for i in 0.. {
            if Instant::now() >= stop {
                break;
            }
            let name = format!("user{i}");
            if run(latchkey(&users_dir)
                .args(["createsuperuser", "--username", &name, "--no-input"])
                .env("LATCHKEY_PASSWORD", "a-long-enough-password"))
            .0
            {
                acked.push(name);
            }
        }
        acked
    });
    tokio::time::sleep(Duration::from_secs(2)).await;
    let _ = server.0[0].kill(); // SIGKILL in the middle of writes
    let _ = server.0[0].wait();
    for w in writers {
        w.await.unwrap();
    }
    let users = users.await.unwrap();
    let sessions = sessions.lock().unwrap().clone();
    eprintln!("kill -9 during writes: {} acknowledged sessions, {} acknowledged users", sessions.len(), users.len());
    assert!(
        sessions.len() > 10 && !users.is_empty(),
        "too few writes: {} sessions, {} users",
        sessions.len(),
        users.len()
    );

    server.0[0] = serve(dir.path(), port, &[], &env).0;
    let c = reqwest::Client::new();
    for cookie in &sessions {
        let v: Value =
            c.get(format!("{base}/api/whoami/")).header("cookie", cookie).send().await.unwrap().json().await.unwrap();
        assert_eq!(v, json!({"username": USER}), "an acknowledged login's session was lost");
    }
    let url = format!("sqlite://{}", db_path(dir.path()).display());
    let latchkey::store::Database::Sqlite(store) = latchkey::store::Database::connect(&url, false).await.unwrap()
    else {
        unreachable!()
    };
    let pool = store.pool();
    let check: String = sqlx::query_scalar("PRAGMA integrity_check").fetch_one(pool).await.unwrap();
    assert_eq!(check, "ok");
    for name in &users {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM latchkey_users WHERE username = ?")
            .bind(name)
            .fetch_one(pool)
            .await
            .unwrap();
        assert_eq!(n, 1, "acknowledged user {name} was lost");
    }
    pool.close().await;
}
