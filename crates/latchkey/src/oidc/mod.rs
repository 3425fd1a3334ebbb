//! Signing in with an OpenID Connect provider: the identities that tie a
//! provider's account (`issuer` + `sub`) to a user, the store trait every
//! backend implements, the flow state kept between the redirect to the
//! provider and the callback, and the rules that need no network (which
//! `next` paths are ours, the username a new account gets, why a sign-in
//! failed). Talking to providers is `crate::idp`'s; the flows are methods of
//! [`crate::Latchkey`] in `state/oidc.rs`.

use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use unicode_normalization::UnicodeNormalization;

pub use crate::error::StoreError;

/// How long a started sign-in may take at the provider before its state is
/// dead (the 10 minutes; a login form, a consent screen, a second
/// factor at the provider).
pub const FLOW_TTL: time::Duration = time::Duration::minutes(10);

/// Anonymous starts per client address (IPv6 by /64) per throttle window:
/// each writes a flow record, so a script must not flood the store.
pub const STARTS_PER_CLIENT: u32 = 60;

/// The longest `next` path kept (anything longer is ignored).
pub const NEXT_MAX_BYTES: usize = 2048;

/// A provider's account linked to a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Primary key (the Account page's handle for unlinking).
    pub id: i64,
    /// Whose.
    pub user_id: i64,
    /// The provider's `id` in the settings.
    pub provider: String,
    /// The `iss` of the ID tokens (a provider's issuer can change with its
    /// settings; the pair `(issuer, subject)` is what OpenID Connect makes unique).
    pub issuer: String,
    /// The `sub` claim: the provider's stable id of the account.
    pub subject: String,
    /// The address the provider gave when linked (shown, never trusted later).
    pub email: String,
    /// When it was linked.
    pub created_at: OffsetDateTime,
    /// When it last signed in.
    pub last_used_at: Option<OffsetDateTime>,
}

/// What linking needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewIdentity {
    /// Whose.
    pub user_id: i64,
    /// See [`Identity::provider`].
    pub provider: String,
    /// See [`Identity::issuer`].
    pub issuer: String,
    /// See [`Identity::subject`].
    pub subject: String,
    /// See [`Identity::email`].
    pub email: String,
}

/// Storage for identities. Every implementation passes
/// `latchkey::identity_store_conformance!` (feature `testing`).
#[async_trait::async_trait]
pub trait IdentityStore: Send + Sync + fmt::Debug + 'static {
    /// Links `identity`; `None`, writing nothing, when that provider account
    /// is already linked (to anyone: one provider account, one user).
    async fn link(&self, identity: &NewIdentity, now: OffsetDateTime) -> Result<Option<Identity>, StoreError>;
    /// The identity of a provider account, if linked.
    async fn find(&self, provider: &str, issuer: &str, subject: &str) -> Result<Option<Identity>, StoreError>;
    /// The identities of `user_id`, oldest first.
    async fn list(&self, user_id: i64) -> Result<Vec<Identity>, StoreError>;
    /// Unlinks identity `id` of `user_id`; `false` if it is not theirs or gone.
    async fn unlink(&self, user_id: i64, id: i64) -> Result<bool, StoreError>;
    /// Records a sign-in with identity `id`.
    async fn record_use(&self, id: i64, now: OffsetDateTime) -> Result<(), StoreError>;
}

/// The claims of a validated ID token (signature, `iss`, `aud`, `azp`,
/// `exp` and `nonce` already checked) that the flows use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedClaims {
    /// `iss`.
    pub issuer: String,
    /// `sub`.
    pub subject: String,
    /// `email`, if given and an address.
    pub email: Option<String>,
    /// `email_verified`: the provider vouches for the address.
    pub email_verified: bool,
    /// `preferred_username`, if given.
    pub preferred_username: Option<String>,
    /// `given_name`, if given.
    pub given_name: Option<String>,
    /// `family_name`, if given.
    pub family_name: Option<String>,
}

