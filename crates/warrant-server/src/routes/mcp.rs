//! The MCP gateway's calls when it runs outside the server (`warrant mcp --server`):
//! `GET /v1/mcp/{server}/agents/{agent}` (how to reach the upstream and what the agent may see) and
//! `POST /v1/mcp/{server}/agents/{agent}/tools` (sort an upstream's `tools/list`, recording hidden tools).

use axum::extract::State;
use chrono::Utc;
use warrant_api::mcp::{McpView, ToolListing, ToolReview};
use warrant_service::{blocking, mcp};

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{Json, Path};

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
