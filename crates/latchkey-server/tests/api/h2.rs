//! HTTP/2 cleartext (prior knowledge) abuse: a rapid-reset flood and a
//! CONTINUATION flood end with the server closing the connection (GOAWAY),
//! and the server keeps serving others. Raw frames over a real socket.

use std::time::{Duration, Instant};

use latchkey::settings::Preset;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::helpers::*;

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut f = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// An HPACK block for `GET /api/session/` on 127.0.0.1 (static-table names, no Huffman).
fn request_block() -> Vec<u8> {
    let mut b = vec![0x82, 0x86]; // :method GET, :scheme http
    b.push(0x04); // :path, literal value
    b.push(13);
    b.extend_from_slice(b"/api/session/");
    b.push(0x01); // :authority, literal value
    b.push(9);
    b.extend_from_slice(b"127.0.0.1");
    b
}

/// Reads frames until a GOAWAY (`Some(error code)`) or the connection ends
/// (`None`), for at most `limit`.
async fn until_goaway(c: &mut TcpStream, limit: Duration) -> Result<Option<u32>, &'static str> {
    let deadline = Instant::now() + limit;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        while buf.len() >= 9 {
            let len = (usize::from(buf[0]) << 16) | (usize::from(buf[1]) << 8) | usize::from(buf[2]);
            if buf.len() < 9 + len {
                break;
            }
            if buf[3] == 0x7 && len >= 8 {
                return Ok(Some(u32::from_be_bytes([buf[13], buf[14], buf[15], buf[16]])));
            }
            buf.drain(..9 + len);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, c.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Ok(None),
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
            Err(_) => return Err("the connection stayed open"),
        }
    }
}

async fn still_serving(s: &TestServer) {
    let res = reqwest::get(s.url("/api/session/")).await.unwrap();
    assert_eq!(res.status(), 200, "the server stopped serving others");
}

#[tokio::test]
async fn http2_prior_knowledge_is_served() {
    let s = spawn_app(Preset::SameOrigin).await;
    let mut c = TcpStream::connect(s.addr).await.unwrap();
    let mut out = PREFACE.to_vec();
    out.extend(frame(0x4, 0, 0, &[]));
    out.extend(frame(0x1, 0x4 | 0x1, 1, &request_block()));
    c.write_all(&out).await.unwrap();
    let mut seen = Vec::new();
    let mut chunk = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(5);
    while !String::from_utf8_lossy(&seen).contains("isAuthenticated") && Instant::now() < deadline {
        let n = tokio::time::timeout(Duration::from_secs(5), c.read(&mut chunk)).await.unwrap().unwrap();
        assert!(n > 0, "closed before answering");
        seen.extend_from_slice(&chunk[..n]);
    }
    assert!(String::from_utf8_lossy(&seen).contains("\"isAuthenticated\":false"));
    s.stop().await;
}

#[tokio::test]
async fn a_rapid_reset_flood_gets_goaway_and_others_are_still_served() {
    let s = spawn_app(Preset::SameOrigin).await;
    let mut c = TcpStream::connect(s.addr).await.unwrap();
    let mut out = PREFACE.to_vec();
    out.extend(frame(0x4, 0, 0, &[]));
    c.write_all(&out).await.unwrap();
    let block = request_block();
    let mut stream = 1u32;
    // Open and cancel streams as fast as possible, in batches.
    'flood: for _ in 0..100 {
        let mut batch = Vec::new();
        for _ in 0..100 {
            batch.extend(frame(0x1, 0x4 | 0x1, stream, &block));
            batch.extend(frame(0x3, 0, stream, &0x8u32.to_be_bytes())); // RST_STREAM CANCEL
            stream += 2;
        }
        if c.write_all(&batch).await.is_err() {
            break 'flood;
        }
    }
    let end = until_goaway(&mut c, Duration::from_secs(10)).await.expect("the flood was not cut off");
    if let Some(code) = end {
        assert_ne!(code, 0, "GOAWAY after a rapid reset flood carries an error code");
    }
    still_serving(&s).await;
    s.stop().await;
}

#[tokio::test]
async fn a_continuation_flood_gets_goaway_and_others_are_still_served() {
    let s = spawn_app(Preset::SameOrigin).await;
    let mut c = TcpStream::connect(s.addr).await.unwrap();
    let mut out = PREFACE.to_vec();
    out.extend(frame(0x4, 0, 0, &[]));
    // HEADERS without END_HEADERS, then CONTINUATION frames that never end the block.
    out.extend(frame(0x1, 0x1, 1, &request_block()));
    c.write_all(&out).await.unwrap();
    let mut junk = Vec::new();
    for i in 0..200u32 {
        // A literal header "x-<i>: <1000 bytes>" without indexing.
        junk.push(0x00);
        let name = format!("x-{i}");
        junk.push(name.len() as u8);
        junk.extend_from_slice(name.as_bytes());
        junk.extend_from_slice(&[0x7f, 0xe9, 0x06]); // length 1000 (7-bit prefix integer)
        junk.extend(std::iter::repeat_n(b'a', 1000));
    }
    for piece in junk.chunks(8 * 1024) {
        if c.write_all(&frame(0x9, 0, 1, piece)).await.is_err() {
            break;
        }
    }
    until_goaway(&mut c, Duration::from_secs(10)).await.expect("the CONTINUATION flood was not cut off");
    still_serving(&s).await;
    s.stop().await;
}
