//! The admin's flows: what staff users (through `/api/admin/`) and
//! operators (through the CLI) do with users, sessions and the audit trail.
//! No HTTP here: `crate::http::routes::admin` and the server's commands
//! call these.
//!
//! Who may do what is decided by the rules of `users::admin`
//! ([`check_change`] and its siblings); every change needs a staff user
//! who proved their password recently, and is audited with who did it to
//! whom. The rule that one active superuser always remains is enforced by
//! the store, atomically with the write.

use std::{collections::HashMap, fmt};

use std::sync::Arc;

use crate::{
    audit::AuditEvent,
    auth::AuthError,
    page::{Page, PageRequest},
    password::{PasswordHasher, RawPassword},
    session::{ClientInfo, Session, SessionId, SessionKeyHash},
    state::{Core, Mailing, SessionAuth},
    users::{
        Email, NewUser, User, UserChanges, UserQuery, UserStore, UserStoreError, UserUpdate, Username,
        admin::{
            Actor, LAST_SUPERUSER, MAX_NAME_CHARS, Refusal, check_change, check_reset_factors, check_sessions,
            check_set_password,
        },
    },
};

use super::SessionSummary;

/// The admin's flows, and what they touch: the users, their sessions and
/// second factors, the audit trail, and the notices mailed to users.
#[derive(Clone)]
pub struct Admin {
    pub(super) core: Core,
    pub(super) users: Arc<dyn UserStore>,
    pub(super) hasher: PasswordHasher,
    pub(super) mfa: Arc<dyn crate::mfa::MfaStore>,
    pub(super) sessions: SessionAuth,
    pub(super) mail: Mailing,
}
/// Why an admin action failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The caller may not do this; the rule in words.
    #[error("{0}")]
    Refused(Refusal),
    /// No user has that id.
    #[error("no such user")]
    UserNotFound,
    /// A field is invalid: which, and why.
    #[error("{field}: {message}")]
    Invalid {
        /// The field, as the API names it.
        field: &'static str,
        /// Why, for people.
        message: String,
    },
    /// Authentication, session or store failures.
    #[error(transparent)]
    Auth(#[from] AuthError),
}

impl From<UserStoreError> for AdminError {
    fn from(e: UserStoreError) -> Self {
        Self::Auth(e.into())
    }
}

impl From<crate::error::StoreError> for AdminError {
    fn from(e: crate::error::StoreError) -> Self {
        Self::Auth(e.into())
    }
}

/// The refusal for a signed-in user who is not active staff.
pub(crate) const NOT_STAFF: Refusal =
    Refusal("You do not have permission to use the admin: it is for staff users only.");

/// Who is acting.
#[derive(Debug, Clone, Copy)]
pub enum Acting<'a> {
    /// A staff user in the admin: their session must hold a recent
    /// authentication for any change.
    Staff {
        /// The staff user.
        user: &'a User,
        /// Their session.
        session: &'a Session,
        /// Where they are.
        client: &'a ClientInfo,
    },
    /// The CLI, run by someone with a shell on the server.
    Cli,
}

impl Acting<'_> {
    fn actor(&self) -> Actor<'_> {
        match self {
            Acting::Staff { user, .. } => Actor::Staff(user),
            Acting::Cli => Actor::Operator,
        }
    }

    fn name(&self) -> &str {
        match self {
            Acting::Staff { user, .. } => &user.username,
            Acting::Cli => "cli",
        }
    }

    fn event(&self, core: &Core, kind: &str, target: &User) -> AuditEvent {
        let e =
            AuditEvent::new(core.clock().now(), kind).username(&target.username).user_id(target.id).actor(self.name());
        match self {
            Acting::Staff { client, .. } => e.client(client.ip),
            Acting::Cli => e,
        }
    }
}

/// A session as the admin shows it: whose, and its id in the admin's form.
#[derive(Debug, Clone)]
pub struct AdminSession {
    /// The user (id and username), if the account still exists.
    pub user: Option<(i64, String)>,
    /// The user id the session belongs to.
    pub user_id: i64,
    /// The session, with its id under that user.
    pub summary: SessionSummary,
}

