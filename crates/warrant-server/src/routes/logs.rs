//! `/v1/logs` (`warrant_service::logs`): a deployment's logs, listed and created on its first log.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::Utc;
use warrant_api::Items;
use warrant_api::logs::{CreateLog, LogInfo, NewLog};
use warrant_service::logs;

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::Json;

fn deployment(state: &AppState) -> Result<&crate::logs::Logs, ApiError> {
    state.logs.as_deref().ok_or_else(|| {
        ApiError::not_found(
            "logs are listed and created on the deployment's first log, not under /logs/{id}/",
        )
    })
}

pub async fn list(State(state): State<AppState>) -> Result<axum::Json<Items<LogInfo>>, ApiError> {
    let mut items = vec![logs::info(None, &state.store)];
    for (id, mounted) in deployment(&state)?.all().await? {
        items.push(logs::info(Some(&id), &mounted.state.store));
    }
    Ok(axum::Json(Items { items }))
}

pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Json(request): Json<CreateLog>,
) -> Result<(StatusCode, axum::Json<NewLog>), ApiError> {
    let deployment = deployment(&state)?;
    let (id, org) = logs::parse(&request, &state.store)?;
    let mounted = deployment.create(id.clone(), org).await?;
    let created = logs::first_admin(&mounted.state.store, &id, caller.principal(), Utc::now()).await?;
    Ok((StatusCode::CREATED, axum::Json(created)))
}
