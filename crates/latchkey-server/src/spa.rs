//! Serving the SPA in the embedded preset: from the binary (the build in
//! `frontend/dist` at compile time) or from a folder given with `--spa-dir`;
//! and the admin at `/admin/` in every preset, always from the binary (the
//! build in `frontend/dist-admin`).
//!
//! * Client-side routes (paths without a file extension) fall back to
//!   `index.html`, so a reload on `/profile` works.
//! * Vite's content-hashed files under `assets/` are `Cache-Control:
//!   public, max-age=31536000, immutable`; everything else, `index.html`
//!   first, is `no-cache` so a new deploy is picked up at once.
//! * HTML gets a Content-Security-Policy (see [`csp_for`]).
//! * `/api/…` never falls back to the SPA: unknown API paths stay JSON 404s.

use std::{
    path::{Component, Path, PathBuf},
    sync::Arc,
};

use axum::{
    body::Body,
    extract::OriginalUri,
    response::{IntoResponse, Response},
};
use base64::Engine;
use http::{HeaderValue, Method, StatusCode, header};
use latchkey::ApiError;

use crate::config::SpaSettings;
use sha2::{Digest, Sha256};

include!(concat!(env!("OUT_DIR"), "/spa_files.rs"));

const ADMIN_PLACEHOLDER: &str = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Latchkey administration</title></head>\
<body style=\"font-family: sans-serif; max-width: 40em; margin: 3em auto\"><h1>The admin is not built</h1>\
<p>The admin API answers under <code>/api/admin/</code>, but this binary was built without the admin's pages.</p>\
<p>Build them with <code>scripts/run</code> (or <code>npm ci &amp;&amp; npm run build</code> in <code>frontend/</code>, then \
<code>cargo build</code>).</p></body></html>";

const PLACEHOLDER: &str = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Latchkey</title></head>\
<body style=\"font-family: sans-serif; max-width: 40em; margin: 3em auto\"><h1>Latchkey is running</h1>\
<p>The API answers under <code>/api/</code>, but this binary was built without the SPA.</p>\
<p>Build it with <code>scripts/run</code> (or <code>npm ci &amp;&amp; npm run build</code> in <code>frontend/</code>, then \
<code>cargo build</code>), or serve your own build with <code>latchkey serve --preset embedded --spa-dir DIR</code>.</p>\
</body></html>";

