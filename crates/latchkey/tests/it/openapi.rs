//! The OpenAPI document: served at `/api/openapi.json`, OpenAPI 3.1,
//! generated from the routers, and complete: a route the app serves that
//! the document lacks fails here, as does an operation the app does not
//! serve.

use std::collections::BTreeSet;

use http::{Method, StatusCode};
use latchkey::{http::routes::API_PATHS, http::routes::API_PREFIXES, settings::Preset};
use serde_json::Value;

use crate::helpers::*;

const METHODS: [Method; 5] = [Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE];

async fn document(app: &mut TestApp) -> Value {
    let res = app.get("/api/openapi.json").await;
    assert_eq!(res.status, StatusCode::OK, "{}", String::from_utf8_lossy(&res.body));
    res.json()
}

fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in ["get", "post", "put", "patch", "delete", "head", "options"] {
            if item.get(method).is_some() {
                ops.insert((path.clone(), method.to_uppercase()));
            }
        }
    }
    ops
}

/// A path with its `{id}` filled in, as a request would carry it.
fn concrete(path: &str) -> String {
    path.replace("{id}", "1")
}

#[tokio::test]
async fn every_route_the_app_serves_is_in_the_document_and_every_operation_is_served() {
    let mut app = TestApp::new(Preset::Embedded).await;
    let doc = document(&mut app).await;
    let documented = operations(&doc);
    // Every path the app may serve: the document's, the fixed ones the
    // trailing-slash redirect knows, and each resource prefix with an id.
    let mut paths: BTreeSet<String> = doc["paths"].as_object().unwrap().keys().map(|p| concrete(p)).collect();
    paths.extend(API_PATHS.iter().flat_map(|p| p.iter()).map(|p| (*p).to_owned()));
    paths.extend(API_PREFIXES.iter().flat_map(|p| p.iter()).map(|p| format!("{p}1/")));
    let templates: Vec<(&String, String)> =
        doc["paths"].as_object().unwrap().keys().map(|p| (p, concrete(p))).collect();
    let mut served = BTreeSet::new();
    for path in &paths {
        for method in METHODS {
            // Anonymous with a CSRF token: a known path with a method it does
            // not take answers 405; one it takes answers anything else.
            let token = app.csrf_token().await;
            let headers = [("content-type", "application/json"), ("x-csrftoken", token.as_str())];
            let body = (method != Method::GET).then_some("{}");
            let res = app.send(method.clone(), path, &headers, body).await;
            if res.status == StatusCode::METHOD_NOT_ALLOWED {
                continue;
            }
            if res.status == StatusCode::NOT_FOUND && res.code() == "not_found" && !path.starts_with("/api/signup/") {
                // The fallback: no route has this path at all.
                continue;
            }
            let template = templates.iter().find(|(_, c)| c == path).map(|(t, _)| (*t).clone());
            let template =
                template.unwrap_or_else(|| panic!("{method} {path} is served ({}) but not documented", res.status));
            served.insert((template, method.to_string()));
        }
    }
    let missing: Vec<_> = served.difference(&documented).collect();
    assert!(missing.is_empty(), "served but not in the document: {missing:?}");
    // The probes are served by the server's health router, not this one.
    let health = ["/healthz", "/readyz", "/api/health/"];
    let phantom: Vec<_> = documented.difference(&served).filter(|(p, _)| !health.contains(&p.as_str())).collect();
    assert!(phantom.is_empty(), "documented but not served: {phantom:?}");
    for path in health {
        assert!(documented.contains(&(path.to_owned(), "GET".to_owned())), "{path}");
    }
    // The tutorial's five endpoints are there, as are this crate's others.
    for (path, method) in [
        ("/api/csrf/", "GET"),
        ("/api/login/", "POST"),
        ("/api/logout/", "GET"),
        ("/api/logout/", "POST"),
        ("/api/session/", "GET"),
        ("/api/whoami/", "GET"),
        ("/api/auth/verify/", "GET"),
        ("/api/openapi.json", "GET"),
        ("/api/login/webauthn/", "POST"),
        ("/api/admin/users/{id}/", "PATCH"),
    ] {
        assert!(documented.contains(&(path.to_owned(), method.to_owned())), "{method} {path}");
    }
}

