//! Users in process memory.

use std::sync::Mutex;

use time::OffsetDateTime;

use super::lock;
use crate::{
    page::Page,
    users::{NewUser, User, UserChanges, UserQuery, UserStore, UserStoreError, UserUpdate},
};

/// Users in process memory, with the same semantics as the database stores
/// (unique, case-sensitive usernames; ids from 1).
#[derive(Debug, Default)]
pub struct MemoryUserStore {
    users: Mutex<Vec<User>>,
}

impl MemoryUserStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn update(&self, id: i64, f: impl FnOnce(&mut User)) -> bool {
        match lock(&self.users).iter_mut().find(|u| u.id == id) {
            Some(u) => {
                f(u);
                true
            }
            None => false,
        }
    }
}

#[async_trait::async_trait]
impl UserStore for MemoryUserStore {
    async fn by_username(&self, username: &str) -> Result<Option<User>, UserStoreError> {
        Ok(lock(&self.users).iter().find(|u| u.username == username).cloned())
    }

    async fn by_id(&self, id: i64) -> Result<Option<User>, UserStoreError> {
        Ok(lock(&self.users).iter().find(|u| u.id == id).cloned())
    }

    async fn create(&self, new: &NewUser, now: OffsetDateTime) -> Result<User, UserStoreError> {
        let mut users = lock(&self.users);
        if users.iter().any(|u| u.username == new.username.as_str()) {
            return Err(UserStoreError::Duplicate);
        }
        let user = User {
            id: users.last().map_or(1, |u| u.id + 1),
            username: new.username.as_str().to_owned(),
            email: new.email.as_str().to_owned(),
            email_verified: new.email_verified,
            first_name: new.first_name.clone(),
            last_name: new.last_name.clone(),
            password_hash: new.password_hash.clone(),
            is_active: true,
            is_staff: new.is_staff,
            is_superuser: new.is_superuser,
            last_login: None,
            date_joined: now,
        };
        users.push(user.clone());
        Ok(user)
    }

    async fn import(
        &self,
        u: &crate::users::import::ImportedUser,
        update: bool,
    ) -> Result<crate::users::import::ImportOutcome, UserStoreError> {
        use crate::users::import::ImportOutcome;
        let mut users = lock(&self.users);
        let existing = users.iter().position(|x| x.username == u.username.as_str());
        if existing.is_some() && !update {
            return Ok(ImportOutcome::Skipped);
        }
        let id = existing.map_or_else(|| users.last().map_or(1, |x| x.id + 1), |i| users[i].id);
        let user = User {
            id,
            username: u.username.as_str().to_owned(),
            email: u.email.as_str().to_owned(),
            email_verified: true,
            first_name: u.first_name.clone(),
            last_name: u.last_name.clone(),
            password_hash: u.password_hash.clone(),
            is_active: u.is_active,
            is_staff: u.is_staff,
            is_superuser: u.is_superuser,
            last_login: u.last_login,
            date_joined: u.date_joined,
        };
        Ok(match existing {
            Some(i) => {
                users[i] = user.clone();
                ImportOutcome::Updated(user)
            }
            None => {
                users.push(user.clone());
                ImportOutcome::Inserted(user)
            }
        })
    }

    async fn set_password_hash(&self, id: i64, hash: &str) -> Result<bool, UserStoreError> {
        Ok(self.update(id, |u| u.password_hash = hash.to_owned()))
    }

    async fn set_active(&self, id: i64, active: bool) -> Result<bool, UserStoreError> {
        Ok(self.update(id, |u| u.is_active = active))
    }

    async fn record_login(&self, id: i64, now: OffsetDateTime) -> Result<(), UserStoreError> {
        self.update(id, |u| u.last_login = Some(now));
        Ok(())
    }

    async fn active_by_email(&self, email: &str) -> Result<Vec<User>, UserStoreError> {
        let email = email.to_lowercase();
        Ok(lock(&self.users).iter().filter(|u| u.is_active && u.email.to_lowercase() == email).cloned().collect())
    }

    async fn any_with_email(&self, email: &str) -> Result<bool, UserStoreError> {
        let email = email.to_lowercase();
        Ok(lock(&self.users).iter().any(|u| u.email.to_lowercase() == email))
    }

    async fn set_email(&self, id: i64, email: &str, verified: bool) -> Result<bool, UserStoreError> {
        Ok(self.update(id, |u| {
            u.email = email.to_owned();
            u.email_verified = verified;
        }))
    }

    async fn set_email_verified(&self, id: i64, verified: bool) -> Result<bool, UserStoreError> {
        Ok(self.update(id, |u| u.email_verified = verified))
    }

    async fn list(&self, query: &UserQuery) -> Result<Page<User>, UserStoreError> {
        let mut found: Vec<User> = lock(&self.users).iter().filter(|u| query.matches(u)).cloned().collect();
        query.sort(&mut found);
        let count = found.len() as u64;
        let results = query.page.slice(&found);
        // Memory holds few users: the count is always exact.
        Ok(Page { count, count_is_estimate: false, results })
    }

    async fn update(&self, id: i64, changes: &UserChanges) -> Result<UserUpdate, UserStoreError> {
        let mut users = lock(&self.users);
        let Some(at) = users.iter().position(|u| u.id == id) else { return Ok(UserUpdate::NotFound) };
        if changes.removes_a_superuser(&users[at]) && !users.iter().any(|u| u.id != id && u.is_active && u.is_superuser)
        {
            return Ok(UserUpdate::LastSuperuser);
        }
        changes.apply(&mut users[at]);
        Ok(UserUpdate::Updated(users[at].clone()))
    }
}
