//! `/v1/notifications` and `/v1/notifiers/{id}/test`: deliveries of notifications and their state.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::Seq;

/// What a delivery is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct About {
    /// `approval`, `alert`, `incident`, `review` or `notifier` (a test message).
    pub kind: String,
    pub id: String,
}

/// One notice for one notifier, and how its delivery went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Delivery {
    /// Also the `webhook-id` header of every attempt, for receivers to drop repeats.
    pub id: String,
    pub notifier: String,
    /// Who the notifier tells, as its manifest says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
    /// `approval.requested`, `incident.opened`, ... or `test`.
    pub topic: String,
    pub about: About,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    pub title: String,
    /// `pending`, `delivered` or `failed`.
    pub state: String,
    pub attempts: u32,
    pub created_at: DateTime<Utc>,
    /// When a pending delivery is tried next.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt: Option<DateTime<Utc>>,
    /// A failing delivery is given up after this.
    pub deadline: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered_at: Option<DateTime<Utc>>,
    /// The `notification` event of the latest attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seq: Option<Seq>,
}
