//! The one error type of the HTTP API and the one place that maps the
//! domain's errors to status codes.

use std::borrow::Cow;

use axum::{
    Json,
    response::{IntoResponse, Response},
};
use http::{HeaderName, HeaderValue, StatusCode, header};

use super::openapi::{ErrorBody, Problem};
use crate::{auth::AuthError, error::StoreError, password::HashError, users::UserStoreError};

/// The one error type of the HTTP API: JSON `{"detail": …, "code": …}`.
///
/// `detail` is for people (Django's or DRF's text where they have one);
/// `code` is a stable word for programs, so a client can tell a CSRF 403
/// from an authentication 403. 5xx bodies are always generic; the cause is
/// logged once, where the error is made.
#[derive(Debug, Clone)]
pub struct ApiError {
    status: StatusCode,
    // The body, as documented (boxed: a Result's error stays small).
    body: Box<ErrorBody>,
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl ApiError {
    /// An error with any status.
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<Cow<'static, str>>) -> Self {
        Self {
            status,
            body: Box::new(ErrorBody { detail: detail.into(), code, ..ErrorBody::default() }),
            headers: Vec::new(),
        }
    }

    /// 400.
    pub fn bad_request(code: &'static str, detail: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, detail)
    }

    /// 403.
    pub fn forbidden(code: &'static str, detail: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, detail)
    }

    /// 403 for a request without credentials (DRF's wording).
    pub fn not_authenticated() -> Self {
        Self::forbidden("not_authenticated", "Authentication credentials were not provided.")
    }

    /// 401 `mfa_required`: the first factor was right and the session holds
    /// the pending sign-in ([`crate::state::Outcome::SecondFactor`]); the
    /// client finishes with `POST /api/mfa/authenticate/`. No
    /// `WWW-Authenticate`: a browser must not answer it with its Basic
    /// prompt (the rest preset).
    pub fn second_factor_required(methods: &[&'static str]) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "mfa_required", "A second factor is required.")
            .with_members(|b| b.methods = Some(methods.to_vec()))
    }

    /// 500 with a generic body; `cause` is logged, never sent.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(target: "latchkey::api", error = %cause, "internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "server_error", "Internal server error.")
    }

    /// 503 with `Retry-After`; `cause` is logged, never sent.
    pub fn unavailable(cause: impl std::fmt::Display) -> Self {
        tracing::error!(target: "latchkey::api", error = %cause, "dependency unavailable");
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "Service temporarily unavailable, try again shortly.")
            .with_header(header::RETRY_AFTER, HeaderValue::from_static("1"))
    }

    /// Sets members of the body beside `detail` and `code` (facts a client
    /// needs even from an error: the field at fault, whether sign-up is
    /// open); each is a documented member of [`ErrorBody`].
    pub fn with_members(mut self, set: impl FnOnce(&mut ErrorBody)) -> Self {
        set(&mut self.body);
        self
    }

    /// The body's members, as they will be sent.
    pub fn body(&self) -> &ErrorBody {
        &self.body
    }

    /// Adds a response header.
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The machine-readable code.
    pub fn code(&self) -> &'static str {
        self.body.code
    }

    /// The human-readable detail.
    pub fn detail(&self) -> &str {
        &self.body.detail
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.body.code, self.body.detail)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut res = (self.status, Json(self.body)).into_response();
        for (k, v) in self.headers {
            res.headers_mut().append(k, v);
        }
        res
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::unavailable(e)
    }
}

impl From<UserStoreError> for ApiError {
    fn from(e: UserStoreError) -> Self {
        ApiError::unavailable(e)
    }
}

impl From<HashError> for ApiError {
    fn from(e: HashError) -> Self {
        match e {
            HashError::Busy => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "hasher_busy",
                "Too many sign-in attempts are being processed; try again in a moment.",
            )
            .with_header(header::RETRY_AFTER, HeaderValue::from_static("1")),
            e => ApiError::internal(e),
        }
    }
}

