//! `GET /v1/mcp/{server}/agents/{agent}`: what the MCP gateway needs to front one upstream for one agent.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use warrant_log::Seq;

/// An upstream MCP server as the gateway sees it for one agent: how to reach it, how its tools map to the
/// registry, and which registry tools the agent may see.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct McpView {
    pub server: String,
    pub agent: String,
    /// `stdio` or `http`.
    pub transport: String,
    pub command: Option<String>,
    pub args: Vec<String>,
    /// Names of environment variables passed on to a stdio upstream.
    pub env: Vec<String>,
    pub url: Option<String>,
    /// Header name → environment variable holding its value.
    pub headers_from_env: BTreeMap<String, String>,
    /// Upstream tool name → registry Tool id and pinned definition digest, for the tools the manifest binds.
    pub bindings: BTreeMap<String, McpBinding>,
    /// Registry Tool ids declared in the registry (an upstream tool mapping to none is undeclared).
    pub declared: Vec<String>,
    /// Registry Tool ids the agent holds a grant for: the tools it may see.
    pub granted: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct McpBinding {
    pub tool: String,
    pub sha256: Option<String>,
}

/// `POST /v1/mcp/{server}/agents/{agent}/tools`: the tool definitions an upstream listed, as it listed them
/// (`name`, `description`, `inputSchema`, and whatever else it sent).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ToolListing {
    pub tools: Vec<serde_json::Map<String, serde_json::Value>>,
}

/// Which listed tools the agent may see, and why the others are hidden. A hidden tool's evidence (`seq`) is
/// recorded once per upstream, tool and definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ToolReview {
    pub visible: Vec<VisibleTool>,
    pub hidden: Vec<HiddenTool>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct VisibleTool {
    /// The upstream's name for it.
    pub name: String,
    /// The registry Tool it is.
    pub tool: String,
    /// SHA-256 of its definition (see `definition_digest`).
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct HiddenTool {
    pub name: String,
    pub tool: String,
    pub reason: HiddenReason,
    /// SHA-256 of the definition the upstream listed.
    pub sha256: String,
    /// The approved digest, for a changed definition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved: Option<String>,
    /// The evidence of the hiding (undeclared and changed tools only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<Seq>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum HiddenReason {
    /// The registry declares no Tool for it.
    Undeclared,
    /// The agent holds no grant for it.
    NotGranted,
    /// Its description or input schema is not the approved one.
    Changed,
    /// The upstream listed the same name twice.
    Duplicate,
}

impl HiddenReason {
    pub fn as_str(self) -> &'static str {
        match self {
            HiddenReason::Undeclared => "undeclared",
            HiddenReason::NotGranted => "not_granted",
            HiddenReason::Changed => "changed",
            HiddenReason::Duplicate => "duplicate",
        }
    }
}

/// `POST /v1/mcp/{server}/agents/{agent}/resources`: may the agent read this resource of the upstream?
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ResourceRequest {
    pub uri: String,
}

/// The answer: the DataSource the resource belongs to and its sensitivity (a read is a `data_access` of it),
/// or why the agent may not read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ResourceAccess {
    pub uri: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// `public`, `internal`, `confidential` or `restricted`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sensitivity: Option<String>,
    /// Set when the read is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
}
