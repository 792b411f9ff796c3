//! OTLP/HTTP trace ingest: agent teams send the OpenTelemetry traces they already emit, and warrant turns each
//! span into evidence events. No SDK of warrant's own is needed.
//!
//! - [`decode`]: the request body (protobuf or OTLP/JSON, optionally gzip) into the OTLP wire types, and the
//!   response bodies, per the OTLP/HTTP specification;
//! - [`map`]: spans of the OpenTelemetry GenAI conventions and of OpenInference into warrant events
//!   (`docs/otlp.md` is the reference);
//! - [`build`]: small constructors for spans and attributes, for the demo and tests that send real OTLP.
//!
//! The wire types come from `opentelemetry-proto` (prost); none are written by hand.

pub mod build;
pub mod decode;
pub mod map;

pub use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
pub use opentelemetry_proto::tonic::common::v1 as common;
pub use opentelemetry_proto::tonic::resource::v1 as resource;
pub use opentelemetry_proto::tonic::trace::v1 as trace;
pub use prost::Message;
