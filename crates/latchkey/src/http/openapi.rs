//! The OpenAPI 3.1 document of the API (`GET /api/openapi.json`).
//!
//! Generated, not written: every route is registered through
//! [`utoipa_axum::routes!`], which adds the handler to the router and its
//! `#[utoipa::path]` operation to the document in one step, so a route
//! cannot be served without being described. What is the same for every
//! operation is added here once ([`document`]): the errors any request can
//! meet (a refused `Host`, a CSRF failure on an unsafe method, a body too
//! large or not JSON, a store that does not answer), the CSRF header and
//! the cookies, named as the settings name them.

use std::{borrow::Cow, sync::OnceLock};

use axum::Json;
use serde::Serialize;
use utoipa::{
    PartialSchema, ToSchema,
    openapi::{
        Components, ContentBuilder, HttpMethod, Info, OpenApi, Ref, RefOr, ResponseBuilder,
        path::{Operation, ParameterIn},
        security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme},
    },
};

use crate::{http::routes::health, settings::Settings};

/// `{"detail"}`: the answer of most actions, a sentence for people.
#[derive(Debug, Serialize, ToSchema)]
pub struct Detail {
    /// What happened, in words.
    pub detail: Cow<'static, str>,
}

impl Detail {
    /// The JSON answer `{"detail": …}`.
    pub fn json(detail: impl Into<Cow<'static, str>>) -> Json<Self> {
        Json(Self { detail: detail.into() })
    }
}

/// One reason behind a 400 (a password validator's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Problem {
    /// Django's validator code, e.g. `password_too_short`.
    pub code: String,
    /// Django's words.
    pub message: String,
}

/// Every error: `detail` for people, `code` for programs, and for some
/// codes one more member. [`crate::http::ApiError`] answers exactly this.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Error)]
pub struct ErrorBody {
    /// What went wrong, in words (Django's or DRF's where they have them).
    #[schema(value_type = String)]
    pub detail: Cow<'static, str>,
    /// A stable word: `csrf_failed`, `invalid_credentials`, `throttled`, `mfa_required`, …
    pub code: &'static str,
    /// `password_invalid`: each validator's objection.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false, nullable = false)]
    pub errors: Option<Vec<Problem>>,
    /// `mfa_required`: the second factors the user can prove (`totp`, `webauthn`, `recovery_code`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false, nullable = false)]
    pub methods: Option<Vec<&'static str>>,
    /// `invalid_field`, `unknown_field`, `invalid_email` (admin): the field at fault.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false, nullable = false)]
    pub field: Option<String>,
    /// `invalid_parameter`: the query parameter at fault.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false, nullable = false)]
    pub parameter: Option<String>,
    /// `not_authenticated` from `/api/session/` (rest preset): whether anyone may sign up.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false, nullable = false)]
    pub signup_open: Option<bool>,
    /// With `signupOpen`: `none`, `optional` or `mandatory`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false, nullable = false)]
    pub email_verification: Option<String>,
    /// With `signupOpen`: a sign-in waits for its second factor (these methods).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false, nullable = false)]
    pub mfa_pending: Option<Vec<&'static str>>,
}

// The security schemes' names; operations name `session` in their
// `#[utoipa::path]` (which takes only literals).
const SESSION: &str = "session";
const BASIC: &str = "basic";
const CSRF_HEADER: &str = "csrfHeader";
const CSRF_COOKIE: &str = "csrfCookie";

/// The document's parts that do not depend on the settings, built once.
fn base() -> &'static OpenApi {
    static BASE: OnceLock<OpenApi> = OnceLock::new();
    BASE.get_or_init(|| {
        let mut doc = super::routes::api_routes().into_openapi();
        doc.merge(health::routes().into_openapi());
        let components = doc.components.get_or_insert_with(Components::new);
        for (name, schema) in
            [("Error", <ErrorBody as PartialSchema>::schema()), ("Problem", <Problem as PartialSchema>::schema())]
        {
            components.schemas.insert(name.to_owned(), schema);
        }
        for (path, item) in doc.paths.paths.iter_mut() {
            for (method, op) in operations(item) {
                add_common_responses(path, method, op);
            }
        }
        doc
    })
}

fn operations(item: &mut utoipa::openapi::PathItem) -> Vec<(HttpMethod, &mut Operation)> {
    [
        (HttpMethod::Get, &mut item.get),
        (HttpMethod::Post, &mut item.post),
        (HttpMethod::Put, &mut item.put),
        (HttpMethod::Patch, &mut item.patch),
        (HttpMethod::Delete, &mut item.delete),
    ]
    .into_iter()
    .filter_map(|(m, op)| op.as_mut().map(|op| (m, op)))
    .collect()
}

