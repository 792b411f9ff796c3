//! The policy gate as an operation: `authorize` decides one tool call, records the decision as a
//! `policy_decision` event (the arguments as content, committed by digest) and answers only after the
//! commit. A call held for a human creates an approval bound to the exact arguments; the agent asks again
//! with its `approval_id` and is allowed once, for those arguments, before the approval expires. The HTTP
//! route and the MCP gateway both call this.

mod runtime;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use warrant_api::ErrorCode;
use warrant_api::gate::{AuthorizeRequest, AuthorizeResponse};
use warrant_core::event::{Event, EventKind, check_hex_id};
use warrant_core::gate::{Decision, Gate, Outcome, Reason};
use warrant_core::identity::Principal;
use warrant_core::registry::manifest::{Kind, Manifest};
use warrant_log::Seq;
use warrant_store::{
    ApprovalError, ApprovalStatus, Backend, NewApproval, Store, StoreError, args_hash, random_id,
};

pub use self::runtime::{GateCall, GateRuntime, Naming, charge_json};
use crate::error::{Result, ServiceError};
use crate::limits::{MAX_USER_NAMED, check_id};
use crate::{blocking, identity};

/// How the gate's approvals behave.
#[derive(Debug, Clone, Copy)]
pub struct GateSettings {
    /// How long an approval asked for by the gate stays open.
    pub approval_ttl: chrono::Duration,
}

/// Check the request's shape and limits, and that `principal` may speak for its agent.
fn check(principal: &Principal, request: &AuthorizeRequest) -> Result<()> {
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
        return Err(ServiceError::invalid(
            ErrorCode::InvalidRequest,
            format!("`context.user_named` holds at most {MAX_USER_NAMED} recipients"),
        ));
    }
    for recipient in named {
        check_id("context.user_named", recipient)?;
    }
    // A token speaks only for the agents it is bound to.
    identity::act_for(principal, &request.agent)?;
    for (field, value, length) in [
        ("trace_id", &request.trace_id, 32),
        ("span_id", &request.span_id, 16),
    ] {
        check_hex_id(value, length).map_err(|message| {
            ServiceError::invalid(ErrorCode::InvalidRequest, format!("`{field}`: {message}"))
        })?;
    }
    if request.span_id.is_some() && request.trace_id.is_none() {
        return Err(ServiceError::invalid(
            ErrorCode::InvalidRequest,
            "`span_id` needs the `trace_id` it belongs to",
        ));
    }
    Ok(())
}

