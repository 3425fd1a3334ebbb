use std::{collections::HashMap, sync::Arc};

use axum::{Router, body::Body};
use http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::BodyExt;
pub use latchkey::testing::{PASSWORD, USER};
use latchkey::{
    Latchkey, MockClock, Settings,
    settings::{Preset, RawSettings},
    store::Database,
    testing::cheap_hashing,
    users::User,
};
use secrecy::SecretString;
use serde_json::Value;
use tower::ServiceExt;

/// A response, decoded.
#[derive(Debug)]
pub struct Res {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Res {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| panic!("not JSON: {:?}", String::from_utf8_lossy(&self.body)))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    pub fn set_cookies(&self) -> Vec<String> {
        self.headers.get_all(header::SET_COOKIE).iter().map(|v| v.to_str().unwrap().to_owned()).collect()
    }

    /// The `Set-Cookie` line for `name`, if any.
    pub fn set_cookie(&self, name: &str) -> Option<String> {
        self.set_cookies().into_iter().find(|c| c.starts_with(&format!("{name}=")))
    }

    pub fn detail(&self) -> String {
        self.json()["detail"].as_str().unwrap_or_default().to_owned()
    }

    pub fn code(&self) -> String {
        self.json()["code"].as_str().unwrap_or_default().to_owned()
    }

    pub fn vary_cookie(&self) -> bool {
        self.headers.get_all(header::VARY).iter().any(|v| v.to_str().unwrap().to_ascii_lowercase().contains("cookie"))
    }
}

/// An in-process app with a browser-like cookie jar.
pub struct TestApp {
    pub lk: Latchkey,
    pub router: Router,
    pub clock: MockClock,
    pub jar: HashMap<String, String>,
    pub host: String,
}

pub fn settings_for(preset: Preset, tweak: impl FnOnce(&mut RawSettings)) -> Settings {
    let mut raw = RawSettings {
        preset: Some(preset.as_str().into()),
        database_url: Some("sqlite::memory:".into()),
        secret_key: Some("integration-test-secret-key-0123456789abcdef".into()),
        ..Default::default()
    };
    cheap_hashing(&mut raw);
    if preset == Preset::CrossOrigin {
        raw.allowed_origins = vec!["http://localhost:5173".into()];
    }
    tweak(&mut raw);
    raw.validate().unwrap()
}

impl TestApp {
    pub async fn new(preset: Preset) -> Self {
        Self::with_settings(settings_for(preset, |_| {})).await
    }

    pub async fn with_settings(settings: Settings) -> Self {
        let db = Database::connect(&settings.database_url, true).await.unwrap();
        db.migrate().await.unwrap();
        let app = Self::on(settings, db.stores());
        app.create_user(USER, PASSWORD).await;
        app
    }

    /// An app on the given stores, as they are (no migration, no user).
    pub fn on(settings: Settings, stores: latchkey::Stores) -> Self {
        let clock = MockClock::default();
        let key: SecretString = settings.secret_key.clone().expect("test settings carry a key");
        let lk = Latchkey::new(settings, stores, Arc::new(clock.clone()), key).unwrap();
        let router = latchkey::http::build_router(&lk);
        TestApp { lk, router, clock, jar: HashMap::new(), host: "localhost:8000".into() }
    }

    /// Another browser on the same app: same server, an empty cookie jar.
    pub fn browser(&self) -> TestApp {
        TestApp {
            lk: self.lk.clone(),
            router: self.router.clone(),
            clock: self.clock.clone(),
            jar: HashMap::new(),
            host: self.host.clone(),
        }
    }

    /// A request with a CSRF token (fetched first) and a JSON body.
    pub async fn unsafe_json(&mut self, method: Method, path: &str, body: &str) -> Res {
        let token = self.csrf_token().await;
        let headers = [("content-type", "application/json"), ("x-csrftoken", token.as_str())];
        self.send(method, path, &headers, Some(body)).await
    }

    pub async fn create_user(&self, name: &str, password: &str) -> User {
        latchkey::testing::create_user(&self.lk, name, password).await
    }

