//! The handle a user sees for each of their sessions. It must let them end
//! a session without ever exposing a session key: an HMAC, under a key
//! derived from the secret key, of the account and the stored key hash. It
//! cannot be turned back into the key or its hash, and the same session
//! listed under another account would have another id, so an id copied
//! from one account names nothing on any other.

use super::SessionKeyHash;
use crate::crypto::{SaltedHmac, constant_time_eq};

/// The HMAC salt of session ids (distinct from every other use of the key).
pub(crate) const SESSION_ID_SALT: &str = "latchkey.session.public_id";

/// Hex digits of an id: 128 bits.
const ID_LEN: usize = 32;

/// An opaque session id as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionId(String);

impl SessionId {
    /// The id of the session stored under `key` for `user_id`.
    pub(crate) fn of(mac: &SaltedHmac, user_id: i64, key: &SessionKeyHash) -> Self {
        let digest = mac.hex(format!("{user_id}:{}", key.as_str()).as_bytes());
        Self(digest.to_string()[..ID_LEN].to_owned())
    }

    /// An id from a URL, if it has the shape of one we issue.
    pub fn parse(raw: &str) -> Option<Self> {
        (raw.len() == ID_LEN && raw.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
            .then(|| Self(raw.to_owned()))
    }

    /// The id's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Constant-time equality: the comparison must not tell an attacker how
    /// much of a guessed id was right.
    pub fn matches(&self, other: &SessionId) -> bool {
        constant_time_eq(self.0.as_bytes(), other.0.as_bytes())
    }
}

impl std::fmt::Display for SessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::SessionKey;

    #[test]
    fn ids_differ_per_account_and_per_secret_and_never_contain_the_key() {
        let mac = SaltedHmac::new(SESSION_ID_SALT, b"secret");
        let key = SessionKey::generate();
        let id = SessionId::of(&mac, 1, &key.hash());
        assert_eq!(id, SessionId::of(&mac, 1, &key.hash()), "stable");
        assert_ne!(id, SessionId::of(&mac, 2, &key.hash()), "another account");
        assert_ne!(id, SessionId::of(&SaltedHmac::new(SESSION_ID_SALT, b"other"), 1, &key.hash()));
        assert!(!key.hash().as_str().contains(id.as_str()) && !key.expose().contains(id.as_str()));
        assert_eq!(SessionId::parse(id.as_str()), Some(id.clone()));
        assert!(id.matches(&SessionId::parse(id.as_str()).unwrap()));
    }

    #[test]
    fn only_ids_of_our_shape_parse() {
        for bad in ["", "abc", &"g".repeat(32), &"A".repeat(32), &"a".repeat(33), &"0".repeat(64)] {
            assert!(SessionId::parse(bad).is_none(), "{bad}");
        }
    }
}
