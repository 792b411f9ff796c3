//! Spans to events. `docs/otlp.md` is the reference for users; in short:
//!
//! | span (`gen_ai.operation.name` / `openinference.span.kind`) | events |
//! |---|---|
//! | `invoke_agent`, `create_agent` / `AGENT`; `invoke_workflow` / `CHAIN` | `invocation` |
//! | `chat`, `text_completion`, `generate_content`, `embeddings` / `LLM`, `EMBEDDING` | `llm_call` |
//! | `execute_tool` / `TOOL` (and MCP `tools/call`) | `tool_call`, then `tool_result` when there is a result or an error |
//! | `retrieval`, `search_memory` / `RETRIEVER`, `RERANKER` | `data_access` |
//! | other GenAI operations and OpenInference kinds | `invocation` with the operation named |
//!
//! On any span, `warrant.decision.*` adds a `decision`, `warrant.outcome.*` an `outcome` and
//! `warrant.data.source` a `data_access`. Spans with none of these markers (HTTP, database...) are not
//! evidence and are skipped.
//!
//! Prompts, messages, arguments, results and retrieved text go to `content`, which the log commits to by
//! salted digest and which can be erased. Attributes warrant does not read are kept: numbers, booleans and
//! known-safe text under `attrs.otel`, any other text under `content.attributes` (it may be a prompt).
//! A span's agent and session come from the span, else from its nearest ancestor in the same request, else
//! from the resource. Each event's idempotency key is `otlp:<trace>:<span>:<kind>`, so a resent span is stored
//! once.

use std::cell::Cell;
use std::collections::HashMap;

use chrono::DateTime;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use serde_json::{Map, Number, Value, json};
use warrant_core::enrich::enrich;
use warrant_core::event::{Event, EventKind, MAX_EVENT_BYTES, check_hex_id};
use warrant_core::registry::Registry;

/// The events a request maps to, and the spans refused.
#[derive(Debug, Default)]
pub struct Mapping {
    pub events: Vec<Event>,
    /// Spans in the request.
    pub spans: usize,
    /// Spans that carry no agent evidence (no GenAI, OpenInference or warrant attributes).
    pub skipped: usize,
    /// Refused spans, each with why: the partial success of the OTLP answer.
    pub rejected: Vec<String>,
}

/// Map every span of `request`. Events are enriched from `registry` (model prices, data sensitivity), and
/// agents named in the registry are preferred when a span names its agent several ways.
pub fn map_request(request: &ExportTraceServiceRequest, registry: &Registry) -> Mapping {
    let mut views = Vec::new();
    for resource_spans in &request.resource_spans {
        let resource: &[KeyValue] = resource_spans
            .resource
            .as_ref()
            .map(|resource| resource.attributes.as_slice())
            .unwrap_or_default();
        for scope in &resource_spans.scope_spans {
            for span in &scope.spans {
                views.push(View::new(span, resource));
            }
        }
    }
    let index: HashMap<(&[u8], &[u8]), usize> = views
        .iter()
        .enumerate()
        .map(|(position, view)| {
            (
                (view.span.trace_id.as_slice(), view.span.span_id.as_slice()),
                position,
            )
        })
        .collect();
    let mut mapping = Mapping {
        spans: views.len(),
        ..Mapping::default()
    };
    for view in &views {
        match map_span(view, &views, &index, registry) {
            Ok(events) if events.is_empty() => mapping.skipped += 1,
            Ok(events) => mapping.events.extend(events),
            Err(reason) => mapping.rejected.push(format!(
                "span {}/{}: {reason}",
                hex::encode(&view.span.trace_id),
                hex::encode(&view.span.span_id)
            )),
        }
    }
    mapping
}

/// What a span is, from its GenAI operation or OpenInference kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Agent,
    Workflow,
    Llm,
    Tool,
    Retrieval,
    Other,
}

