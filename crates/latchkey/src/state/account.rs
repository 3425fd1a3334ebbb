//! The signed-in user's own account: their sessions (listed by opaque id,
//! ended one by one or all but the current one), re-authentication, and
//! changing the password. No HTTP here: `crate::http::routes::account`
//! calls these.
//!
//! Sensitive actions ask for a recent proof of the password
//! ([`SessionAuth::require_recent_authentication`]), so a session left open on
//! a shared computer, or stolen, cannot lock its owner out.

use std::sync::Arc;

use time::OffsetDateTime;

use crate::{
    audit::AuditEvent,
    auth::AuthError,
    csrf::CsrfToken,
    password::PasswordHasher,
    password::RawPassword,
    session::{ClientInfo, Session, SessionId},
    state::{Core, Mailing, Passwords, Proof, SessionAuth, SignIn, Target, WayIn},
    users::{User, UserStore},
};

/// The signed-in user's own account: what its flows touch.
#[derive(Clone)]
pub struct Accounts {
    pub(super) core: Core,
    pub(super) users: Arc<dyn UserStore>,
    pub(super) hasher: PasswordHasher,
    pub(super) sessions: SessionAuth,
    pub(super) passwords: Passwords,
    pub(super) mail: Mailing,
    /// Re-authentication is a way in.
    pub(super) sign_in: SignIn,
}

/// One of the user's sessions as they may see it: never its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSummary {
    /// The opaque id to end it by.
    pub id: SessionId,
    /// Whether it is the session of the request that asked.
    pub current: bool,
    /// When it was created (login).
    pub created_at: OffsetDateTime,
    /// Last recorded activity.
    pub last_seen_at: OffsetDateTime,
    /// When it ends unless renewed by activity (never after the absolute limit).
    pub expires_at: OffsetDateTime,
    /// The client address it was created from.
    pub ip: Option<String>,
    /// The browser it was created from (the raw header, cut to 256 bytes).
    pub user_agent: Option<String>,
    /// A persistent cookie rather than a browser-session one.
    pub remember: bool,
}

/// What [`Accounts::end_session`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The request's own session: a logout (the cookie is cleared).
    Current,
    /// Another session of the user.
    Other,
}

impl Accounts {
    /// The sessions of `user`, newest first, `current` marking the one of
    /// `session`.
    ///
    /// # Errors
    /// Store failures.
    pub async fn list_sessions(&self, user: &User, session: &Session) -> Result<Vec<SessionSummary>, AuthError> {
        let current = session.key_hash().await?;
        self.sessions.sessions_of(user, current.as_ref()).await
    }

    /// Ends the session of `user` whose id is `id`. The request's own
    /// session is a logout and needs no re-authentication; any other needs
    /// a recent one. Unknown ids and ids of other users' sessions are the
    /// same [`AuthError::SessionNotFound`].
    ///
    /// # Errors
    /// [`AuthError::SessionNotFound`], [`AuthError::ReauthenticationRequired`],
    /// or a store failure.
    pub async fn end_session(
        &self,
        user: &User,
        session: &Session,
        id: &SessionId,
        client: &ClientInfo,
    ) -> Result<Ended, AuthError> {
        let current = session.key_hash().await?;
        let key = self.sessions.find_session(user, id).await?;
        let event = |name: &str| {
            AuditEvent::new(self.core.clock().now(), name).username(&user.username).user_id(user.id).client(client.ip)
        };
        if current.as_ref() == Some(&key) {
            session.flush().await?;
            self.core.audit(event("logout").detail("ended from the list of sessions")).await;
            return Ok(Ended::Current);
        }
        self.sessions.require_recent_authentication(session).await?;
        // Through the store (and the cache in front of it), so every
        // instance stops serving it.
        self.sessions.store.delete(&key).await?;
        self.core.audit(event("session_ended").detail(format!("session {id} ended by its owner"))).await;
        Ok(Ended::Other)
    }

