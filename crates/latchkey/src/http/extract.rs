//! Extractors and request parsing: the request's user ([`MaybeUser`],
//! [`CurrentUser`], HTTP Basic in the rest preset), its [`Session`] and
//! [`CsrfToken`], and JSON bodies parsed into typed values at the edge.

use axum::{
    body::Bytes,
    extract::{FromRef, FromRequest, FromRequestParts, Request},
};
use base64::Engine;
use http::{HeaderMap, StatusCode, header, request::Parts};
use serde_json::Value;

use super::{ApiError, context::RequestContext};
use crate::{
    Latchkey,
    auth::AuthError,
    csrf::CsrfToken,
    password::RawPassword,
    session::{ClientInfo, Session, truncate_user_agent},
    state::{Outcome, Proof, Target, WayIn},
    users::User,
};

impl<S: Send + Sync> FromRequestParts<S> for Session {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Session>()
            .cloned()
            .ok_or_else(|| ApiError::internal("Session extractor used without session_middleware"))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for CsrfToken {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<CsrfToken>()
            .cloned()
            .ok_or_else(|| ApiError::internal("CsrfToken extractor used without csrf_middleware"))
    }
}

/// A JSON object request body.
///
/// Stricter than Django, which runs `json.loads` on any body and answers 500
/// when it fails: a non-empty body must be sent as `application/json` (415
/// otherwise, which also stops `text/plain` login CSRF), and anything that is
/// not a JSON object is a 400 with a `detail`.
#[derive(Debug)]
pub struct JsonObject(pub serde_json::Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for JsonObject {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = req.headers().get(header::CONTENT_TYPE).map(|v| v.to_str().unwrap_or("?").to_owned());
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "Request body is too large.")
            } else {
                ApiError::bad_request("parse_error", "The request body could not be read.")
            }
        })?;
        parse_json_object(content_type.as_deref(), &bytes).map(JsonObject)
    }
}

/// The body rules of [`JsonObject`], on bytes already read.
///
/// # Errors
/// 400 for an empty, malformed or non-object body; 415 for a non-JSON type.
pub fn parse_json_object(content_type: Option<&str>, bytes: &[u8]) -> Result<serde_json::Map<String, Value>, ApiError> {
    if bytes.is_empty() {
        return Err(ApiError::bad_request(
            "parse_error",
            "JSON parse error - the request body is empty; send a JSON object.",
        ));
    }
    let is_json = content_type.is_some_and(|ct| {
        let essence = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
    });
    if !is_json {
        let shown: String = content_type.unwrap_or_default().chars().take(100).filter(|c| !c.is_control()).collect();
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!("Unsupported media type \"{shown}\" in request; send application/json."),
        ));
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::bad_request("parse_error", "JSON parse error - expected a JSON object.")),
        Err(e) => Err(ApiError::bad_request("parse_error", format!("JSON parse error - {e}"))),
    }
}

/// A login request, parsed.
#[derive(Debug)]
pub struct LoginBody {
    /// As submitted.
    pub username: String,
    /// As submitted.
    pub password: RawPassword,
    /// Persistent cookie (default) or browser-session cookie.
    pub remember: bool,
}

/// Reads the login fields the tutorial defines, plus the optional `remember`.
///
/// # Errors
/// 400 with Django's "Please provide username and password." when one is
/// missing or null; 400 `parse_error` for wrong types.
pub fn parse_login_fields(body: &serde_json::Map<String, Value>) -> Result<LoginBody, ApiError> {
    let username = string_field(body, "username")?;
    let password = string_field(body, "password")?;
    let (Some(username), Some(password)) = (username, password) else {
        return Err(ApiError::bad_request("missing_credentials", "Please provide username and password."));
    };
    let remember = match body.get("remember") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(ApiError::bad_request("parse_error", "\"remember\" must be true or false.")),
    };
    Ok(LoginBody { username, password: RawPassword::new(password), remember })
}

/// The whole login body pipeline on raw bytes (used by the fuzz target).
///
/// # Errors
/// As [`parse_json_object`] and [`parse_login_fields`].
pub fn parse_login_body(content_type: Option<&str>, bytes: &[u8]) -> Result<LoginBody, ApiError> {
    parse_login_fields(&parse_json_object(content_type, bytes)?)
}

