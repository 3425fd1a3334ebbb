//! The authentication flows on the shared state: checking credentials
//! with equal work for unknown users, the failed-login throttle (the
//! password's verify step of the sign-in pipeline, `state/signin.rs`),
//! revocation, the current user, and the audit trail. No HTTP here:
//! `crate::http` calls these.

use crate::{
    Latchkey,
    audit::{Aggregator, AuditEvent},
    auth::AuthError,
    crypto::constant_time_eq,
    password::RawPassword,
    session::{ClientInfo, Session},
    users::{User, Username},
};

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
        self.metrics().login(via, outcome);
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
        let policy = &self.settings().throttle;
        let client_key = crate::throttle::client_key(client);
        let store = self.throttle().as_ref();
        let now = self.clock().now();
        let device = device_cookie.and_then(|c| self.verify_device_cookie(c, username));
        let event = |name: &str| AuditEvent::new(now, name).username(username).client(client);
        let verdict = policy.check(store, username, &client_key, device.as_ref(), now).await?;
        for lockout in verdict.lockouts {
            let detail = format!("via {via}; {lockout} reached");
            self.audit(event(lockout).detail(detail)).await;
        }
        if let Err(t) = verdict.outcome {
            let detail = format!("via {via}; {} limit; retry after {} s", t.scope, t.retry_after.whole_seconds());
            self.audit(event("login_throttled").detail(detail)).await;
            return Err(AuthError::Throttled(t));
        }
        match self.authenticate(username, password).await {
            Ok(user) => {
                policy.succeeded(store, username, &client_key, device.as_ref()).await?;
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

    /// [`AuthError::EmailUnverified`] when `user` must confirm their address
    /// before signing in (`accounts.email_verification = mandatory`); a new
    /// link goes out then, unless this address has asked too often.
    pub(crate) async fn refuse_unverified(&self, user: &User, client: &ClientInfo) -> Result<(), AuthError> {
        if !self.must_verify(user) {
            return Ok(());
        }
        // The user proved who they are, so saying so reveals nothing.
        match self.count_mail_request("verify", &user.email, client.ip).await {
            Ok(()) => self.enqueue(crate::mail::Job::VerifyEmail { email: user.email.clone() }).await?,
            Err(AuthError::RequestsThrottled(_)) => {}
            Err(e) => return Err(e),
        }
        self.audit(
            AuditEvent::new(self.clock().now(), "login_unverified")
                .username(&user.username)
                .user_id(user.id)
                .client(client.ip),
        )
        .await;
        Err(AuthError::EmailUnverified)
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
}

impl Latchkey {
    /// A fresh device cookie value for `user` (see [`crate::throttle`]), or
    /// `None` when device cookies are off.
    pub fn device_cookie_for(&self, user: &User) -> Option<String> {
        self.settings().device_cookie.as_ref()?;
        Some(crate::throttle::issue_device_cookie(&self.device_macs()[0], &user.username, self.clock().now()))
    }

    /// The device a device cookie names, if it is valid for `username`.
    pub fn verify_device_cookie(&self, value: &str, username: &str) -> Option<crate::throttle::Device> {
        self.settings().device_cookie.as_ref()?;
        let age = self.settings().throttle.device_cookie_age;
        crate::throttle::verify_device_cookie(self.device_macs(), value, username, self.clock().now(), age)
    }

    /// Records an event: to the `latchkey::audit` log target and, when
    /// persistence is on, to the audit store. Unauthenticated rejections
    /// ([`crate::audit::AGGREGATED`]) are only counted here, and written and
    /// logged as aggregates by [`Latchkey::flush_audit`]. A store failure is
    /// logged, never turned into a failed request.
    pub async fn audit(&self, event: AuditEvent) {
        if Aggregator::aggregates(&event.event) {
            self.aggregator().add(event);
            return;
        }
        self.write_audit(event).await;
    }

    async fn write_audit(&self, event: AuditEvent) {
        tracing::info!(
            target: "latchkey::audit",
            event = %event.event,
            username = event.username.as_deref(),
            actor = event.actor.as_deref(),
            user_id = event.user_id,
            client = event.client_ip.as_deref(),
            count = event.count,
            detail = %event.detail,
            "audit"
        );
        if self.settings().audit_persist
            && let Err(e) = self.audit_store().record(&event).await
        {
            tracing::error!(target: "latchkey::audit", error = %e, "could not persist an audit event");
        }
    }

    /// Writes the aggregated events counted since the last flush, one row
    /// (and at most one log line, up to 20 a flush) per event kind and
    /// client; returns how many aggregates. Servers call this every
    /// `audit.flush_interval` and at shutdown.
    pub async fn flush_audit(&self) -> usize {
        let aggregates = self.aggregator().drain();
        let n = aggregates.len();
        for (i, event) in aggregates.into_iter().enumerate() {
            if i < 20 {
                tracing::info!(
                    target: "latchkey::audit",
                    event = %event.event,
                    client = event.client_ip.as_deref(),
                    count = event.count,
                    detail = %event.detail,
                    "audit (aggregated)"
                );
            }
            if self.settings().audit_persist
                && let Err(e) = self.audit_store().record(&event).await
            {
                tracing::error!(target: "latchkey::audit", error = %e, "could not persist an audit event");
            }
        }
        if n > 20 {
            tracing::info!(target: "latchkey::audit", more = n - 20, "audit (aggregated): more kinds and clients");
        }
        n
    }

    /// Spawns the loop that flushes aggregated audit events every
    /// `audit.flush_interval` (servers call this; call
    /// [`Latchkey::flush_audit`] once more at shutdown).
    pub fn run_audit_flush(&self) -> tokio::task::JoinHandle<()> {
        let lk = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(lk.settings().audit_flush_interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                lk.flush_audit().await;
            }
        })
    }
}
