//! Mail that is never lost: the outbox. A request that must send mail
//! writes it (or the request that produces it) to the outbox and answers at
//! once; a sender loop in every serving instance claims rows for a lease,
//! delivers them through a transport (`crate::mailer`), and marks them done,
//! or schedules a retry with a growing back-off. A sender that dies
//! mid-delivery leaves its claim to expire, and another sender takes the row
//! again: delivery is at least once, never zero times.
//!
//! This module is the domain: the records, the store trait every backend
//! implements, the back-off rule and the messages' words. No SMTP here.

use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

pub use crate::error::StoreError;

/// One message, ready to send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mail {
    /// The recipient's address.
    pub to: String,
    /// The subject line.
    pub subject: String,
    /// The plain-text body.
    pub body: String,
}

/// What an outbox row asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Job {
    /// Send this message.
    Mail(Mail),
    /// Someone asked to reset the password of the accounts using this
    /// address. Resolved by the sender, not the request, so the request does
    /// exactly the same work whether or not the address exists.
    PasswordReset {
        /// The address as submitted.
        email: String,
    },
    /// Send a verification link to the unverified accounts using this
    /// address (sign-up, a resend, a login refused for an unverified
    /// address). Resolved by the sender, as a reset request is.
    VerifyEmail {
        /// The address.
        email: String,
    },
}

impl Job {
    /// The `kind` column.
    pub fn kind(&self) -> &'static str {
        match self {
            Job::Mail(_) => "mail",
            Job::PasswordReset { .. } => "password_reset",
            Job::VerifyEmail { .. } => "verify_email",
        }
    }

    /// The `payload` column: the job's fields as JSON.
    pub fn payload(&self) -> String {
        match self {
            Job::Mail(m) => serde_json::to_string(m),
            Job::PasswordReset { email } | Job::VerifyEmail { email } => {
                serde_json::to_string(&serde_json::json!({ "email": email }))
            }
        }
        .expect("plain data serialises")
    }

    /// The job of a stored row.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] for an unknown kind or a payload that does not parse.
    pub fn from_row(kind: &str, payload: &str) -> Result<Job, StoreError> {
        let corrupt = |e: serde_json::Error| StoreError::Corrupt(format!("outbox {kind}: {e}"));
        match kind {
            "mail" => Ok(Job::Mail(serde_json::from_str(payload).map_err(corrupt)?)),
            "password_reset" | "verify_email" => {
                #[derive(Deserialize)]
                struct P {
                    email: String,
                }
                let p: P = serde_json::from_str(payload).map_err(corrupt)?;
                Ok(if kind == "password_reset" {
                    Job::PasswordReset { email: p.email }
                } else {
                    Job::VerifyEmail { email: p.email }
                })
            }
            other => Err(StoreError::Corrupt(format!("unknown outbox kind {other:?}"))),
        }
    }
}

/// Where a row stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxState {
    /// Waiting for its next attempt (or being attempted now).
    Pending,
    /// Delivered (a mail) or carried out (a request).
    Done,
    /// Given up after the last attempt; `latchkey outbox --retry` revives it.
    Failed,
}

/// One outbox row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxItem {
    /// Row id, increasing.
    pub id: i64,
    /// What to do.
    pub job: Job,
    /// When it was written.
    pub created_at: OffsetDateTime,
    /// Attempts so far (a claim counts as one).
    pub attempts: u32,
    /// Not attempted before this.
    pub next_attempt_at: OffsetDateTime,
    /// Pending, done or failed.
    pub state: OutboxState,
    /// The last failure, for operators.
    pub last_error: Option<String>,
}

