//! `[password_hasher]` (Argon2id and the hashing pool) and `[password]`
//! (the validators).

use serde::Deserialize;

use super::SettingsError;

/// Default Argon2id memory per hash, KiB: 19 MiB (OWASP).
pub const HASHER_MEMORY_KIB: u32 = 19_456;
/// Default Argon2id passes (OWASP).
pub const HASHER_ITERATIONS: u32 = 2;
/// Default Argon2id lanes (OWASP).
pub const HASHER_PARALLELISM: u32 = 1;
/// Default hashes at once; 0 means the number of CPUs.
pub const HASHER_MAX_CONCURRENT: usize = 0;
/// Default hash requests that may wait for a slot.
pub const HASHER_MAX_QUEUE: usize = 64;
/// Default minimum password length (Django's `MinimumLengthValidator`).
pub const PASSWORD_MIN_LENGTH: u64 = 8;
/// Common passwords are refused by default.
pub const PASSWORD_REFUSE_COMMON: bool = true;
/// All-digit passwords are refused by default.
pub const PASSWORD_REFUSE_NUMERIC: bool = true;
/// Default similarity limit (Django's `UserAttributeSimilarityValidator`).
pub const PASSWORD_MAX_SIMILARITY: f64 = 0.7;

/// Argon2id parameters and the bounds of the hashing pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HasherSettings {
    /// Memory per hash, in KiB.
    pub memory_kib: u32,
    /// Number of passes.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
    /// Hashes that may run at once.
    pub max_concurrent: usize,
    /// Hash requests that may wait for a slot; beyond this, 503.
    pub max_queue: usize,
}

/// Which password validators run, and with what limits (the checks
/// themselves are `crate::password::policy`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PasswordPolicy {
    /// Minimum length in characters (Django: 8).
    pub min_length: usize,
    /// Refuse passwords from the common-password list.
    pub refuse_common: bool,
    /// Refuse passwords made only of digits.
    pub refuse_numeric: bool,
    /// Refuse passwords whose similarity to the username or email reaches
    /// this ratio (Django: 0.7); `None` turns the check off.
    pub max_similarity: Option<f64>,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        RawPasswordPolicy::default().validate().expect("the defaults are valid")
    }
}

/// `[password_hasher]` as read.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawHasher {
    /// See [`HasherSettings::memory_kib`].
    pub memory_kib: Option<u32>,
    /// See [`HasherSettings::iterations`].
    pub iterations: Option<u32>,
    /// See [`HasherSettings::parallelism`].
    pub parallelism: Option<u32>,
    /// See [`HasherSettings::max_concurrent`]; 0 means the number of CPUs.
    pub max_concurrent: Option<usize>,
    /// See [`HasherSettings::max_queue`].
    pub max_queue: Option<usize>,
}

impl RawHasher {
    pub(crate) fn validate(&self) -> Result<HasherSettings, SettingsError> {
        let parallelism = self.parallelism.unwrap_or(HASHER_PARALLELISM);
        let memory_kib = self.memory_kib.unwrap_or(HASHER_MEMORY_KIB);
        if parallelism == 0 || parallelism > 255 {
            return Err(SettingsError::invalid("password_hasher.parallelism", "must be between 1 and 255"));
        }
        if memory_kib < 8 * parallelism {
            return Err(SettingsError::invalid("password_hasher.memory_kib", "must be at least 8 × parallelism"));
        }
        let iterations = self.iterations.unwrap_or(HASHER_ITERATIONS);
        if iterations == 0 {
            return Err(SettingsError::invalid("password_hasher.iterations", "must be at least 1"));
        }
        let max_concurrent = match self.max_concurrent.unwrap_or(HASHER_MAX_CONCURRENT) {
            0 => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2),
            n => n,
        };
        Ok(HasherSettings {
            memory_kib,
            iterations,
            parallelism,
            max_concurrent,
            max_queue: self.max_queue.unwrap_or(HASHER_MAX_QUEUE),
        })
    }
}

/// `[password]` as read.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawPasswordPolicy {
    /// Minimum length.
    pub min_length: Option<u64>,
    /// Refuse common passwords.
    pub refuse_common: Option<bool>,
    /// Refuse all-digit passwords.
    pub refuse_numeric: Option<bool>,
    /// Similarity limit; 0 turns it off.
    pub max_similarity: Option<f64>,
}

impl RawPasswordPolicy {
    pub(crate) fn validate(&self) -> Result<PasswordPolicy, SettingsError> {
        let max = self.max_similarity.unwrap_or(PASSWORD_MAX_SIMILARITY);
        if !(0.0..=1.0).contains(&max) {
            return Err(SettingsError::invalid("password.max_similarity", "must be between 0 and 1"));
        }
        Ok(PasswordPolicy {
            min_length: self.min_length.unwrap_or(PASSWORD_MIN_LENGTH).try_into().unwrap_or(usize::MAX),
            refuse_common: self.refuse_common.unwrap_or(PASSWORD_REFUSE_COMMON),
            refuse_numeric: self.refuse_numeric.unwrap_or(PASSWORD_REFUSE_NUMERIC),
            max_similarity: (max > 0.0).then_some(max),
        })
    }
}