    /// An operator ends the session `id` of `user` (`latchkey sessions
    /// revoke`); audited with `by`.
    ///
    /// # Errors
    /// [`AuthError::SessionNotFound`], or a store failure.
    pub async fn end_session_as_operator(&self, user: &User, id: &SessionId, by: &str) -> Result<(), AuthError> {
        let key = self.sessions.find_session(user, id).await?;
        self.sessions.store.delete(&key).await?;
        self.core
            .audit(
                AuditEvent::new(self.core.clock().now(), "session_ended")
                    .username(&user.username)
                    .user_id(user.id)
                    .detail(format!("session {id} ended by {by}")),
            )
            .await;
        Ok(())
    }

    /// Ends every session of `user` but the request's own; returns how many.
    /// Needs a recent authentication.
    ///
    /// # Errors
    /// [`AuthError::ReauthenticationRequired`], or a store failure.
    pub async fn revoke_other_sessions(
        &self,
        user: &User,
        session: &Session,
        client: &ClientInfo,
    ) -> Result<u64, AuthError> {
        self.sessions.require_recent_authentication(session).await?;
        let keep = session.key_hash().await?;
        self.sessions.revoke_sessions_keeping(user, keep.as_ref(), "its owner (sign out everywhere else)", client).await
    }

    /// Proves the password again in `session`, through the sign-in pipeline
    /// ([`WayIn::Reauthenticate`]): behind the failed-login throttle, as a
    /// login. On success the session moves to a new key, the
    /// CSRF secret changes and the time is stamped; on failure nothing
    /// changes (the session stays signed in).
    ///
    /// # Errors
    /// [`AuthError::InvalidCredentials`], [`AuthError::Throttled`], or a
    /// store/hasher failure.
    pub async fn reauthenticate(
        &self,
        user: &User,
        session: &Session,
        csrf: &CsrfToken,
        password: &RawPassword,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        let proof = Proof::Password { username: &user.username, password, device_cookie: None };
        self.sign_in.sign_in(WayIn::Reauthenticate, proof, Target::Refresh { session, csrf, user }, client).await?;
        Ok(())
    }

    /// Changes the password of the signed-in `user`: the new one must pass
    /// the validators (checked first, so a refused password costs no hash),
    /// the current one must be right (behind the failed-login throttle).
    /// Then every other session of the user ends on every instance, and the
    /// current one continues under a new key and a new CSRF secret. Returns
    /// how many other sessions ended.
    ///
    /// # Errors
    /// [`AuthError::PasswordInvalid`], [`AuthError::InvalidCredentials`],
    /// [`AuthError::Throttled`], or a store/hasher failure.
    pub async fn change_password(
        &self,
        user: &User,
        session: &Session,
        csrf: &CsrfToken,
        current: &RawPassword,
        new: &RawPassword,
        client: &ClientInfo,
    ) -> Result<u64, AuthError> {
        let problems = self.core.settings().password_policy.check(new, &user.username, &user.email);
        if !problems.is_empty() {
            return Err(AuthError::PasswordInvalid(problems));
        }
        let mut proved =
            self.passwords.authenticate_throttled(&user.username, current, client.ip, None, "password_change").await?;
        if proved.id != user.id {
            return Err(AuthError::InvalidCredentials);
        }
        let hash = self.hasher.hash(new).await?;
        self.users.set_password_hash(user.id, &hash).await?;
        proved.password_hash = hash;
        // The current session carries the new auth hash under a new key;
        // every other one (still on the old hash) is deleted outright.
        let kept = session.rotate_authenticated(Some(self.sessions.session_auth_hash(&proved))).await?;
        csrf.rotate();
        self.core
            .audit(
                AuditEvent::new(self.core.clock().now(), "password_changed")
                    .username(&user.username)
                    .user_id(user.id)
                    .client(client.ip)
                    .detail("by the user"),
            )
            .await;
        self.mail.notify_password_changed(user, "from your account page").await?;
        self.sessions.revoke_sessions_keeping(user, kept.as_ref(), "a password change", client).await
    }
}
