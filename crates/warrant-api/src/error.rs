//! Errors on the wire: `{"error": {"code", "message", "details"?}}`, with one closed set of codes.

use serde::{Deserialize, Serialize};

/// Every error code the API answers with. Stable: scripts match on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The token is bound to other agents than the one the request speaks for (403).
    AgentMismatch,
    /// The body could not be read (400).
    BadBody,
    /// An OTLP body claims gzip and is not (400).
    BadGzip,
    /// The request contradicts the current state: a name taken, an approval already decided (409).
    Conflict,
    EmptyDocument,
    /// The role may not perform the route's action (403).
    Forbidden,
    /// A failure on the server's side; the cause is in the server log (500).
    Internal,
    InvalidErasure,
    InvalidEvent,
    InvalidKind,
    InvalidManifest,
    InvalidName,
    InvalidQuery,
    InvalidRequest,
    InvalidRole,
    InvalidSeq,
    InvalidStatus,
    MalformedJson,
    /// An OTLP body that does not decode as an export request (400).
    MalformedOtlp,
    MethodNotAllowed,
    /// An operation needs a signed checkpoint and none exists yet (409).
    NoCheckpoint,
    NotFound,
    OutOfRange,
    /// The body is larger than the server's limit (413).
    PayloadTooLarge,
    /// An approval decided by the principal or person who asked for it (403).
    SelfApproval,
    /// A registry object other objects still name (409).
    StillReferenced,
    /// One field of the body (a document) is larger than its own limit (413).
    TooLarge,
    /// No credential, or one that is unknown, expired or revoked (401).
    Unauthorized,
    /// The server is shutting down or overloaded; try again (503).
    Unavailable,
    UnknownControl,
    /// A `Content-Encoding` OTLP ingest does not take (415).
    UnsupportedEncoding,
    /// A `Content-Type` OTLP ingest does not take (415).
    UnsupportedMediaType,
}

impl ErrorCode {
    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::AgentMismatch => "agent_mismatch",
            ErrorCode::BadBody => "bad_body",
            ErrorCode::BadGzip => "bad_gzip",
            ErrorCode::Conflict => "conflict",
            ErrorCode::EmptyDocument => "empty_document",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::Internal => "internal",
            ErrorCode::InvalidErasure => "invalid_erasure",
            ErrorCode::InvalidEvent => "invalid_event",
            ErrorCode::InvalidKind => "invalid_kind",
            ErrorCode::InvalidManifest => "invalid_manifest",
            ErrorCode::InvalidName => "invalid_name",
            ErrorCode::InvalidQuery => "invalid_query",
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidRole => "invalid_role",
            ErrorCode::InvalidSeq => "invalid_seq",
            ErrorCode::InvalidStatus => "invalid_status",
            ErrorCode::MalformedJson => "malformed_json",
            ErrorCode::MalformedOtlp => "malformed_otlp",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::NoCheckpoint => "no_checkpoint",
            ErrorCode::NotFound => "not_found",
            ErrorCode::OutOfRange => "out_of_range",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::SelfApproval => "self_approval",
            ErrorCode::StillReferenced => "still_referenced",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::UnknownControl => "unknown_control",
            ErrorCode::UnsupportedEncoding => "unsupported_encoding",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
        }
    }

    /// Every code, for the OpenAPI check.
    pub const ALL: [ErrorCode; 32] = [
        ErrorCode::AgentMismatch,
        ErrorCode::BadBody,
        ErrorCode::BadGzip,
        ErrorCode::Conflict,
        ErrorCode::EmptyDocument,
        ErrorCode::Forbidden,
        ErrorCode::Internal,
        ErrorCode::InvalidErasure,
        ErrorCode::InvalidEvent,
        ErrorCode::InvalidKind,
        ErrorCode::InvalidManifest,
        ErrorCode::InvalidName,
        ErrorCode::InvalidQuery,
        ErrorCode::InvalidRequest,
        ErrorCode::InvalidRole,
        ErrorCode::InvalidSeq,
        ErrorCode::InvalidStatus,
        ErrorCode::MalformedJson,
        ErrorCode::MalformedOtlp,
        ErrorCode::MethodNotAllowed,
        ErrorCode::NoCheckpoint,
        ErrorCode::NotFound,
        ErrorCode::OutOfRange,
        ErrorCode::PayloadTooLarge,
        ErrorCode::SelfApproval,
        ErrorCode::StillReferenced,
        ErrorCode::TooLarge,
        ErrorCode::Unauthorized,
        ErrorCode::Unavailable,
        ErrorCode::UnknownControl,
        ErrorCode::UnsupportedEncoding,
        ErrorCode::UnsupportedMediaType,
    ];
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The body of every error answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ErrorDetail {
    pub code: ErrorCode,
    pub message: String,
    /// Structured detail, e.g. every problem in a manifest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_reads_back_from_its_wire_name() {
        for code in ErrorCode::ALL {
            let wire = serde_json::to_value(code).unwrap();
            assert_eq!(wire, serde_json::Value::String(code.as_str().into()));
            assert_eq!(serde_json::from_value::<ErrorCode>(wire).unwrap(), code);
        }
    }

    #[test]
    fn an_unknown_code_is_refused() {
        assert!(serde_json::from_str::<ErrorCode>("\"teapot\"").is_err());
    }
}
