//! warrant's operations, one module per area. Each takes the store and plain typed arguments (with an
//! explicit time where the answer depends on it) and returns a typed result or a [`ServiceError`]. The HTTP
//! API's handlers parse, authorize, call one of these and encode; the CLI reaches them through that API (in
//! process on a data directory, or over HTTP), and the console and the MCP gateway call them directly.
//!
//! Layering: `warrant-core` (pure domain) and `warrant-store` (disk) below, `warrant-server` (HTTP) above.
//! Nothing here knows about HTTP.

pub mod approvals;
pub mod audit;
pub mod compliance;
mod error;
pub mod events;
pub mod export;
pub mod gate;
pub mod identity;
pub mod limits;
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
pub mod witness;

pub use crate::error::{Failure, Result, ServiceError};

/// Run blocking store work (SQLite reads) off the async workers.
pub async fn blocking<T: Send + 'static>(work: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| ServiceError::internal(&error))?
}
