//! Tokens: issue, list and revoke. A secret is in its creation's answer and nowhere else; creating and
//! revoking are `token` events in the log.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use warrant_api::ErrorCode;
use warrant_api::tokens as wire;
use warrant_core::change::ChangeContext;
use warrant_core::identity::Principal;
use warrant_core::role::Role;
use warrant_store::{Store, TokenInfo, TokenSpec};

use crate::error::{Result, ServiceError};
use crate::limits::check_id;

/// An agent token may act for at most this many agents.
const MAX_AGENTS: usize = 1_000;

fn printable(text: &str, field: &str) -> Result<String> {
    let text = text.trim();
    if text.is_empty() || text.len() > 128 || text.chars().any(char::is_control) {
        return Err(ServiceError::invalid(
            ErrorCode::InvalidName,
            format!("a token's `{field}` is 1 to 128 printable characters"),
        ));
    }
    Ok(text.to_owned())
}

/// Check a token request: a known role, printable names, and agents exactly when the role is `agent`.
fn spec(request: wire::CreateToken, now: DateTime<Utc>) -> Result<TokenSpec> {
    let role = Role::parse(&request.role).ok_or_else(|| {
        ServiceError::invalid(
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
        return Err(ServiceError::invalid(
            ErrorCode::InvalidRequest,
            format!("a token may act for at most {MAX_AGENTS} agents"),
        ));
    }
    for agent in &agents {
        check_id("agents", agent)?;
    }
    match (role, agents.is_empty()) {
        (Role::Agent, true) => {
            return Err(ServiceError::invalid(
                ErrorCode::InvalidRequest,
                "an agent token names the agents it may act for: give `agents` (`--agent ID` on the CLI)",
            ));
        }
        (Role::Agent, false) | (_, true) => {}
        (_, false) => {
            return Err(ServiceError::invalid(
                ErrorCode::InvalidRequest,
                "only agent tokens are bound to agents; leave `agents` out for this role",
            ));
        }
    }
    if request.expires.is_some_and(|expires| expires <= now) {
        return Err(ServiceError::invalid(
            ErrorCode::InvalidRequest,
            "`expires` is in the past",
        ));
    }
    Ok(TokenSpec {
        name,
        role,
        agents,
        person,
        expires: request.expires,
    })
}

pub async fn create(
    store: &Store,
    request: wire::CreateToken,
    principal: &Principal,
    now: DateTime<Utc>,
) -> Result<wire::NewToken> {
    let spec = spec(request, now)?;
    let token = store
        .create_token(spec, ChangeContext::new(principal.clone(), None, now))
        .await?;
    Ok(wire::NewToken {
        info: to_wire(&token.info, now),
        token: token.secret,
    })
}

pub fn list(store: &Store, now: DateTime<Utc>) -> Result<Vec<wire::Token>> {
    Ok(store.tokens()?.iter().map(|token| to_wire(token, now)).collect())
}

pub async fn revoke(store: &Store, id: String, context: ChangeContext) -> Result<wire::Token> {
    check_id("id", &id)?;
    let now = context.time;
    let info = store.revoke_token(id, context).await?;
    Ok(to_wire(&info, now))
}

/// A token as listed, with its status as of `now`.
pub fn to_wire(token: &TokenInfo, now: DateTime<Utc>) -> wire::Token {
    let status = if token.revoked.is_some() {
        wire::TokenStatus::Revoked
    } else if token.unbound {
        wire::TokenStatus::Unbound
    } else if token.expires.is_some_and(|expires| expires <= now) {
        wire::TokenStatus::Expired
    } else {
        wire::TokenStatus::Active
    };
    wire::Token {
        id: token.id.clone(),
        name: token.name.clone(),
        role: token.role.as_str().to_owned(),
        agents: token.agents.clone(),
        person: token.person.clone(),
        created: token.created,
        expires: token.expires,
        revoked: token.revoked,
        last_used: token.last_used,
        status,
    }
}
