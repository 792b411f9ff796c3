//! The MCP gateway's calls when it runs outside the server (`warrant mcp --server`):
//! `GET /v1/mcp/{server}/agents/{agent}` (how to reach the upstream and what the agent may see) and
//! `POST /v1/mcp/{server}/agents/{agent}/tools` (sort an upstream's `tools/list`, recording hidden tools);
//! and the gateway itself over Streamable HTTP, `POST` / `DELETE /mcp/{upstream}` (`crate::mcp`).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde::Deserialize;
use serde_json::Value;
use warrant_api::ErrorCode;
use warrant_api::mcp::{McpView, ResourceAccess, ResourceRequest, ToolListing, ToolReview};
use warrant_core::identity::Principal;
use warrant_mcp::GatewayConfig;
use warrant_mcp::UpstreamSpec;
use warrant_mcp::http::{HttpSession, Reply};
use warrant_mcp::jsonrpc;
use warrant_service::{blocking, mcp};

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{Json, Path, Query};
use crate::mcp::{MAX_SESSIONS, ServiceGovernor};

pub async fn view(
    State(state): State<AppState>,
    caller: Caller,
    Path((server, agent)): Path<(String, String)>,
) -> Result<axum::Json<McpView>, ApiError> {
    let store = state.store.clone();
    let principal = caller.principal().clone();
    Ok(axum::Json(
        blocking(move || mcp::view(&store, &principal, &server, &agent)).await?,
    ))
}

pub async fn review_tools(
    State(state): State<AppState>,
    caller: Caller,
    Path((server, agent)): Path<(String, String)>,
    Json(listing): Json<ToolListing>,
) -> Result<axum::Json<ToolReview>, ApiError> {
    let review = mcp::review_tools(
        &state.store,
        caller.principal(),
        &server,
        &agent,
        listing,
        Utc::now(),
    )
    .await?;
    Ok(axum::Json(review))
}

/// The id prefix of the session every stateless request of one agent on one upstream shares.
const STATELESS: &str = "stateless:";

