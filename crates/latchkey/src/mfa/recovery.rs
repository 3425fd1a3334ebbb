//! Recovery codes: ten single-use codes shown once when a factor is set up,
//! for when the device is lost. Each is 10 characters from a 32-letter
//! alphabet without look-alikes (50 bits), shown as `xxxxx-xxxxx`, typed in
//! any case with or without the dash. Only an HMAC of each is stored, keyed
//! by the secret key ([`RecoveryCodeKey`]), so a copy of the database alone cannot be searched
//! for them.

use crate::crypto::{SaltedHmac, constant_time_eq, random_string};

/// How many codes a set has.
pub const CODES_PER_SET: usize = 10;
/// Characters per code (without the dash).
pub const CODE_CHARS: usize = 10;
/// No 0/o, 1/l/i: read off paper and typed back without doubt.
const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";

/// The salt of the HMAC that keys stored recovery codes.
const RECOVERY_CODE_SALT: &str = "latchkey.mfa.recovery_code";

/// The key stored codes are HMACed with, derived from the secret key.
/// Deliberately not `Debug`-printable beyond its name: it is key material.
pub struct RecoveryCodeKey(SaltedHmac);

impl std::fmt::Debug for RecoveryCodeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RecoveryCodeKey([redacted])")
    }
}

/// A fresh set of codes, as shown to the user (`xxxxx-xxxxx`).
pub fn generate_set() -> Vec<String> {
    (0..CODES_PER_SET)
        .map(|_| {
            let raw = random_string(CODE_CHARS, ALPHABET);
            format!("{}-{}", &raw[..CODE_CHARS / 2], &raw[CODE_CHARS / 2..])
        })
        .collect()
}

/// A typed code in its canonical form (lower case, no dash or spaces), or
/// `None` when it cannot be a recovery code at all.
pub fn normalize(typed: &str) -> Option<String> {
    let s: String = typed.chars().filter(|c| *c != '-' && !c.is_whitespace()).collect::<String>().to_lowercase();
    (s.len() == CODE_CHARS && s.bytes().all(|b| ALPHABET.contains(&b))).then_some(s)
}

impl RecoveryCodeKey {
    /// The key for `secret_key`.
    pub fn new(secret_key: &[u8]) -> Self {
        Self(SaltedHmac::new(RECOVERY_CODE_SALT, secret_key))
    }

    /// What is stored for a code (hex HMAC of its canonical form); `None`
    /// when it cannot be a code.
    pub fn stored_form(&self, code: &str) -> Option<String> {
        normalize(code).map(|c| self.0.hex(c.as_bytes()).to_string())
    }

    /// The index in `stored` of the code `typed` matches, comparing with
    /// every stored code in constant time.
    pub fn find(&self, stored: &[String], typed: &str) -> Option<usize> {
        let wanted = self.stored_form(typed)?;
        stored.iter().enumerate().fold(None, |found, (i, s)| {
            if constant_time_eq(s.as_bytes(), wanted.as_bytes()) && found.is_none() { Some(i) } else { found }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_is_ten_distinct_codes_of_fifty_bits_without_look_alikes() {
        let set = generate_set();
        assert_eq!(set.len(), 10);
        let unique: std::collections::HashSet<_> = set.iter().collect();
        assert_eq!(unique.len(), 10);
        for c in &set {
            assert_eq!((c.len(), &c[5..6]), (11, "-"), "{c}");
            assert!(!c.contains(['0', 'o', '1', 'l', 'i']), "{c}");
        }
        assert_eq!(ALPHABET.len(), 31);
    }

    #[test]
    fn codes_are_typed_in_any_case_with_or_without_the_dash() {
        let code = &generate_set()[0];
        let canonical = normalize(code).unwrap();
        for typed in [code.to_uppercase(), canonical.clone(), format!(" {} ", code.replace('-', " "))] {
            assert_eq!(normalize(&typed).as_deref(), Some(canonical.as_str()), "{typed}");
        }
        for bad in ["", "short", "abcde-fghj0", "abcde-fghjkm", "123456"] {
            assert_eq!(normalize(bad), None, "{bad}");
        }
    }

    #[test]
    fn only_an_hmac_is_stored_and_it_finds_the_code() {
        let set = generate_set();
        let key = RecoveryCodeKey::new(b"test secret key");
        let stored: Vec<String> = set.iter().map(|c| key.stored_form(c).unwrap()).collect();
        assert!(stored.iter().all(|s| s.len() == 64 && !set.iter().any(|c| s.contains(&c[..5]))));
        assert_eq!(key.find(&stored, &set[3].to_uppercase()), Some(3));
        assert_eq!(key.find(&stored, "zzzzz-zzzzz"), None);
        let other = RecoveryCodeKey::new(b"another key");
        assert_eq!(other.find(&stored, &set[3]), None, "keyed by the secret key");
        assert!(!format!("{key:?}").contains("test"));
    }
}