/// Where the files come from.
#[derive(Debug, Clone)]
enum Source {
    Embedded(&'static [(&'static str, &'static [u8])]),
    Dir(PathBuf),
}

/// The SPA handler's state.
#[derive(Debug, Clone)]
pub struct Spa(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    source: Source,
    csp: Option<String>,
    /// The page served for a route when the binary carries no build.
    placeholder: &'static str,
}

/// Whether the binary carries a built SPA.
pub fn embedded_spa_present() -> bool {
    SPA_FILES.iter().any(|(p, _)| *p == "index.html")
}

/// `'sha256-…'` sources for every inline `<script>` in `html`, so a build that
/// inlines a loader (Create React App does) passes a CSP without
/// `'unsafe-inline'`.
pub fn inline_script_hashes(html: &str) -> Vec<String> {
    let lower = html.to_ascii_lowercase();
    let mut hashes = Vec::new();
    let mut at = 0;
    while let Some(start) = lower[at..].find("<script").map(|i| i + at) {
        let Some(open_end) = lower[start..].find('>').map(|i| i + start) else { break };
        let Some(close) = lower[open_end..].find("</script").map(|i| i + open_end) else { break };
        let tag = &lower[start..open_end];
        let body = &html[open_end + 1..close];
        if !tag.contains(" src=") && !body.trim().is_empty() {
            let digest = Sha256::digest(body.as_bytes());
            hashes.push(format!("'sha256-{}'", base64::engine::general_purpose::STANDARD.encode(digest)));
        }
        at = close;
    }
    hashes
}

/// The Content-Security-Policy for an SPA page. Strict for Latchkey's own
/// SPA (everything from `'self'`; `data:` images for Bootstrap's icons);
/// for a folder of the user's own build, `https:` styles, images and fonts
/// are allowed too, since the tutorial's page loads Bootstrap from a CDN.
/// Inline scripts are allowed by hash, never by `'unsafe-inline'`.
pub fn csp_for(html: &str, latchkey_build: bool) -> String {
    let scripts = std::iter::once("'self'".to_owned()).chain(inline_script_hashes(html)).collect::<Vec<_>>().join(" ");
    let (style, img, font) = if latchkey_build {
        ("'self'", "'self' data:", "'self'")
    } else {
        ("'self' 'unsafe-inline' https:", "'self' data: https:", "'self' data: https:")
    };
    format!(
        "default-src 'self'; script-src {scripts}; style-src {style}; img-src {img}; font-src {font}; \
         connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
    )
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext.to_ascii_lowercase()).as_deref() {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json" | "map") => "application/json",
        Some("webmanifest") => "application/manifest+json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("webp") => "image/webp",
        Some("ico") => "image/x-icon",
        Some("woff") => "font/woff",
        Some("woff2") => "font/woff2",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// A request path turned into a relative file path, or `None` when it tries
/// to leave the root (`..`, absolute parts, backslashes, NUL).
fn safe_relative(path: &str) -> Option<String> {
    let trimmed = path.trim_start_matches('/');
    if trimmed.contains(['\\', '\0']) {
        return None;
    }
    let mut parts = Vec::new();
    for c in Path::new(trimmed).components() {
        match c {
            Component::Normal(p) => parts.push(p.to_str()?.to_owned()),
            Component::CurDir => {}
            _ => return None,
        }
    }
    Some(parts.join("/"))
}

impl Spa {
    /// The SPA of `settings`: its folder if one is set, else the embedded build.
    pub fn new(settings: &SpaSettings) -> Self {
        let source = match &settings.dir {
            Some(d) => Source::Dir(d.clone()),
            None => Source::Embedded(SPA_FILES),
        };
        Spa(Arc::new(Inner { source, csp: settings.csp.clone(), placeholder: PLACEHOLDER }))
    }

    /// The admin's pages, from the binary, with the built SPA's strict CSP.
    pub fn admin() -> Self {
        Spa(Arc::new(Inner { source: Source::Embedded(ADMIN_FILES), csp: None, placeholder: ADMIN_PLACEHOLDER }))
    }

    /// Checks that a `--spa-dir` folder holds an `index.html`.
    ///
    /// # Errors
    /// A message naming the folder.
    pub fn check(&self) -> anyhow::Result<()> {
        if let Source::Dir(d) = &self.0.source
            && !d.join("index.html").is_file()
        {
            anyhow::bail!("--spa-dir {}: no index.html there; point it at the folder your build produced", d.display());
        }
        Ok(())
    }

    async fn read(&self, rel: &str) -> Option<Vec<u8>> {
        match &self.0.source {
            Source::Embedded(files) => files.iter().find(|(p, _)| *p == rel).map(|(_, b)| b.to_vec()),
            Source::Dir(dir) => {
                let path = dir.join(rel);
                match tokio::fs::metadata(&path).await {
                    Ok(m) if m.is_file() => tokio::fs::read(&path).await.ok(),
                    _ => None,
                }
            }
        }
    }

    /// The answer for a file. HEAD gets the same one, Content-Length
    /// included: hyper leaves the body out of a HEAD answer.
    fn respond(&self, rel: &str, bytes: Vec<u8>) -> Response {
        let mut res = Body::from(bytes.clone()).into_response();
        let h = res.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type(rel)));
        let immutable = rel.starts_with("assets/");
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static(if immutable { "public, max-age=31536000, immutable" } else { "no-cache" }),
        );
        if rel.ends_with(".html") {
            let csp = match &self.0.csp {
                Some(c) => c.clone(),
                None => csp_for(&String::from_utf8_lossy(&bytes), matches!(self.0.source, Source::Embedded(_))),
            };
            if !csp.is_empty()
                && let Ok(v) = HeaderValue::from_str(&csp)
            {
                h.insert(header::CONTENT_SECURITY_POLICY, v);
            }
        }
        res
    }

    /// Serves a non-API path.
    pub async fn serve(&self, method: &Method, path: &str) -> Response {
        if method != Method::GET && method != Method::HEAD {
            return ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                format!("Method \"{method}\" not allowed."),
            )
            .with_header(header::ALLOW, HeaderValue::from_static("GET, HEAD"))
            .into_response();
        }
        let Some(rel) = safe_relative(path) else {
            return ApiError::new(StatusCode::NOT_FOUND, "not_found", "Not found.").into_response();
        };
        let rel = if rel.is_empty() { "index.html".to_owned() } else { rel };
        if let Some(bytes) = self.read(&rel).await {
            return self.respond(&rel, bytes);
        }
        // A path whose last segment has no extension is a client-side route.
        let is_route = !rel.rsplit('/').next().unwrap_or("").contains('.');
        if is_route || rel == "index.html" {
            if let Some(bytes) = self.read("index.html").await {
                return self.respond("index.html", bytes);
            }
            if matches!(self.0.source, Source::Embedded(_)) {
                return self.respond("index.html", self.0.placeholder.as_bytes().to_vec());
            }
        }
        ApiError::new(StatusCode::NOT_FOUND, "not_found", "Not found.").into_response()
    }
}

