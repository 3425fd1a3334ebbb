//! Signing in with OpenID Connect against a real, certified provider
//! (panva's oidc-provider, `e2e/oidc-provider.mjs`, on a loopback port), its
//! development login and consent forms filled in as a browser would. The
//! server's validation is the production code path throughout; the
//! provider's `/test/tamper` only re-signs the ID token it would have sent.

use std::{
    io::BufRead,
    path::PathBuf,
    process::{Child, Command, Stdio},
};

use latchkey::settings::{Preset, RawOidcProvider, RawSettings};
use reqwest::{Client, StatusCode, Url, redirect::Policy};
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestServer, USER, http_login, latchkey, run, try_spawn_server};

/// The provider process, stopped when dropped.
struct Provider {
    child: Child,
    issuer: String,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn e2e_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../e2e")
}

fn start_provider(redirect_uris: &[String]) -> Provider {
    let dir = e2e_dir();
    assert!(
        dir.join("node_modules/oidc-provider").is_dir(),
        "the test provider is not installed: run `npm ci` in e2e/ (scripts/test does it before cargo test)"
    );
    let mut cmd = Command::new("node");
    cmd.arg(dir.join("oidc-provider.mjs"));
    for uri in redirect_uris {
        cmd.args(["--redirect-uri", uri]);
    }
    let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().expect("node runs");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let issuer = line.trim().strip_prefix("ready ").unwrap_or_else(|| panic!("provider said {line:?}")).to_owned();
    Provider { child, issuer }
}

/// A provider and a server whose provider `test` is it. The server's port
/// is chosen first (the redirect URI is registered at the provider) and is
/// free only until someone else binds it: while the provider starts, another
/// test's connection may take it, so a taken port means another try.
async fn setup(preset: Preset, tweak: impl Fn(&mut RawSettings, &mut RawOidcProvider)) -> (Provider, TestServer) {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let public = format!("http://127.0.0.1:{port}");
        let provider = start_provider(&[format!("{public}/api/oidc/test/callback/")]);
        let issuer = provider.issuer.clone();
        let spawned = try_spawn_server(
            preset,
            |raw| {
                raw.public_url = Some(public.clone());
                let mut p = RawOidcProvider {
                    id: "test".into(),
                    name: Some("Test IdP".into()),
                    issuer,
                    client_id: "latchkey".into(),
                    client_secret: "latchkey-secret".into(),
                    ..Default::default()
                };
                raw.accounts.signup = Some("open".into());
                tweak(raw, &mut p);
                raw.oidc.providers = vec![p];
            },
            |s| s.bind = format!("127.0.0.1:{port}").parse().unwrap(),
        )
        .await;
        match spawned {
            Ok(server) => return (provider, server),
            Err(e) if attempt < 5 && port_taken(&e) => continue,
            Err(e) => panic!("the server did not start: {e:?}"),
        }
    }
}

fn port_taken(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::AddrInUse))
}

/// A browser: its own cookies, redirects followed by hand.
fn browser() -> Client {
    Client::builder().cookie_store(true).redirect(Policy::none()).build().unwrap()
}

fn location(res: &reqwest::Response) -> String {
    let loc = res.headers().get("location").unwrap_or_else(|| panic!("no Location on {}", res.status()));
    res.url().join(loc.to_str().unwrap()).unwrap().to_string()
}

fn form_action(html: &str) -> String {
    let start = html.find("action=\"").expect("a form") + 8;
    let end = start + html[start..].find('"').unwrap();
    html[start..end].replace("&amp;", "&").replace("&#x2F;", "/").replace("&#47;", "/")
}

/// From `url` (the server's start, or an authorization URL) through the
/// provider's login and consent forms as `login`, until the provider sends
/// the browser back to the server; that callback URL, not yet followed.
async fn through_provider(c: &Client, server: &TestServer, url: &str, login: &str) -> String {
    let ours = server.url("/");
    let mut url = url.to_owned();
    for _ in 0..20 {
        let res = c.get(&url).send().await.unwrap();
        if res.status().is_redirection() {
            url = location(&res);
            if url.starts_with(&ours) && url.contains("/callback/") {
                return url;
            }
            assert!(!url.starts_with(&ours), "the server answered {url} before the provider was reached");
            continue;
        }
        assert_eq!(res.status(), StatusCode::OK, "{url}");
        let page_url = res.url().clone();
        let html = res.text().await.unwrap();
        let action = page_url.join(&form_action(&html)).unwrap();
        let form: Vec<(&str, &str)> = if html.contains("name=\"login\"") {
            vec![("prompt", "login"), ("login", login), ("password", "anything")]
        } else {
            vec![("prompt", "consent")]
        };
        let body = form.iter().map(|(k, v)| format!("{k}={}", urlencode(v))).collect::<Vec<_>>().join("&");
        let res =
            c.post(action).header("content-type", "application/x-www-form-urlencoded").body(body).send().await.unwrap();
        assert!(res.status().is_redirection(), "the provider's form answered {}", res.status());
        url = location(&res);
        if url.starts_with(&ours) && url.contains("/callback/") {
            return url;
        }
    }
    panic!("the provider never sent the browser back");
}

