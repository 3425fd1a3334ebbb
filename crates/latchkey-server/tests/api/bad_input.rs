//! Hostile and broken input over real HTTP: every answer is a 4xx (JSON
//! with a `detail` whenever the bytes form an HTTP request at all), never a
//! 5xx, and the server keeps serving; a normal login works afterwards.

use std::time::Duration;

use latchkey::settings::Preset;
use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::helpers::*;

/// Sends raw bytes; returns (status, body) of the answer.
async fn raw(addr: std::net::SocketAddr, request: &[u8]) -> (u16, String) {
    let mut c = TcpStream::connect(addr).await.unwrap();
    // The server may answer (413) and close before a huge body is sent.
    let _ = c.write_all(request).await;
    // No write-side shutdown: hyper reads a half-closed connection as a
    // client that went away and drops the request (correctly).
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), c.read_to_end(&mut buf)).await;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("").to_owned();
    (status, body)
}

fn request(method: &str, path: &str, headers: &[(&str, &[u8])], body: &[u8]) -> Vec<u8> {
    let mut r = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n").into_bytes();
    for (k, v) in headers {
        r.extend_from_slice(k.as_bytes());
        r.extend_from_slice(b": ");
        r.extend_from_slice(v);
        r.extend_from_slice(b"\r\n");
    }
    r.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
    r.extend_from_slice(body);
    r
}

fn assert_json_4xx(what: &str, (status, body): (u16, String)) {
    assert!((400..500).contains(&status), "{what}: status {status}, body {body:?}");
    let v: Value = serde_json::from_str(body.trim()).unwrap_or_else(|_| panic!("{what}: not JSON: {body:?}"));
    assert!(v["detail"].as_str().is_some_and(|d| !d.is_empty()), "{what}: {v}");
}

/// A cookie + token pair, so bodies reach the login view.
async fn csrf(s: &TestServer) -> (String, String) {
    let res = reqwest::get(s.url("/api/csrf/")).await.unwrap();
    let token = res.headers()["x-csrftoken"].to_str().unwrap().to_owned();
    let cookie = res.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    (cookie, token)
}

