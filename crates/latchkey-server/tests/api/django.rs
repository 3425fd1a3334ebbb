//! `latchkey import-django` against real Django: a venv with
//! django[argon2,bcrypt] from PyPI (made once under the target folder),
//! users created by Django itself with each of its password hashers, the
//! import into Latchkey, and each user signing in through a running
//! `latchkey serve` with the password Django was given.

use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::OnceLock,
};

use serde_json::Value;

use crate::helpers::{http_login, latchkey, run, serve};

const PASSWORD: &str = "django era passphrase ✓ 7";
const HASHERS: [&str; 6] = ["pbkdf2_sha256", "pbkdf2_sha1", "argon2", "bcrypt_sha256", "bcrypt", "scrypt"];
/// Every user make_users.py creates, with the hasher of its password.
const USERS: usize = 10;

/// The venv, made once per target folder (PyPI is needed the first time).
fn python() -> PathBuf {
    static VENV: OnceLock<PathBuf> = OnceLock::new();
    VENV.get_or_init(|| {
        let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("django-venv");
        let python = venv.join("bin/python");
        let ready = python.exists()
            && Command::new(&python)
                .args(["-c", "import django, argon2, bcrypt, psycopg"])
                .status()
                .is_ok_and(|s| s.success());
        if !ready {
            let made = Command::new("python3").args(["-m", "venv"]).arg(&venv).status().expect("python3 runs");
            assert!(made.success(), "python3 -m venv failed (Debian: apt-get install python3-venv)");
            let out = Command::new(venv.join("bin/pip"))
                .args(["install", "-q", "django[argon2,bcrypt]>=5.2,<6", "psycopg[binary]>=3.2,<4"])
                .output()
                .expect("pip runs");
            assert!(out.status.success(), "pip install failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        python
    })
    .clone()
}

/// Django makes its users in the database at `url`; returns (username, hasher) per user.
fn django_users(url: &str) -> Vec<(String, String)> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/api/django/make_users.py");
    let out = Command::new(python()).arg(script).args([url, PASSWORD]).output().unwrap();
    assert!(out.status.success(), "make_users.py: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once(' ').map(|(u, h)| (u.to_owned(), h.to_owned())))
        .collect()
}

async fn login(url: &str, user: &str, password: &str) -> (u16, Value) {
    let c = reqwest::Client::builder().cookie_store(true).build().unwrap();
    let status = http_login(&c, url, user, password).await;
    let session: Value = c.get(format!("{url}/api/session/")).send().await.unwrap().json().await.unwrap();
    (status, session)
}

async fn stored_hash(dir: &Path, username: &str) -> String {
    let url = format!("sqlite://{}", dir.join("latchkey.sqlite3").display());
    let db = latchkey::store::Database::connect(&url, false).await.unwrap();
    let user = db.stores().users.by_username(username).await.unwrap().unwrap();
    db.close().await;
    user.password_hash
}

/// Imports Django's users from `from` into a fresh Latchkey database and
/// signs each of them in.
async fn import_and_sign_in(from: &str, made: &[(String, String)]) {
    assert_eq!(made.len(), USERS, "{made:?}");
    for h in HASHERS {
        assert!(made.iter().any(|(_, x)| x == h), "Django made a {h} user: {made:?}");
    }
    let dir = tempfile::tempdir().unwrap();
    assert!(run(latchkey(dir.path()).arg("migrate")).0);

    let (ok, out, err) = run(latchkey(dir.path()).args(["import-django", "--from", from, "--dry-run"]));
    assert!(ok, "{err}");
    assert!(out.contains(&format!("would be: imported {USERS}, updated 0, skipped 0")), "{out}");
    assert!(out.contains("nothing was written"), "{out}");
    let (_, listed, _) = run(latchkey(dir.path()).args(["users", "list", "--json"]));
    assert_eq!(listed.trim(), "", "a dry run writes nothing");

    let (ok, out, err) = run(latchkey(dir.path()).args(["import-django", "--from", from]));
    assert!(ok, "{err}");
    let last = out.lines().rev().nth(1).unwrap_or_default();
    assert_eq!(last, format!("imported {USERS}, updated 0, skipped 0"), "{out}");
    assert!(out.contains("by hasher: argon2 1, bcrypt 1, bcrypt_sha256 1, pbkdf2_sha1 1, pbkdf2_sha256 "), "{out}");
    assert!(out.contains("scrypt 1, unusable 1"), "{out}");
    let (ok, out, _) = run(latchkey(dir.path()).args(["import-django", "--from", from]));
    assert!(ok && out.contains(&format!("imported 0, updated 0, skipped {USERS}")), "idempotent: {out}");
    let (ok, out, _) = run(latchkey(dir.path()).args(["import-django", "--from", from, "--update"]));
    assert!(ok && out.contains(&format!("imported 0, updated {USERS}, skipped 0")), "{out}");

    let (_, listed, _) = run(latchkey(dir.path()).args(["users", "list", "--search", "reviewer", "--json"]));
    let row: Value = serde_json::from_str(listed.lines().next().unwrap_or_default()).unwrap();
    assert!(
        row["lastLogin"].is_string() && row["isStaff"] == true,
        "Django's last login and flags came over, before any sign-in here: {row}"
    );

    let s = serve(dir.path());
    for (user, hasher) in made {
        let (status, session) = login(&s.url, user, PASSWORD).await;
        match user.as_str() {
            "nopassword" | "gone" => assert_eq!(status, 400, "{user} cannot sign in"),
            _ => {
                assert_eq!(status, 200, "{user} ({hasher}) signs in with the password Django was given");
                assert_eq!(session["username"], user.as_str());
                let hash = stored_hash(dir.path(), user).await;
                assert!(hash.starts_with("$argon2id$"), "{user}: re-hashed to Argon2id at the first sign-in: {hash}");
                assert_eq!(login(&s.url, user, "not the password").await.0, 400, "{user}: a wrong password");
            }
        }
    }
    let (_, boss) = login(&s.url, "boss", PASSWORD).await;
    assert_eq!((boss["isStaff"].as_bool(), boss["isSuperuser"].as_bool()), (Some(true), Some(true)));
    let (_, listed, _) = run(latchkey(dir.path()).args(["users", "list", "--search", "user_argon2", "--json"]));
    let row: Value = serde_json::from_str(listed.lines().next().unwrap_or_default()).unwrap();
    assert_eq!(
        (row["email"].as_str(), row["firstName"].as_str(), row["lastName"].as_str()),
        (Some("argon2@example.com"), Some("First"), Some("argon2"))
    );
    assert_eq!((row["emailVerified"].as_bool(), row["dateJoined"].is_string()), (Some(true), true));
}

#[tokio::test]
async fn django_users_from_sqlite_come_over_and_sign_in_with_their_passwords() {
    let dj = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dj.path().join("db.sqlite3").display());
    let made = django_users(&url);
    import_and_sign_in(&url, &made).await;

    // A hash Latchkey cannot verify stops the import before anything is written.
    let out = Command::new(python())
        .args(["-c", "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute(\"UPDATE auth_user SET password = 'md5$salt$5f4dcc3b5aa765d61d8327deb882cf99' WHERE username IN ('boss', 'reviewer')\"); c.commit()"])
        .arg(dj.path().join("db.sqlite3"))
        .status()
        .unwrap();
    assert!(out.success());
    let dir = tempfile::tempdir().unwrap();
    assert!(run(latchkey(dir.path()).arg("migrate")).0);
    let (ok, _, err) = run(latchkey(dir.path()).args(["import-django", "--from", &url]));
    assert!(!ok, "exit 1");
    assert!(err.contains("boss: password hash format \"md5\"") && err.contains("reviewer:"), "{err}");
    assert!(err.contains("2 user(s) cannot be imported (above); nothing was written"), "{err}");
    let (_, listed, _) = run(latchkey(dir.path()).args(["users", "list", "--json"]));
    assert_eq!(listed.trim(), "", "nothing was written");
}

#[tokio::test]
async fn django_users_from_postgresql_come_over_and_sign_in_with_their_passwords() {
    let pg = latchkey::testing::PgDatabase::new().await;
    let made = django_users(&pg.url);
    import_and_sign_in(&pg.url, &made).await;
}

#[test]
fn a_database_that_is_not_djangos_is_refused_in_words() {
    let dir = tempfile::tempdir().unwrap();
    assert!(run(latchkey(dir.path()).arg("migrate")).0);
    let own = format!("sqlite://{}", dir.path().join("latchkey.sqlite3").display());
    let (ok, _, err) = run(latchkey(dir.path()).args(["import-django", "--from", &own]));
    assert!(!ok && err.contains("is this a Django project's database?"), "{err}");
    let (ok, _, err) = run(latchkey(dir.path()).args(["import-django", "--from", "mysql://x"]));
    assert!(!ok && err.contains("unsupported"), "{err}");
}
