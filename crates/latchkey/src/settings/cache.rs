//! `[cache]`: the read-through cache of sessions and users (`crate::cache`).

use std::time::Duration;

use serde::Deserialize;

use super::SettingsError;

/// The cache is on by default.
pub const CACHE_ENABLED: bool = true;
/// Default entries per map.
pub const CACHE_MAX_ENTRIES: usize = 100_000;
/// Default TTL of an entry, seconds.
pub const CACHE_TTL: u64 = 300;
/// Default period of the sync loop, milliseconds.
pub const CACHE_SYNC_INTERVAL_MS: u64 = 50;

/// `[cache]` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheSettings {
    /// Read sessions and users from the cache (invalidations are published
    /// either way, so instances with and without a cache can be mixed).
    pub enabled: bool,
    /// Entries per map at most; a full map is emptied.
    pub max_entries: usize,
    /// Longest time an entry is served without reading the store again.
    pub ttl: Duration,
    /// Period of the sync loop; the cache is trusted for twice this.
    pub sync_interval: Duration,
}

impl Default for CacheSettings {
    fn default() -> Self {
        RawCache::default().validate().expect("the defaults are valid")
    }
}

/// `[cache]` as read.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawCache {
    /// See [`CacheSettings::enabled`].
    pub enabled: Option<bool>,
    /// See [`CacheSettings::max_entries`].
    pub max_entries: Option<usize>,
    /// Seconds.
    pub ttl: Option<u64>,
    /// Milliseconds.
    pub sync_interval_ms: Option<u64>,
}

impl RawCache {
    pub(crate) fn validate(&self) -> Result<CacheSettings, SettingsError> {
        let sync_interval = Duration::from_millis(self.sync_interval_ms.unwrap_or(CACHE_SYNC_INTERVAL_MS));
        if !(Duration::from_millis(5)..=Duration::from_secs(10)).contains(&sync_interval) {
            return Err(SettingsError::invalid("cache.sync_interval_ms", "must be between 5 and 10000"));
        }
        let max_entries = self.max_entries.unwrap_or(CACHE_MAX_ENTRIES);
        if max_entries == 0 {
            return Err(SettingsError::invalid(
                "cache.max_entries",
                "must be at least 1; use cache.enabled = false to turn the cache off",
            ));
        }
        Ok(CacheSettings {
            enabled: self.enabled.unwrap_or(CACHE_ENABLED),
            max_entries,
            ttl: Duration::from_secs(self.ttl.unwrap_or(CACHE_TTL)),
            sync_interval,
        })
    }
}