fn classify(view: &View<'_>) -> Option<(Step, String)> {
    if let Some(operation) = view.text("gen_ai.operation.name") {
        let step = match operation {
            "invoke_agent" | "create_agent" => Step::Agent,
            "invoke_workflow" => Step::Workflow,
            "chat" | "text_completion" | "generate_content" | "embeddings" => Step::Llm,
            "execute_tool" => Step::Tool,
            "retrieval" | "search_memory" => Step::Retrieval,
            _ => Step::Other,
        };
        return Some((step, operation.to_owned()));
    }
    if let Some(kind) = view.text("openinference.span.kind") {
        let step = match kind {
            "AGENT" => Step::Agent,
            "CHAIN" => Step::Workflow,
            "LLM" | "EMBEDDING" => Step::Llm,
            "TOOL" => Step::Tool,
            "RETRIEVER" | "RERANKER" => Step::Retrieval,
            _ => Step::Other,
        };
        return Some((step, kind.to_ascii_lowercase()));
    }
    if view.text("mcp.method.name") == Some("tools/call") {
        return Some((Step::Tool, "execute_tool".into()));
    }
    None
}

fn map_span(
    view: &View<'_>,
    views: &[View<'_>],
    index: &HashMap<(&[u8], &[u8]), usize>,
    registry: &Registry,
) -> Result<Vec<Event>, String> {
    let span = view.span;
    let step = classify(view);
    let decision = view.has_prefix("warrant.decision.");
    let outcome = view.has_prefix("warrant.outcome.");
    let data_source = view.text("warrant.data.source").map(str::to_owned);
    let data_records = view.int("warrant.data.records");
    if step.is_none() && !decision && !outcome && data_source.is_none() {
        return Ok(Vec::new());
    }
    let trace = id_hex(&span.trace_id, 16, "trace id")?.ok_or("the trace id is empty")?;
    let span_id = id_hex(&span.span_id, 8, "span id")?.ok_or("the span id is empty")?;
    // Some converters write an all-zero parent for a root span: that is no parent, not a bad id.
    let parent = if span.parent_span_id.iter().all(|byte| *byte == 0) {
        None
    } else {
        id_hex(&span.parent_span_id, 8, "parent span id")?
    };
    if span.start_time_unix_nano == 0 {
        return Err("the span has no start time".into());
    }
    let start = time(span.start_time_unix_nano);
    let end = time(span.end_time_unix_nano.max(span.start_time_unix_nano));
    let latency_ms = span.end_time_unix_nano.saturating_sub(span.start_time_unix_nano) as f64 / 1e6;
    let agent = inherited(view, views, index, |view| agent_of(view, registry))
        .or_else(|| resource_agent(view.resource, registry));
    let session = inherited(view, views, index, |view| {
        view.text_any(&["gen_ai.conversation.id", "session.id", "warrant.session"])
            .map(str::to_owned)
    });
    for (field, value) in [("agent", &agent), ("session", &session)] {
        if value.as_ref().is_some_and(|value| value.len() > 256) {
            return Err(format!("the {field} is longer than 256 characters"));
        }
    }
    // The error's type is a class name, safe in attrs; its message often quotes the input, so it is content.
    let failed = span.status.as_ref().map(|status| status.code) == Some(StatusCode::Error as i32);
    let error = failed.then(|| view.text("error.type").unwrap_or("error").to_owned());
    let error_message = span
        .status
        .as_ref()
        .filter(|status| failed && !status.message.is_empty())
        .map(|status| Value::String(status.message.clone()));
    let base = Base {
        trace: &trace,
        span: &span_id,
        parent: parent.as_deref(),
        agent: agent.as_deref(),
        session: session.as_deref(),
    };
    // Markers are read before the main event, so they do not land among its unread attributes.
    let decision = decision.then(|| decision_attrs(view));
    let outcome = outcome.then(|| {
        view.with_prefix("warrant.outcome.")
            .map(|(key, value)| (key.to_owned(), value))
            .collect::<Map<String, Value>>()
    });
    let mut events = Vec::new();
    let is_retrieval = matches!(step, Some((Step::Retrieval, _)));
    if let Some((step, operation)) = step {
        let mut attrs = Map::new();
        attrs.insert("operation".into(), json!(operation));
        attrs.insert("span_name".into(), json!(span.name));
        attrs.insert("latency_ms".into(), number(latency_ms));
        if let Some(error) = &error {
            attrs.insert("status".into(), json!("error"));
            attrs.insert("error".into(), json!(error));
        }
        if let Some(service) = resource_text(view.resource, "service.name") {
            attrs.insert("service".into(), json!(service));
        }
        if let Some(link) = link_of(view, &trace) {
            attrs.insert("link".into(), link);
        }
        let mut content = Map::new();
        let kind = match step {
            Step::Agent | Step::Workflow | Step::Other => {
                view.put_text(&mut attrs, "agent_name", &["gen_ai.agent.name", "agent.name"]);
                view.put_text(&mut attrs, "agent_version", &["gen_ai.agent.version"]);
                view.put_text(&mut attrs, "provider", &["gen_ai.provider.name", "gen_ai.system"]);
                if step == Step::Workflow {
                    let workflow = view.text("gen_ai.workflow.name").unwrap_or(&span.name);
                    attrs.insert("workflow".into(), json!(workflow));
                }
                view.put_content(&mut content, "input", &["gen_ai.input.messages", "input.value"]);
                view.put_content(
                    &mut content,
                    "output",
                    &["gen_ai.output.messages", "output.value"],
                );
                EventKind::Invocation
            }
            Step::Llm => {
                let model = [
                    "gen_ai.response.model",
                    "gen_ai.request.model",
                    "llm.response.model_name",
                    "llm.model_name",
                    "llm.request.model_name",
                ];
                view.put_text(&mut attrs, "model", &model);
                // Providers answer with dated snapshots (`gpt-4o-2024-08-06`); the requested name is what a
                // price table usually lists, so keep it too when it differs.
                if let Some(requested) = view.text_any(&["gen_ai.request.model", "llm.request.model_name"])
                    && attrs.get("model").and_then(Value::as_str) != Some(requested)
                {
                    attrs.insert("request_model".into(), json!(requested));
                }
                let provider = [
                    "gen_ai.provider.name",
                    "gen_ai.system",
                    "llm.provider",
                    "llm.system",
                ];
                view.put_text(&mut attrs, "provider", &provider);
                let input = [
                    "gen_ai.usage.input_tokens",
                    "gen_ai.usage.prompt_tokens",
                    "llm.token_count.prompt",
                ];
                view.put_int(&mut attrs, "input_tokens", &input);
                let output = [
                    "gen_ai.usage.output_tokens",
                    "gen_ai.usage.completion_tokens",
                    "llm.token_count.completion",
                ];
                view.put_int(&mut attrs, "output_tokens", &output);
                if let Some(cost) = view.float("llm.cost.total") {
                    attrs.insert("cost_usd".into(), number(cost));
                    attrs.insert("cost_source".into(), json!("span"));
                }
                let input = ["gen_ai.input.messages", "gen_ai.prompt", "input.value"];
                view.put_content(&mut content, "input", &input);
                view.put_content(&mut content, "system", &["gen_ai.system_instructions"]);
                let output = ["gen_ai.output.messages", "gen_ai.completion", "output.value"];
                view.put_content(&mut content, "output", &output);
                view.put_prefix(&mut content, "input", "llm.input_messages.");
                view.put_prefix(&mut content, "output", "llm.output_messages.");
                EventKind::LlmCall
            }
            Step::Tool => {
                let tool = view
                    .text_any(&["gen_ai.tool.name", "tool.name"])
                    .map(str::to_owned)
                    .or_else(|| span.name.strip_prefix("tools/call ").map(str::to_owned))
                    .unwrap_or_else(|| span.name.clone());
                attrs.insert("tool".into(), json!(tool));
                view.put_text(
                    &mut attrs,
                    "call_id",
                    &["gen_ai.tool.call.id", "tool.id", "tool_call.id"],
                );
                view.put_text(&mut attrs, "tool_type", &["gen_ai.tool.type"]);
                let args = [
                    "gen_ai.tool.call.arguments",
                    "tool_call.function.arguments",
                    "input.value",
                ];
                view.put_content(&mut content, "args", &args);
                EventKind::ToolCall
            }
            Step::Retrieval => {
                retrieval(view, &mut attrs, &mut content);
                if let Some(source) = &data_source {
                    attrs.insert("source".into(), json!(source));
                }
                if let Some(records) = data_records {
                    attrs.entry("records").or_insert(json!(records));
                }
                EventKind::DataAccess
            }
        };
        // The tool's result belongs to the `tool_result` event below, not to the call.
        let result = if step == Step::Tool {
            view.content_any(&["gen_ai.tool.call.result", "output.value"])
        } else {
            None
        };
        view.put_prefix(&mut content, "documents", "retrieval.documents.");
        view.put_content(&mut content, "user", &["user.id"]);
        if let Some(message) = &error_message {
            content.insert("error_message".into(), message.clone());
        }
        let (safe, unknown) = view.unread();
        if !safe.is_empty() {
            attrs.insert("otel".into(), Value::Object(safe));
        }
        if !unknown.is_empty() {
            content.insert("attributes".into(), Value::Object(unknown));
        }
        events.push(base.event(kind, start, attrs, content));
        if step == Step::Tool && (result.is_some() || error.is_some()) {
            let mut attrs = Map::new();
            let tool = events
                .last()
                .and_then(|call| call.attrs.get("tool"))
                .cloned()
                .unwrap_or(Value::Null);
            attrs.insert("tool".into(), tool);
            view.put_text(
                &mut attrs,
                "call_id",
                &["gen_ai.tool.call.id", "tool.id", "tool_call.id"],
            );
            attrs.insert(
                "status".into(),
                json!(if error.is_some() { "error" } else { "ok" }),
            );
            let mut content = Map::new();
            if let Some(result) = result {
                content.insert("result".into(), result);
            }
            events.push(base.event(EventKind::ToolResult, end, attrs, content));
        }
    }
    if let Some(source) = data_source.filter(|_| !is_retrieval) {
        let mut attrs = Map::new();
        attrs.insert("source".into(), json!(source));
        if let Some(records) = data_records {
            attrs.insert("records".into(), json!(records));
        }
        events.push(base.event(EventKind::DataAccess, start, attrs, Map::new()));
    }
    if let Some((attrs, content)) = decision {
        events.push(base.event(EventKind::Decision, end, attrs, content));
    }
    if let Some(attrs) = outcome {
        events.push(base.event(EventKind::Outcome, end, attrs, Map::new()));
    }
    for event in &mut events {
        enrich(event, registry);
    }
    if span_size_may_exceed_limit(span) {
        for event in &events {
            let size = serde_json::to_vec(&event.to_json())
                .map(|bytes| bytes.len())
                .unwrap_or(0);
            if size > MAX_EVENT_BYTES {
                return Err(format!(
                    "its `{}` event is {size} bytes, more than the limit of {MAX_EVENT_BYTES}",
                    event.kind.as_str()
                ));
            }
        }
    }
    Ok(events)
}

/// `warrant.decision.*`: `segment.<key>` into `segment`, `reason` into content, the rest as attributes.
fn decision_attrs(view: &View<'_>) -> (Map<String, Value>, Map<String, Value>) {
    let mut attrs = Map::new();
    let mut content = Map::new();
    let mut segment = Map::new();
    for (key, value) in view.with_prefix("warrant.decision.") {
        if let Some(name) = key.strip_prefix("segment.") {
            segment.insert(name.to_owned(), value);
        } else if key == "reason" {
            content.insert("reason".into(), value);
        } else {
            attrs.insert(key.to_owned(), value);
        }
    }
    if !segment.is_empty() {
        attrs.insert("segment".into(), Value::Object(segment));
    }
    (attrs, content)
}

/// The parts every event of one span shares.
struct Base<'a> {
    trace: &'a str,
    span: &'a str,
    parent: Option<&'a str>,
    agent: Option<&'a str>,
    session: Option<&'a str>,
}

