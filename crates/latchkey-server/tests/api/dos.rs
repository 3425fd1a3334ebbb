//! Denial of service from one address must not reach another: a flood of
//! silent sockets and a slowloris from 127.0.0.1 while a client bound to
//! 127.0.0.2 keeps using the API (real sockets, loopback only, bounded).

use std::{
    net::IpAddr,
    time::{Duration, Instant},
};

use latchkey::settings::Preset;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::helpers::*;

const ATTACK: Duration = Duration::from_secs(30);
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(2);

/// Holds a silent socket until the server closes it; how long that took
/// after connecting (`None`: still open `HEADER_READ_TIMEOUT` + 10 s later).
async fn silent_socket(addr: std::net::SocketAddr) -> Option<Option<Duration>> {
    let mut c = TcpStream::connect(addr).await.ok()?;
    let start = Instant::now();
    let mut b = [0u8; 16];
    Some(match tokio::time::timeout(HEADER_READ_TIMEOUT + Duration::from_secs(10), c.read(&mut b)).await {
        Ok(_) => Some(start.elapsed()),
        Err(_) => None,
    })
}

/// A slowloris connection: a request head one header a second, reconnecting
/// whenever the server hangs up. Returns how many times it was cut off.
async fn slowloris(addr: std::net::SocketAddr, until: Instant) -> u32 {
    let mut cut = 0;
    while Instant::now() < until {
        let Ok(mut c) = TcpStream::connect(addr).await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        if c.write_all(b"GET /api/session/ HTTP/1.1\r\nHost: 127.0.0.1\r\n").await.is_err() {
            cut += 1;
            continue;
        }
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            if Instant::now() >= until {
                return cut;
            }
            if c.write_all(b"X-Slow: 1\r\n").await.is_err() {
                cut += 1;
                break;
            }
        }
    }
    cut
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_sockets_and_a_slowloris_from_one_address_leave_another_client_served() {
    let _heavy = HEAVY.lock().await;
    // This process holds both ends of every socket.
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let s = spawn_server_with(Preset::SameOrigin, |c| c.header_read_timeout = HEADER_READ_TIMEOUT).await;
    let (addr, url) = (s.addr, s.url("/api/session/"));
    let until = Instant::now() + ATTACK;
    // Opened in waves of 100, as fast as the server accepts them.
    let mut silent = Vec::new();
    for _ in 0..11 {
        silent.extend((0..100).map(|_| tokio::spawn(silent_socket(addr))));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let loris: Vec<_> = (0..200).map(|_| tokio::spawn(slowloris(addr, until))).collect();

    let victim = reqwest::Client::builder()
        .local_address(IpAddr::from([127, 0, 0, 2]))
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let start = Instant::now();
    let (mut latencies, mut failures) = (Vec::new(), Vec::new());
    let mut n = 0u32;
    while start.elapsed() < ATTACK {
        let t = Instant::now();
        match victim.get(&url).send().await {
            Ok(r) if r.status() == 200 => latencies.push(t.elapsed()),
            other => failures.push(format!("{other:?}")),
        }
        n += 1;
        tokio::time::sleep_until((start + Duration::from_millis(100) * n).into()).await;
    }
    assert!(failures.is_empty(), "{} of {n} requests failed, first: {}", failures.len(), failures[0]);
    latencies.sort();
    let p99 = latencies[latencies.len() * 99 / 100];
    assert!(latencies.len() >= 250, "only {} requests in 30 s", latencies.len());
    assert!(p99 < Duration::from_millis(100), "p99 {p99:?} under attack");

    let mut opened = 0;
    for t in silent {
        if let Some(closed) = t.await.unwrap() {
            opened += 1;
            // Counted from the client's connect, which may precede the
            // server's accept: a second of slack.
            let after = closed.expect("a silent socket was never closed");
            assert!(
                after <= HEADER_READ_TIMEOUT + Duration::from_secs(1),
                "a silent socket was closed only after {after:?}"
            );
        }
    }
    assert!(opened > 1024, "the attack opened only {opened} sockets");
    let mut cut = 0;
    for t in loris {
        cut += t.await.unwrap();
    }
    assert!(cut >= 200, "the slowloris connections were cut off only {cut} times");
    s.stop().await;
}
