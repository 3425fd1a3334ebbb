//! What a signed-in session is bound to, and ending sessions: Django's
//! session auth hash, the current user of a session, the opaque ids users
//! see, the recent-authentication check of sensitive actions, and
//! revocation. Every service that reads or ends sessions goes through this.

use std::sync::Arc;

use crate::{
    audit::AuditEvent,
    auth::AuthError,
    crypto::{self, constant_time_eq},
    session::{ClientInfo, Session, SessionId, SessionKeyHash, SessionRecord, SessionStore},
    state::{Core, SessionSummary},
    users::{User, UserStore},
};

/// Sessions as accounts see them: the session store, the users they belong
/// to, and the keys their auth hashes and ids are made with.
#[derive(Clone)]
pub struct SessionAuth {
    pub(super) core: Core,
    pub(super) store: Arc<dyn SessionStore>,
    pub(super) users: Arc<dyn UserStore>,
    /// Session-auth-hash HMACs: the secret key's first, then each fallback's.
    pub(super) hash_macs: Arc<[crypto::SaltedHmac]>,
    /// The HMAC behind the session ids users see.
    pub(super) id_mac: Arc<crypto::SaltedHmac>,
}

impl SessionAuth {
    /// Django's session auth hash: an HMAC of the user's password hash under
    /// the secret key. Stored in the session at login and compared on every
    /// request, so changing the password ends every other session.
    pub fn session_auth_hash(&self, user: &User) -> String {
        self.hash_macs[0].hex(user.password_hash.as_bytes()).to_string()
    }

    /// Checks a stored session auth hash in constant time against the
    /// current key and every fallback key (key rotation).
    pub fn verify_session_auth_hash(&self, stored: &str, user: &User) -> bool {
        self.hash_macs.iter().fold(false, |ok, mac| {
            ok | constant_time_eq(mac.hex(user.password_hash.as_bytes()).as_bytes(), stored.as_bytes())
        })
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
        match self.users.by_id(user_id).await? {
            Some(user) if user.is_active && self.verify_session_auth_hash(&auth_hash, &user) => Ok(Some(user)),
            _ => {
                session.flush().await?;
                Ok(None)
            }
        }
    }

    /// Refuses with [`AuthError::ReauthenticationRequired`] unless the
    /// password was proved in `session` within `auth.reauthentication_window`
    /// (at login or by [`crate::Accounts::reauthenticate`]). Sessions without a
    /// recorded time (created before it was recorded) must re-authenticate.
    ///
    /// # Errors
    /// [`AuthError::ReauthenticationRequired`], or a store failure.
    pub async fn require_recent_authentication(&self, session: &Session) -> Result<(), AuthError> {
        let window =
            time::Duration::try_from(self.core.settings().reauthentication_window).unwrap_or(time::Duration::ZERO);
        let now = self.core.clock().now();
        match session.read(|r| r.authenticated_at).await?.flatten() {
            Some(at) if now - at < window => Ok(()),
            _ => Err(AuthError::ReauthenticationRequired),
        }
    }

    fn session_id(&self, user_id: i64, key: &SessionKeyHash) -> SessionId {
        SessionId::of(&self.id_mac, user_id, key)
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
        let records = self.store.list_user_sessions(user.id, self.core.clock().now()).await?;
        Ok(records.into_iter().map(|r| self.summarize(user.id, r, current)).collect())
    }

    /// What may be shown of the session `r` of user `user_id`.
    pub(super) fn summarize(&self, user_id: i64, r: SessionRecord, current: Option<&SessionKeyHash>) -> SessionSummary {
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

    /// The key of the session of `user` whose id is `id`; unknown ids and
    /// ids of other users' sessions are the same [`AuthError::SessionNotFound`].
    pub(super) async fn find_session(&self, user: &User, id: &SessionId) -> Result<SessionKeyHash, AuthError> {
        let records = self.store.list_user_sessions(user.id, self.core.clock().now()).await?;
        // Every candidate is compared, in constant time, so the time taken
        // says nothing about which id came close.
        let found = records.iter().fold(None, |found, r| {
            if self.session_id(user.id, &r.key_hash).matches(id) { Some(r.key_hash.clone()) } else { found }
        });
        found.ok_or(AuthError::SessionNotFound)
    }

    /// Ends every session of `user` now (password change, deactivation,
    /// operator action) and records why in the audit trail; returns how many.
    ///
    /// # Errors
    /// Store failures.
    pub async fn revoke_user_sessions(&self, user: &User, reason: &str) -> Result<u64, AuthError> {
        let ended = self.store.delete_user_sessions(user.id, None).await?;
        self.core
            .audit(
                AuditEvent::new(self.core.clock().now(), "sessions_revoked")
                    .username(&user.username)
                    .user_id(user.id)
                    .detail(format!("{ended} session(s) ended by {reason}")),
            )
            .await;
        Ok(ended)
    }

    /// Ends every session of `user` but the one under `keep`; returns how many.
    pub(super) async fn revoke_sessions_keeping(
        &self,
        user: &User,
        keep: Option<&SessionKeyHash>,
        reason: &str,
        client: &ClientInfo,
    ) -> Result<u64, AuthError> {
        let ended = self.store.delete_user_sessions(user.id, keep).await?;
        self.core
            .audit(
                AuditEvent::new(self.core.clock().now(), "sessions_revoked")
                    .username(&user.username)
                    .user_id(user.id)
                    .client(client.ip)
                    .detail(format!("{ended} other session(s) ended by {reason}")),
            )
            .await;
        Ok(ended)
    }
}
