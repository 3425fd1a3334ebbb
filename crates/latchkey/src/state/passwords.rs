//! Checking a password: equal work for unknown users, the upgrade of an
//! old hash, the failed-login throttle (the password's verify step of the
//! sign-in pipeline, `state/signin.rs`, and of a password change), and the
//! device cookies that let a known browser past a locked-out account.

use std::sync::Arc;

use crate::{
    audit::AuditEvent,
    auth::AuthError,
    crypto,
    password::{PasswordHasher, RawPassword},
    state::Core,
    throttle::ThrottleStore,
    users::{User, UserStore, Username},
};

/// What checking a password needs: the users, the hasher, the throttle's
/// counters and the device-cookie keys.
#[derive(Clone)]
pub struct Passwords {
    pub(super) core: Core,
    pub(super) users: Arc<dyn UserStore>,
    pub(super) hasher: PasswordHasher,
    pub(super) throttle: Arc<dyn ThrottleStore>,
    /// Device-cookie HMACs: the secret key's first, then each fallback's.
    pub(super) device_macs: Arc<[crypto::SaltedHmac]>,
}

impl Passwords {
    /// Checks a username and password. Always runs exactly one password hash
    /// (a dummy one for unknown or malformed usernames) and checks
    /// `is_active` only after hashing, so neither the answer nor the work
    /// reveals whether an account exists or is disabled.
    ///
    /// # Errors
    /// [`AuthError::InvalidCredentials`], or a store/hasher failure.
    pub async fn authenticate(&self, username: &str, password: &RawPassword) -> Result<User, AuthError> {
        let user = match Username::parse(username) {
            Ok(name) => self.users.by_username(name.as_str()).await?,
            Err(_) => None,
        };
        let ok = self.hasher.verify(password, user.as_ref().map(|u| u.password_hash.as_str())).await?;
        match user {
            Some(mut user) if ok && user.is_active => {
                // Upgrade the stored hash to the configured parameters, only
                // after a successful check (never on a wrong password).
                if self.hasher.needs_rehash(&user.password_hash) {
                    let fresh = self.hasher.hash(password).await?;
                    if self.users.set_password_hash(user.id, &fresh).await? {
                        user.password_hash = fresh;
                    }
                }
                Ok(user)
            }
            _ => Err(AuthError::InvalidCredentials),
        }
    }

    /// [`Passwords::authenticate`] behind the failed-login throttle
    /// ([`crate::throttle::ThrottlePolicy`]): the attempt is counted first
    /// and refused without hashing when a limit is reached. `device_cookie`
    /// is the browser's device cookie, if it sent one: a valid one for this
    /// account makes the attempt a trusted device's.
    ///
    /// # Errors
    /// [`AuthError::Throttled`], [`AuthError::InvalidCredentials`], or a
    /// store/hasher failure.
    pub async fn authenticate_throttled(
        &self,
        username: &str,
        password: &RawPassword,
        client: Option<std::net::IpAddr>,
        device_cookie: Option<&str>,
        via: &'static str,
    ) -> Result<User, AuthError> {
        let result = self.check_password_throttled(username, password, client, device_cookie, via).await;
        let outcome = match &result {
            Ok(_) => "ok",
            Err(AuthError::InvalidCredentials) => "failed",
            Err(AuthError::Throttled(_)) => "throttled",
            Err(_) => "error",
        };
        self.core.metrics().login(via, outcome);
        result
    }

    async fn check_password_throttled(
        &self,
        username: &str,
        password: &RawPassword,
        client: Option<std::net::IpAddr>,
        device_cookie: Option<&str>,
        via: &'static str,
    ) -> Result<User, AuthError> {
        let policy = &self.core.settings().throttle;
        let client_key = crate::throttle::client_key(client);
        let store = self.throttle.as_ref();
        let now = self.core.clock().now();
        let device = device_cookie.and_then(|c| self.verify_device_cookie(c, username));
        let event = |name: &str| AuditEvent::new(now, name).username(username).client(client);
        let verdict = policy.check(store, username, &client_key, device.as_ref(), now).await?;
        for lockout in verdict.lockouts {
            let detail = format!("via {via}; {lockout} reached");
            self.core.audit(event(lockout).detail(detail)).await;
        }
        if let Err(t) = verdict.outcome {
            let detail = format!("via {via}; {} limit; retry after {} s", t.scope, t.retry_after.whole_seconds());
            self.core.audit(event("login_throttled").detail(detail)).await;
            return Err(AuthError::Throttled(t));
        }
        match self.authenticate(username, password).await {
            Ok(user) => {
                policy.succeeded(store, username, &client_key, device.as_ref()).await?;
                Ok(user)
            }
            Err(AuthError::InvalidCredentials) => {
                // One reason for people reading the trail; the client got the same answer for all.
                self.core.audit(event("login_failed").detail(format!("via {via}; invalid credentials"))).await;
                Err(AuthError::InvalidCredentials)
            }
            Err(e) => Err(e),
        }
    }

    /// A fresh device cookie value for `user` (see [`crate::throttle`]), or
    /// `None` when device cookies are off.
    pub fn device_cookie_for(&self, user: &User) -> Option<String> {
        self.core.settings().device_cookie.as_ref()?;
        Some(crate::throttle::issue_device_cookie(&self.device_macs[0], &user.username, self.core.clock().now()))
    }

    /// The device a device cookie names, if it is valid for `username`.
    pub fn verify_device_cookie(&self, value: &str, username: &str) -> Option<crate::throttle::Device> {
        self.core.settings().device_cookie.as_ref()?;
        let age = self.core.settings().throttle.device_cookie_age;
        crate::throttle::verify_device_cookie(&self.device_macs, value, username, self.core.clock().now(), age)
    }
}