impl Base<'_> {
    fn event(
        &self,
        kind: EventKind,
        time: DateTime<chrono::Utc>,
        attrs: Map<String, Value>,
        content: Map<String, Value>,
    ) -> Event {
        Event {
            id: Some(format!("otlp:{}:{}:{}", self.trace, self.span, kind.as_str())),
            time,
            agent: self.agent.map(str::to_owned),
            kind,
            trace_id: Some(self.trace.to_owned()),
            span_id: Some(self.span.to_owned()),
            parent_span_id: self.parent.map(str::to_owned),
            session: self.session.map(str::to_owned),
            attrs,
            content,
        }
    }
}

/// OpenInference `retrieval.documents.N.document.*`: ids, scores and sources go to `attrs.documents` (the
/// text stays in content); the source is `gen_ai.data_source.id` or the documents' common `metadata.source`.
fn retrieval(view: &View<'_>, attrs: &mut Map<String, Value>, content: &mut Map<String, Value>) {
    view.put_content(content, "query", &["input.value", "gen_ai.memory.query.text"]);
    let mut documents: Vec<Map<String, Value>> = Vec::new();
    for (key, value) in view.peek_prefix("retrieval.documents.") {
        let Some((position, field)) = key.split_once('.') else {
            continue;
        };
        let Ok(position) = position.parse::<usize>() else {
            continue;
        };
        if position >= 1_000 {
            continue;
        }
        if documents.len() <= position {
            documents.resize_with(position + 1, Map::new);
        }
        let Some(document) = documents.get_mut(position) else {
            continue;
        };
        match field {
            "document.id" => {
                document.insert("id".into(), value);
            }
            "document.score" => {
                document.insert("score".into(), value);
            }
            "document.metadata" => {
                let metadata = match value {
                    Value::String(text) => serde_json::from_str(&text).unwrap_or(Value::String(text)),
                    other => other,
                };
                if let Some(source) = metadata.get("source") {
                    document.insert("source".into(), source.clone());
                }
            }
            _ => {}
        }
    }
    let sources: Vec<&Value> = documents
        .iter()
        .filter_map(|document| document.get("source"))
        .collect();
    let common = sources
        .first()
        .filter(|first| sources.iter().all(|source| source == *first));
    if let Some(source) = view.text("gen_ai.data_source.id") {
        attrs.insert("source".into(), json!(source));
    } else if let Some(source) = common {
        attrs.insert("source".into(), (*source).clone());
    }
    if !documents.is_empty() {
        attrs.insert("records".into(), json!(documents.len()));
        attrs.insert(
            "documents".into(),
            Value::Array(documents.into_iter().map(Value::Object).collect()),
        );
    }
}

