//! Failed-login throttling: atomic counters behind a store trait (so that
//! several instances share them; each backend in `crate::store` implements
//! it) and the policy that reads them ([`ThrottlePolicy::attempt`]). The
//! limits are settings (`[throttle]`, `crate::settings`).

mod device;

use std::fmt;

use time::{Duration, OffsetDateTime};

pub use self::device::Device;
pub(crate) use self::device::{DEVICE_SALT, issue as issue_device_cookie, verify as verify_device_cookie};
use crate::error::StoreError;
pub use crate::settings::ThrottlePolicy;

/// The state of one counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counter {
    /// Failures in the current window.
    pub failures: u32,
    /// When the current window started.
    pub window_start: OffsetDateTime,
}

/// Atomic failure counters with a fixed window.
#[async_trait::async_trait]
pub trait ThrottleStore: Send + Sync + fmt::Debug + 'static {
    /// Adds one failure to `key` and returns the counter afterwards. A counter
    /// whose window (of length `window`) has passed starts again at 1.
    /// Concurrent calls never lose a count.
    async fn record_failure(&self, key: &str, now: OffsetDateTime, window: Duration) -> Result<Counter, StoreError>;
    /// The live counter of `key`, if its window has not passed.
    async fn get(&self, key: &str, now: OffsetDateTime, window: Duration) -> Result<Option<Counter>, StoreError>;
    /// Forgets `key` (after a success, or by an operator).
    async fn reset(&self, key: &str) -> Result<(), StoreError>;
    /// Forgets every key that starts with `prefix` and ends with `suffix`;
    /// returns how many (the operator's `latchkey throttle reset`).
    async fn reset_where(&self, prefix: &str, suffix: &str) -> Result<u64, StoreError>;
}

// How the policy applies its limits: every attempt is counted *before* the
// password is hashed, in one atomic store operation per key, so concurrent
// attempts cannot slip past a limit and a throttled attempt costs no hash.
// Keys use the submitted username whether or not the account exists, hashed
// so the store holds no attacker-chosen text, and a 429 looks the same
// either way: throttling reveals nothing about which accounts exist.

/// Throttled: retry after this long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled {
    /// Which counter tripped.
    pub scope: &'static str,
    /// Wait at least this long (≥ 1 s).
    pub retry_after: Duration,
}

/// The client part of a key: the IPv4 address, or the IPv6 /64 (one
/// subscriber usually owns a whole /64, so per-address limits on IPv6 are
/// trivially evaded otherwise).
pub fn client_key(ip: Option<std::net::IpAddr>) -> String {
    match ip {
        Some(std::net::IpAddr::V4(v4)) => v4.to_string(),
        Some(std::net::IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
        None => "unknown".to_owned(),
    }
}

/// The key counting second-factor attempts on the account whose
/// [`account_key`] is `account`.
pub fn mfa_account_key(account: &str) -> String {
    format!("mfa:{account}")
}

/// The account part of a key: a hash of the normalised username.
pub fn account_key(username: &str) -> String {
    let normalised: String = unicode_normalization::UnicodeNormalization::nfkc(username).collect();
    crate::crypto::sha256_hex(normalised.as_bytes())[..32].to_owned()
}

fn backoff(policy: &ThrottlePolicy, failures: u32) -> Duration {
    let over = failures.saturating_sub(policy.per_account).min(30);
    Duration::seconds(1i64 << over).min(policy.max_backoff)
}

/// Time left, rounded up to whole seconds (Retry-After has no fractions, and
/// rounding down would invite a retry that is still refused).
fn remaining(start: OffsetDateTime, length: Duration, now: OffsetDateTime) -> Duration {
    let left = (start + length - now).as_seconds_f64().ceil() as i64;
    Duration::seconds(left.max(1))
}

/// What the check of one attempt found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// `Err` when the attempt must be refused without checking the password.
    pub outcome: Result<(), Throttled>,
    /// The limits this attempt tripped, each named once when it trips (for
    /// the audit trail): `account_backoff`, `client_limit`,
    /// `account_and_client_limit`, `device_locked`.
    pub lockouts: Vec<&'static str>,
}

