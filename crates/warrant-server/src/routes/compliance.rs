//! The ISO/IEC 42001 and EU AI Act engine over HTTP (`warrant_service::compliance` and `::audit`):
//! `GET /v1/compliance/soa` (JSON, `?format=csv|md`), `/v1/compliance/gaps`, `/v1/compliance/crosswalk`,
//! `/v1/compliance/readiness`, the evidence index (`/v1/compliance/evidence`, `/v1/compliance/sample`),
//! documents (`/v1/documents`), internal audits (`/v1/audits`, `/v1/audits/plan`, `POST /v1/audits/run`),
//! nonconformities and the evidence bundle (`POST /v1/evidence/export`).

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde::Deserialize;
use warrant_api::Items;
use warrant_api::compliance::{
    AddedDocument, AuditPlan, AuditReport, CloseNonconformity, Crosswalk, Document, EvidenceCount,
    EvidenceSample, Gaps, Nonconformity, ReadinessReport, RunAudit,
};
use warrant_core::change::ChangeContext;
use warrant_service::compliance::{self, NewDocument, SoaDocument, SoaFormat};
use warrant_service::{audit, blocking, export};

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{Body, OptionalJson, Query};

type JsonResponse<T> = Result<axum::Json<T>, ApiError>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FormatQuery {
    format: Option<String>,
}

/// `GET /v1/compliance/soa`: the Statement of Applicability, as JSON, CSV or Markdown.
pub async fn get_soa(
    State(state): State<AppState>,
    Query(query): Query<FormatQuery>,
) -> Result<Response, ApiError> {
    let format = SoaFormat::parse(query.format.as_deref().unwrap_or("json"))?;
    Ok(match compliance::soa(&state.store, format, Utc::now()).await? {
        SoaDocument::Csv(text) => ([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], text).into_response(),
        SoaDocument::Markdown(text) => {
            ([(header::CONTENT_TYPE, "text/markdown; charset=utf-8")], text).into_response()
        }
        SoaDocument::Json(soa) => axum::Json(soa).into_response(),
    })
}

/// `GET /v1/compliance/gaps`.
pub async fn get_gaps(State(state): State<AppState>) -> JsonResponse<Gaps> {
    Ok(axum::Json(compliance::gaps(&state.store, Utc::now()).await?))
}

/// `GET /v1/compliance/crosswalk`.
pub async fn get_crosswalk(State(state): State<AppState>) -> JsonResponse<Crosswalk> {
    Ok(axum::Json(compliance::crosswalk(&state.store, Utc::now()).await?))
}

