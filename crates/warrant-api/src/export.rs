//! `POST /v1/evidence/export`: the signed evidence bundle of a period (the answer is the `.tar.gz`).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ExportRequest {
    /// The period's start: a date (YYYY-MM-DD) or an RFC 3339 time.
    pub from: String,
    /// The period's end, likewise.
    pub to: String,
    /// Only these agents' events in full (others as their leaf hashes); all when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub agents: Vec<String>,
    /// Clear content (with its salts) beside each event's digests.
    #[serde(default)]
    pub with_content: bool,
}
