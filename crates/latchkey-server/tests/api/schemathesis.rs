//! schemathesis (PyPI) against a live `latchkey` in every preset: it reads
//! the server's own `/api/openapi.json`, generates requests for every
//! operation (valid and invalid bodies, parameters, the stateful phase),
//! and fails on any 5xx and on any answer that does not match the document
//! (status code, content type, body, headers). Signed in as a superuser
//! with a CSRF token, so the staff and account routes are exercised past
//! their 403; each run is bounded in time.

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::OnceLock,
    time::{Duration, Instant},
};

use crate::helpers::*;

const ADMIN: &str = "admin";
const ADMIN_PASSWORD: &str = "correct horse battery staple 9";
/// Seconds of generated requests per preset and pass (the four presets run at once).
const SECONDS: u64 = 25;
/// Operations that end the signed-in session (or may demote the admin):
/// the second pass, so the first runs signed in throughout.
const ENDING: &[&str] = &[
    "logout_view",
    "change_password_view",
    "end_view",
    "revoke_others_view",
    "update_user_view",
    "set_password_view",
    "reset_factors_view",
    "end_user_sessions_view",
    "end_session_view",
    "totp_disable_view",
];
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
                      response_schema_conformance,response_headers_conformance";

/// The venv, made once per target folder (PyPI is needed the first time).
fn schemathesis() -> PathBuf {
    static VENV: OnceLock<PathBuf> = OnceLock::new();
    VENV.get_or_init(|| {
        let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("schemathesis-venv");
        let bin = venv.join("bin/schemathesis");
        let ready = bin.exists() && Command::new(&bin).arg("--version").status().is_ok_and(|s| s.success());
        if !ready {
            let made = Command::new("python3").args(["-m", "venv"]).arg(&venv).status().expect("python3 runs");
            assert!(made.success(), "python3 -m venv failed (Debian: apt-get install python3-venv)");
            let out = Command::new(venv.join("bin/pip"))
                .args(["install", "-q", "schemathesis>=4.3,<5"])
                .output()
                .expect("pip runs");
            assert!(out.status.success(), "pip install failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        bin
    })
    .clone()
}

/// `name=value` of each `Set-Cookie`.
fn cookies(res: &reqwest::Response) -> Vec<(String, String)> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok()?.split(';').next()?.split_once('=').map(|(k, v)| (k.into(), v.into())))
        .collect()
}

