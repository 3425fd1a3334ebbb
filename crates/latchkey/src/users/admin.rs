//! What operators do with users: list them (search, filters, ordering),
//! change them, and the rules that say who may change what. No storage
//! and no HTTP: the stores run [`UserQuery`] and [`UserChanges`], the
//! admin API and the CLI call [`check_change`] and [`check_sessions`].

use super::User;
use crate::page::PageRequest;

/// A column users can be ordered by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserOrderField {
    /// Username (case-sensitive, as stored).
    Username,
    /// When the account was created.
    DateJoined,
    /// Last login; never-logged-in users sort as the oldest.
    LastLogin,
}

/// An ordering: a field and a direction, as `ordering=-dateJoined` says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserOrdering {
    /// The column.
    pub field: UserOrderField,
    /// Newest/largest first.
    pub descending: bool,
}

impl Default for UserOrdering {
    /// Newest accounts first.
    fn default() -> Self {
        Self { field: UserOrderField::DateJoined, descending: true }
    }
}

impl UserOrdering {
    /// The orderings the API accepts, as it spells them.
    pub const ACCEPTED: &'static [&'static str] =
        &["username", "-username", "dateJoined", "-dateJoined", "lastLogin", "-lastLogin"];

    /// Parses `username`, `dateJoined`, `lastLogin`, each optionally
    /// prefixed with `-` for descending.
    pub fn parse(s: &str) -> Option<Self> {
        let (descending, name) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        let field = match name {
            "username" => UserOrderField::Username,
            "dateJoined" => UserOrderField::DateJoined,
            "lastLogin" => UserOrderField::LastLogin,
            _ => return None,
        };
        Some(Self { field, descending })
    }
}

/// The longest search term, in characters.
pub const MAX_SEARCH_CHARS: usize = 100;

/// Which users, in what order, which page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserQuery {
    /// Case-insensitive substring of the username or the address; `None`
    /// (or blank) for all.
    pub search: Option<String>,
    /// Only active (`Some(true)`) or inactive users.
    pub is_active: Option<bool>,
    /// Only staff or only non-staff users.
    pub is_staff: Option<bool>,
    /// Only superusers or only other users.
    pub is_superuser: Option<bool>,
    /// The order.
    pub ordering: UserOrdering,
    /// The page.
    pub page: PageRequest,
}

impl UserQuery {
    /// The search term, trimmed and lower-cased; `None` when blank.
    pub fn search_term(&self) -> Option<String> {
        let t = self.search.as_deref()?.trim();
        (!t.is_empty()).then(|| t.chars().take(MAX_SEARCH_CHARS).collect::<String>().to_lowercase())
    }

    /// Whether `user` passes the search and the filters (stores that
    /// filter in memory use this; SQL stores say the same in SQL).
    pub fn matches(&self, user: &User) -> bool {
        let flag = |want: Option<bool>, have: bool| want.is_none_or(|w| w == have);
        flag(self.is_active, user.is_active)
            && flag(self.is_staff, user.is_staff)
            && flag(self.is_superuser, user.is_superuser)
            && self
                .search_term()
                .is_none_or(|t| user.username.to_lowercase().contains(&t) || user.email.to_lowercase().contains(&t))
    }

    /// Orders `users` as asked; ties (and never-logged-in users among
    /// themselves) by id, so pages never overlap.
    pub fn sort(&self, users: &mut [User]) {
        users.sort_by(|a, b| {
            let o = match self.ordering.field {
                UserOrderField::Username => a.username.cmp(&b.username),
                UserOrderField::DateJoined => a.date_joined.cmp(&b.date_joined),
                UserOrderField::LastLogin => a.last_login.cmp(&b.last_login),
            }
            .then(a.id.cmp(&b.id));
            if self.ordering.descending { o.reverse() } else { o }
        });
    }
}

/// The longest first or last name, in characters (Django's 150).
pub const MAX_NAME_CHARS: usize = 150;

/// What an operator changes of a user; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserChanges {
    /// A new address (already normalised by [`super::Email::parse`]); it
    /// counts as unverified unless `email_verified` says otherwise.
    pub email: Option<String>,
    /// Whether the address counts as verified.
    pub email_verified: Option<bool>,
    /// First name.
    pub first_name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
    /// Active flag.
    pub is_active: Option<bool>,
    /// Staff flag.
    pub is_staff: Option<bool>,
    /// Superuser flag.
    pub is_superuser: Option<bool>,
}

