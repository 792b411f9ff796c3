//! `POST /v1/authorize`: the policy gate over HTTP. Every decision, whatever it is, becomes a
//! `policy_decision` event in the evidence log (the arguments as content, committed by digest) before the
//! answer goes out. A call held for a human creates an approval bound to the exact arguments; the agent asks
//! again with its `approval_id` and is allowed once, for those arguments, before the approval expires.

use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use warrant_core::event::{Event, EventKind, check_hex_id};
use warrant_core::gate::{Decision, Gate, Outcome, Reason};
use warrant_core::registry::manifest::{Kind, Manifest};
use warrant_store::{ApprovalError, ApprovalStatus, NewApproval, StoreError, args_hash, random_id};

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::Json;
use crate::gate::{GateCall, Naming, charge_json};
use crate::limits::{MAX_USER_NAMED, check_id};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorizeRequest {
    agent: String,
    tool: String,
    #[serde(default)]
    args: Option<Map<String, Value>>,
    session: Option<String>,
    /// The trace and span of the tool call being asked about (W3C ids), so the decision joins its trail.
    trace_id: Option<String>,
    span_id: Option<String>,
    /// The approval a human granted for this exact call, when re-asking after `approval_required`.
    approval_id: Option<String>,
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
    check_id("agent", &request.agent)?;
    check_id("tool", &request.tool)?;
    for (field, value) in [
        ("session", &request.session),
        ("approval_id", &request.approval_id),
    ] {
        if let Some(value) = value {
            check_id(field, value)?;
        }
    }
    let named = &request.context.user_named;
    if named.len() > MAX_USER_NAMED {
        return Err(ApiError::bad_request(
            "invalid_request",
            format!("`context.user_named` holds at most {MAX_USER_NAMED} recipients"),
        ));
    }
    for recipient in named {
        check_id("context.user_named", recipient)?;
    }
    // A token speaks only for the agents it is bound to.
    caller.act_for(&request.agent)?;
    for (field, value, length) in [
        ("trace_id", &request.trace_id, 32),
        ("span_id", &request.span_id, 16),
    ] {
        check_hex_id(value, length)
            .map_err(|message| ApiError::bad_request("invalid_request", format!("`{field}`: {message}")))?;
    }
    if request.span_id.is_some() && request.trace_id.is_none() {
        return Err(ApiError::bad_request(
            "invalid_request",
            "`span_id` needs the `trace_id` it belongs to",
        ));
    }
    let gate = state
        .gate
        .gate(state.store.registry())
        .map_err(|error| ApiError::internal(&error))?;
    let args = Value::Object(request.args.clone().unwrap_or_default());
    let now = Utc::now();
    rebuild_state(&state, &gate, &request.agent, request.session.as_deref(), now).await?;
    let naming = match request.session.as_deref() {
        Some(id) => state.gate.naming(&request.agent, id, named),
        // Without a session there is nothing to remember the names for: they count for this call only.
        None => Naming::Nothing,
    };
    let call = GateCall {
        agent: &request.agent,
        tool: &request.tool,
        args: &args,
        session: request.session.as_deref(),
        user_named: if naming == Naming::Take || request.session.is_none() {
            named
        } else {
            &[]
        },
    };
    let mut decision = if naming == Naming::Refuse {
        deny(
            "user_named",
            "recipients can be named only on a session's first call; these were not taken".into(),
        )
    } else {
        state.gate.decide(&gate, &call, now)
    };

    let mut consume = None;
    let mut new_approval = None;
    if decision.outcome == Outcome::ApprovalRequired {
        // Only a held call needs the arguments' hash: computed here, off the common path.
        let hash = args_hash(&request.agent, &request.tool, &args);
        match &request.approval_id {
            Some(id) => {
                let approval = blocking_approval(&state, id, now).await?;
                match approval {
                    None => decision = deny("approval", format!("no approval `{id}`")),
                    Some(approval)
                        if approval.agent != request.agent
                            || approval.tool != request.tool
                            || approval.args_hash != hash
                            || approval.session != request.session =>
                    {
                        decision = deny(
                            "approval",
                            format!(
                                "approval `{id}` was granted for a different call; these arguments need their own approval"
                            ),
                        );
                    }
                    Some(approval) if approval.status == ApprovalStatus::Approved => {
                        let by = approval.decided_by.unwrap_or_default();
                        decision.outcome = Outcome::Allow;
                        decision.reasons.push(Reason {
                            rule: format!("approval:{id}"),
                            text: format!("approved by `{by}` for exactly this call"),
                        });
                        consume = Some(id.clone());
                    }
                    Some(approval) => {
                        decision = deny(
                            "approval",
                            format!("approval `{id}` is {}", approval.status.as_str()),
                        )
                    }
                }
            }
            None => {
                let id = random_id("apr_")?;
                let ttl = chrono::Duration::from_std(state.config.approval_ttl)
                    .unwrap_or(chrono::Duration::hours(1));
                new_approval = Some(NewApproval {
                    id,
                    agent: request.agent.clone(),
                    tool: request.tool.clone(),
                    session: request.session.clone(),
                    args_hash: hash,
                    reasons: reasons_json(&decision),
                    requested_at: now,
                    expires_at: now + ttl,
                    requested_by: caller.principal().id.clone(),
                    requested_person: caller.principal().person.clone(),
                });
            }
        }
    }

    let approval_id = new_approval.as_ref().map(|approval| approval.id.clone());
    let recorded = Named {
        taken: if naming == Naming::Take { named } else { &[] },
        refused: if naming == Naming::Refuse { named } else { &[] },
    };
    let event = decision_event(&request, &caller, &decision, args.clone(), now, &recorded);
    let seq = match state
        .store
        .record_decision(event, caller.principal(), new_approval, consume.clone())
        .await
    {
        Ok(seq) => seq,
        Err(StoreError::Approval(ApprovalError::Raced(id))) => {
            // Someone used or expired it between our read and the write; the call does not go ahead.
            decision = deny(
                "approval",
                format!("approval `{id}` was used or expired meanwhile"),
            );
            let event = decision_event(&request, &caller, &decision, args.clone(), now, &recorded);
            state
                .store
                .record_decision(event, caller.principal(), None, None)
                .await?
        }
        Err(error) => return Err(error.into()),
    };
    if consume.is_some() && decision.outcome == Outcome::Allow {
        state
            .gate
            .observe_approved(&gate, &call, decision.charge.as_ref(), now);
    }
    let mut answer =
        json!({"decision": decision.outcome.as_str(), "reasons": reasons_json(&decision), "seq": seq});
    if let (Some(id), Some(object)) = (approval_id, answer.as_object_mut()) {
        object.insert("approval_id".into(), Value::String(id));
    }
    Ok(axum::Json(answer))
}

