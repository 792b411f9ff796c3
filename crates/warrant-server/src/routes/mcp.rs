//! `GET /v1/mcp/{server}/agents/{agent}`: the MCP gateway's view of an upstream for one agent
//! (`warrant_service::mcp::view`), for a gateway running outside the server (`warrant mcp --server`).

use axum::extract::State;
use warrant_api::mcp::McpView;
use warrant_service::{blocking, mcp};

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::Path;

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
