//! The route table. Each module owns the handlers and wire types of one area of the API.

pub(crate) mod approvals;
mod authorize;
pub(crate) mod compliance;
mod erase;
mod events;
pub(crate) mod log;
mod monitor;
mod oversight;
mod registry;
mod reviews;
pub(crate) mod risk;
mod system;
mod tokens;
mod traces;
mod trails;

use axum::Router;
use axum::routing::{get, post};

use crate::AppState;
use crate::error::ApiError;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(system::healthz))
        .route("/metrics", get(system::metrics))
        .route("/v1/openapi.json", get(system::openapi))
        .route("/v1/apply", post(registry::apply))
        .route("/v1/reviews/due", get(reviews::list_due))
        .route("/v1/reviews", post(reviews::record))
        .route("/v1/agents/{id}/status", post(reviews::set_status))
        .route("/v1/escalations", post(oversight::escalate))
        .route("/v1/overrides", post(oversight::override_outcome))
        .route("/v1/changes", get(registry::changes))
        .route("/v1/{collection}", get(registry::list))
        .route(
            "/v1/{collection}/{id}",
            get(registry::get_one).delete(registry::remove),
        )
        .route("/v1/tokens", post(tokens::create))
        .route("/v1/events", post(events::append))
        .route("/v1/events/{seq}", get(events::get_one))
        .route("/v1/traces", post(traces::export))
        .route("/v1/monitor", get(monitor::report))
        .route("/v1/monitor/evaluate", post(monitor::evaluate))
        .route("/v1/monitor/rebuild", post(monitor::rebuild))
        .route("/v1/monitor/{report}", get(monitor::report))
        .route("/v1/alerts", get(monitor::list_alerts))
        .route("/v1/alerts/{id}", get(monitor::get_alert))
        .route("/v1/alerts/{id}/promote", post(monitor::promote))
        .route("/v1/risk", get(risk::findings))
        .route("/v1/risk/graph", get(risk::graph))
        .route("/v1/compliance/soa", get(compliance::get_soa))
        .route("/v1/compliance/gaps", get(compliance::get_gaps))
        .route("/v1/compliance/crosswalk", get(compliance::get_crosswalk))
        .route("/v1/compliance/readiness", get(compliance::get_readiness))
        .route("/v1/compliance/evidence", get(compliance::get_evidence))
        .route("/v1/compliance/sample", get(compliance::get_sample))
        .route(
            "/v1/documents",
            get(compliance::list_documents).post(compliance::add_document),
        )
        .route("/v1/documents/{sha256}", get(compliance::get_document))
        .route("/v1/audits", get(compliance::list_audits))
        .route("/v1/audits/plan", get(compliance::audit_plan))
        .route("/v1/audits/run", post(compliance::audit_run))
        .route("/v1/evidence/export", post(compliance::export_bundle))
        .route("/v1/nonconformities", get(compliance::list_nonconformities))
        .route(
            "/v1/nonconformities/{id}/close",
            post(compliance::close_nonconformity),
        )
        .route("/v1/risk/assess", post(risk::assess_register))
        .route("/v1/risk/register", get(risk::register))
        .route("/v1/risk/register/{id}", get(risk::risk))
        .route("/v1/risk/register/{id}/treat", post(risk::treat))
        .route("/v1/impact/{agent}", get(risk::impact).post(risk::record_impact))
        .route(
            "/v1/impact/{agent}/versions/{version}/approve",
            post(risk::approve_impact),
        )
        .route("/v1/incidents", get(monitor::list_incidents))
        .route(
            "/v1/incidents/{id}",
            get(monitor::get_incident).post(monitor::update_incident),
        )
        .route("/v1/trails/{id}", get(trails::get_one))
        .route("/v1/erase", post(erase::erase))
        .route("/v1/authorize", post(authorize::authorize))
        .route("/v1/approvals", get(approvals::list))
        .route("/v1/approvals/{id}", get(approvals::get_one))
        .route("/v1/approvals/{id}/approve", post(approvals::approve))
        .route("/v1/approvals/{id}/deny", post(approvals::deny))
        .route("/v1/log/checkpoint", get(log::checkpoint))
        .route("/v1/log/checkpoints", get(log::checkpoints))
        .route("/v1/log/key", get(log::key))
        .route("/v1/log/proof/inclusion", get(log::inclusion))
        .route("/v1/log/proof/consistency", get(log::consistency))
        .fallback(not_found)
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint")
}

/// Run blocking store work (SQLite reads) off the async workers.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| ApiError::internal(&error))?
}