/// Signs in as the superuser; the `Cookie` header and the CSRF token a browser would then hold.
async fn sign_in(url: &str) -> (String, String) {
    let c = reqwest::Client::new();
    let res = c.get(format!("{url}/api/csrf/")).send().await.unwrap();
    let mut jar = cookies(&res);
    let token = res.headers()["x-csrftoken"].to_str().unwrap().to_owned();
    let header = |jar: &[(String, String)]| jar.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ");
    let res = c
        .post(format!("{url}/api/login/"))
        .header("cookie", header(&jar))
        .header("x-csrftoken", token)
        .json(&serde_json::json!({ "username": ADMIN, "password": ADMIN_PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{:?}", res.text().await);
    for (k, v) in cookies(&res) {
        jar.retain(|(name, _)| *name != k);
        jar.push((k, v));
    }
    // The CSRF secret changed at login: the token of the new one.
    let res = c.get(format!("{url}/api/csrf/")).header("cookie", header(&jar)).send().await.unwrap();
    let token = res.headers()["x-csrftoken"].to_str().unwrap().to_owned();
    assert!(jar.iter().any(|(k, _)| k == "sessionid"), "{jar:?}");
    (header(&jar), token)
}

struct Run {
    preset: &'static str,
    dir: tempfile::TempDir,
    server: Served,
    child: std::process::Child,
}

/// A schemathesis run against `url`, signed in; `ending`: the operations
/// that end the session, else all the others.
async fn schemathesis_run(bin: &Path, preset: &str, url: &str, dir: &Path, ending: bool) -> std::process::Child {
    let (cookie, token) = sign_in(url).await;
    let mut st = Command::new(bin);
    st.arg("run")
        .arg(format!("{url}/api/openapi.json"))
        .args(["--checks", CHECKS, "--max-time", &SECONDS.to_string(), "--max-examples", "25"])
        .args(["--seed", "20261202", "--no-color", "--request-timeout", "10", "--workers", "1"])
        .args(["-H", &format!("Cookie: {cookie}"), "-H", &format!("X-CSRFToken: {token}")])
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for op in ENDING {
        st.args([if ending { "--include-operation-id" } else { "--exclude-operation-id" }, op]);
    }
    if preset == "rest" {
        st.args(["--auth", &format!("{ADMIN}:{ADMIN_PASSWORD}")]);
    }
    st.spawn().expect("schemathesis runs")
}

async fn start(preset: &'static str, bin: &Path) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let (ok, _, err) = run(latchkey(dir.path()).arg("migrate"));
    assert!(ok, "{err}");
    let (ok, _, err) = run(latchkey(dir.path())
        .args(["createsuperuser", "--username", ADMIN, "--email", "admin@example.com", "--no-input"])
        .env("LATCHKEY_PASSWORD", ADMIN_PASSWORD));
    assert!(ok, "{err}");
    let mut cmd = latchkey(dir.path());
    cmd.args(["serve", "--preset", preset, "--bind", "127.0.0.1:0"]);
    if preset == "cross-origin" {
        cmd.args(["--allowed-origin", "http://localhost:5173"]);
    }
    let server = serve_with(cmd);
    let child = schemathesis_run(bin, preset, &server.url, dir.path(), false).await;
    Run { preset, dir, server, child }
}

/// Waits for a run (bounded); its output, or why it failed.
async fn finish(r: &mut Run, deadline: Instant) -> Result<(usize, String), String> {
    // schemathesis stops itself at --max-time; this is the backstop.
    while r.child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = r.child.kill();
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let child = std::mem::replace(&mut r.child, Command::new("true").spawn().unwrap());
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        return Err(format!("--- {} ---\n{stdout}\n{}", r.preset, String::from_utf8_lossy(&out.stderr)));
    }
    let tested = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("Tested: "))
        .and_then(|n| n.trim().parse::<usize>().ok())
        .unwrap_or(0);
    let generated = stdout
        .lines()
        .map(str::trim)
        .find(|l| l.contains(" generated") && l.starts_with(|c: char| c.is_ascii_digit()))
        .unwrap_or("")
        .to_owned();
    Ok((tested, generated))
}

#[tokio::test(flavor = "multi_thread")]
async fn every_answer_in_every_preset_matches_the_openapi_document_and_none_is_a_5xx() {
    let bin = schemathesis();
    let mut runs = Vec::new();
    for preset in ["embedded", "same-origin", "rest", "cross-origin"] {
        runs.push(start(preset, &bin).await);
    }
    let deadline = Instant::now() + Duration::from_secs(2 * SECONDS + 120);
    let mut failures = Vec::new();
    for r in &mut runs {
        match finish(r, deadline).await {
            // A run that tested nothing proves nothing: every operation is tried.
            Ok((tested, generated)) => {
                eprintln!("{}, signed in throughout: {tested} operations, {generated}", r.preset);
                assert!(tested >= 35, "{}: {tested} operations tested", r.preset);
            }
            Err(e) => failures.push(e),
        }
        // The first pass's failed logins throttled this client: start afresh.
        let (ok, _, err) = run(latchkey(r.dir.path()).args(["throttle", "reset", "--all"]));
        assert!(ok, "{err}");
        r.child = schemathesis_run(&bin, r.preset, &r.server.url, r.dir.path(), true).await;
    }
    for r in &mut runs {
        match finish(r, deadline).await {
            Ok((tested, generated)) => {
                eprintln!("{}, operations that end the session: {tested} operations, {generated}", r.preset);
                // Logout is two operations (GET and POST).
                assert_eq!(tested, ENDING.len() + 1, "{}", r.preset);
            }
            Err(e) => failures.push(e),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
