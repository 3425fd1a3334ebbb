//! Transport limits: slow clients, too many connections, slow bodies, and
//! the headers that keep answers out of caches and on HTTPS.

use std::time::{Duration, Instant};

use latchkey::settings::Preset;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::helpers::*;

/// Reads until the server closes the connection (or `limit` passes);
/// returns what was read and whether it closed.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (String, bool) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&buf).into_owned(), true),
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
            Err(_) => return (String::from_utf8_lossy(&buf).into_owned(), false),
        }
    }
}

#[tokio::test]
async fn a_client_that_trickles_its_headers_is_cut_off() {
    let s = spawn_server_with(Preset::SameOrigin, |s| s.header_read_timeout = Duration::from_secs(1)).await;
    let mut stream = TcpStream::connect(s.addr).await.unwrap();
    stream.write_all(b"GET /api/session/ HTTP/1.1\r\nHost: 127.0.0.1\r\n").await.unwrap();
    let start = Instant::now();
    let (_, closed) = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    assert!(closed, "the connection stayed open");
    assert!(start.elapsed() < Duration::from_secs(4), "closed after {:?}", start.elapsed());
    s.stop().await;
}

/// A CSRF cookie and a token for it.
async fn csrf_pair(s: &TestServer) -> (String, String) {
    let res = reqwest::get(s.url("/api/csrf/")).await.unwrap();
    let token = res.headers()["x-csrftoken"].to_str().unwrap().to_owned();
    let cookie = res.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    (cookie, token)
}

/// Opens a connection that holds a request in flight: a CSRF-valid login
/// whose body never finishes (the handler waits for it until the request timeout).
async fn busy_connection(s: &TestServer, (cookie, token): &(String, String)) -> TcpStream {
    let mut c = TcpStream::connect(s.addr).await.unwrap();
    let head = format!(
        "POST /api/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {cookie}\r\nX-CSRFToken: {token}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{"
    );
    c.write_all(head.as_bytes()).await.unwrap();
    c
}

/// Opens a keep-alive connection that has been served once and now idles.
async fn idle_connection(s: &TestServer) -> TcpStream {
    let mut c = TcpStream::connect(s.addr).await.unwrap();
    c.write_all(b"GET /api/csrf/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").await.unwrap();
    let mut b = [0u8; 64];
    let _ = c.read(&mut b).await.unwrap();
    c
}

#[tokio::test]
async fn when_every_slot_has_a_request_in_flight_new_connections_are_closed_and_service_resumes_after() {
    let s = spawn_server_with(Preset::SameOrigin, |s| s.max_connections = 2).await;
    let csrf = csrf_pair(&s).await;
    let held = vec![busy_connection(&s, &csrf).await, busy_connection(&s, &csrf).await];
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut third = TcpStream::connect(s.addr).await.unwrap();
    let _ = third.write_all(b"GET /api/csrf/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").await;
    let (answer, closed) = read_until_closed(&mut third, Duration::from_secs(3)).await;
    assert!(closed && answer.is_empty(), "the third connection was served: {answer:?}");
    drop(held);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let res = s.client.get(s.url("/api/csrf/")).send().await.unwrap();
    assert_eq!(res.status(), 200, "slots are freed when connections end");
    s.stop().await;
}

#[tokio::test]
async fn when_the_table_is_full_the_idlest_connection_makes_room_for_a_new_client() {
    let s = spawn_server_with(Preset::SameOrigin, |s| s.max_connections = 3).await;
    let csrf = csrf_pair(&s).await;
    let mut oldest = idle_connection(&s).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let _busy = busy_connection(&s, &csrf).await;
    let _newer = idle_connection(&s).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let res = reqwest::get(s.url("/api/csrf/")).await.unwrap();
    assert_eq!(res.status(), 200, "a new client is served when the table is full of idle connections");
    let (_, closed) = read_until_closed(&mut oldest, Duration::from_secs(2)).await;
    assert!(closed, "the connection idle for longest was closed to make room");
    s.stop().await;
}

