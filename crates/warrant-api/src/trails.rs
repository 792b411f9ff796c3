//! `GET /v1/trails/{id}`: a decision path as a tree.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use warrant_log::Seq;

use crate::events::CheckpointRef;

/// What the id named.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Resolved {
    /// `trace`, `session` or `event`.
    pub kind: String,
    pub value: Value,
}

/// Totals over a trail.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct TrailSummary {
    pub events: usize,
    pub agents: Vec<String>,
    pub traces: Vec<String>,
    pub cost_usd: f64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// Decisions as `name = outcome`, in order.
    pub decisions: Vec<String>,
    /// Outcomes as `name: status`, in order.
    pub outcomes: Vec<String>,
    pub policy_decisions: usize,
}

/// One step of a trail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct TrailNode {
    pub seq: Seq,
    pub kind: String,
    pub time: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// Who wrote the record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    /// One line saying what happened, for people.
    pub summary: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub span_id: Option<String>,
    pub attrs: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub content: Map<String, Value>,
    /// The inclusion proof of this step in the latest checkpoint; `null` while it is newer than every
    /// checkpoint.
    pub proof: Option<String>,
    pub children: Vec<TrailNode>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Trail {
    pub id: String,
    pub resolved: Resolved,
    pub traces: Vec<String>,
    pub truncated: bool,
    pub summary: TrailSummary,
    pub checkpoint: Option<CheckpointRef>,
    pub nodes: Vec<TrailNode>,
}
