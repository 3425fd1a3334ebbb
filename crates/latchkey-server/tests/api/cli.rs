//! The real binary: migrate, createsuperuser, changepassword, clearsessions,
//! check, serve.

use std::{
    process::Stdio,
    time::{Duration, Instant},
};

use serde_json::{Value, json};

use crate::helpers::*;

fn migrated() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let (ok, out, err) = run(latchkey(dir.path()).arg("migrate"));
    assert!(ok, "{err}");
    assert!(out.contains("Applied migration 1."), "{out}");
    dir
}

fn superuser(dir: &std::path::Path, name: &str, password: &str) -> (bool, String, String) {
    run(latchkey(dir)
        .args(["createsuperuser", "--username", name, "--email", "a@example.com", "--no-input"])
        .env("LATCHKEY_PASSWORD", password))
}

#[test]
fn migrate_creates_the_database_and_is_idempotent() {
    let dir = migrated();
    assert!(db_path(dir.path()).exists(), "the default database is latchkey.sqlite3 in the working directory");
    let (ok, out, _) = run(latchkey(dir.path()).arg("migrate"));
    assert!(ok);
    assert!(out.contains("No migrations to apply"), "{out}");
}

#[test]
fn database_flag_and_env_var_choose_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, _, err) = run(latchkey(dir.path()).args(["migrate", "--database", "sqlite://flag.sqlite3"]));
    assert!(ok, "{err}");
    assert!(dir.path().join("flag.sqlite3").exists());
    let (ok, _, err) = run(latchkey(dir.path()).arg("migrate").env("LATCHKEY_DATABASE_URL", "sqlite://env.sqlite3"));
    assert!(ok, "{err}");
    assert!(dir.path().join("env.sqlite3").exists());
}

#[test]
fn createsuperuser_without_input_takes_the_password_from_the_environment() {
    let dir = migrated();
    let (ok, out, err) = superuser(dir.path(), "admin", "s3cret-pass");
    assert!(ok, "{err}");
    assert!(out.contains("Superuser created successfully."));
}

#[test]
fn createsuperuser_refuses_duplicates_blank_passwords_and_unmigrated_databases() {
    let dir = migrated();
    assert!(superuser(dir.path(), "admin", "violet-tundra-1").0);
    let (ok, _, err) = superuser(dir.path(), "admin", "violet-tundra-2");
    assert!(!ok);
    assert!(err.contains("That username is already taken."), "{err}");
    let (ok, _, err) = superuser(dir.path(), "other", "");
    assert!(!ok);
    assert!(err.contains("Blank passwords aren't allowed."), "{err}");
    let (ok, _, err) = run(latchkey(dir.path()).args(["createsuperuser", "--username", "x", "--no-input"]));
    assert!(!ok);
    assert!(err.contains("LATCHKEY_PASSWORD"), "{err}");
    let (ok, _, err) = run(latchkey(dir.path())
        .args(["createsuperuser", "--username", "bad name", "--no-input"])
        .env("LATCHKEY_PASSWORD", "x"));
    assert!(!ok);
    assert!(err.contains("valid username"), "{err}");

    let empty = tempfile::tempdir().unwrap();
    let (ok, _, err) = superuser(empty.path(), "admin", "pw");
    assert!(!ok);
    assert!(err.contains("latchkey migrate"), "{err}");
    assert!(!db_path(empty.path()).exists(), "no empty database file is left behind");
}

#[test]
fn createsuperuser_without_a_terminal_and_without_no_input_explains_itself() {
    let dir = migrated();
    let (ok, _, err) = run(latchkey(dir.path()).args(["createsuperuser", "--username", "x"]).stdin(Stdio::null()));
    assert!(!ok);
    assert!(err.contains("--no-input"), "{err}");
}

