//! Errors shared by several modules. A leaf: it names no other module of
//! the crate, so every layer can use it.

/// Failures of a store of any kind (sessions, throttle counters, audit
/// events, cache invalidations). Each backend converts its driver's errors
/// into this.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A record with that key already exists (session keys are never reused).
    #[error("a session with this key already exists")]
    Conflict,
    /// The backend cannot be reached or failed.
    #[error("session store unavailable: {0}")]
    Backend(String),
    /// A stored record cannot be decoded.
    #[error("corrupt session record: {0}")]
    Corrupt(String),
}
