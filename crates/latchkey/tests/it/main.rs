#![allow(unreachable_pub)]
//! In-process integration tests: the whole app driven with `oneshot`.

mod helpers;

mod account;
mod admin;
mod admin_lists;
mod api;
mod audit;
mod cache;
mod cors;
mod csrf;
mod forward_auth;
mod layering;
mod library;
mod logs;
mod mailer;
mod metrics;
mod mfa;
mod middleware;
mod openapi;
mod recovery;
mod sessions;
mod signin;
mod signup;
mod softkey;
mod store_conformance;
mod throttle;
mod upgrade;
mod webauthn;
