//! Mail over real SMTP, black-box: the `latchkey` binary, a real SMTP
//! server started by the test (`latchkey::testing::SmtpSink`), a password
//! reset from request to new password; an SMTP outage that delays mail and
//! loses none; `kill -9` between the request and the delivery that loses none.

use std::{
    process::{Child, Stdio},
    time::{Duration, Instant},
};

use latchkey::testing::{SmtpSink, smtp::header};
use serde_json::{Value, json};

use crate::helpers::*;

const EMAIL: &str = "admin@example.com";
const PASSWORD_1: &str = "orchid-lantern-42";

/// A `latchkey serve` process mailing through `smtp_url`; killed when dropped.
struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn prepared() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    assert!(run(latchkey(dir.path()).arg("migrate")).0);
    let (ok, _, err) = run(latchkey(dir.path())
        .args(["createsuperuser", "--username", "admin", "--email", EMAIL, "--no-input"])
        .env("LATCHKEY_PASSWORD", PASSWORD_1));
    assert!(ok, "{err}");
    dir
}

fn serve(dir: &std::path::Path, smtp_url: &str) -> Server {
    serve_with(dir, smtp_url, &[])
}

fn serve_with(dir: &std::path::Path, smtp_url: &str, env: &[(&str, &str)]) -> Server {
    let mut cmd = latchkey(dir);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .args(["serve", "--preset", "same-origin", "--bind", "127.0.0.1:0"])
        .env("LATCHKEY_EMAIL__BACKEND", "smtp")
        .env("LATCHKEY_EMAIL__SMTP_URL", smtp_url)
        .env("LATCHKEY_EMAIL__TIMEOUT", "2")
        .env("LATCHKEY_EMAIL__RETRY_DELAY", "1")
        .env("LATCHKEY_ACCOUNTS__FRONTEND_URL", "https://app.example.com")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let url = served_url(&mut child);
    Server { child, url }
}

async fn post(c: &reqwest::Client, url: &str, path: &str, body: Value) -> (u16, Value) {
    let t =
        c.get(format!("{url}/api/csrf/")).send().await.unwrap().headers()["x-csrftoken"].to_str().unwrap().to_owned();
    let res = c.post(format!("{url}{path}")).header("x-csrftoken", t).json(&body).send().await.unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder().cookie_store(true).build().unwrap()
}

async fn request_reset(url: &str) {
    let (status, body) = post(&browser(), url, "/api/password/reset/", json!({ "email": EMAIL })).await;
    assert_eq!(status, 200, "{body}");
}

fn key_in(body: &str) -> String {
    let at = body.find("https://app.example.com/reset-password?key=").expect("the link") + 43;
    body[at..at + 32].to_owned()
}

async fn login(url: &str, password: &str) -> u16 {
    post(&browser(), url, "/api/login/", json!({"username": "admin", "password": password})).await.0
}

async fn backlog(url: &str) -> u64 {
    let v: Value = reqwest::get(format!("{url}/readyz")).await.unwrap().json().await.unwrap();
    v["outbox"]["backlog"].as_u64().unwrap()
}

#[tokio::test]
async fn a_reset_link_travels_over_real_smtp_and_sets_the_password() {
    let sink = SmtpSink::start().await;
    let dir = prepared();
    let s = serve(dir.path(), &sink.url());
    let signed_in = browser();
    let (st, _) = post(&signed_in, &s.url, "/api/login/", json!({"username": "admin", "password": PASSWORD_1})).await;
    assert_eq!(st, 200);
    request_reset(&s.url).await;
    let got = sink.wait_for(1, Duration::from_secs(10)).await.expect("the mail arrives");
    assert_eq!(got[0].to, [EMAIL]);
    assert_eq!(header(&got[0].data, "Subject"), Some("Reset your password"));
    let key = key_in(&got[0].body_text());
    let (st, body) = post(
        &browser(),
        &s.url,
        "/api/password/reset/confirm/",
        json!({"key": key, "newPassword": "violet tundra 77"}),
    )
    .await;
    assert_eq!(st, 200, "{body}");
    let who: Value = signed_in.get(format!("{}/api/whoami/", s.url)).send().await.unwrap().json().await.unwrap();
    assert_eq!(who, json!({"isAuthenticated": false}), "the reset ended the signed-in session");
    assert_eq!(login(&s.url, PASSWORD_1).await, 400, "the old password fails");
    assert_eq!(login(&s.url, "violet tundra 77").await, 200, "the new one works");
    assert_eq!(backlog(&s.url).await, 0);
}

