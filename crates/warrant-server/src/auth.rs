//! Authentication and the role table, enforced before any handler runs.
//!
//! Every route declares its [`Action`] when it is added to the router ([`crate::routes`]). The [`enforce`]
//! middleware authenticates the caller (a bearer token, or the local user of an in-process CLI), checks
//! [`Role::may`] for the route's action (401 without a valid credential, 403 without the power), and hands the
//! handler a [`Caller`]. Handlers then only check what depends on the request: which agent it names
//! ([`Caller::act_for`]) and, for approvals, who raised them.

use std::sync::Arc;
use warrant_api::ErrorCode;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use warrant_core::role::Action;
use warrant_store::{AuthError, Principal};

use crate::AppState;
use crate::error::ApiError;

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller(pub Arc<Principal>);

impl Caller {
    pub fn principal(&self) -> &Principal {
        &self.0
    }
}

/// Authenticate the caller and check the role table for the route's action.
pub async fn enforce(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let Some(action) = request.extensions().get::<Action>().copied() else {
        // Every route is added with its action; a route without one is a bug, and is closed, not open.
        return ApiError::internal(&"a route has no action in the role table").into_response();
    };
    if action == Action::Public {
        return next.run(request).await;
    }
    let principal = match authenticate(&state, request.headers()).await {
        Ok(principal) => principal,
        Err(error) => return error.into_response(),
    };
    if !principal.role.may(action) {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            ErrorCode::Forbidden,
            format!("role `{}` may not {}", principal.role, describe(action)),
        )
        .into_response();
    }
    request.extensions_mut().insert(Caller(principal));
    next.run(request).await
}

async fn authenticate(state: &AppState, headers: &axum::http::HeaderMap) -> Result<Arc<Principal>, ApiError> {
    let Some(header) = headers.get(axum::http::header::AUTHORIZATION) else {
        // In-process use by the CLI on its own data directory acts as the local user.
        if let Some(local) = &state.local_principal {
            return Ok(Arc::new(local.clone()));
        }
        return Err(unauthorized("missing bearer token"));
    };
    let token = header
        .to_str()
        .ok()
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or_else(|| unauthorized("the Authorization header must be `Bearer <token>`"))?;
    let now = Utc::now();
    if crate::identity::looks_like_jwt(token) {
        // Verifying may read a key file or fetch a key set: off the async workers.
        let (providers, registry, token) = (state.identity.clone(), state.store.registry(), token.to_owned());
        return tokio::task::spawn_blocking(move || providers.verify(&registry, &token))
            .await
            .map_err(|error| ApiError::internal(&error))?
            .map(Arc::new)
            .map_err(|error| unauthorized(&error.to_string()));
    }
    state.store.authenticate(token, now).map_err(|error| match error {
        AuthError::Unknown => unauthorized("unknown token"),
        other => unauthorized(&other.to_string()),
    })
}

fn describe(action: Action) -> &'static str {
    match action {
        Action::Public | Action::Verify => "do this",
        Action::Read => "read this resource",
        Action::ActForAgent => "act for an agent",
        Action::ReadApproval => "read approvals",
        Action::DecideApproval => "decide approvals",
        Action::Oversee => "act on oversight records",
        Action::Export => "export evidence",
        Action::Administer => "change the registry, tokens or records",
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Caller, ApiError> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| ApiError::internal(&"a handler asked for the caller on a public route"))
    }
}

fn unauthorized(message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized, message)
}
