//! Authentication's domain errors and the session auth hash: an HMAC of
//! the user's password hash under the secret key (Django's
//! `get_session_auth_hash`), so changing the password ends every other
//! session. The flows themselves (authenticate, login, logout, revoke) are
//! methods of the feature services in `state/` ([`crate::Passwords`], [`crate::SignIn`], …).

use secrecy::{ExposeSecret, SecretString};

use crate::{
    crypto::SaltedHmac,
    error::StoreError,
    password::{HashError, PasswordProblem},
    throttle::Throttled,
    users::UserStoreError,
};

const SESSION_HASH_SALT: &str = "latchkey.auth.session_auth_hash";

/// Failures of the sign-in and account flows ([`crate::Passwords::authenticate`] and friends).
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Unknown user, wrong password or inactive account: one answer for all.
    #[error("Invalid credentials.")]
    InvalidCredentials,
    /// Hashing queue full.
    #[error(transparent)]
    Hash(#[from] HashError),
    /// Session store failure.
    #[error(transparent)]
    Sessions(#[from] StoreError),
    /// User store failure.
    #[error(transparent)]
    Users(#[from] UserStoreError),
    /// Too many attempts: refused before the password was checked.
    #[error("too many attempts")]
    Throttled(Throttled),
    /// A sensitive action, and the password was last proved longer ago than
    /// `auth.reauthentication_window`.
    #[error("re-authentication required")]
    ReauthenticationRequired,
    /// No session of this user has that id (unknown, ended, or another
    /// user's: one answer for all).
    #[error("session not found")]
    SessionNotFound,
    /// The new password fails the validators.
    #[error("the password fails the validators")]
    PasswordInvalid(Vec<PasswordProblem>),
    /// A mailed key that is malformed, unknown, used, expired, or whose
    /// account changed since: one answer for all.
    #[error("invalid key")]
    InvalidKey,
    /// Not an email address.
    #[error("invalid email address")]
    InvalidEmail,
    /// Too many requests of a kind other than logins (password resets).
    #[error("too many requests")]
    RequestsThrottled(Throttled),
    /// Sign-up is closed (`accounts.signup`).
    #[error("sign-up is closed")]
    SignupClosed,
    /// Not a valid username; the reason in words.
    #[error("{0}")]
    InvalidUsername(String),
    /// The username is taken (usernames are public).
    #[error("username taken")]
    UsernameTaken,
    /// The address is taken (only said when verification is not mandatory).
    #[error("email taken")]
    EmailTaken,
    /// The requested address is the current one.
    #[error("email unchanged")]
    EmailUnchanged,
    /// The password was right, but the address must be verified first.
    #[error("email unverified")]
    EmailUnverified,
    /// The password was right, but it came where no second factor can
    /// follow (HTTP Basic) and the account has one. (Where one can follow,
    /// the sign-in pipeline answers [`crate::state::Outcome::SecondFactor`].)
    #[error("second factor cannot be carried")]
    SecondFactorUnsupported,
    /// Staff must set up a second factor first (`mfa.required_for_staff`).
    #[error("second factor setup required")]
    MfaSetupRequired,
    /// A second factor's step refused ([`SecondFactorError`]).
    #[error(transparent)]
    SecondFactor(#[from] SecondFactorError),
}

/// Why setting up, using or managing a second factor was refused: the
/// second-factor flows' own failures (mapped to statuses in `http/error.rs`).
#[derive(Debug, thiserror::Error)]
pub enum SecondFactorError {
    /// Setting up a factor the user already has.
    #[error("second factor already enabled")]
    MfaAlreadyEnabled,
    /// Removing or using a factor the user does not have.
    #[error("no second factor")]
    MfaNotEnabled,
    /// No sign-in waits for a second factor in this session (none began,
    /// or it expired).
    #[error("no pending sign-in")]
    MfaNotPending,
    /// Activating a factor whose setup is not (or no longer) in the session.
    #[error("no factor being set up")]
    MfaSetupExpired,
    /// A wrong, malformed or already used code.
    #[error("invalid code")]
    InvalidCode,
    /// No origin may use passkeys with these settings (`webauthn.rp_id`).
    #[error("webauthn unavailable")]
    WebauthnUnavailable,
    /// A passkey answer without its options in this session (none asked
    /// for, used already, or older than 5 minutes).
    #[error("no webauthn ceremony")]
    WebauthnNotStarted,
    /// A passkey answer that does not verify (malformed, wrong challenge,
    /// origin or signature, unknown credential, counter gone back).
    #[error("webauthn verification failed")]
    WebauthnFailed,
    /// Registering a credential that is registered already.
    #[error("credential exists")]
    WebauthnCredentialExists,
    /// No such credential of this user.
    #[error("no such credential")]
    WebauthnCredentialNotFound,
    /// A credential name that is not acceptable; why, in words.
    #[error("{0}")]
    InvalidName(String),
}

/// The session-auth-hash HMACs of the secret key and each fallback, in that order.
pub(crate) fn session_hash_macs<'a>(keys: impl Iterator<Item = &'a SecretString>) -> Vec<SaltedHmac> {
    macs_for(SESSION_HASH_SALT, keys)
}

/// HMACs under `salt` of each key, in order (the secret key, then its fallbacks).
pub(crate) fn macs_for<'a>(salt: &str, keys: impl Iterator<Item = &'a SecretString>) -> Vec<SaltedHmac> {
    keys.map(|k| SaltedHmac::new(salt, k.expose_secret().as_bytes())).collect()
}
