//! Everything that knows about HTTP: the error type and the one place that
//! maps domain errors to status codes ([`error`]), the layers in their
//! documented order ([`layers`]), the request context and Host allow-list
//! ([`context`]), the HTTP halves of CSRF and sessions ([`csrf`],
//! [`session`]), cookies ([`cookies`]), extractors ([`extract`]), one
//! router per feature ([`routes`]) and the OpenAPI document built from
//! them ([`openapi`]). No other module names an axum or http
//! type.

pub mod context;
pub mod cookies;
pub mod csrf;
pub mod error;
pub mod extract;
pub mod layers;
pub mod openapi;
pub mod routes;
pub mod session;

pub use csrf::csrf_middleware;
pub use error::ApiError;
pub use layers::{ApiLayer, app, build_router, with_layers};
pub use routes::{append_slash_fallback, router};
pub use session::session_middleware;
