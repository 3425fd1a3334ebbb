//! Secrets never reach the logs.

use std::{
    io::Write,
    sync::{Arc, Mutex},
};

use latchkey::settings::Preset;
use tracing_subscriber::fmt::MakeWriter;

use crate::helpers::*;

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Buffer {
    type Writer = Buffer;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test]
async fn trace_logs_of_a_login_contain_no_password_session_key_or_token() {
    // A global subscriber: a thread-local one misses events logged on other
    // threads (sqlx's SQLite worker, the blocking pool). Other tests' lines
    // may interleave; that only makes the check stricter.
    static BUFFER: std::sync::OnceLock<Buffer> = std::sync::OnceLock::new();
    let buffer = BUFFER
        .get_or_init(|| {
            let buffer = Buffer::default();
            let subscriber = tracing_subscriber::fmt()
                .with_max_level(tracing::Level::TRACE)
                .with_writer(buffer.clone())
                .with_ansi(false)
                .finish();
            tracing::subscriber::set_global_default(subscriber).expect("no other global subscriber in this binary");
            buffer
        })
        .clone();

    let mut app = TestApp::new(Preset::SameOrigin).await;
    let token = app.csrf_token().await;
    let body = serde_json::json!({"username": USER, "password": PASSWORD}).to_string();
    app.post_json("/api/login/", &token, &body).await;
    app.login_as(USER, "a-wrong-password-value").await;
    let session = app.session_cookie().unwrap();
    let secret = app.jar["csrftoken"].clone();
    app.get("/api/whoami/").await;
    let fresh = app.csrf_token().await;
    app.post_json("/api/logout/", &fresh, "").await;

    let logs = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("latchkey::http"), "the request log ran at all:\n{logs}");
    assert!(logs.contains("login"), "the audit event is there");
    for secret_value in [PASSWORD, "a-wrong-password-value", &session, &secret, &token, &fresh] {
        assert!(!logs.contains(secret_value), "a secret leaked into the logs: {secret_value}");
    }
}