/// A session id as the admin names it: `USER_ID.SESSION_ID`, since a
/// session id alone says nothing about whose it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminSessionId {
    /// Whose.
    pub user_id: i64,
    /// Which, among that user's.
    pub id: SessionId,
}

impl AdminSessionId {
    /// Parses `USER_ID.SESSION_ID`.
    pub fn parse(s: &str) -> Option<Self> {
        let (user, id) = s.split_once('.')?;
        let user_id = user.parse().ok().filter(|u: &i64| *u > 0 && !user.starts_with('+'))?;
        Some(Self { user_id, id: SessionId::parse(id)? })
    }
}

impl fmt::Display for AdminSessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.user_id, self.id)
    }
}

/// Checks a first or last name.
///
/// # Errors
/// [`AdminError::Invalid`] for `field`.
pub(crate) fn parse_name(field: &'static str, raw: &str) -> Result<String, AdminError> {
    let name = raw.trim();
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(AdminError::Invalid {
            field,
            message: format!("Ensure this value has at most {MAX_NAME_CHARS} characters."),
        });
    }
    if name.chars().any(char::is_control) {
        return Err(AdminError::Invalid { field, message: "Control characters are not allowed.".into() });
    }
    Ok(name.to_owned())
}

fn describe(changes: &UserChanges) -> String {
    let mut parts = Vec::new();
    let flag = |name: &str, v: Option<bool>| v.map(|v| format!("{name}={v}"));
    if changes.email.is_some() {
        parts.push("email".to_owned());
    }
    if changes.first_name.is_some() || changes.last_name.is_some() {
        parts.push("name".to_owned());
    }
    parts.extend(flag("emailVerified", changes.email_verified));
    parts.extend(flag("isActive", changes.is_active));
    parts.extend(flag("isStaff", changes.is_staff));
    parts.extend(flag("isSuperuser", changes.is_superuser));
    parts.join(", ")
}

impl Admin {
    /// Refuses anyone but an active staff user.
    ///
    /// # Errors
    /// [`AdminError::Refused`], saying the admin is for staff users.
    pub fn require_staff(&self, user: &User) -> Result<(), AdminError> {
        if user.is_active && user.is_staff { Ok(()) } else { Err(AdminError::Refused(NOT_STAFF)) }
    }

    async fn authorize_change(&self, who: &Acting<'_>) -> Result<(), AdminError> {
        if let Acting::Staff { user, session, .. } = who {
            self.require_staff(user)?;
            self.sessions.require_recent_authentication(session).await?;
        }
        Ok(())
    }

    async fn target(&self, id: i64) -> Result<User, AdminError> {
        self.users.by_id(id).await?.ok_or(AdminError::UserNotFound)
    }

    /// One page of users.
    ///
    /// # Errors
    /// Store failures.
    pub async fn list_users(&self, query: &UserQuery) -> Result<Page<User>, AdminError> {
        Ok(self.users.list(query).await?)
    }

    /// The user `id`.
    ///
    /// # Errors
    /// [`AdminError::UserNotFound`], or a store failure.
    pub async fn user(&self, id: i64) -> Result<User, AdminError> {
        self.target(id).await
    }

    /// Creates a user (not staff; the address counts as verified, as an
    /// operator gave it). The password must pass the validators.
    ///
    /// # Errors
    /// [`AdminError::Invalid`], [`AuthError::UsernameTaken`],
    /// [`AuthError::PasswordInvalid`], the rules, or a store failure.
    pub async fn create_user(
        &self,
        who: &Acting<'_>,
        username: &str,
        email: &str,
        password: &RawPassword,
    ) -> Result<User, AdminError> {
        self.authorize_change(who).await?;
        let username =
            Username::parse(username).map_err(|e| AdminError::Invalid { field: "username", message: e.0 })?;
        let email = Email::parse(email).map_err(|e| AdminError::Invalid { field: "email", message: e.0 })?;
        let problems = self.core.settings().password_policy.check(password, username.as_str(), email.as_str());
        if !problems.is_empty() {
            return Err(AuthError::PasswordInvalid(problems).into());
        }
        let password_hash = self.hasher.hash(password).await.map_err(AuthError::from)?;
        let new = NewUser {
            username,
            email_verified: !email.as_str().is_empty(),
            email,
            password_hash,
            first_name: String::new(),
            last_name: String::new(),
            is_staff: false,
            is_superuser: false,
        };
        let user = match self.users.create(&new, self.core.clock().now()).await {
            Err(UserStoreError::Duplicate) => return Err(AuthError::UsernameTaken.into()),
            other => other?,
        };
        self.core.audit(who.event(&self.core, "user_created", &user)).await;
        Ok(user)
    }

