//! The audit trail: structured events on the tracing target
//! `latchkey::audit`, and (setting `audit.persist`, on by default) rows in
//! the `latchkey_auth_events` table that `latchkey events` lists.
//!
//! Events never carry a password, session key, CSRF token or cookie.

mod aggregate;

use std::{fmt, net::IpAddr};

use time::OffsetDateTime;

pub use self::aggregate::{AGGREGATED, Aggregator};
use crate::{
    error::StoreError,
    page::{Page, PageRequest},
};

/// One security-relevant event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// When.
    pub at: OffsetDateTime,
    /// What: `login`, `login_failed`, `login_throttled`, `logout`,
    /// `csrf_rejected`, `basic_auth_failed`, `password_changed`,
    /// `sessions_revoked`, `user_deactivated`, `user_activated`,
    /// `cross_site_logout_refused`, `oidc_failed`, `oidc_callback_refused`,
    /// `oidc_linked`, `oidc_unlinked`.
    pub event: String,
    /// The (submitted) username, if any: whose account it concerns.
    pub username: Option<String>,
    /// Who did it, when not the user themselves (an operator's username,
    /// or `cli`).
    pub actor: Option<String>,
    /// The user id, when known.
    pub user_id: Option<i64>,
    /// The client address, when known.
    pub client_ip: Option<String>,
    /// Reason or other detail, for people.
    pub detail: String,
    /// How many times it happened: 1, or more for an aggregate (see
    /// [`Aggregator`]); `at` is then the last time.
    pub count: u32,
}

impl AuditEvent {
    /// A new event happening `at`.
    pub fn new(at: OffsetDateTime, event: &str) -> Self {
        Self {
            at,
            event: event.to_owned(),
            username: None,
            actor: None,
            user_id: None,
            client_ip: None,
            detail: String::new(),
            count: 1,
        }
    }

    /// With the submitted username (control characters removed, at most 150 characters).
    pub fn username(mut self, name: &str) -> Self {
        self.username = Some(name.chars().filter(|c| !c.is_control()).take(150).collect());
        self
    }

    /// With who did it (an operator acting on another's account).
    pub fn actor(mut self, name: &str) -> Self {
        self.actor = Some(name.chars().filter(|c| !c.is_control()).take(150).collect());
        self
    }

    /// With the user id.
    pub fn user_id(mut self, id: i64) -> Self {
        self.user_id = Some(id);
        self
    }

    /// With the client address.
    pub fn client(mut self, ip: Option<IpAddr>) -> Self {
        self.client_ip = ip.map(|i| i.to_string());
        self
    }

    /// With a detail.
    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        let d: String = detail.into();
        self.detail = d.chars().filter(|c| !c.is_control()).take(500).collect();
        self
    }
}

impl fmt::Display for AuditEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.at, self.event)?;
        if let Some(u) = &self.username {
            write!(f, " user={u:?}")?;
        }
        if let Some(id) = self.user_id {
            write!(f, " user_id={id}")?;
        }
        if let Some(a) = &self.actor {
            write!(f, " by={a:?}")?;
        }
        if let Some(ip) = &self.client_ip {
            write!(f, " client={ip}")?;
        }
        if self.count > 1 {
            write!(f, " count={}", self.count)?;
        }
        if !self.detail.is_empty() {
            write!(f, " {}", self.detail)?;
        }
        Ok(())
    }
}

/// Where audit events are kept.
#[async_trait::async_trait]
pub trait AuditStore: Send + Sync + fmt::Debug + 'static {
    /// Appends an event.
    async fn record(&self, event: &AuditEvent) -> Result<(), StoreError>;
    /// The newest `limit` events, newest first, optionally of one username.
    async fn list(&self, limit: u32, username: Option<&str>) -> Result<Vec<AuditEvent>, StoreError>;
    /// One page of the events concerning or done by `user` (a username)
    /// and of the kind `kind`, newest first, each with its id; the count
    /// is exact up to [`crate::page::EXACT_COUNT_LIMIT`].
    async fn query(
        &self,
        user: Option<&str>,
        kind: Option<&str>,
        page: PageRequest,
    ) -> Result<Page<(i64, AuditEvent)>, StoreError>;
}

/// Keeps nothing (when `audit.persist` is off); events still go to the log.
#[derive(Debug, Default)]
pub struct NoAuditStore;

#[async_trait::async_trait]
impl AuditStore for NoAuditStore {
    async fn record(&self, _: &AuditEvent) -> Result<(), StoreError> {
        Ok(())
    }

    async fn list(&self, _: u32, _: Option<&str>) -> Result<Vec<AuditEvent>, StoreError> {
        Ok(Vec::new())
    }

    async fn query(
        &self,
        _: Option<&str>,
        _: Option<&str>,
        _: PageRequest,
    ) -> Result<Page<(i64, AuditEvent)>, StoreError> {
        Ok(Page { count: 0, count_is_estimate: false, results: Vec::new() })
    }
}
