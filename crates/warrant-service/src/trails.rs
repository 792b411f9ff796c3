//! A trail: the decision path named by a trace id, a session id or an event seq, as a tree
//! (`warrant_core::trail`), with a link to each step's inclusion proof in the latest checkpoint.

use serde_json::json;
use warrant_api::events::CheckpointRef;
use warrant_api::trails as wire;
use warrant_core::trail::{self, Node, Summary};
use warrant_store::{Store, TrailRoot};

use crate::error::{Result, ServiceError};

pub fn get(store: &Store, id: &str) -> Result<wire::Trail> {
    let gathered = store
        .trail_events(id)?
        .ok_or_else(|| ServiceError::not_found(format!("no trace, session or event `{id}` in the log")))?;
    let checkpoint = store.latest_checkpoint()?;
    let roots = trail::build(gathered.events);
    let summary = trail::summarize(&roots);
    let size = checkpoint.as_ref().map_or(0, |checkpoint| checkpoint.size);
    let (kind, value) = match &gathered.root {
        TrailRoot::Trace(trace) => ("trace", json!(trace)),
        TrailRoot::Session(session) => ("session", json!(session)),
        TrailRoot::Event(seq) => ("event", json!(seq)),
    };
    Ok(wire::Trail {
        id: id.to_owned(),
        resolved: wire::Resolved {
            kind: kind.to_owned(),
            value,
        },
        traces: gathered.traces,
        truncated: gathered.truncated,
        summary: summary_to_wire(summary),
        checkpoint: checkpoint.map(|checkpoint| CheckpointRef {
            size: checkpoint.size,
            root: hex::encode(checkpoint.root),
            note: checkpoint.note,
        }),
        nodes: roots.into_iter().map(|node| node_to_wire(node, size)).collect(),
    })
}

fn summary_to_wire(summary: Summary) -> wire::TrailSummary {
    wire::TrailSummary {
        events: summary.events,
        agents: summary.agents,
        traces: summary.traces,
        cost_usd: summary.cost_usd,
        input_tokens: summary.input_tokens,
        output_tokens: summary.output_tokens,
        decisions: summary.decisions,
        outcomes: summary.outcomes,
        policy_decisions: summary.policy_decisions,
    }
}

/// A node with its proof link: the inclusion proof of its seq in the latest checkpoint, or none while the
/// event is newer than every checkpoint.
fn node_to_wire(node: Node, checkpoint_size: u64) -> wire::TrailNode {
    wire::TrailNode {
        proof: node
            .seq
            .within(checkpoint_size)
            .then(|| format!("/v1/log/proof/inclusion?seq={}&size={checkpoint_size}", node.seq)),
        seq: node.seq,
        kind: node.kind,
        time: node.time,
        agent: node.agent,
        by: node.by,
        summary: node.summary,
        latency_ms: node.latency_ms,
        cost_usd: node.cost_usd,
        trace_id: node.trace_id,
        span_id: node.span_id,
        attrs: node.attrs,
        content: node.content,
        children: node
            .children
            .into_iter()
            .map(|child| node_to_wire(child, checkpoint_size))
            .collect(),
    }
}
