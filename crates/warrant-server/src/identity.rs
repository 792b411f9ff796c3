//! Workload identity: an agent presents a JWT signed by the organisation's identity provider instead of a
//! warrant token. Filled in by `kind: IdentityProvider` manifests.

use chrono::{DateTime, Utc};
use warrant_core::registry::Registry;
use warrant_store::Principal;

/// Why a JWT was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum JwtError {
    #[error("a JWT was presented, but no identity provider is registered")]
    NoProvider,
}

/// A bearer credential shaped like a JWT (three base64url parts); warrant tokens start with `wrt_`.
pub fn looks_like_jwt(token: &str) -> bool {
    token.starts_with("eyJ") && token.split('.').count() == 3
}

pub fn verify_jwt(_registry: &Registry, _token: &str, _now: DateTime<Utc>) -> Result<Principal, JwtError> {
    Err(JwtError::NoProvider)
}
