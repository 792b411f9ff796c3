//! Events as operations: checking a batch (each event's size and shape, reserved ids, governance kinds only
//! warrant writes, and the agent binding of the principal that sends it), storing it so it counts toward its
//! sessions' taint, and reading one back with its proof.

use serde_json::{Value, json};
use warrant_api::ErrorCode;
use warrant_api::events::{Accepted, CheckpointRef, StoredEvent};
use warrant_core::enrich::enrich;
use warrant_core::event::{Event, EventError, EventKind, check_size};
use warrant_core::identity::Principal;
use warrant_core::role::Role;
use warrant_log::Seq;
use warrant_store::{Appended, Store, StoreError};

use crate::error::{Failure, Result, ServiceError};
use crate::gate::GateRuntime;

/// Kinds only warrant (or an admin importing history) writes.
const GOVERNANCE_KINDS: [EventKind; 15] = [
    EventKind::Change,
    EventKind::Document,
    EventKind::Audit,
    EventKind::Risk,
    EventKind::ImpactAssessment,
    EventKind::Alert,
    EventKind::Incident,
    EventKind::Erasure,
    EventKind::Approval,
    EventKind::PolicyDecision,
    EventKind::Review,
    EventKind::Override,
    EventKind::Escalation,
    EventKind::Token,
    EventKind::Notification,
];

/// At most this many problems are listed when a batch is refused.
const MAX_REPORTED_ERRORS: usize = 20;

/// The event at `seq` (as the caller wrote it: a decimal seq), its content, leaf hash, and its inclusion proof
/// to the latest checkpoint that covers it (a brand-new event has none yet).
pub fn get(store: &Store, seq: &str) -> Result<StoredEvent> {
    let seq: Seq = seq
        .parse()
        .map_err(|_| ServiceError::invalid(ErrorCode::InvalidSeq, format!("`{seq}` is not a seq")))?;
    if !seq.within(store.size()) {
        return Err(ServiceError::not_found(format!(
            "no event {seq}: the log holds {} event(s)",
            store.size()
        )));
    }
    let event = store
        .event(seq)?
        .ok_or_else(|| ServiceError::not_found(format!("no event {seq}")))?;
    let covering = store
        .latest_checkpoint()?
        .filter(|checkpoint| seq.within(checkpoint.size));
    let (checkpoint, inclusion_proof) = match covering {
        Some(checkpoint) => {
            let proof = store
                .inclusion_proof(seq, checkpoint.size)
                .map_err(crate::log::proof_error)?;
            (
                Some(CheckpointRef {
                    size: checkpoint.size,
                    root: hex::encode(checkpoint.root),
                    note: checkpoint.note,
                }),
                Some(proof.iter().map(hex::encode).collect()),
            )
        }
        None => (None, None),
    };
    Ok(StoredEvent {
        seq,
        event: event.body,
        content: event.content,
        leaf_hash: hex::encode(event.leaf),
        checkpoint,
        inclusion_proof,
    })
}

/// Check a batch of event texts (as they arrived, so each size is checked before parsing) for `principal`:
/// all of them pass, or the error lists what failed (by index) and nothing is stored.
pub fn check_batch(principal: &Principal, raw_events: &[&str]) -> Result<Vec<Event>> {
    let mut events = Vec::with_capacity(raw_events.len());
    let mut errors = Vec::new();
    for (index, raw) in raw_events.iter().enumerate() {
        let parsed = check_size(index, raw.len()).and_then(|()| {
            let value = serde_json::from_str(raw).map_err(|error| EventError {
                index,
                field: None,
                message: format!("not JSON: {error}"),
            })?;
            Event::from_json(index, value)
        });
        // `otlp:` keys belong to the OTLP receiver: claiming one here could suppress a span's evidence.
        let parsed = parsed.and_then(|event| match &event.id {
            Some(id) if id.starts_with("otlp:") => Err(EventError {
                index,
                field: Some("id".into()),
                message: "ids starting with `otlp:` are reserved for spans received over OTLP".into(),
            }),
            _ => Ok(event),
        });
        // Governance records are warrant's to write (through their own endpoints); an agent forging a `change`
        // or an `incident` would put false evidence in the log. An admin may import them.
        let parsed = parsed.and_then(|event| {
            if principal.role != Role::Admin && GOVERNANCE_KINDS.contains(&event.kind) {
                return Err(EventError {
                    index,
                    field: Some("kind".into()),
                    message: format!(
                        "`{}` events are written by warrant itself (or imported by an admin)",
                        event.kind.as_str()
                    ),
                });
            }
            Ok(event)
        });
        match parsed {
            Ok(event) => events.push(event),
            Err(error) => errors.push(error),
        }
    }
    // Every event speaks for an agent the caller is bound to; one naming none is the caller's sole agent's.
    let mismatched: Vec<Value> = events
        .iter_mut()
        .enumerate()
        .filter_map(|(index, event)| {
            bind_agent(principal, event)
                .err()
                .map(|message| json!({"index": index, "field": "agent", "message": message}))
        })
        .collect();
    if errors.is_empty() && !mismatched.is_empty() {
        let count = mismatched.len();
        let mut error = agent_mismatch_error(&mismatched);
        error.message = format!("nothing was stored: {} ({count} event(s))", error.message);
        return Err(error.with_details(Value::Array(
            mismatched.into_iter().take(MAX_REPORTED_ERRORS).collect(),
        )));
    }
    if let Some(first) = errors.first() {
        let details: Vec<Value> = errors
            .iter()
            .take(MAX_REPORTED_ERRORS)
            .map(|error| json!({"index": error.index, "field": error.field, "message": error.message}))
            .collect();
        let message = if errors.len() == 1 {
            format!("nothing was stored: {first}")
        } else {
            format!("nothing was stored: {first} (and {} more)", errors.len() - 1)
        };
        return Err(
            ServiceError::invalid(ErrorCode::InvalidEvent, message).with_details(Value::Array(details))
        );
    }
    Ok(events)
}

