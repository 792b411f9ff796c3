//! `POST /v1/traces`: the OTLP/HTTP trace receiver. Spans are decoded and mapped to events by `warrant-otlp`
//! (the same code the demo sends through), then appended like any batch: the answer comes after the durable
//! commit. Spans that cannot be taken (bad ids, oversized) are reported as an OTLP partial success; the others
//! are stored. A body that does not decode stores nothing.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use warrant_api::ErrorCode;
use warrant_otlp::decode::{DecodeError, Encoding, decode_request, encode_response, encode_status};
use warrant_otlp::map::map_request;

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::Body;
use crate::routes::events::store_events;
use warrant_service::events::bind_agent;

/// At most this many rejected spans are named in a partial-success message.
const MAX_NAMED_REJECTIONS: usize = 5;

pub async fn export(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Response, ApiError> {
    let header_text = |name: header::HeaderName| headers.get(name).and_then(|value| value.to_str().ok());
    let encoding = Encoding::from_content_type(header_text(header::CONTENT_TYPE)).map_err(|error| {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            otlp_code(&error),
            error.to_string(),
        )
    })?;
    // The answer carries the request's own content type (`application/protobuf` is an alias).
    let answer_type = header_text(header::CONTENT_TYPE)
        .and_then(|value| value.split(';').next())
        .map(|value| value.trim().to_ascii_lowercase())
        .filter(|value| value == "application/protobuf")
        .unwrap_or_else(|| encoding.content_type().to_owned());
    let content_encoding = header_text(header::CONTENT_ENCODING).map(str::to_owned);
    let limit = state.config.body_limit.min(encoding.decoded_limit());
    let registry = state.store.registry();
    // Decoding and mapping a large body is CPU work: keep it off the async workers.
    let mapped = tokio::task::spawn_blocking(move || {
        decode_request(&body, encoding, content_encoding.as_deref(), limit)
            .map(|request| map_request(&request, &registry))
    })
    .await
    .map_err(|error| ApiError::internal(&error))?;
    let mut mapping = match mapped {
        Ok(mapping) => mapping,
        Err(error) => return Ok(decode_error(encoding, &answer_type, &error)),
    };
    // Spans for an agent this token may not act for are rejected (a partial success); a span naming no
    // agent is the token's sole agent's.
    let principal = caller.principal();
    let mut bound = Vec::with_capacity(mapping.events.len());
    for mut event in std::mem::take(&mut mapping.events) {
        match bind_agent(principal, &mut event) {
            Ok(()) => bound.push(event),
            Err(message) => {
                let span = event.span_id.as_deref().unwrap_or("?");
                mapping
                    .rejected
                    .push(format!("span {span}: agent_mismatch: {message}"));
            }
        }
    }
    mapping.events = bound;
    state.metrics.record_spans(
        mapping.spans as u64,
        mapping.skipped as u64,
        mapping.rejected.len() as u64,
    );
    if !mapping.events.is_empty() {
        // A write that failed is worth retrying: OTLP clients retry 503, not 500.
        store_events(&state, mapping.events, principal)
            .await
            .map_err(|error| {
                tracing::error!(%error, "OTLP spans not stored");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    ErrorCode::Unavailable,
                    "the spans were not stored; retry",
                )
            })?;
    }
    let message = match mapping.rejected.len() {
        0 => String::new(),
        count => {
            let named: Vec<&str> = mapping
                .rejected
                .iter()
                .take(MAX_NAMED_REJECTIONS)
                .map(String::as_str)
                .collect();
            let more = count.saturating_sub(MAX_NAMED_REJECTIONS);
            let tail = if more > 0 {
                format!(" (and {more} more)")
            } else {
                String::new()
            };
            format!("{count} span(s) rejected: {}{tail}", named.join("; "))
        }
    };
    let rejected = i64::try_from(mapping.rejected.len()).unwrap_or(i64::MAX);
    Ok(otlp_response(
        StatusCode::OK,
        &answer_type,
        encode_response(encoding, rejected, &message),
    ))
}

/// A body that did not decode: the OTLP status code in the request's encoding for protobuf clients, warrant's
/// error shape for JSON ones.
fn decode_error(encoding: Encoding, answer_type: &str, error: &DecodeError) -> Response {
    let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::BAD_REQUEST);
    match encoding {
        Encoding::Json => ApiError::new(status, otlp_code(error), error.to_string()).into_response(),
        Encoding::Protobuf => {
            // gRPC codes: 8 = resource exhausted, 3 = invalid argument.
            let code = if status == StatusCode::PAYLOAD_TOO_LARGE {
                8
            } else {
                3
            };
            otlp_response(
                status,
                answer_type,
                encode_status(encoding, code, &error.to_string()),
            )
        }
    }
}

fn otlp_response(status: StatusCode, content_type: &str, body: Vec<u8>) -> Response {
    (status, [(header::CONTENT_TYPE, content_type.to_owned())], body).into_response()
}

/// The wire code of an OTLP decoding failure.
fn otlp_code(error: &DecodeError) -> ErrorCode {
    match error {
        DecodeError::UnsupportedMediaType(_) => ErrorCode::UnsupportedMediaType,
        DecodeError::UnsupportedEncoding(_) => ErrorCode::UnsupportedEncoding,
        DecodeError::BadGzip(_) => ErrorCode::BadGzip,
        DecodeError::TooLarge(_) | DecodeError::TooManySpans => ErrorCode::PayloadTooLarge,
        DecodeError::Malformed { .. } => ErrorCode::MalformedOtlp,
    }
}
