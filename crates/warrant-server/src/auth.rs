//! Bearer-token authentication and role checks. Every handler takes a [`Caller`]; a missing or unknown token
//! is a 401 before the handler runs, and a handler asks the caller for the power it needs (403 if absent).

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use warrant_core::role::Role;
use warrant_store::Principal;

use crate::AppState;
use crate::error::ApiError;

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller(pub Principal);

impl Caller {
    pub fn name(&self) -> &str {
        &self.0.name
    }

    pub fn role(&self) -> Role {
        self.0.role
    }

    /// Read the registry, change log, log and reports.
    pub fn require_read(&self) -> Result<(), ApiError> {
        self.require(self.role().can_read(), "read this resource")
    }

    /// Change the registry or issue tokens.
    pub fn require_admin(&self) -> Result<(), ApiError> {
        self.require(self.role().can_administer(), "change the registry or tokens")
    }

    /// Approve or deny held calls.
    pub fn require_approver(&self) -> Result<(), ApiError> {
        self.require(self.role().can_decide_approvals(), "decide approvals")
    }

    /// Read an approval: readers, and agents (who poll for the decision on their own calls).
    pub fn require_approval_reader(&self) -> Result<(), ApiError> {
        self.require(
            self.role().can_read() || self.role() == Role::Agent,
            "read approvals",
        )
    }

    /// Append events to the evidence log.
    pub fn require_event_writer(&self) -> Result<(), ApiError> {
        self.require(self.role().can_write_events(), "write events")
    }

    fn require(&self, allowed: bool, action: &str) -> Result<(), ApiError> {
        if allowed {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!("role `{}` may not {action}", self.role()),
            ))
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Caller, ApiError> {
        let header = parts.headers.get(axum::http::header::AUTHORIZATION);
        let Some(header) = header else {
            // In-process use by the CLI on its own data directory acts as the local user.
            if let Some(local) = &state.local_principal {
                return Ok(Caller(local.clone()));
            }
            return Err(unauthorized("missing bearer token"));
        };
        let token = header
            .to_str()
            .ok()
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(|| unauthorized("the Authorization header must be `Bearer <token>`"))?;
        state
            .store
            .authenticate(token)
            .map(Caller)
            .ok_or_else(|| unauthorized("unknown or revoked token"))
    }
}

fn unauthorized(message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
}
