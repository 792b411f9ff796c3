//! What the gateway asks of warrant. Implemented over HTTP by the CLI (`warrant mcp --server`) and
//! in-process on a local data directory; the server's own `/mcp/{upstream}` calls the service directly.

use std::future::Future;
use std::pin::Pin;

use serde_json::{Map, Value};
use warrant_api::gate::{ApprovalStatus, AuthorizeRequest, AuthorizeResponse};
use warrant_api::mcp::{ResourceAccess, ToolReview};
use warrant_log::Seq;

pub type Answer<'a, T> = Pin<Box<dyn Future<Output = Result<T, GovernorError>> + Send + 'a>>;

/// Why warrant could not answer: the gateway does not forward a call it cannot decide and record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GovernorError(pub String);

impl std::fmt::Display for GovernorError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// warrant, as one gateway session sees it: one upstream, one agent.
pub trait Governor: Send + Sync + 'static {
    /// Sort an upstream's tool definitions into visible and hidden (recording the hidden ones that matter).
    fn review_tools(&self, tools: Vec<Map<String, Value>>) -> Answer<'_, ToolReview>;
    /// Decide one call; the decision is durable before the answer.
    fn authorize(&self, request: AuthorizeRequest) -> Answer<'_, AuthorizeResponse>;
    /// The state of an approval the agent asked for (to wait for an approver).
    fn approval(&self, id: String) -> Answer<'_, ApprovalStatus>;
    /// Whether the agent may read a resource, and which data source it is.
    fn resource(&self, uri: String) -> Answer<'_, ResourceAccess>;
    /// Append events (the JSON event format), all or nothing; their seqs in order.
    fn record(&self, events: Vec<Value>) -> Answer<'_, Vec<Seq>>;
}
