//! Access reviews of tool grants: which are due (cadence by risk class) and recording a review. A review that
//! keeps a grant moves its `last_reviewed` date; one that revokes it removes the grant. Either way the
//! registry change is a `change` event and the review itself a `review` event.

use crate::extract::Query;
use axum::extract::State;
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use warrant_api::ErrorCode;
use warrant_core::change::ChangeContext;
use warrant_core::event::{Event, EventKind};
use warrant_core::registry::manifest::Status;
use warrant_core::reviews::due;
use warrant_store::ApplyError;

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::Json;

#[derive(Deserialize)]
pub struct DueQuery {
    #[serde(default)]
    overdue: bool,
}

pub async fn list_due(
    State(state): State<AppState>,
    Query(query): Query<DueQuery>,
) -> Result<axum::Json<Value>, ApiError> {
    let today = Utc::now().date_naive();
    let items: Vec<Value> = due(&state.store.registry(), today)
        .into_iter()
        .filter(|review| !query.overdue || review.overdue)
        .map(|review| {
            json!({"agent": review.agent, "tool": review.tool, "cadence_days": review.cadence_days,
                   "since": review.since.map(|date| date.to_string()), "due": review.due.map(|date| date.to_string()),
                   "overdue": review.overdue})
        })
        .collect();
    Ok(axum::Json(json!({"items": items})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordReview {
    agent: String,
    tool: String,
    /// `keep` or `revoke`.
    result: String,
    reason: Option<String>,
}

/// An edit refused by the registry: the agent or grant does not exist (404), or the result is invalid (400).
pub(crate) fn apply_error(error: ApplyError) -> ApiError {
    match error {
        ApplyError::Invalid(problems) => {
            let message = problems
                .iter()
                .map(|problem| problem.message.clone())
                .collect::<Vec<_>>()
                .join("; ");
            if message.starts_with("no agent") || message.contains("has no grant") {
                ApiError::not_found(message)
            } else {
                ApiError::bad_request(ErrorCode::InvalidManifest, message)
            }
        }
        ApplyError::Store(error) => error.into(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetStatus {
    status: String,
    reason: String,
}

/// `POST /v1/agents/{id}/status`: the kill switch (`suspended`) and its undo (`active`), changed in the
/// sequencer so it cannot race another edit of the agent.
pub async fn set_status(
    State(state): State<AppState>,
    caller: Caller,
    axum::extract::Path(id): axum::extract::Path<String>,
    Json(request): Json<SetStatus>,
) -> Result<axum::Json<Value>, ApiError> {
    let status: Status = serde_json::from_value(json!(request.status)).map_err(|_| {
        ApiError::bad_request(
            ErrorCode::InvalidStatus,
            format!(
                "unknown status `{}`; use proposed, active, suspended or retired",
                request.status
            ),
        )
    })?;
    let context = ChangeContext {
        principal: caller.principal().clone(),
        reason: Some(request.reason),
        time: Utc::now(),
    };
    let outcome = state
        .store
        .edit_agent(
            id.clone(),
            move |agent| {
                agent.status = status;
                Ok(())
            },
            context,
        )
        .await
        .map_err(apply_error)?;
    Ok(axum::Json(
        json!({"id": id, "status": request.status, "changed": !outcome.changes.is_empty(),
                         "seq": outcome.changes.first().map(|applied| applied.seq)}),
    ))
}

pub async fn record(
    State(state): State<AppState>,
    caller: Caller,
    Json(request): Json<RecordReview>,
) -> Result<axum::Json<Value>, ApiError> {
    let keep = match request.result.as_str() {
        "keep" => true,
        "revoke" => false,
        other => {
            return Err(ApiError::bad_request(
                ErrorCode::InvalidRequest,
                format!("unknown result `{other}`; use keep or revoke"),
            ));
        }
    };
    let now = Utc::now();
    let reason = request
        .reason
        .clone()
        .or_else(|| Some(format!("access review: {}", request.result)));
    let context = ChangeContext {
        principal: caller.principal().clone(),
        reason: reason.clone(),
        time: now,
    };
    let tool = request.tool.clone();
    let edit = move |agent: &mut warrant_core::registry::manifest::Agent| {
        let position = agent
            .tools
            .iter()
            .position(|grant| grant.tool == tool)
            .ok_or_else(|| format!("agent `{}` has no grant for tool `{tool}`", agent.id))?;
        if keep {
            if let Some(grant) = agent.tools.get_mut(position) {
                grant.last_reviewed = Some(now.date_naive());
            }
        } else {
            agent.tools.remove(position);
        }
        Ok(())
    };
    let outcome = state
        .store
        .edit_agent(request.agent.clone(), edit, context)
        .await
        .map_err(apply_error)?;
    let change_seq = outcome.changes.first().map(|applied| applied.seq);
    let mut attrs = Map::new();
    attrs.insert("grant".into(), json!(request.tool));
    attrs.insert("reviewer".into(), json!(caller.name()));
    attrs.insert("result".into(), json!(request.result));
    attrs.insert("change_seq".into(), json!(change_seq));
    if let Some(reason) = reason {
        attrs.insert("reason".into(), json!(reason));
    }
    let event = Event {
        id: None,
        time: now,
        agent: Some(request.agent.clone()),
        kind: EventKind::Review,
        trace_id: None,
        span_id: None,
        parent_span_id: None,
        session: None,
        attrs,
        content: Map::new(),
    };
    let appended = state.store.append(vec![event], caller.principal(), now).await?;
    Ok(axum::Json(
        json!({"result": request.result, "change_seq": change_seq, "seq": appended.first().map(|appended| appended.seq)}),
    ))
}
