//! Extractors and request parsing: the request's user ([`MaybeUser`],
//! [`CurrentUser`], HTTP Basic in the rest preset), its [`Session`] and
//! [`CsrfToken`], and JSON bodies parsed into typed values at the edge.

use axum::{
    body::Bytes,
    extract::{FromRef, FromRequest, FromRequestParts, Request},
};
use base64::Engine;
use http::{HeaderMap, StatusCode, header, request::Parts};
use serde::{Deserialize, de::DeserializeOwned};
use serde_json::Value;
use utoipa::{
    PartialSchema, ToSchema,
    openapi::{RefOr, schema::Schema},
};

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

/// A request body: a JSON object read into the typed `T` at the edge.
///
/// Stricter than Django, which runs `json.loads` on any body and answers 500
/// when it fails: a non-empty body must be sent as `application/json` (415
/// otherwise, which also stops `text/plain` login CSRF), and anything that is
/// not a JSON object is a 400 with a `detail`. Then, in the order the fields
/// come: a field of the wrong type is 400 `parse_error` naming it ("\"name\"
/// must be a string."); a required field missing or null is
/// [`RequestBody::missing`] (400 `missing_fields` naming the required ones,
/// which `T`'s schema lists: the documented body and the parsed one are one
/// type). Unknown fields are ignored, as Django's `request.data.get` does.
#[derive(Debug)]
pub struct Body<T>(pub T);

/// A typed request body: what [`Body`] reads.
pub trait RequestBody: DeserializeOwned + PartialSchema {
    /// The refusal when a required field is missing or null: by default 400
    /// `missing_fields`, "Please provide \"a\" and \"b\"." naming the
    /// schema's required fields.
    fn missing() -> ApiError {
        let list: Vec<String> = required_fields::<Self>().iter().map(|n| format!("\"{n}\"")).collect();
        ApiError::bad_request("missing_fields", format!("Please provide {}.", list.join(" and ")))
    }
}

/// The required fields of `T`'s schema, in their order.
fn required_fields<T: PartialSchema>() -> Vec<String> {
    match T::schema() {
        RefOr::T(Schema::Object(object)) => object.required,
        _ => Vec::new(),
    }
}

impl<S: Send + Sync, T: RequestBody> FromRequest<S> for Body<T> {
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
        parse_body(content_type.as_deref(), &bytes).map(Body)
    }
}

/// The rules of [`Body`] on bytes already read (the fuzz target's entry).
///
/// # Errors
/// 415 for a non-JSON type; 400 for an empty, malformed or non-object body,
/// a field of the wrong type, or a required field missing.
pub fn parse_body<T: RequestBody>(content_type: Option<&str>, bytes: &[u8]) -> Result<T, ApiError> {
    let object = parse_json_object(content_type, bytes)?;
    serde_path_to_error::deserialize(Value::Object(object)).map_err(|e| field_error::<T>(&e))
}

/// The refusal for a body that does not deserialize as `T`.
fn field_error<T: RequestBody>(e: &serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let why = e.inner().to_string();
    // A required field absent, or null (Django reads both as None).
    if why.starts_with("missing field") || why.starts_with("invalid type: null") {
        return T::missing();
    }
    let field = e.path().to_string();
    let must = if why.contains("expected a string") {
        "must be a string".to_owned()
    } else if why.contains("expected a boolean") {
        "must be true or false".to_owned()
    } else if why.contains("expected a map") {
        "must be an object".to_owned()
    } else {
        format!("is not valid: {why}")
    };
    ApiError::bad_request("parse_error", format!("\"{field}\" {must}."))
}

/// The object rules of [`Body`], before the fields are read.
fn parse_json_object(content_type: Option<&str>, bytes: &[u8]) -> Result<serde_json::Map<String, Value>, ApiError> {
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

/// The tutorial's login body, plus the optional `remember`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginRequest {
    /// The username, as typed.
    pub username: String,
    /// The password, as typed.
    #[schema(value_type = String, format = Password)]
    pub password: RawPassword,
    /// A persistent cookie (default) or one that ends with the browser.
    #[schema(required = false, default = true)]
    pub remember: Option<bool>,
}

impl RequestBody for LoginRequest {
    /// Django's words.
    fn missing() -> ApiError {
        ApiError::bad_request("missing_credentials", "Please provide username and password.")
    }
}