impl ThrottlePolicy {
    /// Counts an attempt on `username` from `client`; `Err` when it must be
    /// refused without checking the password. As [`ThrottlePolicy::check`]
    /// without a device cookie.
    ///
    /// # Errors
    /// [`Throttled`] inside `Ok(Err(..))`; store failures as the outer error.
    pub async fn attempt(
        &self,
        store: &dyn ThrottleStore,
        username: &str,
        client: &str,
        now: OffsetDateTime,
    ) -> Result<Result<(), Throttled>, StoreError> {
        Ok(self.check(store, username, client, None, now).await?.outcome)
    }

    /// Counts an attempt on `username` from `client`, presented with a
    /// verified device cookie or not, and says whether it may go on.
    ///
    /// A trusted device (a verified cookie that is not locked out) is counted
    /// per (account, client) and per device only; a device that fails more
    /// than `device_max_failures` times in a window is locked out for the
    /// cookie's lifetime, and this attempt and its later ones are ordinary.
    ///
    /// # Errors
    /// Store failures.
    pub async fn check(
        &self,
        store: &dyn ThrottleStore,
        username: &str,
        client: &str,
        device: Option<&Device>,
        now: OffsetDateTime,
    ) -> Result<Verdict, StoreError> {
        let mut lockouts = Vec::new();
        if !self.enabled {
            return Ok(Verdict { outcome: Ok(()), lockouts });
        }
        let account = account_key(username);
        let pair_key = format!("pair:{account}|{client}");
        let mut pair = None;
        if let Some(d) = device
            && store.get(&format!("devlock:{}", d.nonce), now, self.device_cookie_age).await?.is_none()
        {
            let counted = store.record_failure(&pair_key, now, self.window).await?;
            let dev = store.record_failure(&format!("dev:{}", d.nonce), now, self.window).await?;
            if dev.failures <= self.device_max_failures {
                let outcome = if counted.failures > self.per_pair {
                    Err(Throttled {
                        scope: "account_and_client",
                        retry_after: remaining(counted.window_start, self.window, now),
                    })
                } else {
                    Ok(())
                };
                return Ok(Verdict { outcome, lockouts });
            }
            // Too many failures: the cookie may have been stolen. It is never
            // trusted again, and this attempt meets the ordinary limits.
            store.record_failure(&format!("devlock:{}", d.nonce), now, self.device_cookie_age).await?;
            lockouts.push("device_locked");
            pair = Some(counted);
        }
        let account_count = store.get(&format!("acct:{account}"), now, self.window).await?.map_or(0, |c| c.failures);
        if account_count >= self.per_account {
            let pause = backoff(self, account_count);
            if let Some(c) = store.get(&format!("cool:{account}"), now, pause).await? {
                let outcome = Err(Throttled { scope: "account", retry_after: remaining(c.window_start, pause, now) });
                return Ok(Verdict { outcome, lockouts });
            }
        }
        let pair = match pair {
            Some(p) => p,
            None => store.record_failure(&pair_key, now, self.window).await?,
        };
        let ip = store.record_failure(&format!("ip:{client}"), now, self.window).await?;
        let acct = store.record_failure(&format!("acct:{account}"), now, self.window).await?;
        if pair.failures == self.per_pair + 1 {
            lockouts.push("account_and_client_limit");
        }
        if ip.failures == self.per_ip + 1 {
            lockouts.push("client_limit");
        }
        if acct.failures == self.per_account + 1 {
            lockouts.push("account_backoff");
        }
        let outcome = if pair.failures > self.per_pair {
            Err(Throttled { scope: "account_and_client", retry_after: remaining(pair.window_start, self.window, now) })
        } else if ip.failures > self.per_ip {
            Err(Throttled { scope: "client", retry_after: remaining(ip.window_start, self.window, now) })
        } else {
            if acct.failures > self.per_account {
                store.record_failure(&format!("cool:{account}"), now, backoff(self, acct.failures)).await?;
            }
            Ok(())
        };
        Ok(Verdict { outcome, lockouts })
    }

    /// After a successful login: the (account, client) counter starts over,
    /// and so does the device's.
    ///
    /// # Errors
    /// Store failures.
    pub async fn succeeded(
        &self,
        store: &dyn ThrottleStore,
        username: &str,
        client: &str,
        device: Option<&Device>,
    ) -> Result<(), StoreError> {
        if self.enabled {
            store.reset(&format!("pair:{}|{client}", account_key(username))).await?;
            if let Some(d) = device {
                store.reset(&format!("dev:{}", d.nonce)).await?;
            }
        }
        Ok(())
    }