/// Storage for the outbox. Every implementation passes the conformance
/// suite `latchkey::outbox_store_conformance!` (feature `testing`).
#[async_trait::async_trait]
pub trait OutboxStore: Send + Sync + fmt::Debug + 'static {
    /// Adds a job, due now; returns its id.
    async fn enqueue(&self, job: &Job, now: OffsetDateTime) -> Result<i64, StoreError>;
    /// Claims up to `limit` pending jobs that are due at `now` and not
    /// claimed by a live lease, for `lease`; each claim counts as an
    /// attempt. Two concurrent claims (even from two instances) never get
    /// the same row.
    async fn claim(
        &self,
        now: OffsetDateTime,
        lease: time::Duration,
        limit: u32,
    ) -> Result<Vec<OutboxItem>, StoreError>;
    /// Marks a claimed job done.
    async fn done(&self, id: i64, now: OffsetDateTime) -> Result<(), StoreError>;
    /// Records a failed attempt: retried at `retry_at`, or, when `None`,
    /// given up (failed).
    async fn failed(
        &self,
        id: i64,
        error: &str,
        retry_at: Option<OffsetDateTime>,
        now: OffsetDateTime,
    ) -> Result<(), StoreError>;
    /// The newest `limit` jobs, only the failed ones if asked.
    async fn list(&self, only_failed: bool, limit: u32) -> Result<Vec<OutboxItem>, StoreError>;
    /// Makes a failed job (or, with `None`, every failed job) pending and
    /// due now; returns how many.
    async fn retry(&self, id: Option<i64>, now: OffsetDateTime) -> Result<u64, StoreError>;
    /// How many jobs are pending.
    async fn backlog(&self) -> Result<u64, StoreError>;
}

/// A failed delivery, in words for the outbox's `last_error`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DeliveryError(pub String);

/// How mail leaves: printed, written to files, or sent over SMTP
/// (`crate::mailer`). The sender loop calls it; requests never do.
#[async_trait::async_trait]
pub trait MailTransport: Send + Sync + fmt::Debug + 'static {
    /// Delivers one message: `Ok` once the receiving side has taken it.
    async fn send(&self, mail: &Mail) -> Result<(), DeliveryError>;
}

/// When to try again after `attempts` failed attempts: `base` doubled each
/// time, at most an hour; `None` once `max_attempts` are spent.
pub fn next_attempt(
    now: OffsetDateTime,
    attempts: u32,
    base: std::time::Duration,
    max_attempts: u32,
) -> Option<OffsetDateTime> {
    if attempts >= max_attempts {
        return None;
    }
    let factor = 2u32.saturating_pow(attempts.saturating_sub(1).min(20));
    let delay = base.saturating_mul(factor).min(std::time::Duration::from_secs(3600));
    Some(now + time::Duration::try_from(delay).unwrap_or(time::Duration::HOUR))
}

/// The words of the password-reset mail: the link and how long it lives.
pub fn password_reset_mail(to: &str, username: &str, link: &str, ttl: std::time::Duration) -> Mail {
    let lifetime = lifetime_words(ttl);
    Mail {
        to: to.to_owned(),
        subject: "Reset your password".into(),
        body: format!(
            "Hello {username},\n\n\
             Someone asked to reset the password of your account. If it was you, open this link to choose a new \
             password:\n\n{link}\n\n\
             The link works once, for {lifetime}, and stops working if you sign in or change your password \
             meanwhile. Resetting the password signs you out everywhere.\n\n\
             If it was not you, ignore this message: your password has not changed.\n"
        ),
    }
}

fn lifetime_words(ttl: std::time::Duration) -> String {
    let minutes = ttl.as_secs().div_ceil(60);
    if minutes.is_multiple_of(24 * 60) {
        let d = minutes / (24 * 60);
        format!("{d} day{}", if d == 1 { "" } else { "s" })
    } else if minutes.is_multiple_of(60) {
        let h = minutes / 60;
        format!("{h} hour{}", if h == 1 { "" } else { "s" })
    } else {
        format!("{minutes} minute{}", if minutes == 1 { "" } else { "s" })
    }
}

/// The words of the verification mail (also for a new address).
pub fn verification_mail(to: &str, username: &str, link: &str, ttl: std::time::Duration) -> Mail {
    let lifetime = lifetime_words(ttl);
    Mail {
        to: to.to_owned(),
        subject: "Confirm your email address".into(),
        body: format!(
            "Hello {username},\n\n\
             Please confirm that this is your address by opening this link:\n\n{link}\n\n\
             The link works once, for {lifetime}. If you did not create an account, ignore this message.\n"
        ),
    }
}

