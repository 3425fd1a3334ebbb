//! Small cryptographic helpers. The primitives themselves (OS CSPRNG, SHA-256,
//! HMAC, constant-time comparison) come from well-kept crates; this module only
//! fixes how Latchkey uses them so every call site agrees.

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Lower-case letters and digits: Django's session key alphabet.
pub(crate) const SESSION_KEY_CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
/// Django's CSRF alphabet (`string.ascii_letters + string.digits`).
pub(crate) const CSRF_CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// Fills `buf` from the operating system's CSPRNG.
///
/// # Panics
/// Panics if the OS refuses to provide randomness. There is no safe way to
/// continue issuing secrets without it, so failing loudly is the only option.
pub(crate) fn os_random(buf: &mut [u8]) {
    getrandom::fill(buf).expect("the operating system CSPRNG is unavailable");
}

/// A string of `len` characters drawn uniformly from `alphabet` using the OS
/// CSPRNG. Rejection sampling keeps the distribution uniform (a plain modulo
/// would bias the first characters of the alphabet).
pub(crate) fn random_string(len: usize, alphabet: &[u8]) -> String {
    assert!(!alphabet.is_empty() && alphabet.len() <= 256);
    let limit = 256 - (256 % alphabet.len());
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        os_random(&mut buf);
        for &b in &buf {
            if (b as usize) < limit {
                out.push(alphabet[b as usize % alphabet.len()] as char);
                if out.len() == len {
                    break;
                }
            }
        }
    }
    out
}

/// Constant-time equality of two byte strings. Lengths are not secret.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// Hex-encoded SHA-256.
pub(crate) fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// HMAC-SHA256 with a purpose salt folded into the key, as Django's
/// `salted_hmac` does, so one secret can serve several purposes without one
/// MAC being replayable as another. The key derivation and HMAC pads are
/// computed once: the session auth hash is checked on every authenticated
/// request. Deliberately not `Debug`: its state is key material.
#[derive(Clone)]
pub(crate) struct SaltedHmac(Hmac<Sha256>);

/// A 64-character lowercase hex digest, on the stack.
pub(crate) struct HexDigest([u8; 64]);

impl HexDigest {
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Display for HexDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(std::str::from_utf8(&self.0).expect("hex is ASCII"))
    }
}

impl SaltedHmac {
    pub(crate) fn new(salt: &str, key: &[u8]) -> Self {
        let derived = Sha256::new().chain_update(salt.as_bytes()).chain_update(key).finalize();
        Self(Hmac::<Sha256>::new_from_slice(&derived).expect("HMAC accepts any key length"))
    }

    pub(crate) fn hex(&self, value: &[u8]) -> HexDigest {
        let mut mac = self.0.clone();
        mac.update(value);
        let mut out = [0u8; 64];
        hex::encode_to_slice(mac.finalize().into_bytes(), &mut out).expect("32 bytes fill 64 hex digits");
        HexDigest(out)
    }
}

/// Seals small secrets stored in the database (TOTP secrets) with
/// XChaCha20-Poly1305 under a key derived from the secret key, so a copy of
/// the database alone does not yield them. Sealed text is `v1.` + base64 of
/// a random 192-bit nonce and the ciphertext with its tag. Opening tries the
/// current key, then each fallback (a key rotation keeps old seals
/// readable). Deliberately not `Debug`: its state is key material.
pub(crate) struct SecretBox(Vec<chacha20poly1305::XChaCha20Poly1305>);

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox([redacted])")
    }
}

const SECRET_BOX_SALT: &str = "latchkey.crypto.secret_box";