/// The agent a span names itself. A name the registry knows wins over one it does not, so an
/// `asst_...` provider id does not hide a registered `gen_ai.agent.name`.
fn agent_of(view: &View<'_>, registry: &Registry) -> Option<String> {
    if let Some(agent) = view.text("warrant.agent.id") {
        return Some(agent.to_owned());
    }
    let names = ["gen_ai.agent.id", "gen_ai.agent.name", "agent.name"];
    let named: Vec<&str> = names.iter().filter_map(|key| view.text(key)).collect();
    named
        .iter()
        .find(|name| registry.agent(name).is_some())
        .or(named.first())
        .map(|name| (*name).to_owned())
}

fn resource_agent(resource: &[KeyValue], registry: &Registry) -> Option<String> {
    for key in ["warrant.agent.id", "gen_ai.agent.id", "gen_ai.agent.name"] {
        if let Some(agent) = resource_text(resource, key) {
            return Some(agent.to_owned());
        }
    }
    resource_text(resource, "service.name")
        .filter(|service| registry.agent(service).is_some())
        .map(str::to_owned)
}

/// A value from the span itself or its nearest ancestor in this request that has it.
fn inherited<T>(
    view: &View<'_>,
    views: &[View<'_>],
    index: &HashMap<(&[u8], &[u8]), usize>,
    read: impl Fn(&View<'_>) -> Option<T>,
) -> Option<T> {
    let mut at = view;
    // A bound on the walk: a forged parent loop must not spin.
    for _ in 0..64 {
        if let Some(value) = read(at) {
            return Some(value);
        }
        let parent = index.get(&(at.span.trace_id.as_slice(), at.span.parent_span_id.as_slice()))?;
        at = views.get(*parent)?;
    }
    None
}

/// The span another trace was started from: the first span link to another trace, or
/// `warrant.link.trace_id` / `warrant.link.span_id`.
fn link_of(view: &View<'_>, own_trace: &str) -> Option<Value> {
    if let (Some(trace), Some(span)) = (
        view.text("warrant.link.trace_id"),
        view.text("warrant.link.span_id"),
    ) {
        let valid = check_hex_id(&Some(trace.to_owned()), 32).is_ok()
            && check_hex_id(&Some(span.to_owned()), 16).is_ok();
        return (valid && trace != own_trace).then(|| json!({"trace_id": trace, "span_id": span}));
    }
    view.span.links.iter().find_map(|link| {
        let trace = id_hex(&link.trace_id, 16, "").ok()??;
        let span = id_hex(&link.span_id, 8, "").ok()??;
        (trace != own_trace).then(|| json!({"trace_id": trace, "span_id": span}))
    })
}

/// Lowercase hex of a W3C id; `None` when empty; an error when of the wrong length or all zeros.
fn id_hex(bytes: &[u8], length: usize, what: &str) -> Result<Option<String>, String> {
    if bytes.is_empty() {
        return Ok(None);
    }
    if bytes.len() != length {
        return Err(format!("the {what} has {} bytes, not {length}", bytes.len()));
    }
    if bytes.iter().all(|byte| *byte == 0) {
        return Err(format!("the {what} is all zeros"));
    }
    Ok(Some(hex::encode(bytes)))
}

fn time(nanos: u64) -> DateTime<chrono::Utc> {
    DateTime::from_timestamp_nanos(i64::try_from(nanos).unwrap_or(i64::MAX))
}

fn number(value: f64) -> Value {
    Number::from_f64((value * 1000.0).round() / 1000.0).map_or(Value::Null, Value::Number)
}

/// Only spans this big are measured against the event size limit; smaller ones cannot reach it.
fn span_size_may_exceed_limit(span: &Span) -> bool {
    use prost::Message;
    // JSON escaping can blow a byte up sixfold (`\u0001`).
    span.encoded_len() > MAX_EVENT_BYTES / 8
}

fn resource_text<'a>(resource: &'a [KeyValue], key: &str) -> Option<&'a str> {
    resource
        .iter()
        .find(|attribute| attribute.key == key)
        .and_then(|attribute| match attribute.value.as_ref()?.value.as_ref()? {
            Any::StringValue(text) if !text.is_empty() => Some(text.as_str()),
            _ => None,
        })
}

