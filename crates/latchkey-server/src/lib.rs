//! The `latchkey` server: command line, layered configuration, and app
//! assembly around the `latchkey` library. `main.rs` only parses and
//! dispatches; everything testable lives here.

pub mod app;
pub mod cli;
pub mod commands;
pub mod config;
pub mod conn;
pub mod telemetry;

pub use app::App;
pub mod spa;
