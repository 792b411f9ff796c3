//! The registry: `/v1/{collection}[/{id}]`, `POST /v1/apply`, `DELETE /v1/{collection}/{id}`, `/v1/changes`.
//! Manifests travel in manifest form (`kind` first, then the fields, ready to re-apply), as JSON objects.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use warrant_log::Seq;

/// One registry change as applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct AppliedChange {
    /// `create`, `update` or `delete`.
    pub op: String,
    pub kind: String,
    pub id: String,
    pub version: u64,
    /// The `change` event that records it.
    pub seq: Seq,
    /// A substantial modification (EU AI Act Art. 3(23)), and why.
    pub substantial: bool,
    pub substantial_reasons: Vec<String>,
    /// Field-level differences: `{path, op, before?, after?}`.
    pub diff: Vec<Value>,
}

/// `POST /v1/apply`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Applied {
    pub changes: Vec<AppliedChange>,
    /// How many documents were already as declared.
    pub unchanged: usize,
}

/// One problem in a manifest, in the `details` of a 400 `invalid_manifest`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ManifestProblem {
    pub document: usize,
    pub kind: Option<String>,
    pub id: Option<String>,
    /// The field path inside the document; empty for a whole-document problem.
    pub field: String,
    pub message: String,
    /// The whole problem as one line, for people.
    pub text: String,
}
