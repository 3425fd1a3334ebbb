//! Serving the SPA in the embedded preset (from a folder, as users do with
//! their own build, and from the binary).

use latchkey::settings::Preset;
use latchkey_server::config::SpaSettings;
use reqwest::StatusCode;

use crate::helpers::*;

fn spa_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("assets")).unwrap();
    // Create React App inlines a loader script; the page loads Bootstrap from a CDN, as the tutorial's does.
    std::fs::write(
        dir.path().join("index.html"),
        "<!doctype html><html><head><link rel=\"stylesheet\" href=\"https://cdn.example/bootstrap.css\"></head><body><div id=\"root\"></div><script>window.boot=1</script><script src=\"/assets/app-1a2b3c.js\"></script></body></html>",
    )
    .unwrap();
    std::fs::write(dir.path().join("assets/app-1a2b3c.js"), "console.log('app')").unwrap();
    std::fs::write(dir.path().join("robots.txt"), "User-agent: *").unwrap();
    dir
}

#[tokio::test]
async fn spa_dir_serves_index_assets_and_client_side_routes_with_the_right_headers() {
    let dir = spa_dir();
    let s = spawn_spa(spa_from(dir.path())).await;
    let index = s.client.get(s.url("/")).send().await.unwrap();
    assert_eq!(index.status(), StatusCode::OK);
    assert_eq!(index.headers()["cache-control"], "no-cache");
    assert!(index.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let csp = index.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("'sha256-"), "the inline loader is allowed by hash: {csp}");
    assert!(!csp.contains("script-src 'self' 'unsafe-inline'"), "{csp}");
    assert!(csp.contains("style-src 'self' 'unsafe-inline' https:"), "CDN styles keep working: {csp}");
    assert!(csp.contains("frame-ancestors 'none'"));
    assert!(index.headers().get("set-cookie").is_none(), "serving the page sets no cookie, as in Django");

    let asset = s.client.get(s.url("/assets/app-1a2b3c.js")).send().await.unwrap();
    assert_eq!(asset.headers()["cache-control"], "public, max-age=31536000, immutable");
    assert!(asset.headers()["content-type"].to_str().unwrap().starts_with("text/javascript"));
    assert!(asset.headers().get("content-security-policy").is_none());

    let robots = s.client.get(s.url("/robots.txt")).send().await.unwrap();
    assert_eq!(robots.headers()["cache-control"], "no-cache");

    let route = s.client.get(s.url("/profile/settings")).send().await.unwrap();
    assert_eq!(route.status(), StatusCode::OK);
    assert!(route.text().await.unwrap().contains("id=\"root\""), "client-side routes get index.html");

    let missing = s.client.get(s.url("/assets/gone-123.js")).send().await.unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND, "a missing file is not papered over with index.html");
    s.stop().await;
}

