//! One set of limits for every door (JSON API, OTLP, manifests, the MCP gateway): what one request may carry.
//! Over a limit is refused with a clear error, and nothing is written.

use warrant_api::ErrorCode;

use crate::error::{Result, ServiceError};

/// The longest id (agent, tool, session, approval, token): the same bound events and manifests use.
pub const MAX_ID_CHARS: usize = 256;

/// The most recipients a user may name for one session.
pub const MAX_USER_NAMED: usize = 1_000;

/// An id: 1 to [`MAX_ID_CHARS`] characters, no control characters.
pub fn check_id(field: &str, value: &str) -> Result<()> {
    if value.is_empty() {
        return Err(ServiceError::invalid(
            ErrorCode::InvalidRequest,
            format!("`{field}` must not be empty"),
        ));
    }
    if value.chars().count() > MAX_ID_CHARS || value.chars().any(char::is_control) {
        return Err(ServiceError::invalid(
            ErrorCode::InvalidRequest,
            format!("`{field}` must be at most {MAX_ID_CHARS} printable characters"),
        ));
    }
    Ok(())
}
