//! Integration tests through the public API only: published RFC 6962 test
//! vectors, tamper scenarios run through the streaming log verifier, and
//! evidence bundles written and verified.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod bundle;
mod log;
mod rfc6962;