async fn blocking_approval(
    state: &AppState,
    id: &str,
    now: DateTime<Utc>,
) -> Result<Option<warrant_store::Approval>, ApiError> {
    let store = state.store.clone();
    let id = id.to_owned();
    crate::routes::blocking(move || Ok(store.approval(&id, now)?)).await
}

fn deny(rule: &str, text: String) -> Decision {
    Decision {
        outcome: Outcome::Deny,
        reasons: vec![Reason {
            rule: rule.to_owned(),
            text,
        }],
        charge: None,
    }
}

fn reasons_json(decision: &Decision) -> Value {
    Value::Array(
        decision
            .reasons
            .iter()
            .map(|reason| json!({"rule": reason.rule, "text": reason.text}))
            .collect(),
    )
}

/// After a restart, rebuild the ledger before the first decision and each session before its first decision.
async fn rebuild_state(
    state: &AppState,
    gate: &Gate,
    agent: &str,
    session: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    if !state.gate.ledger_loaded() {
        let longest = gate
            .registry()
            .list(Kind::Group)
            .filter_map(|manifest| match manifest {
                Manifest::Group(group) => group.limits.iter().map(|limit| limit.window_hours).max(),
                _ => None,
            })
            .max()
            .unwrap_or(0);
        let since = warrant_core::event::format_time(&(now - chrono::Duration::hours(i64::from(longest))));
        let store = state.store.clone();
        let decisions =
            crate::routes::blocking(move || Ok(store.events_of_kind_since("policy_decision", &since)?))
                .await?;
        let bodies: Vec<Value> = decisions.into_iter().map(|event| event.body).collect();
        state.gate.load_ledger(&bodies);
    }
    if let Some(id) = session.filter(|id| state.gate.needs_session(agent, id)) {
        state.gate.begin_load(agent, id);
        let store = state.store.clone();
        let (owned_agent, owned_id) = (agent.to_owned(), id.to_owned());
        let history =
            crate::routes::blocking(move || Ok(store.session_events(&owned_agent, &owned_id)?)).await?;
        let bodies: Vec<Value> = history.into_iter().map(|event| event.body).collect();
        state.gate.load_session(gate.registry(), agent, id, &bodies);
    }
    Ok(())
}

/// The recipients a decision took for its session, or refused to take.
struct Named<'a> {
    taken: &'a [String],
    refused: &'a [String],
}

fn decision_event(
    request: &AuthorizeRequest,
    caller: &Caller,
    decision: &Decision,
    args: Value,
    now: DateTime<Utc>,
    named: &Named<'_>,
) -> Event {
    let mut attrs = Map::new();
    attrs.insert("tool".into(), json!(request.tool));
    attrs.insert("decision".into(), json!(decision.outcome.as_str()));
    attrs.insert("reasons".into(), reasons_json(decision));
    attrs.insert("asked_by".into(), json!(caller.name()));
    if let Some(id) = &request.approval_id {
        attrs.insert("approval_id".into(), json!(id));
    }
    if !named.taken.is_empty() {
        attrs.insert("user_named".into(), json!(named.taken));
    }
    if !named.refused.is_empty() {
        attrs.insert("user_named_refused".into(), json!(named.refused));
    }
    if let (Outcome::Allow, Some(charge)) = (decision.outcome, &decision.charge) {
        attrs.insert("charge".into(), charge_json(charge));
    }
    let mut content = Map::new();
    content.insert("args".into(), args);
    Event {
        id: None,
        time: now,
        agent: Some(request.agent.clone()),
        kind: EventKind::PolicyDecision,
        trace_id: request.trace_id.clone(),
        span_id: None,
        parent_span_id: request.span_id.clone(),
        session: request.session.clone(),
        attrs,
        content,
    }
}
