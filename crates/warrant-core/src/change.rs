//! Registry changes as `change` events: who changed what, when, why, the field-level diff and whether it is a
//! substantial modification. The change log is these events; they go into the evidence log like any other.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use crate::event::{Event, EventKind};
use crate::identity::Principal;
use crate::registry::PlannedChange;
use crate::registry::manifest::Kind;

/// Who made a change and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeContext {
    /// Who made the change; its record is committed in the change's event.
    pub principal: Principal,
    pub reason: Option<String>,
    pub time: DateTime<Utc>,
}

impl ChangeContext {
    pub fn new(principal: Principal, reason: Option<String>, time: DateTime<Utc>) -> ChangeContext {
        ChangeContext {
            principal,
            reason,
            time,
        }
    }

    /// The name recorded as `by` in governance records (the principal's name).
    pub fn actor(&self) -> &str {
        &self.principal.name
    }
}

/// The event that records `change`, which brings the object to `version`.
pub fn change_event(change: &PlannedChange, version: u64, context: &ChangeContext) -> Event {
    let mut attrs = Map::new();
    attrs.insert("op".into(), json!(change.op.as_str()));
    attrs.insert("object_kind".into(), json!(change.kind.as_str()));
    attrs.insert("object_id".into(), json!(change.id));
    attrs.insert("version".into(), json!(version));
    attrs.insert("by".into(), json!(context.actor()));
    if let Some(reason) = &context.reason {
        attrs.insert("reason".into(), json!(reason));
    }
    attrs.insert("substantial".into(), json!(!change.substantial.is_empty()));
    if !change.substantial.is_empty() {
        attrs.insert("substantial_reasons".into(), json!(change.substantial));
    }
    attrs.insert(
        "diff".into(),
        Value::Array(change.diff.iter().map(|field| field.to_json()).collect()),
    );
    // The whole new manifest rides along so the registry at any point in time can be rebuilt from the log.
    if let Some(spec) = &change.spec {
        attrs.insert("spec".into(), spec.clone());
    }
    Event {
        id: None,
        time: context.time,
        agent: (change.kind == Kind::Agent).then(|| change.id.clone()),
        kind: EventKind::Change,
        trace_id: None,
        span_id: None,
        parent_span_id: None,
        session: None,
        attrs,
        content: Map::new(),
    }
}
