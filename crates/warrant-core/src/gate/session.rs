//! Session taint: what a session has read and taken in so far, which the exfiltration rules look at. A
//! session's history is the calls the gate allowed in it plus the events ingested with its session id.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::event::{Event, EventKind};
use crate::gate::provenance::Provenance;
use crate::registry::Registry;
use crate::registry::manifest::{Access, Sensitivity};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionState {
    /// The highest sensitivity of data read in the session.
    pub max_sensitivity: Sensitivity,
    /// Where untrusted content first entered the session (a tool or data source id), if it has.
    pub untrusted_from: Option<String>,
    /// Recipients the user named at the start of the session, lowercased.
    pub user_named: BTreeSet<String>,
    /// Calls and events seen (the invocation that starts a run aside); recipients can only be named before
    /// the first.
    pub history: u64,
    /// Where the values the session has seen came from (the user, trusted output, untrusted output).
    pub provenance: Provenance,
}

impl SessionState {
    /// Record the recipients the user named, if the session has not started yet. Returns whether they were
    /// taken: naming recipients halfway through a session would let a prompt injection name its own.
    pub fn name_recipients<'a>(&mut self, recipients: impl IntoIterator<Item = &'a str>) -> bool {
        if self.history > 0 {
            return false;
        }
        for recipient in recipients {
            self.provenance.observe_user(recipient);
            self.user_named.insert(recipient.to_lowercase());
        }
        true
    }

    /// Whether the user named `recipient` for this session.
    pub fn was_named(&self, recipient: &str) -> bool {
        self.user_named.contains(&recipient.to_lowercase())
    }

    /// An allowed call of `tool`: a read of its sensitivity, and untrusted content if its output is.
    pub fn observe_call(&mut self, registry: &Registry, tool: &str) {
        self.history += 1;
        if let Some(tool) = registry.tool(tool) {
            if tool.access == Access::Read {
                self.max_sensitivity = self.max_sensitivity.max(tool.sensitivity);
            }
            if tool.untrusted_output && self.untrusted_from.is_none() {
                self.untrusted_from = Some(tool.id.clone());
            }
        }
    }

    /// An event ingested with this session's id: data access raises the sensitivity read, results of
    /// untrusted tools taint, and a `session` event may name the user's recipients.
    pub fn observe_event(&mut self, registry: &Registry, event: &Event) {
        self.observe_event_at(registry, event, None);
    }

    /// [`Self::observe_event`] for an event stored at `seq`: the user's request and tool results also feed
    /// the provenance of values (what a tool returned is remembered with the seq of its result).
    pub fn observe_event_at(&mut self, registry: &Registry, event: &Event, seq: Option<u64>) {
        let seen = Self::provenance_of(registry, event, seq);
        self.observe_prepared(registry, event, seen);
    }

    /// What `event` adds to a session's provenance (the user's request, a tool's output), worked out without
    /// the session: parsing a large output takes a while, so a caller holding a lock over sessions does this
    /// first and passes the result to [`Self::observe_prepared`].
    pub fn provenance_of(registry: &Registry, event: &Event, seq: Option<u64>) -> Provenance {
        let mut seen = Provenance::default();
        match event.kind {
            EventKind::Invocation => {
                for value in event.content.values() {
                    if let Some(text) = value.as_str() {
                        seen.observe_user(text);
                    } else {
                        seen.observe_user(&value.to_string());
                    }
                }
            }
            EventKind::ToolResult => {
                if let Some(name) = event.attrs.get("tool").and_then(Value::as_str) {
                    let tool = registry.tool(name);
                    let untrusted = tool.is_none_or(|tool| tool.untrusted_output);
                    // Only what a trusted tool reads vouches for a value: a write's confirmation echoes the
                    // arguments it was given ("sent to ..."), which must not vouch for them afterwards.
                    let vouches = tool.is_some_and(|tool| tool.access == Access::Read);
                    if untrusted || vouches {
                        for value in event.content.values() {
                            seen.observe_output_value(value, untrusted, name, seq);
                        }
                    }
                }
            }
            _ => {}
        }
        seen
    }

    /// [`Self::observe_event_at`] with the event's provenance already worked out by [`Self::provenance_of`].
    pub fn observe_prepared(&mut self, registry: &Registry, event: &Event, seen: Provenance) {
        self.provenance.merge(seen);
        match event.kind {
            EventKind::Session => {
                if let Some(named) = event.attrs.get("user_named").and_then(Value::as_array) {
                    self.name_recipients(named.iter().filter_map(Value::as_str));
                }
                return;
            }
            // The run's start (the user's request) is not a step of it: recipients may still be named.
            EventKind::Invocation => return,
            EventKind::DataAccess => {
                let declared = event
                    .attrs
                    .get("sensitivity")
                    .and_then(|value| serde_json::from_value::<Sensitivity>(value.clone()).ok());
                let source = event.attrs.get("source").and_then(Value::as_str);
                let registered = source
                    .and_then(|source| registry.data_source(source))
                    .map(|source| source.sensitivity);
                if let Some(sensitivity) = declared.into_iter().chain(registered).max() {
                    self.max_sensitivity = self.max_sensitivity.max(sensitivity);
                }
            }
            EventKind::ToolResult | EventKind::ToolCall => {
                if let Some(tool) = event.attrs.get("tool").and_then(Value::as_str)
                    && let Some(tool) = registry.tool(tool)
                {
                    if tool.untrusted_output
                        && event.kind == EventKind::ToolResult
                        && self.untrusted_from.is_none()
                    {
                        self.untrusted_from = Some(tool.id.clone());
                    }
                    if tool.access == Access::Read && event.kind == EventKind::ToolResult {
                        self.max_sensitivity = self.max_sensitivity.max(tool.sensitivity);
                    }
                }
            }
            _ => {}
        }
        self.history += 1;
    }
}

/// Sensitivity as the number the Cedar schema uses: 0 public … 3 restricted.
pub(crate) fn level(sensitivity: Sensitivity) -> i64 {
    match sensitivity {
        Sensitivity::Public => 0,
        Sensitivity::Internal => 1,
        Sensitivity::Confidential => 2,
        Sensitivity::Restricted => 3,
    }
}

pub(crate) fn name(sensitivity: Sensitivity) -> &'static str {
    match sensitivity {
        Sensitivity::Public => "public",
        Sensitivity::Internal => "internal",
        Sensitivity::Confidential => "confidential",
        Sensitivity::Restricted => "restricted",
    }
}
