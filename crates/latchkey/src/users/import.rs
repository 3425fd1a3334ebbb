//! Users brought over from another system — Django's `auth_user` — as the
//! import command reads them: checked whole (usernames, addresses, password
//! formats) before anything is written, then written one statement each.

use time::OffsetDateTime;

use super::{Email, User, Username};
use crate::password::django::DjangoHash;

/// One user as read from the other system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedUser {
    /// Normalised as ours are.
    pub username: Username,
    /// Normalised as ours are; counted as verified (the other system
    /// trusted it).
    pub email: Email,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// The hash as it was (a Django format: verified as such until the first
    /// sign-in re-hashes it).
    pub password_hash: String,
    /// Active flag.
    pub is_active: bool,
    /// Staff flag.
    pub is_staff: bool,
    /// Superuser flag.
    pub is_superuser: bool,
    /// Last sign-in there.
    pub last_login: Option<OffsetDateTime>,
    /// When the account was made there.
    pub date_joined: OffsetDateTime,
}

/// What writing an imported user did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportOutcome {
    /// A new user.
    Inserted(User),
    /// The username existed and was overwritten (`--update`).
    Updated(User),
    /// The username existed and was left alone.
    Skipped,
}

/// A row as the other system stores it, before it is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DjangoRow {
    /// `auth_user.username`.
    pub username: String,
    /// `auth_user.email`.
    pub email: String,
    /// `auth_user.first_name`.
    pub first_name: String,
    /// `auth_user.last_name`.
    pub last_name: String,
    /// `auth_user.password`.
    pub password: String,
    /// `auth_user.is_active`.
    pub is_active: bool,
    /// `auth_user.is_staff`.
    pub is_staff: bool,
    /// `auth_user.is_superuser`.
    pub is_superuser: bool,
    /// `auth_user.last_login`.
    pub last_login: Option<OffsetDateTime>,
    /// `auth_user.date_joined`.
    pub date_joined: OffsetDateTime,
}

/// A row that cannot come over as it is: whose, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// The username as stored there.
    pub username: String,
    /// Why, in words.
    pub reason: String,
}

/// Checks every row; the users to write with the hasher of each, or every
/// row that cannot come over (nothing may be written then).
///
/// # Errors
/// The refused rows: an unknown password format, an invalid username or
/// address, two rows that normalise to one username.
pub fn check_rows(rows: Vec<DjangoRow>) -> Result<Vec<(ImportedUser, &'static str)>, Vec<Refused>> {
    let mut ok = Vec::with_capacity(rows.len());
    let mut refused = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for row in rows {
        let refuse = |reason: String| Refused { username: row.username.clone(), reason };
        let hasher = match DjangoHash::parse(&row.password) {
            Some(h) => h.name(),
            None => {
                let algorithm = row.password.split('$').next().unwrap_or_default();
                refused.push(refuse(format!("password hash format {algorithm:?} is not one Latchkey can verify")));
                continue;
            }
        };
        let username = match Username::parse(&row.username) {
            Ok(u) => u,
            Err(e) => {
                refused.push(refuse(format!("username: {e}")));
                continue;
            }
        };
        if !seen.insert(username.as_str().to_owned()) {
            refused.push(refuse(format!("another row is also {:?} once normalised", username.as_str())));
            continue;
        }
        let email = match Email::parse(&row.email) {
            Ok(e) => e,
            Err(e) => {
                refused.push(refuse(format!("email {:?}: {e}", row.email)));
                continue;
            }
        };
        ok.push((
            ImportedUser {
                username,
                email,
                first_name: row.first_name,
                last_name: row.last_name,
                password_hash: row.password,
                is_active: row.is_active,
                is_staff: row.is_staff,
                is_superuser: row.is_superuser,
                last_login: row.last_login,
                date_joined: row.date_joined,
            },
            hasher,
        ));
    }
    if refused.is_empty() { Ok(ok) } else { Err(refused) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(username: &str, password: &str) -> DjangoRow {
        DjangoRow {
            username: username.into(),
            email: "Ada@Example.COM".into(),
            first_name: "Ada".into(),
            last_name: "L".into(),
            password: password.into(),
            is_active: true,
            is_staff: false,
            is_superuser: false,
            last_login: None,
            date_joined: OffsetDateTime::UNIX_EPOCH,
        }
    }

    const PBKDF2: &str = "pbkdf2_sha256$1000$6pKTeyle1lkroXvDHS5Z7F$XJIMaCDXJz9sdzJURW2dM/IU1p7XkJ0zZXBz+iEHfkQ=";

    #[test]
    fn good_rows_come_over_normalised_with_their_hasher() {
        let ok = check_rows(vec![row("ada", PBKDF2), row("bob", "!unusable")]).unwrap();
        assert_eq!(ok[0].0.email.as_str(), "Ada@example.com");
        assert_eq!((ok[0].1, ok[1].1), ("pbkdf2_sha256", "unusable"));
        assert_eq!(ok[0].0.password_hash, PBKDF2, "kept as it is");
    }

    #[test]
    fn any_bad_row_refuses_the_whole_import_naming_each() {
        let refused = check_rows(vec![
            row("ada", PBKDF2),
            row("old", "md5$salt$5f4dcc3b5aa765d61d8327deb882cf99"),
            row("bad name!", PBKDF2),
            row("ａｄａ", PBKDF2),
        ])
        .unwrap_err();
        let names: Vec<&str> = refused.iter().map(|r| r.username.as_str()).collect();
        assert_eq!(names, ["old", "bad name!", "ａｄａ"]);
        assert!(refused[0].reason.contains("\"md5\""), "{refused:?}");
    }
}
