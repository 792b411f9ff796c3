//! Access reviews of tool grants: which are due (cadence by risk class) and recording a review. A review that
//! keeps a grant moves its `last_reviewed` date; one that revokes it removes the grant. Either way the
//! registry change is a `change` event and the review itself a `review` event.

use axum::extract::{Query, State};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use warrant_core::change::ChangeContext;
use warrant_core::event::{Event, EventKind};
use warrant_core::registry::manifest::{Kind, Manifest};
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
    caller: Caller,
    Query(query): Query<DueQuery>,
) -> Result<axum::Json<Value>, ApiError> {
    caller.require_read()?;
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

pub async fn record(
    State(state): State<AppState>,
    caller: Caller,
    Json(request): Json<RecordReview>,
) -> Result<axum::Json<Value>, ApiError> {
    caller.require_admin()?;
    let keep = match request.result.as_str() {
        "keep" => true,
        "revoke" => false,
        other => {
            return Err(ApiError::bad_request(
                "invalid_request",
                format!("unknown result `{other}`; use keep or revoke"),
            ));
        }
    };
    let registry = state.store.registry();
    let Some(Manifest::Agent(agent)) = registry.get(Kind::Agent, &request.agent) else {
        return Err(ApiError::not_found(format!("no agent `{}`", request.agent)));
    };
    let mut agent = agent.clone();
    let Some(position) = agent.tools.iter().position(|grant| grant.tool == request.tool) else {
        return Err(ApiError::not_found(format!(
            "agent `{}` has no grant for tool `{}`",
            agent.id, request.tool
        )));
    };
    let now = Utc::now();
    if keep {
        if let Some(grant) = agent.tools.get_mut(position) {
            grant.last_reviewed = Some(now.date_naive());
        }
    } else {
        agent.tools.remove(position);
    }
    let mut manifest = Map::new();
    manifest.insert("kind".into(), json!("Agent"));
    if let Value::Object(spec) = Manifest::Agent(agent).spec() {
        manifest.extend(spec);
    }
    let reason = request
        .reason
        .clone()
        .or_else(|| Some(format!("access review: {}", request.result)));
    let context = ChangeContext {
        actor: caller.name().to_owned(),
        reason: reason.clone(),
        time: now,
    };
    let outcome = state
        .store
        .apply(Value::Object(manifest).to_string(), context)
        .await
        .map_err(|error| match error {
            ApplyError::Invalid(problems) => ApiError::bad_request(
                "invalid_manifest",
                problems
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            ApplyError::Store(error) => error.into(),
        })?;
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
    let appended = state.store.append(vec![event], now).await?;
    Ok(axum::Json(
        json!({"result": request.result, "change_seq": change_seq, "seq": appended.first().map(|appended| appended.seq)}),
    ))
}