/// Check, enrich (cost from the Model price, data sensitivity) and store a batch for `principal`.
pub async fn append(
    store: &Store,
    runtime: &GateRuntime,
    principal: &Principal,
    raw_events: &[&str],
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Accepted> {
    let mut events = check_batch(principal, raw_events)?;
    let registry = store.registry();
    for event in &mut events {
        enrich(event, &registry);
    }
    let appended = store_events(store, runtime, events, principal, now).await?;
    Ok(accepted(&appended))
}

/// What a stored batch answers.
pub fn accepted(appended: &[Appended]) -> Accepted {
    let duplicates = appended.iter().filter(|appended| appended.duplicate).count();
    Accepted {
        accepted: appended.len() - duplicates,
        duplicates,
        seqs: appended.iter().map(|appended| appended.seq).collect(),
    }
}

/// Append validated events (from the JSON API, OTLP or the MCP gateway), written by `principal`; only once
/// stored do they count toward their sessions' taint.
pub async fn store_events(
    store: &Store,
    runtime: &GateRuntime,
    events: Vec<Event>,
    principal: &Principal,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<Appended>, StoreError> {
    let session_events: Vec<(usize, Event)> = events
        .iter()
        .enumerate()
        .filter(|(_, event)| event.session.is_some())
        .map(|(index, event)| (index, event.clone()))
        .collect();
    let appended = store.append(events, principal, now).await?;
    // With its seq, so a value a tool returned is traced to the result that showed it.
    let observed: Vec<(Event, Option<u64>)> = session_events
        .into_iter()
        .map(|(index, event)| (event, appended.get(index).map(|appended| appended.seq.get())))
        .collect();
    runtime.observe_events(&store.registry(), &observed);
    Ok(appended)
}

/// Bind an event to the caller: an agent principal may speak only for its own agents, and an event that names
/// no agent is its sole agent's. (A token for several agents leaves such an event unattributed: it speaks for
/// no agent, and the record still names the token that sent it.) Admins may write for any agent, or none.
pub fn bind_agent(principal: &Principal, event: &mut Event) -> Result<(), String> {
    if principal.role != Role::Agent {
        return Ok(());
    }
    match &event.agent {
        Some(agent) if principal.may_act_for(agent) => Ok(()),
        Some(agent) => Err(format!("`{}` may not act for `{agent}`", principal.name)),
        None => {
            event.agent = principal.sole_agent().map(str::to_owned);
            Ok(())
        }
    }
}

/// 403 `agent_mismatch` for a batch, saying what the first offending event got wrong.
fn agent_mismatch_error(details: &[Value]) -> ServiceError {
    let first = details
        .first()
        .and_then(|detail| detail.get("message"))
        .and_then(Value::as_str)
        .unwrap_or("an event names an agent this token may not act for");
    ServiceError::new(Failure::Forbidden, ErrorCode::AgentMismatch, first)
}

/// Erase the personal content of events, by data subject or by seq. The events, their digests and every
/// proof stay; the text and salt go, and an `erasure` event records the act.
pub async fn erase(
    store: &Store,
    request: warrant_api::events::EraseRequest,
    context: warrant_core::change::ChangeContext,
) -> Result<warrant_api::events::Erased> {
    let target = match (request.subject, request.seqs) {
        (Some(subject), None) if !subject.trim().is_empty() => warrant_store::ErasureTarget::Subject(subject),
        (None, Some(seqs)) if !seqs.is_empty() => {
            let size = store.size();
            if let Some(seq) = seqs.iter().find(|seq| !seq.within(size)) {
                return Err(ServiceError::invalid(
                    ErrorCode::OutOfRange,
                    format!("no event {seq}; the log has {size}"),
                ));
            }
            warrant_store::ErasureTarget::Seqs(seqs)
        }
        _ => {
            return Err(ServiceError::invalid(
                ErrorCode::InvalidErasure,
                "give either a non-empty `subject` or `seqs`",
            ));
        }
    };
    let erased = store.erase(target, context).await?;
    Ok(warrant_api::events::Erased {
        events: erased.events,
        fields: erased.fields,
        seq: erased.seq,
    })
}
