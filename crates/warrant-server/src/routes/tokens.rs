//! `/v1/tokens`: issue, list and revoke tokens. A secret is in its creation's response and nowhere else;
//! creating and revoking are `token` events in the log.

use std::collections::BTreeSet;
use warrant_api::ErrorCode;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use warrant_core::change::ChangeContext;
use warrant_core::role::Role;
use warrant_store::{TokenInfo, TokenSpec};

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{Json, OptionalJson};
use warrant_service::limits::check_id;

/// An agent token may act for at most this many agents.
const MAX_AGENTS: usize = 1_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    name: String,
    role: String,
    /// For an agent token: the agents it may act for (at least one).
    #[serde(default)]
    agents: Vec<String>,
    /// The person behind the token (four eyes counts all of one person's tokens as one); defaults to the name.
    person: Option<String>,
    /// When the token stops working (RFC 3339).
    expires: Option<DateTime<Utc>>,
}

pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Json(request): Json<CreateToken>,
) -> Result<(StatusCode, axum::Json<Value>), ApiError> {
    let role = Role::parse(&request.role).ok_or_else(|| {
        ApiError::bad_request(
            ErrorCode::InvalidRole,
            format!(
                "unknown role `{}`; use agent, approver, auditor or admin",
                request.role
            ),
        )
    })?;
    let name = printable(&request.name, "name")?;
    let person = request
        .person
        .as_deref()
        .map(|person| printable(person, "person"))
        .transpose()?;
    let agents: BTreeSet<String> = request
        .agents
        .iter()
        .map(|agent| agent.trim().to_owned())
        .collect();
    if agents.len() > MAX_AGENTS {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidRequest,
            format!("a token may act for at most {MAX_AGENTS} agents"),
        ));
    }
    for agent in &agents {
        check_id("agents", agent)?;
    }
    match (role, agents.is_empty()) {
        (Role::Agent, true) => {
            return Err(ApiError::bad_request(
                ErrorCode::InvalidRequest,
                "an agent token names the agents it may act for: give `agents` (`--agent ID` on the CLI)",
            ));
        }
        (Role::Agent, false) | (_, true) => {}
        (_, false) => {
            return Err(ApiError::bad_request(
                ErrorCode::InvalidRequest,
                "only agent tokens are bound to agents; leave `agents` out for this role",
            ));
        }
    }
    let now = Utc::now();
    if request.expires.is_some_and(|expires| expires <= now) {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidRequest,
            "`expires` is in the past",
        ));
    }
    let spec = TokenSpec {
        name,
        role,
        agents,
        person,
        expires: request.expires,
    };
    let context = ChangeContext::new(caller.principal().clone(), None, now);
    let token = state.store.create_token(spec, context).await?;
    let mut answer = token_json(&token.info);
    if let Some(object) = answer.as_object_mut() {
        object.insert("token".into(), json!(token.secret));
    }
    Ok((StatusCode::CREATED, axum::Json(answer)))
}

pub async fn list(State(state): State<AppState>) -> Result<axum::Json<Value>, ApiError> {
    let store = state.store.clone();
    let tokens = crate::routes::blocking(move || Ok(store.tokens()?)).await?;
    Ok(axum::Json(
        json!({"items": tokens.iter().map(token_json).collect::<Vec<_>>()}),
    ))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RevokeRequest {
    reason: Option<String>,
}

pub async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    OptionalJson(request): OptionalJson<RevokeRequest>,
) -> Result<axum::Json<Value>, ApiError> {
    check_id("id", &id)?;
    let context = ChangeContext::new(caller.principal().clone(), request.reason, Utc::now());
    let info = state.store.revoke_token(id, context).await?;
    Ok(axum::Json(token_json(&info)))
}

fn printable(text: &str, field: &str) -> Result<String, ApiError> {
    let text = text.trim();
    if text.is_empty() || text.len() > 128 || text.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidName,
            format!("a token's `{field}` is 1 to 128 printable characters"),
        ));
    }
    Ok(text.to_owned())
}

fn token_json(token: &TokenInfo) -> Value {
    let status = if token.revoked.is_some() {
        "revoked"
    } else if token.unbound {
        "unbound"
    } else if token.expires.is_some_and(|expires| expires <= Utc::now()) {
        "expired"
    } else {
        "active"
    };
    json!({
        "id": token.id, "name": token.name, "role": token.role.as_str(), "agents": token.agents,
        "person": token.person, "created": token.created, "expires": token.expires,
        "revoked": token.revoked, "last_used": token.last_used, "status": status,
    })
}
