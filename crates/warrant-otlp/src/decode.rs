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

    /// The most bytes a body may decode from, once decompressed. Decoded structures are far larger than
    /// their wire form (an empty span is 2 bytes of protobuf and a few hundred in memory), so these stay well
    /// below the server's general body limit; exporters send a few hundred spans per request.
    pub fn decoded_limit(self) -> usize {
        match self {
            Encoding::Protobuf => 16 * 1024 * 1024,
            Encoding::Json => 8 * 1024 * 1024,
        }
    }
}

/// At most this many spans per request; more is refused with 413 before the body is decoded.
pub const MAX_SPANS_PER_REQUEST: usize = 50_000;

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
    #[error("the body holds more than {MAX_SPANS_PER_REQUEST} spans; send them in smaller requests")]
    TooManySpans,
    #[error("the body is not a valid OTLP {encoding} ExportTraceServiceRequest: {message}")]
    Malformed { encoding: &'static str, message: String },
}

impl DecodeError {
    /// The HTTP status the OTLP/HTTP specification calls for.
    pub fn status(&self) -> u16 {
        match self {
            DecodeError::UnsupportedMediaType(_) | DecodeError::UnsupportedEncoding(_) => 415,
            DecodeError::TooLarge(_) | DecodeError::TooManySpans => 413,
            DecodeError::BadGzip(_) | DecodeError::Malformed { .. } => 400,
        }
    }

    /// A short machine-readable code, as in warrant's own error bodies.
    pub fn code(&self) -> &'static str {
        match self {
            DecodeError::UnsupportedMediaType(_) => "unsupported_media_type",
            DecodeError::UnsupportedEncoding(_) => "unsupported_encoding",
            DecodeError::BadGzip(_) => "bad_gzip",
            DecodeError::TooLarge(_) | DecodeError::TooManySpans => "payload_too_large",
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
            if count_spans(body).is_some_and(|spans| spans > MAX_SPANS_PER_REQUEST) {
                return Err(DecodeError::TooManySpans);
            }
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

/// The number of spans in a protobuf `ExportTraceServiceRequest`, by walking the wire format
/// (resource_spans = 1 → scope_spans = 2 → spans = 2) without decoding anything; `None` if the bytes are not
/// well-formed (the real decode then reports why).
fn count_spans(body: &[u8]) -> Option<usize> {
    let mut total = 0;
    for resource in fields(body, 1)? {
        for scope in fields(resource, 2)? {
            total += fields(scope, 2)?.len();
        }
    }
    Some(total)
}

/// The length-delimited fields numbered `wanted` in one message, skipping every other field.
fn fields(mut bytes: &[u8], wanted: u64) -> Option<Vec<&[u8]>> {
    let mut found = Vec::new();
    while !bytes.is_empty() {
        let key = varint(&mut bytes)?;
        let (number, wire) = (key >> 3, key & 7);
        match wire {
            0 => {
                varint(&mut bytes)?;
            }
            1 => bytes = bytes.get(8..)?,
            5 => bytes = bytes.get(4..)?,
            2 => {
                let length = usize::try_from(varint(&mut bytes)?).ok()?;
                let (field, rest) = (bytes.get(..length)?, bytes.get(length..)?);
                if number == wanted {
                    found.push(field);
                }
                bytes = rest;
            }
            _ => return None,
        }
    }
    Some(found)
}

fn varint(bytes: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = bytes.split_first()?;
        *bytes = rest;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

fn gunzip(body: &[u8], limit: usize) -> Result<Vec<u8>, DecodeError> {
    let mut out = Vec::with_capacity(body.len().saturating_mul(4).min(limit));
    // Every gzip member, as the format allows: a second member must not be silently dropped.
    let read = flate2::read::MultiGzDecoder::new(body)
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
        // Full success is `{}`; a partial success names its counts (int64 as a string, per OTLP/JSON).
        Encoding::Json => match &response.partial_success {
            None => b"{}".to_vec(),
            Some(partial) => serde_json::json!({"partialSuccess": {
                "rejectedSpans": partial.rejected_spans.to_string(),
                "errorMessage": partial.error_message,
            }})
            .to_string()
            .into_bytes(),
        },
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

    use std::io::Write;

    use prost::Message;

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
    fn spans_are_counted_from_the_wire_format() {
        use opentelemetry_proto::tonic::trace::v1::Span;
        let spans: Vec<Span> = (0..7).map(|_| Span::default()).collect();
        let request = crate::build::request(Vec::new(), spans);
        let mut bytes = request.encode_to_vec();
        bytes.extend(crate::build::request(Vec::new(), vec![Span::default(); 3]).encode_to_vec());
        assert_eq!(super::count_spans(&bytes), Some(10));
        assert_eq!(super::count_spans(&[0x0a, 0xff]), None);
        // 50,001 empty spans (2 bytes each) are refused before decoding.
        let mut many = Vec::new();
        let scope: Vec<u8> = std::iter::repeat_n([0x12u8, 0x00], 50_001).flatten().collect();
        let mut resource = vec![0x12];
        push_varint(&mut resource, scope.len());
        resource.extend(&scope);
        many.push(0x0a);
        push_varint(&mut many, resource.len());
        many.extend(&resource);
        assert!(matches!(
            decode_request(&many, Encoding::Protobuf, None, 1 << 24),
            Err(DecodeError::TooManySpans)
        ));
    }

    fn push_varint(out: &mut Vec<u8>, mut value: usize) {
        while value >= 0x80 {
            out.push((value as u8) | 0x80);
            value >>= 7;
        }
        out.push(value as u8);
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
