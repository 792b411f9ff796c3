//! Behaviour tests of the domain crate, one binary: the policy gate as data-driven tables.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod compliance;
mod gate;
mod monitor;
mod provenance;
mod register;
mod risk;
