//! The route table. Each module owns the handlers and wire types of one area of the API.

pub(crate) mod approvals;
mod authorize;
pub(crate) mod compliance;
mod erase;
mod events;
pub(crate) mod log;
mod logs;
mod mcp;
mod monitor;
mod notify;
mod oversight;
mod registry;
mod reviews;
pub(crate) mod risk;
mod system;
mod tokens;
mod traces;
mod trails;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::handler::Handler;
use axum::http::Method;
use axum::routing::{MethodFilter, MethodRouter, on};
use warrant_api::ErrorCode;
use warrant_core::role::Action;
use warrant_core::role::Action::{
    ActForAgent, Administer, DecideApproval, Export, Oversee, Public, Read, ReadApproval, Verify,
};

use crate::AppState;
use crate::error::ApiError;

/// Largest `POST /v1/authorize` body: one call's arguments, like one event.
pub const MAX_AUTHORIZE_BYTES: usize = warrant_core::event::MAX_EVENT_BYTES;

/// One route of the API and what it does, for the role table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteSpec {
    pub method: Method,
    pub path: &'static str,
    pub action: Action,
}

/// The router and its table, built together so no route exists without its action.
struct Table {
    router: Router<AppState>,
    specs: Vec<RouteSpec>,
    state: AppState,
}

impl Table {
    fn add<H, T>(mut self, method: Method, path: &'static str, action: Action, handler: H) -> Table
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        let filter = MethodFilter::try_from(method.clone()).unwrap_or(MethodFilter::GET);
        let route: MethodRouter<AppState> = on(filter, handler);
        let mut route: MethodRouter<AppState> = route.layer(axum::middleware::from_fn_with_state(
            self.state.clone(),
            crate::auth::enforce,
        ));
        if path == "/v1/authorize" {
            route = route.layer(DefaultBodyLimit::max(MAX_AUTHORIZE_BYTES));
        }
        self.router = self.router.route(path, route.layer(axum::Extension(action)));
        self.specs.push(RouteSpec { method, path, action });
        self
    }

    fn get<H: Handler<T, AppState>, T: 'static>(
        self,
        path: &'static str,
        action: Action,
        handler: H,
    ) -> Table {
        self.add(Method::GET, path, action, handler)
    }

    fn post<H: Handler<T, AppState>, T: 'static>(
        self,
        path: &'static str,
        action: Action,
        handler: H,
    ) -> Table {
        self.add(Method::POST, path, action, handler)
    }

    fn delete<H: Handler<T, AppState>, T: 'static>(
        self,
        path: &'static str,
        action: Action,
        handler: H,
    ) -> Table {
        self.add(Method::DELETE, path, action, handler)
    }
}

