use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::Command,
};

pub use latchkey::testing::{PASSWORD, USER};
use latchkey::{
    settings::{Preset, RawSettings},
    store::Database,
    testing::{cheap_hashing, create_user},
};
use latchkey_server::{
    App,
    config::{Config, ServerSettings, SpaSettings},
};
use tokio::sync::oneshot;

/// A running server on a free port with its own SQLite file.
pub struct TestServer {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    _dir: tempfile::TempDir,
}

impl TestServer {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(self) {
        self.stop_keeping_data().await;
    }

    /// Stops the server gracefully, waits for it, and hands over the folder
    /// of its SQLite database (`latchkey.sqlite3`).
    pub async fn stop_keeping_data(mut self) -> tempfile::TempDir {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.unwrap().unwrap();
        }
        self._dir
    }

    /// The folder of its SQLite database.
    pub fn dir(&self) -> &Path {
        self._dir.path()
    }
}

/// A server on an existing database (migrated here, the demo user created
/// once), optionally with sessions in Redis: several of these on one
/// database are several instances of one deployment.
pub async fn spawn_on(database_url: &str, session_store: Option<(&str, &str)>) -> TestServer {
    let db = Database::connect(database_url, false).await.unwrap();
    db.migrate().await.unwrap();
    db.close().await;
    let mut raw = RawSettings {
        preset: Some(Preset::SameOrigin.as_str().into()),
        database_url: Some(database_url.into()),
        session_store_url: session_store.map(|s| s.0.to_owned()),
        session_store_prefix: session_store.map(|s| s.1.to_owned()),
        ..Default::default()
    };
    cheap_hashing(&mut raw);
    let app = App::build(Config::for_tests(raw).unwrap()).await.unwrap();
    let addr = app.local_addr();
    let lk = app.latchkey().clone();
    if lk.users().by_username(USER).await.unwrap().is_none() {
        create_user(&lk, USER, PASSWORD).await;
    }
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(app.run(async move {
        let _ = rx.await;
    }));
    let client = reqwest::Client::builder().cookie_store(true).build().unwrap();
    TestServer { addr, client, stop: Some(tx), task: Some(task), _dir: tempfile::tempdir().unwrap() }
}

pub async fn spawn_app(preset: Preset) -> TestServer {
    spawn_app_with(preset, |_| {}).await
}

pub async fn spawn_app_with(preset: Preset, tweak: impl FnOnce(&mut RawSettings)) -> TestServer {
    try_spawn_app_with(preset, tweak).await.unwrap()
}

pub async fn try_spawn_app_with(preset: Preset, tweak: impl FnOnce(&mut RawSettings)) -> anyhow::Result<TestServer> {
    try_spawn_server(preset, tweak, |_| {}).await
}

/// A server whose server-only settings (transport limits, SPA) `server` sets.
pub async fn spawn_server_with(preset: Preset, server: impl FnOnce(&mut ServerSettings)) -> TestServer {
    try_spawn_server(preset, |_| {}, server).await.unwrap()
}

/// The embedded preset serving the SPA as `spa` says.
pub async fn spawn_spa(spa: SpaSettings) -> TestServer {
    spawn_server_with(Preset::Embedded, |s| s.spa = spa).await
}

/// A SPA build folder, served from disk.
pub fn spa_from(dir: &Path) -> SpaSettings {
    SpaSettings { dir: Some(dir.to_owned()), csp: None }
}

pub async fn try_spawn_server(
    preset: Preset,
    tweak: impl FnOnce(&mut RawSettings),
    server: impl FnOnce(&mut ServerSettings),
) -> anyhow::Result<TestServer> {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", db_path(dir.path()).display());
    let db = Database::connect(&url, true).await.unwrap();
    db.migrate().await.unwrap();
    db.close().await;
    let mut raw = RawSettings { preset: Some(preset.as_str().into()), database_url: Some(url), ..Default::default() };
    cheap_hashing(&mut raw);
    if preset == Preset::CrossOrigin {
        raw.allowed_origins = vec!["http://localhost:5173".into()];
    }
    tweak(&mut raw);
    let mut config = Config::for_tests(raw).unwrap();
    server(&mut config.server);
    let app = App::build(config).await?;
    let addr = app.local_addr();
    create_user(app.latchkey(), USER, PASSWORD).await;
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(app.run(async move {
        let _ = rx.await;
    }));
    let client = reqwest::Client::builder().cookie_store(true).build().unwrap();
    Ok(TestServer { addr, client, stop: Some(tx), task: Some(task), _dir: dir })
}

/// The real `latchkey` binary, run in `dir` with a clean LATCHKEY_*
/// environment and cheap hashing parameters.
pub fn latchkey(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_latchkey"));
    cmd.current_dir(dir);
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("LATCHKEY_") || k == "RUST_LOG" {
            cmd.env_remove(k);
        }
    }
    cmd.env("LATCHKEY_PASSWORD_HASHER__MEMORY_KIB", "64").env("LATCHKEY_PASSWORD_HASHER__ITERATIONS", "1");
    cmd
}

/// Runs to completion; returns (success, stdout, stderr).
pub fn run(cmd: &mut Command) -> (bool, String, String) {
    let out = cmd.output().expect("the latchkey binary runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The base URL a `latchkey serve` child prints on its first line.
pub fn served_url(child: &mut std::process::Child) -> String {
    use std::io::BufRead;
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().expect("stdout piped")).read_line(&mut line).unwrap();
    line.split("http://")
        .nth(1)
        .and_then(|s| s.split('/').next())
        .map(|a| format!("http://{a}"))
        .unwrap_or_else(|| panic!("no address in {line:?}"))
}

pub fn db_path(dir: &Path) -> PathBuf {
    dir.join("latchkey.sqlite3")
}

/// Held by the load tests (a flood, an attack) so they do not run at the
/// same time: each measures the server under its own load only.
pub static HEAVY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A `latchkey serve` child on a free port, killed when dropped.
pub struct Served {
    child: std::process::Child,
    pub url: String,
}

impl Served {
    /// Holds a child started elsewhere (killed when dropped).
    pub fn from_child(child: std::process::Child, url: String) -> Self {
        Self { child, url }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `latchkey serve` (same-origin preset) in `dir`.
pub fn serve(dir: &std::path::Path) -> Served {
    let mut cmd = latchkey(dir);
    cmd.args(["serve", "--preset", "same-origin", "--bind", "127.0.0.1:0"]);
    serve_with(cmd)
}

/// Runs `cmd` (a `latchkey serve …`) and waits for its address.
pub fn serve_with(mut cmd: Command) -> Served {
    let mut child = cmd
        // Aggregated events (throttled logins) are written every second.
        .env("LATCHKEY_AUDIT__FLUSH_INTERVAL", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let url = served_url(&mut child);
    Served { child, url }
}

/// A CSRF-protected `POST /api/login/` as a browser makes it; the status.
pub async fn http_login(c: &reqwest::Client, url: &str, user: &str, pw: &str) -> u16 {
    let res = c.get(format!("{url}/api/csrf/")).send().await.unwrap();
    let t = res.headers()["x-csrftoken"].to_str().unwrap().to_owned();
    c.post(format!("{url}/api/login/"))
        .header("x-csrftoken", t)
        .json(&serde_json::json!({"username": user, "password": pw}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}
