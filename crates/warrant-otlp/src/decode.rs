//! Request and response bodies of OTLP/HTTP (<https://opentelemetry.io/docs/specs/otlp/#otlphttp>).
//!
//! Requests are `application/x-protobuf` or `application/json` (the OTLP/JSON mapping: lowerCamelCase fields,
//! hex trace and span ids, 64-bit integers as strings), optionally `Content-Encoding: gzip`. A success answer
//! is an `ExportTraceServiceResponse` in the request's encoding; an error answer is a `google.rpc.Status`.

use std::io::Read;

use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;

/// The two encodings of OTLP/HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Protobuf,
    Json,
}

impl Encoding {
    /// The encoding a `Content-Type` names (parameters such as `charset` are ignored).
    pub fn from_content_type(content_type: Option<&str>) -> Result<Encoding, DecodeError> {
        let media = content_type
            .unwrap_or_default()
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        match media.as_str() {
            "application/x-protobuf" | "application/protobuf" => Ok(Encoding::Protobuf),
            "application/json" => Ok(Encoding::Json),
            _ => Err(DecodeError::UnsupportedMediaType(
                content_type.unwrap_or("none").to_owned(),
            )),
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Encoding::Protobuf => "application/x-protobuf",
            Encoding::Json => "application/json",
        }
    }
}

/// Why a request body was refused. Nothing of a refused body is stored.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("unsupported content type `{0}`: OTLP/HTTP takes application/x-protobuf or application/json")]
    UnsupportedMediaType(String),
    #[error("unsupported content encoding `{0}`: send gzip or no encoding")]
    UnsupportedEncoding(String),
    #[error("the body is not valid gzip: {0}")]
    BadGzip(String),
    #[error("the body is larger than {0} bytes once decompressed")]
    TooLarge(usize),
    #[error("the body is not a valid OTLP {encoding} ExportTraceServiceRequest: {message}")]
    Malformed { encoding: &'static str, message: String },
}

impl DecodeError {
    /// The HTTP status the OTLP/HTTP specification calls for.
    pub fn status(&self) -> u16 {
        match self {
            DecodeError::UnsupportedMediaType(_) | DecodeError::UnsupportedEncoding(_) => 415,
            DecodeError::TooLarge(_) => 413,
            DecodeError::BadGzip(_) | DecodeError::Malformed { .. } => 400,
        }
    }

    /// A short machine-readable code, as in warrant's own error bodies.
    pub fn code(&self) -> &'static str {
        match self {
            DecodeError::UnsupportedMediaType(_) => "unsupported_media_type",
            DecodeError::UnsupportedEncoding(_) => "unsupported_encoding",
            DecodeError::BadGzip(_) => "bad_gzip",
            DecodeError::TooLarge(_) => "payload_too_large",
            DecodeError::Malformed { .. } => "malformed_otlp",
        }
    }
}

/// Decode a request body. `limit` bounds the decompressed size, so a small gzip bomb cannot exhaust memory.
pub fn decode_request(
    body: &[u8],
    encoding: Encoding,
    content_encoding: Option<&str>,
    limit: usize,
) -> Result<ExportTraceServiceRequest, DecodeError> {
    let inflated;
    let body = match content_encoding
        .map(|value| value.trim().to_ascii_lowercase())
        .as_deref()
    {
        None | Some("") | Some("identity") => body,
        Some("gzip") => {
            inflated = gunzip(body, limit)?;
            inflated.as_slice()
        }
        Some(other) => return Err(DecodeError::UnsupportedEncoding(other.to_owned())),
    };
    if body.len() > limit {
        return Err(DecodeError::TooLarge(limit));
    }
    match encoding {
        Encoding::Protobuf => {
            ExportTraceServiceRequest::decode(body).map_err(|error| DecodeError::Malformed {
                encoding: "protobuf",
                message: error.to_string(),
            })
        }
        Encoding::Json => serde_json::from_slice(body).map_err(|error| DecodeError::Malformed {
            encoding: "JSON",
            message: error.to_string(),
        }),
    }
}