/// What a started sign-in keeps server-side until its callback (single
/// use, [`FLOW_TTL`]); the browser holds only a random key to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flow {
    /// The provider's id.
    pub provider: String,
    /// The `state` sent to the provider (compared in constant time).
    pub state: String,
    /// The `nonce` the ID token must carry.
    pub nonce: String,
    /// The PKCE verifier (S256).
    pub verifier: String,
    /// A same-origin path to land on, already checked by [`safe_next`].
    pub next: Option<String>,
    /// Linking from the Account page: the signed-in user the identity goes to.
    pub link_user: Option<i64>,
}

/// Why an OpenID Connect sign-in failed: a stable code the SPA shows in
/// words (`?loginError=<code>`); the audit event says more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The provider said `access_denied` (the user cancelled or refused).
    AccessDenied,
    /// The provider answered another error.
    ProviderError,
    /// The provider refused this site's client (a wrong secret, an
    /// unregistered scope or grant): only an operator can mend it, and the
    /// server's log says how.
    ProviderMisconfigured,
    /// Discovery, the token endpoint or the keys could not be reached.
    ProviderUnavailable,
    /// No started sign-in in this browser matches (unknown, used, expired,
    /// another browser's, another provider's, a wrong `state`).
    StateInvalid,
    /// The `iss` response parameter names another issuer (RFC 9207).
    IssuerMismatch,
    /// The code exchange failed or the ID token is invalid.
    TokenInvalid,
    /// The account is inactive.
    AccountInactive,
    /// A local account has the provider's address; sign in with its password
    /// and link from the Account page.
    LinkRequired,
    /// New accounts are not created (`accounts.signup` or `auto_signup`).
    SignupClosed,
    /// The provider gave no usable address and one is required.
    EmailRequired,
    /// The address must be verified before signing in (a link was sent).
    EmailUnverified,
    /// A new account needs a verified address (`mandatory`), and the
    /// provider does not vouch for the one it gave: an account made from it
    /// could be a stranger's claim on that address.
    ProviderEmailUnverified,
    /// Linking: that provider account belongs to another user.
    IdentityTaken,
    /// Linking: the signed-in user changed or left since the link started.
    LinkInvalid,
    /// Too many starts from this client.
    Throttled,
}

impl Failure {
    /// Every code, for the SPA's words and the documentation.
    pub const ALL: [Failure; 16] = [
        Failure::AccessDenied,
        Failure::ProviderError,
        Failure::ProviderMisconfigured,
        Failure::ProviderUnavailable,
        Failure::StateInvalid,
        Failure::IssuerMismatch,
        Failure::TokenInvalid,
        Failure::AccountInactive,
        Failure::LinkRequired,
        Failure::SignupClosed,
        Failure::EmailRequired,
        Failure::EmailUnverified,
        Failure::ProviderEmailUnverified,
        Failure::IdentityTaken,
        Failure::LinkInvalid,
        Failure::Throttled,
    ];

