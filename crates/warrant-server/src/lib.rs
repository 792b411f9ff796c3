//! warrant's HTTP API: `pub fn router(state) -> Router`, authentication, and the server loop. The handlers
//! call `warrant_service`; the wire types are `warrant_api`'s.
//!
//! The CLI uses this same router in-process when it works on a local data directory, so every command has one
//! implementation whether it runs against `--data` or `--server`.

mod auth;
mod console;
mod error;
mod extract;
mod identity;
pub mod logs;
mod mcp;
mod metrics;
mod routes;
pub mod witness;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use warrant_store::{Principal, Store};

pub use crate::error::ApiError;
pub use crate::metrics::Metrics;

/// Server settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// Largest accepted request body, in bytes.
    pub body_limit: usize,
    /// How often a checkpoint is signed while there are new events.
    pub checkpoint_interval: Duration,
    /// How often content past its retention period is erased.
    pub retention_interval: Duration,
    /// How long an approval asked for by the gate stays open.
    pub approval_ttl: Duration,
    /// How often the alert rules are evaluated; zero turns the evaluator off.
    pub monitor_interval: Duration,
    /// How often notifications are planned and due deliveries sent; zero turns notifications off.
    pub notify_interval: Duration,
    /// The address people reach this server's console at, for the links in notifications
    /// (`https://warrant.example.com`); none leaves messages without links.
    pub public_url: Option<String>,
    /// Requests handled at once; past it a request is answered 503 with `Retry-After` instead of queueing
    /// (each one may hold a body of up to `body_limit`). Liveness and metrics are never refused.
    pub max_in_flight: usize,
    /// How many `kind: Witness` cosignatures a checkpoint needs, and whether the log publishes only those.
    pub witness_policy: warrant_service::witness::WitnessPolicy,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            body_limit: 64 * 1024 * 1024,
            checkpoint_interval: Duration::from_secs(1),
            retention_interval: Duration::from_secs(3600),
            approval_ttl: Duration::from_secs(3600),
            monitor_interval: Duration::from_secs(60),
            notify_interval: Duration::from_millis(500),
            public_url: None,
            max_in_flight: 1024,
            witness_policy: warrant_service::witness::WitnessPolicy::default(),
        }
    }
}

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub config: ServerConfig,
    pub metrics: Arc<Metrics>,
    /// The policy gate's compiled policies, session taint and group ledger.
    pub gate: Arc<warrant_service::gate::GateRuntime>,
    /// The identity providers' keys, for agents that present a JWT.
    pub identity: Arc<identity::Providers>,
    /// Set only for in-process use by the CLI on a local data directory: requests without a token act as
    /// this principal. Never set by `warrant serve`.
    pub local_principal: Option<Principal>,
    /// The MCP gateway's live sessions (`/mcp/{upstream}`).
    pub mcp: Arc<mcp::Sessions>,
    /// The web console's signed-in sessions.
    pub console: Arc<console::Sessions>,
    /// Permits for requests in flight (`ServerConfig::max_in_flight`).
    pub in_flight: Arc<tokio::sync::Semaphore>,
    /// What the witnesses last said (for `/healthz`, `/metrics` and the published checkpoint).
    pub witnesses: Arc<warrant_service::witness::WitnessBoard>,
    /// On the deployment's first log only: its further logs (`/v1/logs`, `/logs/{id}/…`).
    pub logs: Option<Arc<logs::Logs>>,
}

impl AppState {
    /// Compile the gate for the registry just changed, on the changing request's time: otherwise the first
    /// decisions after the change wait for the compilation, holding every decision behind them.
    pub(crate) async fn compile_gate(&self) {
        let (gate, store) = (self.gate.clone(), self.store.clone());
        let compiled =
            tokio::task::spawn_blocking(move || warrant_service::gate::compiled(&store, &gate).map(|_| ()))
                .await;
        if let Ok(Err(error)) = compiled {
            // The next decision compiles again and answers with the error; the change itself is committed.
            tracing::warn!(error = %error.message, "the gate for the changed registry does not compile");
        }
    }

    pub fn new(store: Store, config: ServerConfig) -> AppState {
        AppState {
            in_flight: Arc::new(tokio::sync::Semaphore::new(config.max_in_flight.max(1))),
            witnesses: Arc::new(warrant_service::witness::WitnessBoard::new(config.witness_policy)),
            store,
            config,
            metrics: Arc::new(Metrics::default()),
            gate: Arc::new(warrant_service::gate::GateRuntime::default()),
            identity: Arc::new(identity::Providers::default()),
            local_principal: None,
            mcp: Arc::default(),
            console: Arc::default(),
            logs: None,
        }
    }

