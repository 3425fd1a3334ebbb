//! Authentication with Django's semantics: constant-work credential checks,
//! login that rotates the session key and the CSRF secret, a session auth
//! hash that ends sessions when the password changes, and extractors for
//! application routes.

use axum::extract::{FromRef, FromRequestParts};
use base64::Engine;
use http::{HeaderMap, header, request::Parts};
use secrecy::{ExposeSecret, SecretString};

use crate::{
    Latchkey,
    api::ApiError,
    audit::AuditEvent,
    crypto::{SaltedHmac, constant_time_eq},
    csrf::CsrfToken,
    password::{HashError, RawPassword},
    session::{Session, StoreError},
    users::{User, UserStoreError, Username},
};

const SESSION_HASH_SALT: &str = "latchkey.auth.session_auth_hash";

/// Failures of [`Latchkey::authenticate`] and friends.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Unknown user, wrong password or inactive account: one answer for all.
    #[error("Invalid credentials.")]
    InvalidCredentials,
    /// Hashing queue full.
    #[error(transparent)]
    Hash(#[from] HashError),
    /// Session store failure.
    #[error(transparent)]
    Sessions(#[from] StoreError),
    /// User store failure.
    #[error(transparent)]
    Users(#[from] UserStoreError),
    /// Too many attempts: refused before the password was checked.
    #[error("too many attempts")]
    Throttled(crate::throttle::Throttled),
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
                    http::StatusCode::TOO_MANY_REQUESTS,
                    "throttled",
                    format!("Too many failed login attempts. Try again in {secs} seconds."),
                )
                .with_header(header::RETRY_AFTER, http::HeaderValue::from(secs))
            }
        }
    }
}

/// The session-auth-hash HMACs of the secret key and each fallback, in that order.
pub(crate) fn session_hash_macs<'a>(keys: impl Iterator<Item = &'a SecretString>) -> Vec<SaltedHmac> {
    keys.map(|k| SaltedHmac::new(SESSION_HASH_SALT, k.expose_secret().as_bytes())).collect()
}

impl Latchkey {
    /// Django's session auth hash: an HMAC of the user's password hash under
    /// the secret key. Stored in the session at login and compared on every
    /// request, so changing the password ends every other session.
    pub fn session_auth_hash(&self, user: &User) -> String {
        self.session_hash_macs()[0].hex(user.password_hash.as_bytes()).to_string()
    }

    /// Checks a stored session auth hash in constant time against the
    /// current key and every fallback key (key rotation).
    pub fn verify_session_auth_hash(&self, stored: &str, user: &User) -> bool {
        self.session_hash_macs().iter().fold(false, |ok, mac| {
            ok | constant_time_eq(mac.hex(user.password_hash.as_bytes()).as_bytes(), stored.as_bytes())
        })
    }

    /// Checks a username and password. Always runs exactly one password hash
    /// (a dummy one for unknown or malformed usernames) and checks
    /// `is_active` only after hashing, so neither the answer nor the work
    /// reveals whether an account exists or is disabled.
    ///
    /// # Errors
    /// [`AuthError::InvalidCredentials`], or a store/hasher failure.
    pub async fn authenticate(&self, username: &str, password: &RawPassword) -> Result<User, AuthError> {
        let user = match Username::parse(username) {
            Ok(name) => self.users().by_username(name.as_str()).await?,
            Err(_) => None,
        };
        let ok = self.hasher().verify(password, user.as_ref().map(|u| u.password_hash.as_str())).await?;
        match user {
            Some(mut user) if ok && user.is_active => {
                // Upgrade the stored hash to the configured parameters, only
                // after a successful check (never on a wrong password).
                if self.hasher().needs_rehash(&user.password_hash) {
                    let fresh = self.hasher().hash(password).await?;
                    if self.users().set_password_hash(user.id, &fresh).await? {
                        user.password_hash = fresh;
                    }
                }
                Ok(user)
            }
            _ => Err(AuthError::InvalidCredentials),
        }
    }

