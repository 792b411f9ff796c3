//! `GET /v1/trails/{id}`: the decision path named by a trace id, a session id or an event seq, as a tree
//! (`warrant_core::trail`), with a link to each step's inclusion proof in the latest checkpoint.

use axum::extract::{Path, State};
use serde_json::{Value, json};
use warrant_core::trail::{self, Node};
use warrant_store::TrailRoot;

use crate::AppState;
use crate::error::ApiError;
use crate::routes::blocking;

pub async fn get_one(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<axum::Json<Value>, ApiError> {
    let store = state.store.clone();
    blocking(move || {
        let gathered = store
            .trail_events(&id)?
            .ok_or_else(|| ApiError::not_found(format!("no trace, session or event `{id}` in the log")))?;
        let checkpoint = store.latest_checkpoint()?;
        let roots = trail::build(gathered.events);
        let summary = trail::summarize(&roots);
        let size = checkpoint.as_ref().map_or(0, |checkpoint| checkpoint.size);
        let nodes: Vec<Value> = roots.iter().map(|node| node_json(node, size)).collect();
        let (root_kind, root_value) = match &gathered.root {
            TrailRoot::Trace(trace) => ("trace", json!(trace)),
            TrailRoot::Session(session) => ("session", json!(session)),
            TrailRoot::Event(seq) => ("event", json!(seq)),
        };
        Ok(axum::Json(json!({
            "id": id,
            "resolved": {"kind": root_kind, "value": root_value},
            "traces": gathered.traces,
            "truncated": gathered.truncated,
            "summary": summary,
            "checkpoint": checkpoint.map(|checkpoint| json!({
                "size": checkpoint.size,
                "root": hex::encode(checkpoint.root),
                "note": checkpoint.note,
            })),
            "nodes": nodes,
        })))
    })
    .await
}

/// A node with its proof link: the inclusion proof of its seq in the latest checkpoint, or `null` while the
/// event is newer than every checkpoint.
fn node_json(node: &Node, checkpoint_size: u64) -> Value {
    let mut value = serde_json::to_value(node).unwrap_or(Value::Null);
    if let Some(object) = value.as_object_mut() {
        let proof = (node.seq < checkpoint_size)
            .then(|| format!("/v1/log/proof/inclusion?seq={}&size={checkpoint_size}", node.seq));
        object.insert("proof".into(), json!(proof));
        object.insert(
            "children".into(),
            Value::Array(
                node.children
                    .iter()
                    .map(|child| node_json(child, checkpoint_size))
                    .collect(),
            ),
        );
    }
    value
}