#[tokio::test]
async fn an_smtp_outage_of_ten_seconds_delays_the_mail_and_loses_none() {
    let started = Instant::now();
    let mut sink = SmtpSink::start().await;
    sink.stop();
    let dir = prepared();
    let s = serve(dir.path(), &sink.url());
    request_reset(&s.url).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(sink.received().is_empty());
    assert_eq!(backlog(&s.url).await, 1, "the mail waits in the outbox");
    let (ok, out, _) = run(latchkey(dir.path()).arg("outbox"));
    assert!(ok && out.contains("mail to admin@example.com") && out.contains("last error"), "{out}");
    tokio::time::sleep(Duration::from_secs(10).saturating_sub(started.elapsed())).await;
    sink.restart().await;
    let got = sink.wait_for(1, Duration::from_secs(18)).await.expect("delivered once the server is back");
    assert_eq!(got.len(), 1);
    assert!(got[0].body_text().contains("https://app.example.com/reset-password?key="));
    assert!(started.elapsed() < Duration::from_secs(30), "took {:?}", started.elapsed());
    assert_eq!(backlog(&s.url).await, 0);
}

#[tokio::test]
async fn kill_9_between_the_request_and_the_delivery_loses_no_mail() {
    let mut sink = SmtpSink::start().await;
    sink.stop();
    let dir = prepared();
    let mut first = serve(dir.path(), &sink.url());
    request_reset(&first.url).await;
    // The request was answered and its mail is waiting (SMTP is down).
    let deadline = Instant::now() + Duration::from_secs(10);
    while backlog(&first.url).await == 0 || !run(latchkey(dir.path()).arg("outbox")).1.contains("mail to") {
        assert!(Instant::now() < deadline, "the mail never reached the outbox");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    first.child.kill().unwrap(); // SIGKILL
    first.child.wait().unwrap();
    sink.restart().await;
    let second = serve(dir.path(), &sink.url());
    // The dead instance's claim runs out (a minute at most); a restarted
    // instance finds the mail due and sends it.
    let got = sink.wait_for(1, Duration::from_secs(75)).await.expect("the mail survives kill -9");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].to, [EMAIL]);
    drop(second);
}

#[tokio::test]
async fn sign_up_with_mandatory_verification_over_real_smtp() {
    let sink = SmtpSink::start().await;
    let dir = prepared();
    let s = serve_with(
        dir.path(),
        &sink.url(),
        &[("LATCHKEY_ACCOUNTS__SIGNUP", "open"), ("LATCHKEY_ACCOUNTS__EMAIL_VERIFICATION", "mandatory")],
    );
    let c = browser();
    let body = json!({"username": "newbie", "email": "newbie@example.com", "password": "a sign-up passphrase 8"});
    let (st, answer) = post(&c, &s.url, "/api/signup/", body).await;
    assert_eq!((st, answer["detail"].as_str()), (200, Some("Check your email to finish signing up.")));
    assert_eq!(
        post(&browser(), &s.url, "/api/login/", json!({"username": "newbie", "password": "a sign-up passphrase 8"}))
            .await
            .0,
        403
    );
    let got = sink.wait_for(1, Duration::from_secs(10)).await.expect("the confirmation mail arrives");
    assert_eq!(header(&got[0].data, "Subject"), Some("Confirm your email address"));
    let text = got[0].body_text();
    let at = text.find("https://app.example.com/verify-email?key=").expect("the link") + 41;
    let (st, _) = post(&c, &s.url, "/api/email/verify/", json!({"key": &text[at..at + 32]})).await;
    assert_eq!(st, 200);
    assert_eq!(
        post(&browser(), &s.url, "/api/login/", json!({"username": "newbie", "password": "a sign-up passphrase 8"}))
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn a_mail_given_up_is_listed_as_failed_and_an_operator_can_send_it_again() {
    let mut sink = SmtpSink::start().await;
    sink.stop();
    let dir = prepared();
    let s = serve_with(dir.path(), &sink.url(), &[("LATCHKEY_EMAIL__MAX_ATTEMPTS", "1")]);
    request_reset(&s.url).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let failed = loop {
        let (ok, out, _) = run(latchkey(dir.path()).args(["outbox", "--failed"]));
        assert!(ok);
        if out.contains("FAILED") {
            break out;
        }
        assert!(Instant::now() < deadline, "the mail was never given up:\n{out}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(failed.contains("last error") && failed.contains("mail to admin@example.com"), "{failed}");
    let id = failed.lines().find(|l| l.contains("FAILED")).unwrap().split_whitespace().next().unwrap().to_owned();
    assert_eq!(backlog(&s.url).await, 0, "given up: not waiting any more");
    let (ok, _, err) = run(latchkey(dir.path()).args(["outbox", "--retry", "999999"]));
    assert!(!ok && err.contains("no failed outbox job"), "{err}");
    sink.restart().await;
    let (ok, out, err) = run(latchkey(dir.path()).args(["outbox", "--retry", &id]));
    assert!(ok && out.contains("1 failed job(s) queued again"), "{out}{err}");
    let got = sink.wait_for(1, Duration::from_secs(10)).await.expect("sent after the operator's retry");
    assert_eq!(got[0].to, [EMAIL]);
}
