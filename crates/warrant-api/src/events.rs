//! Events: `POST /v1/events`, `GET /v1/events/{seq}`, `POST /v1/erase`. Event bodies are the log's own
//! format (docs/events.md) and travel as JSON objects.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use warrant_log::Seq;

/// `POST /v1/events`: a batch is all or nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Accepted {
    pub accepted: usize,
    /// Events whose `id` the log already holds: not stored twice.
    pub duplicates: usize,
    /// The seq of each event in the batch, in order (a duplicate's is the first copy's).
    pub seqs: Vec<Seq>,
}

/// The checkpoint a proof is to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct CheckpointRef {
    pub size: u64,
    pub root: String,
    pub note: String,
}

/// `GET /v1/events/{seq}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct StoredEvent {
    pub seq: Seq,
    /// The committed body (content as salted digests).
    pub event: Value,
    /// Clear content still held; erased fields are absent.
    pub content: Map<String, Value>,
    pub leaf_hash: String,
    /// The latest checkpoint that covers the event, and the event's inclusion proof in it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<CheckpointRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inclusion_proof: Option<Vec<String>>,
}

/// `POST /v1/erase`: by data subject or by seqs, one of the two.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct EraseRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seqs: Option<Vec<Seq>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Erased {
    /// The events whose content was erased.
    pub events: Vec<Seq>,
    pub fields: u64,
    /// The `erasure` event that records it (a request that finds nothing is recorded too; only the
    /// retention sweep records nothing when nothing expired).
    pub seq: Option<Seq>,
}
