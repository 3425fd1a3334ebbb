//! Black-box tests: a real server on a free port, and the real binary.
#![allow(unreachable_pub)]

mod h2;
mod helpers;
mod lockout;

mod audit_flood;
mod bad_input;
mod cli;
mod deploy;
mod django;
mod dos;
mod faults;
mod flow;
mod mail;
mod metrics;
mod oidc;
mod pty;
mod scale;
mod schemathesis;
mod spa;
mod transport;