    /// This state as the deployment's first log, serving its further logs beside it.
    pub fn with_logs(mut self) -> AppState {
        self.logs = Some(logs::Logs::new(&self));
        self
    }
}

/// The whole API of one log; on a deployment's first log (`AppState::with_logs`), every log's (logs.rs).
pub fn router(state: AppState) -> Router {
    let logs = state.logs.clone();
    let router = log_router(state);
    match logs {
        Some(logs) => logs::deployment_router(logs, router),
        None => router,
    }
}

fn log_router(state: AppState) -> Router {
    let body_limit = state.config.body_limit;
    let (routes, _) = routes::routes(&state);
    console::routes()
        .merge(routes)
        .layer(axum::middleware::from_fn_with_state(state.clone(), admit))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            count_responses,
        ))
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state)
}

/// Every route of the API with the action it performs in the role table (for tests and documentation).
pub fn route_table(state: &AppState) -> Vec<routes::RouteSpec> {
    routes::routes(state).1
}

pub use crate::routes::RouteSpec;

/// Serve `router(state)` on `listener` until `shutdown` resolves, signing checkpoints on the configured cadence
/// and once more on the way out.
pub async fn serve(
    state: AppState,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    warm_up(&state).await;
    let background = start_background(&state);
    if let Some(logs) = &state.logs {
        let url = listener.local_addr().map(|address| format!("http://{address}"))?;
        logs.serve(url)
            .await
            .map_err(|error| std::io::Error::other(error.message))?;
    }
    let result = axum::serve(listener, router(state.clone()))
        .with_graceful_shutdown(shutdown)
        .await;
    if let Some(logs) = &state.logs {
        logs.stop().await;
    }
    background.stop().await;
    result
}

/// What the first requests after a start would otherwise pay for while holding the others: the gate's
/// compilation and ledger, and the rollup sums the store holds from its start (written now).
pub(crate) async fn warm_up(state: &AppState) {
    if let Err(error) = warrant_service::gate::warm_up(&state.store, &state.gate, chrono::Utc::now()).await {
        tracing::warn!(error = %error.message, "warming the gate up failed; the first decision will");
    }
    if let Err(error) = state.store.flush_rollups().await {
        tracing::warn!(%error, "writing the held rollup sums failed");
    }
}

/// A log's background work while it is served: checkpoints, witnessing, retention, the evaluator and
/// notifications.
pub struct Background {
    store: Store,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// Start the background work of one log.
pub(crate) fn start_background(state: &AppState) -> Background {
    let store = state.store.clone();
    let interval = state.config.checkpoint_interval;
    let mut tasks = Vec::new();
    let checkpoints = store.clone();
    tasks.push(tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut ticks: u64 = 0;
        loop {
            ticker.tick().await;
            if let Err(error) = checkpoints.checkpoint().await {
                tracing::error!(%error, "checkpoint failed");
            }
            // When tokens were last used is a convenience for `warrant token list`, not evidence: written
            // every 30 ticks, off the request path.
            ticks += 1;
            if ticks.is_multiple_of(30)
                && let Err(error) = checkpoints.flush_token_use().await
            {
                tracing::warn!(%error, "recording token use failed");
            }
        }
    }));
    // Witnessing runs beside checkpointing, not in it: a witness that does not answer delays only itself.
    tasks.push(tokio::spawn(witness_rounds(
        store.clone(),
        state.witnesses.clone(),
        interval,
    )));
    tasks.push(tokio::spawn(retention_sweeps(
        store.clone(),
        state.config.retention_interval,
    )));
    if !state.config.monitor_interval.is_zero() {
        tasks.push(tokio::spawn(evaluations(
            store.clone(),
            state.config.monitor_interval,
        )));
    }
    if !state.config.notify_interval.is_zero() {
        tasks.push(tokio::spawn(notifications(
            store.clone(),
            state.config.notify_interval,
            state.config.public_url.clone(),
        )));
    }
    Background { store, tasks }
}

impl Background {
    /// Stop the work, then sign the last checkpoint and record token use.
    pub async fn stop(self) {
        for task in &self.tasks {
            task.abort();
        }
        if let Err(error) = self.store.checkpoint().await {
            tracing::error!(%error, "final checkpoint failed");
        }
        if let Err(error) = self.store.flush_token_use().await {
            tracing::warn!(%error, "recording token use failed");
        }
    }
}

/// Submit the latest checkpoint to the witnesses on the checkpoint cadence, forever.
async fn witness_rounds(
    store: Store,
    board: Arc<warrant_service::witness::WitnessBoard>,
    interval: Duration,
) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if let Err(error) = warrant_service::witness::witness_round(&store, &board).await {
            tracing::error!(%error, "witnessing failed");
        }
    }
}