/// The API's routes with the action each performs.
pub fn routes(state: &AppState) -> (Router<AppState>, Vec<RouteSpec>) {
    let table = Table {
        router: Router::new(),
        specs: Vec::new(),
        state: state.clone(),
    }
    .get("/healthz", Public, system::healthz)
    .get("/metrics", Public, system::metrics)
    .get("/v1/openapi.json", Public, system::openapi)
    .post("/v1/apply", Administer, registry::apply)
    .get("/v1/reviews/due", Read, reviews::list_due)
    .post("/v1/reviews", Administer, reviews::record)
    .post("/v1/agents/{id}/status", Administer, reviews::set_status)
    .post("/v1/escalations", ActForAgent, oversight::escalate)
    .post("/v1/overrides", Oversee, oversight::override_outcome)
    .get("/v1/changes", Read, registry::changes)
    .get("/v1/logs", Read, logs::list)
    .post("/v1/logs", Administer, logs::create)
    .get("/v1/tokens", Administer, tokens::list)
    .post("/v1/tokens", Administer, tokens::create)
    .post("/v1/tokens/{id}/revoke", Administer, tokens::revoke)
    .get("/v1/notifications", Read, notify::list)
    .post("/v1/notifiers/{id}/test", Administer, notify::test)
    .get("/v1/mcp/{server}/agents/{agent}", ActForAgent, mcp::view)
    .post(
        "/v1/mcp/{server}/agents/{agent}/tools",
        ActForAgent,
        mcp::review_tools,
    )
    .post(
        "/v1/mcp/{server}/agents/{agent}/resources",
        ActForAgent,
        mcp::resource,
    )
    .post("/mcp/{upstream}", ActForAgent, mcp::gateway)
    .delete("/mcp/{upstream}", ActForAgent, mcp::end)
    .get("/v1/{collection}", Read, registry::list)
    .get("/v1/{collection}/{id}", Read, registry::get_one)
    .delete("/v1/{collection}/{id}", Administer, registry::remove)
    .post("/v1/events", ActForAgent, events::append)
    .get("/v1/events/{seq}", Read, events::get_one)
    .post("/v1/traces", ActForAgent, traces::export)
    .get("/v1/monitor", Read, monitor::report)
    .post("/v1/monitor/evaluate", Administer, monitor::evaluate)
    .post("/v1/monitor/rebuild", Administer, monitor::rebuild)
    .get("/v1/monitor/{report}", Read, monitor::report)
    .get("/v1/alerts", Read, monitor::list_alerts)
    .get("/v1/alerts/{id}", Read, monitor::get_alert)
    .post("/v1/alerts/{id}/promote", Oversee, monitor::promote)
    .get("/v1/risk", Read, risk::findings)
    .get("/v1/risk/graph", Read, risk::graph)
    .get("/v1/compliance/soa", Read, compliance::get_soa)
    .get("/v1/compliance/gaps", Read, compliance::get_gaps)
    .get("/v1/compliance/crosswalk", Read, compliance::get_crosswalk)
    .get("/v1/compliance/readiness", Read, compliance::get_readiness)
    .get("/v1/compliance/evidence", Read, compliance::get_evidence)
    .get("/v1/compliance/sample", Read, compliance::get_sample)
    .get("/v1/documents", Read, compliance::list_documents)
    .post("/v1/documents", Administer, compliance::add_document)
    .get("/v1/documents/{sha256}", Read, compliance::get_document)
    .get("/v1/audits", Read, compliance::list_audits)
    .get("/v1/audits/plan", Read, compliance::audit_plan)
    .post("/v1/audits/run", Administer, compliance::audit_run)
    .post("/v1/evidence/export", Export, compliance::export_bundle)
    .get("/v1/nonconformities", Read, compliance::list_nonconformities)
    .post(
        "/v1/nonconformities/{id}/close",
        Oversee,
        compliance::close_nonconformity,
    )
    .post("/v1/risk/assess", Administer, risk::assess_register)
    .get("/v1/risk/register", Read, risk::register)
    .get("/v1/risk/register/{id}", Read, risk::risk)
    .post("/v1/risk/register/{id}/treat", Oversee, risk::treat)
    .get("/v1/impact/{agent}", Read, risk::impact)
    .post("/v1/impact/{agent}", Administer, risk::record_impact)
    .post(
        "/v1/impact/{agent}/versions/{version}/approve",
        Oversee,
        risk::approve_impact,
    )
    .get("/v1/incidents", Read, monitor::list_incidents)
    .get("/v1/incidents/{id}", Read, monitor::get_incident)
    .post("/v1/incidents/{id}", Oversee, monitor::update_incident)
    .get("/v1/trails/{id}", Read, trails::get_one)
    .post("/v1/erase", Administer, erase::erase)
    .post("/v1/authorize", ActForAgent, authorize::authorize)
    .get("/v1/approvals", Read, approvals::list)
    .get("/v1/approvals/{id}", ReadApproval, approvals::get_one)
    .post("/v1/approvals/{id}/approve", DecideApproval, approvals::approve)
    .post("/v1/approvals/{id}/deny", DecideApproval, approvals::deny)
    .get("/v1/log/checkpoint", Verify, log::checkpoint)
    .get("/v1/log/checkpoints", Read, log::checkpoints)
    .get("/v1/log/key", Verify, log::key)
    .get("/v1/log/proof/inclusion", Verify, log::inclusion)
    .get("/v1/log/proof/consistency", Verify, log::consistency);
    let router = table
        .router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed);
    (router, table.specs)
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        ErrorCode::MethodNotAllowed,
        "this endpoint does not take that method",
    )
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint")
}
