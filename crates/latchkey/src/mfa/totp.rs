//! TOTP as authenticator apps actually honour it: HMAC-SHA-1, 6 digits,
//! 30-second steps (apps silently ignore other parameters), a 160-bit
//! secret from the OS CSPRNG shown as unpadded base32. A code is accepted
//! one step early or late (clock skew), and at most once: the caller keeps
//! the last accepted step and a code of that step or an earlier one is
//! refused as replayed (RFC 6238 §5.2). The codes themselves come from
//! totp-rs.

use std::fmt;

use time::OffsetDateTime;
use totp_rs::{Algorithm, Builder, Secret, Totp};

use crate::crypto::{constant_time_eq, os_random};

/// Seconds per step.
pub const STEP_SECONDS: u64 = 30;
/// Digits per code.
pub const DIGITS: usize = 6;
/// Steps accepted on either side of the current one.
pub const SKEW_STEPS: u64 = 1;
/// Secret length in bytes (RFC 4226 recommends 160 bits).
pub const SECRET_BYTES: usize = 20;

/// A TOTP secret. Never printed: `Debug` redacts it.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpSecret([u8; SECRET_BYTES]);

impl fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpSecret([redacted])")
    }
}

/// Why a code was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TotpRefusal {
    /// Not six digits, or not the code of any step in the window.
    #[error("invalid code")]
    Invalid,
    /// The code of a step already used (or an earlier one): a replay.
    #[error("code already used")]
    Replayed,
}

impl TotpSecret {
    /// A fresh random secret.
    pub fn generate() -> Self {
        let mut bytes = [0u8; SECRET_BYTES];
        os_random(&mut bytes);
        Self(bytes)
    }

    /// Reads a secret stored or shown as base32 (padding, case and spaces
    /// ignored); `None` unless it is exactly 160 bits.
    pub fn from_base32(s: &str) -> Option<Self> {
        let cleaned: String = s.chars().filter(|c| !c.is_whitespace() && *c != '=').collect::<String>().to_uppercase();
        let secret = Secret::try_from_base32(&cleaned).ok()?;
        let bytes: [u8; SECRET_BYTES] = secret.as_bytes().try_into().ok()?;
        Some(Self(bytes))
    }

    /// The secret as authenticator apps take it: unpadded RFC 4648 base32.
    pub fn base32(&self) -> String {
        Secret::from(self.0).to_base32().trim_end_matches('=').to_owned()
    }

    fn totp(&self) -> Totp {
        Builder::new()
            .with_algorithm(Algorithm::SHA1)
            .with_digits(DIGITS as u8)
            .with_step_duration(STEP_SECONDS)
            .with_skew(0)
            .with_secret(Secret::from(self.0))
            .build_noncompliant()
    }

    /// The code of step `step`.
    pub fn code_at_step(&self, step: u64) -> String {
        self.totp().generate(step * STEP_SECONDS).to_string()
    }

    /// The code at `at` (what an app shows then).
    pub fn code_at(&self, at: OffsetDateTime) -> String {
        self.code_at_step(step_of(at))
    }

    /// Checks `code` at `at`: one of the steps `at`'s step ± [`SKEW_STEPS`],
    /// and later than `last_step` (the last one accepted for this secret).
    /// Returns the step it matched, for the caller to store.
    ///
    /// # Errors
    /// [`TotpRefusal::Invalid`] or [`TotpRefusal::Replayed`].
    pub fn verify(&self, code: &str, at: OffsetDateTime, last_step: Option<u64>) -> Result<u64, TotpRefusal> {
        let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
        if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(TotpRefusal::Invalid);
        }
        let now = step_of(at);
        let totp = self.totp();
        // Every step of the window is computed and compared in constant
        // time, so the time taken says nothing about which one came close.
        let mut matched = None;
        for step in now.saturating_sub(SKEW_STEPS)..=now + SKEW_STEPS {
            let expected = totp.generate(step * STEP_SECONDS).to_string();
            if constant_time_eq(expected.as_bytes(), code.as_bytes()) && matched.is_none() {
                matched = Some(step);
            }
        }
        match matched {
            None => Err(TotpRefusal::Invalid),
            Some(step) if last_step.is_some_and(|last| step <= last) => Err(TotpRefusal::Replayed),
            Some(step) => Ok(step),
        }
    }

    /// The `otpauth://` URL authenticator apps read from a QR code: the
    /// label `issuer:account`, and the parameters spelled out (SHA1, 6, 30).
    pub fn otpauth_url(&self, issuer: &str, account: &str) -> String {
        let label = format!("{}:{}", percent(issuer), percent(account));
        let query: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("secret", &self.base32())
            .append_pair("issuer", issuer)
            .append_pair("algorithm", "SHA1")
            .append_pair("digits", &DIGITS.to_string())
            .append_pair("period", &STEP_SECONDS.to_string())
            .finish();
        format!("otpauth://totp/{label}?{query}")
    }
}

