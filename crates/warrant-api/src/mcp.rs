//! `GET /v1/mcp/{server}/agents/{agent}`: what the MCP gateway needs to front one upstream for one agent.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

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