/// The words of the notice after a password change or reset.
pub fn password_changed_notice(to: &str, username: &str, how: &str) -> Mail {
    Mail {
        to: to.to_owned(),
        subject: "Your password was changed".into(),
        body: format!(
            "Hello {username},\n\n\
             The password of your account was just changed ({how}), and every other session was signed out.\n\n\
             If it was not you, reset your password now with \"Forgot your password?\" on the sign-in page.\n"
        ),
    }
}

/// The words of the notice when an address is proved and the provider
/// accounts linked while it was unverified are unlinked.
pub fn identities_unlinked_notice(to: &str, username: &str, providers: &[String]) -> Mail {
    let names = providers.join(", ");
    Mail {
        to: to.to_owned(),
        subject: "Sign-in providers were unlinked from your account".into(),
        body: format!(
            "Hello {username},\n\n\
             Your email address is now confirmed. Before it was, these sign-in providers were linked to your \
             account: {names}. Anyone could have linked them, so they were unlinked.\n\n\
             If you linked them yourself, sign in (\"Forgot your password?\" sets a password if you have none) \
             and link them again from your account page.\n"
        ),
    }
}

/// The words of the notice to the old address when a change is asked for.
pub fn email_change_notice(to: &str, username: &str, new: &str) -> Mail {
    Mail {
        to: to.to_owned(),
        subject: "Your email address is being changed".into(),
        body: format!(
            "Hello {username},\n\n\
             Someone signed in to your account asked to change its email address to {new}. The change happens \
             once the new address is confirmed.\n\n\
             If it was not you, change your password now and sign out everywhere else from your account page.\n"
        ),
    }
}

/// The words of the mail to an address's owner when someone signs up with it.
pub fn signup_attempt_mail(to: &str, login_link: &str, reset_link: &str) -> Mail {
    Mail {
        to: to.to_owned(),
        subject: "Someone tried to sign up with your address".into(),
        body: format!(
            "Hello,\n\n\
             Someone tried to create an account with this email address, which already has one.\n\n\
             If it was you, sign in instead: {login_link}\n\
             Forgot your password? Ask for a new one: {reset_link}\n\n\
             If it was not you, ignore this message: nothing has changed.\n"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_survive_the_round_trip_through_their_columns() {
        for job in [
            Job::Mail(Mail { to: "a@example.com".into(), subject: "Hi \"you\"".into(), body: "line\nline".into() }),
            Job::PasswordReset { email: "Ä@example.com".into() },
            Job::VerifyEmail { email: "b@example.com".into() },
        ] {
            assert_eq!(Job::from_row(job.kind(), &job.payload()).unwrap(), job);
        }
        assert!(Job::from_row("nope", "{}").is_err());
        assert!(Job::from_row("mail", "{").is_err());
    }

    #[test]
    fn the_back_off_doubles_up_to_an_hour_and_gives_up_after_the_last_attempt() {
        let now = OffsetDateTime::UNIX_EPOCH;
        let base = std::time::Duration::from_secs(5);
        let delays: Vec<i64> =
            (1..=4).map(|a| (next_attempt(now, a, base, 10).unwrap() - now).whole_seconds()).collect();
        assert_eq!(delays, [5, 10, 20, 40]);
        assert_eq!((next_attempt(now, 9, base, 10).unwrap() - now).whole_seconds(), 1280);
        assert_eq!((next_attempt(now, 19, base, 20).unwrap() - now).whole_seconds(), 3600, "at most an hour");
        assert_eq!(next_attempt(now, 10, base, 10), None);
    }

    #[test]
    fn the_reset_mail_says_how_long_the_link_lives() {
        let m = password_reset_mail(
            "a@example.com",
            "alice",
            "https://app/reset?key=K",
            std::time::Duration::from_secs(3600),
        );
        assert!(m.body.contains("https://app/reset?key=K") && m.body.contains("1 hour") && m.body.contains("alice"));
        let m = password_reset_mail("a@example.com", "a", "l", std::time::Duration::from_secs(900));
        assert!(m.body.contains("15 minutes"));
    }
}