impl From<crate::auth::SecondFactorError> for ApiError {
    fn from(e: crate::auth::SecondFactorError) -> Self {
        use crate::auth::SecondFactorError;
        match e {
            SecondFactorError::MfaAlreadyEnabled => ApiError::new(
                StatusCode::CONFLICT,
                "mfa_already_enabled",
                "An authenticator app is already set up; remove it first to set up another.",
            ),
            SecondFactorError::MfaNotEnabled => {
                ApiError::new(StatusCode::NOT_FOUND, "mfa_not_enabled", "No authenticator app is set up.")
            }
            SecondFactorError::MfaNotPending => ApiError::bad_request(
                "mfa_not_pending",
                "Sign in with your password first: the second step expires after 5 minutes.",
            ),
            SecondFactorError::MfaSetupExpired => ApiError::bad_request(
                "mfa_setup_expired",
                "The setup expired (10 minutes): start it again for a new QR code.",
            ),
            SecondFactorError::InvalidCode => ApiError::bad_request("invalid_code", "That code is not valid."),
            SecondFactorError::WebauthnUnavailable => ApiError::new(
                StatusCode::NOT_FOUND,
                "webauthn_unavailable",
                "Passkeys are not available on this site (see webauthn.rp_id in the server's settings).",
            ),
            SecondFactorError::WebauthnNotStarted => ApiError::bad_request(
                "webauthn_not_started",
                "That passkey request expired or was already used (each lasts 5 minutes, once). Try again.",
            ),
            SecondFactorError::WebauthnFailed => ApiError::bad_request(
                "webauthn_failed",
                "That passkey could not be verified. Try again or use another way.",
            ),
            SecondFactorError::WebauthnCredentialExists => ApiError::new(
                StatusCode::CONFLICT,
                "webauthn_credential_exists",
                "This passkey or security key is already registered.",
            ),
            SecondFactorError::WebauthnCredentialNotFound => {
                ApiError::new(StatusCode::NOT_FOUND, "credential_not_found", "No such passkey.")
            }
            SecondFactorError::InvalidName(why) => ApiError::bad_request("invalid_name", why),
        }
    }
}

impl From<crate::state::AdminError> for ApiError {
    fn from(e: crate::state::AdminError) -> Self {
        use crate::state::AdminError;
        match e {
            AdminError::Refused(rule) => ApiError::forbidden("permission_denied", rule.0),
            AdminError::UserNotFound => ApiError::new(StatusCode::NOT_FOUND, "user_not_found", "No such user."),
            AdminError::Invalid { field, message } => {
                ApiError::bad_request("invalid_field", format!("{field}: {message}"))
                    .with_members(|b| b.field = Some(field.to_owned()))
            }
            AdminError::Auth(e) => e.into(),
        }
    }
}

