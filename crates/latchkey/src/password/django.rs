//! Django's password hash formats, so users imported from a Django project
//! (`latchkey import-django`) sign in with the passwords they have; the
//! first successful sign-in re-hashes to Latchkey's Argon2id.
//!
//! Formats (Django's `PASSWORD_HASHERS`), as stored in `auth_user.password`:
//! `pbkdf2_sha256$ITER$SALT$B64`, `pbkdf2_sha1$ITER$SALT$B64`,
//! `argon2$argon2id$v=19$m=…,t=…,p=…$SALT$HASH` (a PHC string after the
//! `argon2` prefix), `bcrypt_sha256$$2b$COST$…` (bcrypt of the hex SHA-256 of
//! the password), `bcrypt$$2b$COST$…`, `scrypt$N$SALT$R$P$B64`; a value
//! starting with `!` is Django's unusable password. Comparisons are constant
//! time; costs are bounded, so a crafted row cannot stall the hashing pool.

use argon2::PasswordVerifier;
use base64::{Engine, engine::general_purpose::STANDARD};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The largest PBKDF2 iteration count accepted (Django 5 uses 1,000,000+).
const MAX_PBKDF2_ITERATIONS: u32 = 20_000_000;
/// The largest bcrypt cost accepted (Django's default is 12).
const MAX_BCRYPT_COST: u32 = 16;
/// The largest scrypt N accepted (Django's default is 2^14).
const MAX_SCRYPT_N: u64 = 1 << 20;

/// A Django hash, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DjangoHash {
    /// `pbkdf2_sha256` or `pbkdf2_sha1`.
    Pbkdf2 {
        /// SHA-256 (else SHA-1).
        sha256: bool,
        /// Rounds.
        iterations: u32,
        /// As stored (Django uses its ASCII bytes).
        salt: String,
        /// The derived key.
        hash: Vec<u8>,
    },
    /// Django's `argon2` hasher: the PHC string after the prefix.
    Argon2(String),
    /// `bcrypt_sha256` (`true`) or `bcrypt`: the bcrypt string (`$2b$…`).
    Bcrypt {
        /// Whether the password is first reduced to its hex SHA-256.
        sha256: bool,
        /// `$2b$12$…`.
        hash: String,
    },
    /// `scrypt`.
    Scrypt {
        /// N (a power of two).
        n: u64,
        /// r.
        r: u32,
        /// p.
        p: u32,
        /// As stored.
        salt: String,
        /// The derived key (64 bytes in Django).
        hash: Vec<u8>,
    },
    /// `!…`: no password signs in.
    Unusable,
}

impl DjangoHash {
    /// Parses a stored Django hash; `None` for a format Latchkey cannot
    /// verify (or costs beyond the bounds).
    pub fn parse(stored: &str) -> Option<DjangoHash> {
        if stored.starts_with('!') || stored.is_empty() {
            return Some(DjangoHash::Unusable);
        }
        let (algorithm, rest) = stored.split_once('$')?;
        match algorithm {
            "pbkdf2_sha256" | "pbkdf2_sha1" => {
                let mut parts = rest.splitn(3, '$');
                let iterations: u32 = parts.next()?.parse().ok()?;
                let salt = parts.next()?.to_owned();
                let hash = STANDARD.decode(parts.next()?).ok()?;
                let expected = if algorithm == "pbkdf2_sha256" { 32 } else { 20 };
                (iterations > 0 && iterations <= MAX_PBKDF2_ITERATIONS && hash.len() == expected && !salt.is_empty())
                    .then_some(DjangoHash::Pbkdf2 { sha256: algorithm == "pbkdf2_sha256", iterations, salt, hash })
            }
            "argon2" => {
                let phc = format!("${rest}");
                let parsed = argon2::password_hash::phc::PasswordHash::new(&phc).ok()?;
                let variant = ["argon2id", "argon2i", "argon2d"].contains(&parsed.algorithm.as_str());
                (variant && parsed.hash.is_some()).then_some(DjangoHash::Argon2(phc))
            }
            "bcrypt_sha256" | "bcrypt" => {
                let hash = rest.strip_prefix('$').map(|h| format!("${h}"))?;
                let cost: u32 = hash.split('$').nth(2)?.parse().ok()?;
                (hash.len() == 60 && (4..=MAX_BCRYPT_COST).contains(&cost))
                    .then_some(DjangoHash::Bcrypt { sha256: algorithm == "bcrypt_sha256", hash })
            }
            "scrypt" => {
                let parts: Vec<&str> = rest.split('$').collect();
                let [n, salt, r, p, hash] = parts[..] else { return None };
                let (n, r, p): (u64, u32, u32) = (n.parse().ok()?, r.parse().ok()?, p.parse().ok()?);
                let hash = STANDARD.decode(hash).ok()?;
                (n.is_power_of_two()
                    && n > 1
                    && n <= MAX_SCRYPT_N
                    && (1..=32).contains(&r)
                    && (1..=16).contains(&p)
                    && !hash.is_empty()
                    && hash.len() <= 128)
                    .then(|| DjangoHash::Scrypt { n, r, p, salt: salt.to_owned(), hash })
            }
            _ => None,
        }
    }

