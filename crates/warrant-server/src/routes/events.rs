//! `POST /v1/events` (one event, a JSON array or NDJSON; a batch is all or nothing) and `GET /v1/events/{seq}`
//! (the event, its leaf hash and its inclusion proof to the latest checkpoint).

use axum::extract::State;
use chrono::Utc;
use serde_json::value::RawValue;
use warrant_api::ErrorCode;
use warrant_api::events::{Accepted, StoredEvent};
use warrant_core::event::Event;
use warrant_service::{blocking, events};
use warrant_store::{Principal, StoreError};

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{Body, Path, utf8};

pub async fn append(
    State(state): State<AppState>,
    caller: Caller,
    Body(body): Body,
) -> Result<axum::Json<Accepted>, ApiError> {
    let raw_events = parse_batch(utf8(&body)?)?;
    let texts: Vec<&str> = raw_events.iter().map(|raw| raw.get()).collect();
    let accepted = events::append(&state.store, &state.gate, caller.principal(), &texts, Utc::now()).await?;
    state
        .metrics
        .record_append(accepted.accepted as u64, accepted.duplicates as u64);
    Ok(axum::Json(accepted))
}

/// Store events that arrived another way (OTLP), and count them in the metrics.
pub(crate) async fn store_events(
    state: &AppState,
    batch: Vec<Event>,
    principal: &Principal,
) -> Result<(), StoreError> {
    let appended = events::store_events(&state.store, &state.gate, batch, principal, Utc::now()).await?;
    let accepted = events::accepted(&appended);
    state
        .metrics
        .record_append(accepted.accepted as u64, accepted.duplicates as u64);
    Ok(())
}

pub async fn get_one(
    State(state): State<AppState>,
    Path(seq): Path<String>,
) -> Result<axum::Json<StoredEvent>, ApiError> {
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
