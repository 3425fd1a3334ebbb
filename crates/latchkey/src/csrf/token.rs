//! Django-compatible CSRF secrets and masked tokens.
//!
//! The cookie holds a 32-character secret. Every token handed out is 64
//! characters: a fresh random mask followed by the secret "added" to the mask
//! character by character modulo 62. A new mask per response defeats BREACH
//! style compression attacks; any masked token unmasks to the same secret, and
//! Django-issued cookies and tokens interoperate with ours.

use crate::crypto::{CSRF_CHARS, constant_time_eq, random_string};

/// Length of a secret.
pub const SECRET_LENGTH: usize = 32;
/// Length of a masked token.
pub const TOKEN_LENGTH: usize = 2 * SECRET_LENGTH;

/// Why a token or cookie value has the wrong shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormatError {
    /// Neither 32 nor 64 characters.
    IncorrectLength,
    /// Characters outside `[A-Za-z0-9]`.
    InvalidCharacters,
}

fn index(c: u8) -> usize {
    CSRF_CHARS.iter().position(|&x| x == c).expect("checked alphabet")
}

/// A new random secret.
pub fn new_secret() -> String {
    random_string(SECRET_LENGTH, CSRF_CHARS)
}

/// Checks that `token` is 32 or 64 characters of the CSRF alphabet.
pub fn check_format(token: &str) -> Result<(), FormatError> {
    if token.len() != SECRET_LENGTH && token.len() != TOKEN_LENGTH {
        return Err(FormatError::IncorrectLength);
    }
    if !token.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(FormatError::InvalidCharacters);
    }
    Ok(())
}

fn mask_with(secret: &str, mask: &str) -> String {
    let mut out = String::with_capacity(TOKEN_LENGTH);
    out.push_str(mask);
    for (s, m) in secret.bytes().zip(mask.bytes()) {
        out.push(CSRF_CHARS[(index(s) + index(m)) % CSRF_CHARS.len()] as char);
    }
    out
}

/// Masks `secret` (which must be a well-formed secret) with a new random mask.
pub fn mask(secret: &str) -> String {
    debug_assert_eq!(check_format(secret), Ok(()));
    mask_with(secret, &random_string(SECRET_LENGTH, CSRF_CHARS))
}

/// Recovers the secret from a well-formed 64-character token.
pub fn unmask(token: &str) -> String {
    let (mask, cipher) = token.split_at(SECRET_LENGTH);
    cipher
        .bytes()
        .zip(mask.bytes())
        .map(|(c, m)| CSRF_CHARS[(index(c) + CSRF_CHARS.len() - index(m)) % CSRF_CHARS.len()] as char)
        .collect()
}

/// The secret behind a well-formed value: itself if 32 characters, unmasked if 64.
pub fn to_secret(value: &str) -> String {
    if value.len() == TOKEN_LENGTH { unmask(value) } else { value.to_owned() }
}

/// Whether a well-formed `token` (masked or not) matches `secret`, in constant time.
pub fn matches(token: &str, secret: &str) -> bool {
    constant_time_eq(to_secret(token).as_bytes(), secret.as_bytes())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn masked_tokens_are_64_alphanumeric_chars_and_differ_every_time() {
        let secret = new_secret();
        let (a, b) = (mask(&secret), mask(&secret));
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, b);
        assert_eq!(unmask(&a), secret);
        assert_eq!(unmask(&b), secret);
    }

    #[test]
    fn a_vector_computed_by_djangos_algorithm_unmasks() {
        // Django: _mask_cipher_secret with mask "a"*32 adds index 0, so the
        // cipher equals the secret; with mask "b"*32 every char shifts by one.
        let secret = "abcdefghijklmnopqrstuvwxyzABCDE9";
        assert_eq!(mask_with(secret, &"a".repeat(32)), format!("{}{}", "a".repeat(32), secret));
        let shifted = mask_with(secret, &"b".repeat(32));
        assert_eq!(&shifted[32..], "bcdefghijklmnopqrstuvwxyzABCDEFa");
        assert_eq!(unmask(&shifted), secret);
    }

    #[test]
    fn the_format_check_follows_django() {
        assert_eq!(check_format(&"a".repeat(32)), Ok(()));
        assert_eq!(check_format(&"a".repeat(64)), Ok(()));
        assert_eq!(check_format(&"a".repeat(31)), Err(FormatError::IncorrectLength));
        assert_eq!(check_format(""), Err(FormatError::IncorrectLength));
        assert_eq!(check_format(&format!("{}!", "a".repeat(31))), Err(FormatError::InvalidCharacters));
        assert_eq!(check_format(&"é".repeat(16)), Err(FormatError::InvalidCharacters));
    }

    proptest! {
        #[test]
        fn every_mask_of_a_secret_matches_it(secret in "[A-Za-z0-9]{32}") {
            let token = mask(&secret);
            prop_assert_eq!(unmask(&token), secret.clone());
            prop_assert!(matches(&token, &secret));
            prop_assert!(matches(&secret, &secret));
        }

        #[test]
        fn changing_one_character_breaks_the_match(secret in "[A-Za-z0-9]{32}", pos in 0usize..64, shift in 1usize..62) {
            let token = mask(&secret);
            let mut bytes = token.into_bytes();
            bytes[pos] = CSRF_CHARS[(index(bytes[pos]) + shift) % 62];
            let tampered = String::from_utf8(bytes).unwrap();
            prop_assert!(!matches(&tampered, &secret));
        }
    }
}
