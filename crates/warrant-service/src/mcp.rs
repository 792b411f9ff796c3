//! The MCP gateway's view of one upstream for one agent (`warrant mcp`, `/mcp/{server}`): the `McpServer`
//! manifest, the registry tools it can map to, and the agent's grants. The gateway filters `tools/list` and
//! asks the gate for every `tools/call` with these; it never decides by itself.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use warrant_api::ErrorCode;
use warrant_api::mcp::{HiddenReason, HiddenTool, McpBinding, McpView, ToolListing, ToolReview, VisibleTool};
use warrant_core::event::{Event, EventKind};
use warrant_core::identity::Principal;
use warrant_core::registry::manifest::{Kind, Manifest, McpServer, McpTransport};
use warrant_store::Store;

use crate::error::{Result, ServiceError};
use crate::identity::act_for;

/// What `agent` may see of upstream `server`. The principal must speak for the agent.
pub fn view(store: &Store, principal: &Principal, server: &str, agent: &str) -> Result<McpView> {
    act_for(principal, agent)?;
    let registry = store.registry();
    let manifest = upstream(&registry, server)?;
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

fn upstream(registry: &warrant_core::registry::Registry, server: &str) -> Result<McpServer> {
    match registry.get(Kind::McpServer, server) {
        Some(Manifest::McpServer(manifest)) => Ok(manifest.clone()),
        _ => Err(ServiceError::not_found(format!(
            "no McpServer `{server}` in the registry"
        ))),
    }
}

/// The digest a tool definition is pinned by: SHA-256 (hex) of the RFC 8785 canonical JSON of its `name`,
/// `description` and `inputSchema` (an absent field counts as `null`). What a model reads and what it may
/// send are covered; display-only fields (`title`, `icons`) are not, so restyling a tool does not hide it.
pub fn definition_digest(definition: &Map<String, Value>) -> String {
    let field = |name: &str| definition.get(name).cloned().unwrap_or(Value::Null);
    let pinned = json!({
        "name": field("name"),
        "description": field("description"),
        "inputSchema": field("inputSchema"),
    });
    hex::encode(Sha256::digest(warrant_log::canonicalize(&pinned)))
}

/// Sort an upstream's `tools/list` for `agent`: visible are the tools that map to a registry Tool the agent
/// holds a grant for and whose definition is the approved one (when the manifest pins a digest). An
/// undeclared tool or a changed definition is recorded once per upstream, tool and definition (a `change`
/// event, `op: mcp_tool_hidden`), so the registry's owners see what an upstream started to offer.
pub async fn review_tools(
    store: &Store,
    principal: &Principal,
    server: &str,
    agent: &str,
    listing: ToolListing,
    now: DateTime<Utc>,
) -> Result<ToolReview> {
    act_for(principal, agent)?;
    let registry = store.registry();
    let manifest = upstream(&registry, server)?;
    let Some(holder) = registry.agent(agent) else {
        return Err(ServiceError::not_found(format!(
            "no agent `{agent}` in the registry"
        )));
    };
    let granted: BTreeSet<&str> = holder.tools.iter().map(|grant| grant.tool.as_str()).collect();
    let mut review = ToolReview {
        visible: Vec::new(),
        hidden: Vec::new(),
    };
    let mut seen = BTreeSet::new();
    let mut evidence = Vec::new();
    for definition in &listing.tools {
        let Some(name) = definition.get("name").and_then(Value::as_str) else {
            return Err(ServiceError::invalid(
                ErrorCode::InvalidRequest,
                "every listed tool needs a string `name`",
            ));
        };
        let tool = manifest.tool_id(name);
        let sha256 = definition_digest(definition);
        let approved = manifest
            .tools
            .get(name)
            .and_then(|binding| binding.sha256.clone());
        let reason = if !seen.insert(name.to_owned()) {
            Some(HiddenReason::Duplicate)
        } else if registry.tool(&tool).is_none() {
            Some(HiddenReason::Undeclared)
        } else if approved.as_ref().is_some_and(|approved| *approved != sha256) {
            Some(HiddenReason::Changed)
        } else if !granted.contains(tool.as_str()) {
            Some(HiddenReason::NotGranted)
        } else {
            None
        };
        match reason {
            None => review.visible.push(VisibleTool {
                name: name.to_owned(),
                tool,
                sha256,
            }),
            Some(reason) => {
                if matches!(reason, HiddenReason::Undeclared | HiddenReason::Changed) {
                    evidence.push((
                        review.hidden.len(),
                        hidden_event(
                            &manifest,
                            agent,
                            name,
                            &tool,
                            reason,
                            &sha256,
                            approved.as_deref(),
                            definition,
                            now,
                        ),
                    ));
                }
                review.hidden.push(HiddenTool {
                    name: name.to_owned(),
                    tool,
                    reason,
                    sha256,
                    approved: if reason == HiddenReason::Changed {
                        approved
                    } else {
                        None
                    },
                    seq: None,
                });
            }
        }
    }
    if !evidence.is_empty() {
        let (indexes, events): (Vec<usize>, Vec<Event>) = evidence.into_iter().unzip();
        let appended = store.append(events, principal, now).await?;
        for (index, appended) in indexes.into_iter().zip(appended) {
            if let Some(hidden) = review.hidden.get_mut(index) {
                hidden.seq = Some(appended.seq);
            }
        }
    }
    Ok(review)
}

/// The `change` event for a hidden tool. Its idempotency key names the upstream, the tool and the definition,
/// so listing the same tools again records nothing new.
#[allow(clippy::too_many_arguments)]
fn hidden_event(
    manifest: &McpServer,
    agent: &str,
    name: &str,
    tool: &str,
    reason: HiddenReason,
    sha256: &str,
    approved: Option<&str>,
    definition: &Map<String, Value>,
    now: DateTime<Utc>,
) -> Event {
    let mut attrs = Map::new();
    attrs.insert("op".into(), "mcp_tool_hidden".into());
    attrs.insert("object_kind".into(), Kind::McpServer.as_str().into());
    attrs.insert("object_id".into(), manifest.id.clone().into());
    attrs.insert("upstream_tool".into(), name.into());
    attrs.insert("tool".into(), tool.into());
    attrs.insert("reason".into(), reason.as_str().into());
    attrs.insert("sha256".into(), sha256.into());
    if let Some(approved) = approved {
        attrs.insert("approved_sha256".into(), approved.into());
    }
    attrs.insert("definition".into(), Value::Object(definition.clone()));
    Event {
        id: Some(format!("mcp-hidden:{}:{name}:{sha256}", manifest.id)),
        time: now,
        agent: Some(agent.to_owned()),
        kind: EventKind::Change,
        trace_id: None,
        span_id: None,
        parent_span_id: None,
        session: None,
        attrs,
        content: Map::new(),
    }
}
