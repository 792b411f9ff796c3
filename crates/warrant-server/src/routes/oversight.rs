//! Human oversight records: escalations (an agent hands a case to a human; its token must be bound to it) and overrides
//! (a human reverses an agent's decision or output). Both are events in the evidence log; an override names
//! the event it overrides, which must exist.

use axum::extract::State;
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use warrant_api::ErrorCode;
use warrant_core::event::Event;

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::Json;
use crate::routes::blocking;
use warrant_service::limits::check_id;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Escalation {
    agent: String,
    reason: String,
    /// Who or which queue the case goes to.
    to: Option<String>,
    session: Option<String>,
    trace_id: Option<String>,
}

/// Agents escalate their own cases; admins may record one for them.
pub async fn escalate(
    State(state): State<AppState>,
    caller: Caller,
    Json(request): Json<Escalation>,
) -> Result<axum::Json<Value>, ApiError> {
    check_id("agent", &request.agent)?;
    caller.act_for(&request.agent)?;
    let mut attrs = Map::new();
    attrs.insert("reason".into(), json!(request.reason));
    attrs.insert("by".into(), json!(caller.name()));
    if let Some(to) = &request.to {
        attrs.insert("to".into(), json!(to));
    }
    let value = json!({"time": warrant_core::event::format_time(&Utc::now()), "kind": "escalation", "agent": request.agent,
                       "session": request.session, "trace_id": request.trace_id, "attrs": attrs});
    append(&state, &caller, value).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Override {
    /// The seq of the decision, outcome or output being overridden.
    seq: u64,
    reason: String,
    /// What the human decided instead (any JSON).
    replacement: Option<Value>,
}

/// Only people with authority over agents' outcomes override them: approvers and admins, never an agent.
pub async fn override_outcome(
    State(state): State<AppState>,
    caller: Caller,
    Json(request): Json<Override>,
) -> Result<axum::Json<Value>, ApiError> {
    let store = state.store.clone();
    let seq = request.seq;
    let original = blocking(move || Ok(store.event(seq)?))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no event {seq}")))?;
    let body = &original.body;
    let mut attrs = Map::new();
    attrs.insert("overrides_seq".into(), json!(seq));
    attrs.insert(
        "original_kind".into(),
        body.get("kind").cloned().unwrap_or(Value::Null),
    );
    if let Some(outcome) = body
        .pointer("/attrs/outcome")
        .or_else(|| body.pointer("/attrs/decision"))
    {
        attrs.insert("original".into(), outcome.clone());
    }
    if let Some(replacement) = request.replacement {
        attrs.insert("replacement".into(), replacement);
    }
    attrs.insert("reason".into(), json!(request.reason));
    attrs.insert("by".into(), json!(caller.name()));
    let value = json!({"time": warrant_core::event::format_time(&Utc::now()), "kind": "override", "agent": body.get("agent"),
                       "session": body.get("session"), "trace_id": body.get("trace_id"), "attrs": attrs});
    append(&state, &caller, value).await
}

async fn append(state: &AppState, caller: &Caller, value: Value) -> Result<axum::Json<Value>, ApiError> {
    let event = Event::from_json(0, strip_nulls(value))
        .map_err(|error| ApiError::bad_request(ErrorCode::InvalidRequest, error.to_string()))?;
    let appended = state
        .store
        .append(vec![event], caller.principal(), Utc::now())
        .await?;
    Ok(axum::Json(
        json!({"seq": appended.first().map(|appended| appended.seq)}),
    ))
}

/// Optional envelope fields arrive as nulls; the event format wants them absent.
fn strip_nulls(mut value: Value) -> Value {
    if let Some(object) = value.as_object_mut() {
        object.retain(|_, field| !field.is_null());
    }
    value
}
