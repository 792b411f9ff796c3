//! `POST /v1/events` (one event, a JSON array or NDJSON; a batch is all or nothing) and `GET /v1/events/{seq}`
//! (the event, its leaf hash and its inclusion proof to the latest checkpoint).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::value::RawValue;
use serde_json::{Value, json};
use warrant_api::ErrorCode;
use warrant_core::enrich::enrich;
use warrant_core::event::{Event, EventError, EventKind, check_size};
use warrant_core::role::Role;

use warrant_store::{Appended, Principal, StoreError};

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{Body, utf8};
use warrant_service::blocking;

type JsonResponse = Result<axum::Json<Value>, ApiError>;

/// Kinds only warrant (or an admin importing history) writes.
const GOVERNANCE_KINDS: [EventKind; 14] = [
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
];

/// At most this many problems are listed when a batch is refused.
const MAX_REPORTED_ERRORS: usize = 20;

pub async fn append(State(state): State<AppState>, caller: Caller, Body(body): Body) -> JsonResponse {
    let raw_events = parse_batch(utf8(&body)?)?;
    let mut events = Vec::with_capacity(raw_events.len());
    let mut errors = Vec::new();
    for (index, raw) in raw_events.iter().enumerate() {
        let parsed = check_size(index, raw.get().len()).and_then(|()| {
            let value = serde_json::from_str(raw.get()).map_err(|error| EventError {
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
            if caller.role() != Role::Admin && GOVERNANCE_KINDS.contains(&event.kind) {
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
            bind_agent(caller.principal(), event)
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
            ApiError::bad_request(ErrorCode::InvalidEvent, message).with_details(Value::Array(details))
        );
    }
    let registry = state.store.registry();
    for event in &mut events {
        enrich(event, &registry);
    }
    let appended = store_events(&state, events, caller.principal()).await?;
    let duplicates = appended.iter().filter(|appended| appended.duplicate).count();
    let seqs: Vec<u64> = appended.iter().map(|appended| appended.seq).collect();
    Ok(axum::Json(
        json!({"accepted": appended.len() - duplicates, "duplicates": duplicates, "seqs": seqs}),
    ))
}

/// Bind an event to the caller: an agent principal may speak only for its own agents, and an event that names
/// no agent is its sole agent's. (A token for several agents leaves such an event unattributed: it speaks for
/// no agent, and the record still names the token that sent it.) Admins may write for any agent, or none.
pub(crate) fn bind_agent(principal: &Principal, event: &mut Event) -> Result<(), String> {
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
fn agent_mismatch_error(details: &[Value]) -> ApiError {
    let first = details
        .first()
        .and_then(|detail| detail.get("message"))
        .and_then(Value::as_str)
        .unwrap_or("an event names an agent this token may not act for");
    ApiError::new(StatusCode::FORBIDDEN, ErrorCode::AgentMismatch, first)
}

/// Append validated events (from the JSON API or OTLP), written by `principal`, then let the stored ones count
/// toward their sessions' taint and the ingest metrics.
pub(crate) async fn store_events(
    state: &AppState,
    events: Vec<Event>,
    principal: &Principal,
) -> Result<Vec<Appended>, StoreError> {
    let session_events: Vec<Event> = events
        .iter()
        .filter(|event| event.session.is_some())
        .cloned()
        .collect();
    let appended = state.store.append(events, principal, chrono::Utc::now()).await?;
    // Only once stored does an event count toward its session's taint.
    state
        .gate
        .observe_events(&state.store.registry(), &session_events);
    let duplicates = appended.iter().filter(|appended| appended.duplicate).count();
    state
        .metrics
        .record_append((appended.len() - duplicates) as u64, duplicates as u64);
    Ok(appended)
}

pub async fn get_one(State(state): State<AppState>, Path(seq): Path<String>) -> JsonResponse {
    let store = state.store.clone();
    Ok(axum::Json(
        blocking(move || warrant_service::events::get(&store, &seq)).await?,
    ))
}

/// One JSON object, a JSON array of objects, or NDJSON (one object per line), as raw JSON texts: each
/// event's size is checked on the text it arrived as, before it is parsed into a value.
fn parse_batch(text: &str) -> Result<Vec<Box<RawValue>>, ApiError> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidEvent,
            "the body holds no events",
        ));
    }
    if trimmed.starts_with('[') {
        let items: Vec<Box<RawValue>> = serde_json::from_str(trimmed).map_err(|error| {
            ApiError::bad_request(
                ErrorCode::MalformedJson,
                format!("the body is not a JSON array: {error}"),
            )
        })?;
        if items.is_empty() {
            return Err(ApiError::bad_request(
                ErrorCode::InvalidEvent,
                "the batch is empty",
            ));
        }
        return Ok(items);
    }
    if let Ok(single) = serde_json::from_str::<Box<RawValue>>(trimmed) {
        return Ok(vec![single]);
    }
    let mut items = Vec::new();
    for (line_number, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let item = serde_json::from_str(line).map_err(|error| {
            let message = if items.is_empty() {
                format!(
                    "the body is not JSON or NDJSON: line {}: {error}",
                    line_number + 1
                )
            } else {
                format!("line {} of the NDJSON body is not JSON: {error}", line_number + 1)
            };
            ApiError::bad_request(ErrorCode::MalformedJson, message)
        })?;
        items.push(item);
    }
    Ok(items)
}
