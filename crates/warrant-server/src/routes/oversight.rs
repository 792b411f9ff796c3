//! Human oversight records over HTTP (`warrant_service::oversight`): escalations and overrides.

use axum::extract::State;
use chrono::Utc;
use warrant_api::oversight::{Escalation, Override, Recorded};
use warrant_service::oversight;

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::Json;

pub async fn escalate(
    State(state): State<AppState>,
    caller: Caller,
    Json(request): Json<Escalation>,
) -> Result<axum::Json<Recorded>, ApiError> {
    let recorded = oversight::escalate(&state.store, caller.principal(), request, Utc::now()).await?;
    Ok(axum::Json(recorded))
}

pub async fn override_outcome(
    State(state): State<AppState>,
    caller: Caller,
    Json(request): Json<Override>,
) -> Result<axum::Json<Recorded>, ApiError> {
    let recorded = oversight::override_outcome(&state.store, caller.principal(), request, Utc::now()).await?;
    Ok(axum::Json(recorded))
}
