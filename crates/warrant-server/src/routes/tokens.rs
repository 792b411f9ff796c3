//! `/v1/tokens` (`warrant_service::tokens`): issue, list and revoke tokens.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::Utc;
use warrant_api::Items;
use warrant_api::tokens::{CreateToken, NewToken, RevokeToken, Token};
use warrant_core::change::ChangeContext;
use warrant_service::{blocking, tokens};

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{Json, OptionalJson, Path};

pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Json(request): Json<CreateToken>,
) -> Result<(StatusCode, axum::Json<NewToken>), ApiError> {
    let token = tokens::create(&state.store, request, caller.principal(), Utc::now()).await?;
    Ok((StatusCode::CREATED, axum::Json(token)))
}

pub async fn list(State(state): State<AppState>) -> Result<axum::Json<Items<Token>>, ApiError> {
    let store = state.store.clone();
    let items = blocking(move || tokens::list(&store, Utc::now())).await?;
    Ok(axum::Json(Items { items }))
}

pub async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    OptionalJson(request): OptionalJson<RevokeToken>,
) -> Result<axum::Json<Token>, ApiError> {
    let context = ChangeContext::new(caller.principal().clone(), request.reason, Utc::now());
    Ok(axum::Json(tokens::revoke(&state.store, id, context).await?))
}