/// The string fields `names` of a JSON body, all required.
///
/// # Errors
/// 400 `missing_fields` naming them when one is missing or null; 400
/// `parse_error` for a non-string.
pub fn required_strings<const N: usize>(
    body: &serde_json::Map<String, Value>,
    names: [&str; N],
) -> Result<[String; N], ApiError> {
    let mut out: [String; N] = std::array::from_fn(|_| String::new());
    for (slot, name) in out.iter_mut().zip(names) {
        match string_field(body, name)? {
            Some(v) => *slot = v,
            None => {
                let list = names.map(|n| format!("\"{n}\"")).join(" and ");
                return Err(ApiError::bad_request("missing_fields", format!("Please provide {list}.")));
            }
        }
    }
    Ok(out)
}

fn string_field(body: &serde_json::Map<String, Value>, name: &str) -> Result<Option<String>, ApiError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ApiError::bad_request("parse_error", format!("\"{name}\" must be a string."))),
    }
}

/// The user of the request: the session's, or, where HTTP Basic is
/// enabled (rest preset), the one named by valid Basic credentials.
///
/// # Errors
/// 403 for bad Basic credentials; 503 for store failures.
pub async fn request_user(
    lk: &Latchkey,
    session: &Session,
    headers: &HeaderMap,
    client: Option<std::net::IpAddr>,
) -> Result<Option<User>, ApiError> {
    if let Some(user) = lk.session_user(session).await? {
        return Ok(Some(user));
    }
    if !lk.settings().basic_auth() {
        return Ok(None);
    }
    let Some((username, password)) = basic_credentials(headers)? else {
        return Ok(None);
    };
    let proof = Proof::Password { username: &username, password: &password, device_cookie: None };
    let client = ClientInfo { ip: client, user_agent: None };
    // The pipeline's refusals (an unverified address, a second factor that
    // Basic cannot carry) are Basic's too; only the wrong password keeps
    // DRF's wording.
    match lk.sign_in(WayIn::Basic, proof, Target::Request, &client).await {
        Ok(Outcome::SignedIn(signed_in)) => Ok(Some(signed_in.user)),
        Ok(Outcome::SecondFactor { .. }) => Err(AuthError::SecondFactorUnsupported.into()),
        Err(AuthError::InvalidCredentials) => {
            Err(ApiError::forbidden("authentication_failed", "Invalid username/password."))
        }
        Err(e) => Err(e.into()),
    }
}

/// Parses `Authorization: Basic …` with DRF's error texts. `Ok(None)` when
/// there is no Basic header.
///
/// # Errors
/// 403 with DRF's message for a malformed header.
pub fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, RawPassword)>, ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().unwrap_or("");
    let mut parts = value.split(' ');
    if !parts.next().is_some_and(|s| s.eq_ignore_ascii_case("basic")) {
        return Ok(None);
    }
    let rest: Vec<&str> = parts.collect();
    let bad = |m: &'static str| ApiError::forbidden("authentication_failed", m);
    match rest.len() {
        0 => return Err(bad("Invalid basic header. No credentials provided.")),
        1 => {}
        _ => {
            return Err(bad("Invalid basic header. Credentials string should not include spaces."));
        }
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(rest[0])
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| bad("Invalid basic header. Credentials not correctly base64 encoded."))?;
    let (user, pass) = decoded
        .split_once(':')
        .ok_or_else(|| bad("Invalid basic header. Credentials not correctly base64 encoded."))?;
    Ok(Some((user.to_owned(), RawPassword::new(pass))))
}

/// Who is on the other end: the client address (after `trusted_proxies`)
/// and the `User-Agent`, cut to 256 bytes.
#[derive(Debug, Clone)]
pub struct Client(pub ClientInfo);

impl<S: Send + Sync> FromRequestParts<S> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let ip = parts.extensions.get::<RequestContext>().and_then(|c| c.client_ip);
        // A header that is not valid UTF-8 is read lossily: it is only shown.
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| truncate_user_agent(&String::from_utf8_lossy(v.as_bytes())));
        Ok(Client(ClientInfo { ip, user_agent }))
    }
}

