//! Events: the wire format every record of agent activity and governance arrives in (DESIGN.md, "Events"),
//! and its validation. The kind-specific attributes are documented in `docs/events.md`.

use chrono::{DateTime, Datelike, SecondsFormat, Utc};
use serde_json::{Map, Value};

/// Largest accepted event, as serialised JSON. Bigger payloads belong in a document store, not the log.
pub const MAX_EVENT_BYTES: usize = 256 * 1024;

/// What an event records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventKind {
    Invocation,
    LlmCall,
    Decision,
    ToolCall,
    ToolResult,
    DataAccess,
    Outcome,
    PolicyDecision,
    Approval,
    Escalation,
    Override,
    Review,
    Change,
    Alert,
    Incident,
    Erasure,
    Session,
    Risk,
    ImpactAssessment,
    Document,
    Audit,
    Token,
    /// A delivery attempt of a notification and its outcome.
    Notification,
}

impl EventKind {
    pub const ALL: [EventKind; 23] = [
        EventKind::Invocation,
        EventKind::LlmCall,
        EventKind::Decision,
        EventKind::ToolCall,
        EventKind::ToolResult,
        EventKind::DataAccess,
        EventKind::Outcome,
        EventKind::PolicyDecision,
        EventKind::Approval,
        EventKind::Escalation,
        EventKind::Override,
        EventKind::Review,
        EventKind::Change,
        EventKind::Alert,
        EventKind::Incident,
        EventKind::Erasure,
        EventKind::Session,
        EventKind::Risk,
        EventKind::ImpactAssessment,
        EventKind::Document,
        EventKind::Audit,
        EventKind::Token,
        EventKind::Notification,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Invocation => "invocation",
            EventKind::LlmCall => "llm_call",
            EventKind::Decision => "decision",
            EventKind::ToolCall => "tool_call",
            EventKind::ToolResult => "tool_result",
            EventKind::DataAccess => "data_access",
            EventKind::Outcome => "outcome",
            EventKind::PolicyDecision => "policy_decision",
            EventKind::Approval => "approval",
            EventKind::Escalation => "escalation",
            EventKind::Override => "override",
            EventKind::Review => "review",
            EventKind::Change => "change",
            EventKind::Alert => "alert",
            EventKind::Incident => "incident",
            EventKind::Erasure => "erasure",
            EventKind::Session => "session",
            EventKind::Risk => "risk",
            EventKind::ImpactAssessment => "impact_assessment",
            EventKind::Document => "document",
            EventKind::Audit => "audit",
            EventKind::Token => "token",
            EventKind::Notification => "notification",
        }
    }

    pub fn parse(name: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|kind| kind.as_str() == name)
    }
}

/// A validated event, before the log assigns it a sequence number.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The client's idempotency key: a resent event with the same id is stored once.
    pub id: Option<String>,
    pub time: DateTime<Utc>,
    pub agent: Option<String>,
    pub kind: EventKind,
    pub trace_id: Option<String>,
    pub span_id: Option<String>,
    pub parent_span_id: Option<String>,
    pub session: Option<String>,
    /// Kind-specific attributes; unknown ones are kept as they came.
    pub attrs: Map<String, Value>,
    /// Fields that may hold personal data. The log commits to a salted digest of each, never the text.
    pub content: Map<String, Value>,
}

/// Why an event was refused. `index` is the event's position in its batch (0-based).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("event {index}{}: {message}", .field.as_ref().map(|field| format!(", field `{field}`")).unwrap_or_default())]
pub struct EventError {
    pub index: usize,
    pub field: Option<String>,
    pub message: String,
}

/// Refuse an event whose JSON text (as it arrived) is over [`MAX_EVENT_BYTES`]. Checked on the raw text, before
/// parsing, so the limit costs no re-serialisation.
pub fn check_size(index: usize, raw_len: usize) -> Result<(), EventError> {
    if raw_len > MAX_EVENT_BYTES {
        return Err(EventError {
            index,
            field: None,
            message: format!("event is {raw_len} bytes, more than the limit of {MAX_EVENT_BYTES}"),
        });
    }
    Ok(())
}