/// The whole login body pipeline on raw bytes (used by the fuzz target).
///
/// # Errors
/// As [`parse_body`].
pub fn parse_login_body(content_type: Option<&str>, bytes: &[u8]) -> Result<LoginRequest, ApiError> {
    parse_body(content_type, bytes)
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
    if let Some(user) = lk.session_auth().session_user(session).await? {
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
    match lk.signin().sign_in(WayIn::Basic, proof, Target::Request, &client).await {
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
        if lk.factors().mfa_setup_required(&user).await? {
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
        match lk.session_auth().session_user(&session).await? {
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
            Some(u) if Latchkey::from_ref(state).factors().mfa_setup_required(&u).await? => {
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

    #[derive(Debug, Deserialize, ToSchema)]
    #[serde(rename_all = "camelCase")]
    struct Change {
        current_password: String,
        new_password: String,
        #[schema(required = false)]
        note: Option<String>,
        #[schema(required = false)]
        remember: Option<bool>,
        #[schema(required = false)]
        credential: Option<serde_json::Map<String, Value>>,
    }
    impl RequestBody for Change {}

    fn change(body: &str) -> Result<Change, (String, String)> {
        parse_body::<Change>(Some("application/json"), body.as_bytes())
            .map_err(|e| (e.code().to_owned(), e.detail().to_owned()))
    }

    fn refusal(code: &str, detail: &str) -> Result<Change, (String, String)> {
        Err((code.to_owned(), detail.to_owned()))
    }

    #[test]
    fn a_missing_or_null_required_field_names_every_required_field_of_the_schema() {
        let all = "Please provide \"currentPassword\" and \"newPassword\".";
        assert!(matches!(change(r#"{"currentPassword": "a"}"#), Err((c, d)) if c == "missing_fields" && d == all));
        assert!(
            matches!(change(r#"{"currentPassword": "a", "newPassword": null}"#), Err((c, d)) if c == "missing_fields" && d == all)
        );
        assert!(matches!(change("{}"), Err((c, d)) if c == "missing_fields" && d == all));
    }

    #[test]
    fn a_field_of_the_wrong_type_is_named_in_the_usual_words() {
        let cases = [
            (r#"{"currentPassword": 1, "newPassword": "b"}"#, "\"currentPassword\" must be a string."),
            (
                r#"{"currentPassword": "a", "newPassword": "b", "remember": "yes"}"#,
                "\"remember\" must be true or false.",
            ),
            (r#"{"currentPassword": "a", "newPassword": "b", "credential": []}"#, "\"credential\" must be an object."),
        ];
        for (body, detail) in cases {
            assert_eq!(change(body).map(|_| ()), refusal("parse_error", detail).map(|_| ()), "{body}");
        }
    }

    #[test]
    fn optional_fields_may_be_absent_or_null_and_unknown_fields_are_ignored() {
        let c = change(r#"{"currentPassword": "a", "newPassword": "b", "note": null, "extra": [1]}"#).unwrap();
        assert_eq!((c.current_password.as_str(), c.new_password.as_str(), c.note, c.remember), ("a", "b", None, None));
        assert!(c.credential.is_none());
    }

    #[test]
    fn the_login_body_keeps_djangos_words_and_the_body_rules() {
        let login = |ct: Option<&str>, body: &str| {
            parse_login_body(ct, body.as_bytes()).map_err(|e| (e.code().to_owned(), e.detail().to_owned()))
        };
        let l = login(Some("application/json"), r#"{"username": "u", "password": "p"}"#).unwrap();
        assert_eq!((l.username.as_str(), l.password.expose(), l.remember), ("u", "p", None));
        let missing = ("missing_credentials".to_owned(), "Please provide username and password.".to_owned());
        assert_eq!(login(Some("application/json"), r#"{"username": "u"}"#).unwrap_err(), missing);
        assert_eq!(login(Some("application/json"), r#"{"username": "u", "password": null}"#).unwrap_err(), missing);
        assert_eq!(login(Some("text/plain"), "{}").unwrap_err().0, "unsupported_media_type");
        assert_eq!(login(Some("application/json"), "").unwrap_err().0, "parse_error");
        assert_eq!(login(Some("application/json"), "[1]").unwrap_err().1, "JSON parse error - expected a JSON object.");
        assert_eq!(
            login(Some("application/json"), r#"{"username": 5, "password": "p"}"#).unwrap_err().1,
            "\"username\" must be a string."
        );
    }

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

/// Each feature service is axum state of its own, taken from [`Latchkey`]:
/// a handler of a `Router<Latchkey>` takes `State<Accounts>` and can touch
/// only what [`crate::Accounts`] holds.
macro_rules! services_from_latchkey {
    ($($service:ident => $accessor:ident),* $(,)?) => {
        $(impl FromRef<Latchkey> for crate::$service {
            fn from_ref(lk: &Latchkey) -> Self {
                lk.$accessor().clone()
            }
        })*
    };
}

services_from_latchkey! {
    Core => core,
    SessionAuth => session_auth,
    Passwords => passwords,
    Mailing => mailing,
    SignIn => signin,
    SecondFactors => factors,
    Accounts => accounts,
    Recovery => recovery,
    Registration => registration,
    Admin => admin,
    Oidc => oidc,
}
