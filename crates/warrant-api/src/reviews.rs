//! `/v1/reviews` and `/v1/agents/{id}/status`.

use serde::{Deserialize, Serialize};
use warrant_log::Seq;

/// `POST /v1/reviews`: the result of reviewing one grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
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
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct SetStatus {
    pub status: String,
    pub reason: String,
}

/// A grant due for review (`GET /v1/reviews/due`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ReviewDue {
    pub agent: String,
    pub tool: String,
    /// Days between reviews, from the agent's risk class.
    pub cadence_days: i64,
    /// The last review, or the grant's approval date (YYYY-MM-DD).
    pub since: Option<String>,
    /// When the next review is due; none for a grant with no date at all (due now).
    pub due: Option<String>,
    pub overdue: bool,
}

/// A recorded review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ReviewRecorded {
    pub result: String,
    /// The registry change it made (none when nothing changed).
    pub change_seq: Option<Seq>,
    /// The `review` event.
    pub seq: Option<Seq>,
}

/// An agent's status after `POST /v1/agents/{id}/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct StatusSet {
    pub id: String,
    pub status: String,
    /// False when the agent already had that status.
    pub changed: bool,
    pub seq: Option<Seq>,
}