impl UserChanges {
    /// Whether nothing would change.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// `user` with these changes applied (the memory store uses this; SQL
    /// stores say the same in SQL).
    pub fn apply(&self, user: &mut User) {
        if let Some(e) = &self.email {
            if *e != user.email {
                user.email_verified = false;
            }
            user.email.clone_from(e);
        }
        if let Some(v) = self.email_verified {
            user.email_verified = v;
        }
        if let Some(n) = &self.first_name {
            user.first_name.clone_from(n);
        }
        if let Some(n) = &self.last_name {
            user.last_name.clone_from(n);
        }
        if let Some(v) = self.is_active {
            user.is_active = v;
        }
        if let Some(v) = self.is_staff {
            user.is_staff = v;
        }
        if let Some(v) = self.is_superuser {
            user.is_superuser = v;
        }
    }

    /// Whether applying these to `user` leaves one active superuser fewer.
    pub fn removes_a_superuser(&self, user: &User) -> bool {
        user.is_active && user.is_superuser && (self.is_active == Some(false) || self.is_superuser == Some(false))
    }

    /// Whether these change the staff or superuser flag of `user`.
    pub fn changes_privileges(&self, user: &User) -> bool {
        self.is_staff.is_some_and(|v| v != user.is_staff) || self.is_superuser.is_some_and(|v| v != user.is_superuser)
    }

    /// Whether applying these to `user` ends its sessions (deactivation).
    pub fn deactivates(&self, user: &User) -> bool {
        user.is_active && self.is_active == Some(false)
    }
}

/// What a user store did with [`UserChanges`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserUpdate {
    /// Changed: the user as stored now.
    Updated(User),
    /// No such user.
    NotFound,
    /// Refused, nothing written: it would leave no active superuser. The
    /// store checks this in the same statement or transaction as the
    /// write, so two operators demoting the last two superusers at once
    /// cannot both succeed.
    LastSuperuser,
}

/// Who acts on a user.
#[derive(Debug, Clone, Copy)]
pub enum Actor<'a> {
    /// A staff user through the admin.
    Staff(&'a User),
    /// Someone with a shell on the server (the CLI): only the
    /// last-superuser rule applies, which the store enforces.
    Operator,
}

/// Why an operator may not do something; the words are the rule, for people.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refusal(pub &'static str);

/// The refusal when a change would leave no active superuser.
pub const LAST_SUPERUSER: Refusal = Refusal("This is the last active superuser: make another user a superuser first.");

/// Whether `actor` may make `changes` to `target`.
///
/// # Errors
/// The rule that refuses it.
pub fn check_change(actor: Actor<'_>, target: &User, changes: &UserChanges) -> Result<(), Refusal> {
    let Actor::Staff(me) = actor else { return Ok(()) };
    let own = me.id == target.id;
    if changes.changes_privileges(target) && !me.is_superuser {
        return Err(Refusal("Only superusers can change the staff or superuser status."));
    }
    if target.is_superuser && !own && !me.is_superuser {
        return Err(Refusal("Only superusers can change a superuser."));
    }
    if own && changes.is_superuser == Some(false) && target.is_superuser {
        return Err(Refusal("You cannot remove your own superuser status."));
    }
    if own && changes.is_staff == Some(false) && target.is_staff {
        return Err(Refusal("You cannot remove your own staff status: you would lose access to the admin."));
    }
    if own && changes.is_active == Some(false) {
        return Err(Refusal("You cannot deactivate your own account."));
    }
    Ok(())
}

/// Whether `actor` may set the password of `target`.
///
/// # Errors
/// The rule that refuses it.
pub fn check_set_password(actor: Actor<'_>, target: &User) -> Result<(), Refusal> {
    let Actor::Staff(me) = actor else { return Ok(()) };
    if me.id == target.id {
        return Err(Refusal("Change your own password from your account page (it keeps you signed in)."));
    }
    if target.is_superuser && !me.is_superuser {
        return Err(Refusal("Only superusers can change a superuser."));
    }
    Ok(())
}

