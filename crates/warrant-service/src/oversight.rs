//! Human oversight records: escalations (an agent hands a case to a human; its principal must be bound to the
//! agent) and overrides (a human reverses an agent's decision or output). Both are events in the evidence log;
//! an override names the event it overrides, which must exist.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use warrant_api::ErrorCode;
use warrant_api::oversight::{Escalation, Override, Recorded};
use warrant_core::event::Event;
use warrant_core::identity::Principal;
use warrant_store::Store;

use crate::error::{Result, ServiceError};
use crate::limits::check_id;
use crate::{blocking, identity};

/// Record an escalation: agents escalate their own cases; admins may record one for them.
pub async fn escalate(
    store: &Store,
    principal: &Principal,
    request: Escalation,
    now: DateTime<Utc>,
) -> Result<Recorded> {
    check_id("agent", &request.agent)?;
    identity::act_for(principal, &request.agent)?;
    let mut attrs = Map::new();
    attrs.insert("reason".into(), json!(request.reason));
    attrs.insert("by".into(), json!(principal.name));
    if let Some(to) = &request.to {
        attrs.insert("to".into(), json!(to));
    }
    let value = json!({"time": warrant_core::event::format_time(&now), "kind": "escalation", "agent": request.agent,
                       "session": request.session, "trace_id": request.trace_id, "attrs": attrs});
    append(store, principal, value, now).await
}

/// Record an override; only people with authority over agents' outcomes (approvers, admins) reach this.
pub async fn override_outcome(
    store: &Store,
    principal: &Principal,
    request: Override,
    now: DateTime<Utc>,
) -> Result<Recorded> {
    let reader = store.clone();
    let seq = request.seq;
    let original = blocking(move || Ok(reader.event(seq)?))
        .await?
        .ok_or_else(|| ServiceError::not_found(format!("no event {seq}")))?;
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
    attrs.insert("by".into(), json!(principal.name));
    let value = json!({"time": warrant_core::event::format_time(&now), "kind": "override", "agent": body.get("agent"),
                       "session": body.get("session"), "trace_id": body.get("trace_id"), "attrs": attrs});
    append(store, principal, value, now).await
}

async fn append(store: &Store, principal: &Principal, value: Value, now: DateTime<Utc>) -> Result<Recorded> {
    let event = Event::from_json(0, strip_nulls(value))
        .map_err(|error| ServiceError::invalid(ErrorCode::InvalidRequest, error.to_string()))?;
    let appended = store.append(vec![event], principal, now).await?;
    Ok(Recorded {
        seq: appended.first().map(|appended| appended.seq),
    })
}

/// Optional envelope fields arrive as nulls; the event format wants them absent.
fn strip_nulls(mut value: Value) -> Value {
    if let Some(object) = value.as_object_mut() {
        object.retain(|_, field| !field.is_null());
    }
    value
}
