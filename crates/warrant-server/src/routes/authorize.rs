//! `POST /v1/authorize`: the policy gate over HTTP (`warrant_service::gate::authorize`). Every decision is
//! committed as evidence before the answer goes out.

use axum::extract::State;
use chrono::Utc;
use warrant_api::gate::{AuthorizeRequest, AuthorizeResponse};
use warrant_service::gate::{self, GateSettings};

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::Json;

pub async fn authorize(
    State(state): State<AppState>,
    caller: Caller,
    Json(request): Json<AuthorizeRequest>,
) -> Result<axum::Json<AuthorizeResponse>, ApiError> {
    let answer = gate::authorize(
        &state.store,
        &state.gate,
        state.gate_settings(),
        caller.principal(),
        &request,
        Utc::now(),
    )
    .await?;
    Ok(axum::Json(answer))
}

impl AppState {
    pub(crate) fn gate_settings(&self) -> GateSettings {
        GateSettings {
            approval_ttl: chrono::Duration::from_std(self.config.approval_ttl)
                .unwrap_or(chrono::Duration::hours(1)),
        }
    }
}
