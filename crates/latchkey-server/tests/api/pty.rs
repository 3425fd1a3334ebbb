//! The interactive prompts, driven through a pseudo-terminal like a person.

use std::{process::Command, time::Duration};

use expectrl::{Eof, Expect, Session, session::OsSession};

use crate::helpers::*;

fn session(cmd: Command) -> OsSession {
    let mut s = Session::spawn(cmd).expect("spawn in a pty");
    s.set_expect_timeout(Some(Duration::from_secs(20)));
    s
}

fn login_works(dir: &std::path::Path, user: &str, password: &str) -> bool {
    // A real credential check through the library, on the file the CLI wrote.
    let url = format!("sqlite://{}", db_path(dir).display());
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let mut raw = latchkey::settings::RawSettings { database_url: Some(url), ..Default::default() };
        raw.password_hasher.memory_kib = Some(64);
        raw.password_hasher.iterations = Some(1);
        let (lk, db) = latchkey::Latchkey::open(raw.validate().unwrap(), std::sync::Arc::new(latchkey::SystemClock))
            .await
            .unwrap();
        let ok = lk.passwords().authenticate(user, &latchkey::RawPassword::new(password)).await.is_ok();
        db.close().await;
        ok
    })
}

#[test]
fn createsuperuser_prompts_like_django_and_hides_the_password() {
    let dir = tempfile::tempdir().unwrap();
    assert!(run(latchkey(dir.path()).arg("migrate")).0);
    let mut cmd = latchkey(dir.path());
    cmd.arg("createsuperuser");
    let mut p = session(cmd);
    p.expect("Username: ").unwrap();
    p.send_line("bad name").unwrap();
    p.expect("valid username").unwrap();
    p.expect("Username: ").unwrap();
    p.send_line("alice").unwrap();
    p.expect("Email address: ").unwrap();
    p.send_line("alice@example.com").unwrap();
    p.expect("Password: ").unwrap();
    p.send_line("first-secret").unwrap();
    p.expect("Password (again): ").unwrap();
    p.send_line("different").unwrap();
    p.expect("Your passwords didn't match.").unwrap();
    p.expect("Password: ").unwrap();
    p.send_line("hidden-pass-123").unwrap();
    p.expect("Password (again): ").unwrap();
    p.send_line("hidden-pass-123").unwrap();
    let done = p.expect("Superuser created successfully.").unwrap();
    let shown = String::from_utf8_lossy(done.before()).into_owned();
    assert!(!shown.contains("hidden-pass-123"), "the password was echoed: {shown}");
    p.expect(Eof).unwrap();
    assert!(login_works(dir.path(), "alice", "hidden-pass-123"));
}

#[test]
fn changepassword_prompts_twice_and_changes_the_password() {
    let dir = tempfile::tempdir().unwrap();
    assert!(run(latchkey(dir.path()).arg("migrate")).0);
    assert!(
        run(latchkey(dir.path())
            .args(["createsuperuser", "--username", "bob", "--no-input"])
            .env("LATCHKEY_PASSWORD", "silver-comet-88"))
        .0
    );
    let mut cmd = latchkey(dir.path());
    cmd.args(["changepassword", "bob"]);
    let mut p = session(cmd);
    p.expect("Changing password for user 'bob'").unwrap();
    p.expect("Password: ").unwrap();
    p.send_line("brand-new-pass").unwrap();
    p.expect("Password (again): ").unwrap();
    p.send_line("brand-new-pass").unwrap();
    p.expect("Password changed successfully").unwrap();
    p.expect(Eof).unwrap();
    assert!(login_works(dir.path(), "bob", "brand-new-pass"));
    assert!(!login_works(dir.path(), "bob", "silver-comet-88"));
}

#[test]
fn a_weak_password_is_explained_and_can_be_bypassed_interactively_like_django() {
    let dir = tempfile::tempdir().unwrap();
    assert!(run(latchkey(dir.path()).arg("migrate")).0);
    let mut cmd = latchkey(dir.path());
    cmd.args(["createsuperuser", "--username", "carol", "--email", ""]);
    let mut p = session(cmd);
    p.expect("Password: ").unwrap();
    p.send_line("123").unwrap();
    p.expect("Password (again): ").unwrap();
    p.send_line("123").unwrap();
    p.expect("This password is too short").unwrap();
    p.expect("This password is entirely numeric.").unwrap();
    p.expect("Bypass password validation and create user anyway? [y/N]: ").unwrap();
    p.send_line("n").unwrap();
    p.expect("Password: ").unwrap();
    p.send_line("letmein").unwrap();
    p.expect("Password (again): ").unwrap();
    p.send_line("letmein").unwrap();
    p.expect("This password is too common.").unwrap();
    p.expect("[y/N]: ").unwrap();
    p.send_line("y").unwrap();
    p.expect("Superuser created successfully.").unwrap();
    p.expect(Eof).unwrap();
    assert!(login_works(dir.path(), "carol", "letmein"));
}