/// Whether `actor` may remove the second factors of `target` (for a lost
/// device): as setting their password.
///
/// # Errors
/// The rule that refuses it.
pub fn check_reset_factors(actor: Actor<'_>, target: &User) -> Result<(), Refusal> {
    let Actor::Staff(me) = actor else { return Ok(()) };
    if me.id == target.id {
        return Err(Refusal("Remove your own second factors from your account page."));
    }
    if target.is_superuser && !me.is_superuser {
        return Err(Refusal("Only superusers can change a superuser."));
    }
    Ok(())
}

/// Whether `actor` may end sessions of `target`.
///
/// # Errors
/// The rule that refuses it.
pub fn check_sessions(actor: Actor<'_>, target: &User) -> Result<(), Refusal> {
    let Actor::Staff(me) = actor else { return Ok(()) };
    if target.is_superuser && me.id != target.id && !me.is_superuser {
        return Err(Refusal("Only superusers can end a superuser's sessions."));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use time::OffsetDateTime;

    use super::*;

    fn user(id: i64, staff: bool, superuser: bool) -> User {
        User {
            id,
            username: format!("u{id}"),
            email: format!("U{id}@Example.org"),
            email_verified: true,
            first_name: String::new(),
            last_name: String::new(),
            password_hash: String::new(),
            is_active: true,
            is_staff: staff,
            is_superuser: superuser,
            last_login: None,
            date_joined: OffsetDateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn orderings_parse_as_the_api_spells_them() {
        for s in UserOrdering::ACCEPTED {
            assert!(UserOrdering::parse(s).is_some(), "{s}");
        }
        assert_eq!(UserOrdering::parse("-dateJoined"), Some(UserOrdering::default()));
        for bad in ["", "-", "date_joined", "--username", "password", "id"] {
            assert_eq!(UserOrdering::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn search_is_case_insensitive_over_username_and_address() {
        let q = |s: &str| UserQuery { search: Some(s.into()), ..UserQuery::default() };
        let u = user(7, false, false);
        assert!(q("U7").matches(&u));
        assert!(q("example.ORG").matches(&u));
        assert!(q("  ").matches(&u), "blank is no search");
        assert!(!q("nobody").matches(&u));
    }

    #[test]
    fn only_superusers_change_privileges_or_superusers() {
        let staff = user(1, true, false);
        let root = user(2, true, true);
        let plain = user(3, false, false);
        let promote = UserChanges { is_staff: Some(true), ..UserChanges::default() };
        assert_eq!(
            check_change(Actor::Staff(&staff), &plain, &promote).unwrap_err(),
            Refusal("Only superusers can change the staff or superuser status.")
        );
        assert!(check_change(Actor::Staff(&root), &plain, &promote).is_ok());
        let rename = UserChanges { first_name: Some("Ann".into()), ..UserChanges::default() };
        assert!(check_change(Actor::Staff(&staff), &plain, &rename).is_ok());
        assert!(check_change(Actor::Staff(&staff), &root, &rename).is_err(), "staff cannot edit a superuser");
        assert!(check_set_password(Actor::Staff(&staff), &root).is_err());
        assert!(check_sessions(Actor::Staff(&staff), &root).is_err());
        assert!(check_sessions(Actor::Staff(&staff), &plain).is_ok());
        assert!(check_change(Actor::Operator, &root, &promote).is_ok(), "the CLI is not a staff user");
    }

    #[test]
    fn nobody_demotes_or_deactivates_themselves() {
        let root = user(2, true, true);
        for (changes, words) in [
            (UserChanges { is_superuser: Some(false), ..UserChanges::default() }, "own superuser"),
            (UserChanges { is_staff: Some(false), ..UserChanges::default() }, "own staff"),
            (UserChanges { is_active: Some(false), ..UserChanges::default() }, "deactivate your own"),
        ] {
            let refusal = check_change(Actor::Staff(&root), &root, &changes).unwrap_err();
            assert!(refusal.0.contains(words), "{refusal}");
        }
        assert!(check_set_password(Actor::Staff(&root), &root).is_err());
    }

    #[test]
    fn a_changed_address_is_unverified_unless_said_otherwise() {
        let mut u = user(1, false, false);
        UserChanges { email: Some("new@example.org".into()), ..UserChanges::default() }.apply(&mut u);
        assert!(!u.email_verified);
        UserChanges { email: Some("new@example.org".into()), email_verified: Some(true), ..UserChanges::default() }
            .apply(&mut u);
        assert!(u.email_verified);
    }
}
