//! For tests (feature `testing`): the store conformance suites as macros
//! that anyone can run against their own store, fixtures for isolated
//! PostgreSQL databases and Redis prefixes, and small helpers this crate's
//! and the server's tests share.
//!
//! ```
//! // In your crate's tests, with latchkey's `testing` feature. Each line
//! // `name => future_of_a_fixture;` becomes a module of tests.
//! use std::sync::Arc;
//! use latchkey::{SessionStore, store::MemorySessionStore, testing::Fixture};
//!
//! async fn mine() -> Fixture<dyn SessionStore> {
//!     Fixture::new(Arc::new(MemorySessionStore::new())) // your store here
//! }
//!
//! latchkey::session_store_conformance! {
//!     my_store => mine();
//! }
//! # fn main() {}
//! ```

mod backends;
mod conformance;
pub mod smtp;

use std::{any::Any, future::Future, sync::Arc};

pub use backends::*;
#[doc(hidden)]
pub use futures_util::future::join;
pub use serde_json;
pub use smtp::SmtpSink;
#[doc(hidden)]
pub use time;
#[doc(hidden)]
pub use tokio;

use crate::{
    Latchkey, RawPassword,
    settings::RawSettings,
    users::{Email, NewUser, User, Username},
};

/// The username the test helpers create.
pub const USER: &str = "demo";
/// Its password.
pub const PASSWORD: &str = "correct horse battery staple";

/// A store under test, and whatever must live as long as it (a database,
/// a key prefix, a sync loop).
pub struct Fixture<T: ?Sized>(pub Arc<T>, pub Option<Box<dyn Any + Send>>);

impl<T: ?Sized> std::fmt::Debug for Fixture<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fixture").finish_non_exhaustive()
    }
}

impl<T: ?Sized> Fixture<T> {
    /// A store that needs nothing else.
    pub fn new(store: Arc<T>) -> Self {
        Self(store, None)
    }

    /// A store that needs `guard` to stay alive.
    pub fn with_guard(store: Arc<T>, guard: impl Any + Send) -> Self {
        Self(store, Some(Box::new(guard)))
    }
}

/// Runs a test's future on a fresh current-thread runtime (what the
/// conformance macros expand to, so they need no test attribute of the
/// caller's).
pub fn block_on<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime").block_on(f)
}

/// Cheap hashing parameters, for tests only: Argon2 at its minimum.
pub fn cheap_hashing(raw: &mut RawSettings) {
    raw.password_hasher.memory_kib = Some(64);
    raw.password_hasher.iterations = Some(1);
}

/// Creates an ordinary (not staff) user with `password`.
///
/// # Panics
/// When hashing or the store fails, or the name is taken.
pub async fn create_user(lk: &Latchkey, name: &str, password: &str) -> User {
    create_user_with_email(lk, name, password, "").await
}

/// Creates an ordinary user with `password` and a verified `email` (as an
/// operator would).
///
/// # Panics
/// When hashing or the store fails, the name is taken or the address invalid.
pub async fn create_user_with_email(lk: &Latchkey, name: &str, password: &str, email: &str) -> User {
    let hash = lk.hasher().hash(&RawPassword::new(password)).await.expect("hashing works");
    let new = NewUser {
        username: Username::parse(name).expect("a valid test username"),
        email: Email::parse(email).expect("a valid test address"),
        email_verified: !email.is_empty(),
        password_hash: hash,
        first_name: String::new(),
        last_name: String::new(),
        is_staff: false,
        is_superuser: false,
    };
    lk.users().create(&new, lk.clock().now()).await.expect("the user store works")
}

/// A fixed instant for store tests.
pub fn now() -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp(1_800_000_000).expect("a valid timestamp")
}

/// A session of `user_id` created at `now`, expiring `ttl` later, and its key.
pub fn session_record(
    user_id: Option<i64>,
    now: time::OffsetDateTime,
    ttl: time::Duration,
) -> (crate::session::SessionKey, crate::session::SessionRecord) {
    let key = crate::session::SessionKey::generate();
    let rec = crate::session::SessionRecord {
        key_hash: key.hash(),
        user_id,
        auth_hash: "h".into(),
        data: serde_json::Map::new(),
        created_at: now,
        last_seen: now,
        expires_at: now + ttl,
        absolute_expires_at: now + ttl,
        idle_timeout: None,
        ip: Some("203.0.113.7".into()),
        user_agent: Some("Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0".into()),
        authenticated_at: user_id.map(|_| now),
        remember: true,
    };
    (key, rec)
}

/// A new user record (for user store tests).
pub fn new_user(name: &str) -> NewUser {
    NewUser {
        username: Username::parse(name).expect("a valid test username"),
        email: Email::parse("x@example.com").expect("a valid address"),
        email_verified: true,
        password_hash: "$argon2id$hash".into(),
        first_name: String::new(),
        last_name: String::new(),
        is_staff: true,
        is_superuser: false,
    }
}
