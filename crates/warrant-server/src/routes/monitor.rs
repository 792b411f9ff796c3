//! `/v1/monitor/*` (reports over the rollups), `/v1/alerts` and `/v1/incidents`.

use axum::extract::{Path, State};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};
use warrant_core::change::ChangeContext;
use warrant_core::incident::{Incident, IncidentUpdate};
use warrant_core::monitor::detect::{AnomalyLimits, RubberStamp};
use warrant_store::IncidentOp;

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{Json, OptionalJson, Query};
use crate::monitor::{self, Params};
use crate::routes::blocking;

type JsonResponse = Result<axum::Json<Value>, ApiError>;

/// `GET /v1/monitor` (everything) and `GET /v1/monitor/{report}`.
pub async fn report(
    State(state): State<AppState>,
    report: Option<Path<String>>,
    Query(params): Query<Params>,
) -> JsonResponse {
    // The rollups include every event committed before this request.
    state.store.flush_rollups().await?;
    let store = state.store.clone();
    let registry = state.store.registry();
    let which = report.map(|Path(report)| report);
    blocking(move || {
        let now = Utc::now();
        let windows = json!(params.windows(now));
        let items = match which.as_deref() {
            None => return Ok(axum::Json(monitor::report(&store, &registry, &params, now)?)),
            Some("drift") => json!(monitor::drift(&store, &params, now)?),
            Some("disparity") => json!(monitor::disparity(&store, &params, now)?),
            Some("anomalies") => json!(monitor::anomalies(
                &store,
                &registry,
                &params,
                &AnomalyLimits::default(),
                now
            )?),
            Some("cost") => json!(monitor::cost(&store, &params, now)?),
            Some("oversight") => {
                return Ok(axum::Json(json!(monitor::oversight(
                    &store,
                    &params,
                    &RubberStamp::default(),
                    now
                )?)));
            }
            Some(other) => {
                return Err(ApiError::not_found(format!(
                    "no report `{other}`; reports: drift, disparity, anomalies, cost, oversight"
                )));
            }
        };
        Ok(axum::Json(json!({"windows": windows, "items": items})))
    })
    .await
}

/// `POST /v1/monitor/evaluate`: run every alert rule now.
pub async fn evaluate(State(state): State<AppState>, caller: Caller) -> JsonResponse {
    let outcome = monitor::evaluate_and_record(&state.store, caller.principal()).await?;
    Ok(axum::Json(json!(outcome)))
}

/// `POST /v1/monitor/rebuild`: recompute the rollups from the log.
pub async fn rebuild(State(state): State<AppState>) -> JsonResponse {
    let counted = state.store.rebuild_rollups().await?;
    Ok(axum::Json(json!({"events": counted})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertQuery {
    status: Option<String>,
}

pub async fn list_alerts(State(state): State<AppState>, Query(query): Query<AlertQuery>) -> JsonResponse {
    if let Some(status) = query
        .status
        .as_deref()
        .filter(|status| !matches!(*status, "firing" | "resolved"))
    {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("`status` is `firing` or `resolved`, not `{status}`"),
        ));
    }
    let store = state.store.clone();
    blocking(move || {
        Ok(axum::Json(
            json!({"items": store.alerts(query.status.as_deref())?}),
        ))
    })
    .await
}

pub async fn get_alert(State(state): State<AppState>, Path(id): Path<String>) -> JsonResponse {
    let store = state.store.clone();
    blocking(move || {
        let alert = store
            .alert(&id)?
            .ok_or_else(|| ApiError::not_found(format!("no alert `{id}`")))?;
        Ok(axum::Json(json!(alert)))
    })
    .await
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Reason {
    pub reason: Option<String>,
}

/// `POST /v1/alerts/{id}/promote`: open an incident for an alert by hand.
pub async fn promote(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    OptionalJson(body): OptionalJson<Reason>,
) -> Result<(axum::http::StatusCode, axum::Json<Value>), ApiError> {
    let checkpoint = monitor::frozen_checkpoint(&state.store)?;
    let context = ChangeContext {
        principal: caller.principal().clone(),
        reason: body.reason,
        time: Utc::now(),
    };
    let outcome = state
        .store
        .incident_op(
            IncidentOp::Promote {
                alert: id,
                checkpoint,
            },
            context,
        )
        .await?;
    let incident = outcome.opened.first().map(incident_json);
    Ok((
        axum::http::StatusCode::CREATED,
        axum::Json(incident.unwrap_or(Value::Null)),
    ))
}

pub async fn list_incidents(State(state): State<AppState>) -> JsonResponse {
    let store = state.store.clone();
    blocking(move || {
        let items: Vec<Value> = store.incidents()?.iter().map(incident_json).collect();
        Ok(axum::Json(json!({"items": items})))
    })
    .await
}

pub async fn get_incident(State(state): State<AppState>, Path(id): Path<String>) -> JsonResponse {
    let store = state.store.clone();
    blocking(move || {
        let incident = store
            .incident(&id)?
            .ok_or_else(|| ApiError::not_found(format!("no incident `{id}`")))?;
        Ok(axum::Json(incident_json(&incident)))
    })
    .await
}

/// `POST /v1/incidents/{id}`: change an incident (status, owner, root cause, Art. 73 classification, ...).
pub async fn update_incident(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<IncidentUpdate>,
) -> JsonResponse {
    let context = ChangeContext {
        principal: caller.principal().clone(),
        reason: None,
        time: Utc::now(),
    };
    let outcome = state
        .store
        .incident_op(
            IncidentOp::Update {
                id,
                update: Box::new(body),
            },
            context,
        )
        .await?;
    Ok(axum::Json(
        outcome.updated.as_ref().map(incident_json).unwrap_or(Value::Null),
    ))
}

/// An incident with its Art. 73 clock as of now.
fn incident_json(incident: &Incident) -> Value {
    let mut value = json!(incident);
    if let Some(object) = value.as_object_mut() {
        object.insert("art73".into(), json!(incident.art73(Utc::now())));
    }
    value
}