/// `GET /v1/compliance/readiness`.
pub async fn get_readiness(State(state): State<AppState>) -> JsonResponse<ReadinessReport> {
    Ok(axum::Json(compliance::readiness(&state.store, Utc::now()).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvidenceQuery {
    control: String,
    /// RFC 3339 times bounding the period.
    from: Option<String>,
    to: Option<String>,
}

/// `GET /v1/compliance/evidence?control=A.6.2.8&from=2026-07-01&to=2026-10-01`: how many events evidence the
/// control in the period, from the index.
pub async fn get_evidence(
    State(state): State<AppState>,
    Query(query): Query<EvidenceQuery>,
) -> JsonResponse<EvidenceCount> {
    state.store.flush_rollups().await?;
    let store = state.store.clone();
    Ok(axum::Json(
        blocking(move || {
            compliance::evidence(&store, &query.control, query.from.as_deref(), query.to.as_deref())
        })
        .await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SampleQuery {
    control: String,
    n: Option<usize>,
    seed: Option<u64>,
}

/// `GET /v1/compliance/sample?control=A.6.2.8&n=25&seed=7`: evidence items picked by the seed, with proofs.
pub async fn get_sample(
    State(state): State<AppState>,
    Query(query): Query<SampleQuery>,
) -> JsonResponse<EvidenceSample> {
    let n = query.n.unwrap_or(25);
    compliance::check_sample(&query.control, n)?;
    state.store.flush_rollups().await?;
    state.store.checkpoint().await?;
    let store = state.store.clone();
    let seed = query.seed.unwrap_or(0);
    Ok(axum::Json(
        blocking(move || compliance::sample_items(&store, &query.control, n, seed)).await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DocumentQuery {
    name: String,
    title: Option<String>,
    /// Comma-separated controls, clauses, articles or crosswalk task ids.
    controls: String,
    reason: Option<String>,
}

/// `POST /v1/documents?name=policy.pdf&controls=A.2.2,5.2`: keep the body as evidence (admin).
pub async fn add_document(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<DocumentQuery>,
    Body(body): Body,
) -> Result<(StatusCode, axum::Json<AddedDocument>), ApiError> {
    let document = NewDocument {
        name: query.name,
        title: query.title,
        controls: query.controls,
        reason: query.reason,
        content: body.to_vec(),
    };
    let added = compliance::add_document(&state.store, document, caller.principal(), Utc::now()).await?;
    Ok((
        if added.new {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        },
        axum::Json(added),
    ))
}

pub async fn list_documents(State(state): State<AppState>) -> JsonResponse<Items<Document>> {
    let store = state.store.clone();
    Ok(axum::Json(Items {
        items: blocking(move || compliance::documents(&store)).await?,
    }))
}

/// `GET /v1/documents/{sha256}`: the document's bytes.
pub async fn get_document(
    State(state): State<AppState>,
    Path(sha256): Path<String>,
) -> Result<Response, ApiError> {
    let store = state.store.clone();
    let content = blocking(move || {
        store
            .document_content(&sha256)?
            .ok_or_else(|| warrant_service::ServiceError::not_found(format!("no document {sha256}")))
    })
    .await?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], content).into_response())
}

pub async fn audit_plan(State(state): State<AppState>) -> JsonResponse<AuditPlan> {
    Ok(axum::Json(audit::planned(&state.store, Utc::now()).await?))
}

/// `POST /v1/audits/run`: an internal audit (admin).
pub async fn audit_run(
    State(state): State<AppState>,
    caller: Caller,
    OptionalJson(request): OptionalJson<RunAudit>,
) -> Result<(StatusCode, axum::Json<AuditReport>), ApiError> {
    let report = audit::run(
        &state.store,
        request.n.unwrap_or(5),
        request.seed,
        caller.principal(),
        Utc::now(),
    )
    .await?;
    Ok((StatusCode::CREATED, axum::Json(report)))
}

pub async fn list_audits(State(state): State<AppState>) -> JsonResponse<Items<AuditReport>> {
    let store = state.store.clone();
    Ok(axum::Json(Items {
        items: blocking(move || audit::audits(&store)).await?,
    }))
}

/// `POST /v1/evidence/export`: the signed evidence bundle of a period, as a `.tar.gz` (auditor or admin). It is
/// built in the data directory and streamed from disk, so memory stays flat.
pub async fn export_bundle(
    State(state): State<AppState>,
    crate::extract::Json(body): crate::extract::Json<warrant_api::export::ExportRequest>,
) -> Result<Response, ApiError> {
    let request = export::ExportRequest::parse(&body.from, &body.to, body.agents, body.with_content)?;
    let archive = export::archive(&state.store, request, Utc::now()).await?;
    let name = archive.name.clone();
    let file = tokio::fs::File::open(&archive.path)
        .await
        .map_err(|error| ApiError::internal(&error))?;
    // The open handle keeps the bytes readable; the name goes now so nothing is left behind.
    let _ = tokio::fs::remove_file(&archive.path).await;
    let stream = tokio_util::io::ReaderStream::new(file);
    Ok((
        [
            (header::CONTENT_TYPE, "application/gzip".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        axum::body::Body::from_stream(stream),
    )
        .into_response())
}

pub async fn list_nonconformities(State(state): State<AppState>) -> JsonResponse<Items<Nonconformity>> {
    let store = state.store.clone();
    Ok(axum::Json(Items {
        items: blocking(move || audit::nonconformities(&store)).await?,
    }))
}

/// `POST /v1/nonconformities/{id}/close`: the corrective action taken (approver or admin).
pub async fn close_nonconformity(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    crate::extract::Json(body): crate::extract::Json<CloseNonconformity>,
) -> JsonResponse<Nonconformity> {
    let context = ChangeContext {
        principal: caller.principal().clone(),
        reason: None,
        time: Utc::now(),
    };
    Ok(axum::Json(
        audit::close_nonconformity(&state.store, id, body.action, context).await?,
    ))
}
