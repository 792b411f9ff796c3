//! `POST /v1/erase`: erase the personal content of events, by data subject or by seq. The events, their
//! digests and every proof stay; the text and salt go, and an `erasure` event records the act.

use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};
use warrant_api::ErrorCode;
use warrant_core::change::ChangeContext;
use warrant_store::ErasureTarget;

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::Json;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EraseRequest {
    subject: Option<String>,
    seqs: Option<Vec<u64>>,
    reason: Option<String>,
}

pub async fn erase(
    State(state): State<AppState>,
    caller: Caller,
    Json(request): Json<EraseRequest>,
) -> Result<axum::Json<Value>, ApiError> {
    let target = match (request.subject, request.seqs) {
        (Some(subject), None) if !subject.trim().is_empty() => ErasureTarget::Subject(subject),
        (None, Some(seqs)) if !seqs.is_empty() => {
            let size = state.store.size();
            if let Some(seq) = seqs.iter().find(|seq| **seq >= size) {
                return Err(ApiError::bad_request(
                    ErrorCode::OutOfRange,
                    format!("no event {seq}; the log has {size}"),
                ));
            }
            ErasureTarget::Seqs(seqs)
        }
        _ => {
            return Err(ApiError::bad_request(
                ErrorCode::InvalidErasure,
                "give either a non-empty `subject` or `seqs`",
            ));
        }
    };
    let context = ChangeContext {
        principal: caller.principal().clone(),
        reason: request.reason,
        time: chrono::Utc::now(),
    };
    let erased = state.store.erase(target, context).await?;
    Ok(axum::Json(
        json!({"events": erased.events, "fields": erased.fields, "seq": erased.seq}),
    ))
}