#[tokio::test]
async fn a_connection_that_sends_nothing_is_closed_within_the_header_read_timeout_of_its_accept() {
    let s = spawn_server_with(Preset::SameOrigin, |s| s.header_read_timeout = Duration::from_secs(1)).await;
    // Silent, a partial HTTP/2 preface, and a full preface whose SETTINGS never come.
    let starts: [&[u8]; 3] = [b"", b"PRI * HTTP", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"];
    for start in starts {
        let mut c = TcpStream::connect(s.addr).await.unwrap();
        c.write_all(start).await.unwrap();
        let t = Instant::now();
        let (_, closed) = read_until_closed(&mut c, Duration::from_secs(4)).await;
        assert!(closed, "{:?} stayed open", String::from_utf8_lossy(start));
        assert!(
            t.elapsed() < Duration::from_millis(1900),
            "{:?}: closed after {:?}",
            String::from_utf8_lossy(start),
            t.elapsed()
        );
    }
    s.stop().await;
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_keep_alive_timeout() {
    let s = spawn_server_with(Preset::SameOrigin, |s| s.keep_alive_timeout = Duration::from_secs(1)).await;
    let mut c = idle_connection(&s).await;
    let t = Instant::now();
    let (_, closed) = read_until_closed(&mut c, Duration::from_secs(4)).await;
    assert!(closed && t.elapsed() < Duration::from_millis(1900), "closed {closed} after {:?}", t.elapsed());
    s.stop().await;
}

#[tokio::test]
async fn one_client_cannot_hold_more_than_its_share_of_connections() {
    let s = spawn_server_with(Preset::SameOrigin, |s| s.max_connections_per_client = 3).await;
    let _held: Vec<TcpStream> = vec![idle_connection(&s).await, idle_connection(&s).await, idle_connection(&s).await];
    let mut fourth = TcpStream::connect(s.addr).await.unwrap();
    let _ = fourth.write_all(b"GET /api/csrf/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").await;
    let (answer, closed) = read_until_closed(&mut fourth, Duration::from_secs(3)).await;
    assert!(closed && answer.is_empty(), "a fourth connection from the same address was served: {answer:?}");
    let other = reqwest::Client::builder().local_address(std::net::IpAddr::from([127, 0, 0, 2])).build().unwrap();
    assert_eq!(other.get(s.url("/api/csrf/")).send().await.unwrap().status(), 200, "another address is served");
    s.stop().await;
}

#[tokio::test]
async fn a_body_that_never_finishes_gets_408_json() {
    let s = spawn_app_with(Preset::SameOrigin, |r| r.limits.request_timeout = Some(1)).await;
    // A valid cookie and token, so the request gets past CSRF to the body.
    let res = reqwest::get(s.url("/api/csrf/")).await.unwrap();
    let token = res.headers()["x-csrftoken"].to_str().unwrap().to_owned();
    let cookie = res.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let mut c = TcpStream::connect(s.addr).await.unwrap();
    let head = format!(
        "POST /api/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {cookie}\r\nX-CSRFToken: {token}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"username\""
    );
    c.write_all(head.as_bytes()).await.unwrap();
    let start = Instant::now();
    let (answer, _) = read_until_closed(&mut c, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"code\":\"request_timeout\""), "{answer}");
    assert!(start.elapsed() < Duration::from_secs(3));
    s.stop().await;
}

#[tokio::test]
async fn auth_answers_are_never_cached() {
    let s = spawn_app(Preset::SameOrigin).await;
    for path in ["/api/csrf/", "/api/session/", "/api/whoami/"] {
        let res = s.client.get(s.url(path)).send().await.unwrap();
        assert_eq!(res.headers()["cache-control"], "no-store", "{path}");
    }
    s.stop().await;
}

#[tokio::test]
async fn hsts_is_sent_only_for_https_deployments() {
    let s = spawn_app_with(Preset::SameOrigin, |r| {
        r.public_url = Some("https://app.example.com".into());
        r.allowed_hosts = Some(vec!["127.0.0.1".into()]);
    })
    .await;
    let res = s.client.get(s.url("/api/csrf/")).send().await.unwrap();
    assert_eq!(res.headers()["strict-transport-security"], "max-age=31536000; includeSubDomains");
    s.stop().await;
    let s = spawn_app(Preset::SameOrigin).await;
    let res = s.client.get(s.url("/api/csrf/")).send().await.unwrap();
    assert!(res.headers().get("strict-transport-security").is_none());
    s.stop().await;
}