/// The router fallback of every preset: `/admin` redirects to `/admin/`,
/// under which the admin's pages are served; `/api/…` keeps the API's
/// fallback (slash redirect, JSON 404); everything else is the SPA in the
/// embedded preset, the API's JSON 404 in the others.
pub async fn fallback(spa: Option<Spa>, admin: Spa, method: Method, uri: OriginalUri) -> Response {
    let path = uri.0.path().to_owned();
    if path == "/admin" && (method == Method::GET || method == Method::HEAD) {
        return (StatusCode::MOVED_PERMANENTLY, [(header::LOCATION, HeaderValue::from_static("/admin/"))])
            .into_response();
    }
    if let Some(rest) = path.strip_prefix("/admin/") {
        return admin.serve(&method, rest).await;
    }
    match spa {
        Some(spa) if path != "/api" && !path.starts_with("/api/") => spa.serve(&method, &path).await,
        _ => latchkey::http::append_slash_fallback(method, uri).await,
    }
}

/// Whether the binary carries the built admin.
pub fn embedded_admin_present() -> bool {
    ADMIN_FILES.iter().any(|(p, _)| *p == "index.html")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_scripts_are_hashed_and_external_ones_are_not() {
        let html =
            "<html><script>var a=1;</script><script type=\"module\" src=\"/x.js\"></script><SCRIPT>b()</SCRIPT></html>";
        let h = inline_script_hashes(html);
        assert_eq!(h.len(), 2);
        assert!(h[0].starts_with("'sha256-") && h[0].ends_with('\''));
        assert_ne!(h[0], h[1]);
        assert!(csp_for(html, true).contains(&h[0]));
        assert!(!csp_for(html, true).contains("unsafe-inline"));
    }

    #[test]
    fn paths_cannot_leave_the_spa_folder() {
        assert_eq!(safe_relative("/assets/a.js").as_deref(), Some("assets/a.js"));
        assert_eq!(safe_relative("/").as_deref(), Some(""));
        for bad in ["/../etc/passwd", "/a/../../b", "/a\\..\\b", "/a\0b"] {
            assert_eq!(safe_relative(bad), None, "{bad:?}");
        }
    }
}