fn error_response(description: &str) -> RefOr<utoipa::openapi::Response> {
    ResponseBuilder::new()
        .description(description)
        .content("application/json", ContentBuilder::new().schema(Some(Ref::from_schema_name("Error"))).build())
        .build()
        .into()
}

/// The error codes a response's description names: the words in backticks
/// (`` `invalid_code` ``), as every error response writes them. The tests hold
/// each answer's code to these.
pub fn documented_codes(description: &str) -> impl Iterator<Item = &str> {
    description.split('`').skip(1).step_by(2)
}

/// The errors an operation can meet because of what it is, derived from the
/// operation rather than listed by hand: any request (a refused `Host`, a
/// store that does not answer), one with a body (the [`Body`] extractor's
/// codes), an unsafe method behind the API layer (CSRF, body size and type),
/// one that names the `session` scheme (no user). Where the operation
/// already documents the status, the codes are added to its description;
/// otherwise the status is added.
///
/// [`Body`]: crate::http::extract::Body
fn add_common_responses(path: &str, method: HttpMethod, op: &mut Operation) {
    let unsafe_method = !matches!(method, HttpMethod::Get | HttpMethod::Head);
    // Outside the API layer (no CSRF check, no body): forward auth, the
    // document itself and the probes.
    let api_layer = path.starts_with("/api/") && !matches!(path, "/api/auth/verify/" | "/api/openapi.json");
    let mut common: Vec<(&str, Vec<(&str, &str)>)> =
        vec![("400", vec![("disallowed_host", "the `Host` is not in `allowed_hosts`")])];
    let in_path =
        op.parameters.iter().flatten().any(|p| matches!(p, RefOr::T(p) if p.parameter_in == ParameterIn::Path));
    if in_path {
        common[0].1.push(("bad_request", "a path parameter that is not valid UTF-8 once percent-decoded"));
    }
    if op.request_body.is_some() {
        common[0].1.push(("parse_error", "the body is not a JSON object, or a member has the wrong type"));
        common[0].1.push(("missing_fields", "a required member is missing or null"));
    }
    let mut forbidden = Vec::new();
    if unsafe_method && api_layer {
        forbidden.push((
            "csrf_failed",
            "the CSRF cookie or the `X-CSRFToken` header is missing or wrong, or the `Origin` is not trusted",
        ));
        forbidden.push(("cross_site_request", "the browser says the request comes from another site (Fetch Metadata)"));
        common.push(("413", vec![("payload_too_large", "the body is larger than `max_body_bytes`")]));
        common.push(("415", vec![("unsupported_media_type", "the body is not `application/json`")]));
    }
    // Operations name the scheme alone (`("session" = [])`), possibly beside `()`.
    let session = SecurityRequirement::new(SESSION, Vec::<String>::new());
    let names_session = op.security.iter().flatten().any(|req| *req == session);
    if names_session {
        forbidden.push(("not_authenticated", "the operation needs a signed-in user"));
    }
    if !forbidden.is_empty() {
        common.push(("403", forbidden));
    }
    common.push((
        "503",
        vec![
            ("unavailable", "a store does not answer; see `Retry-After`"),
            ("hasher_busy", "the hashing pool is full; see `Retry-After`"),
        ],
    ));
    for (status, codes) in common {
        let entry = op.responses.responses.entry(status.to_owned()).or_insert_with(|| error_response(""));
        let RefOr::T(response) = entry else { continue };
        let more: Vec<String> = codes
            .iter()
            .filter(|(code, _)| !documented_codes(&response.description).any(|named| named == *code))
            .map(|(code, why)| format!("`{code}`: {why}"))
            .collect();
        response.description = match (response.description.trim_end(), more.is_empty()) {
            (_, true) => continue,
            ("", false) => format!("{}.", more.join("; ")),
            (listed, false) => format!("{listed} Also {}.", more.join("; ")),
        };
    }
    if unsafe_method && api_layer {
        // A CSRF token goes with every unsafe request, signed in or not.
        let csrf = SecurityRequirement::new(CSRF_HEADER, Vec::<String>::new()).add(CSRF_COOKIE, Vec::<String>::new());
        let reqs = op.security.get_or_insert_with(Vec::new);
        if reqs.is_empty() {
            reqs.push(csrf);
        } else {
            for req in reqs.iter_mut() {
                *req =
                    std::mem::take(req).add(CSRF_HEADER, Vec::<String>::new()).add(CSRF_COOKIE, Vec::<String>::new());
            }
        }
    }
}

/// The route templates of the document: the fixed paths, and those with a
/// `{parameter}` segment split into segments.
struct Templates {
    fixed: std::collections::HashMap<&'static str, &'static str>,
    templated: Vec<(&'static str, Vec<&'static str>)>,
}