impl Event {
    /// Validate one event of a batch from its JSON form. The size limit is checked on the raw text by
    /// [`check_size`].
    pub fn from_json(index: usize, value: Value) -> Result<Event, EventError> {
        let error = |field: Option<&str>, message: String| EventError {
            index,
            field: field.map(str::to_owned),
            message,
        };
        let Value::Object(mut object) = value else {
            return Err(error(None, "an event must be a JSON object".into()));
        };
        const KNOWN: [&str; 10] = [
            "id",
            "time",
            "agent",
            "kind",
            "trace_id",
            "span_id",
            "parent_span_id",
            "session",
            "attrs",
            "content",
        ];
        if let Some(unknown) = object.keys().find(|key| !KNOWN.contains(&key.as_str())) {
            return Err(error(
                Some(unknown),
                "unknown top-level field; put kind-specific data under `attrs` or `content`".into(),
            ));
        }
        let mut text = |name: &str| -> Result<Option<String>, EventError> {
            match object.remove(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(text)) if text.is_empty() => {
                    Err(error(Some(name), "must not be empty".into()))
                }
                Some(Value::String(text)) if text.len() > 256 => {
                    Err(error(Some(name), "must be at most 256 characters".into()))
                }
                Some(Value::String(text)) => Ok(Some(text)),
                Some(_) => Err(error(Some(name), "must be a string".into())),
            }
        };
        let id = text("id")?;
        let time_text = text("time")?.ok_or_else(|| error(Some("time"), "missing field `time`".into()))?;
        let agent = text("agent")?;
        let kind_name = text("kind")?.ok_or_else(|| error(Some("kind"), "missing field `kind`".into()))?;
        let trace_id = text("trace_id")?;
        let span_id = text("span_id")?;
        let parent_span_id = text("parent_span_id")?;
        let session = text("session")?;
        let time = DateTime::parse_from_rfc3339(&time_text)
            .map_err(|cause| {
                error(
                    Some("time"),
                    format!("`{time_text}` is not an RFC 3339 timestamp: {cause}"),
                )
            })?
            .with_timezone(&Utc);
        // RFC 3339 has four-digit years; an offset can push 9999-12-31 or 0000-01-01 out of them in UTC.
        if !(1..=9999).contains(&time.year()) {
            return Err(error(
                Some("time"),
                format!("`{time_text}` is outside the years 0001 to 9999 in UTC"),
            ));
        }
        let kind = EventKind::parse(&kind_name).ok_or_else(|| {
            let known: Vec<&str> = EventKind::ALL.iter().map(|kind| kind.as_str()).collect();
            error(
                Some("kind"),
                format!("unknown kind `{kind_name}`, expected one of {}", known.join(", ")),
            )
        })?;
        check_hex_id(&trace_id, 32).map_err(|message| error(Some("trace_id"), message))?;
        check_hex_id(&span_id, 16).map_err(|message| error(Some("span_id"), message))?;
        check_hex_id(&parent_span_id, 16).map_err(|message| error(Some("parent_span_id"), message))?;
        let mut object_field = |name: &str| -> Result<Map<String, Value>, EventError> {
            match object.remove(name) {
                None | Some(Value::Null) => Ok(Map::new()),
                Some(Value::Object(map)) => Ok(map),
                Some(_) => Err(error(Some(name), "must be a JSON object".into())),
            }
        };
        let attrs = object_field("attrs")?;
        let content = object_field("content")?;
        Ok(Event {
            id,
            time,
            agent,
            kind,
            trace_id,
            span_id,
            parent_span_id,
            session,
            attrs,
            content,
        })
    }

    /// The event as it travels on the wire (content in clear).
    pub fn to_json(&self) -> Value {
        let mut object = Map::new();
        let mut put = |key: &str, value: &Option<String>| {
            if let Some(value) = value {
                object.insert(key.to_owned(), Value::String(value.clone()));
            }
        };
        put("id", &self.id);
        put("agent", &self.agent);
        put("trace_id", &self.trace_id);
        put("span_id", &self.span_id);
        put("parent_span_id", &self.parent_span_id);
        put("session", &self.session);
        object.insert("time".into(), Value::String(format_time(&self.time)));
        object.insert("kind".into(), Value::String(self.kind.as_str().to_owned()));
        object.insert("attrs".into(), Value::Object(self.attrs.clone()));
        if !self.content.is_empty() {
            object.insert("content".into(), Value::Object(self.content.clone()));
        }
        Value::Object(object)
    }
}