    /// Operator reset of one account's counters (all clients, and its
    /// second-factor attempts); returns how many keys.
    ///
    /// # Errors
    /// Store failures.
    pub async fn reset_account(store: &dyn ThrottleStore, username: &str) -> Result<u64, StoreError> {
        let a = account_key(username);
        Ok(store.reset_where(&format!("acct:{a}"), "").await?
            + store.reset_where(&format!("cool:{a}"), "").await?
            + store.reset_where(&format!("pair:{a}|"), "").await?
            + store.reset_where(&mfa_account_key(&a), "").await?)
    }

    /// Operator reset of one client's counters (all accounts); returns how many keys.
    ///
    /// # Errors
    /// Store failures.
    pub async fn reset_client(store: &dyn ThrottleStore, ip: std::net::IpAddr) -> Result<u64, StoreError> {
        let c = client_key(Some(ip));
        Ok(store.reset_where(&format!("ip:{c}"), "").await? + store.reset_where("pair:", &format!("|{c}")).await?)
    }

    /// Operator reset of everything; returns how many keys.
    ///
    /// # Errors
    /// Store failures.
    pub async fn reset_all(store: &dyn ThrottleStore) -> Result<u64, StoreError> {
        store.reset_where("", "").await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryThrottleStore;

    fn t0() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
    }

    #[test]
    fn ipv6_clients_are_grouped_by_64_and_mapped_v4_is_v4() {
        let a = client_key(Some("2001:db8:1:2:aaaa::1".parse().unwrap()));
        let b = client_key(Some("2001:db8:1:2:ffff::9".parse().unwrap()));
        assert_eq!(a, b);
        assert_eq!(a, "2001:db8:1:2::/64");
        assert_ne!(a, client_key(Some("2001:db8:1:3::1".parse().unwrap())));
        assert_eq!(client_key(Some("::ffff:10.0.0.1".parse().unwrap())), "10.0.0.1");
    }

    #[test]
    fn account_keys_do_not_store_the_username() {
        let k = account_key("alice");
        assert!(!k.contains("alice"));
        assert_eq!(k, account_key("ａｌｉｃｅ"), "NFKC-equivalent names share a counter");
    }

    #[tokio::test]
    async fn one_address_is_stopped_after_five_attempts_on_an_account_but_others_are_not() {
        let store = MemoryThrottleStore::default();
        let p = ThrottlePolicy::default();
        for _ in 0..5 {
            assert!(p.attempt(&store, "victim", "1.1.1.1", t0()).await.unwrap().is_ok());
        }
        let t = p.attempt(&store, "victim", "1.1.1.1", t0()).await.unwrap().unwrap_err();
        assert_eq!(t.scope, "account_and_client");
        assert_eq!(t.retry_after, Duration::minutes(15));
        assert!(
            p.attempt(&store, "victim", "2.2.2.2", t0()).await.unwrap().is_ok(),
            "the owner elsewhere is not locked out"
        );
        assert!(
            p.attempt(&store, "victim", "1.1.1.1", t0() + Duration::minutes(15)).await.unwrap().is_ok(),
            "the window ends"
        );
    }

    #[tokio::test]
    async fn a_distributed_attack_gets_a_bounded_back_off_never_a_lockout() {
        let store = MemoryThrottleStore::default();
        let p = ThrottlePolicy::default();
        let mut now = t0();
        for i in 0..30 {
            assert!(p.attempt(&store, "victim", &format!("10.0.0.{i}"), now).await.unwrap().is_ok());
        }
        // Attempt 31 passes and starts the back-off; 32 right after is refused.
        assert!(p.attempt(&store, "victim", "10.0.1.1", now).await.unwrap().is_ok());
        let t = p.attempt(&store, "victim", "10.0.1.2", now).await.unwrap().unwrap_err();
        assert_eq!(t.scope, "account");
        assert!(t.retry_after <= Duration::seconds(60));
        // Hammer for ten minutes from ever-new addresses: the owner is never
        // made to wait more than max_backoff.
        let mut allowed = 0;
        for i in 0..600 {
            now += Duration::seconds(1);
            match p.attempt(&store, "victim", &format!("10.1.{}.{}", i / 250, i % 250), now).await.unwrap() {
                Ok(()) => allowed += 1,
                Err(t) => assert!(t.retry_after <= Duration::seconds(60)),
            }
        }
        // The back-off ramps 1, 2, 4 … 32 s, then one guess per 60 s: 6 + 9.
        assert!(allowed <= 16, "at most about one guess a minute got through: {allowed}");
        let owner = p.attempt(&store, "victim", "192.0.2.1", now + Duration::seconds(61)).await.unwrap();
        assert!(owner.is_ok(), "after at most a minute the owner may try");
    }