/// Prefixes and keys whose values may hold personal data: they go to `content`, never to `attrs`.
const CONTENT_KEYS: [&str; 13] = [
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.system_instructions",
    "gen_ai.prompt",
    "gen_ai.completion",
    "gen_ai.tool.call.arguments",
    "gen_ai.tool.call.result",
    "gen_ai.memory.query.text",
    "input.value",
    "output.value",
    "tool_call.function.arguments",
    "user.id",
    "warrant.decision.reason",
];
const CONTENT_PREFIXES: [&str; 5] = [
    "llm.input_messages.",
    "llm.output_messages.",
    "retrieval.documents.",
    "llm.prompt_template.variables",
    "gen_ai.memory.records",
];

/// Attribute prefixes whose text is about the system, not about a person: kept in clear.
const SAFE_TEXT_PREFIXES: [&str; 12] = [
    "gen_ai.request.",
    "gen_ai.response.id",
    "gen_ai.response.finish_reasons",
    "gen_ai.output.type",
    "gen_ai.operation.",
    "gen_ai.tool.description",
    "server.",
    "network.",
    "http.request.method",
    "http.response.status_code",
    "mcp.method.name",
    "openinference.",
];

/// A span with a note of which attributes were read, so the rest can be kept under `attrs.otel`.
struct View<'a> {
    span: &'a Span,
    resource: &'a [KeyValue],
    read: Vec<Cell<bool>>,
}