#[tokio::test]
async fn the_document_is_openapi_3_1_served_without_cookies_in_every_preset() {
    for preset in Preset::ALL {
        let mut app = TestApp::new(preset).await;
        let res = app.send(Method::GET, "/api/openapi.json", &[("origin", "http://localhost:5173")], None).await;
        assert_eq!(res.status, StatusCode::OK, "{preset}");
        assert!(res.header("content-type").unwrap().starts_with("application/json"), "{preset}");
        assert!(res.set_cookies().is_empty(), "{preset}: {:?}", res.set_cookies());
        let doc = res.json();
        assert_eq!(doc["openapi"], "3.1.0", "{preset}");
        assert!(doc["info"]["description"].as_str().unwrap().contains(preset.as_str()), "{preset}");
        // HTTP Basic is described where it is accepted, only there.
        assert_eq!(doc["components"]["securitySchemes"]["basic"].is_object(), preset == Preset::Rest, "{preset}");
        if preset == Preset::CrossOrigin {
            assert_eq!(res.header("access-control-allow-origin"), Some("http://localhost:5173"));
        }
    }
}

#[tokio::test]
async fn the_document_names_the_cookies_as_the_settings_do() {
    let settings = settings_for(Preset::SameOrigin, |raw| {
        raw.session.cookie.name = Some("__Host-sid".into());
        raw.csrf.cookie.name = Some("xsrf".into());
    });
    let mut app = TestApp::with_settings(settings).await;
    let schemes = document(&mut app).await["components"]["securitySchemes"].clone();
    assert_eq!(schemes["session"]["in"], "cookie");
    assert_eq!(schemes["session"]["name"], "__Host-sid");
    assert_eq!(schemes["csrfCookie"]["name"], "xsrf");
    assert_eq!(schemes["csrfHeader"]["in"], "header");
    assert_eq!(schemes["csrfHeader"]["name"], "X-CSRFToken");
}

/// Every `$ref` in `v`.
fn refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get("$ref") {
                out.push(r.clone());
            }
            m.values().for_each(|v| refs(v, out));
        }
        Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[tokio::test]
