//! `ApiError`: the one error type handlers return. It becomes `{"error": {"code", "message"}}` with a fitting
//! status; internal details are logged, never sent.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use warrant_store::{ApprovalError, IncidentError, RecordError, StoreError};

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    /// Stable, machine-readable: scripts match on it.
    pub code: &'static str,
    pub message: String,
    /// Structured detail for the client, e.g. every problem in a manifest.
    pub details: Option<Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            details: None,
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn with_details(mut self, details: Value) -> ApiError {
        self.details = Some(details);
        self
    }

    /// A failure on our side. The cause goes to the server log; the client gets a generic message.
    pub fn internal(cause: &dyn std::fmt::Display) -> ApiError {
        tracing::error!(%cause, "internal error");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; see the server log",
        )
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> ApiError {
        match error {
            StoreError::TokenNameTaken(_) => {
                ApiError::new(StatusCode::CONFLICT, "conflict", error.to_string())
            }
            StoreError::TokenNotFound(_) => ApiError::not_found(error.to_string()),
            StoreError::TokenRevoked(_) => ApiError::new(StatusCode::CONFLICT, "conflict", error.to_string()),
            StoreError::Approval(ApprovalError::NotFound(_)) => ApiError::not_found(error.to_string()),
            StoreError::Approval(ApprovalError::SelfApproval(_)) => {
                ApiError::new(StatusCode::FORBIDDEN, "self_approval", error.to_string())
            }
            StoreError::Approval(_) => ApiError::new(StatusCode::CONFLICT, "conflict", error.to_string()),
            StoreError::Incident(IncidentError::NoAlert(_) | IncidentError::NoIncident(_)) => {
                ApiError::not_found(error.to_string())
            }
            StoreError::Incident(IncidentError::AlreadyPromoted { .. }) => {
                ApiError::new(StatusCode::CONFLICT, "conflict", error.to_string())
            }
            StoreError::Incident(IncidentError::Invalid(_)) => {
                ApiError::bad_request("invalid_request", error.to_string())
            }
            StoreError::Record(RecordError::NotFound(_)) => ApiError::not_found(error.to_string()),
            StoreError::Record(RecordError::Conflict(_)) => {
                ApiError::new(StatusCode::CONFLICT, "conflict", error.to_string())
            }
            StoreError::Record(RecordError::Invalid(_)) => {
                ApiError::bad_request("invalid_request", error.to_string())
            }
            StoreError::WriterStopped => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the store is shutting down",
            ),
            other => ApiError::internal(&other),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = json!({"code": self.code, "message": self.message});
        if let (Some(details), Some(object)) = (self.details, error.as_object_mut()) {
            object.insert("details".into(), details);
        }
        (self.status, Json(json!({ "error": error }))).into_response()
    }
}
