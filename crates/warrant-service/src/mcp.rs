//! The MCP gateway's view of one upstream for one agent (`warrant mcp`, `/mcp/{server}`): the `McpServer`
//! manifest, the registry tools it can map to, and the agent's grants. The gateway filters `tools/list` and
//! asks the gate for every `tools/call` with these; it never decides by itself.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use warrant_api::ErrorCode;
use warrant_api::mcp::{
    HiddenReason, HiddenTool, McpBinding, McpView, ResourceAccess, ToolListing, ToolReview, VisibleTool,
};
use warrant_core::event::{Event, EventKind};
use warrant_core::identity::Principal;
use warrant_core::mcp as tools;
use warrant_core::registry::manifest::{Kind, McpServer, McpTransport};
use warrant_log::Seq;
use warrant_store::{ChangeFilter, Store, StoreError};

use crate::error::{Result, ServiceError};
use crate::identity::act_for;

/// What `agent` may see of upstream `server`. The principal must speak for the agent.
pub fn view(store: &Store, principal: &Principal, server: &str, agent: &str) -> Result<McpView> {
    let (registry, manifest) = upstream_for(store, principal, server, agent)?;
    let holder = agent_of(&registry, agent)?;
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

/// The registry, and upstream `server`'s manifest, for a principal speaking for `agent`.
fn upstream_for(
    store: &Store,
    principal: &Principal,
    server: &str,
    agent: &str,
) -> Result<(std::sync::Arc<warrant_core::registry::Registry>, McpServer)> {
    act_for(principal, agent)?;
    let registry = store.registry();
    let manifest = upstream(&registry, server)?;
    agent_of(&registry, agent)?;
    Ok((registry, manifest))
}

fn agent_of<'a>(
    registry: &'a warrant_core::registry::Registry,
    agent: &str,
) -> Result<&'a warrant_core::registry::manifest::Agent> {
    registry
        .agent(agent)
        .ok_or_else(|| ServiceError::not_found(format!("no agent `{agent}` in the registry")))
}

fn upstream(registry: &warrant_core::registry::Registry, server: &str) -> Result<McpServer> {
    match registry.mcp_server(server) {
        Some(manifest) => Ok(manifest.clone()),
        None => Err(ServiceError::not_found(format!(
            "no McpServer `{server}` in the registry"
        ))),
    }
}

/// Whether `agent` may read resource `uri` of upstream `server`: the resource must fall under a prefix the
/// manifest maps to a DataSource, and the agent must declare that data source. The gateway records the read
/// as a `data_access` of it, which raises the session's sensitivity like any other read.
pub fn resource(
    store: &Store,
    principal: &Principal,
    server: &str,
    agent: &str,
    uri: &str,
) -> Result<ResourceAccess> {
    let (registry, manifest) = upstream_for(store, principal, server, agent)?;
    let holder = agent_of(&registry, agent)?;
    let refused = |why: String| ResourceAccess {
        uri: uri.to_owned(),
        source: None,
        sensitivity: None,
        refused: Some(why),
    };
    let Some(source) = manifest.resource_source(uri) else {
        return Ok(refused(format!(
            "`{uri}` falls under no resource prefix of the McpServer `{server}`, so it maps to no data source"
        )));
    };
    if !holder.data_sources.iter().any(|declared| declared == source) {
        return Ok(refused(format!(
            "`{uri}` is data source `{source}`, which agent `{agent}` does not declare"
        )));
    }
    let sensitivity = registry
        .data_source(source)
        .and_then(|source| serde_json::to_value(source.sensitivity).ok())
        .and_then(|value| value.as_str().map(str::to_owned));
    Ok(ResourceAccess {
        uri: uri.to_owned(),
        source: Some(source.to_owned()),
        sensitivity,
        refused: None,
    })
}

/// The digest a tool definition is pinned by: SHA-256 (hex) of the RFC 8785 canonical JSON of its `name`,
/// `description`, `inputSchema`, `outputSchema` and `annotations` (an absent field counts as `null`). What a
/// model reads, what it may send and get back, and the hints a host may act on (`readOnlyHint`,
/// `destructiveHint`) are covered; display-only fields (`title`, `icons`) are not, so restyling a tool does
/// not hide it.
pub fn definition_digest(definition: &Map<String, Value>) -> String {
    let field = |name: &str| definition.get(name).cloned().unwrap_or(Value::Null);
    let pinned = json!({
        "name": field("name"),
        "description": field("description"),
        "inputSchema": field("inputSchema"),
        "outputSchema": field("outputSchema"),
        "annotations": field("annotations"),
    });
    hex::encode(Sha256::digest(warrant_log::canonicalize(&pinned)))
}

