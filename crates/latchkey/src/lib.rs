//! # Latchkey
//!
//! Session-cookie authentication for single-page apps on axum/tower, wire
//! compatible with the Django "session-based auth for SPAs" tutorial: an
//! HttpOnly session cookie, Django-compatible CSRF tokens, and the tutorial's
//! `/api/csrf/`, `/api/login/`, `/api/logout/`, `/api/session/` and
//! `/api/whoami/` endpoints, in four deployment presets.
//!
//! Start with [`Latchkey`] (the shared state), [`http::build_router`] (the
//! whole layered app) or [`http::router`] plus the extractors in
//! [`http::extract`] to add Latchkey to an existing axum application (see
//! `examples/`).
//!
//! The module map, the layer order and where new things go are in
//! `docs/architecture.md`. In short: [`http`] is the only module that knows
//! HTTP; [`Latchkey`] is the shared state; [`store`] holds one folder per
//! storage backend (cargo features `sqlite`, the default, `postgres` and
//! `redis`); [`cache`] the read-through cache; the domain modules ([`csrf`],
//! [`session`], [`users`], [`throttle`], [`audit`], [`password`], [`auth`])
//! hold the rules and the store traits. The feature `testing` adds
//! `latchkey::testing`: the store conformance suites and test fixtures.

pub mod audit;
pub mod auth;
pub mod cache;
pub(crate) mod clock;
pub(crate) mod crypto;
pub mod csrf;
pub mod deploy_check;
pub(crate) mod error;
pub mod http;
pub mod keys;
pub mod mail;
pub mod mailer;
pub mod mfa;
pub mod origin;
pub mod page;
pub mod password;
pub mod session;
pub mod settings;
pub(crate) mod state;
pub mod store;
#[cfg(feature = "testing")]
pub mod testing;
pub mod throttle;
pub mod users;

#[cfg(feature = "webauthn")]
pub use crate::state::{OPTIONS_PER_CLIENT, Registered};
pub use crate::{
    clock::{Clock, MockClock, SystemClock},
    csrf::CsrfToken,
    error::StoreError,
    http::{
        ApiError,
        extract::{CurrentUser, MaybeUser, SessionUser},
    },
    password::{PasswordHasher, RawPassword},
    session::{Session, SessionStore},
    settings::{Preset, Settings},
    state::{
        Acting, AdminError, AdminSession, AdminSessionId, Backends, BuildError, CacheSyncThread, Ended, FactorUsed,
        Latchkey, SecondFactor, SessionSummary, SignedUp, Stores, TotpSetup,
    },
    users::{User, UserStore},
};
