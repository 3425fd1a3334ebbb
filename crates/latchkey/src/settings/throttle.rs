//! `[throttle]`: the failed-login throttling policy's limits (the policy
//! itself is `crate::throttle`).

use serde::Deserialize;
use time::Duration;

use super::SettingsError;

/// Throttling is on by default.
pub const THROTTLE_ENABLED: bool = true;
/// Default counting window, seconds: 15 minutes.
pub const THROTTLE_WINDOW: u64 = 900;
/// Default attempts per (account, client) and window.
pub const THROTTLE_PER_PAIR: u32 = 5;
/// Default attempts per client and window.
pub const THROTTLE_PER_IP: u32 = 100;
/// Default attempts per account and window before the back-off.
pub const THROTTLE_PER_ACCOUNT: u32 = 30;
/// Default cap of the per-account back-off, seconds.
pub const THROTTLE_MAX_BACKOFF: u64 = 60;
/// Default lifetime of a device cookie, seconds: one year.
pub const THROTTLE_DEVICE_COOKIE_AGE: u64 = 31_536_000;
/// Default failed logins per window before a device cookie is locked out.
pub const THROTTLE_DEVICE_MAX_FAILURES: u32 = 5;

/// The failed-login throttling policy's limits; see `crate::throttle` for
/// how they are applied.
///
/// Three counters, each over a fixed window (default 15 minutes):
///
/// * **account + client** (IPv6 by /64): `per_pair` attempts (default 5), then
///   429 until the window ends. An attacker at one address can lock an
///   account out *for that address only*; the owner elsewhere is unaffected.
///   A successful login clears this counter.
/// * **client alone**: `per_ip` attempts (default 100), then 429 until the
///   window ends: stops one address spraying many accounts.
/// * **account alone**, whatever the address: after `per_account` attempts
///   (default 30), a growing back-off of 1, 2, 4 … seconds, capped at
///   `max_backoff` (default 60 s), between attempts. A distributed attack
///   therefore gets at most one guess per minute per account, and can delay
///   the account's owner by at most `max_backoff` per attempt.
///
/// A browser that logged in to the account before presents a **device
/// cookie** and is exempt from the last two (see `crate::throttle`), so the
/// owner is never kept out by someone who merely knows the username.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// Off: no counting at all.
    pub enabled: bool,
    /// Window length.
    pub window: Duration,
    /// Attempts per (account, client) and window.
    pub per_pair: u32,
    /// Attempts per client and window.
    pub per_ip: u32,
    /// Attempts per account and window before the back-off starts.
    pub per_account: u32,
    /// Largest back-off between attempts on one account.
    pub max_backoff: Duration,
    /// Lifetime of device cookies; zero: none are issued or honoured.
    pub device_cookie_age: Duration,
    /// Failed logins per window before a device cookie is locked out.
    pub device_max_failures: u32,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        RawThrottle::default().validate().expect("the defaults are valid")
    }
}

/// `[throttle]` as read.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawThrottle {
    /// See [`ThrottlePolicy::enabled`].
    pub enabled: Option<bool>,
    /// Seconds.
    pub window: Option<u64>,
    /// See [`ThrottlePolicy::per_pair`].
    pub per_pair: Option<u32>,
    /// See [`ThrottlePolicy::per_ip`].
    pub per_ip: Option<u32>,
    /// See [`ThrottlePolicy::per_account`].
    pub per_account: Option<u32>,
    /// Seconds.
    pub max_backoff: Option<u64>,
    /// Seconds; 0 turns device cookies off.
    pub device_cookie_age: Option<u64>,
    /// See [`ThrottlePolicy::device_max_failures`].
    pub device_max_failures: Option<u32>,
}

impl RawThrottle {
    pub(crate) fn validate(&self) -> Result<ThrottlePolicy, SettingsError> {
        let secs = |v: Option<u64>, default: u64| Duration::seconds(v.unwrap_or(default).min(i64::MAX as u64) as i64);
        let policy = ThrottlePolicy {
            enabled: self.enabled.unwrap_or(THROTTLE_ENABLED),
            window: secs(self.window, THROTTLE_WINDOW),
            per_pair: self.per_pair.unwrap_or(THROTTLE_PER_PAIR),
            per_ip: self.per_ip.unwrap_or(THROTTLE_PER_IP),
            per_account: self.per_account.unwrap_or(THROTTLE_PER_ACCOUNT),
            max_backoff: secs(self.max_backoff, THROTTLE_MAX_BACKOFF),
            device_cookie_age: secs(self.device_cookie_age, THROTTLE_DEVICE_COOKIE_AGE),
            device_max_failures: self.device_max_failures.unwrap_or(THROTTLE_DEVICE_MAX_FAILURES),
        };
        if policy.window < Duration::seconds(1) || policy.max_backoff < Duration::seconds(1) {
            return Err(SettingsError::invalid("throttle.window", "window and max_backoff must be at least 1 second"));
        }
        if policy.per_pair == 0 || policy.per_ip == 0 || policy.per_account == 0 || policy.device_max_failures == 0 {
            return Err(SettingsError::invalid(
                "throttle.per_pair",
                "limits must be at least 1 (disable with throttle.enabled = false)",
            ));
        }
        Ok(policy)
    }
}