    /// Changes user `id`; a deactivation ends all their sessions on every
    /// instance. Returns the user as stored now.
    ///
    /// # Errors
    /// [`AdminError::Refused`] (a rule, or the last active superuser),
    /// [`AdminError::UserNotFound`], [`AuthError::ReauthenticationRequired`],
    /// or a store failure.
    pub async fn update_user(&self, who: &Acting<'_>, id: i64, changes: &UserChanges) -> Result<User, AdminError> {
        self.authorize_change(who).await?;
        let target = self.target(id).await?;
        check_change(who.actor(), &target, changes).map_err(AdminError::Refused)?;
        if changes.is_empty() {
            return Ok(target);
        }
        let updated = match self.users.update(id, changes).await? {
            UserUpdate::Updated(u) => u,
            UserUpdate::NotFound => return Err(AdminError::UserNotFound),
            UserUpdate::LastSuperuser => return Err(AdminError::Refused(LAST_SUPERUSER)),
        };
        let kind = match (target.is_active, updated.is_active) {
            (true, false) => "user_deactivated",
            (false, true) => "user_activated",
            _ => "user_changed",
        };
        self.core.audit(who.event(&self.core, kind, &updated).detail(describe(changes))).await;
        if target.is_active && !updated.is_active {
            self.sessions.revoke_user_sessions(&updated, &format!("deactivation by {}", who.name())).await?;
        }
        Ok(updated)
    }

    /// Sets the password of user `id` (it must pass the validators) and
    /// ends all their sessions; returns how many ended.
    ///
    /// # Errors
    /// [`AuthError::PasswordInvalid`], the rules, [`AdminError::UserNotFound`],
    /// [`AuthError::ReauthenticationRequired`], or a store failure.
    pub async fn set_password(&self, who: &Acting<'_>, id: i64, password: &RawPassword) -> Result<u64, AdminError> {
        self.authorize_change(who).await?;
        let target = self.target(id).await?;
        check_set_password(who.actor(), &target).map_err(AdminError::Refused)?;
        let problems = self.core.settings().password_policy.check(password, &target.username, &target.email);
        if !problems.is_empty() {
            return Err(AuthError::PasswordInvalid(problems).into());
        }
        let hash = self.hasher.hash(password).await.map_err(AuthError::from)?;
        if !self.users.set_password_hash(id, &hash).await? {
            return Err(AdminError::UserNotFound);
        }
        self.core
            .audit(who.event(&self.core, "password_changed", &target).detail(format!("set by {}", who.name())))
            .await;
        self.mail.notify_password_changed(&target, "by an administrator").await?;
        Ok(self.sessions.revoke_user_sessions(&target, &format!("a password set by {}", who.name())).await?)
    }

    /// Removes every second factor of user `id` (a lost device) and ends all
    /// their sessions; `false` when they had none (nothing is ended then).
    ///
    /// # Errors
    /// The rules, [`AdminError::UserNotFound`],
    /// [`AuthError::ReauthenticationRequired`], or a store failure.
    pub async fn reset_factors(&self, who: &Acting<'_>, id: i64) -> Result<bool, AdminError> {
        self.authorize_change(who).await?;
        let target = self.target(id).await?;
        check_reset_factors(who.actor(), &target).map_err(AdminError::Refused)?;
        if !self.mfa.reset(id).await? {
            return Ok(false);
        }
        self.core
            .audit(who.event(&self.core, "mfa_disabled", &target).detail(format!("reset by {}", who.name())))
            .await;
        self.sessions
            .revoke_user_sessions(&target, &format!("a reset of the second factors by {}", who.name()))
            .await?;
        Ok(true)
    }