fn templates() -> &'static Templates {
    static TEMPLATES: OnceLock<Templates> = OnceLock::new();
    TEMPLATES.get_or_init(|| {
        let mut t = Templates { fixed: Default::default(), templated: Vec::new() };
        for path in base().paths.paths.keys() {
            let path: &'static str = path.as_str();
            if path.contains('{') {
                t.templated.push((path, path.split('/').collect()));
            } else {
                t.fixed.insert(path, path);
            }
        }
        t
    })
}

/// The route template a request path falls under, as metrics label it: a
/// documented path (`/api/sessions/{id}/`), `admin` for the admin's pages,
/// `other` for any other `/api/` path, else `spa` (the SPA and its files).
/// A fixed set, whatever the paths requested.
pub fn route_template(path: &str) -> &'static str {
    let t = templates();
    if let Some(fixed) = t.fixed.get(path) {
        return fixed;
    }
    if path.starts_with("/api/") {
        let segments: Vec<&str> = path.split('/').collect();
        let matches = |template: &[&str]| {
            template.len() == segments.len()
                && template.iter().zip(&segments).all(|(t, s)| t == s || (t.starts_with('{') && !s.is_empty()))
        };
        return t.templated.iter().find(|(_, tpl)| matches(tpl)).map_or("other", |(p, _)| p);
    }
    if path == "/admin" || path.starts_with("/admin/") { "admin" } else { "spa" }
}

/// The whole document for these settings: the cookies and the CSRF header
/// under the names this server uses.
pub fn document(settings: &Settings) -> OpenApi {
    let mut doc = base().clone();
    let mut info = Info::new("Latchkey", env!("CARGO_PKG_VERSION"));
    info.description = Some(format!(
        "Session-cookie authentication for single-page apps, wire-compatible with the Django tutorial's \
         `/api/csrf/`, `/api/login/`, `/api/logout/`, `/api/session/` and `/api/whoami/`. This server runs \
         the `{preset}` preset.\n\n\
         Signing in sets the HttpOnly `{session}` cookie. Every unsafe request (POST, PATCH, DELETE) carries \
         the CSRF token in the `X-CSRFToken` header: read it from the `{csrf}` cookie (embedded preset) or \
         from the `X-CSRFToken` header of `GET /api/csrf/` (every preset), and read it again after signing \
         in, as the secret changes. Errors are `{{\"detail\", \"code\"}}`.",
        preset = settings.preset,
        session = settings.session.cookie.name,
        csrf = settings.csrf.cookie.name,
    ));
    doc.info = info;
    let components = doc.components.get_or_insert_with(Components::new);
    let cookie = |name: &str, description: &str| {
        let mut key = ApiKeyValue::new(name);
        key.description = Some(description.to_owned());
        RefOr::T(SecurityScheme::ApiKey(ApiKey::Cookie(key)))
    };
    components.security_schemes.insert(
        SESSION.to_owned(),
        cookie(&settings.session.cookie.name, "The session cookie (HttpOnly), set by signing in."),
    );
    components.security_schemes.insert(
        CSRF_COOKIE.to_owned(),
        cookie(&settings.csrf.cookie.name, "The CSRF cookie, set by `GET /api/csrf/` and `GET /api/session/`."),
    );
    let mut header = ApiKeyValue::new("X-CSRFToken");
    header.description = Some("The CSRF token: the cookie's value, or the header `GET /api/csrf/` answers.".into());
    components
        .security_schemes
        .insert(CSRF_HEADER.to_owned(), RefOr::T(SecurityScheme::ApiKey(ApiKey::Header(header))));
    if settings.basic_auth() {
        components.security_schemes.insert(
            BASIC.to_owned(),
            RefOr::T(SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some(
                        "HTTP Basic (rest preset): a username and password on each request, accepted by \
                         `/api/session/` and `/api/whoami/`.",
                    ))
                    .build(),
            )),
        );
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::route_template;

    #[test]
    fn requests_are_labelled_by_their_route_template_from_a_fixed_set() {
        assert_eq!(route_template("/api/login/"), "/api/login/");
        assert_eq!(route_template("/api/sessions/abc123/"), "/api/sessions/{id}/");
        assert_eq!(route_template("/api/admin/users/42/password/"), "/api/admin/users/{id}/password/");
        assert_eq!(route_template("/api/sessions//"), "other");
        assert_eq!(route_template("/api/nope/"), "other");
        assert_eq!(route_template("/api/login"), "other");
        assert_eq!(route_template("/admin/users/3"), "admin");
        assert_eq!(route_template("/assets/index-abc.js"), "spa");
        assert_eq!(route_template("/healthz"), "/healthz");
    }
}