impl From<crate::state::OidcError> for ApiError {
    fn from(e: crate::state::OidcError) -> Self {
        use crate::state::OidcError;
        match e {
            OidcError::UnknownProvider => {
                ApiError::new(StatusCode::NOT_FOUND, "provider_not_found", "No such provider.")
            }
            OidcError::IdentityNotFound => {
                ApiError::new(StatusCode::NOT_FOUND, "identity_not_found", "No such linked account.")
            }
            OidcError::LastSignInMethod => ApiError::new(
                StatusCode::CONFLICT,
                "last_sign_in_method",
                "This is the only way to sign in to this account: set a password or add a passkey before unlinking it.",
            ),
            OidcError::Failed(_) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "provider_unavailable",
                "The sign-in provider cannot be reached right now. Try again in a moment.",
            )
            .with_header(header::RETRY_AFTER, HeaderValue::from_static("5")),
            OidcError::Throttled(t) => crate::auth::AuthError::RequestsThrottled(t).into(),
            OidcError::Auth(e) => e.into(),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::InvalidCredentials => ApiError::bad_request("invalid_credentials", "Invalid credentials."),
            AuthError::Hash(e) => e.into(),
            AuthError::Sessions(e) => e.into(),
            AuthError::Users(e) => e.into(),
            AuthError::Throttled(t) => {
                let secs = t.retry_after.whole_seconds().max(1);
                ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "throttled",
                    format!("Too many failed login attempts. Try again in {secs} seconds."),
                )
                .with_header(header::RETRY_AFTER, HeaderValue::from(secs))
            }
            AuthError::ReauthenticationRequired => ApiError::forbidden(
                "reauthentication_required",
                "Please enter your password again to continue; this action needs a recent sign-in.",
            ),
            AuthError::SessionNotFound => ApiError::new(StatusCode::NOT_FOUND, "session_not_found", "No such session."),
            AuthError::InvalidKey => ApiError::bad_request(
                "invalid_key",
                "This link is invalid, has expired or was already used. Ask for a new one.",
            ),
            AuthError::InvalidEmail => ApiError::bad_request("invalid_email", "Enter a valid email address."),
            AuthError::SignupClosed => ApiError::new(StatusCode::NOT_FOUND, "not_found", "Not found."),
            AuthError::InvalidUsername(why) => ApiError::bad_request("invalid_username", why),
            AuthError::UsernameTaken => {
                ApiError::bad_request("username_taken", "A user with that username already exists.")
            }
            AuthError::EmailUnchanged => ApiError::bad_request("email_unchanged", "That is already your address."),
            AuthError::EmailTaken => {
                ApiError::bad_request("email_taken", "An account already uses this email address.")
            }
            AuthError::EmailUnverified => ApiError::forbidden(
                "email_unverified",
                "Please confirm your email address first: we have sent you a new link.",
            ),
            AuthError::SecondFactorUnsupported => ApiError::forbidden(
                "mfa_required",
                "This account has a second factor: HTTP Basic cannot carry it; sign in through the login form.",
            ),
            AuthError::SecondFactor(e) => e.into(),
            AuthError::MfaSetupRequired => ApiError::forbidden(
                "mfa_setup_required",
                "Staff accounts need a second factor: set up an authenticator app or a passkey on your account page first.",
            ),
            AuthError::RequestsThrottled(t) => {
                let secs = t.retry_after.whole_seconds().max(1);
                ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "throttled",
                    format!("Too many requests. Try again in {secs} seconds."),
                )
                .with_header(header::RETRY_AFTER, HeaderValue::from(secs))
            }
            AuthError::PasswordInvalid(problems) => {
                let detail = problems.iter().map(|p| p.message.as_str()).collect::<Vec<_>>().join(" ");
                let errors = problems.into_iter().map(|p| Problem { code: p.code.to_owned(), message: p.message });
                ApiError::bad_request("password_invalid", detail).with_members(|b| b.errors = Some(errors.collect()))
            }
        }
    }
}

fn is_json(res: &Response) -> bool {
    res.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

/// Gives an error response that is not already JSON (axum's 404/405,
/// tower-http's 413/408, a panic turned into 500) our JSON shape, so
/// clients never have to parse HTML or empty bodies. The edge layer runs it
/// on every response.
pub fn to_json_error(method: &http::Method, res: Response) -> Response {
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) || is_json(&res) {
        return res;
    }
    let (code, detail): (&'static str, Cow<'static, str>) = match status {
        StatusCode::NOT_FOUND => ("not_found", "Not found.".into()),
        StatusCode::METHOD_NOT_ALLOWED => ("method_not_allowed", format!("Method \"{method}\" not allowed.").into()),
        StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", "Request body is too large.".into()),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            ("unsupported_media_type", "Unsupported media type; send application/json.".into())
        }
        StatusCode::REQUEST_TIMEOUT => ("request_timeout", "Request timed out.".into()),
        StatusCode::TOO_MANY_REQUESTS => ("throttled", "Request was throttled.".into()),
        s if s.is_server_error() => ("server_error", "Internal server error.".into()),
        s => ("bad_request", s.canonical_reason().unwrap_or("Bad request.").to_owned().into()),
    };
    let (mut parts, _) = res.into_parts();
    let fresh = ApiError::new(status, code, detail).into_response();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let (_, body) = fresh.into_parts();
    Response::from_parts(parts, body)
}
