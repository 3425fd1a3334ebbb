//! Password hashing with Argon2id on a bounded blocking pool.
//!
//! Every hash runs on tokio's blocking threads behind a semaphore, so a login
//! storm can neither stall the async workers that answer session checks nor
//! allocate unbounded memory (each Argon2 run holds `memory_kib`). Callers
//! beyond `max_queue` are turned away at once with [`HashError::Busy`], which
//! the API answers with 503 and `Retry-After`.

use std::{
    fmt,
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
};

use argon2::{
    Algorithm, Argon2, Params, Version,
    password_hash::{PasswordHasher as _, PasswordVerifier as _},
};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::{OnceCell, Semaphore};

pub use self::policy::{PasswordPolicy, PasswordProblem};
use crate::settings::HasherSettings;

pub mod django;
pub mod policy;

/// A password as typed by a person. It is never logged: `Debug` redacts it,
/// and it is only exposed to the hashing function.
#[derive(Clone)]
pub struct RawPassword(SecretString);

impl RawPassword {
    /// Wraps a password exactly as received: no trimming or case folding
    /// (ASVS 6.2.8).
    pub fn new(s: impl Into<String>) -> Self {
        Self(SecretString::from(s.into()))
    }

    /// Whether the password is empty.
    pub fn is_empty(&self) -> bool {
        self.0.expose_secret().is_empty()
    }

    /// The password characters, for the hasher and validators only.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

// Read straight from a request body into the secret wrapper.
impl<'de> serde::Deserialize<'de> for RawPassword {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        <String as serde::Deserialize>::deserialize(d).map(Self::new)
    }
}

impl fmt::Debug for RawPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RawPassword([redacted])")
    }
}

/// Hashing failures.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// Too many hashes are already running or waiting.
    #[error("the password hashing queue is full")]
    Busy,
    /// The hasher itself failed (bad parameters, a panicked worker).
    #[error("password hashing failed: {0}")]
    Internal(String),
}

struct Inner {
    params: Params,
    slots: Semaphore,
    waiting: AtomicUsize,
    max_queue: usize,
    invocations: AtomicU64,
    dummy: OnceCell<String>,
    // Where the wait for a slot is reported (the metrics), once set.
    wait_observer: std::sync::OnceLock<prometheus_client::metrics::histogram::Histogram>,
}

/// Hashes and verifies passwords; cheap to clone.
#[derive(Clone)]
pub struct PasswordHasher(Arc<Inner>);

impl fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("m_cost", &self.0.params.m_cost())
            .field("t_cost", &self.0.params.t_cost())
            .field("p_cost", &self.0.params.p_cost())
            .finish_non_exhaustive()
    }
}

fn argon2(params: Params) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

impl PasswordHasher {
    /// A hasher with the given parameters and pool bounds.
    ///
    /// # Errors
    /// When Argon2 rejects the parameters.
    pub fn new(s: &HasherSettings) -> Result<Self, HashError> {
        let params = Params::new(s.memory_kib, s.iterations, s.parallelism, None)
            .map_err(|e| HashError::Internal(e.to_string()))?;
        Ok(Self(Arc::new(Inner {
            params,
            slots: Semaphore::new(s.max_concurrent.max(1)),
            waiting: AtomicUsize::new(0),
            max_queue: s.max_queue,
            invocations: AtomicU64::new(0),
            dummy: OnceCell::new(),
            wait_observer: std::sync::OnceLock::new(),
        })))
    }

    /// How many times the KDF has run; lets tests prove that unknown users
    /// cost the same work as known ones without measuring time.
    pub fn invocations(&self) -> u64 {
        self.0.invocations.load(Ordering::Relaxed)
    }

    /// Hashes waiting for a slot right now.
    pub fn queued(&self) -> u64 {
        self.0.waiting.load(Ordering::Relaxed) as u64
    }

    /// Reports each hash's wait for a slot, in seconds, to `histogram`
    /// (the first call wins).
    pub fn observe_waits(&self, histogram: prometheus_client::metrics::histogram::Histogram) {
        let _ = self.0.wait_observer.set(histogram);
    }