    /// The code.
    pub fn code(self) -> &'static str {
        match self {
            Failure::AccessDenied => "access_denied",
            Failure::ProviderError => "provider_error",
            Failure::ProviderMisconfigured => "provider_misconfigured",
            Failure::ProviderUnavailable => "provider_unavailable",
            Failure::StateInvalid => "state_invalid",
            Failure::IssuerMismatch => "issuer_mismatch",
            Failure::TokenInvalid => "token_invalid",
            Failure::AccountInactive => "account_inactive",
            Failure::LinkRequired => "link_required",
            Failure::SignupClosed => "signup_closed",
            Failure::EmailRequired => "email_required",
            Failure::EmailUnverified => "email_unverified",
            Failure::ProviderEmailUnverified => "provider_email_unverified",
            Failure::IdentityTaken => "identity_taken",
            Failure::LinkInvalid => "link_invalid",
            Failure::Throttled => "throttled",
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// `raw` if it is a path on our own origin: one leading `/` (never `//` or
/// `/\`, which browsers read as another host), no control characters or
/// backslashes, at most [`NEXT_MAX_BYTES`]. Anything else is ignored.
pub fn safe_next(raw: &str) -> Option<String> {
    let ok = raw.starts_with('/')
        && !raw.starts_with("//")
        && raw.len() <= NEXT_MAX_BYTES
        && !raw.chars().any(|c| c == '\\' || c.is_control() || c.is_whitespace());
    ok.then(|| raw.to_owned())
}

/// The username a new account from a provider starts from: the provider's
/// `preferred_username`, else the address's local part, else "user";
/// NFKC-normalised, characters a username cannot have dropped, at most 140
/// characters (room for a suffix that makes it unique).
pub fn base_username(preferred: Option<&str>, email: Option<&str>) -> String {
    let from = |s: &str| -> String {
        s.nfkc().filter(|c| c.is_alphanumeric() || "@.+-_".contains(*c)).take(140).collect::<String>()
    };
    [preferred, email.and_then(|e| e.rsplit_once('@').map(|(local, _)| local))]
        .into_iter()
        .flatten()
        .map(from)
        .find(|s| !s.is_empty())
        .unwrap_or_else(|| "user".to_owned())
}

/// A provider's `given_name` or `family_name` as the account keeps it:
/// trimmed, control characters dropped, at most `max_chars` (the limit the
/// admin's form enforces); empty when absent.
pub fn profile_name(raw: Option<&str>, max_chars: usize) -> String {
    let clean: String = raw.unwrap_or("").chars().filter(|c| !c.is_control()).collect();
    clean.trim().chars().take(max_chars).collect::<String>().trim_end().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_a_provider_are_kept_clean_and_within_the_admins_limit() {
        assert_eq!(profile_name(Some("  Zoë  "), 150), "Zoë");
        assert_eq!(profile_name(Some("Ada\u{0}\nLovelace"), 150), "AdaLovelace");
        assert_eq!(profile_name(None, 150), "");
        assert_eq!(profile_name(Some(&"é".repeat(400)), 150).chars().count(), 150);
        assert_eq!(profile_name(Some("Ada Lovelace"), 4), "Ada", "no space left at the cut");
    }

    #[test]
    fn only_paths_on_our_own_origin_are_kept_as_next() {
        for good in ["/", "/account", "/some/path?tab=2#x", "/%2F%2Fevil.example"] {
            assert_eq!(safe_next(good).as_deref(), Some(good), "{good}");
        }
        let long = format!("/{}", "a".repeat(NEXT_MAX_BYTES));
        for bad in [
            "",
            "account",
            "//evil.example/",
            "/\\evil.example",
            "https://evil.example/",
            "javascript:alert(1)",
            "/a\nb",
            "/a b",
            "\t/x",
            long.as_str(),
        ] {
            assert_eq!(safe_next(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_new_username_comes_from_preferred_username_then_the_address_then_user() {
        assert_eq!(base_username(Some("ada"), Some("x@example.com")), "ada");
        assert_eq!(base_username(None, Some("ada.lovelace@example.com")), "ada.lovelace");
        assert_eq!(base_username(Some("  "), Some("bob@example.com")), "bob", "nothing usable: the next source");
        assert_eq!(base_username(Some("ﬁnn smith!"), None), "finnsmith", "NFKC, invalid characters dropped");
        assert_eq!(base_username(None, None), "user");
        assert_eq!(base_username(Some(&"x".repeat(300)), None).len(), 140);
        for name in [base_username(Some("Zoë"), None), base_username(Some("李"), None)] {
            assert!(crate::users::Username::parse(&name).is_ok(), "{name}");
        }
    }

    #[test]
    fn failure_codes_are_unique_words() {
        let mut codes: Vec<_> = Failure::ALL.iter().map(|f| f.code()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), Failure::ALL.len());
        assert!(codes.iter().all(|c| c.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')));
    }
}