impl SecretBox {
    /// A box for the current key followed by the fallbacks.
    pub(crate) fn new<'a>(keys: impl Iterator<Item = &'a [u8]>) -> Self {
        use chacha20poly1305::KeyInit;
        Self(
            keys.map(|k| {
                let derived = Sha256::new().chain_update(SECRET_BOX_SALT.as_bytes()).chain_update(k).finalize();
                chacha20poly1305::XChaCha20Poly1305::new_from_slice(&derived).expect("a 256-bit key")
            })
            .collect(),
        )
    }

    /// `plaintext`, sealed under the current key.
    pub(crate) fn seal(&self, plaintext: &[u8]) -> String {
        use base64::Engine;
        use chacha20poly1305::aead::Aead;
        let mut nonce = [0u8; 24];
        os_random(&mut nonce);
        let sealed = self.0[0]
            .encrypt(&chacha20poly1305::XNonce::from(nonce), plaintext)
            .expect("sealing a short secret cannot fail");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        format!("v1.{}", base64::engine::general_purpose::STANDARD_NO_PAD.encode(out))
    }

    /// The plaintext of `sealed`, or `None` when no key opens it (tampered,
    /// or sealed under a key that is no longer configured).
    pub(crate) fn open(&self, sealed: &str) -> Option<Vec<u8>> {
        use base64::Engine;
        use chacha20poly1305::aead::Aead;
        let raw = base64::engine::general_purpose::STANDARD_NO_PAD.decode(sealed.strip_prefix("v1.")?).ok()?;
        if raw.len() < 24 + 16 {
            return None;
        }
        let (nonce, body) = raw.split_at(24);
        let nonce = chacha20poly1305::XNonce::try_from(nonce).ok()?;
        self.0.iter().find_map(|c| c.decrypt(&nonce, body).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_with_the_key_or_a_fallback_and_never_when_tampered() {
        let current = SecretBox::new([b"current key".as_slice()].into_iter());
        let sealed = current.seal(b"JBSWY3DPEHPK3PXP");
        assert!(sealed.starts_with("v1.") && !sealed.contains("JBSWY3DP"));
        assert_ne!(current.seal(b"same"), current.seal(b"same"), "a fresh nonce each time");
        assert_eq!(current.open(&sealed).as_deref(), Some(b"JBSWY3DPEHPK3PXP".as_slice()));
        let rotated = SecretBox::new([b"new key".as_slice(), b"current key".as_slice()].into_iter());
        assert_eq!(rotated.open(&sealed).as_deref(), Some(b"JBSWY3DPEHPK3PXP".as_slice()), "through the fallback");
        let other = SecretBox::new([b"another key".as_slice()].into_iter());
        assert_eq!(other.open(&sealed), None);
        let mut tampered = sealed.clone();
        let last = tampered.pop().unwrap();
        tampered.push(if last == 'A' { 'B' } else { 'A' });
        assert_eq!(current.open(&tampered), None);
        for junk in ["", "v1.", "v2.abc", "v1.!!!", "v1.AAAA"] {
            assert_eq!(current.open(junk), None, "{junk:?}");
        }
    }

    #[test]
    fn random_strings_use_only_the_alphabet_and_differ() {
        let a = random_string(32, SESSION_KEY_CHARS);
        let b = random_string(32, SESSION_KEY_CHARS);
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| SESSION_KEY_CHARS.contains(&c)));
        assert_ne!(a, b);
    }

    #[test]
    fn random_strings_cover_the_whole_alphabet() {
        let s = random_string(20_000, CSRF_CHARS);
        for c in CSRF_CHARS {
            assert!(s.as_bytes().contains(c), "missing {}", *c as char);
        }
    }

    #[test]
    fn constant_time_eq_compares_content_and_length() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }

    #[test]
    fn salted_hmac_depends_on_salt_key_and_value() {
        let salted_hmac_hex = |salt: &str, key: &[u8], value: &[u8]| SaltedHmac::new(salt, key).hex(value).to_string();
        let base = salted_hmac_hex("s", b"k", b"v");
        assert_eq!(base.len(), 64);
        assert_ne!(base, salted_hmac_hex("t", b"k", b"v"));
        assert_ne!(base, salted_hmac_hex("s", b"l", b"v"));
        assert_ne!(base, salted_hmac_hex("s", b"k", b"w"));
        assert_eq!(base, salted_hmac_hex("s", b"k", b"v"));
    }
}
