//! Access reviews of tool grants and the kill switch over HTTP (`warrant_service::reviews`).

use axum::extract::State;
use chrono::Utc;
use serde::Deserialize;
use warrant_api::Items;
use warrant_api::reviews::{RecordReview, ReviewDue, ReviewRecorded, SetStatus, StatusSet};
use warrant_service::reviews;

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{Json, Path, Query};

#[derive(Deserialize)]
pub struct DueQuery {
    #[serde(default)]
    overdue: bool,
}

pub async fn list_due(
    State(state): State<AppState>,
    Query(query): Query<DueQuery>,
) -> Result<axum::Json<Items<ReviewDue>>, ApiError> {
    Ok(axum::Json(Items {
        items: reviews::due(&state.store.registry(), Utc::now().date_naive(), query.overdue),
    }))
}

pub async fn set_status(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(request): Json<SetStatus>,
) -> Result<axum::Json<StatusSet>, ApiError> {
    let answer = reviews::set_status(
        &state.store,
        id,
        &request.status,
        request.reason,
        caller.principal(),
        Utc::now(),
    )
    .await?;
    state.compile_gate().await;
    Ok(axum::Json(answer))
}

pub async fn record(
    State(state): State<AppState>,
    caller: Caller,
    Json(request): Json<RecordReview>,
) -> Result<axum::Json<ReviewRecorded>, ApiError> {
    let recorded = reviews::record(&state.store, request, caller.principal(), Utc::now()).await?;
    state.compile_gate().await;
    Ok(axum::Json(recorded))
}
