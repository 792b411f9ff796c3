//! `/v1/approvals`: what the policy gate held for a human. Listing and reading are for readers (and agent
//! tokens polling their own agents' calls); approving and denying are for approvers and admins, never the
//! person who raised the call (four eyes, checked in the store's transaction).

use crate::extract::Query;
use axum::extract::{Path, State};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};
use warrant_core::change::ChangeContext;
use warrant_core::role::Role;
use warrant_store::{Approval, ApprovalStatus};

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::Json;
use crate::routes::blocking;

#[derive(Deserialize)]
pub struct ListQuery {
    status: Option<String>,
}

pub async fn list(
    State(state): State<AppState>,
    Query(query): Query<ListQuery>,
) -> Result<axum::Json<Value>, ApiError> {
    let status = match query.status.as_deref() {
        None => None,
        Some(name) => Some(parse_status(name)?),
    };
    let store = state.store.clone();
    let approvals = blocking(move || Ok(store.approvals(status, Utc::now())?)).await?;
    Ok(axum::Json(
        json!({"items": approvals.iter().map(approval_json).collect::<Vec<_>>()}),
    ))
}

pub async fn get_one(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<Value>, ApiError> {
    let store = state.store.clone();
    let approval = blocking(move || Ok(store.approval(&id, Utc::now())?))
        .await?
        .ok_or_else(|| ApiError::not_found("no such approval"))?;
    // An agent token waits only on its own agents' approvals.
    if caller.role() == Role::Agent {
        caller.act_for(&approval.agent)?;
    }
    Ok(axum::Json(approval_json(&approval)))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct DecideRequest {
    reason: Option<String>,
}

pub async fn approve(
    state: State<AppState>,
    caller: Caller,
    id: Path<String>,
    body: Json<DecideRequest>,
) -> Result<axum::Json<Value>, ApiError> {
    decide(state, caller, id, body, true).await
}

pub async fn deny(
    state: State<AppState>,
    caller: Caller,
    id: Path<String>,
    body: Json<DecideRequest>,
) -> Result<axum::Json<Value>, ApiError> {
    decide(state, caller, id, body, false).await
}

async fn decide(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(request): Json<DecideRequest>,
    approve: bool,
) -> Result<axum::Json<Value>, ApiError> {
    let reason = request
        .reason
        .map(|reason| reason.trim().to_owned())
        .filter(|reason| !reason.is_empty());
    if !approve && reason.is_none() {
        return Err(ApiError::bad_request(
            "invalid_request",
            "a denial needs a `reason`",
        ));
    }
    let context = ChangeContext {
        principal: caller.principal().clone(),
        reason,
        time: Utc::now(),
    };
    let approval = state.store.decide_approval(id, approve, context).await?;
    Ok(axum::Json(approval_json(&approval)))
}

fn parse_status(name: &str) -> Result<ApprovalStatus, ApiError> {
    ApprovalStatus::parse(name).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_status",
            format!("unknown status `{name}`; use pending, approved, denied, used or expired"),
        )
    })
}

pub(crate) fn approval_json(approval: &Approval) -> Value {
    json!({
        "id": approval.id, "agent": approval.agent, "tool": approval.tool, "session": approval.session,
        "args_hash": approval.args_hash, "reasons": approval.reasons, "status": approval.status.as_str(),
        "requested_seq": approval.requested_seq, "requested_at": approval.requested_at, "expires_at": approval.expires_at,
        "decided_by": approval.decided_by, "decided_at": approval.decided_at, "decision_reason": approval.decision_reason,
        "used_seq": approval.used_seq, "requested_by": approval.requested_by,
    })
}
