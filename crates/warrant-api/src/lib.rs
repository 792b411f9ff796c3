//! The wire format of warrant's HTTP API, defined once: the server answers with these types, the CLI (and any
//! Rust client) reads them back, and a test checks the OpenAPI document against them. Plain data with serde,
//! no behaviour: the domain lives in `warrant-core`, the operations in `warrant-service`.

pub mod compliance;
pub mod error;
pub mod events;
pub mod export;
pub mod gate;
pub mod log;
pub mod logs;
pub mod mcp;
pub mod monitor;
pub mod notify;
pub mod oversight;
pub mod registry;
pub mod reviews;
pub mod risk;
pub mod tokens;
pub mod trails;

pub use error::{ErrorBody, ErrorCode, ErrorDetail};
pub use warrant_log::Seq;

/// A list answer: `{"items": [...]}`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "schema", schemars(rename = "ItemsOf{T}"))]
#[serde(deny_unknown_fields)]
pub struct Items<T> {
    pub items: Vec<T>,
}