/// Evaluate the alert rules on a cadence, forever (alerts fire and resolve, high ones open incidents), and
/// bring the risk register in line with the analysis.
async fn evaluations(store: Store, interval: Duration) {
    // The first evaluation waits one interval: a server that just started has seen nothing new.
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        match warrant_service::monitor::evaluate_and_record(&store, &Principal::warrant("monitor")).await {
            Ok(outcome) if !outcome.fired.is_empty() || !outcome.resolved.is_empty() => {
                tracing::info!(
                    fired = outcome.fired.len(),
                    resolved = outcome.resolved.len(),
                    incidents = outcome.opened.len(),
                    "alert rules evaluated"
                );
            }
            Ok(_) => {}
            Err(error) => tracing::error!(%error, "alert evaluation failed"),
        }
        // The risk register follows the registry and the log on the same cadence: new paths open risks,
        // fixed ones close theirs.
        if let Err(error) =
            warrant_service::risk::assess_and_record(&store, &Principal::warrant("risk"), chrono::Utc::now())
                .await
        {
            tracing::error!(%error, "risk assessment failed");
        }
    }
}

/// Plan notifications and send the due deliveries, on a cadence, forever. Off every request path: the gate
/// and ingest write their rows and this reads them afterwards.
async fn notifications(store: Store, interval: Duration, public_url: Option<String>) {
    let mut planner = warrant_service::notify::Planner::new(public_url);
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let now = chrono::Utc::now();
        let started = std::time::Instant::now();
        match planner.plan(&store, now).await {
            Ok(queued) if !queued.is_empty() => tracing::info!(queued = queued.len(), "notifications queued"),
            Ok(_) => {}
            Err(error) => tracing::error!(%error, "planning notifications failed"),
        }
        // A burst of notices is sent in full batches back to back for most of a tick, so a backlog drains
        // (about 1,500 a second to a quick receiver) and the next planning is not put off.
        // At least one batch per tick, however long the planning took.
        let planned = started.elapsed();
        let mut sent_in_all = 0;
        loop {
            match warrant_service::notify::deliver_due(&store, now).await {
                Ok(sent) => {
                    sent_in_all += sent;
                    if sent < warrant_service::notify::BATCH || started.elapsed() >= interval.mul_f32(0.8) {
                        break;
                    }
                }
                Err(error) => {
                    tracing::error!(%error, "delivering notifications failed");
                    break;
                }
            }
        }
        if sent_in_all > 0 {
            tracing::debug!(
                planned_ms = planned.as_millis() as u64,
                sent = sent_in_all,
                round_ms = started.elapsed().as_millis() as u64,
                "notification round"
            );
        }
    }
}

/// Erase content past its retention period, on a cadence, forever. The events and proofs stay.
async fn retention_sweeps(store: Store, interval: Duration) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let now = chrono::Utc::now();
        let context = warrant_core::change::ChangeContext {
            principal: warrant_store::Principal::warrant("retention"),
            reason: Some("retention period elapsed".into()),
            time: now,
        };
        match store
            .erase(warrant_store::ErasureTarget::Expired { now }, context)
            .await
        {
            Ok(erased) if erased.fields > 0 => {
                tracing::info!(
                    events = erased.events.len(),
                    fields = erased.fields,
                    "retention erased content"
                );
            }
            Ok(_) => {}
            Err(error) => tracing::error!(%error, "retention sweep failed"),
        }
    }
}

/// Admit a request only while fewer than `max_in_flight` are being handled: past that, 503 with
/// `Retry-After: 1` at once, rather than a queue that grows with every client (and holds their bodies).
async fn admit(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if matches!(request.uri().path(), "/healthz" | "/metrics") {
        return next.run(request).await;
    }
    let Ok(_permit) = state.in_flight.clone().try_acquire_owned() else {
        return ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            warrant_api::ErrorCode::Unavailable,
            "the server is handling as many requests as it takes; retry shortly",
        )
        .into_response();
    };
    next.run(request).await
}

async fn count_responses(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let had_body = request_has_body(&request);
    let mut response = next.run(request).await;
    let status = response.status();
    state.metrics.record_response(status.as_u16());
    // A request refused before its body was read (401, 403, 404, 413) leaves the unread body on the wire, so
    // hyper cannot reuse the connection. Saying so keeps keep-alive clients from sending their next request
    // into a closed socket.
    if had_body && (status.is_client_error() || status.is_server_error()) {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

fn request_has_body(request: &Request) -> bool {
    let headers = request.headers();
    let length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok()?.parse::<u64>().ok());
    length.is_some_and(|length| length > 0) || headers.contains_key(header::TRANSFER_ENCODING)
}