#[tokio::test]
async fn api_paths_never_fall_back_to_the_spa() {
    let dir = spa_dir();
    let s = spawn_spa(spa_from(dir.path())).await;
    let res = s.client.get(s.url("/api/unknown/")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(res.json::<serde_json::Value>().await.unwrap()["code"], "not_found");
    let no_redirect = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let res = no_redirect.get(s.url("/api/logout")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::MOVED_PERMANENTLY);
    let res = s.client.post(s.url("/")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
    s.stop().await;
}

#[tokio::test]
async fn path_traversal_out_of_the_spa_dir_is_refused() {
    let dir = spa_dir();
    std::fs::write(dir.path().parent().unwrap().join("latchkey-secret.txt"), "secret").ok();
    let s = spawn_spa(spa_from(dir.path())).await;
    for path in ["/../latchkey-secret.txt", "/%2e%2e/latchkey-secret.txt", "/assets/..%2f..%2flatchkey-secret.txt"] {
        let res = s.client.get(s.url(path)).send().await.unwrap();
        let body = res.text().await.unwrap();
        assert!(!body.contains("secret"), "{path} leaked a file outside the SPA folder");
    }
    s.stop().await;
}

#[tokio::test]
async fn a_configured_csp_replaces_the_default_and_empty_turns_it_off() {
    let dir = spa_dir();
    let s = spawn_spa(SpaSettings { csp: Some("default-src 'none'".into()), ..spa_from(dir.path()) }).await;
    let res = s.client.get(s.url("/")).send().await.unwrap();
    assert_eq!(res.headers()["content-security-policy"], "default-src 'none'");
    s.stop().await;
    let s = spawn_spa(SpaSettings { csp: Some(String::new()), ..spa_from(dir.path()) }).await;
    assert!(s.client.get(s.url("/")).send().await.unwrap().headers().get("content-security-policy").is_none());
    s.stop().await;
}

#[tokio::test]
async fn the_embedded_spa_or_a_build_hint_is_served_at_the_root() {
    let s = spawn_app(Preset::Embedded).await;
    let res = s.client.get(s.url("/")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let csp = res.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("style-src 'self';"), "Latchkey's own SPA gets the strict policy: {csp}");
    let body = res.text().await.unwrap();
    if latchkey_server::spa::embedded_spa_present() {
        assert!(body.contains("id=\"root\""), "{body}");
    } else {
        assert!(body.contains("npm run build"), "{body}");
    }
    s.stop().await;
}

#[tokio::test]
async fn other_presets_serve_no_spa() {
    let s = spawn_app(Preset::SameOrigin).await;
    let res = s.client.get(s.url("/")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    s.stop().await;
}

#[tokio::test]
async fn a_spa_dir_without_index_html_is_refused_at_startup() {
    let dir = tempfile::tempdir().unwrap();
    let err = try_spawn_server(Preset::Embedded, |_| {}, |s| s.spa = spa_from(dir.path())).await.err().unwrap();
    assert!(err.to_string().contains("index.html"), "{err}");
}

#[tokio::test]
async fn head_answers_carry_the_same_content_length_as_get_and_no_body() {
    let dir = spa_dir();
    let s = spawn_spa(spa_from(dir.path())).await;
    for path in ["/", "/assets/app-1a2b3c.js", "/robots.txt", "/some/client/route"] {
        let get = s.client.get(s.url(path)).send().await.unwrap();
        let get_len = get.headers()["content-length"].to_str().unwrap().to_owned();
        let body = get.bytes().await.unwrap();
        assert_eq!(get_len, body.len().to_string(), "{path}");
        let head = s.client.head(s.url(path)).send().await.unwrap();
        assert_eq!(head.status(), 200, "{path}");
        assert_eq!(head.headers()["content-length"], get_len.as_str(), "{path}: HEAD must announce the GET's length");
        assert!(head.bytes().await.unwrap().is_empty(), "{path}: HEAD has no body");
    }
    s.stop().await;
}

#[tokio::test]
async fn the_admin_is_served_at_slash_admin_in_every_preset_under_the_strict_csp() {
    for preset in Preset::ALL {
        let s = spawn_app(preset).await;
        let c = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let res = c.get(s.url("/admin")).send().await.unwrap();
        assert_eq!(
            (res.status(), res.headers()["location"].to_str().unwrap()),
            (StatusCode::MOVED_PERMANENTLY, "/admin/"),
            "{preset}"
        );
        // The page, and a client-side route of it (a reload on /admin/users/7).
        for path in ["/admin/", "/admin/users/7", "/admin/sessions"] {
            let res = s.client.get(s.url(path)).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::OK, "{preset} {path}");
            let csp = res.headers()["content-security-policy"].to_str().unwrap().to_owned();
            assert!(
                csp.contains("script-src 'self';") && csp.contains("style-src 'self';") && !csp.contains("unsafe"),
                "{csp}"
            );
            assert_eq!(res.headers()["cache-control"], "no-cache", "{preset} {path}");
            let body = res.text().await.unwrap();
            assert!(body.contains("Latchkey administration"), "{preset} {path}: {body}");
            if latchkey_server::spa::embedded_admin_present() {
                assert!(body.contains("/admin/assets/"), "the build's assets live under /admin/: {body}");
            } else {
                assert!(body.contains("npm run build"), "{body}");
            }
        }
        let res = s.client.get(s.url("/admin/assets/missing.js")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{preset}: a missing file is not the page");
        let res = s.client.post(s.url("/admin/")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED, "{preset}");
        let res = s.client.get(s.url("/admin/../api/whoami/")).send().await.unwrap();
        assert_ne!(res.status(), StatusCode::INTERNAL_SERVER_ERROR, "{preset}");
        s.stop().await;
    }
}
