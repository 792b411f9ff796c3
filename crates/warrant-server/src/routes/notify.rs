//! `/v1/notifications` and `/v1/notifiers/{id}/test` (`warrant_service::notify`): deliveries and a test send.

use axum::extract::State;
use chrono::Utc;
use warrant_api::Items;
use warrant_api::notify::Delivery;
use warrant_service::{blocking, notify};

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{Path, Query};

pub async fn list(
    State(state): State<AppState>,
    Query(query): Query<notify::Query>,
) -> Result<axum::Json<Items<Delivery>>, ApiError> {
    let store = state.store.clone();
    Ok(axum::Json(blocking(move || notify::list(&store, query)).await?))
}

pub async fn test(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<axum::Json<Delivery>, ApiError> {
    let delivery = notify::test(&state.store, &id, state.config.public_url.as_deref(), Utc::now()).await?;
    Ok(axum::Json(delivery))
}
