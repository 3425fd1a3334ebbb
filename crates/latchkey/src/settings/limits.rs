//! `[limits]` and `[security]`: request size and time limits, HSTS. The
//! transport limits (`limits.header_read_timeout`,
//! `limits.max_connections`) belong to the server and are read by the
//! server crate's configuration.

use std::time::Duration;

use serde::Deserialize;

use super::SettingsError;

/// Default largest request body on `/api/`, bytes.
pub const MAX_BODY_BYTES: usize = 65_536;
/// Default time a request may take, seconds.
pub const REQUEST_TIMEOUT: u64 = 30;
/// Default HSTS max-age, seconds: one year.
pub const HSTS_SECONDS: u64 = 31_536_000;
/// HSTS includes subdomains by default.
pub const HSTS_INCLUDE_SUBDOMAINS: bool = true;

/// `[limits]` as read (the library's part).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawLimits {
    /// See [`super::Settings::max_body_bytes`].
    pub max_body_bytes: Option<usize>,
    /// Seconds.
    pub request_timeout: Option<u64>,
}

/// `[security]` as read.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawSecurity {
    /// See [`super::Settings::hsts_seconds`].
    pub hsts_seconds: Option<u64>,
    /// See [`super::Settings::hsts_include_subdomains`].
    pub hsts_include_subdomains: Option<bool>,
}

impl RawLimits {
    /// The body limit and the request timeout.
    pub(crate) fn validate(&self) -> Result<(usize, Duration), SettingsError> {
        let max_body_bytes = self.max_body_bytes.unwrap_or(MAX_BODY_BYTES);
        if max_body_bytes < 256 {
            return Err(SettingsError::invalid("limits.max_body_bytes", "must be at least 256"));
        }
        Ok((max_body_bytes, Duration::from_secs(self.request_timeout.unwrap_or(REQUEST_TIMEOUT).max(1))))
    }
}