    async fn run<T: Send + 'static>(&self, f: impl FnOnce(Params) -> T + Send + 'static) -> Result<T, HashError> {
        let queued = self.0.waiting.fetch_add(1, Ordering::AcqRel);
        if queued >= self.0.max_queue && self.0.slots.available_permits() == 0 {
            self.0.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(HashError::Busy);
        }
        let asked = std::time::Instant::now();
        let permit = self.0.slots.acquire().await;
        self.0.waiting.fetch_sub(1, Ordering::AcqRel);
        if let Some(h) = self.0.wait_observer.get() {
            h.observe(asked.elapsed().as_secs_f64());
        }
        let _permit = permit.map_err(|e| HashError::Internal(e.to_string()))?;
        self.0.invocations.fetch_add(1, Ordering::Relaxed);
        let params = self.0.params.clone();
        tokio::task::spawn_blocking(move || f(params)).await.map_err(|e| HashError::Internal(e.to_string()))
    }

    /// Hashes a password into a PHC string (`$argon2id$v=19$m=…`).
    ///
    /// # Errors
    /// [`HashError::Busy`] when the queue is full.
    pub async fn hash(&self, password: &RawPassword) -> Result<String, HashError> {
        let pw = password.clone();
        self.run(move |params| {
            argon2(params)
                .hash_password(pw.expose().as_bytes())
                .map(|h| h.to_string())
                .map_err(|e| HashError::Internal(e.to_string()))
        })
        .await?
    }

    /// Checks `password` against a stored hash. With `None` (unknown user),
    /// an unusable or an unparsable hash, it verifies against a dummy hash
    /// made with the same parameters, so the work done, and the time taken,
    /// do not reveal whether the account exists. A hash in one of Django's
    /// formats (an imported user who has not signed in since) is verified in
    /// that format ([`django`]).
    ///
    /// # Errors
    /// [`HashError::Busy`] when the queue is full.
    pub async fn verify(&self, password: &RawPassword, stored: Option<&str>) -> Result<bool, HashError> {
        // A hash imported from Django (verified in its own format; the next
        // successful sign-in re-hashes it, see `needs_rehash`).
        if let Some(django) = stored.filter(|h| !h.starts_with('$')).and_then(django::DjangoHash::parse)
            && django != django::DjangoHash::Unusable
        {
            let pw = password.clone();
            return self.run(move |_| django.verify(pw.expose().as_bytes())).await;
        }
        let (target, real) = match stored {
            Some(h) if h.starts_with("$argon2") => (h.to_owned(), true),
            _ => (self.dummy_hash().await?, false),
        };
        let pw = password.clone();
        let ok = self
            .run(move |params| argon2(params).verify_password(pw.expose().as_bytes(), target.as_str()).is_ok())
            .await?;
        Ok(ok && real)
    }

    async fn dummy_hash(&self) -> Result<String, HashError> {
        let params = self.0.params.clone();
        self.0
            .dummy
            .get_or_try_init(|| async move {
                tokio::task::spawn_blocking(move || {
                    argon2(params)
                        .hash_password(b"latchkey-dummy-password-for-unknown-users")
                        .map(|h| h.to_string())
                        .map_err(|e| HashError::Internal(e.to_string()))
                })
                .await
                .map_err(|e| HashError::Internal(e.to_string()))?
            })
            .await
            .cloned()
    }

    /// Whether a stored hash was made with other parameters (or another
    /// algorithm) than the configured ones, and should be replaced after the
    /// next successful check.
    pub fn needs_rehash(&self, stored: &str) -> bool {
        let p = &self.0.params;
        let current = format!("$argon2id$v=19$m={},t={},p={}$", p.m_cost(), p.t_cost(), p.p_cost());
        !stored.starts_with(&current)
    }

    /// Computes the dummy hash ahead of the first login, so the first
    /// unknown-user attempt is not slower than later ones.
    ///
    /// # Errors
    /// When hashing fails.
    pub async fn warm_up(&self) -> Result<(), HashError> {
        self.dummy_hash().await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hasher(max_concurrent: usize, max_queue: usize) -> PasswordHasher {
        PasswordHasher::new(&HasherSettings {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
            max_concurrent,
            max_queue,
        })
        .unwrap()
    }

    #[tokio::test]
    async fn a_django_hash_verifies_on_the_pool_and_asks_to_be_replaced_an_unusable_one_costs_a_dummy_check() {
        let h = hasher(2, 8);
        let django = "pbkdf2_sha256$1000$6pKTeyle1lkroXvDHS5Z7F$XJIMaCDXJz9sdzJURW2dM/IU1p7XkJ0zZXBz+iEHfkQ=";
        let right = RawPassword::new("correct horse ✓ battery");
        assert!(h.verify(&right, Some(django)).await.unwrap());
        assert!(!h.verify(&RawPassword::new("wrong"), Some(django)).await.unwrap());
        assert!(h.needs_rehash(django), "moved to Argon2id at the next sign-in");
        assert_eq!(h.invocations(), 2, "on the bounded pool, counted");
        let before = h.invocations();
        assert!(!h.verify(&right, Some("!gWS0usODbbwE39bdM8X3rapLfnA5UEBumu9zPgNo")).await.unwrap());
        assert!(!h.verify(&right, Some("md5$salt$5f4dcc3b5aa765d61d8327deb882cf99")).await.unwrap());
        assert_eq!(h.invocations(), before + 2, "unusable and unknown hashes cost a dummy check, as unknown users do");
    }

    #[tokio::test]
    async fn a_hash_verifies_only_its_own_password() {
        let h = hasher(2, 8);
        let stored = h.hash(&RawPassword::new("correct horse")).await.unwrap();
        assert!(stored.starts_with("$argon2id$v=19$m=64,t=1,p=1$"));
        assert!(h.verify(&RawPassword::new("correct horse"), Some(&stored)).await.unwrap());
        assert!(!h.verify(&RawPassword::new("Correct horse"), Some(&stored)).await.unwrap());
        assert!(!h.verify(&RawPassword::new("correct horse "), Some(&stored)).await.unwrap());
    }

    #[tokio::test]
    async fn unknown_users_and_garbage_hashes_cost_one_kdf_run_like_everyone_else() {
        let h = hasher(2, 8);
        let stored = h.hash(&RawPassword::new("pw")).await.unwrap();
        h.warm_up().await.unwrap();
        let before = h.invocations();
        assert!(!h.verify(&RawPassword::new("pw"), None).await.unwrap());
        assert_eq!(h.invocations() - before, 1);
        assert!(!h.verify(&RawPassword::new("pw"), Some("!unusable")).await.unwrap());
        assert_eq!(h.invocations() - before, 2);
        assert!(!h.verify(&RawPassword::new("wrong"), Some(&stored)).await.unwrap());
        assert_eq!(h.invocations() - before, 3);
    }

    #[tokio::test]
    async fn the_dummy_password_never_logs_anyone_in() {
        let h = hasher(1, 8);
        assert!(!h.verify(&RawPassword::new("latchkey-dummy-password-for-unknown-users"), None).await.unwrap());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn callers_beyond_the_queue_are_turned_away_not_queued_forever() {
        let h = PasswordHasher::new(&HasherSettings {
            memory_kib: 8192,
            iterations: 4,
            parallelism: 1,
            max_concurrent: 1,
            max_queue: 2,
        })
        .unwrap();
        let tasks: Vec<_> = (0..12)
            .map(|_| {
                let h = h.clone();
                tokio::spawn(async move { h.hash(&RawPassword::new("x")).await })
            })
            .collect();
        let mut busy = 0;
        let mut done = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(_) => done += 1,
                Err(HashError::Busy) => busy += 1,
                Err(e) => panic!("{e}"),
            }
        }
        assert!(busy > 0, "some callers must be refused");
        assert!(done >= 1);
    }

    #[test]
    fn debug_never_shows_the_password() {
        assert!(!format!("{:?}", RawPassword::new("hunter2")).contains("hunter2"));
    }
}
