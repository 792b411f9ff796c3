//! The MCP gateway's view of one upstream for one agent (`warrant mcp`, `/mcp/{server}`): the `McpServer`
//! manifest, the registry tools it can map to, and the agent's grants. The gateway filters `tools/list` and
//! asks the gate for every `tools/call` with these; it never decides by itself.

use warrant_api::mcp::{McpBinding, McpView};
use warrant_core::identity::Principal;
use warrant_core::registry::manifest::{Kind, Manifest, McpTransport};
use warrant_store::Store;

use crate::error::{Result, ServiceError};
use crate::identity::act_for;

/// What `agent` may see of upstream `server`. The principal must speak for the agent.
pub fn view(store: &Store, principal: &Principal, server: &str, agent: &str) -> Result<McpView> {
    act_for(principal, agent)?;
    let registry = store.registry();
    let manifest = match registry.get(Kind::McpServer, server) {
        Some(Manifest::McpServer(manifest)) => manifest.clone(),
        _ => {
            return Err(ServiceError::not_found(format!(
                "no McpServer `{server}` in the registry"
            )));
        }
    };
    let Some(holder) = registry.agent(agent) else {
        return Err(ServiceError::not_found(format!(
            "no agent `{agent}` in the registry"
        )));
    };
    let bindings = manifest
        .tools
        .iter()
        .map(|(name, binding)| {
            (
                name.clone(),
                McpBinding {
                    tool: manifest.tool_id(name),
                    sha256: binding.sha256.clone(),
                },
            )
        })
        .collect();
    Ok(McpView {
        server: manifest.id.clone(),
        agent: agent.to_owned(),
        transport: match manifest.transport {
            McpTransport::Stdio => "stdio".into(),
            McpTransport::Http => "http".into(),
        },
        command: manifest.command.clone(),
        args: manifest.args.clone(),
        env: manifest.env.clone(),
        url: manifest.url.clone(),
        headers_from_env: manifest.headers_from_env.clone(),
        bindings,
        declared: registry
            .list(Kind::Tool)
            .map(|tool| tool.id().to_owned())
            .collect(),
        granted: holder.tools.iter().map(|grant| grant.tool.clone()).collect(),
    })
}