#[tokio::test]
async fn hostile_bodies_and_headers_get_4xx_json_and_the_server_keeps_serving() {
    let s = spawn_app(Preset::SameOrigin).await;
    let (cookie, token) = csrf(&s).await;
    let auth: Vec<(&str, &[u8])> =
        vec![("Cookie", cookie.as_bytes()), ("X-CSRFToken", token.as_bytes()), ("Content-Type", b"application/json")];
    let login = |body: &[u8]| request("POST", "/api/login/", &auth, body);

    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let long = "x".repeat(60_000);
    let bodies: Vec<(&str, Vec<u8>)> = vec![
        ("malformed JSON", b"{\"username\": ".to_vec()),
        ("deeply nested JSON", deep.into_bytes()),
        ("an array", b"[1,2,3]".to_vec()),
        ("wrong types", br#"{"username": {"a": 1}, "password": true}"#.to_vec()),
        ("invalid UTF-8", b"{\"username\": \"\xff\xfe\", \"password\": \"x\"}".to_vec()),
        ("a NUL byte", b"{\"username\": \"de\\u0000mo\", \"password\": \"x\"}".to_vec()),
        ("control characters", b"{\"username\": \"\\u0007\\u001b[31m\", \"password\": \"\\r\\n\"}".to_vec()),
        ("a very long username", format!(r#"{{"username": "{long}", "password": "x"}}"#).into_bytes()),
        ("a very long password", format!(r#"{{"username": "demo", "password": "{long}"}}"#).into_bytes()),
        ("a huge body", vec![b' '; 5_000_000]),
    ];
    for (what, body) in &bodies {
        assert_json_4xx(what, raw(s.addr, &login(body)).await);
    }

    let odd_headers: Vec<(&str, Vec<u8>)> = vec![
        (
            "a non-UTF-8 cookie header",
            request("GET", "/api/session/", &[("Cookie", b"sessionid=\xff\xfe; csrftoken=\x80")], b""),
        ),
        (
            "duplicate session cookies",
            request("GET", "/api/session/", &[("Cookie", b"sessionid=a; sessionid=b; sessionid=")], b""),
        ),
        (
            "duplicate CSRF cookies",
            request("POST", "/api/logout/", &[("Cookie", b"csrftoken=a; csrftoken=b"), ("X-CSRFToken", b"a")], b""),
        ),
        (
            "a non-UTF-8 token header",
            request("POST", "/api/logout/", &[("Cookie", cookie.as_bytes()), ("X-CSRFToken", b"\xff\xfe\xfd")], b""),
        ),
        ("a non-UTF-8 origin", request("POST", "/api/logout/", &[("Origin", b"http://\xffevil")], b"")),
        ("a non-UTF-8 referer on GET logout", request("GET", "/api/logout/", &[("Referer", b"http://\xff/")], b"")),
        ("a non-UTF-8 authorization", request("GET", "/api/whoami/", &[("Authorization", b"Basic \xff\xfe")], b"")),
        ("a foreign Host", b"GET /api/session/ HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n".to_vec()),
        (
            "a Host with odd bytes",
            b"GET /api/session/ HTTP/1.1\r\nHost: ev\xffil\r\nConnection: close\r\n\r\n".to_vec(),
        ),
        ("an unknown method", request("FROB", "/api/login/", &[], b"")),
        ("an unknown method on an unknown path", request("FROB", "/nowhere", &[], b"")),
        (
            "a very long token",
            request(
                "POST",
                "/api/logout/",
                &[("Cookie", cookie.as_bytes()), ("X-CSRFToken", "a".repeat(8000).as_bytes())],
                b"",
            ),
        ),
        ("a very long path", request("GET", &format!("/api/{}", "a".repeat(8000)), &[], b"")),
    ];
    for (what, req) in &odd_headers {
        let (status, body) = raw(s.addr, req).await;
        // Ignored junk on a safe request is simply anonymous.
        if what.contains("session cookies") || what.contains("non-UTF-8 cookie") || what.contains("authorization") {
            assert_eq!(status, 200, "{what}: {body}");
            continue;
        }
        assert_json_4xx(what, (status, body));
    }

    // Not HTTP at all: the parser answers (4xx) or hangs up; never a 5xx.
    for junk in [
        &b"\x00\x01\x02\x03\r\n\r\n"[..],
        b"GET / HTTP/9.9\r\n\r\n",
        b"GET /api/csrf/ HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
    ] {
        let (status, _) = raw(s.addr, junk).await;
        assert!(status == 0 || (400..500).contains(&status), "junk got {status}");
    }
    let huge_header = request("GET", "/api/csrf/", &[("X-Big", "b".repeat(200_000).as_bytes())], b"");
    let (status, _) = raw(s.addr, &huge_header).await;
    assert!(status == 0 || (400..500).contains(&status), "huge header got {status}");

    // Still serving, and a normal login works.
    let c = reqwest::Client::builder().cookie_store(true).build().unwrap();
    let res = c.get(s.url("/api/csrf/")).send().await.unwrap();
    let t = res.headers()["x-csrftoken"].to_str().unwrap().to_owned();
    let res = c
        .post(s.url("/api/login/"))
        .header("x-csrftoken", t)
        .json(&json!({"username": USER, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let v: Value = c.get(s.url("/api/whoami/")).send().await.unwrap().json().await.unwrap();
    assert_eq!(v, json!({"username": "demo"}));
    s.stop().await;
}

#[tokio::test]
async fn two_host_headers_are_a_400_and_an_absolute_target_names_the_host_that_is_checked() {
    let s = spawn_app(Preset::SameOrigin).await;
    let two = b"GET /api/session/ HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n";
    let (status, body) = raw(s.addr, two).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["code"], "invalid_host");
    // The authority of an absolute-form target is the host, whatever Host says (RFC 9112 §3.2.2).
    let port = s.addr.port();
    let evil = format!(
        "GET http://evil.example:{port}/api/session/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    );
    let (status, body) = raw(s.addr, evil.as_bytes()).await;
    assert_eq!(
        (status, serde_json::from_str::<Value>(&body).unwrap()["code"].clone()),
        (400, json!("disallowed_host"))
    );
    let ours =
        format!("GET http://127.0.0.1:{port}/api/session/ HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n");
    let (status, body) = raw(s.addr, ours.as_bytes()).await;
    assert_eq!(status, 200, "{body}");
    s.stop().await;
}
