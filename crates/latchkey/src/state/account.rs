//! The signed-in user's own account: their sessions (listed by opaque id,
//! ended one by one or all but the current one), re-authentication, and
//! changing the password. No HTTP here: `crate::http::routes::account`
//! calls these.
//!
//! Sensitive actions ask for a recent proof of the password
//! ([`Latchkey::require_recent_authentication`]), so a session left open on
//! a shared computer, or stolen, cannot lock its owner out.

use time::OffsetDateTime;

use crate::{
    Latchkey,
    audit::AuditEvent,
    auth::AuthError,
    csrf::CsrfToken,
    password::RawPassword,
    session::{ClientInfo, Session, SessionId, SessionKeyHash},
    state::{Proof, Target, WayIn},
    users::User,
};

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

/// What [`Latchkey::end_session`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The request's own session: a logout (the cookie is cleared).
    Current,
    /// Another session of the user.
    Other,
}

impl Latchkey {
    fn session_id(&self, user_id: i64, key: &SessionKeyHash) -> SessionId {
        SessionId::of(self.session_id_mac(), user_id, key)
    }

    /// The sessions of `user`, newest first, `current` marking the one of
    /// `session`.
    ///
    /// # Errors
    /// Store failures.
    pub async fn list_sessions(&self, user: &User, session: &Session) -> Result<Vec<SessionSummary>, AuthError> {
        let current = session.key_hash().await?;
        self.sessions_of(user, current.as_ref()).await
    }

    /// The sessions of `user`, newest first, `current` marking the one
    /// stored under that key (operators, who have no session of the user,
    /// pass `None`).
    ///
    /// # Errors
    /// Store failures.
    pub async fn sessions_of(
        &self,
        user: &User,
        current: Option<&SessionKeyHash>,
    ) -> Result<Vec<SessionSummary>, AuthError> {
        let records = self.sessions().list_user_sessions(user.id, self.clock().now()).await?;
        Ok(records.into_iter().map(|r| self.summarize(user.id, r, current)).collect())
    }

    /// What may be shown of the session `r` of user `user_id`.
    pub(super) fn summarize(
        &self,
        user_id: i64,
        r: crate::session::SessionRecord,
        current: Option<&SessionKeyHash>,
    ) -> SessionSummary {
        SessionSummary {
            id: self.session_id(user_id, &r.key_hash),
            current: current == Some(&r.key_hash),
            created_at: r.created_at,
            last_seen_at: r.last_seen,
            expires_at: r.expires_at,
            ip: r.ip,
            user_agent: r.user_agent,
            remember: r.remember,
        }
    }

    /// Refuses with [`AuthError::ReauthenticationRequired`] unless the
    /// password was proved in `session` within `auth.reauthentication_window`
    /// (at login or by [`Latchkey::reauthenticate`]). Sessions without a
    /// recorded time (created before it was recorded) must re-authenticate.
    ///
    /// # Errors
    /// [`AuthError::ReauthenticationRequired`], or a store failure.
    pub async fn require_recent_authentication(&self, session: &Session) -> Result<(), AuthError> {
        let window = time::Duration::try_from(self.settings().reauthentication_window).unwrap_or(time::Duration::ZERO);
        let now = self.clock().now();
        match session.read(|r| r.authenticated_at).await?.flatten() {
            Some(at) if now - at < window => Ok(()),
            _ => Err(AuthError::ReauthenticationRequired),
        }
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
        let key = self.find_session(user, id).await?;
        let event = |name: &str| {
            AuditEvent::new(self.clock().now(), name).username(&user.username).user_id(user.id).client(client.ip)
        };
        if current.as_ref() == Some(&key) {
            session.flush().await?;
            self.audit(event("logout").detail("ended from the list of sessions")).await;
            return Ok(Ended::Current);
        }
        self.require_recent_authentication(session).await?;
        // Through the store (and the cache in front of it), so every
        // instance stops serving it.
        self.sessions().delete(&key).await?;
        self.audit(event("session_ended").detail(format!("session {id} ended by its owner"))).await;
        Ok(Ended::Other)
    }

    pub(super) async fn find_session(&self, user: &User, id: &SessionId) -> Result<SessionKeyHash, AuthError> {
        let records = self.sessions().list_user_sessions(user.id, self.clock().now()).await?;
        // Every candidate is compared, in constant time, so the time taken
        // says nothing about which id came close.
        let found = records.iter().fold(None, |found, r| {
            if self.session_id(user.id, &r.key_hash).matches(id) { Some(r.key_hash.clone()) } else { found }
        });
        found.ok_or(AuthError::SessionNotFound)
    }

    /// An operator ends the session `id` of `user` (`latchkey sessions
    /// revoke`); audited with `by`.
    ///
    /// # Errors
    /// [`AuthError::SessionNotFound`], or a store failure.
    pub async fn end_session_as_operator(&self, user: &User, id: &SessionId, by: &str) -> Result<(), AuthError> {
        let key = self.find_session(user, id).await?;
        self.sessions().delete(&key).await?;
        self.audit(
            AuditEvent::new(self.clock().now(), "session_ended")
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
        self.require_recent_authentication(session).await?;
        let keep = session.key_hash().await?;
        self.revoke_sessions_keeping(user, keep.as_ref(), "its owner (sign out everywhere else)", client).await
    }

    async fn revoke_sessions_keeping(
        &self,
        user: &User,
        keep: Option<&SessionKeyHash>,
        reason: &str,
        client: &ClientInfo,
    ) -> Result<u64, AuthError> {
        let ended = self.sessions().delete_user_sessions(user.id, keep).await?;
        self.audit(
            AuditEvent::new(self.clock().now(), "sessions_revoked")
                .username(&user.username)
                .user_id(user.id)
                .client(client.ip)
                .detail(format!("{ended} other session(s) ended by {reason}")),
        )
        .await;
        Ok(ended)
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
        self.sign_in(WayIn::Reauthenticate, proof, Target::Refresh { session, csrf, user }, client).await?;
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
        let problems = self.settings().password_policy.check(new, &user.username, &user.email);
        if !problems.is_empty() {
            return Err(AuthError::PasswordInvalid(problems));
        }
        let mut proved =
            self.authenticate_throttled(&user.username, current, client.ip, None, "password_change").await?;
        if proved.id != user.id {
            return Err(AuthError::InvalidCredentials);
        }
        let hash = self.hasher().hash(new).await?;
        self.users().set_password_hash(user.id, &hash).await?;
        proved.password_hash = hash;
        // The current session carries the new auth hash under a new key;
        // every other one (still on the old hash) is deleted outright.
        let kept = session.rotate_authenticated(Some(self.session_auth_hash(&proved))).await?;
        csrf.rotate();
        self.audit(
            AuditEvent::new(self.clock().now(), "password_changed")
                .username(&user.username)
                .user_id(user.id)
                .client(client.ip)
                .detail("by the user"),
        )
        .await;
        self.notify_password_changed(user, "from your account page").await?;
        self.revoke_sessions_keeping(user, kept.as_ref(), "a password change", client).await
    }

    /// Tells the account's address that its password changed (ASVS 6.3.7),
    /// through the outbox.
    pub(crate) async fn notify_password_changed(&self, user: &User, how: &str) -> Result<(), AuthError> {
        if user.email.is_empty() {
            return Ok(());
        }
        let mail = crate::mail::password_changed_notice(&user.email, &user.username, how);
        self.enqueue(crate::mail::Job::Mail(mail)).await
    }
}
