//! Stores in process memory: for tests, examples and single-process
//! development. Lost on restart and not shared between instances.

mod identities;
mod mail;
mod mfa;
mod sessions;
mod throttle;
mod users;

pub use identities::MemoryIdentityStore;
pub use mail::MemoryMailStore;
pub use mfa::MemoryMfaStore;
pub use sessions::MemorySessionStore;
pub use throttle::MemoryThrottleStore;
pub use users::MemoryUserStore;

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding the lock leaves data that is merely incomplete.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