/// The user of the request's session, and only of its session: HTTP Basic
/// never counts here, so it cannot bypass re-authentication or the other
/// checks a session carries. Anonymous requests get the 403
/// `not_authenticated` of [`CurrentUser`].
#[derive(Debug, Clone)]
pub struct SessionUser(pub User);

impl<S> FromRequestParts<S> for SessionUser
where
    S: Send + Sync,
    Latchkey: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let SetupUser(user) = SetupUser::from_request_parts(parts, state).await?;
        let lk = Latchkey::from_ref(state);
        if lk.mfa_setup_required(&user).await? {
            return Err(AuthError::MfaSetupRequired.into());
        }
        Ok(SessionUser(user))
    }
}

/// As [`SessionUser`], but also a staff user who must set up a second
/// factor first (`mfa.required_for_staff`): for the routes that set one up,
/// and the re-authentication they need.
#[derive(Debug, Clone)]
pub struct SetupUser(pub User);

impl<S> FromRequestParts<S> for SetupUser
where
    S: Send + Sync,
    Latchkey: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let lk = Latchkey::from_ref(state);
        let session = Session::from_request_parts(parts, state).await?;
        match lk.session_user(&session).await? {
            Some(u) => Ok(SetupUser(u)),
            None => Err(ApiError::not_authenticated()),
        }
    }
}

/// The request's user, if any; never rejects for being anonymous.
#[derive(Debug, Clone)]
pub struct MaybeUser(pub Option<User>);

/// The request's user; anonymous requests get 403
/// `{"detail": "Authentication credentials were not provided.", "code": "not_authenticated"}`.
#[derive(Debug, Clone)]
pub struct CurrentUser(pub User);

impl<S> FromRequestParts<S> for MaybeUser
where
    S: Send + Sync,
    Latchkey: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(cached) = parts.extensions.get::<MaybeUser>() {
            return Ok(cached.clone());
        }
        let lk = Latchkey::from_ref(state);
        let session = Session::from_request_parts(parts, state).await?;
        let client = parts.extensions.get::<RequestContext>().and_then(|c| c.client_ip);
        let user = MaybeUser(request_user(&lk, &session, &parts.headers, client).await?);
        parts.extensions.insert(user.clone());
        Ok(user)
    }
}

impl<S> FromRequestParts<S> for CurrentUser
where
    S: Send + Sync,
    Latchkey: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match MaybeUser::from_request_parts(parts, state).await?.0 {
            Some(u) if Latchkey::from_ref(state).mfa_setup_required(&u).await? => {
                Err(AuthError::MfaSetupRequired.into())
            }
            Some(u) => Ok(CurrentUser(u)),
            None => Err(ApiError::not_authenticated()),
        }
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn h(v: &'static str) -> HeaderMap {
        let mut m = HeaderMap::new();
        m.insert(header::AUTHORIZATION, HeaderValue::from_static(v));
        m
    }

    #[test]
    fn basic_credentials_are_decoded() {
        let (u, p) = basic_credentials(&h("Basic ZGVtbzpzZWNyZXQ6d2l0aDpjb2xvbnM=")).unwrap().unwrap();
        assert_eq!(u, "demo");
        assert_eq!(p.expose(), "secret:with:colons");
        assert!(basic_credentials(&HeaderMap::new()).unwrap().is_none());
        assert!(basic_credentials(&h("Bearer abc")).unwrap().is_none());
    }

    #[test]
    fn malformed_basic_headers_get_drfs_messages() {
        assert!(basic_credentials(&h("Basic")).unwrap_err().detail().contains("No credentials"));
        assert!(basic_credentials(&h("Basic a b")).unwrap_err().detail().contains("spaces"));
        assert!(basic_credentials(&h("Basic !!!")).unwrap_err().detail().contains("base64"));
        assert!(basic_credentials(&h("Basic bm9jb2xvbg==")).unwrap_err().detail().contains("base64"));
    }
}
