//! `POST /v1/tokens`: issue a token. The secret is in this one response and nowhere else.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use warrant_core::role::Role;

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::Json;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    name: String,
    role: String,
}

pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Json(request): Json<CreateToken>,
) -> Result<(StatusCode, axum::Json<Value>), ApiError> {
    caller.require_admin()?;
    let role = Role::parse(&request.role).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_role",
            format!(
                "unknown role `{}`; use agent, approver, auditor or admin",
                request.role
            ),
        )
    })?;
    let name = request.name.trim();
    if name.is_empty() || name.len() > 128 || name.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "invalid_name",
            "a token name is 1 to 128 printable characters",
        ));
    }
    let token = state.store.create_token(name.to_owned(), role).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({"name": token.name, "role": token.role.as_str(), "token": token.secret})),
    ))
}