    /// Sends a request with the jar's cookies; stores cookies from the answer.
    pub async fn send(&mut self, method: Method, path: &str, headers: &[(&str, &str)], body: Option<&str>) -> Res {
        let sent = method.clone();
        let mut req = Request::builder().method(method).uri(path).header(header::HOST, &self.host);
        if !self.jar.is_empty() {
            let cookie = self.jar.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ");
            req = req.header(header::COOKIE, cookie);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req.body(body.map(|b| Body::from(b.to_owned())).unwrap_or_else(Body::empty)).unwrap();
        let res = self.router.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let body = res.into_body().collect().await.unwrap().to_bytes().to_vec();
        let res = Res { status, headers, body };
        assert_documented(&self.lk, &sent, path, &res);
        for c in res.set_cookies() {
            let pair = c.split(';').next().unwrap();
            let (k, v) = pair.split_once('=').unwrap();
            if v.is_empty() || c.contains("Max-Age=0") {
                self.jar.remove(k);
            } else {
                self.jar.insert(k.to_owned(), v.to_owned());
            }
        }
        res
    }

    pub async fn get(&mut self, path: &str) -> Res {
        self.send(Method::GET, path, &[], None).await
    }

    /// `GET /api/csrf/` and the token from its header.
    pub async fn csrf_token(&mut self) -> String {
        let res = self.get("/api/csrf/").await;
        assert_eq!(res.status, StatusCode::OK);
        res.header("x-csrftoken").unwrap().to_owned()
    }

    pub async fn post_json(&mut self, path: &str, token: &str, body: &str) -> Res {
        self.send(Method::POST, path, &[("content-type", "application/json"), ("x-csrftoken", token)], Some(body)).await
    }

    pub async fn login_as(&mut self, user: &str, password: &str) -> Res {
        let token = self.csrf_token().await;
        let body = serde_json::json!({ "username": user, "password": password }).to_string();
        self.post_json("/api/login/", &token, &body).await
    }

    pub async fn login(&mut self) -> Res {
        let res = self.login_as(USER, PASSWORD).await;
        assert_eq!(res.status, StatusCode::OK, "{:?}", res.json());
        res
    }

    pub fn session_cookie(&self) -> Option<String> {
        self.jar.get("sessionid").cloned()
    }
}

/// Standard base64, for HTTP Basic headers.
pub fn base64_encode(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// The value of one sample in `text` (`name{labels}`), 0 when absent.
pub fn sample(text: &str, series: &str) -> f64 {
    text.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok()).unwrap_or(0.0)
}

/// Every error a documented operation answers is documented for it: the
/// status among its responses, and the body's `code` among the codes that
/// response's description names (in backticks). Run on every request the
/// in-process tests send, so a handler that can return an undocumented code
/// fails the test that makes it.
pub fn assert_documented(lk: &Latchkey, method: &Method, uri: &str, res: &Res) {
    use std::sync::OnceLock;

    use latchkey::http::openapi::{document, documented_codes, route_template};
    use utoipa::openapi::{OpenApi, RefOr};
    static DOC: OnceLock<OpenApi> = OnceLock::new();
    let json = res.header("content-type").is_some_and(|t| t.starts_with("application/json"));
    if res.status.is_success() || res.status.is_redirection() || !json {
        return;
    }
    let doc = DOC.get_or_init(|| document(lk.settings()));
    let path = uri.split('?').next().unwrap_or(uri);
    let template = route_template(path);
    let Some(item) = doc.paths.paths.get(template) else { return };
    let op = match *method {
        Method::GET => &item.get,
        Method::POST => &item.post,
        Method::PUT => &item.put,
        Method::PATCH => &item.patch,
        Method::DELETE => &item.delete,
        _ => return,
    };
    let Some(op) = op else { return };
    // The probes are served by the server's health router, not the library's.
    if op.tags.iter().flatten().any(|t| t == "health") {
        return;
    }
    let Some(response) = op.responses.responses.get(res.status.as_str()) else {
        panic!("{method} {template} answered {} ({}), which its operation does not document", res.status, res.code());
    };
    let RefOr::T(response) = response else { return };
    let code = res.code();
    let named: Vec<&str> = documented_codes(&response.description).collect();
    assert!(
        named.contains(&code.as_str()),
        "{method} {template} answered {} with code {code:?}, which the operation does not document for that \
         status (documented: {named:?})",
        res.status
    );
}
