//! `/v1/approvals`: what the policy gate held for a human (`warrant_service::approvals`). Listing and reading
//! are for readers (and agent tokens polling their own agents' calls); approving and denying are for approvers
//! and admins, never the person who raised the call.

use axum::extract::State;
use chrono::Utc;
use serde::Deserialize;
use warrant_api::Items;
use warrant_api::gate::{Approval, DecideRequest};
use warrant_service::{approvals, blocking};

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{OptionalJson, Path, Query};

#[derive(Deserialize)]
pub struct ListQuery {
    status: Option<String>,
}

pub async fn list(
    State(state): State<AppState>,
    Query(query): Query<ListQuery>,
) -> Result<axum::Json<Items<Approval>>, ApiError> {
    let status = query.status.as_deref().map(approvals::parse_status).transpose()?;
    let store = state.store.clone();
    let items = blocking(move || approvals::list(&store, status, Utc::now())).await?;
    Ok(axum::Json(Items { items }))
}

pub async fn get_one(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<Approval>, ApiError> {
    let store = state.store.clone();
    let principal = caller.principal().clone();
    Ok(axum::Json(
        blocking(move || approvals::get(&store, &principal, &id, Utc::now())).await?,
    ))
}

pub async fn approve(
    state: State<AppState>,
    caller: Caller,
    id: Path<String>,
    body: OptionalJson<DecideRequest>,
) -> Result<axum::Json<Approval>, ApiError> {
    decide(state, caller, id, body, true).await
}

pub async fn deny(
    state: State<AppState>,
    caller: Caller,
    id: Path<String>,
    body: OptionalJson<DecideRequest>,
) -> Result<axum::Json<Approval>, ApiError> {
    decide(state, caller, id, body, false).await
}

async fn decide(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    OptionalJson(body): OptionalJson<DecideRequest>,
    approve: bool,
) -> Result<axum::Json<Approval>, ApiError> {
    let now = Utc::now();
    let decided = approvals::decide(&state.store, id, approve, body.reason, caller.principal(), now).await?;
    Ok(axum::Json(decided))
}
