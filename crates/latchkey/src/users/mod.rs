//! Users: the model, parse-don't-validate newtypes, and the store trait
//! (each backend in `crate::store` implements it); what operators do with
//! users is in [`admin`].

pub mod admin;
pub mod import;

use std::fmt;

use time::OffsetDateTime;
use unicode_normalization::UnicodeNormalization;

pub use self::admin::{UserChanges, UserQuery, UserUpdate};
use crate::page::Page;

/// A stored user, with Django's fields.
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    /// Primary key.
    pub id: i64,
    /// Unique, case-sensitive, NFKC-normalised.
    pub username: String,
    /// Possibly empty.
    pub email: String,
    /// The owner proved they read mail at `email` (or an operator set it).
    pub email_verified: bool,
    /// Given name, possibly empty (Django's `first_name`).
    pub first_name: String,
    /// Family name, possibly empty (Django's `last_name`).
    pub last_name: String,
    /// PHC string of the password hash. Never logged.
    pub password_hash: String,
    /// Inactive users cannot log in and lose their sessions.
    pub is_active: bool,
    /// Staff flag (admin access).
    pub is_staff: bool,
    /// Superuser flag.
    pub is_superuser: bool,
    /// Last successful login.
    pub last_login: Option<OffsetDateTime>,
    /// Creation time.
    pub date_joined: OffsetDateTime,
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("is_active", &self.is_active)
            .field("is_staff", &self.is_staff)
            .field("is_superuser", &self.is_superuser)
            .finish_non_exhaustive()
    }
}

/// A valid username: 1–150 characters, letters, digits and `@ . + - _`,
/// NFKC-normalised as Django's `AbstractBaseUser.normalize_username` does, so
/// that look-alike compatibility forms cannot register twice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

/// Why a username or email was refused; the message is for people.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidInput(pub String);

impl Username {
    /// Normalises and checks a username.
    ///
    /// # Errors
    /// A message in Django's words.
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        let s: String = raw.nfkc().collect();
        if s.is_empty() {
            return Err(InvalidInput("This field cannot be blank.".into()));
        }
        let n = s.chars().count();
        if n > 150 {
            return Err(InvalidInput(format!("Ensure this value has at most 150 characters (it has {n}).")));
        }
        if !s.chars().all(|c| c.is_alphanumeric() || "@.+-_".contains(c)) {
            return Err(InvalidInput(
                "Enter a valid username. This value may contain only letters, numbers, and @/./+/-/_ characters."
                    .into(),
            ));
        }
        Ok(Self(s))
    }

    /// The normalised username.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An email address, possibly empty (Django's `createsuperuser` makes it optional).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Email(String);

impl Email {
    /// Checks an address and lower-cases its domain (Django's `normalize_email`).
    ///
    /// # Errors
    /// When it is not an address.
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        let s = raw.trim();
        if s.is_empty() {
            return Ok(Self::default());
        }
        let invalid = || InvalidInput("Enter a valid email address.".into());
        let (local, domain) = s.rsplit_once('@').ok_or_else(invalid)?;
        if local.is_empty()
            || domain.len() < 3
            || !domain.contains('.')
            || domain.starts_with('.')
            || domain.ends_with('.')
            || s.len() > 254
            || s.chars().any(|c| c.is_whitespace() || c.is_control())
            || domain.contains('@')
        {
            return Err(invalid());
        }
        Ok(Self(format!("{local}@{}", domain.to_lowercase())))
    }

    /// The address, or "" when none was given.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What is needed to create a user.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// Username.
    pub username: Username,
    /// Email.
    pub email: Email,
    /// Whether the address counts as verified (operators' addresses do).
    pub email_verified: bool,
    /// Given name, possibly empty (from an identity provider's `given_name`).
    pub first_name: String,
    /// Family name, possibly empty.
    pub last_name: String,
    /// Already-hashed password (PHC string).
    pub password_hash: String,
    /// Staff flag.
    pub is_staff: bool,
    /// Superuser flag.
    pub is_superuser: bool,
}

/// Failures of a user store.
#[derive(Debug, thiserror::Error)]
pub enum UserStoreError {
    /// The username is taken.
    #[error("That username is already taken.")]
    Duplicate,
    /// The backend failed.
    #[error("user store unavailable: {0}")]
    Backend(String),
}

