//! Black-box tests: a real server on a free port, and the real binary.
#![allow(unreachable_pub)]

#[path = "../../../latchkey/tests/it/backends.rs"]
mod backends;
mod helpers;

mod bad_input;
mod cli;
mod deploy;
mod faults;
mod flow;
mod pty;
mod scale;
mod spa;
mod transport;
