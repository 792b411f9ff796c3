//! `/v1/monitor/*` (reports over the rollups), `/v1/alerts` and `/v1/incidents` (`warrant_service::monitor`).

use axum::extract::{Path, State};
use chrono::Utc;
use serde::Deserialize;
use warrant_api::Items;
use warrant_api::monitor as wire;
use warrant_core::change::ChangeContext;
use warrant_core::incident::IncidentUpdate;
use warrant_service::blocking;
use warrant_service::monitor::{self, Params};

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{Json, OptionalJson, Query};

type JsonResponse<T> = Result<axum::Json<T>, ApiError>;

/// `GET /v1/monitor` (everything) and `GET /v1/monitor/{report}`.
pub async fn report(
    State(state): State<AppState>,
    report: Option<Path<String>>,
    Query(params): Query<Params>,
) -> JsonResponse<wire::Report> {
    // The rollups include every event committed before this request.
    state.store.flush_rollups().await?;
    let store = state.store.clone();
    let registry = state.store.registry();
    let which = report.map(|Path(report)| report);
    Ok(axum::Json(
        blocking(move || monitor::named_report(&store, &registry, which.as_deref(), &params, Utc::now()))
            .await?,
    ))
}

/// `POST /v1/monitor/evaluate`: run every alert rule now.
pub async fn evaluate(State(state): State<AppState>, caller: Caller) -> JsonResponse<wire::Evaluated> {
    let outcome = monitor::evaluate_and_record(&state.store, caller.principal()).await?;
    Ok(axum::Json(monitor::outcome_to_wire(&outcome)))
}

/// `POST /v1/monitor/rebuild`: recompute the rollups from the log.
pub async fn rebuild(State(state): State<AppState>) -> JsonResponse<wire::Rebuilt> {
    Ok(axum::Json(monitor::rebuild(&state.store).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertQuery {
    status: Option<String>,
}

pub async fn list_alerts(
    State(state): State<AppState>,
    Query(query): Query<AlertQuery>,
) -> JsonResponse<Items<wire::Alert>> {
    let store = state.store.clone();
    Ok(axum::Json(
        blocking(move || monitor::alerts(&store, query.status.as_deref())).await?,
    ))
}

pub async fn get_alert(State(state): State<AppState>, Path(id): Path<String>) -> JsonResponse<wire::Alert> {
    let store = state.store.clone();
    Ok(axum::Json(blocking(move || monitor::alert(&store, &id)).await?))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Reason {
    pub reason: Option<String>,
}

fn context(caller: &Caller, reason: Option<String>) -> ChangeContext {
    ChangeContext {
        principal: caller.principal().clone(),
        reason,
        time: Utc::now(),
    }
}

/// `POST /v1/alerts/{id}/promote`: open an incident for an alert by hand.
pub async fn promote(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    OptionalJson(body): OptionalJson<Reason>,
) -> Result<(axum::http::StatusCode, axum::Json<wire::IncidentView>), ApiError> {
    let incident = monitor::promote(&state.store, id, context(&caller, body.reason)).await?;
    Ok((axum::http::StatusCode::CREATED, axum::Json(incident)))
}

pub async fn list_incidents(State(state): State<AppState>) -> JsonResponse<Items<wire::IncidentView>> {
    let store = state.store.clone();
    Ok(axum::Json(
        blocking(move || monitor::incidents(&store, Utc::now())).await?,
    ))
}

pub async fn get_incident(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> JsonResponse<wire::IncidentView> {
    let store = state.store.clone();
    Ok(axum::Json(
        blocking(move || monitor::incident(&store, &id, Utc::now())).await?,
    ))
}

/// `POST /v1/incidents/{id}`: change an incident (status, owner, root cause, Art. 73 classification, ...).
pub async fn update_incident(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<IncidentUpdate>,
) -> JsonResponse<wire::IncidentView> {
    Ok(axum::Json(
        monitor::update_incident(&state.store, id, body, context(&caller, None)).await?,
    ))
}
