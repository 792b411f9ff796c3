//! Risk and impact: `GET /v1/risk` (findings over the tool-access graph and what the log shows, the risk
//! class computed per agent, and the register's counts), `GET /v1/risk/graph` (JSON, or Graphviz DOT with
//! `?format=dot`), the risk register (`POST /v1/risk/assess`, `GET /v1/risk/register[/{id}]`,
//! `POST /v1/risk/register/{id}/treat`) and impact assessments (`GET|POST /v1/impact/{agent}`,
//! `POST /v1/impact/{agent}/versions/{version}/approve`).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};
use warrant_core::change::ChangeContext;
use warrant_core::monitor::facts::hour_of;
use warrant_core::registry::Registry;
use warrant_core::risk::impact::{ImpactAssessment, assess};
use warrant_core::risk::register::TreatRequest;
use warrant_core::risk::{AccessGraph, Classification, Finding, Observed, analyze, classify};
use warrant_store::{Store, StoreError};

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{Json, OptionalJson, Query};
use crate::routes::blocking;
use crate::routes::monitor::Reason;

/// A grant unused this many days is a least-privilege finding.
const UNUSED_DAYS: i64 = 30;

type JsonResponse = Result<axum::Json<Value>, ApiError>;

/// One run of the analysis over the registry and what the rollups show.
pub fn analysis(
    store: &Store,
    registry: &Registry,
) -> Result<(Vec<Finding>, Vec<Classification>), StoreError> {
    let observed = Observed {
        calls: store
            .tool_spans()?
            .into_iter()
            .map(|span| (span.agent, span.tool, span.last_hour))
            .collect(),
        agents: store.observed_agents()?.into_iter().collect(),
        unused_since_hour: Some(hour_of(&Utc::now()) - UNUSED_DAYS * 24),
        accesses: store.observed_accesses()?,
        gate: store.gate_coverage()?,
    };
    let findings = analyze(registry, Some(&observed));
    let classification = classify(registry, &findings);
    Ok((findings, classification))
}

/// Run the analysis and bring the register in line with it; returns what changed.
pub async fn assess_and_record(
    store: &Store,
    principal: &warrant_store::Principal,
) -> Result<Value, StoreError> {
    store.flush_rollups().await?;
    let registry = store.registry();
    let reader = store.clone();
    let analysed = registry.clone();
    let (findings, _) = tokio::task::spawn_blocking(move || analysis(&reader, &analysed))
        .await
        .map_err(|error| StoreError::Damaged(format!("the risk analysis stopped: {error}")))??;
    let changes = store
        .sync_risks(
            findings,
            Arc::clone(&registry),
            ChangeContext {
                principal: principal.clone(),
                reason: Some("risk assessment".into()),
                time: Utc::now(),
            },
        )
        .await?;
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for change in &changes {
        *counts.entry(change.op.as_str()).or_default() += 1;
    }
    Ok(json!({"changes": counts, "changed": changes, "register": register_summary(&store.risks()?)}))
}

fn register_summary(risks: &[warrant_core::risk::register::Risk]) -> Value {
    let mut by_status: BTreeMap<&str, usize> = BTreeMap::new();
    for risk in risks {
        *by_status.entry(risk.status.as_str()).or_default() += 1;
    }
    let today = Utc::now().date_naive();
    let overdue = risks
        .iter()
        .filter(|risk| {
            risk.status != warrant_core::risk::register::RiskStatus::Closed && risk.review_due < today
        })
        .count();
    json!({"total": risks.len(), "by_status": by_status, "review_overdue": overdue})
}

pub async fn findings(State(state): State<AppState>) -> JsonResponse {
    state.store.flush_rollups().await?;
    let store = state.store.clone();
    let registry = state.store.registry();
    blocking(move || {
        let (findings, classification) = analysis(&store, &registry)?;
        let open = findings.iter().filter(|finding| finding.status == "open").count();
        Ok(axum::Json(json!({
            "summary": {"findings": findings.len(), "open": open, "mitigated": findings.len() - open},
            "classification": classification,
            "findings": findings,
            "register": register_summary(&store.risks()?),
        })))
    })
    .await
}

