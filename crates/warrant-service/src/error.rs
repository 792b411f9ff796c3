//! `ServiceError`: what an operation refuses, with the kind of failure and the wire code. The HTTP layer maps
//! the kind to a status; the CLI and the console show the message.

use std::fmt;

use serde_json::Value;
use warrant_api::ErrorCode;
use warrant_store::{ApprovalError, IncidentError, RecordError, StoreError};

/// What kind of failure an error is, independent of any transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The request is malformed or breaks a rule (400).
    Invalid,
    /// The caller may not do this (403).
    Forbidden,
    /// What the request names does not exist (404).
    NotFound,
    /// The request contradicts the current state (409).
    Conflict,
    /// The request is larger than allowed (413).
    TooLarge,
    /// The service cannot take it now; try again (503).
    Unavailable,
    /// A failure on our side (500); the cause is logged, never shown.
    Internal,
}

#[derive(Debug)]
pub struct ServiceError {
    pub failure: Failure,
    pub code: ErrorCode,
    pub message: String,
    /// Structured detail for the client, e.g. every problem in a manifest.
    pub details: Option<Value>,
}

pub type Result<T, E = ServiceError> = std::result::Result<T, E>;

impl ServiceError {
    pub fn new(failure: Failure, code: ErrorCode, message: impl Into<String>) -> ServiceError {
        ServiceError {
            failure,
            code,
            message: message.into(),
            details: None,
        }
    }

    pub fn invalid(code: ErrorCode, message: impl Into<String>) -> ServiceError {
        ServiceError::new(Failure::Invalid, code, message)
    }

    pub fn not_found(message: impl Into<String>) -> ServiceError {
        ServiceError::new(Failure::NotFound, ErrorCode::NotFound, message)
    }

    pub fn conflict(code: ErrorCode, message: impl Into<String>) -> ServiceError {
        ServiceError::new(Failure::Conflict, code, message)
    }

    /// 409 `no_checkpoint`: the operation proves against a checkpoint and none is signed yet.
    pub fn no_checkpoint() -> ServiceError {
        ServiceError::conflict(ErrorCode::NoCheckpoint, "no checkpoint has been signed yet")
    }

    pub fn with_details(mut self, details: Value) -> ServiceError {
        self.details = Some(details);
        self
    }

    /// A failure on our side. The cause goes to the log; the caller gets a generic message.
    pub fn internal(cause: &dyn fmt::Display) -> ServiceError {
        tracing::error!(%cause, "internal error");
        ServiceError::new(
            Failure::Internal,
            ErrorCode::Internal,
            "internal error; see the server log",
        )
    }
}

impl fmt::Display for ServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

impl std::error::Error for ServiceError {}

impl From<StoreError> for ServiceError {
    fn from(error: StoreError) -> ServiceError {
        let message = error.to_string();
        let (failure, code) = match &error {
            StoreError::TokenNameTaken(_) | StoreError::TokenRevoked(_) | StoreError::LogExists(_) => {
                (Failure::Conflict, ErrorCode::Conflict)
            }
            StoreError::TokenNotFound(_)
            | StoreError::Approval(ApprovalError::NotFound(_))
            | StoreError::Incident(IncidentError::NoAlert(_) | IncidentError::NoIncident(_))
            | StoreError::Record(RecordError::NotFound(_)) => (Failure::NotFound, ErrorCode::NotFound),
            StoreError::Approval(ApprovalError::SelfApproval(_)) => {
                (Failure::Forbidden, ErrorCode::SelfApproval)
            }
            StoreError::Approval(_)
            | StoreError::Incident(IncidentError::AlreadyPromoted { .. })
            | StoreError::Record(RecordError::Conflict(_)) => (Failure::Conflict, ErrorCode::Conflict),
            StoreError::Incident(IncidentError::Invalid(_)) | StoreError::Record(RecordError::Invalid(_)) => {
                (Failure::Invalid, ErrorCode::InvalidRequest)
            }
            StoreError::Busy | StoreError::Unavailable(_) => {
                return ServiceError::new(Failure::Unavailable, ErrorCode::Unavailable, message);
            }
            StoreError::WriterStopped => {
                return ServiceError::new(
                    Failure::Unavailable,
                    ErrorCode::Unavailable,
                    "the store is shutting down",
                );
            }
            _ => return ServiceError::internal(&error),
        };
        ServiceError::new(failure, code, message)
    }
}
