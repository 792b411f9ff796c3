//! `/v1/reviews` and `/v1/agents/{id}/status`.

use serde::{Deserialize, Serialize};

/// `POST /v1/reviews`: the result of reviewing one grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordReview {
    pub agent: String,
    pub tool: String,
    /// `keep` or `revoke`.
    pub result: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `POST /v1/agents/{id}/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetStatus {
    pub status: String,
    pub reason: String,
}
