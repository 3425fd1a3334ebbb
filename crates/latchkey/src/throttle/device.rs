//! Device cookies (OWASP, "Slow down online guessing attacks with device
//! cookies"): after a successful login the browser receives a signed token
//! that names the account and this browser. A later login that presents a
//! valid token for the account it names is a *trusted device*: exempt from
//! the per-account back-off and the per-client limit, so an attacker who
//! knows a username cannot keep its owner out, and a NAT'd office is not
//! shut out by one noisy colleague. It is still counted per (account,
//! client), and a token that fails `device_max_failures` times in a window
//! is locked out for good.
//!
//! The token is `v1.<account>.<nonce>.<issued>.<mac>`: the account key (a
//! hash of the username, as the throttle's keys), 128 random bits, the Unix
//! time it was issued, and an HMAC-SHA256 of the rest under a key derived
//! from the secret key (fallback keys are accepted, as for sessions).

use time::{Duration, OffsetDateTime};

use super::account_key;
use crate::crypto::{SaltedHmac, constant_time_eq, random_string};

const VERSION: &str = "v1";
const NONCE_CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
/// The salt of the device-cookie HMAC key.
pub(crate) const DEVICE_SALT: &str = "latchkey.throttle.device_cookie";

/// A verified device cookie: which browser it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// The random part, the key of the device's own failure counter.
    pub nonce: String,
}

fn signed_part(account: &str, nonce: &str, issued: i64) -> String {
    format!("{VERSION}.{account}.{nonce}.{issued}")
}

/// A fresh device cookie value for `username`, signed with `mac`.
pub(crate) fn issue(mac: &SaltedHmac, username: &str, now: OffsetDateTime) -> String {
    let body = signed_part(&account_key(username), &random_string(25, NONCE_CHARS), now.unix_timestamp());
    let sig = mac.hex(body.as_bytes());
    format!("{body}.{sig}")
}

/// The device `value` names, if it is well-formed, signed by one of `macs`,
/// issued for `username`, and younger than `age` at `now`.
pub(crate) fn verify(
    macs: &[SaltedHmac],
    value: &str,
    username: &str,
    now: OffsetDateTime,
    age: Duration,
) -> Option<Device> {
    let mut parts = value.split('.');
    let (Some(VERSION), Some(account), Some(nonce), Some(issued), Some(sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    if nonce.len() != 25 || !nonce.bytes().all(|b| NONCE_CHARS.contains(&b)) {
        return None;
    }
    let issued: i64 = issued.parse().ok()?;
    let body = signed_part(account, nonce, issued);
    let signed =
        macs.iter().fold(false, |ok, mac| ok | constant_time_eq(mac.hex(body.as_bytes()).as_bytes(), sig.as_bytes()));
    if !signed {
        return None;
    }
    // Compared after the signature, so a forged account costs the same work.
    if !constant_time_eq(account.as_bytes(), account_key(username).as_bytes()) {
        return None;
    }
    let issued = OffsetDateTime::from_unix_timestamp(issued).ok()?;
    (issued <= now && now - issued < age).then(|| Device { nonce: nonce.to_owned() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn macs() -> Vec<SaltedHmac> {
        vec![SaltedHmac::new(DEVICE_SALT, b"current-key"), SaltedHmac::new(DEVICE_SALT, b"old-key")]
    }

    fn t0() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
    }

    #[test]
    fn a_cookie_names_one_account_and_expires() {
        let m = macs();
        let c = issue(&m[0], "alice", t0());
        let year = Duration::days(365);
        assert!(verify(&m, &c, "alice", t0() + Duration::days(1), year).is_some());
        assert!(verify(&m, &c, "bob", t0(), year).is_none(), "another account");
        assert!(verify(&m, &c, "alice", t0() + year, year).is_none(), "expired");
        assert!(verify(&m, &c, "ａｌｉｃｅ", t0(), year).is_some(), "NFKC-equivalent names are the same account");
    }

    #[test]
    fn forged_or_altered_cookies_are_refused_and_old_keys_still_verify() {
        let m = macs();
        let year = Duration::days(365);
        let c = issue(&m[1], "alice", t0());
        assert!(verify(&m, &c, "alice", t0(), year).is_some(), "a fallback key still verifies");
        assert!(verify(&m[..1], &c, "alice", t0(), year).is_none(), "not once the old key is dropped");
        let forged = issue(&SaltedHmac::new(DEVICE_SALT, b"attacker"), "alice", t0());
        assert!(verify(&m, &forged, "alice", t0(), year).is_none());
        let c = issue(&m[0], "alice", t0());
        let later = c.replace(&format!(".{}.", t0().unix_timestamp()), &format!(".{}.", t0().unix_timestamp() + 999));
        assert!(verify(&m, &later, "alice", t0() + Duration::days(1), year).is_none(), "the issue time is signed");
        for junk in ["", "v1", "v1.a.b.c.d", &format!("{c}.x"), &c.replace("v1.", "v2.")] {
            assert!(verify(&m, junk, "alice", t0(), year).is_none(), "{junk}");
        }
    }
}
