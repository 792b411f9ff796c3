//! What one event adds to the monitoring rollups. The same function reads an incoming event (at ingest, in
//! the writer's transaction) and a stored body (when the rollups are rebuilt from the log), so the two can
//! never disagree.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::event::Event;

/// Rollups are kept per hour of event time.
pub fn hour_of(time: &DateTime<Utc>) -> i64 {
    time.timestamp().div_euclid(3600)
}

/// One event's contribution to the rollups.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Facts {
    pub hour: i64,
    /// The agent, or `""` for events with none.
    pub agent: String,
    pub kind: String,
    pub decision: Option<DecisionFact>,
    /// A tool call: counts toward the tool's use and the agent's tool transitions within its trace.
    pub tool_call: Option<ToolFact>,
    /// A failed tool result: the tool's name.
    pub tool_error: Option<String>,
    pub usage: Option<UsageFact>,
    /// A data source read or written, or a tool call that says whether it read or wrote.
    pub access: Option<AccessFact>,
    /// The controls, clauses and articles the event evidences (`compliance::tags`).
    pub tags: Vec<String>,
}

/// What an agent touched and how: kept per agent, target and mode with the first and last hour, for the
/// risk analysis's declared-vs-observed findings.
#[derive(Debug, Clone, PartialEq)]
pub struct AccessFact {
    /// `source:<id>` or `tool:<id>`.
    pub target: String,
    /// `read`, `write` or `execute`.
    pub mode: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DecisionFact {
    pub name: String,
    /// The segment attributes as canonical JSON (keys sorted, values as text): `{}` when none.
    pub segment: String,
    pub outcome: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ToolFact {
    pub tool: String,
    pub latency_ms: Option<f64>,
    /// `t:<trace>` (else `s:<session>`): transitions are counted within it.
    pub sequence: Option<String>,
}

/// Cost, tokens and latency of a model call or a whole workflow run.
#[derive(Debug, Clone, PartialEq)]
pub struct UsageFact {
    /// `model` (an LLM call) or `workflow` (a root invocation).
    pub scope: &'static str,
    pub name: String,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost_usd: f64,
    pub latency_ms: Option<f64>,
}

/// The facts of an incoming event.
pub fn of_event(event: &Event) -> Facts {
    facts(
        event.kind.as_str(),
        event.agent.as_deref(),
        &event.time,
        Parents {
            trace: event.trace_id.as_deref(),
            session: event.session.as_deref(),
            has_parent: event.parent_span_id.is_some(),
        },
        &event.attrs,
    )
}

/// The facts of a stored body; `None` if the body is not an event (no kind or time).
pub fn of_body(body: &Value) -> Option<Facts> {
    let text = |name: &str| body.get(name).and_then(Value::as_str);
    let time = DateTime::parse_from_rfc3339(text("time")?)
        .ok()?
        .with_timezone(&Utc);
    let empty = Map::new();
    let attrs = body.get("attrs").and_then(Value::as_object).unwrap_or(&empty);
    Some(facts(
        text("kind")?,
        text("agent"),
        &time,
        Parents {
            trace: text("trace_id"),
            session: text("session"),
            has_parent: text("parent_span_id").is_some(),
        },
        attrs,
    ))
}

struct Parents<'a> {
    trace: Option<&'a str>,
    session: Option<&'a str>,
    has_parent: bool,
}

fn facts(
    kind: &str,
    agent: Option<&str>,
    time: &DateTime<Utc>,
    parents: Parents<'_>,
    attrs: &Map<String, Value>,
) -> Facts {
    let text = |name: &str| attrs.get(name).map(plain);
    let number = |name: &str| attrs.get(name).and_then(Value::as_f64);
    let count = |name: &str| attrs.get(name).and_then(Value::as_u64).unwrap_or(0);
    let mut facts = Facts {
        hour: hour_of(time),
        agent: agent.unwrap_or_default().to_owned(),
        kind: kind.to_owned(),
        tags: crate::compliance::tags(kind, attrs),
        ..Facts::default()
    };
    match kind {
        "decision" => {
            if let (Some(name), Some(outcome)) = (text("name"), text("outcome")) {
                facts.decision = Some(DecisionFact {
                    name,
                    segment: segment_key(attrs.get("segment")),
                    outcome,
                });
            }
        }
        "tool_call" => {
            if let Some(tool) = text("tool") {
                if let Some(mode) = text("access").filter(|mode| is_mode(mode)) {
                    facts.access = Some(AccessFact {
                        target: format!("tool:{tool}"),
                        mode,
                    });
                }
                facts.tool_call = Some(ToolFact {
                    tool,
                    latency_ms: number("latency_ms"),
                    sequence: parents
                        .trace
                        .map(|trace| format!("t:{trace}"))
                        .or_else(|| parents.session.map(|session| format!("s:{session}"))),
                });
            }
        }
        "data_access" => {
            if let Some(source) = text("source") {
                facts.access = Some(AccessFact {
                    target: format!("source:{source}"),
                    mode: text("mode")
                        .filter(|mode| is_mode(mode))
                        .unwrap_or_else(|| "read".into()),
                });
            }
        }
        "tool_result" if text("status").as_deref() == Some("error") => {
            facts.tool_error = text("tool");
        }
        "llm_call" => {
            facts.usage = Some(UsageFact {
                scope: "model",
                name: text("model").unwrap_or_else(|| "unknown".into()),
                input_tokens: count("input_tokens"),
                output_tokens: count("output_tokens"),
                cost_usd: number("cost_usd").unwrap_or(0.0),
                latency_ms: number("latency_ms"),
            });
        }
        "invocation" if !parents.has_parent => {
            let name = text("workflow")
                .or_else(|| text("name"))
                .or_else(|| agent.map(str::to_owned))
                .unwrap_or_else(|| "unknown".into());
            facts.usage = Some(UsageFact {
                scope: "workflow",
                name,
                input_tokens: 0,
                output_tokens: 0,
                cost_usd: 0.0,
                latency_ms: number("latency_ms"),
            });
        }
        _ => {}
    }
    facts
}

fn is_mode(mode: &str) -> bool {
    matches!(mode, "read" | "write" | "execute")
}

/// A segment object as canonical text: keys sorted, every value as plain text.
pub fn segment_key(segment: Option<&Value>) -> String {
    let sorted: BTreeMap<&str, String> = match segment {
        Some(Value::Object(map)) => map
            .iter()
            .map(|(key, value)| (key.as_str(), plain(value)))
            .collect(),
        _ => BTreeMap::new(),
    };
    serde_json::to_string(&sorted).unwrap_or_else(|_| "{}".into())
}

/// A segment key back into its pairs.
pub fn segment_pairs(key: &str) -> BTreeMap<String, String> {
    serde_json::from_str(key).unwrap_or_default()
}

fn plain(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}