/// Decide one call for `principal`, as of `now`, and record the decision before answering.
pub async fn authorize(
    store: &Store,
    runtime: &GateRuntime,
    settings: GateSettings,
    principal: &Principal,
    request: &AuthorizeRequest,
    now: DateTime<Utc>,
) -> Result<AuthorizeResponse> {
    check(principal, request)?;
    let named = &request.context.user_named;
    let gate = compiled(store, runtime)?;
    let args = Value::Object(request.args.clone().unwrap_or_default());
    rebuild_state(
        store,
        runtime,
        &gate,
        &request.agent,
        request.session.as_deref(),
        now,
    )
    .await?;
    let naming = match request.session.as_deref() {
        Some(id) => runtime.naming(&request.agent, id, named),
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
        Decision::deny(
            "user_named",
            "recipients can be named only on a session's first call; these were not taken".into(),
        )
    } else {
        runtime.decide(&gate, &call, now)
    };

    let mut consume = None;
    let mut new_approval = None;
    if decision.outcome == Outcome::ApprovalRequired {
        // Only a held call needs the arguments' hash: computed here, off the common path.
        let hash = args_hash(&request.agent, &request.tool, &args);
        match &request.approval_id {
            Some(id) => {
                let approval = {
                    let (store, id) = (store.clone(), id.clone());
                    blocking(move || Ok(store.approval(&id, now)?)).await?
                };
                match approval {
                    None => decision = Decision::deny("approval", format!("no approval `{id}`")),
                    Some(approval)
                        if approval.agent != request.agent
                            || approval.tool != request.tool
                            || approval.args_hash != hash
                            || approval.session != request.session =>
                    {
                        decision = Decision::deny(
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
                        decision = Decision::deny(
                            "approval",
                            format!("approval `{id}` is {}", approval.status.as_str()),
                        )
                    }
                }
            }
            None => {
                new_approval = Some(NewApproval {
                    id: random_id("apr_")?,
                    agent: request.agent.clone(),
                    tool: request.tool.clone(),
                    session: request.session.clone(),
                    args_hash: hash,
                    reasons: reasons_json(&decision),
                    requested_at: now,
                    expires_at: now + settings.approval_ttl,
                    requested_by: principal.id.clone(),
                    requested_person: principal.person.clone(),
                });
            }
        }
    }

    let recorded = Named {
        taken: if naming == Naming::Take { named } else { &[] },
        refused: if naming == Naming::Refuse { named } else { &[] },
    };
    // An allowed call's group charge is checked again where every server's charges meet: the store's write.
    let charge = (decision.outcome == Outcome::Allow)
        .then(|| decision.charge.clone())
        .flatten();
    let event = decision_event(request, principal, &decision, args.clone(), now, &recorded);
    let seq = match store
        .record_decision(
            event,
            principal,
            new_approval.clone(),
            consume.clone(),
            charge.clone(),
        )
        .await
    {
        Ok(seq) => seq,
        Err(StoreError::Approval(ApprovalError::Raced(id))) => {
            // Someone used or expired it between our read and the write; the call does not go ahead.
            if let Some(charge) = &charge {
                runtime.refund(charge, now);
            }
            decision = Decision::deny(
                "approval",
                format!("approval `{id}` was used or expired meanwhile"),
            );
            let event = decision_event(request, principal, &decision, args.clone(), now, &recorded);
            store.record_decision(event, principal, None, None, None).await?
        }
        Err(StoreError::LimitReached(text)) => {
            // Another server spent the group's limit meanwhile: held for a person, like any call past it.
            let Some(charge) = charge else {
                return Err(StoreError::LimitReached(text).into());
            };
            runtime.refund(&charge, now);
            decision = Decision {
                outcome: Outcome::ApprovalRequired,
                reasons: vec![Reason {
                    rule: format!("group-limit:{}", charge.group),
                    text,
                }],
                charge: Some(charge),
            };
            let approval = NewApproval {
                id: random_id("apr_")?,
                agent: request.agent.clone(),
                tool: request.tool.clone(),
                session: request.session.clone(),
                args_hash: args_hash(&request.agent, &request.tool, &args),
                reasons: reasons_json(&decision),
                requested_at: now,
                expires_at: now + settings.approval_ttl,
                requested_by: principal.id.clone(),
                requested_person: principal.person.clone(),
            };
            new_approval = Some(approval.clone());
            let event = decision_event(request, principal, &decision, args.clone(), now, &recorded);
            store
                .record_decision(event, principal, Some(approval), None, None)
                .await?
        }
        Err(error) => return Err(error.into()),
    };
    let approval_id = new_approval.as_ref().map(|approval| approval.id.clone());
    if consume.is_some() && decision.outcome == Outcome::Allow {
        runtime.observe_approved(&gate, &call, decision.charge.as_ref(), now);
    }
    Ok(AuthorizeResponse {
        decision: wire_outcome(decision.outcome),
        reasons: decision
            .reasons
            .iter()
            .map(|reason| warrant_api::gate::Reason {
                rule: reason.rule.clone(),
                text: reason.text.clone(),
            })
            .collect(),
        seq,
        approval_id,
    })
}

fn wire_outcome(outcome: Outcome) -> warrant_api::gate::Decision {
    match outcome {
        Outcome::Allow => warrant_api::gate::Decision::Allow,
        Outcome::Deny => warrant_api::gate::Decision::Deny,
        Outcome::ApprovalRequired => warrant_api::gate::Decision::ApprovalRequired,
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

/// Make the gate ready before a server takes its first request: compile the gate for the current registry
/// and rebuild the group ledger from the log. Otherwise the first decisions after a start pay for both
/// while holding everyone else's (every concurrent first request read the whole ledger window at once).
pub async fn warm_up(store: &Store, runtime: &GateRuntime, now: DateTime<Utc>) -> Result<()> {
    let gate = compiled(store, runtime)?;
    rebuild_state(store, runtime, &gate, "", None, now).await
}

/// The gate for the registry as it stands, compiled once per registry version.
pub fn compiled(store: &Store, runtime: &GateRuntime) -> Result<std::sync::Arc<Gate>> {
    runtime
        .gate(store.registry())
        .map_err(|error| ServiceError::internal(&error))
}

/// After a restart, rebuild the ledger before the first decision and each session before its first decision.
async fn rebuild_state(
    store: &Store,
    runtime: &GateRuntime,
    gate: &Gate,
    agent: &str,
    session: Option<&str>,
    now: DateTime<Utc>,
) -> Result<()> {
    if !runtime.ledger_loaded() {
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
        let reader = store.clone();
        let decisions = blocking(move || Ok(reader.events_of_kind_since("policy_decision", &since)?)).await?;
        let bodies: Vec<Value> = decisions.into_iter().map(|event| event.body).collect();
        runtime.load_ledger(&bodies);
    }
    if let Some(id) = session.filter(|id| runtime.needs_session(agent, id)) {
        runtime.begin_load(agent, id);
        let reader = store.clone();
        let (owned_agent, owned_id) = (agent.to_owned(), id.to_owned());
        let history = blocking(move || Ok(reader.session_events(&owned_agent, &owned_id)?)).await?;
        runtime.load_session(gate.registry(), agent, id, &history);
    } else if let Some(id) = session
        && store.backend() == Backend::Postgres
        && let Some(from) = runtime.session_synced(agent, id)
    {
        // Other servers on the same log may have decided or ingested for this session since: one indexed
        // read per decision keeps its taint whole wherever the session's requests land.
        let reader = store.clone();
        let (owned_agent, owned_id) = (agent.to_owned(), id.to_owned());
        let since =
            blocking(move || Ok(reader.session_events_since(&owned_agent, &owned_id, Seq(from))?)).await?;
        runtime.catch_up_session(gate.registry(), agent, id, &since);
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
    principal: &Principal,
    decision: &Decision,
    args: Value,
    now: DateTime<Utc>,
    named: &Named<'_>,
) -> Event {
    let mut attrs = Map::new();
    attrs.insert("tool".into(), json!(request.tool));
    attrs.insert("decision".into(), json!(decision.outcome.as_str()));
    attrs.insert("reasons".into(), reasons_json(decision));
    attrs.insert("asked_by".into(), json!(principal.name));
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