    #[tokio::test]
    async fn one_address_spraying_many_accounts_is_stopped() {
        let store = MemoryThrottleStore::default();
        let p = ThrottlePolicy { per_ip: 20, ..Default::default() };
        for i in 0..20 {
            assert!(p.attempt(&store, &format!("user{i}"), "6.6.6.6", t0()).await.unwrap().is_ok());
        }
        assert_eq!(p.attempt(&store, "user99", "6.6.6.6", t0()).await.unwrap().unwrap_err().scope, "client");
    }

    #[tokio::test]
    async fn success_clears_the_pair_and_operators_can_reset() {
        let store = MemoryThrottleStore::default();
        let p = ThrottlePolicy::default();
        for _ in 0..5 {
            p.attempt(&store, "bob", "1.1.1.1", t0()).await.unwrap().unwrap();
        }
        p.succeeded(&store, "bob", "1.1.1.1", None).await.unwrap();
        assert!(p.attempt(&store, "bob", "1.1.1.1", t0()).await.unwrap().is_ok());
        for _ in 0..10 {
            let _ = p.attempt(&store, "bob", "1.1.1.1", t0()).await.unwrap();
        }
        assert!(ThrottlePolicy::reset_account(&store, "bob").await.unwrap() >= 2);
        assert!(p.attempt(&store, "bob", "1.1.1.1", t0()).await.unwrap().is_ok());
        assert!(ThrottlePolicy::reset_client(&store, "1.1.1.1".parse().unwrap()).await.unwrap() >= 1);
        assert!(ThrottlePolicy::reset_all(&store).await.unwrap() >= 1);
    }

    #[tokio::test]
    async fn a_trusted_device_skips_the_account_back_off_and_the_client_limit_but_not_its_own_limit() {
        let store = MemoryThrottleStore::default();
        let p = ThrottlePolicy { per_ip: 3, ..Default::default() };
        let device = Device { nonce: "n".repeat(25) };
        // Put the account in back-off from many addresses, and use up the office's client limit.
        for i in 0..40 {
            let _ = p.check(&store, "owner", &format!("10.0.0.{i}"), None, t0()).await.unwrap();
        }
        for _ in 0..3 {
            let _ = p.check(&store, "someone", "192.0.2.1", None, t0()).await.unwrap();
        }
        let untrusted = p.check(&store, "owner", "192.0.2.1", None, t0()).await.unwrap();
        assert!(untrusted.outcome.is_err(), "an unknown browser meets the limits");
        let trusted = p.check(&store, "owner", "192.0.2.1", Some(&device), t0()).await.unwrap();
        assert_eq!(trusted.outcome, Ok(()), "the owner's known browser goes on");
        p.succeeded(&store, "owner", "192.0.2.1", Some(&device)).await.unwrap();
        // A thief with the cookie: five failures, then the cookie is locked for good.
        for n in 0..5 {
            let v = p.check(&store, "owner", &format!("198.51.100.{n}"), Some(&device), t0()).await.unwrap();
            assert_eq!(v.outcome, Ok(()), "failure {n} is still a trusted device's");
        }
        let v = p.check(&store, "owner", "198.51.100.9", Some(&device), t0()).await.unwrap();
        assert!(v.lockouts.contains(&"device_locked"), "{v:?}");
        assert!(v.outcome.is_err(), "the locked cookie meets the back-off");
        let later = t0() + Duration::days(1);
        let v = p.check(&store, "owner", "192.0.2.1", Some(&device), later).await.unwrap();
        assert!(v.lockouts.is_empty());
        assert!(
            store.get(&format!("devlock:{}", device.nonce), later, p.device_cookie_age).await.unwrap().is_some(),
            "still locked a day later"
        );
    }

    #[tokio::test]
    async fn each_lockout_is_reported_once_when_it_starts() {
        let store = MemoryThrottleStore::default();
        let p = ThrottlePolicy::default();
        let mut seen = Vec::new();
        for _ in 0..8 {
            seen.extend(p.check(&store, "victim", "1.1.1.1", None, t0()).await.unwrap().lockouts);
        }
        assert_eq!(seen, ["account_and_client_limit"]);
    }
}