#[test]
fn changepassword_without_input_sets_the_new_password() {
    let dir = migrated();
    assert!(superuser(dir.path(), "admin", "quiet-harbor-17").0);
    let (ok, out, err) = run(latchkey(dir.path())
        .args(["changepassword", "admin", "--no-input"])
        .env("LATCHKEY_PASSWORD", "amber-falcon-93"));
    assert!(ok, "{err}");
    assert!(out.contains("Password changed successfully for user 'admin'"), "{out}");
    let (ok, _, err) =
        run(latchkey(dir.path()).args(["changepassword", "ghost", "--no-input"]).env("LATCHKEY_PASSWORD", "x"));
    assert!(!ok);
    assert!(err.contains("does not exist"), "{err}");
}

#[test]
fn clearsessions_reports_how_many_it_deleted() {
    let dir = migrated();
    let (ok, out, err) = run(latchkey(dir.path()).arg("clearsessions"));
    assert!(ok, "{err}");
    assert!(out.contains("Deleted 0 expired session(s) and 0 expired mailed key(s)."), "{out}");
}

#[test]
fn check_explains_each_preset_and_rejects_bad_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, out, _) = run(latchkey(dir.path()).args([
        "check",
        "--preset",
        "cross-origin",
        "--allowed-origin",
        "http://localhost:5173",
    ]));
    assert!(ok);
    assert!(out.contains("SameSite=Lax") && out.contains("allows http://localhost:5173 with credentials"), "{out}");
    let (ok, out, _) = run(latchkey(dir.path()).args(["check", "--preset", "embedded"]));
    assert!(ok);
    assert!(out.contains("readable by JavaScript"), "{out}");
    let (ok, _, err) = run(latchkey(dir.path()).args(["check", "--preset", "cross-origin"]));
    assert!(!ok);
    assert!(err.contains("allowed_origins"), "{err}");
    let (ok, _, err) = run(latchkey(dir.path()).args(["check", "--preset", "cross-origin", "--allowed-origin", "*"]));
    assert!(!ok);
    assert!(err.contains("credentials"), "{err}");
    let (ok, _, err) = run(latchkey(dir.path()).args(["check"]).env("LATCHKEY_SESION__COOKIE__AGE", "3"));
    assert!(!ok);
    assert!(err.contains("LATCHKEY_SESION__COOKIE__AGE"), "{err}");
}

#[test]
fn config_file_env_and_flags_layer_in_that_order() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("latchkey.toml"),
        "preset = \"rest\"\nbind = \"127.0.0.1:9000\"\n[session.cookie]\nage = 60\n",
    )
    .unwrap();
    let (ok, out, err) =
        run(latchkey(dir.path()).args(["--config", "latchkey.toml", "check"]).env("LATCHKEY_BIND", "127.0.0.1:9001"));
    assert!(ok, "{err}");
    assert!(
        out.contains("preset:            rest") && out.contains("127.0.0.1:9001") && out.contains("Max-Age=60"),
        "{out}"
    );
    let (ok, out, _) = run(latchkey(dir.path())
        .args(["check", "--config", "latchkey.toml", "--bind", "127.0.0.1:9002"])
        .env("LATCHKEY_BIND", "127.0.0.1:9001"));
    assert!(ok);
    assert!(out.contains("127.0.0.1:9002"), "{out}");
    let (ok, _, err) = run(latchkey(dir.path()).args(["check", "--config", "missing.toml"]));
    assert!(!ok);
    assert!(err.contains("missing.toml"), "{err}");
}

