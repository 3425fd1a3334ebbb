//! # Latchkey
//!
//! Session-cookie authentication for single-page apps on axum/tower, wire
//! compatible with the Django "session-based auth for SPAs" tutorial: an
//! HttpOnly session cookie, Django-compatible CSRF tokens, and the tutorial's
//! `/api/csrf/`, `/api/login/`, `/api/logout/`, `/api/session/` and
//! `/api/whoami/` endpoints, in four deployment presets.
//!
//! Start with [`Latchkey`] (the shared state), [`http::app`] (Latchkey's
//! routes and layers around your own routes), [`http::build_router`] (the
//! API alone) or [`http::router`] plus the extractors in [`http::extract`]
//! (see `examples/existing_app.rs`).
//!
//! ## Quick start
//!
//! Protect your own axum routes with the signed-in user, and serve
//! Latchkey's `/api/` beside them:
//!
//! ```
//! use axum::{Router, body::Body, routing::get};
//! use latchkey::{CurrentUser, Latchkey, http::ApiLayer, settings::RawSettings};
//! use tower::ServiceExt;
//!
//! async fn me(CurrentUser(user): CurrentUser) -> String {
//!     format!("signed in as {}", user.username)
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Settings as a TOML file or LATCHKEY_* variables would give them.
//! let settings = RawSettings { database_url: Some("sqlite::memory:".into()), ..Default::default() }.validate()?;
//! let (latchkey, _backends) = Latchkey::open_migrated(settings).await?;
//!
//! // ApiLayer: CSRF on your unsafe methods, and the session CurrentUser reads.
//! let mine = Router::new().route("/me/", get(me)).route_layer(ApiLayer(latchkey.clone())).with_state(latchkey.clone());
//! let app = latchkey::http::app(mine, &latchkey); // serve it with axum::serve
//!
//! // Anonymous callers get a JSON 403; /api/csrf/, /api/login/, … are there.
//! let get = |path: &str| http::Request::get(path).header("host", "localhost").body(Body::empty());
//! assert_eq!(app.clone().oneshot(get("/me/")?).await?.status(), 403);
//! assert_eq!(app.oneshot(get("/api/csrf/")?).await?.status(), 200);
//! # Ok(())
//! # }
//! ```
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
#[cfg(feature = "oidc")]
pub mod idp;
pub mod keys;
pub mod mail;
pub mod mailer;
pub mod metrics;
pub mod mfa;
pub mod oidc;
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
        Accounts, Acting, Admin, AdminError, AdminSession, AdminSessionId, Backends, BuildError, CacheSyncThread,
        CallbackParams, Core, Ended, FactorUsed, Latchkey, Mailing, Oidc, OidcError, OidcStarted, Outcome, Passwords,
        Proof, Recovery, Registration, SecondFactor, SecondFactors, SessionAuth, SessionSummary, SignIn, SignedIn,
        SignedUp, Stores, Target, TotpSetup, WayIn,
    },
    users::{User, UserStore},
};