/// Storage for users. Every implementation (and every wrapper, such as
/// [`crate::cache::Cached`]) passes the same conformance suite
/// (`latchkey::user_store_conformance!`, feature `testing`).
#[async_trait::async_trait]
pub trait UserStore: Send + Sync + fmt::Debug + 'static {
    /// The user with exactly this (normalised) username.
    async fn by_username(&self, username: &str) -> Result<Option<User>, UserStoreError>;
    /// The user with this id.
    async fn by_id(&self, id: i64) -> Result<Option<User>, UserStoreError>;
    /// Creates a user; [`UserStoreError::Duplicate`] if the username is taken.
    async fn create(&self, user: &NewUser, now: OffsetDateTime) -> Result<User, UserStoreError>;
    /// Creates a user and enqueues `job` with it. SQL stores do both in one
    /// transaction (users and the outbox share their database), so a crash
    /// cannot leave an account whose mail was never queued; the default,
    /// for stores without a transaction of their own (memory, where a crash
    /// loses everything anyway), creates and then enqueues on `outbox`.
    async fn create_with_job(
        &self,
        user: &NewUser,
        now: OffsetDateTime,
        job: &crate::mail::Job,
        outbox: &dyn crate::mail::OutboxStore,
    ) -> Result<User, UserStoreError> {
        let created = self.create(user, now).await?;
        outbox.enqueue(job, now).await.map_err(|e| UserStoreError::Backend(e.to_string()))?;
        Ok(created)
    }
    /// Replaces the password hash; `false` if there is no such user.
    async fn set_password_hash(&self, id: i64, hash: &str) -> Result<bool, UserStoreError>;
    /// Activates or deactivates; `false` if there is no such user.
    async fn set_active(&self, id: i64, active: bool) -> Result<bool, UserStoreError>;
    /// Records a successful login.
    async fn record_login(&self, id: i64, now: OffsetDateTime) -> Result<(), UserStoreError>;
    /// The active users whose address is `email`, compared without regard
    /// to case (Django allows several accounts per address), by id.
    async fn active_by_email(&self, email: &str) -> Result<Vec<User>, UserStoreError>;
    /// Whether any account, active or not, uses `email` (without regard to case).
    async fn any_with_email(&self, email: &str) -> Result<bool, UserStoreError>;
    /// Replaces the address (and whether it counts as verified); `false` if
    /// there is no such user.
    async fn set_email(&self, id: i64, email: &str, verified: bool) -> Result<bool, UserStoreError>;
    /// Marks the address verified or not; `false` if there is no such user.
    async fn set_email_verified(&self, id: i64, verified: bool) -> Result<bool, UserStoreError>;
    /// One page of the users `query` selects, in its order, with the count
    /// of all of them (exact up to [`crate::page::EXACT_COUNT_LIMIT`]).
    async fn list(&self, query: &UserQuery) -> Result<Page<User>, UserStoreError>;
    /// Applies `changes` to user `id`, unless that would leave no active
    /// superuser ([`UserUpdate::LastSuperuser`], checked atomically with
    /// the write).
    async fn update(&self, id: i64, changes: &UserChanges) -> Result<UserUpdate, UserStoreError>;
    /// Writes a user imported from another system, all of its fields in one
    /// statement: a new username is inserted; an existing one is left alone
    /// ([`import::ImportOutcome::Skipped`]) or, with `update`, overwritten
    /// (keeping its id, its address counted as verified).
    async fn import(&self, user: &import::ImportedUser, update: bool) -> Result<import::ImportOutcome, UserStoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_nfkc_normalised() {
        // U+FB01 LATIN SMALL LIGATURE FI and fullwidth letters fold to ASCII.
        assert_eq!(Username::parse("\u{FB01}sh").unwrap().as_str(), "fish");
        assert_eq!(Username::parse("ＡＢＣ").unwrap().as_str(), "ABC");
    }

    #[test]
    fn usernames_stay_case_sensitive() {
        assert_ne!(Username::parse("Demo").unwrap(), Username::parse("demo").unwrap());
    }

    #[test]
    fn usernames_accept_unicode_letters_and_djangos_symbols() {
        for ok in ["demo", "jöhn.doe+1@x-y_z", "用户"] {
            assert!(Username::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn usernames_refuse_blank_long_and_odd_characters() {
        assert!(Username::parse("").unwrap_err().0.contains("blank"));
        assert!(Username::parse(&"a".repeat(151)).unwrap_err().0.contains("150"));
        for bad in ["with space", "semi;colon", "nul\0", "tab\t", "slash/"] {
            assert!(Username::parse(bad).unwrap_err().0.contains("valid username"), "{bad:?}");
        }
    }

    #[test]
    fn emails_are_optional_checked_and_domain_lowercased() {
        assert_eq!(Email::parse("").unwrap().as_str(), "");
        assert_eq!(Email::parse("Me@Example.COM").unwrap().as_str(), "Me@example.com");
        for bad in ["nope", "@x.org", "a@b", "a b@c.org", "a@.org"] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn debug_hides_the_password_hash() {
        let u = User {
            id: 1,
            username: "demo".into(),
            email: String::new(),
            email_verified: false,
            first_name: String::new(),
            last_name: String::new(),
            password_hash: "$argon2id$secret".into(),
            is_active: true,
            is_staff: false,
            is_superuser: false,
            last_login: None,
            date_joined: OffsetDateTime::UNIX_EPOCH,
        };
        assert!(!format!("{u:?}").contains("argon2"));
    }
}