impl<'a> View<'a> {
    fn new(span: &'a Span, resource: &'a [KeyValue]) -> View<'a> {
        View {
            span,
            resource,
            read: span.attributes.iter().map(|_| Cell::new(false)).collect(),
        }
    }

    fn find(&self, key: &str) -> Option<&'a AnyValue> {
        let position = self
            .span
            .attributes
            .iter()
            .position(|attribute| attribute.key == key)?;
        if let Some(read) = self.read.get(position) {
            read.set(true);
        }
        self.span.attributes.get(position)?.value.as_ref()
    }

    fn text(&self, key: &str) -> Option<&'a str> {
        match self.find(key)?.value.as_ref()? {
            Any::StringValue(text) if !text.is_empty() => Some(text),
            _ => None,
        }
    }

    fn text_any(&self, keys: &[&str]) -> Option<&'a str> {
        keys.iter().find_map(|key| self.text(key))
    }

    fn int(&self, key: &str) -> Option<i64> {
        match self.find(key)?.value.as_ref()? {
            Any::IntValue(value) => Some(*value),
            Any::DoubleValue(value) if value.fract() == 0.0 => Some(*value as i64),
            Any::StringValue(text) => text.trim().parse().ok(),
            _ => None,
        }
    }

    fn float(&self, key: &str) -> Option<f64> {
        match self.find(key)?.value.as_ref()? {
            Any::DoubleValue(value) => Some(*value),
            Any::IntValue(value) => Some(*value as f64),
            Any::StringValue(text) => text.trim().parse().ok(),
            _ => None,
        }
    }

    fn put_text(&self, attrs: &mut Map<String, Value>, name: &str, keys: &[&str]) {
        if let Some(text) = self.text_any(keys) {
            attrs.insert(name.to_owned(), json!(text));
        }
    }

    fn put_int(&self, attrs: &mut Map<String, Value>, name: &str, keys: &[&str]) {
        if let Some(value) = keys.iter().find_map(|key| self.int(key)) {
            attrs.insert(name.to_owned(), json!(value));
        }
    }

    /// The first of `keys` present, as JSON: a string holding a JSON object or array is parsed, since
    /// arguments, results and messages are usually sent as JSON text.
    fn content_any(&self, keys: &[&str]) -> Option<Value> {
        keys.iter().find_map(|key| {
            let value = self.find(key)?;
            Some(match value.value.as_ref()? {
                Any::StringValue(text) if text.starts_with(['{', '[']) => {
                    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.clone()))
                }
                _ => any_to_json(value),
            })
        })
    }

    fn put_content(&self, content: &mut Map<String, Value>, name: &str, keys: &[&str]) {
        if content.contains_key(name) {
            return;
        }
        if let Some(value) = self.content_any(keys) {
            content.insert(name.to_owned(), value);
        }
    }

    /// Flattened list attributes (`llm.input_messages.0.message.content`) as one object of their flat keys.
    fn put_prefix(&self, content: &mut Map<String, Value>, name: &str, prefix: &str) {
        let values: Map<String, Value> = self
            .with_prefix(prefix)
            .map(|(key, value)| (key.to_owned(), value))
            .collect();
        if !values.is_empty() && !content.contains_key(name) {
            content.insert(name.to_owned(), Value::Object(values));
        }
    }

    fn has_prefix(&self, prefix: &str) -> bool {
        self.span
            .attributes
            .iter()
            .any(|attribute| attribute.key.starts_with(prefix))
    }

    /// Attributes under `prefix`, with the prefix cut off, marked as read.
    fn with_prefix<'s>(&'s self, prefix: &'s str) -> impl Iterator<Item = (&'a str, Value)> + 's {
        self.span
            .attributes
            .iter()
            .zip(&self.read)
            .filter_map(move |(attribute, read)| {
                let rest = attribute.key.strip_prefix(prefix)?;
                read.set(true);
                Some((rest, attribute.value.as_ref().map_or(Value::Null, any_to_json)))
            })
    }

    /// Like [`View::with_prefix`], without marking: the values also go to content whole.
    fn peek_prefix<'s>(&'s self, prefix: &'s str) -> impl Iterator<Item = (&'a str, Value)> + 's {
        self.span.attributes.iter().filter_map(move |attribute| {
            let rest = attribute.key.strip_prefix(prefix)?;
            Some((rest, attribute.value.as_ref().map_or(Value::Null, any_to_json)))
        })
    }

    /// Attributes nobody read, split in two: numbers, booleans and the text of known-safe keys (kept in
    /// `attrs.otel`), and every other value (kept in `content.attributes`, erasable). Unknown text may be
    /// anything, a prompt included, so it is treated as content; keys mapped to content elsewhere are left out.
    fn unread(&self) -> (Map<String, Value>, Map<String, Value>) {
        let mut safe = Map::new();
        let mut unknown = Map::new();
        for (attribute, read) in self.span.attributes.iter().zip(&self.read) {
            if read.get() || is_content(&attribute.key) {
                continue;
            }
            let value = attribute.value.as_ref().map_or(Value::Null, any_to_json);
            let scalar = matches!(value, Value::Number(_) | Value::Bool(_) | Value::Null);
            if scalar
                || SAFE_TEXT_PREFIXES
                    .iter()
                    .any(|prefix| attribute.key.starts_with(prefix))
            {
                safe.insert(attribute.key.clone(), value);
            } else {
                unknown.insert(attribute.key.clone(), value);
            }
        }
        (safe, unknown)
    }
}

fn is_content(key: &str) -> bool {
    CONTENT_KEYS.contains(&key) || CONTENT_PREFIXES.iter().any(|prefix| key.starts_with(prefix))
}

fn any_to_json(value: &AnyValue) -> Value {
    match &value.value {
        None => Value::Null,
        Some(Any::StringValue(text)) => Value::String(text.clone()),
        Some(Any::BoolValue(flag)) => Value::Bool(*flag),
        Some(Any::IntValue(number)) => json!(number),
        Some(Any::DoubleValue(number)) => Number::from_f64(*number).map_or(Value::Null, Value::Number),
        Some(Any::ArrayValue(array)) => Value::Array(array.values.iter().map(any_to_json).collect()),
        Some(Any::KvlistValue(list)) => Value::Object(
            list.values
                .iter()
                .map(|entry| {
                    let value = entry.value.as_ref().map_or(Value::Null, any_to_json);
                    (entry.key.clone(), value)
                })
                .collect(),
        ),
        Some(Any::BytesValue(bytes)) => Value::String(hex::encode(bytes)),
        Some(Any::StringValueStrindex(_)) => Value::Null,
    }
}
