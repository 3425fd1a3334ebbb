//! A real SMTP server for tests: it speaks enough RFC 5321 for lettre
//! (EHLO/HELO, AUTH accepted as a careless server would, MAIL, RCPT, DATA
//! with dot-unstuffing, RSET, NOOP, QUIT) on a
//! loopback port, keeps every message it accepts, and can be stopped and
//! started again on the same port to play an outage. No TLS: it is a
//! loopback sink, as a development mail catcher is.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::{TcpListener, TcpStream},
    task::JoinHandle,
};

/// One accepted message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// `MAIL FROM`.
    pub from: String,
    /// Every `RCPT TO`.
    pub to: Vec<String>,
    /// The message as sent (headers and body), dot-unstuffed.
    pub data: String,
}

impl Received {
    /// The body as a person reads it: quoted-printable or base64 decoded,
    /// as a mail client would.
    pub fn body_text(&self) -> String {
        let (head, body) = self.data.split_once("\r\n\r\n").unwrap_or((&self.data, ""));
        match header(head, "Content-Transfer-Encoding").map(str::to_ascii_lowercase).as_deref() {
            Some("quoted-printable") => decode_quoted_printable(body),
            Some("base64") => {
                use base64::Engine;
                let compact: String = body.split_whitespace().collect();
                let bytes = base64::engine::general_purpose::STANDARD.decode(compact).unwrap_or_default();
                String::from_utf8_lossy(&bytes).into_owned()
            }
            _ => body.to_owned(),
        }
    }
}

fn decode_quoted_printable(s: &str) -> String {
    let joined = s.replace("=\r\n", "").replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'='
            && let Some(b) = joined.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The sink; stops listening when dropped.
#[derive(Debug)]
pub struct SmtpSink {
    addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
    commands: Arc<Mutex<Vec<String>>>,
    task: Option<JoinHandle<()>>,
}

impl SmtpSink {
    /// Listens on a free loopback port.
    ///
    /// # Panics
    /// When no port can be bound.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free loopback port");
        Self::listen(listener, Arc::default(), Arc::default())
    }

    fn listen(listener: TcpListener, received: Arc<Mutex<Vec<Received>>>, commands: Arc<Mutex<Vec<String>>>) -> Self {
        let addr = listener.local_addr().expect("a bound address");
        let (store, log) = (received.clone(), commands.clone());
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(session(stream, store.clone(), log.clone()));
            }
        });
        Self { addr, received, commands, task: Some(task) }
    }

    /// The first word of every command received so far (`EHLO`, `AUTH`, …).
    pub fn commands(&self) -> Vec<String> {
        self.commands.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Its address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `smtp://127.0.0.1:<port>` for `email.smtp_url`.
    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    /// Stops listening (connections are refused: an outage). Messages kept so far stay.
    pub fn stop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }

    /// Listens again on the same port, keeping the messages.
    ///
    /// # Panics
    /// When the port cannot be bound again within five seconds.
    pub async fn restart(&mut self) {
        self.stop();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        let listener = loop {
            match TcpListener::bind(self.addr).await {
                Ok(l) => break l,
                Err(_) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("cannot listen on {} again: {e}", self.addr),
            }
        };
        *self = Self::listen(listener, self.received.clone(), self.commands.clone());
    }

    /// Every message accepted so far, oldest first.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Waits until `n` messages have arrived; `None` after `timeout`.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Option<Vec<Received>> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let got = self.received();
            if got.len() >= n {
                return Some(got);
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The text of a header in a raw message (first occurrence, unfolded).
pub fn header<'a>(data: &'a str, name: &str) -> Option<&'a str> {
    data.lines()
        .take_while(|l| !l.is_empty())
        .find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.trim()))
}

async fn session(stream: TcpStream, store: Arc<Mutex<Vec<Received>>>, log: Arc<Mutex<Vec<String>>>) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    if write.write_all(b"220 latchkey-test-sink ESMTP\r\n").await.is_err() {
        return;
    }
    let (mut from, mut to) = (String::new(), Vec::new());
    let mut line = String::new();
    loop {
        line.clear();
        match tokio::time::timeout(Duration::from_secs(30), lines.read_line(&mut line)).await {
            Ok(Ok(n)) if n > 0 => {}
            _ => return,
        }
        let cmd = line.trim_end().to_owned();
        let upper = cmd.to_ascii_uppercase();
        let verb = upper.split_whitespace().next().unwrap_or("").to_owned();
        log.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(verb);
        let answer: &[u8] = if upper.starts_with("EHLO") {
            // AUTH offered without TLS, as a careless server does: the client must not use it.
            b"250-latchkey-test-sink\r\n250-8BITMIME\r\n250-AUTH PLAIN LOGIN\r\n250 SMTPUTF8\r\n"
        } else if upper.starts_with("HELO") || upper.starts_with("NOOP") {
            b"250 OK\r\n"
        } else if upper.starts_with("MAIL FROM:") {
            from = cmd[10..].trim().trim_matches(['<', '>']).split_whitespace().next().unwrap_or("").to_owned();
            to.clear();
            b"250 OK\r\n"
        } else if upper.starts_with("RCPT TO:") {
            to.push(cmd[8..].trim().trim_matches(['<', '>']).to_owned());
            b"250 OK\r\n"
        } else if upper == "DATA" {
            if write.write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n").await.is_err() {
                return;
            }
            let mut data = String::new();
            loop {
                line.clear();
                match lines.read_line(&mut line).await {
                    Ok(n) if n > 0 => {}
                    _ => return,
                }
                if line == ".\r\n" || line == ".\n" {
                    break;
                }
                data.push_str(line.strip_prefix('.').unwrap_or(&line));
            }
            store.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(Received {
                from: from.clone(),
                to: std::mem::take(&mut to),
                data,
            });
            b"250 OK: queued\r\n"
        } else if upper.starts_with("AUTH") {
            b"235 2.7.0 Authentication successful\r\n"
        } else if upper == "RSET" {
            to.clear();
            b"250 OK\r\n"
        } else if upper == "QUIT" {
            let _ = write.write_all(b"221 Bye\r\n").await;
            return;
        } else {
            b"502 Command not implemented\r\n"
        };
        if write.write_all(answer).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_printable_is_decoded_as_a_mail_client_would() {
        assert_eq!(decode_quoted_printable("a=3Db=\r\nc =C3=A9"), "a=bc é");
    }
}