/// Follows the callback: where the server sends the browser.
async fn finish(c: &Client, callback: &str) -> String {
    let res = c.get(callback).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FOUND, "{callback}");
    location(&res)
}

async fn session(c: &Client, server: &TestServer) -> Value {
    c.get(server.url("/api/session/")).send().await.unwrap().json().await.unwrap()
}

/// Signs in at the provider as `login` and lands; the SPA URL landed on.
async fn sign_in(c: &Client, server: &TestServer, login: &str, next: &str) -> String {
    let start = server.url(&format!("/api/oidc/test/start/?next={next}"));
    let callback = through_provider(c, server, &start, login).await;
    finish(c, &callback).await
}

async fn csrf(c: &Client, server: &TestServer) -> String {
    let res = c.get(server.url("/api/csrf/")).send().await.unwrap();
    res.headers()["x-csrftoken"].to_str().unwrap().to_owned()
}

async fn tamper(provider: &Provider, changes: Value) {
    let res =
        reqwest::Client::new().post(format!("{}/test/tamper", provider.issuer)).json(&changes).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn the_providers_are_listed_for_the_buttons_and_an_unknown_one_is_404() {
    let (_p, server) = setup(Preset::Embedded, |_, _| {}).await;
    let c = browser();
    let list: Value = c.get(server.url("/api/oidc/providers/")).send().await.unwrap().json().await.unwrap();
    assert_eq!(list, json!({"providers": [{"id": "test", "name": "Test IdP"}]}));
    let res = c.get(server.url("/api/oidc/nope/start/")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(res.json::<Value>().await.unwrap()["code"], "provider_not_found");
}

#[tokio::test]
async fn signing_in_at_the_provider_signs_the_browser_in_with_new_keys_and_lands_on_next() {
    let secrets = tempfile::tempdir().unwrap();
    let secret_file = secrets.path().join("test.secret");
    std::fs::write(&secret_file, "latchkey-secret\n").unwrap();
    for preset in [Preset::Embedded, Preset::CrossOrigin] {
        let (_p, server) = setup(preset, |raw, p| {
            if preset == Preset::CrossOrigin {
                raw.accounts.frontend_url = Some("http://localhost:5173".into());
                // The secret from a file this time: the provider accepts the one read.
                p.client_secret = String::new();
                p.client_secret_file = Some(secret_file.clone());
            }
        })
        .await;
        let front = if preset == Preset::CrossOrigin { "http://localhost:5173".to_owned() } else { server.url("") };
        let c = browser();
        // An anonymous session and CSRF cookie first, to see both replaced.
        let token_before = csrf(&c, &server).await;
        let start = c.get(server.url("/api/oidc/test/start/?next=/account%3Ftab%3D2")).send().await.unwrap();
        assert_eq!(start.status(), StatusCode::FOUND);
        let set_cookie = start.headers()["set-cookie"].to_str().unwrap().to_owned();
        assert!(set_cookie.starts_with("latchkey_oidc="), "{set_cookie}");
        assert!(set_cookie.contains("HttpOnly") && set_cookie.contains("Max-Age=600"), "{set_cookie}");
        assert!(set_cookie.contains("Path=/api/oidc/"), "sent to the OpenID Connect routes only: {set_cookie}");
        assert!(set_cookie.contains("SameSite=Lax") || set_cookie.contains("SameSite=None"), "{set_cookie}");
        let auth_url = Url::parse(&location(&start)).unwrap();
        let q: std::collections::HashMap<_, _> = auth_url.query_pairs().into_owned().collect();
        assert_eq!(q["response_type"], "code");
        assert_eq!(q["code_challenge_method"], "S256");
        assert_eq!(q["redirect_uri"], server.url("/api/oidc/test/callback/"));
        assert!(q["state"].len() >= 32 && q["nonce"].len() >= 32, "{q:?}");
        assert_eq!(q["scope"], "openid email profile");
        let callback = through_provider(&c, &server, auth_url.as_str(), "alice").await;
        assert!(callback.contains("iss="), "the provider sends RFC 9207 iss: {callback}");
        let res = c.get(&callback).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::FOUND);
        let cleared = res.headers().get_all("set-cookie").iter().any(|v| {
            let v = v.to_str().unwrap();
            v.starts_with("latchkey_oidc=;") && v.contains("Max-Age=0")
        });
        assert!(cleared, "the flow cookie is deleted");
        // The sign-in pipeline's establish stage: this browser is now a known
        // device of the account, as after a password (it was not, before).
        let device = res
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .find(|v| v.starts_with("latchkey_device=") || v.starts_with("__Host-latchkey_device="));
        let device = device.unwrap_or_else(|| panic!("{preset}: no device cookie after a provider's sign-in"));
        assert!(device.contains("HttpOnly"), "{device}");
        assert_eq!(location(&res), format!("{front}/account?tab=2"), "{preset}");
        let s = session(&c, &server).await;
        assert_eq!((s["isAuthenticated"].clone(), s["username"].clone()), (json!(true), json!("alice")), "{s}");
        assert_eq!((s["email"].clone(), s["emailVerified"].clone()), (json!("alice@example.com"), json!(true)));
        assert!(s["authenticatedAt"].is_string(), "counts as a recent authentication: {s}");
        assert_ne!(csrf(&c, &server).await, token_before, "a new CSRF secret");
        let ids = identities(&c, &server).await;
        assert_eq!(ids["identities"][0]["provider"], "test");
        assert_eq!(ids["identities"][0]["providerName"], "Test IdP");
        assert_eq!(ids["identities"][0]["email"], "alice@example.com");
        // A second sign-in finds the same account.
        let c2 = browser();
        sign_in(&c2, &server, "alice", "/").await;
        assert_eq!(session(&c2, &server).await["username"], "alice");
        let ids = identities(&c2, &server).await;
        assert_eq!(ids["identities"].as_array().unwrap().len(), 1);
        assert!(ids["identities"][0]["lastUsedAt"].is_string());
    }
}

#[tokio::test]
async fn an_off_site_next_is_ignored() {
    let (_p, server) = setup(Preset::Embedded, |_, _| {}).await;
    for next in ["//evil.example/x", "https://evil.example/", "/\\evil.example"] {
        let c = browser();
        let landed = sign_in(&c, &server, "nextcheck", &urlencode(next)).await;
        assert_eq!(landed, server.url("/"), "{next}");
    }
}

fn urlencode(s: &str) -> String {
    s.bytes().map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

#[tokio::test]
async fn a_replayed_callback_or_one_from_another_browser_signs_nobody_in() {
    let (_p, server) = setup(Preset::Embedded, |_, _| {}).await;
    let a = browser();
    let callback = through_provider(&a, &server, &server.url("/api/oidc/test/start/"), "carol").await;
    // Another browser opens A's callback URL: it has no flow cookie.
    let b = browser();
    assert_eq!(finish(&b, &callback).await, server.url("/?loginError=state_invalid"));
    assert_eq!(session(&b, &server).await["isAuthenticated"], false);
    // A's own flow is untouched by that, and works once.
    assert_eq!(finish(&a, &callback).await, server.url("/"));
    assert_eq!(session(&a, &server).await["username"], "carol");
    // The same URL again, even with the flow cookie put back by hand: the record is spent.
    let a_flow = callback.clone();
    let replay = Client::builder().redirect(Policy::none()).build().unwrap();
    let res =
        replay.get(&a_flow).header("cookie", "latchkey_oidc=0123456789abcdefghijklmnopqrstuv").send().await.unwrap();
    assert_eq!(location(&res), server.url("/?loginError=state_invalid"));
    let c = browser();
    assert_eq!(finish(&c, &callback).await, server.url("/?loginError=state_invalid"));
    assert_eq!(session(&c, &server).await["isAuthenticated"], false);
}

#[tokio::test]
async fn a_state_that_differs_or_an_iss_of_another_issuer_is_refused() {
    let (_p, server) = setup(Preset::Embedded, |_, _| {}).await;
    let spoil = |url: &str, key: &str, value: Option<&str>| {
        let mut u = Url::parse(url).unwrap();
        let pairs: Vec<(String, String)> = u.query_pairs().into_owned().filter(|(k, _)| k != key).collect();
        let mut q = u.query_pairs_mut();
        q.clear();
        for (k, v) in &pairs {
            q.append_pair(k, v);
        }
        if let Some(v) = value {
            q.append_pair(key, v);
        }
        drop(q);
        u.to_string()
    };
    for (key, value, code) in [
        ("state", Some("forged-state-forged-state-forged-state-1234"), "state_invalid"),
        ("iss", Some("http://127.0.0.1:1"), "issuer_mismatch"),
        // The provider promises iss (authorization_response_iss_parameter_supported).
        ("iss", None, "issuer_mismatch"),
    ] {
        let c = browser();
        let callback = through_provider(&c, &server, &server.url("/api/oidc/test/start/"), "dave").await;
        let landed = finish(&c, &spoil(&callback, key, value)).await;
        assert_eq!(landed, server.url(&format!("/?loginError={code}")), "{key}={value:?}");
        assert_eq!(session(&c, &server).await["isAuthenticated"], false);
        // The flow is spent: the genuine callback no longer works either.
        assert_eq!(finish(&c, &callback).await, server.url("/?loginError=state_invalid"));
    }
}

#[tokio::test]
async fn a_client_secret_the_provider_refuses_is_reported_as_a_setup_problem_and_signs_nobody_in() {
    let (_p, server) = setup(Preset::Embedded, |_, p| p.client_secret = "not-the-registered-secret".into()).await;
    let c = browser();
    let callback = through_provider(&c, &server, &server.url("/api/oidc/test/start/"), "alice").await;
    assert_eq!(finish(&c, &callback).await, server.url("/?loginError=provider_misconfigured"));
    assert_eq!(session(&c, &server).await["isAuthenticated"], false);
}

#[tokio::test]
async fn access_denied_at_the_provider_is_shown_and_signs_nobody_in() {
    let (_p, server) = setup(Preset::Embedded, |_, _| {}).await;
    let c = browser();
    let mut url = server.url("/api/oidc/test/start/");
    // To the login form, then its abort link instead of signing in.
    let abort = loop {
        let res = c.get(&url).send().await.unwrap();
        if res.status().is_redirection() {
            url = location(&res);
            continue;
        }
        let page = res.url().clone();
        let html = res.text().await.unwrap();
        let i = html.find("/abort").expect("the login page links to abort");
        let start = html[..i].rfind('"').unwrap() + 1;
        break page.join(&html[start..i + 6].replace("&#x2F;", "/")).unwrap().to_string();
    };
    let mut url = abort;
    let callback = loop {
        let res = c.get(&url).send().await.unwrap();
        url = location(&res);
        if url.starts_with(&server.url("/api/oidc/test/callback/")) {
            break url;
        }
    };
    assert!(callback.contains("error=access_denied"), "{callback}");
    assert_eq!(finish(&c, &callback).await, server.url("/?loginError=access_denied"));
    assert_eq!(session(&c, &server).await["isAuthenticated"], false);
}

#[tokio::test]
async fn an_id_token_with_a_wrong_audience_nonce_issuer_or_key_is_refused() {
    let (provider, server) = setup(Preset::Embedded, |_, _| {}).await;
    for (i, changes) in [
        json!({"aud": "other"}),
        json!({"aud": ["latchkey", "other"], "azp": "other"}),
        json!({"nonce": "not-the-one-we-sent"}),
        json!({"iss": "http://127.0.0.1:1"}),
        json!({"exp": 1_000_000_000}),
        json!({"foreignKey": true}),
    ]
    .into_iter()
    .enumerate()
    {
        let c = browser();
        let login = format!("mallory{i}");
        let callback = through_provider(&c, &server, &server.url("/api/oidc/test/start/"), &login).await;
        tamper(&provider, changes.clone()).await;
        assert_eq!(finish(&c, &callback).await, server.url("/?loginError=token_invalid"), "{changes}");
        assert_eq!(session(&c, &server).await["isAuthenticated"], false, "{changes}");
    }
    // Nothing was created for any of them; an untampered token still works.
    let c = browser();
    sign_in(&c, &server, "mallory0", "/").await;
    assert_eq!(session(&c, &server).await["username"], "mallory0", "the refused sign-in left no account behind");
}

#[tokio::test]
async fn with_auto_signup_off_an_unknown_identity_is_refused_and_on_it_gets_a_unique_username_and_its_names() {
    let (_p, server) = setup(Preset::Embedded, |_, p| p.auto_signup = Some(false)).await;
    let c = browser();
    assert_eq!(sign_in(&c, &server, "erin", "/").await, server.url("/?loginError=signup_closed"));
    assert_eq!(session(&c, &server).await["isAuthenticated"], false);

    // Sign-up closed site-wide, auto_signup following it: refused too.
    let (_p, server) = setup(Preset::Embedded, |raw, _| raw.accounts.signup = Some("closed".into())).await;
    assert_eq!(sign_in(&browser(), &server, "erin", "/").await, server.url("/?loginError=signup_closed"));

    // Open: the demo user's name is taken (by a local account with another address).
    let (_p, server) = setup(Preset::Embedded, |_, _| {}).await;
    let c = browser();
    sign_in(&c, &server, USER, "/").await;
    let s = session(&c, &server).await;
    assert_eq!(s["username"], format!("{USER}2"), "{s}");
    // The provider's given_name and family_name become the account's names.
    let lk = server_latchkey(&server).await;
    let created = lk.users().by_username(&format!("{USER}2")).await.unwrap().unwrap();
    assert_eq!((created.first_name.as_str(), created.last_name.as_str()), (USER, "Tester"));
    // No password: the password form cannot sign in as it.
    let d = browser();
    assert_eq!(http_login(&d, &server.url(""), &format!("{USER}2"), "").await, 400);
}

#[tokio::test]
async fn a_local_account_with_the_address_must_link_first_unless_both_sides_say_it_is_verified() {
    for (link_by_verified_email, login, verified_locally, expect_local) in [
        (false, "frank", true, false),
        (true, "frank", true, true),
        (true, "unverified-frank", true, false),
        (true, "frank", false, false),
    ] {
        let (_p, server) =
            setup(Preset::Embedded, |_, p| p.link_by_verified_email = Some(link_by_verified_email)).await;
        let lk = server_latchkey(&server).await;
        let user =
            latchkey::testing::create_user_with_email(&lk, "frank-local", PASSWORD, &format!("{login}@example.com"))
                .await;
        lk.users().set_email_verified(user.id, verified_locally).await.unwrap();
        let c = browser();
        let landed = sign_in(&c, &server, login, "/").await;
        let s = session(&c, &server).await;
        if expect_local {
            assert_eq!((landed, s["username"].clone()), (server.url("/"), json!("frank-local")));
        } else {
            assert_eq!(landed, server.url("/?loginError=link_required"), "{login} {link_by_verified_email}");
            assert_eq!(s["isAuthenticated"], false);
        }
    }
}

/// The server's state, opened again on its database (as a second instance would).
async fn server_latchkey(server: &TestServer) -> latchkey::Latchkey {
    let raw = RawSettings {
        database_url: Some(format!("sqlite://{}", crate::helpers::db_path(server.dir()).display())),
        ..Default::default()
    };
    let (lk, _) = latchkey::Latchkey::open_migrated(raw.validate().unwrap()).await.unwrap();
    lk
}

/// The browser's linked identities.
async fn identities(c: &Client, server: &TestServer) -> Value {
    c.get(server.url("/api/oidc/identities/")).send().await.unwrap().json().await.unwrap()
}

/// `POST /api/oidc/test/link/` with `token`; where the answer sends the browser.
async fn start_link(c: &Client, server: &TestServer, token: &str) -> String {
    let res = c.post(server.url("/api/oidc/test/link/")).header("x-csrftoken", token).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    res.json::<Value>().await.unwrap()["location"].as_str().unwrap().to_owned()
}

/// `DELETE /api/oidc/identities/{id}/` with `token`.
async fn unlink(c: &Client, server: &TestServer, token: &str, id: i64) -> reqwest::Response {
    c.delete(server.url(&format!("/api/oidc/identities/{id}/"))).header("x-csrftoken", token).send().await.unwrap()
}

#[tokio::test]
async fn linking_from_the_account_page_then_signing_in_with_it_and_unlinking() {
    let (_p, server) = setup(Preset::Embedded, |_, _| {}).await;
    let c = browser();
    assert_eq!(http_login(&c, &server.url(""), USER, PASSWORD).await, 200);
    let token = csrf(&c, &server).await;
    let location = start_link(&c, &server, &token).await;
    let callback = through_provider(&c, &server, &location, "grace").await;
    assert_eq!(finish(&c, &callback).await, server.url("/account?linked=test"));
    assert_eq!(session(&c, &server).await["username"], USER, "still the same user");
    let ids = identities(&c, &server).await;
    assert_eq!(ids["identities"][0]["email"], "grace@example.com");
    let id = ids["identities"][0]["id"].as_i64().unwrap();

    // Signing in at the provider as grace is now signing in as the demo user.
    let other = browser();
    sign_in(&other, &server, "grace", "/").await;
    assert_eq!(session(&other, &server).await["username"], USER);

    // Another user cannot take grace, nor unlink the demo user's identity.
    let lk = server_latchkey(&server).await;
    latchkey::testing::create_user(&lk, "heidi", PASSWORD).await;
    let h = browser();
    assert_eq!(http_login(&h, &server.url(""), "heidi", PASSWORD).await, 200);
    let t = csrf(&h, &server).await;
    let location = start_link(&h, &server, &t).await;
    let callback = through_provider(&h, &server, &location, "grace").await;
    assert_eq!(finish(&h, &callback).await, server.url("/account?linkError=identity_taken"));
    let res = unlink(&h, &server, &t, id).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);

    // Linking without a token is a CSRF failure; unlinking works once.
    let res = c.post(server.url("/api/oidc/test/link/")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let token = csrf(&c, &server).await;
    let res = unlink(&c, &server, &token, id).await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = unlink(&c, &server, &token, id).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let ids = identities(&c, &server).await;
    assert_eq!(ids["identities"], json!([]));
}

#[tokio::test]
async fn linking_needs_a_recent_sign_in_and_the_last_way_to_sign_in_cannot_be_unlinked() {
    let (_p, server) = setup(Preset::Embedded, |raw, _| raw.auth.reauthentication_window = Some(1)).await;
    let c = browser();
    sign_in(&c, &server, "ivan", "/").await;
    let token = csrf(&c, &server).await;
    let ids = identities(&c, &server).await;
    let id = ids["identities"][0]["id"].as_i64().unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let res = c.post(server.url("/api/oidc/test/link/")).header("x-csrftoken", &token).send().await.unwrap();
    assert_eq!(res.json::<Value>().await.unwrap()["code"], "reauthentication_required");
    let res = unlink(&c, &server, &token, id).await;
    assert_eq!(res.json::<Value>().await.unwrap()["code"], "reauthentication_required");
    // Signing in at the provider again is a fresh authentication.
    sign_in(&c, &server, "ivan", "/").await;
    let token = csrf(&c, &server).await;
    let res = unlink(&c, &server, &token, id).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert_eq!(res.json::<Value>().await.unwrap()["code"], "last_sign_in_method");
}

#[tokio::test]
async fn a_user_with_an_authenticator_app_still_needs_the_code() {
    let (_p, server) = setup(Preset::Embedded, |_, _| {}).await;
    let c = browser();
    sign_in(&c, &server, "judy", "/").await;
    // Set up TOTP as judy.
    let token = csrf(&c, &server).await;
    let setup: Value = c.get(server.url("/api/mfa/totp/")).send().await.unwrap().json().await.unwrap();
    let secret = latchkey::mfa::totp::TotpSecret::from_base32(setup["secret"].as_str().unwrap()).unwrap();
    let code = secret.code_at(time::OffsetDateTime::now_utc());
    let res = c
        .post(server.url("/api/mfa/totp/"))
        .header("x-csrftoken", &token)
        .json(&json!({"code": code}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK, "{}", res.text().await.unwrap());

    let d = browser();
    let landed = sign_in(&d, &server, "judy", "/account").await;
    assert_eq!(landed, server.url("/account"));
    let s = session(&d, &server).await;
    assert_eq!(s["isAuthenticated"], false, "{s}");
    assert_eq!(s["mfaPending"], json!(["totp", "recovery_code"]), "{s}");
    let token = csrf(&d, &server).await;
    let wrong = d
        .post(server.url("/api/mfa/authenticate/"))
        .header("x-csrftoken", &token)
        .json(&json!({"code": "000000"}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::BAD_REQUEST);
    let step = time::OffsetDateTime::now_utc() + time::Duration::seconds(30);
    let res = d
        .post(server.url("/api/mfa/authenticate/"))
        .header("x-csrftoken", &token)
        .json(&json!({"code": secret.code_at(step)}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK, "{}", res.text().await.unwrap());
    assert_eq!(session(&d, &server).await["username"], "judy");
}

#[tokio::test]
async fn an_inactive_account_is_refused_and_anonymous_starts_are_throttled() {
    let (_p, server) = setup(Preset::Embedded, |raw, _| raw.throttle.window = Some(60)).await;
    let c = browser();
    sign_in(&c, &server, "kim", "/").await;
    let lk = server_latchkey(&server).await;
    let kim = lk.users().by_username("kim").await.unwrap().unwrap();
    lk.users().set_active(kim.id, false).await.unwrap();
    let d = browser();
    assert_eq!(sign_in(&d, &server, "kim", "/").await, server.url("/?loginError=account_inactive"));
    assert_eq!(session(&d, &server).await["isAuthenticated"], false);

    let e = browser();
    let mut throttled = 0;
    for _ in 0..(latchkey::oidc::STARTS_PER_CLIENT + 5) {
        let res = e.get(server.url("/api/oidc/test/start/")).send().await.unwrap();
        if location(&res) == server.url("/?loginError=throttled") {
            throttled += 1;
        }
    }
    assert!(throttled >= 3, "starts beyond the limit are refused before anything is stored ({throttled})");
}

#[tokio::test]
async fn a_provider_that_is_down_sends_the_browser_back_with_the_reason() {
    let (provider, server) = setup(Preset::Embedded, |_, _| {}).await;
    drop(provider);
    let c = browser();
    let res = c.get(server.url("/api/oidc/test/start/")).send().await.unwrap();
    assert_eq!(location(&res), server.url("/?loginError=provider_unavailable"));
    assert!(res.headers().get("set-cookie").is_none(), "no flow is kept for a start that failed");
}

#[test]
fn every_failure_code_is_said_in_words_by_the_spa_and_explained_in_the_docs() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let read = |rel: &str| std::fs::read_to_string(root.join(rel)).unwrap();
    // The SPA's one map from codes to words.
    let (words, words_test, docs) =
        (read("frontend/src/ui/messages.ts"), read("frontend/src/account/oidc.test.ts"), read("docs/oidc.md"));
    for failure in latchkey::oidc::Failure::ALL {
        let code = failure.code();
        assert!(words.contains(&format!("case \"{code}\":")), "the SPA has no words for {code}");
        assert!(words_test.contains(&format!("\"{code}\"")), "oidc.test.ts does not check {code}");
        assert!(docs.contains(&format!("| `{code}` |")), "docs/oidc.md does not explain {code}");
    }
}

#[test]
fn check_providers_reaches_each_provider_and_names_those_that_cannot_be_used() {
    let provider = start_provider(&["https://app.example.com/api/oidc/good/callback/".into()]);
    let dir = tempfile::tempdir().unwrap();
    let configure = |providers: &[(&str, &str, &str)]| {
        let mut toml = "public_url = \"https://app.example.com\"\n".to_owned();
        for (id, issuer, secret) in providers {
            toml += &format!(
                "[[oidc.providers]]\nid = \"{id}\"\nissuer = \"{issuer}\"\nclient_id = \"latchkey\"\nclient_secret = \"{secret}\"\n"
            );
        }
        std::fs::write(dir.path().join("latchkey.toml"), toml).unwrap();
    };
    let check = || run(latchkey(dir.path()).args(["--config", "latchkey.toml", "check", "--providers"]));

    configure(&[("good", &provider.issuer, "latchkey-secret")]);
    let (ok, out, err) = check();
    assert!(ok, "{out}\n{err}");
    assert!(out.contains(&format!("  good: discovery at {} (", provider.issuer)), "{out}");
    assert!(out.contains("signing key, sends iss); client id and secret accepted; redirect URI accepted"), "{out}");

    // "wrong" has a secret the provider does not know, and a redirect URI
    // (its id is in it) the provider never registered; "down" is not there.
    configure(&[
        ("good", &provider.issuer, "latchkey-secret"),
        ("wrong", &provider.issuer, "not-the-registered-secret"),
        ("down", "http://127.0.0.1:9", "s"),
    ]);
    let (ok, out, err) = check();
    assert!(!ok, "{out}");
    assert!(out.contains("  good: discovery at"), "{out}");
    let wrong = out.lines().find(|l| l.starts_with("  wrong: ")).unwrap_or_else(|| panic!("{out}"));
    assert!(wrong.starts_with("  wrong: FAILED: discovery at"), "{wrong}");
    assert!(
        wrong.contains(
            "client id and secret REFUSED: the token endpoint refused the client \"latchkey\" (invalid_client)"
        ),
        "{wrong}"
    );
    assert!(
        wrong.contains(
            "redirect URI REFUSED: the authorization endpoint refused it (HTTP 400): is https://app.example.com/api/oidc/wrong/callback/ registered"
        ),
        "{wrong}"
    );
    assert!(out.contains("  down: FAILED: provider unavailable: discovery of http://127.0.0.1:9"), "{out}");
    assert!(err.contains("2 of 3 sign-in providers cannot be used"), "{err}");
    assert!(!out.contains("latchkey-secret") && !out.contains("not-the-registered"), "no secret printed: {out}");
}

/// The key in a mailed link (`…?key=KEY`).
fn mailed_key(body: &str) -> String {
    let at = body.find("?key=").expect("a link with a key") + 5;
    body[at..].chars().take_while(char::is_ascii_alphanumeric).collect()
}

/// `POST path` with a CSRF pair of a fresh browser; the status.
async fn post_anonymously(server: &TestServer, path: &str, body: Value) -> StatusCode {
    let c = browser();
    let token = csrf(&c, server).await;
    c.post(server.url(path)).header("x-csrftoken", token).json(&body).send().await.unwrap().status()
}

#[tokio::test]
async fn under_mandatory_verification_no_account_is_made_from_an_address_the_provider_does_not_vouch_for() {
    let (provider, server) =
        setup(Preset::Embedded, |raw, _| raw.accounts.email_verification = Some("mandatory".into())).await;
    let lk = server_latchkey(&server).await;
    let c = browser();
    assert_eq!(
        sign_in(&c, &server, "unverified-victim", "/").await,
        server.url("/?loginError=provider_email_unverified")
    );
    assert_eq!(session(&c, &server).await["isAuthenticated"], false);
    assert!(lk.users().active_by_email("unverified-victim@example.com").await.unwrap().is_empty(), "no account made");
    // `email_verified` must be the JSON boolean: the string "true" vouches for nothing.
    tamper(&provider, json!({"email": "stringly@example.com", "email_verified": "true"})).await;
    let c = browser();
    let landed = sign_in(&c, &server, "stringly", "/").await;
    assert!(landed.starts_with(&server.url("/?loginError=")), "{landed}");
    assert_eq!(session(&c, &server).await["isAuthenticated"], false);
    assert!(lk.users().active_by_email("stringly@example.com").await.unwrap().is_empty(), "no account made");
    // A provider that vouches for the address still signs up at once.
    let c = browser();
    assert_eq!(sign_in(&c, &server, "vouched", "/").await, server.url("/"));
    assert_eq!(session(&c, &server).await["username"], "vouched");
}

/// The pre-account hijack: an attacker signs in through a provider that
/// does not vouch for the victim's address, and the account made from it
/// waits for its owner. When the owner proves the address (a reset, or the
/// verification link), the attacker's identity must not stay linked.
#[tokio::test]
async fn proving_an_address_unlinks_the_provider_accounts_linked_while_it_was_unverified() {
    for proof in ["reset", "verification link"] {
        let sink = latchkey::testing::SmtpSink::start().await;
        let (_p, server) = setup(Preset::Embedded, |raw, _| {
            raw.accounts.email_verification = Some("optional".into());
            raw.email.backend = Some("smtp".into());
            raw.email.smtp_url = Some(sink.url());
        })
        .await;
        let victim_address = "unverified-victim@example.com";
        let attacker = browser();
        assert_eq!(sign_in(&attacker, &server, "unverified-victim", "/").await, server.url("/"), "{proof}");
        assert_eq!(session(&attacker, &server).await["username"], "unverified-victim");

        // The owner of the address proves it.
        let (path, confirm) = match proof {
            "reset" => ("/api/password/reset/", "/api/password/reset/confirm/"),
            _ => ("/api/email/verify/resend/", "/api/email/verify/"),
        };
        assert_eq!(post_anonymously(&server, path, json!({"email": victim_address})).await, StatusCode::OK);
        let got = sink.wait_for(1, std::time::Duration::from_secs(10)).await.expect("the link arrives");
        let key = mailed_key(&got[0].body_text());
        let body = match proof {
            "reset" => json!({"key": key, "newPassword": "violet tundra 77"}),
            _ => json!({"key": key}),
        };
        assert_eq!(post_anonymously(&server, confirm, body).await, StatusCode::OK, "{proof}");

        // The owner hears of it at the address just proved.
        let got = sink.wait_for(2, std::time::Duration::from_secs(10)).await.expect("the notice arrives");
        assert_eq!(got[1].to, [victim_address]);
        assert!(got[1].body_text().contains("unlinked"), "{}", got[1].body_text());

        // The attacker comes back through the provider: not into the account.
        let again = browser();
        assert_eq!(
            sign_in(&again, &server, "unverified-victim", "/").await,
            server.url("/?loginError=link_required"),
            "{proof}"
        );
        assert_eq!(session(&again, &server).await["isAuthenticated"], false, "{proof}");
        let lk = server_latchkey(&server).await;
        let owner = lk.users().active_by_email(victim_address).await.unwrap().remove(0);
        assert!(owner.email_verified);
        assert!(lk.identities().list(owner.id).await.unwrap().is_empty(), "{proof}: the identity is unlinked");
        let events = lk.audit_store().query(Some("unverified-victim"), Some("oidc_unlinked"), first_page()).await;
        assert_eq!(events.unwrap().results.len(), 1, "{proof}: audited");
    }
}

fn first_page() -> latchkey::page::PageRequest {
    latchkey::page::PageRequest::numbered(1, 20).unwrap()
}
