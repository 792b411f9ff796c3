//! `POST /v1/erase` (`warrant_service::events::erase`): erase the personal content of events, by data
//! subject or by seq.

use axum::extract::State;
use warrant_api::events::{EraseRequest, Erased};
use warrant_core::change::ChangeContext;

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::Json;

pub async fn erase(
    State(state): State<AppState>,
    caller: Caller,
    Json(request): Json<EraseRequest>,
) -> Result<axum::Json<Erased>, ApiError> {
    let reason = request.reason.clone();
    let context = ChangeContext::new(caller.principal().clone(), reason, chrono::Utc::now());
    Ok(axum::Json(
        warrant_service::events::erase(&state.store, request, context).await?,
    ))
}
