//! Who may speak for which agent.

use warrant_api::ErrorCode;
use warrant_core::identity::Principal;

use crate::error::{Failure, Result, ServiceError};

/// The request speaks for `agent`: refused (`agent_mismatch`) unless `principal` may act for it.
pub fn act_for(principal: &Principal, agent: &str) -> Result<()> {
    if principal.may_act_for(agent) {
        return Ok(());
    }
    Err(agent_mismatch(principal, agent))
}

/// 403 `agent_mismatch`: the principal is not bound to `agent`.
pub fn agent_mismatch(principal: &Principal, agent: &str) -> ServiceError {
    let bound: Vec<&str> = principal.agents.iter().map(String::as_str).collect();
    ServiceError::new(
        Failure::Forbidden,
        ErrorCode::AgentMismatch,
        format!(
            "`{}` may act only for {}; not for `{agent}`",
            principal.name,
            if bound.is_empty() {
                "no agent".to_owned()
            } else {
                format!("`{}`", bound.join("`, `"))
            }
        ),
    )
}