/// `text` (an otpauth URL) as a QR code in SVG: black modules on white with
/// the four-module quiet zone scanners need, scaled by the viewer (one unit
/// per module, crisp edges). `None` if the text is too long for a QR code.
pub fn qr_svg(text: &str) -> Option<String> {
    let qr = qrcodegen::QrCode::encode_text(text, qrcodegen::QrCodeEcc::Medium).ok()?;
    let size = qr.size();
    let border = 4;
    let dim = size + 2 * border;
    let mut path = String::new();
    for y in 0..size {
        for x in 0..size {
            if qr.get_module(x, y) {
                path.push_str(&format!("M{},{}h1v1h-1z", x + border, y + border));
            }
        }
    }
    Some(format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {dim} {dim}\" shape-rendering=\"crispEdges\" role=\"img\">\
         <rect width=\"100%\" height=\"100%\" fill=\"#fff\"/><path d=\"{path}\" fill=\"#000\"/></svg>"
    ))
}

/// The step `at` falls in (0 before the epoch).
pub fn step_of(at: OffsetDateTime) -> u64 {
    u64::try_from(at.unix_timestamp()).unwrap_or(0) / STEP_SECONDS
}

/// Percent-encodes everything but RFC 3986's unreserved characters (a
/// label's `:` separates issuer and account, so it must not appear raw).
fn percent(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(unix: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(unix).unwrap()
    }

    /// RFC 6238 appendix B, SHA-1, key "12345678901234567890": the 8-digit
    /// codes, of which a 6-digit code is the last six digits.
    #[test]
    fn codes_match_the_rfc_6238_test_vectors() {
        let secret = TotpSecret(*b"12345678901234567890");
        for (t, eight) in [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            assert_eq!(secret.code_at(at(t)), eight[2..], "T = {t}");
        }
    }

    #[test]
    fn one_step_of_skew_is_accepted_two_are_not() {
        let s = TotpSecret::generate();
        let now = at(1_800_000_000);
        let step = step_of(now);
        for (offset, ok) in [(-2i64, false), (-1, true), (0, true), (1, true), (2, false)] {
            let code = s.code_at_step(step.wrapping_add_signed(offset));
            let got = s.verify(&code, now, None);
            assert_eq!(got.is_ok(), ok, "offset {offset}: {got:?}");
            if ok {
                assert_eq!(got.unwrap(), step.wrapping_add_signed(offset));
            }
        }
    }

    #[test]
    fn a_code_is_accepted_once_and_earlier_steps_never_after() {
        let s = TotpSecret::generate();
        let now = at(1_800_000_000);
        let code = s.code_at(now);
        let step = s.verify(&code, now, None).unwrap();
        assert_eq!(s.verify(&code, now, Some(step)), Err(TotpRefusal::Replayed));
        let earlier = s.code_at_step(step - 1);
        assert_eq!(s.verify(&earlier, now, Some(step)), Err(TotpRefusal::Replayed), "an older code after a newer one");
        let later = now + time::Duration::seconds(30);
        assert_eq!(s.verify(&s.code_at(later), later, Some(step)), Ok(step + 1), "the next step's code works");
    }

    #[test]
    fn malformed_codes_are_invalid_and_spaces_are_forgiven() {
        let s = TotpSecret::generate();
        let now = at(1_800_000_000);
        let code = s.code_at(now);
        assert!(s.verify(&format!("{} {}", &code[..3], &code[3..]), now, None).is_ok());
        for bad in ["", "12345", "1234567", "abcdef", "１２３４５６", "12345\u{0}"] {
            assert_eq!(s.verify(bad, now, None), Err(TotpRefusal::Invalid), "{bad:?}");
        }
    }

    #[test]
    fn secrets_are_160_random_bits_shown_as_unpadded_base32() {
        let s = TotpSecret::generate();
        let b32 = s.base32();
        assert_eq!(b32.len(), 32);
        assert!(b32.bytes().all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b)), "{b32}");
        assert_eq!(TotpSecret::from_base32(&b32.to_lowercase()), Some(s.clone()));
        assert_ne!(TotpSecret::generate(), s);
        assert_eq!(TotpSecret::from_base32("AAAA"), None, "too short");
        assert!(!format!("{s:?}").contains(&b32));
    }

    #[test]
    fn the_qr_code_is_an_svg_of_square_modules_with_a_quiet_zone() {
        let svg = qr_svg(&TotpSecret::generate().otpauth_url("Latchkey", "ann")).unwrap();
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 "), "{svg}");
        assert!(svg.contains("h1v1h-1z") && svg.ends_with("</svg>"));
        assert!(!svg.contains("<script") && !svg.contains("ann"), "only geometry, no text");
        assert!(qr_svg(&"x".repeat(5000)).is_none(), "too long for a QR code");
    }

    #[test]
    fn the_otpauth_url_names_issuer_account_and_parameters() {
        let s = TotpSecret::generate();
        let url = s.otpauth_url("Latchkey Demo", "ann:x@example.org");
        assert!(url.starts_with("otpauth://totp/Latchkey%20Demo:ann%3Ax%40example.org?"), "{url}");
        assert!(url.contains(&format!("secret={}", s.base32())));
        assert!(url.contains("issuer=Latchkey+Demo") && url.contains("algorithm=SHA1&digits=6&period=30"), "{url}");
    }
}