fn gunzip(body: &[u8], limit: usize) -> Result<Vec<u8>, DecodeError> {
    let mut out = Vec::with_capacity(body.len().saturating_mul(4).min(limit));
    let read = flate2::read::GzDecoder::new(body)
        .take(u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|error| DecodeError::BadGzip(error.to_string()))?;
    if read > limit {
        return Err(DecodeError::TooLarge(limit));
    }
    Ok(out)
}

/// The success answer: empty when every span was taken, a partial success naming the rejected count otherwise.
pub fn encode_response(encoding: Encoding, rejected_spans: i64, error_message: &str) -> Vec<u8> {
    let response = ExportTraceServiceResponse {
        partial_success: (rejected_spans > 0 || !error_message.is_empty()).then(|| {
            ExportTracePartialSuccess {
                rejected_spans,
                error_message: error_message.to_owned(),
            }
        }),
    };
    match encoding {
        Encoding::Protobuf => response.encode_to_vec(),
        Encoding::Json => serde_json::to_vec(&response).unwrap_or_else(|_| b"{}".to_vec()),
    }
}

/// `google.rpc.Status`, the body of an OTLP/HTTP error answer. opentelemetry-proto does not ship this
/// message, and pulling a gRPC crate in for three fields would cost more than declaring them; `details` is
/// left out (decoders skip absent fields).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Status {
    #[prost(int32, tag = "1")]
    pub code: i32,
    #[prost(string, tag = "2")]
    pub message: String,
}

/// An error answer's body in the request's encoding. `code` is a gRPC status code (3 = invalid argument,
/// 16 = unauthenticated, 7 = permission denied, 8 = resource exhausted, 13 = internal).
pub fn encode_status(encoding: Encoding, code: i32, message: &str) -> Vec<u8> {
    match encoding {
        Encoding::Protobuf => Status {
            code,
            message: message.to_owned(),
        }
        .encode_to_vec(),
        Encoding::Json => serde_json::json!({"code": code, "message": message})
            .to_string()
            .into_bytes(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use std::io::Write;

    use super::{DecodeError, Encoding, decode_request};

    #[test]
    fn content_types_are_matched_without_parameters() {
        assert_eq!(
            Encoding::from_content_type(Some("application/json; charset=utf-8")).unwrap(),
            Encoding::Json
        );
        assert_eq!(
            Encoding::from_content_type(Some("Application/X-Protobuf")).unwrap(),
            Encoding::Protobuf
        );
        assert_eq!(
            Encoding::from_content_type(Some("text/plain"))
                .unwrap_err()
                .status(),
            415
        );
        assert_eq!(Encoding::from_content_type(None).unwrap_err().status(), 415);
    }

    #[test]
    fn gzip_is_bounded_and_checked() {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(&vec![b' '; 10_000]).unwrap();
        let bomb = encoder.finish().unwrap();
        assert!(matches!(
            decode_request(&bomb, Encoding::Json, Some("gzip"), 1_000),
            Err(DecodeError::TooLarge(1_000))
        ));
        assert!(matches!(
            decode_request(b"not gzip", Encoding::Json, Some("gzip"), 1_000),
            Err(DecodeError::BadGzip(_))
        ));
        assert!(matches!(
            decode_request(b"{}", Encoding::Json, Some("br"), 1_000),
            Err(DecodeError::UnsupportedEncoding(_))
        ));
    }

    #[test]
    fn otlp_json_takes_hex_ids_and_string_integers() {
        let body =
            br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c",
            "spanId":"eee19b7ec3c1b174","name":"x","kind":1,"startTimeUnixNano":"1764149400000000000",
            "endTimeUnixNano":"1764149400005000000","attributes":[{"key":"n","value":{"intValue":"42"}}],
            "unknownField":true}]}]}]}"#;
        let request = decode_request(body, Encoding::Json, None, 1 << 20).unwrap();
        let span = &request.resource_spans[0].scope_spans[0].spans[0];
        assert_eq!(hex::encode(&span.trace_id), "5b8efff798038103d269b633813fc60c");
        assert_eq!(span.end_time_unix_nano - span.start_time_unix_nano, 5_000_000);
        let malformed = decode_request(b"\xff\xff\xff", Encoding::Protobuf, None, 1 << 20).unwrap_err();
        assert_eq!(malformed.status(), 400);
    }
}