/// `POST /v1/risk/assess`: run the analysis and update the register (admin).
pub async fn assess_register(State(state): State<AppState>, caller: Caller) -> JsonResponse {
    Ok(axum::Json(
        assess_and_record(&state.store, caller.principal()).await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterQuery {
    status: Option<String>,
    agent: Option<String>,
}

pub async fn register(State(state): State<AppState>, Query(query): Query<RegisterQuery>) -> JsonResponse {
    if let Some(status) = &query.status
        && !matches!(status.as_str(), "open" | "mitigated" | "accepted" | "closed")
    {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("`status` is open, mitigated, accepted or closed, not `{status}`"),
        ));
    }
    let store = state.store.clone();
    blocking(move || {
        let risks = store.risks()?;
        let summary = register_summary(&risks);
        let mut items: Vec<_> = risks
            .into_iter()
            .filter(|risk| {
                query
                    .status
                    .as_deref()
                    .is_none_or(|status| risk.status.as_str() == status)
            })
            .filter(|risk| {
                query
                    .agent
                    .as_deref()
                    .is_none_or(|agent| risk.agent.split(',').any(|id| id == agent))
            })
            .collect();
        items.sort_by(|a, b| b.score.cmp(&a.score).then(a.id.cmp(&b.id)));
        Ok(axum::Json(json!({"summary": summary, "items": items})))
    })
    .await
}

pub async fn risk(State(state): State<AppState>, Path(id): Path<String>) -> JsonResponse {
    let store = state.store.clone();
    blocking(move || {
        let risk = store
            .risks()?
            .into_iter()
            .find(|risk| risk.id == id)
            .ok_or_else(|| ApiError::not_found(format!("no risk `{id}`")))?;
        Ok(axum::Json(json!(risk)))
    })
    .await
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
) -> JsonResponse {
    let change = state
        .store
        .treat_risk(
            id,
            body.request,
            ChangeContext {
                principal: caller.principal().clone(),
                reason: body.reason,
                time: Utc::now(),
            },
        )
        .await?;
    Ok(axum::Json(json!(change)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImpactQuery {
    format: Option<String>,
}

/// The assessment of `agent` as generated now.
fn draft(store: &Store, agent: &str) -> Result<ImpactAssessment, ApiError> {
    let registry = store.registry();
    let (findings, classification) = analysis(store, &registry)?;
    assess(&registry, agent, &findings, &classification)
        .ok_or_else(|| ApiError::not_found(format!("no agent `{agent}`")))
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
                "invalid_query",
                format!("`format` is json or md, not `{other}`"),
            ));
        }
    };
    state.store.flush_rollups().await?;
    let store = state.store.clone();
    blocking(move || {
        let draft = draft(&store, &agent)?;
        let versions = store.impact_versions(&agent)?;
        let current = versions.last().filter(|latest| latest.assessment == draft);
        if markdown {
            let header = current.map(|version| json!(version));
            let text = draft.to_markdown(header.as_ref());
            return Ok(([(header::CONTENT_TYPE, "text/markdown; charset=utf-8")], text).into_response());
        }
        let listed: Vec<Value> = versions
            .iter()
            .map(|version| {
                json!({
                    "version": version.version, "digest": version.digest, "recorded_at": version.recorded_at,
                    "recorded_by": version.recorded_by, "recorded_seq": version.recorded_seq,
                    "approved_by": version.approved_by, "approved_at": version.approved_at,
                    "approved_seq": version.approved_seq,
                })
            })
            .collect();
        Ok(axum::Json(json!({
            "agent": agent,
            "current_version": current.map(|version| version.version),
            "changed_since_latest": current.is_none() && !versions.is_empty(),
            "assessment": draft,
            "versions": listed,
        }))
        .into_response())
    })
    .await
}

/// `POST /v1/impact/{agent}`: keep the assessment generated now as a new version (admin); the same
/// assessment as the latest version is not kept twice (200 instead of 201).
pub async fn record_impact(
    State(state): State<AppState>,
    caller: Caller,
    Path(agent): Path<String>,
    OptionalJson(body): OptionalJson<Reason>,
) -> Result<(axum::http::StatusCode, axum::Json<Value>), ApiError> {
    state.store.flush_rollups().await?;
    let store = state.store.clone();
    let draft = blocking(move || draft(&store, &agent)).await?;
    let (version, new) = state
        .store
        .record_impact(
            draft,
            ChangeContext {
                principal: caller.principal().clone(),
                reason: body.reason,
                time: Utc::now(),
            },
        )
        .await?;
    let status = if new {
        axum::http::StatusCode::CREATED
    } else {
        axum::http::StatusCode::OK
    };
    Ok((status, axum::Json(json!({"new": new, "version": version}))))
}

/// `POST /v1/impact/{agent}/versions/{version}/approve` (approver or admin).
pub async fn approve_impact(
    State(state): State<AppState>,
    caller: Caller,
    Path((agent, version)): Path<(String, u64)>,
    OptionalJson(body): OptionalJson<Reason>,
) -> JsonResponse {
    let version = state
        .store
        .approve_impact(
            agent,
            version,
            ChangeContext {
                principal: caller.principal().clone(),
                reason: body.reason,
                time: Utc::now(),
            },
        )
        .await?;
    Ok(axum::Json(json!(version)))
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
        None | Some("json") => Ok(axum::Json(graph.to_json()).into_response()),
        Some("dot") => Ok(([(header::CONTENT_TYPE, "text/vnd.graphviz")], graph.to_dot()).into_response()),
        Some(other) => Err(ApiError::bad_request(
            "invalid_query",
            format!("`format` is json or dot, not `{other}`"),
        )),
    }
}
