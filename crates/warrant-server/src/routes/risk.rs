//! Risk and impact over HTTP (`warrant_service::risk`): `GET /v1/risk` (findings, the risk class computed per
//! agent, the register's counts), `GET /v1/risk/graph` (JSON, or Graphviz DOT with `?format=dot`), the risk
//! register (`POST /v1/risk/assess`, `GET /v1/risk/register[/{id}]`, `POST /v1/risk/register/{id}/treat`)
//! and impact assessments (`GET|POST /v1/impact/{agent}`, `POST /v1/impact/{agent}/versions/{version}/approve`).

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde::Deserialize;
use warrant_api::ErrorCode;
use warrant_api::risk as wire;
use warrant_core::change::ChangeContext;
use warrant_core::risk::AccessGraph;
use warrant_core::risk::register::TreatRequest;
use warrant_service::{blocking, risk};

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{Json, OptionalJson, Query};
use crate::routes::monitor::Reason;

type JsonResponse<T> = Result<axum::Json<T>, ApiError>;

fn context(caller: &Caller, reason: Option<String>) -> ChangeContext {
    ChangeContext {
        principal: caller.principal().clone(),
        reason,
        time: Utc::now(),
    }
}

pub async fn findings(State(state): State<AppState>) -> JsonResponse<wire::RiskReport> {
    state.store.flush_rollups().await?;
    let store = state.store.clone();
    Ok(axum::Json(
        blocking(move || risk::findings(&store, Utc::now())).await?,
    ))
}

/// `POST /v1/risk/assess`: run the analysis and update the register (admin).
pub async fn assess_register(State(state): State<AppState>, caller: Caller) -> JsonResponse<wire::Assessed> {
    Ok(axum::Json(
        risk::assess_and_record(&state.store, caller.principal(), Utc::now()).await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterQuery {
    status: Option<String>,
    agent: Option<String>,
}

pub async fn register(
    State(state): State<AppState>,
    Query(query): Query<RegisterQuery>,
) -> JsonResponse<wire::Register> {
    let status = query.status.as_deref().map(risk::parse_risk_status).transpose()?;
    let store = state.store.clone();
    Ok(axum::Json(
        blocking(move || risk::register(&store, status, query.agent.as_deref(), Utc::now().date_naive()))
            .await?,
    ))
}

pub async fn risk(State(state): State<AppState>, Path(id): Path<String>) -> JsonResponse<wire::Risk> {
    let store = state.store.clone();
    Ok(axum::Json(blocking(move || risk::risk(&store, &id)).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TreatBody {
    #[serde(flatten)]
    request: TreatRequest,
    reason: Option<String>,
}

/// `POST /v1/risk/register/{id}/treat`: record a treatment decision (admin or approver).
pub async fn treat(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<TreatBody>,
) -> JsonResponse<wire::RiskChange> {
    Ok(axum::Json(
        risk::treat(&state.store, id, body.request, context(&caller, body.reason)).await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImpactQuery {
    format: Option<String>,
}

/// `GET /v1/impact/{agent}`: the assessment generated now, every recorded version, and whether the latest
/// still says the same; `?format=md` gives the document (the latest recorded version if it is current, else
/// the draft).
pub async fn impact(
    State(state): State<AppState>,
    Path(agent): Path<String>,
    Query(query): Query<ImpactQuery>,
) -> Result<Response, ApiError> {
    let markdown = match query.format.as_deref() {
        None | Some("json") => false,
        Some("md") => true,
        Some(other) => {
            return Err(ApiError::bad_request(
                ErrorCode::InvalidQuery,
                format!("`format` is json or md, not `{other}`"),
            ));
        }
    };
    state.store.flush_rollups().await?;
    let store = state.store.clone();
    let view = blocking(move || risk::impact(&store, &agent, Utc::now())).await?;
    Ok(if markdown {
        (
            [(header::CONTENT_TYPE, "text/markdown; charset=utf-8")],
            view.markdown(),
        )
            .into_response()
    } else {
        axum::Json(view.to_wire()).into_response()
    })
}

/// `POST /v1/impact/{agent}`: keep the assessment generated now as a new version (admin); the same
/// assessment as the latest version is not kept twice (200 instead of 201).
pub async fn record_impact(
    State(state): State<AppState>,
    caller: Caller,
    Path(agent): Path<String>,
    OptionalJson(body): OptionalJson<Reason>,
) -> Result<(StatusCode, axum::Json<wire::ImpactRecorded>), ApiError> {
    let recorded = risk::record_impact(&state.store, agent, context(&caller, body.reason)).await?;
    let status = if recorded.new {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(recorded)))
}

/// `POST /v1/impact/{agent}/versions/{version}/approve` (approver or admin).
pub async fn approve_impact(
    State(state): State<AppState>,
    caller: Caller,
    Path((agent, version)): Path<(String, u64)>,
    OptionalJson(body): OptionalJson<Reason>,
) -> JsonResponse<wire::ImpactVersion> {
    Ok(axum::Json(
        risk::approve_impact(&state.store, agent, version, context(&caller, body.reason)).await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GraphQuery {
    format: Option<String>,
}

pub async fn graph(
    State(state): State<AppState>,
    Query(query): Query<GraphQuery>,
) -> Result<Response, ApiError> {
    let graph = AccessGraph::build(&state.store.registry());
    match query.format.as_deref() {
        None | Some("json") => Ok(axum::Json(risk::graph_to_wire(&graph)).into_response()),
        Some("dot") => Ok(([(header::CONTENT_TYPE, "text/vnd.graphviz")], graph.to_dot()).into_response()),
        Some(other) => Err(ApiError::bad_request(
            ErrorCode::InvalidQuery,
            format!("`format` is json or dot, not `{other}`"),
        )),
    }
}