/// RFC 3339 in UTC with the precision the value needs: the one spelling of a time in the log.
/// A time given by a person: an RFC 3339 time, or a date (YYYY-MM-DD, the day's start in UTC).
pub fn parse_when(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|time| time.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .ok()
                .and_then(|date| date.and_hms_opt(0, 0, 0))
                .map(|time| time.and_utc())
        })
}

pub fn format_time(time: &DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// W3C trace context ids (`length` hex digits): lowercase hex of a fixed length, not all zeros.
pub fn check_hex_id(value: &Option<String>, length: usize) -> Result<(), String> {
    let Some(value) = value else { return Ok(()) };
    let hex = value
        .bytes()
        .all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte));
    if value.len() != length || !hex {
        return Err(format!("`{value}` must be {length} lowercase hex digits"));
    }
    if value.bytes().all(|byte| byte == b'0') {
        return Err("an all-zero id is invalid in W3C trace context".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {

    use expect_test::{Expect, expect};
    use serde_json::json;

    use super::Event;

    fn check(value: serde_json::Value, expected: Expect) {
        let rendered = match Event::from_json(3, value) {
            Ok(event) => event.to_json().to_string(),
            Err(error) => error.to_string(),
        };
        expected.assert_eq(&rendered);
    }

    #[test]
    fn valid_event_keeps_unknown_attributes() {
        check(
            json!({"time": "2026-11-26T10:30:00.123+01:00", "kind": "decision", "agent": "a",
                   "trace_id": "0af7651916cd43dd8448eb211c80319c", "attrs": {"outcome": "x", "custom": [1]}}),
            expect![[
                r#"{"agent":"a","trace_id":"0af7651916cd43dd8448eb211c80319c","time":"2026-11-26T09:30:00.123Z","kind":"decision","attrs":{"outcome":"x","custom":[1]}}"#
            ]],
        );
    }

    #[test]
    fn errors_name_the_index_and_field() {
        check(
            json!({"time": "yesterday", "kind": "decision"}),
            expect![
                "event 3, field `time`: `yesterday` is not an RFC 3339 timestamp: premature end of input"
            ],
        );
        check(
            json!({"time": "2026-11-26T10:30:00Z", "kind": "guess"}),
            expect![
                "event 3, field `kind`: unknown kind `guess`, expected one of invocation, llm_call, decision, tool_call, tool_result, data_access, outcome, policy_decision, approval, escalation, override, review, change, alert, incident, erasure, session, risk, impact_assessment, document, audit, token, notification"
            ],
        );
        check(
            json!({"time": "2026-11-26T10:30:00Z", "kind": "decision", "span_id": "XYZ"}),
            expect![[r#"event 3, field `span_id`: `XYZ` must be 16 lowercase hex digits"#]],
        );
        check(
            json!({"time": "2026-11-26T10:30:00Z", "kind": "decision", "extra": 1}),
            expect![[
                r#"event 3, field `extra`: unknown top-level field; put kind-specific data under `attrs` or `content`"#
            ]],
        );
        check(
            json!([1]),
            expect![[r#"event 3: an event must be a JSON object"#]],
        );
    }

    #[test]
    fn oversized_event_is_refused() {
        let refused = super::check_size(3, super::MAX_EVENT_BYTES + 1).unwrap_err();
        expect!["event 3: event is 262145 bytes, more than the limit of 262144"]
            .assert_eq(&refused.to_string());
        assert!(super::check_size(3, super::MAX_EVENT_BYTES).is_ok());
    }

    #[test]
    fn times_that_leave_four_digit_years_in_utc_are_refused() {
        check(
            json!({"time": "9999-12-31T23:30:00-01:00", "kind": "decision"}),
            expect![
                "event 3, field `time`: `9999-12-31T23:30:00-01:00` is outside the years 0001 to 9999 in UTC"
            ],
        );
        check(
            json!({"time": "0000-01-01T00:30:00+01:00", "kind": "decision"}),
            expect![
                "event 3, field `time`: `0000-01-01T00:30:00+01:00` is outside the years 0001 to 9999 in UTC"
            ],
        );
    }
}
