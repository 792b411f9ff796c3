//! `GET /v1/risk` (findings over the tool-access graph and what the log shows, and the risk class computed
//! per agent) and `GET /v1/risk/graph` (the graph as JSON, or Graphviz DOT with `?format=dot`).

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};
use warrant_core::monitor::facts::hour_of;
use warrant_core::risk::{AccessGraph, Observed, analyze, classify};

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::Query;
use crate::routes::blocking;

/// A grant unused this many days is a least-privilege finding.
const UNUSED_DAYS: i64 = 30;

pub async fn findings(State(state): State<AppState>, caller: Caller) -> Result<axum::Json<Value>, ApiError> {
    caller.require_read()?;
    state.store.flush_rollups().await?;
    let store = state.store.clone();
    let registry = state.store.registry();
    blocking(move || {
        let observed = Observed {
            calls: store
                .tool_spans()?
                .into_iter()
                .map(|span| (span.agent, span.tool, span.last_hour))
                .collect(),
            agents: store.observed_agents()?.into_iter().collect(),
            unused_since_hour: Some(hour_of(&Utc::now()) - UNUSED_DAYS * 24),
        };
        let findings = analyze(&registry, Some(&observed));
        let classification = classify(&registry, &findings);
        let open = findings.iter().filter(|finding| finding.status == "open").count();
        Ok(axum::Json(json!({
            "summary": {"findings": findings.len(), "open": open, "mitigated": findings.len() - open},
            "classification": classification,
            "findings": findings,
        })))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GraphQuery {
    format: Option<String>,
}

pub async fn graph(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<GraphQuery>,
) -> Result<Response, ApiError> {
    caller.require_read()?;
    let graph = AccessGraph::build(&state.store.registry());
    match query.format.as_deref() {
        None | Some("json") => Ok(axum::Json(graph.to_json()).into_response()),
        Some("dot") => Ok(([(header::CONTENT_TYPE, "text/vnd.graphviz")], graph.to_dot()).into_response()),
        Some(other) => Err(ApiError::bad_request(
            "invalid_query",
            format!("`format` is json or dot, not `{other}`"),
        )),
    }
}
