//! End-to-end tests of the `warrant` binary: a real server on a free port, the CLI as a user runs it, and the
//! SQLite file read and tampered with directly. One test binary, so linking stays cheap.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod approvals;
mod auth;
mod authorize;
mod backup;
mod bundle;
mod compliance;
mod console;
mod crash;
mod erase;
mod events;
mod identity;
mod logs;
mod mcp;
mod monitor;
mod notify;
mod otlp;
mod postgres;
mod proof;
mod registry;
mod risk;
mod server;
mod support;
mod tamper;
mod witness;