    /// [`Latchkey::authenticate`] behind the failed-login throttle
    /// ([`crate::throttle::ThrottlePolicy`]): the attempt is counted first
    /// and refused without hashing when a limit is reached.
    ///
    /// # Errors
    /// [`AuthError::Throttled`], [`AuthError::InvalidCredentials`], or a
    /// store/hasher failure.
    pub async fn authenticate_throttled(
        &self,
        username: &str,
        password: &RawPassword,
        client: Option<std::net::IpAddr>,
        via: &'static str,
    ) -> Result<User, AuthError> {
        let policy = &self.settings().throttle;
        let client_key = crate::throttle::client_key(client);
        let store = self.throttle().as_ref();
        let event = |name: &str| AuditEvent::new(self.clock().now(), name).username(username).client(client);
        if let Err(t) = policy.attempt(store, username, &client_key, self.clock().now()).await? {
            let detail = format!("via {via}; {} limit; retry after {} s", t.scope, t.retry_after.whole_seconds());
            self.audit(event("login_throttled").detail(detail)).await;
            return Err(AuthError::Throttled(t));
        }
        match self.authenticate(username, password).await {
            Ok(user) => {
                policy.succeeded(store, username, &client_key).await?;
                Ok(user)
            }
            Err(AuthError::InvalidCredentials) => {
                // One reason for people reading the trail; the client got the same answer for all.
                self.audit(event("login_failed").detail(format!("via {via}; invalid credentials"))).await;
                Err(AuthError::InvalidCredentials)
            }
            Err(e) => Err(e),
        }
    }

    /// Logs `user` in: a new session key (the old session is deleted
    /// server-side), a new CSRF secret, and `last_login` updated. See
    /// [`Session::cycle_login`] for `remember`.
    ///
    /// # Errors
    /// Store failures.
    pub async fn login(
        &self,
        session: &Session,
        csrf: &CsrfToken,
        user: &User,
        remember: bool,
        client: Option<std::net::IpAddr>,
    ) -> Result<(), AuthError> {
        session.cycle_login(user.id, self.session_auth_hash(user), remember).await?;
        csrf.rotate();
        self.users().record_login(user.id, self.clock().now()).await?;
        let detail = if remember { "persistent session" } else { "browser session" };
        self.audit(
            AuditEvent::new(self.clock().now(), "login")
                .username(&user.username)
                .user_id(user.id)
                .client(client)
                .detail(detail),
        )
        .await;
        Ok(())
    }

    /// Ends every session of `user` now (password change, deactivation,
    /// operator action) and records why in the audit trail; returns how many.
    ///
    /// # Errors
    /// Store failures.
    pub async fn revoke_user_sessions(&self, user: &User, reason: &str) -> Result<u64, AuthError> {
        let ended = self.sessions().delete_user_sessions(user.id, None).await?;
        self.audit(
            AuditEvent::new(self.clock().now(), "sessions_revoked")
                .username(&user.username)
                .user_id(user.id)
                .detail(format!("{ended} session(s) ended by {reason}")),
        )
        .await;
        Ok(ended)
    }

    /// The user of the current session, or `None`. A session whose auth hash
    /// no longer matches (password changed) or whose user is gone or
    /// inactive is flushed.
    ///
    /// # Errors
    /// Store failures.
    pub async fn session_user(&self, session: &Session) -> Result<Option<User>, AuthError> {
        let Some((Some(user_id), auth_hash)) = session.read(|r| (r.user_id, r.auth_hash.clone())).await? else {
            return Ok(None);
        };
        match self.users().by_id(user_id).await? {
            Some(user) if user.is_active && self.verify_session_auth_hash(&auth_hash, &user) => Ok(Some(user)),
            _ => {
                session.flush().await?;
                Ok(None)
            }
        }
    }

    /// The user of the request: the session's, or, where HTTP Basic is
    /// enabled (rest preset), the one named by valid Basic credentials.
    ///
    /// # Errors
    /// 403 for bad Basic credentials; 503 for store failures.
    pub async fn request_user(
        &self,
        session: &Session,
        headers: &HeaderMap,
        client: Option<std::net::IpAddr>,
    ) -> Result<Option<User>, ApiError> {
        if let Some(user) = self.session_user(session).await? {
            return Ok(Some(user));
        }
        if !self.settings().basic_auth() {
            return Ok(None);
        }
        let Some((username, password)) = basic_credentials(headers)? else {
            return Ok(None);
        };
        match self.authenticate_throttled(&username, &password, client, "basic").await {
            Ok(user) => Ok(Some(user)),
            Err(AuthError::InvalidCredentials) => {
                Err(ApiError::forbidden("authentication_failed", "Invalid username/password."))
            }
            Err(e) => Err(e.into()),
        }
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
        let client = parts.extensions.get::<crate::context::RequestContext>().and_then(|c| c.client_ip);
        let user = MaybeUser(lk.request_user(&session, &parts.headers, client).await?);
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