    /// Django's name for the hasher (what the import counts by).
    pub fn name(&self) -> &'static str {
        match self {
            DjangoHash::Pbkdf2 { sha256: true, .. } => "pbkdf2_sha256",
            DjangoHash::Pbkdf2 { sha256: false, .. } => "pbkdf2_sha1",
            DjangoHash::Argon2(_) => "argon2",
            DjangoHash::Bcrypt { sha256: true, .. } => "bcrypt_sha256",
            DjangoHash::Bcrypt { sha256: false, .. } => "bcrypt",
            DjangoHash::Scrypt { .. } => "scrypt",
            DjangoHash::Unusable => "unusable",
        }
    }

    /// Whether `password` matches. CPU-bound: run it on the hashing pool.
    pub fn verify(&self, password: &[u8]) -> bool {
        match self {
            DjangoHash::Pbkdf2 { sha256, iterations, salt, hash } => {
                let mut out = vec![0u8; hash.len()];
                if *sha256 {
                    pbkdf2::pbkdf2_hmac::<Sha256>(password, salt.as_bytes(), *iterations, &mut out);
                } else {
                    pbkdf2::pbkdf2_hmac::<sha1::Sha1>(password, salt.as_bytes(), *iterations, &mut out);
                }
                out.ct_eq(hash).into()
            }
            // The parameters (and the variant) come from the PHC string.
            DjangoHash::Argon2(phc) => argon2::Argon2::default().verify_password(password, phc.as_str()).is_ok(),
            DjangoHash::Bcrypt { sha256, hash } => {
                let digest;
                let input: &[u8] = if *sha256 {
                    digest = hex::encode(Sha256::digest(password));
                    digest.as_bytes()
                } else {
                    password
                };
                bcrypt::verify(input, hash).unwrap_or(false)
            }
            DjangoHash::Scrypt { n, r, p, salt, hash } => {
                let log_n = n.trailing_zeros() as u8;
                let Ok(params) = scrypt::Params::new(log_n, *r, *p) else { return false };
                let mut out = vec![0u8; hash.len()];
                if scrypt::scrypt(password, salt.as_bytes(), &params, &mut out).is_err() {
                    return false;
                }
                out.ct_eq(hash).into()
            }
            DjangoHash::Unusable => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Made by Django 5.2's own hashers (`hasher.encode(PASSWORD, hasher.salt())`,
    /// PBKDF2 at 1,000 rounds and scrypt at N = 2^10 to keep the test quick).
    const PASSWORD: &str = "correct horse ✓ battery";
    const VECTORS: &[(&str, &str)] = &[
        ("pbkdf2_sha256", "pbkdf2_sha256$1000$6pKTeyle1lkroXvDHS5Z7F$XJIMaCDXJz9sdzJURW2dM/IU1p7XkJ0zZXBz+iEHfkQ="),
        ("pbkdf2_sha1", "pbkdf2_sha1$1000$H3PKYXZOQRwWvGne05fwjo$mzkKOmpPC3dIKwESWfiLN/m9blQ="),
        (
            "argon2",
            "argon2$argon2id$v=19$m=102400,t=2,p=8$T2pBalRpVFJ5ZXBwTGkzTHZoNlNyYQ$KgYeemRAfQlY6/wWlREifRXoyC1wex4oQKYpixNCknY",
        ),
        ("bcrypt_sha256", "bcrypt_sha256$$2b$12$N2T5pybYNd6GAR5lJcqEK.Pooh5qo9Drj6Ri77mJD4GsEESbh0KmS"),
        ("bcrypt", "bcrypt$$2b$12$1dStt5oMaoyb0Pmpi74Dr.R7GMlu1hra2o1yh.ofhTTm4YW0Zzhk2"),
        (
            "scrypt",
            "scrypt$1024$5Jnt0FVANZYBk87YncyjVf$8$5$sSF2gGIuY6hdJ0c1hkSlSOnVYmfOIHvyQHB3FZyT9VZmzJB9PZiHLjRqStTH5vn+DVSPMDYnxCihFU2CPJ7RgA==",
        ),
    ];

    #[test]
    fn every_django_hasher_verifies_its_password_and_nothing_else() {
        for (name, stored) in VECTORS {
            let h = DjangoHash::parse(stored).unwrap_or_else(|| panic!("{name} parses"));
            assert_eq!(h.name(), *name);
            assert!(h.verify(PASSWORD.as_bytes()), "{name}: the right password");
            assert!(!h.verify(b"correct horse battery"), "{name}: a wrong one");
            assert!(!h.verify(b""), "{name}: empty");
        }
    }

    #[test]
    fn unusable_passwords_parse_and_match_nothing() {
        let h = DjangoHash::parse("!gWS0usODbbwE39bdM8X3rapLfnA5UEBumu9zPgNo").unwrap();
        assert_eq!(h, DjangoHash::Unusable);
        assert!(!h.verify(b"gWS0usODbbwE39bdM8X3rapLfnA5UEBumu9zPgNo"));
    }

    #[test]
    fn unknown_formats_and_costs_beyond_the_bounds_are_refused() {
        for bad in [
            "md5$salt$5f4dcc3b5aa765d61d8327deb882cf99",
            "sha1$salt$abc",
            "unsalted_md5$$5f4dcc3b5aa765d61d8327deb882cf99",
            "crypt$$ab01FAX.bQRSU",
            "pbkdf2_sha256$0$salt$XJIMaCDXJz9sdzJURW2dM/IU1p7XkJ0zZXBz+iEHfkQ=",
            "pbkdf2_sha256$99999999$salt$XJIMaCDXJz9sdzJURW2dM/IU1p7XkJ0zZXBz+iEHfkQ=",
            "pbkdf2_sha256$1000$salt$tooshort",
            "bcrypt$$2b$31$1dStt5oMaoyb0Pmpi74Dr.R7GMlu1hra2o1yh.ofhTTm4YW0Zzhk2",
            "scrypt$1000$salt$8$1$AAAA",
            "scrypt$4194304$salt$8$1$AAAA",
            "argon2$nonsense",
            "plain text",
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaA",
        ] {
            assert!(DjangoHash::parse(bad).is_none(), "{bad}");
        }
    }
}