async fn every_operation_describes_its_answers_and_errors_and_every_reference_resolves() {
    let mut app = TestApp::new(Preset::Embedded).await;
    let doc = document(&mut app).await;
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(!all.is_empty());
    for r in all {
        let name = r.strip_prefix("#/components/schemas/").unwrap_or_else(|| panic!("{r}"));
        assert!(doc["components"]["schemas"][name].is_object(), "{r} does not resolve");
    }
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let responses = op["responses"].as_object().unwrap();
            // The OpenID Connect start and callback are browser navigations:
            // their answer is a redirect (with a Location), not a body.
            let ok: Vec<_> = responses.keys().filter(|s| s.starts_with('2') || *s == "302").collect();
            assert!(!ok.is_empty(), "{method} {path}: no success answer");
            for (status, res) in responses {
                if status == "302" {
                    assert!(res["headers"]["Location"].is_object(), "{method} {path}: a redirect without its Location");
                    continue;
                }
                if status == "204" {
                    continue;
                }
                assert!(res["content"]["application/json"]["schema"].is_object(), "{method} {path} {status}: no body");
                // The readiness probe answers its own shape, 503 included.
                let probe = path == "/readyz" || path == "/api/health/";
                if (status.starts_with('4') || status.starts_with('5')) && !probe {
                    assert_eq!(
                        res["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/Error",
                        "{method} {path} {status}"
                    );
                }
            }
            assert!(responses.contains_key("503"), "{method} {path}: a store may not answer");
            // Every unsafe method of the API layer: CSRF, and the body limits.
            let in_api_layer = path.starts_with("/api/") && path != "/api/auth/verify/" && path != "/api/openapi.json";
            if method != "get" && in_api_layer {
                for status in ["403", "413", "415"] {
                    assert!(responses.contains_key(status), "{method} {path}: {status}");
                }
                for requirement in op["security"].as_array().unwrap() {
                    assert!(requirement["csrfHeader"].is_array(), "{method} {path}: {requirement}");
                }
            }
        }
    }
    // The error shape and the tutorial's session answer.
    let schemas = &doc["components"]["schemas"];
    let required = |name: &str| -> Vec<String> {
        schemas[name]["required"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(required("Error"), ["detail", "code"]);
    assert!(required("Session").contains(&"isAuthenticated".to_owned()));
    assert!(schemas["Session"]["properties"]["isAuthenticated"]["type"] == "boolean");
}

#[tokio::test]
async fn the_csrf_endpoint_documents_its_token_header() {
    let mut app = TestApp::new(Preset::SameOrigin).await;
    let doc = document(&mut app).await;
    let ok = &doc["paths"]["/api/csrf/"]["get"]["responses"]["200"];
    assert!(ok["headers"]["X-CSRFToken"].is_object(), "{ok}");
}

mod documented_codes {
    use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
    use latchkey::settings::Preset;

    use crate::helpers::*;

    fn error(status: StatusCode, code: &str) -> Res {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let body = serde_json::json!({ "detail": "planted", "code": code }).to_string().into_bytes();
        Res { status, headers, body }
    }

    #[tokio::test]
    async fn a_code_the_operation_documents_or_derives_passes_the_check_every_request_runs() {
        let app = TestApp::new(Preset::SameOrigin).await;
        // Listed by hand, and derived (a body, an unsafe method, the session scheme).
        for (status, code) in [
            (StatusCode::BAD_REQUEST, "invalid_credentials"),
            (StatusCode::BAD_REQUEST, "parse_error"),
            (StatusCode::FORBIDDEN, "csrf_failed"),
            (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        ] {
            assert_documented(&app.lk, &Method::POST, "/api/login/", &error(status, code));
        }
        assert_documented(&app.lk, &Method::GET, "/api/sessions/", &error(StatusCode::FORBIDDEN, "not_authenticated"));
    }

    #[tokio::test]
    #[should_panic(expected = "which the operation does not document for that status")]
    async fn a_planted_undocumented_code_fails_the_check() {
        let app = TestApp::new(Preset::SameOrigin).await;
        assert_documented(&app.lk, &Method::POST, "/api/login/", &error(StatusCode::BAD_REQUEST, "invalid_name"));
    }

    #[tokio::test]
    #[should_panic(expected = "which its operation does not document")]
    async fn a_planted_undocumented_status_fails_the_check() {
        let app = TestApp::new(Preset::SameOrigin).await;
        assert_documented(&app.lk, &Method::GET, "/api/csrf/", &error(StatusCode::CONFLICT, "conflict"));
    }
}

/// The SPA's words for error codes (frontend/src/ui/messages.ts, the one map
/// the SPA and the admin read) name only codes the server documents: words
/// for a code nothing sends are a code renamed on one side only.
#[tokio::test]
async fn every_code_the_spa_has_words_for_is_one_the_server_documents() {
    let app = TestApp::new(Preset::Rest).await;
    let doc = serde_json::to_string(&latchkey::http::openapi::document(app.lk.settings())).unwrap();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../frontend/src/ui/messages.ts");
    let words = std::fs::read_to_string(path).unwrap();
    // The keys of its tables: `  some_code: "…"` or `  some_code: (e) => …`.
    let codes: Vec<&str> = words
        .lines()
        .filter_map(|l| l.strip_prefix("  ")?.split_once(": ").map(|(k, _)| k))
        .filter(|k| !k.is_empty() && k.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
        .collect();
    assert!(codes.len() >= 10, "the tables were not found: {codes:?}");
    for code in codes {
        assert!(doc.contains(&format!("`{code}`")), "the SPA has words for {code:?}, which no operation documents");
    }
}
