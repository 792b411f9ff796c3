//! Integration tests through the public API only: published RFC 6962 test
//! vectors, and tamper scenarios run through the streaming log verifier.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod log;
mod rfc6962;
