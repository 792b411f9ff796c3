//! Access reviews of tool grants, and the kill switch: which grants are due for review (cadence by risk
//! class), recording a review (keeping a grant moves its `last_reviewed` date; revoking removes it; either way
//! the registry change is a `change` event and the review a `review` event), and an agent's status.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Map, json};
use warrant_api::ErrorCode;
use warrant_api::reviews as wire;
use warrant_core::change::ChangeContext;
use warrant_core::event::{Event, EventKind};
use warrant_core::identity::Principal;
use warrant_core::registry::Registry;
use warrant_core::registry::manifest::Status;
use warrant_core::reviews::due as due_reviews;
use warrant_store::{ApplyError, Store};

use crate::error::{Result, ServiceError};

/// The grants due for review on `today` (only the overdue ones with `overdue_only`).
pub fn due(registry: &Registry, today: NaiveDate, overdue_only: bool) -> Vec<wire::ReviewDue> {
    due_reviews(registry, today)
        .into_iter()
        .filter(|review| !overdue_only || review.overdue)
        .map(|review| wire::ReviewDue {
            agent: review.agent,
            tool: review.tool,
            cadence_days: review.cadence_days,
            since: review.since.map(|date| date.to_string()),
            due: review.due.map(|date| date.to_string()),
            overdue: review.overdue,
        })
        .collect()
}

/// A registry edit refused: naming an agent or grant that does not exist is `not_found`.
pub fn apply_error(error: ApplyError) -> ServiceError {
    match error {
        ApplyError::Invalid(problems) => {
            let message = problems
                .iter()
                .map(|problem| problem.message.clone())
                .collect::<Vec<_>>()
                .join("; ");
            if message.starts_with("no agent") || message.contains("has no grant") {
                ServiceError::not_found(message)
            } else {
                ServiceError::invalid(ErrorCode::InvalidManifest, message)
            }
        }
        ApplyError::Store(error) => error.into(),
    }
}

/// Set an agent's status (the kill switch: `suspended`), with the reason.
pub async fn set_status(
    store: &Store,
    id: String,
    status_name: &str,
    reason: String,
    principal: &Principal,
    now: DateTime<Utc>,
) -> Result<wire::StatusSet> {
    let status: Status = serde_json::from_value(json!(status_name)).map_err(|_| {
        ServiceError::invalid(
            ErrorCode::InvalidStatus,
            format!(
                "unknown status `{}`; use proposed, active, suspended or retired",
                status_name
            ),
        )
    })?;
    let context = ChangeContext {
        principal: principal.clone(),
        reason: Some(reason),
        time: now,
    };
    let outcome = store
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
    Ok(wire::StatusSet {
        id,
        status: status_name.to_owned(),
        changed: !outcome.changes.is_empty(),
        seq: outcome.changes.first().map(|applied| applied.seq),
    })
}

/// Record an access review of one grant: `keep` or `revoke`.
pub async fn record(
    store: &Store,
    request: warrant_api::reviews::RecordReview,
    principal: &Principal,
    now: DateTime<Utc>,
) -> Result<wire::ReviewRecorded> {
    let keep = match request.result.as_str() {
        "keep" => true,
        "revoke" => false,
        other => {
            return Err(ServiceError::invalid(
                ErrorCode::InvalidRequest,
                format!("unknown result `{other}`; use keep or revoke"),
            ));
        }
    };
    let reason = request
        .reason
        .clone()
        .or_else(|| Some(format!("access review: {}", request.result)));
    let context = ChangeContext {
        principal: principal.clone(),
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
    let outcome = store
        .edit_agent(request.agent.clone(), edit, context)
        .await
        .map_err(apply_error)?;
    let change_seq = outcome.changes.first().map(|applied| applied.seq);
    let mut attrs = Map::new();
    attrs.insert("grant".into(), json!(request.tool));
    attrs.insert("reviewer".into(), json!(principal.name));
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
    let appended = store.append(vec![event], principal, now).await?;
    Ok(wire::ReviewRecorded {
        result: request.result,
        change_seq,
        seq: appended.first().map(|appended| appended.seq),
    })
}