pub async fn resource(
    State(state): State<AppState>,
    caller: Caller,
    Path((server, agent)): Path<(String, String)>,
    Json(request): Json<ResourceRequest>,
) -> Result<axum::Json<ResourceAccess>, ApiError> {
    let principal = caller.principal();
    Ok(axum::Json(mcp::resource(
        &state.store,
        principal,
        &server,
        &agent,
        &request.uri,
    )?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayQuery {
    /// The agent the gateway speaks for; default: the one agent the credential is bound to.
    agent: Option<String>,
}

/// `POST /mcp/{upstream}`: one MCP message from a host, over Streamable HTTP. The gateway speaks for the
/// agent the caller's credential is bound to (or `?agent=`, which the caller must be allowed to act for). An `initialize` opens a session (its id in
/// `Mcp-Session-Id`); a request without a session id is a stateless (2026-07-28) one, served by one session
/// per agent and upstream.
pub async fn gateway(
    State(state): State<AppState>,
    caller: Caller,
    Path(upstream): Path<String>,
    Query(query): Query<GatewayQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let principal = caller.principal().clone();
    let agent = speaks_for(&principal, query.agent)?;
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    };
    let method = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|value| value.get("method").and_then(Value::as_str).map(str::to_owned));
    let (session, opened) = match (method.as_deref(), header("mcp-session-id")) {
        (Some("initialize"), _) => {
            let id = format!("mcp-{}", warrant_mcp::session::random_hex(16));
            (open(&state, &principal, &agent, &upstream, &id).await?, Some(id))
        }
        (_, Some(id)) => match state.mcp.get(&id, &agent, &upstream) {
            Some(session) => (session, None),
            None => {
                // The transport's answer for an ended or unknown session: the host starts a new one.
                let error = jsonrpc::error(
                    None,
                    jsonrpc::INVALID_REQUEST,
                    "no such MCP session: initialize again",
                    None,
                );
                return Ok((StatusCode::NOT_FOUND, axum::Json(error)).into_response());
            }
        },
        (_, None) => {
            let id = format!("{STATELESS}{agent}:{upstream}");
            match state.mcp.get(&id, &agent, &upstream) {
                Some(session) => (session, None),
                None => (open(&state, &principal, &agent, &upstream, &id).await?, None),
            }
        }
    };
    let mcp_headers = warrant_mcp::http::Headers {
        method: header("mcp-method"),
        name: header("mcp-name"),
    };
    let stream = header("accept").is_some_and(|accept| accept.contains("text/event-stream"));
    let mut response = match session.handle(&body, &mcp_headers, stream).await {
        Reply::Answer(answer) => axum::Json(answer).into_response(),
        Reply::Stream(messages) => {
            let events = futures_util::stream::unfold(messages, |mut messages| async move {
                let message = messages.recv().await?;
                let event = Event::default().data(message.to_string());
                Some((Ok::<_, std::convert::Infallible>(event), messages))
            });
            // Comments now and then keep proxies and clients from closing a stream that waits (an approval).
            Sse::new(events).keep_alive(KeepAlive::default()).into_response()
        }
        Reply::Accepted => StatusCode::ACCEPTED.into_response(),
        Reply::Refused(error) => (StatusCode::BAD_REQUEST, axum::Json(error)).into_response(),
    };
    if let Some(id) = opened
        && let Ok(value) = HeaderValue::from_str(&id)
    {
        response.headers_mut().insert("mcp-session-id", value);
    }
    Ok(response)
}

/// `DELETE /mcp/{upstream}`: end the session named in `Mcp-Session-Id` (a host closing), or without it every
/// session of the agent on that upstream; their upstream children stop. Answers how many ended.
pub async fn end(
    State(state): State<AppState>,
    caller: Caller,
    Path(upstream): Path<String>,
    Query(query): Query<GatewayQuery>,
    headers: HeaderMap,
) -> Result<axum::Json<Value>, ApiError> {
    let agent = speaks_for(caller.principal(), query.agent)?;
    let named = headers
        .get("mcp-session-id")
        .and_then(|value| value.to_str().ok());
    let ended = match named {
        Some(id) => {
            if !state.mcp.remove(id, &agent, &upstream) {
                return Err(ApiError::not_found("no such MCP session"));
            }
            1
        }
        None => state.mcp.remove_all(&agent, &upstream),
    };
    Ok(axum::Json(serde_json::json!({"ended": ended})))
}

fn speaks_for(principal: &Principal, named: Option<String>) -> Result<String, ApiError> {
    if let Some(agent) = named {
        warrant_service::identity::act_for(principal, &agent)?;
        return Ok(agent);
    }
    principal.sole_agent().map(str::to_owned).ok_or_else(|| {
        ApiError::new(
            StatusCode::FORBIDDEN,
            ErrorCode::AgentMismatch,
            "the MCP gateway speaks for one agent: name it with ?agent=, or use a credential bound to exactly one",
        )
    })
}

/// Start a session for `agent` on `upstream`: its child process and the relay around it.
async fn open(
    state: &AppState,
    principal: &Principal,
    agent: &str,
    upstream: &str,
    id: &str,
) -> Result<Arc<HttpSession>, ApiError> {
    let view = {
        let (store, principal, upstream, agent) = (
            state.store.clone(),
            principal.clone(),
            upstream.to_owned(),
            agent.to_owned(),
        );
        blocking(move || mcp::view(&store, &principal, &upstream, &agent)).await?
    };
    let spec = UpstreamSpec::from_view(&view)
        .map_err(|why| ApiError::new(StatusCode::BAD_GATEWAY, ErrorCode::Internal, why))?;
    let mut config = GatewayConfig::new(upstream, agent);
    config.session = id.to_owned();
    let governor = Arc::new(ServiceGovernor {
        state: state.clone(),
        principal: principal.clone(),
        server: upstream.to_owned(),
        agent: agent.to_owned(),
    });
    let shared = id.starts_with(STATELESS);
    let session = HttpSession::start(config, governor, spec, shared)
        .await
        .map_err(|why| ApiError::new(StatusCode::BAD_GATEWAY, ErrorCode::Internal, why))?;
    state.mcp.insert(id, agent, upstream, session).ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Unavailable,
            format!("the MCP gateway holds its maximum of {MAX_SESSIONS} sessions; try again later"),
        )
    })
}