#[test]
fn check_lists_the_sign_in_providers_with_their_redirect_uris_and_never_their_secrets() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("corp.secret"), "s3cret-from-a-file\n").unwrap();
    std::fs::write(
        dir.path().join("latchkey.toml"),
        r#"public_url = "https://app.example.com"

[[oidc.providers]]
id = "corp"
name = "Corp SSO"
issuer = "https://login.example.com/realms/staff/"
client_id = "latchkey"
client_secret_file = "corp.secret"

[[oidc.providers]]
id = "dev"
issuer = "http://127.0.0.1:9000"
client_id = "local"
client_secret = "inline-s3cret"
"#,
    )
    .unwrap();
    let check = |extra: &[&str]| {
        let mut cmd = latchkey(dir.path());
        cmd.args(["--config", "latchkey.toml", "check"]).args(extra);
        cmd
    };
    let (ok, out, err) = run(&mut check(&[]));
    assert!(ok, "{err}");
    assert!(
        out.contains(
            "sign-in providers: corp \"Corp SSO\" at https://login.example.com/realms/staff, client latchkey \
             (secret from corp.secret), redirect URI https://app.example.com/api/oidc/corp/callback/"
        ),
        "{out}"
    );
    assert!(
        out.contains(
            "dev \"dev\" at http://127.0.0.1:9000 (plain http: development only), client local \
             (secret in the config file), redirect URI https://app.example.com/api/oidc/dev/callback/"
        ),
        "{out}"
    );
    assert!(!out.contains("s3cret") && !err.contains("s3cret"), "{out}\n{err}");

    // Only the plain-http issuer is warned about at deployment.
    let (_, out, err) = run(&mut check(&["--deploy"]));
    assert_eq!(out.matches("latchkey.W016").count(), 1, "{out}");
    assert!(out.contains("\"dev\""), "{out}");
    assert!(!out.contains("s3cret") && !err.contains("s3cret"), "{out}\n{err}");

    // A list of tables has no environment form: said, not ignored.
    let (ok, _, err) = run(check(&[]).env("LATCHKEY_OIDC__PROVIDERS", "corp"));
    assert!(!ok && err.contains("LATCHKEY_OIDC__PROVIDERS") && err.contains("config file"), "{err}");

    // A secret file that is gone stops the server from starting, by name.
    std::fs::remove_file(dir.path().join("corp.secret")).unwrap();
    let (ok, _, err) = run(&mut check(&[]));
    assert!(!ok && err.contains("oidc.providers[0].client_secret_file") && err.contains("corp.secret"), "{err}");
}

#[test]
fn serve_refuses_an_unmigrated_database() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, _, err) = run(latchkey(dir.path()).args(["serve", "--bind", "127.0.0.1:0"]));
    assert!(!ok);
    assert!(err.contains("latchkey migrate"), "{err}");
}

