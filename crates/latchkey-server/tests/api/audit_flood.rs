//! Unauthenticated requests cannot grow the database: CSRF rejections and
//! throttled logins are written as aggregates with a count, and
//! `latchkey events` still shows that they happened and how often.

use std::path::Path;

use latchkey::settings::Preset;
use serde_json::Value;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::helpers::*;

/// The database file plus its WAL.
fn db_bytes(dir: &Path) -> u64 {
    ["latchkey.sqlite3", "latchkey.sqlite3-wal"]
        .iter()
        .map(|f| std::fs::metadata(dir.join(f)).map_or(0, |m| m.len()))
        .sum()
}

/// Sends `request` `n` times, pipelined over 4 keep-alive connections in
/// batches (cheap for the client, so the server is what is measured), and
/// checks every answer's status.
async fn flood(s: &TestServer, n: usize, request: String, expect: u16) {
    const CONNECTIONS: usize = 4;
    const BATCH: usize = 250;
    let status = format!("HTTP/1.1 {expect} ");
    let handles: Vec<_> = (0..CONNECTIONS)
        .map(|i| {
            let (addr, request, status) = (s.addr, request.clone(), status.clone());
            tokio::spawn(async move {
                let mut c = TcpStream::connect(addr).await.unwrap();
                let mut left = n / CONNECTIONS + usize::from(i < n % CONNECTIONS);
                let mut buf = Vec::new();
                let mut chunk = vec![0u8; 64 * 1024];
                while left > 0 {
                    let k = left.min(BATCH);
                    c.write_all(request.repeat(k).as_bytes()).await.unwrap();
                    buf.clear();
                    while count(&buf, b"HTTP/1.1 ") < k {
                        let read = c.read(&mut chunk).await.unwrap();
                        assert!(read > 0, "the server closed the connection");
                        buf.extend_from_slice(&chunk[..read]);
                    }
                    assert_eq!(count(&buf, status.as_bytes()), k, "an answer was not {status}");
                    left -= k;
                }
            })
        })
        .collect();
    for h in handles {
        h.await.unwrap();
    }
}

fn count(haystack: &[u8], needle: &[u8]) -> usize {
    haystack.windows(needle.len()).filter(|w| *w == needle).count()
}

/// `latchkey events --json`: (event, summed count) for `kind`.
fn counted(dir: &Path, kind: &str) -> u64 {
    let url = format!("sqlite://{}", db_path(dir).display());
    let (ok, out, err) = run(latchkey(dir).args(["--database", &url, "events", "--limit", "1000", "--json"]));
    assert!(ok, "{err}");
    out.lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["event"] == kind)
        .map(|e| e["count"].as_u64().unwrap())
        .sum()
}

/// A logout without a CSRF cookie or token.
const CSRF_FAILURE: &str = "POST /api/logout/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_thousand_csrf_failures_grow_the_database_by_less_than_half_a_megabyte() {
    let _heavy = HEAVY.lock().await;
    let s = spawn_app(Preset::SameOrigin).await;
    let before = db_bytes(s.dir());
    flood(&s, 20_000, CSRF_FAILURE.to_owned(), 403).await;
    let dir = s.stop_keeping_data().await;
    let grown = db_bytes(dir.path()).saturating_sub(before);
    assert!(grown < 512 * 1024, "the database grew by {grown} bytes");
    assert_eq!(counted(dir.path(), "csrf_rejected"), 20_000, "every rejection is accounted for");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_thousand_csrf_failures_and_fifty_thousand_throttled_logins_grow_it_by_less_than_two_megabytes() {
    let _heavy = HEAVY.lock().await;
    let s = spawn_app(Preset::SameOrigin).await;
    // A CSRF-valid login with a wrong password, from one client.
    let res = reqwest::get(s.url("/api/csrf/")).await.unwrap();
    let token = res.headers()["x-csrftoken"].to_str().unwrap().to_owned();
    let cookie = res.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let body = format!(r#"{{"username": "{USER}", "password": "wrong"}}"#);
    let wrong_login = format!(
        "POST /api/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {cookie}\r\nX-CSRFToken: {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    // The first attempts are checked (and fail); the rest are throttled.
    flood(&s, 5, wrong_login.clone(), 400).await;
    let before = db_bytes(s.dir());
    flood(&s, 50_000, CSRF_FAILURE.to_owned(), 403).await;
    flood(&s, 50_000, wrong_login, 429).await;
    let dir = s.stop_keeping_data().await;
    let grown = db_bytes(dir.path()).saturating_sub(before);
    assert!(grown < 2 * 1024 * 1024, "the database grew by {grown} bytes");
    assert_eq!(counted(dir.path(), "csrf_rejected"), 50_000);
    assert_eq!(counted(dir.path(), "login_throttled"), 50_000);
}