    /// The live sessions of user `id`, newest first (`current` marks the
    /// caller's own session, if it is among them).
    ///
    /// # Errors
    /// [`AdminError::UserNotFound`], or a store failure.
    pub async fn user_sessions(&self, id: i64, caller: Option<&Session>) -> Result<Vec<AdminSession>, AdminError> {
        let target = self.target(id).await?;
        let current = match caller {
            Some(s) => s.key_hash().await?,
            None => None,
        };
        let sessions = self.sessions.sessions_of(&target, current.as_ref()).await?;
        let user = Some((target.id, target.username));
        Ok(sessions.into_iter().map(|summary| AdminSession { user: user.clone(), user_id: id, summary }).collect())
    }

    /// Ends every session of user `id` (on every instance); returns how many.
    ///
    /// # Errors
    /// The rules, [`AdminError::UserNotFound`],
    /// [`AuthError::ReauthenticationRequired`], or a store failure.
    pub async fn end_user_sessions(&self, who: &Acting<'_>, id: i64) -> Result<u64, AdminError> {
        self.authorize_change(who).await?;
        let target = self.target(id).await?;
        check_sessions(who.actor(), &target).map_err(AdminError::Refused)?;
        let ended = self.sessions.store.delete_user_sessions(target.id, None).await?;
        self.core
            .audit(
                who.event(&self.core, "sessions_revoked", &target)
                    .detail(format!("{ended} session(s) ended by {}", who.name())),
            )
            .await;
        Ok(ended)
    }

    /// Ends one session, named as the admin names it.
    ///
    /// # Errors
    /// [`AuthError::SessionNotFound`] (also for an unknown user), the
    /// rules, [`AuthError::ReauthenticationRequired`], or a store failure.
    pub async fn end_session(&self, who: &Acting<'_>, id: &AdminSessionId) -> Result<(), AdminError> {
        self.authorize_change(who).await?;
        let target = match self.users.by_id(id.user_id).await? {
            Some(u) => u,
            None => return Err(AuthError::SessionNotFound.into()),
        };
        check_sessions(who.actor(), &target).map_err(AdminError::Refused)?;
        let key = self.sessions.find_session(&target, &id.id).await?;
        self.sessions.store.delete(&key).await?;
        self.core
            .audit(who.event(&self.core, "session_ended", &target).detail(format!(
                "session {} ended by {}",
                id.id,
                who.name()
            )))
            .await;
        Ok(())
    }

    /// One page of every live signed-in session, most recent activity
    /// first, with whose each is (`current` marks the caller's own).
    ///
    /// # Errors
    /// Store failures.
    pub async fn live_sessions(
        &self,
        page: PageRequest,
        caller: Option<&Session>,
    ) -> Result<Page<AdminSession>, AdminError> {
        let current: Option<SessionKeyHash> = match caller {
            Some(s) => s.key_hash().await?,
            None => None,
        };
        let records = self.sessions.store.list_live(self.core.clock().now(), page).await?;
        let mut names: HashMap<i64, Option<(i64, String)>> = HashMap::new();
        for r in &records.results {
            if let Some(uid) = r.user_id
                && !names.contains_key(&uid)
            {
                let user = self.users.by_id(uid).await?.map(|u| (u.id, u.username));
                names.insert(uid, user);
            }
        }
        Ok(records.map(|r| {
            let user_id = r.user_id.unwrap_or_default();
            AdminSession {
                user: names.get(&user_id).cloned().flatten(),
                user_id,
                summary: self.sessions.summarize(user_id, r, current.as_ref()),
            }
        }))
    }

    /// One page of audit events concerning or done by the username `user`,
    /// of the kind `kind`, newest first.
    ///
    /// # Errors
    /// Store failures.
    pub async fn events(
        &self,
        user: Option<&str>,
        kind: Option<&str>,
        page: PageRequest,
    ) -> Result<Page<(i64, AuditEvent)>, AdminError> {
        Ok(self.core.audit_store().query(user, kind, page).await?)
    }
}