#[tokio::test]
async fn serve_answers_a_login_over_http_and_stops_gracefully_on_sigterm() {
    let dir = migrated();
    assert!(superuser(dir.path(), "admin", "orchid-lantern-42").0);
    let mut child = latchkey(dir.path())
        .args(["serve", "--preset", "same-origin", "--bind", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let url = served_url(&mut child);

    let c = reqwest::Client::builder().cookie_store(true).build().unwrap();
    let res = c.get(format!("{url}/api/csrf/")).send().await.unwrap();
    let t = res.headers()["x-csrftoken"].to_str().unwrap().to_owned();
    let res = c
        .post(format!("{url}/api/login/"))
        .header("x-csrftoken", t)
        .json(&json!({"username": "admin", "password": "orchid-lantern-42"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let v: Value = c.get(format!("{url}/api/whoami/")).send().await.unwrap().json().await.unwrap();
    assert_eq!(v, json!({"username": "admin"}));

    let status = std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let exit = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "server did not stop within 10 s of SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "graceful shutdown exits 0: {exit:?}");
}

#[tokio::test]
async fn operators_can_list_events_reset_throttling_and_deactivate_users() {
    let dir = migrated();
    assert!(superuser(dir.path(), "admin", "orchid-lantern-42").0);
    let s = serve(dir.path());
    let c = reqwest::Client::builder().cookie_store(true).build().unwrap();
    for _ in 0..5 {
        assert_eq!(http_login(&c, &s.url, "admin", "nope").await, 400);
    }
    assert_eq!(http_login(&c, &s.url, "admin", "orchid-lantern-42").await, 429);
    // Throttled logins are written as an aggregate at the next flush.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let (ok, out, err) = run(latchkey(dir.path()).args(["throttle", "reset", "--username", "admin"]));
    assert!(ok, "{err}");
    assert!(out.contains("counter(s) cleared"), "{out}");
    assert_eq!(http_login(&c, &s.url, "admin", "orchid-lantern-42").await, 200, "the reset lifts the throttle at once");

    let (ok, out, _) = run(latchkey(dir.path()).args(["events", "--username", "admin"]));
    assert!(ok);
    for e in ["login_failed", "login_throttled", " login "] {
        assert!(out.contains(e), "{e} not in:\n{out}");
    }
    let (ok, out, _) = run(latchkey(dir.path()).args(["events", "--json", "--limit", "1"]));
    assert!(ok);
    let last: Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(last["event"], "login");

    let (ok, _, err) = run(latchkey(dir.path()).args(["deactivate", "admin"]));
    assert!(!ok && err.contains("last active superuser"), "the only superuser stays: {err}");
    assert!(superuser(dir.path(), "backup", "quiet-meadow-77").0);
    let (ok, out, err) = run(latchkey(dir.path()).args(["deactivate", "admin"]));
    assert!(ok, "{err}");
    assert!(out.contains("1 session(s) ended"), "{out}");
    let v: Value = c.get(format!("{}/api/whoami/", s.url)).send().await.unwrap().json().await.unwrap();
    assert_eq!(v, json!({"isAuthenticated": false}), "the live session ended at once");
    assert_eq!(http_login(&c, &s.url, "admin", "orchid-lantern-42").await, 400, "an inactive user cannot log in");
    assert!(run(latchkey(dir.path()).args(["activate", "admin"])).0);
    assert_eq!(http_login(&c, &s.url, "admin", "orchid-lantern-42").await, 200);
    let (ok, _, err) = run(latchkey(dir.path()).args(["throttle", "reset"]));
    assert!(!ok && err.contains("--username"), "{err}");
}

#[tokio::test]
async fn operators_can_list_a_users_sessions_and_end_one_or_all() {
    let dir = migrated();
    assert!(superuser(dir.path(), "admin", "orchid-lantern-42").0);
    let s = serve(dir.path());
    let browser = |ua: &str| reqwest::Client::builder().cookie_store(true).user_agent(ua).build().unwrap();
    let (x, y) = (browser("Browser-X/1"), browser("Browser-Y/2"));
    assert_eq!(http_login(&x, &s.url, "admin", "orchid-lantern-42").await, 200);
    // Times are kept in whole seconds: make "newest first" unambiguous.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(http_login(&y, &s.url, "admin", "orchid-lantern-42").await, 200);

    let (ok, out, err) = run(latchkey(dir.path()).args(["sessions", "list", "admin", "--json"]));
    assert!(ok, "{err}");
    let rows: Vec<Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(rows.len(), 2, "{out}");
    assert_eq!((rows[0]["userAgent"].as_str(), rows[0]["ip"].as_str()), (Some("Browser-Y/2"), Some("127.0.0.1")));
    let (ok, out, _) = run(latchkey(dir.path()).args(["sessions", "list", "admin"]));
    assert!(ok && out.contains("Browser-X/1") && out.contains(rows[1]["id"].as_str().unwrap()), "{out}");

    // The same id the user sees on the account page.
    let api: Value = x.get(format!("{}/api/sessions/", s.url)).send().await.unwrap().json().await.unwrap();
    let xid = api["sessions"].as_array().unwrap().iter().find(|r| r["current"] == true).unwrap()["id"].clone();
    assert_eq!(xid, rows[1]["id"]);
    let (ok, out, err) = run(latchkey(dir.path()).args(["sessions", "revoke", "admin", xid.as_str().unwrap()]));
    assert!(ok && out.contains("ended"), "{out}{err}");
    let who = |c: reqwest::Client| {
        let url = format!("{}/api/whoami/", s.url);
        async move { c.get(url).send().await.unwrap().json::<Value>().await.unwrap() }
    };
    assert_eq!(who(x.clone()).await, json!({"isAuthenticated": false}));
    assert_eq!(who(y.clone()).await, json!({"username": "admin"}));

    let (ok, _, err) = run(latchkey(dir.path()).args(["sessions", "revoke", "admin", xid.as_str().unwrap()]));
    assert!(!ok && err.contains("has no session with id"), "{err}");
    let (ok, _, err) = run(latchkey(dir.path()).args(["sessions", "revoke", "admin"]));
    assert!(!ok && err.contains("--all"), "an id or --all is required: {err}");
    let (ok, _, err) = run(latchkey(dir.path()).args(["sessions", "list", "nobody"]));
    assert!(!ok && err.contains("does not exist"), "{err}");
    let (ok, out, err) = run(latchkey(dir.path()).args(["sessions", "revoke", "admin", "--all"]));
    assert!(ok && out.contains("1 session(s)"), "{out}{err}");
    assert_eq!(who(y).await, json!({"isAuthenticated": false}));
    let (ok, out, _) = run(latchkey(dir.path()).args(["sessions", "list", "admin"]));
    assert!(ok && out.contains("no live sessions"), "{out}");
}

#[test]
fn weak_passwords_are_refused_with_reasons_unless_explicitly_allowed() {
    let dir = migrated();
    for (pw, reason) in [
        ("short", "too short"),
        ("password123", "too common"),
        ("8675309123", "entirely numeric"),
        ("carlos-smith", "too similar to the username"),
    ] {
        let (ok, _, err) = superuser(dir.path(), "carlos.smith", pw);
        assert!(!ok, "{pw} was accepted");
        assert!(err.contains(reason) && err.contains("--allow-weak-password"), "{pw}: {err}");
    }
    let (ok, _, err) = run(latchkey(dir.path())
        .args(["createsuperuser", "--username", "carlos", "--no-input", "--allow-weak-password"])
        .env("LATCHKEY_PASSWORD", "short"));
    assert!(ok, "{err}");
    assert!(err.contains("too short"), "the bypass still warns: {err}");
    let (ok, _, err) =
        run(latchkey(dir.path()).args(["changepassword", "carlos", "--no-input"]).env("LATCHKEY_PASSWORD", "qwerty"));
    assert!(!ok && err.contains("too common"), "{err}");
}

#[test]
fn check_deploy_fails_on_unsafe_settings_and_passes_a_sound_one() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, out, err) = run(latchkey(dir.path())
        .args(["check", "--deploy", "--preset", "cross-origin", "--public-url", "https://api.example.com"])
        .args(["--allowed-origin", "https://myapp.vercel.app"])
        .env("LATCHKEY_SECRET_KEY", "short"));
    assert!(!ok);
    assert!(out.contains("latchkey.E009") && out.contains("latchkey.E006"), "{out}");
    assert!(err.contains("deployment error"), "{err}");

    let (ok, out, err) = run(latchkey(dir.path())
        .args(["check", "--deploy", "--preset", "same-origin", "--public-url", "https://app.example.com"])
        .args(["--trusted-proxy", "127.0.0.1"])
        .env("LATCHKEY_SECRET_KEY", "k2J9x!pQ7zR4mW8vL1nB6cT3yH5gF0dS-aE")
        .env("LATCHKEY_PASSWORD_HASHER__MEMORY_KIB", "19456")
        .env("LATCHKEY_PASSWORD_HASHER__ITERATIONS", "2")
        .env("LATCHKEY_EMAIL__BACKEND", "smtp")
        .env("LATCHKEY_EMAIL__SMTP_URL", "smtps://mail.example.com"));
    assert!(ok, "{out}\n{err}");
    assert!(out.contains("no issues"), "{out}");

    // Reset links over SMTP without TLS to a remote host: an error.
    let (ok, out, _) = run(latchkey(dir.path())
        .args(["check", "--deploy", "--preset", "same-origin", "--public-url", "https://app.example.com"])
        .args(["--trusted-proxy", "127.0.0.1"])
        .env("LATCHKEY_SECRET_KEY", "k2J9x!pQ7zR4mW8vL1nB6cT3yH5gF0dS-aE")
        .env("LATCHKEY_EMAIL__BACKEND", "smtp")
        .env("LATCHKEY_EMAIL__SMTP_URL", "smtp://mail.example.com:587"));
    assert!(!ok && out.contains("latchkey.E010"), "{out}");

    let (ok, out, _) = run(latchkey(dir.path()).args(["check", "--deploy"]));
    assert!(ok, "development defaults only warn");
    assert!(out.contains("WARNINGS:") && out.contains("latchkey.W001"), "{out}");
}

#[test]
fn operators_list_search_and_change_users_under_the_admins_rules() {
    let dir = migrated();
    assert!(superuser(dir.path(), "admin", "orchid-lantern-42").0);
    assert!(superuser(dir.path(), "ops.person", "orchid-lantern-43").0);
    let (ok, out, err) = run(latchkey(dir.path()).args(["users", "set", "ops.person", "--no-superuser", "--no-staff"]));
    assert!(ok, "{err}");
    assert!(out.contains("active=true, staff=false, superuser=false"), "{out}");
    let (ok, out, _) = run(latchkey(dir.path()).args(["users", "list", "--json"]));
    assert!(ok);
    let users: Vec<Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(
        users.iter().map(|u| u["username"].as_str().unwrap()).collect::<Vec<_>>(),
        ["ops.person", "admin"],
        "newest first"
    );
    assert!(!out.contains("argon2"), "never a hash");
    let (_, out, _) = run(latchkey(dir.path()).args(["users", "list", "--search", "ADM"]));
    assert!(out.contains("admin") && !out.contains("ops.person") && out.contains("1 of 1 user(s)."), "{out}");
    let (_, out, _) = run(latchkey(dir.path()).args(["users", "list", "--staff"]));
    assert!(out.contains("admin") && !out.contains("ops.person"), "{out}");
    // The last active superuser cannot be demoted or deactivated.
    for flag in ["--no-superuser", "--inactive"] {
        let (ok, _, err) = run(latchkey(dir.path()).args(["users", "set", "admin", flag]));
        assert!(!ok && err.contains("last active superuser"), "{flag}: {err}");
    }
    let (ok, out, err) = run(latchkey(dir.path()).args(["users", "set", "ops.person", "--inactive"]));
    assert!(ok, "{err}");
    assert!(out.contains("active=false"), "{out}");
    let (_, out, _) = run(latchkey(dir.path()).args(["users", "list", "--inactive"]));
    assert!(out.contains("ops.person") && out.contains("inactive"), "{out}");
    let (ok, _, err) = run(latchkey(dir.path()).args(["users", "set", "ghost", "--staff"]));
    assert!(!ok && err.contains("does not exist"), "{err}");
    let (ok, _, err) = run(latchkey(dir.path()).args(["users", "set", "admin"]));
    assert!(!ok && err.contains("nothing to change"), "{err}");
    let (ok, _, err) = run(latchkey(dir.path()).args(["users", "list", "--limit", "101"]));
    assert!(!ok && err.contains("101"), "{err}");
    let (_, out, _) = run(latchkey(dir.path()).args(["events", "--username", "ops.person", "--json"]));
    assert!(out.contains("user_deactivated") && out.contains("\"actor\":\"cli\""), "{out}");
}

#[tokio::test]
async fn an_operator_resets_a_users_second_factors_from_the_cli() {
    let dir = migrated();
    assert!(superuser(dir.path(), "admin", "orchid-lantern-42").0);
    let (ok, out, _) = run(latchkey(dir.path()).args(["mfa", "reset", "admin"]));
    assert!(ok && out.contains("has no second factor"), "{out}");
    // A factor set up directly in the database, as the API would.
    let db = latchkey::store::Database::connect(&format!("sqlite://{}", db_path(dir.path()).display()), false)
        .await
        .unwrap();
    let stores = db.stores();
    let user = stores.users.by_username("admin").await.unwrap().unwrap();
    assert!(
        stores.mfa.enable_totp(user.id, "v1.sealed", &["c1".into()], time::OffsetDateTime::now_utc()).await.unwrap()
    );
    db.close().await;
    let (ok, out, err) = run(latchkey(dir.path()).args(["mfa", "reset", "admin"]));
    assert!(ok, "{err}");
    assert!(out.contains("Second factors of 'admin' removed"), "{out}");
    let (_, events, _) = run(latchkey(dir.path()).args(["events", "--username", "admin", "--json"]));
    assert!(events.contains("mfa_disabled") && events.contains("\"actor\":\"cli\""), "{events}");
    let (ok, _, err) = run(latchkey(dir.path()).args(["mfa", "reset", "ghost"]));
    assert!(!ok && err.contains("does not exist"), "{err}");
}
