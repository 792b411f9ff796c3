//! `/v1/logs`: the further logs of a deployment (one Merkle log per organisation or business unit).

use serde::{Deserialize, Serialize};

use crate::tokens::NewToken;

/// `POST /v1/logs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateLog {
    /// 1 to 32 lowercase letters, digits and inner hyphens; the log's path is `/logs/{id}/…`.
    pub id: String,
    /// The organisation named in the log's origin; defaults to the deployment's first log's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<String>,
}

/// One log of the deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct LogInfo {
    /// The log's id; none for the deployment's first log (the one at `/`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The origin line its checkpoints carry (`warrant/<org>/<log-id>`).
    pub origin: String,
    /// The note verifier key its checkpoints are signed with.
    pub key: String,
    /// Events in the log.
    pub size: u64,
    /// Where its API is: `/` for the first log, `/logs/{id}/` for the others.
    pub path: String,
}

/// The answer to `POST /v1/logs`: the new log, and its first admin token (shown once).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct NewLog {
    pub log: LogInfo,
    pub admin: NewToken,
}
