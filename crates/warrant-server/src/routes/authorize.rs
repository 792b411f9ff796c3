//! `POST /v1/authorize`: the policy gate over HTTP. Every decision, whatever it is, becomes a
//! `policy_decision` event in the evidence log (the arguments as content, committed by digest) before the
//! answer goes out.

use axum::extract::State;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use warrant_core::event::{Event, EventKind};

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::Json;
use crate::gate::GateCall;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorizeRequest {
    agent: String,
    tool: String,
    #[serde(default)]
    args: Option<Map<String, Value>>,
    session: Option<String>,
    #[serde(default)]
    context: AuthorizeContext,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct AuthorizeContext {
    /// Recipients the user named at the start of the session; taken on a session's first call only.
    #[serde(default)]
    user_named: Vec<String>,
}

pub async fn authorize(
    State(state): State<AppState>,
    caller: Caller,
    Json(request): Json<AuthorizeRequest>,
) -> Result<axum::Json<Value>, ApiError> {
    caller.require_event_writer()?;
    if request.agent.is_empty() || request.tool.is_empty() {
        return Err(ApiError::bad_request(
            "invalid_request",
            "`agent` and `tool` must not be empty",
        ));
    }
    let gate = state
        .gate
        .gate(state.store.registry())
        .map_err(|error| ApiError::internal(&error))?;
    let args = Value::Object(request.args.unwrap_or_default());
    let now = chrono::Utc::now();
    let call = GateCall {
        agent: &request.agent,
        tool: &request.tool,
        args: &args,
        session: request.session.as_deref(),
        user_named: &request.context.user_named,
    };
    let decision = state.gate.decide(&gate, &call, now);
    let reasons: Vec<Value> = decision
        .reasons
        .iter()
        .map(|reason| json!({"rule": reason.rule, "text": reason.text}))
        .collect();
    let mut attrs = Map::new();
    attrs.insert("tool".into(), json!(request.tool));
    attrs.insert("decision".into(), json!(decision.outcome.as_str()));
    attrs.insert("reasons".into(), Value::Array(reasons.clone()));
    attrs.insert("asked_by".into(), json!(caller.name()));
    let mut content = Map::new();
    content.insert("args".into(), args);
    let event = Event {
        id: None,
        time: now,
        agent: Some(request.agent.clone()),
        kind: EventKind::PolicyDecision,
        trace_id: None,
        span_id: None,
        parent_span_id: None,
        session: request.session.clone(),
        attrs,
        content,
    };
    let appended = state.store.append(vec![event], now).await?;
    let seq = appended.first().map(|appended| appended.seq);
    Ok(axum::Json(
        json!({"decision": decision.outcome.as_str(), "reasons": reasons, "seq": seq}),
    ))
}
