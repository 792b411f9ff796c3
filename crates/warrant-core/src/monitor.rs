//! Behavioural monitoring: what the rollups count at ingest ([`facts`]), the statistics over them
//! ([`stats`], [`histogram`]), and the detectors that read them ([`detect`]).

pub mod detect;
pub mod facts;
pub mod histogram;
pub mod rules;
pub mod stats;