/// Sort an upstream's `tools/list` for `agent` (see [`warrant_core::mcp`]): visible are the tools that map
/// to a registry Tool the agent holds a grant for and whose definition is the approved one. A change of a
/// tool's state (pinned on first use, hidden as undeclared or changed, shown again) is recorded as a `change`
/// event on the `McpServer`, so the registry's owners see what an upstream started to offer.
pub async fn review_tools(
    store: &Store,
    principal: &Principal,
    server: &str,
    agent: &str,
    listing: ToolListing,
    now: DateTime<Utc>,
) -> Result<ToolReview> {
    let (registry, manifest) = upstream_for(store, principal, server, agent)?;
    let holder = agent_of(&registry, agent)?;
    let granted: BTreeSet<&str> = holder.tools.iter().map(|grant| grant.tool.as_str()).collect();
    let mut listed = Vec::with_capacity(listing.tools.len());
    for definition in &listing.tools {
        let Some(name) = definition.get("name").and_then(Value::as_str) else {
            return Err(ServiceError::invalid(
                ErrorCode::InvalidRequest,
                "every listed tool needs a string `name`",
            ));
        };
        listed.push((name.to_owned(), definition_digest(definition)));
    }
    // A read of the change log: off the async workers, as every store read is.
    let reader = store.clone();
    let records = crate::blocking(move || Ok(records(&reader)?)).await?;
    let sorted = tools::sort(&registry, &manifest, &records, &granted, &listed);

    let mut review = ToolReview {
        visible: Vec::new(),
        hidden: Vec::new(),
    };
    let mut evidence = Vec::new();
    for (sorted, definition) in sorted.into_iter().zip(&listing.tools) {
        if let Some((op, reason)) = sorted.record {
            let previous = records.get(&manifest.id, &sorted.name).map(|record| record.seq);
            let event = tool_event(&manifest, agent, &sorted, op, reason, previous, definition, now);
            // A hidden tool's `seq` is the evidence of its hiding, not of a pin recorded meanwhile.
            let hiding = matches!(
                sorted.hidden,
                Some(tools::Hidden::Undeclared | tools::Hidden::Changed)
            );
            evidence.push((hiding.then_some(review.hidden.len()), event));
        }
        match sorted.hidden {
            None => review.visible.push(VisibleTool {
                name: sorted.name,
                tool: sorted.tool,
                sha256: sorted.sha256,
            }),
            Some(reason) => {
                let seq = records
                    .get(&manifest.id, &sorted.name)
                    .filter(|record| record.state == tools::State::Hidden(reason))
                    .map(|record| record.seq);
                review.hidden.push(HiddenTool {
                    name: sorted.name,
                    tool: sorted.tool,
                    reason: hidden_reason(reason),
                    sha256: sorted.sha256,
                    approved: sorted.approved,
                    seq,
                });
            }
        }
    }
    if !evidence.is_empty() {
        let (indexes, events): (Vec<Option<usize>>, Vec<Event>) = evidence.into_iter().unzip();
        let appended = store.append(events, principal, now).await?;
        for (index, appended) in indexes.into_iter().zip(appended) {
            if let Some(hidden) = index.and_then(|index| review.hidden.get_mut(index)) {
                hidden.seq = Some(appended.seq);
            }
        }
    }
    Ok(review)
}

/// What the log says of every upstream's tools.
pub fn records(store: &Store) -> std::result::Result<tools::Records, StoreError> {
    let changes = store.changes(&ChangeFilter {
        kind: Some(Kind::McpServer),
        ..ChangeFilter::default()
    })?;
    Ok(tools::Records::from_changes(changes.iter().filter_map(
        |change| {
            change
                .body
                .get("attrs")
                .and_then(Value::as_object)
                .map(|attrs| (change.seq, attrs))
        },
    )))
}

fn hidden_reason(reason: tools::Hidden) -> HiddenReason {
    match reason {
        tools::Hidden::Undeclared => HiddenReason::Undeclared,
        tools::Hidden::Changed => HiddenReason::Changed,
        tools::Hidden::NotGranted => HiddenReason::NotGranted,
        tools::Hidden::Duplicate => HiddenReason::Duplicate,
    }
}

/// The `change` event recording a tool's new state. Its idempotency key names the upstream, the tool, the
/// state, the definition and the record it follows, so two sessions listing the same change at once record
/// it once.
#[allow(clippy::too_many_arguments)]
fn tool_event(
    manifest: &McpServer,
    agent: &str,
    sorted: &tools::Sorted,
    op: &str,
    reason: Option<tools::Hidden>,
    previous: Option<Seq>,
    definition: &Map<String, Value>,
    now: DateTime<Utc>,
) -> Event {
    let mut attrs = Map::new();
    attrs.insert("op".into(), op.into());
    attrs.insert("object_kind".into(), Kind::McpServer.as_str().into());
    attrs.insert("object_id".into(), manifest.id.clone().into());
    attrs.insert("upstream_tool".into(), sorted.name.clone().into());
    attrs.insert("tool".into(), sorted.tool.clone().into());
    if let Some(reason) = reason {
        attrs.insert("reason".into(), reason.as_str().into());
    }
    attrs.insert("sha256".into(), sorted.sha256.clone().into());
    if let Some(approved) = &sorted.approved {
        attrs.insert("approved_sha256".into(), approved.clone().into());
    }
    attrs.insert("definition".into(), Value::Object(definition.clone()));
    let after = previous.map_or_else(|| "-".to_owned(), |seq| seq.to_string());
    Event {
        id: Some(format!(
            "mcp-tool:{}:{}:{op}:{}:{after}",
            manifest.id, sorted.name, sorted.sha256
        )),
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
