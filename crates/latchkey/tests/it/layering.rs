//! `scripts/check-architecture` cannot pass having checked nothing: on a
//! copy of the source, each violation it must catch is planted in turn
//! (the five an earlier version let through among them), and the check
//! must fail naming it; the untouched copy passes.

use std::{path::Path, process::Command};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().parent().unwrap()
}

/// Runs the check on a copy of the source and the architecture document,
/// after `plant` changed the copy; its exit status and output.
fn check_with(plant: impl FnOnce(&Path, &Path)) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    copy_dir(&root().join("crates/latchkey/src"), &src);
    let docs = dir.path().join("architecture.md");
    std::fs::copy(root().join("docs/architecture.md"), &docs).unwrap();
    plant(&src, &docs);
    let out = Command::new("python3")
        .arg(root().join("scripts/check-architecture"))
        .arg("--src")
        .arg(&src)
        .arg("--docs")
        .arg(&docs)
        .output()
        .expect("python3 runs scripts/check-architecture");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn append(file: &Path, code: &str) {
    let mut text = std::fs::read_to_string(file).unwrap();
    text.push('\n');
    text.push_str(code);
    text.push('\n');
    std::fs::write(file, text).unwrap();
}

#[test]
fn the_untouched_source_passes_the_layering_check() {
    let (ok, out) = check_with(|_, _| {});
    assert!(ok, "{out}");
    assert!(out.contains("layering OK"), "{out}");
}

#[test]
fn each_planted_layering_violation_fails_the_check() {
    let cases: [(&str, &str, &str, &str); 9] = [
        ("a root re-export of state", "audit/mod.rs", "use crate::Latchkey;", "audit (layer 3) depends on state"),
        (
            "grouped root re-exports",
            "audit/mod.rs",
            "use crate::{CurrentUser, Stores};",
            "audit (layer 3) depends on http",
        ),
        (
            "a super::super path",
            "audit/aggregate.rs",
            "use super::super::store::Database;",
            "audit (layer 3) depends on store",
        ),
        (
            "code after a string holding //",
            "audit/mod.rs",
            "const URL: &str = \"http://example.com\"; use axum::Router;",
            "the crate axum outside http/",
        ),
        ("the cookie crate outside http/", "users/mod.rs", "pub fn jar(_: cookie::Cookie<'_>) {}", "the crate cookie"),
        (
            "a driver outside store/, after a test module",
            "users/mod.rs",
            "#[cfg(test)]\nmod tests {}\npub fn pool(_: sqlx::SqlitePool) {}",
            "the crate sqlx outside",
        ),
        (
            "a session record built in a flow",
            "state/mfa.rs",
            "fn record(r: crate::session::SessionRecord) -> crate::session::SessionRecord { crate::session::SessionRecord { remember: true, ..r } }",
            "a SessionRecord built outside session/",
        ),
        (
            "a stored timestamp decoded in a flow",
            "state/webauthn.rs",
            "fn since(t: i64) -> bool { crate::store::from_ts(t).is_ok() }",
            "stored timestamps decoded outside store/",
        ),
        (
            "a service calling across through the whole state",
            "state/account.rs",
            "fn across(lk: &crate::Latchkey) -> &crate::Admin { lk.admin() }",
            "a service reaching the whole state",
        ),
    ];
    for (what, file, code, expected) in cases {
        let (ok, out) = check_with(|src, _| append(&src.join(file), code));
        assert!(!ok, "{what}: the check passed:\n{out}");
        assert!(out.contains(expected), "{what}: expected {expected:?} in:\n{out}");
    }
}

#[test]
fn the_check_fails_when_it_finds_nothing_to_scan() {
    let (ok, out) = check_with(|src, _| {
        std::fs::rename(src, src.with_file_name("moved")).unwrap();
        std::fs::create_dir(src).unwrap();
    });
    assert!(!ok && out.contains("nothing to check"), "{out}");
    let (ok, out) = check_with(|src, _| std::fs::remove_file(src.join("throttle/device.rs")).unwrap());
    assert!(!ok && out.contains("declares mod device"), "a declared file that is gone: {out}");
}

#[test]
fn the_architecture_documents_module_map_is_held_against_the_tree() {
    let (ok, out) = check_with(|_, docs| {
        // The second mention is store/memory/'s (the first is store/sql/'s).
        let text = std::fs::read_to_string(docs).unwrap();
        let at = text.rfind("identities.rs").unwrap();
        std::fs::write(docs, format!("{}{}", &text[..at], &text[at + "identities.rs".len()..])).unwrap();
    });
    assert!(!ok && out.contains("store/memory/ does not name identities.rs"), "{out}");
    let (ok, out) = check_with(|src, _| std::fs::write(src.join("store/memory/tokens.rs"), "").unwrap());
    assert!(!ok && out.contains("does not name tokens.rs"), "a new file the map does not name: {out}");
    let (ok, out) = check_with(|_, docs| {
        let text = std::fs::read_to_string(docs).unwrap().replacen("mfa.rs,", "mfa.rs, passkeys.rs,", 1);
        std::fs::write(docs, text).unwrap();
    });
    assert!(!ok && out.contains("names passkeys.rs, which is not in the tree"), "{out}");
}
