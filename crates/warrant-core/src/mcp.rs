//! What warrant knows of the tools an MCP upstream offers, and who may see them.
//!
//! Each listing an upstream sends is sorted against the registry: a tool must map to a declared `Tool`, its
//! definition must be the approved one, and the agent must hold a grant for it. The approved definition is
//! the digest the `McpServer` manifest pins or, when it pins none, the first definition warrant saw (trust
//! on first use, recorded). What an upstream offers is kept as `change` events on the `McpServer`, written
//! only when a tool's state changes, so the log says when a tool appeared undeclared, when a definition
//! changed under its name (tool poisoning, a rug pull) and when it was approved again; the monitor raises an
//! alert and the risk analysis a finding while such a tool stays hidden.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};
use warrant_log::Seq;

use crate::registry::Registry;
use crate::registry::manifest::McpServer;

/// The `op` of the change events that record what an upstream offers.
pub const OP_PINNED: &str = "mcp_tool_pinned";
pub const OP_HIDDEN: &str = "mcp_tool_hidden";
pub const OP_SHOWN: &str = "mcp_tool_shown";

/// Why a listed tool is not shown to an agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Hidden {
    /// The registry declares no Tool for it.
    Undeclared,
    /// Its definition is not the approved one.
    Changed,
    /// The agent holds no grant for it.
    NotGranted,
    /// The upstream listed the same name twice.
    Duplicate,
}

impl Hidden {
    pub fn as_str(self) -> &'static str {
        match self {
            Hidden::Undeclared => "undeclared",
            Hidden::Changed => "changed",
            Hidden::NotGranted => "not_granted",
            Hidden::Duplicate => "duplicate",
        }
    }

    fn parse(text: &str) -> Option<Hidden> {
        [Hidden::Undeclared, Hidden::Changed]
            .into_iter()
            .find(|reason| reason.as_str() == text)
    }
}

/// The recorded state of one upstream tool, for every agent alike: offered as approved, or hidden from all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Approved,
    Hidden(Hidden),
}

/// The latest recorded state of one upstream tool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub server: String,
    /// The upstream's name for the tool.
    pub name: String,
    /// The registry Tool it maps to.
    pub tool: String,
    pub state: State,
    /// The digest of the definition the state is about.
    pub sha256: String,
    /// The digest pinned on first use, if warrant pinned one (the latest such pin).
    pub first_use: Option<String>,
    pub seq: Seq,
}

/// The recorded tools of every upstream, by (server, upstream tool name).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Records(BTreeMap<(String, String), Record>);

impl Records {
    /// Read from the `change` events on `McpServer` objects, in log order; other changes are skipped.
    pub fn from_changes<'a>(changes: impl IntoIterator<Item = (Seq, &'a Map<String, Value>)>) -> Records {
        let mut records: BTreeMap<(String, String), Record> = BTreeMap::new();
        for (seq, attrs) in changes {
            let text = |key: &str| attrs.get(key).and_then(Value::as_str);
            let (Some(op), Some(server), Some(name), Some(tool), Some(sha256)) = (
                text("op"),
                text("object_id"),
                text("upstream_tool"),
                text("tool"),
                text("sha256"),
            ) else {
                continue;
            };
            let state = match op {
                OP_PINNED | OP_SHOWN => State::Approved,
                OP_HIDDEN => match text("reason").and_then(Hidden::parse) {
                    Some(reason) => State::Hidden(reason),
                    None => continue,
                },
                _ => continue,
            };
            let key = (server.to_owned(), name.to_owned());
            let first_use = if op == OP_PINNED {
                Some(sha256.to_owned())
            } else {
                records.get(&key).and_then(|record| record.first_use.clone())
            };
            records.insert(
                key,
                Record {
                    server: server.to_owned(),
                    name: name.to_owned(),
                    tool: tool.to_owned(),
                    state,
                    sha256: sha256.to_owned(),
                    first_use,
                    seq,
                },
            );
        }
        Records(records)
    }

    pub fn get(&self, server: &str, name: &str) -> Option<&Record> {
        self.0.get(&(server.to_owned(), name.to_owned()))
    }

    /// The tools still hidden from every agent under the current registry: undeclared ones the registry
    /// still does not declare, and changed ones whose definition is still not the approved one.
    pub fn still_hidden<'a>(
        &'a self,
        registry: &'a Registry,
    ) -> impl Iterator<Item = (&'a Record, Hidden)> + 'a {
        self.0.values().filter_map(move |record| {
            let State::Hidden(reason) = record.state else {
                return None;
            };
            let manifest = registry.mcp_server(&record.server)?;
            let tool = manifest.tool_id(&record.name);
            let holds = match reason {
                Hidden::Undeclared => registry.tool(&tool).is_none(),
                Hidden::Changed => {
                    registry.tool(&tool).is_some()
                        && approved_digest(manifest, &record.name, Some(record)).as_deref()
                            != Some(record.sha256.as_str())
                }
                Hidden::NotGranted | Hidden::Duplicate => false,
            };
            holds.then_some((record, reason))
        })
    }
}

/// The approved definition digest of upstream tool `name`: the manifest's pin, else the first-use pin.
pub fn approved_digest(manifest: &McpServer, name: &str, record: Option<&Record>) -> Option<String> {
    manifest
        .tools
        .get(name)
        .and_then(|binding| binding.sha256.clone())
        .or_else(|| record.and_then(|record| record.first_use.clone()))
}

/// One listed tool, sorted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sorted {
    pub name: String,
    pub tool: String,
    pub sha256: String,
    /// `None` when the agent may see it.
    pub hidden: Option<Hidden>,
    /// The approved digest, for a changed definition.
    pub approved: Option<String>,
    /// The state to record for this tool, when it differs from the latest record: the op and its reason.
    pub record: Option<(&'static str, Option<Hidden>)>,
}

/// Sort one upstream listing for an agent holding `granted`: `listed` is (name, definition digest) in the
/// upstream's order. Undeclared and changed tools are hidden from everyone; the rest from agents without a
/// grant.
pub fn sort(
    registry: &Registry,
    manifest: &McpServer,
    records: &Records,
    granted: &BTreeSet<&str>,
    listed: &[(String, String)],
) -> Vec<Sorted> {
    let mut seen = BTreeSet::new();
    listed
        .iter()
        .map(|(name, sha256)| {
            let tool = manifest.tool_id(name);
            let latest = records.get(&manifest.id, name);
            let approved = approved_digest(manifest, name, latest);
            let duplicate = !seen.insert(name.clone());
            let state = if registry.tool(&tool).is_none() {
                State::Hidden(Hidden::Undeclared)
            } else if approved.as_ref().is_some_and(|approved| approved != sha256) {
                State::Hidden(Hidden::Changed)
            } else {
                State::Approved
            };
            let record = if duplicate
                || latest.is_some_and(|latest| latest.state == state && latest.sha256 == *sha256)
            {
                None
            } else {
                match state {
                    // Nothing approved yet: this definition is the one later listings are held to.
                    State::Approved if approved.is_none() => Some((OP_PINNED, None)),
                    State::Approved => Some((OP_SHOWN, None)),
                    State::Hidden(reason) => Some((OP_HIDDEN, Some(reason))),
                }
            };
            let hidden = match state {
                _ if duplicate => Some(Hidden::Duplicate),
                State::Hidden(reason) => Some(reason),
                State::Approved if !granted.contains(tool.as_str()) => Some(Hidden::NotGranted),
                State::Approved => None,
            };
            Sorted {
                name: name.clone(),
                tool,
                sha256: sha256.clone(),
                hidden,
                approved: if hidden == Some(Hidden::Changed) {
                    approved
                } else {
                    None
                },
                record,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry(pin: Option<&str>) -> Registry {
        let pin = pin.map(|sha| format!(", sha256: {sha}")).unwrap_or_default();
        let text = format!(
            "kind: Tool\nid: crm.lookup\naccess: read\negress: internal\n---\n\
             kind: McpServer\nid: crm\ntransport: stdio\ncommand: crm-server\n\
             tools:\n  lookup: {{tool: crm.lookup{pin}}}\n"
        );
        let mut registry = Registry::default();
        let plan = registry.plan_apply(&text).expect("the registry applies");
        registry.apply(&plan.changes);
        registry
    }

    fn change(op: &str, name: &str, sha: &str, reason: Option<&str>) -> Map<String, Value> {
        let mut attrs = serde_json::json!({
            "op": op, "object_id": "crm", "upstream_tool": name, "tool": format!("crm.{name}"), "sha256": sha,
        });
        if let Some(reason) = reason {
            attrs["reason"] = reason.into();
        }
        attrs.as_object().cloned().unwrap_or_default()
    }

    fn sorted(registry: &Registry, records: &Records, listed: &[(&str, &str)]) -> Vec<Sorted> {
        let manifest = registry.mcp_server("crm").expect("declared").clone();
        let granted = BTreeSet::from(["crm.lookup"]);
        let listed: Vec<(String, String)> = listed
            .iter()
            .map(|(name, sha)| ((*name).to_owned(), (*sha).to_owned()))
            .collect();
        sort(registry, &manifest, records, &granted, &listed)
    }

    #[test]
    fn the_first_definition_is_pinned_and_a_later_one_hidden_until_it_comes_back() {
        let registry = registry(None);
        let first = sorted(&registry, &Records::default(), &[("lookup", "aa")]);
        assert_eq!(first[0].hidden, None);
        assert_eq!(first[0].record, Some((OP_PINNED, None)));

        let pinned = change(OP_PINNED, "lookup", "aa", None);
        let records = Records::from_changes([(Seq(1), &pinned)]);
        assert_eq!(sorted(&registry, &records, &[("lookup", "aa")])[0].record, None);
        let poisoned = sorted(&registry, &records, &[("lookup", "bb")]);
        assert_eq!(poisoned[0].hidden, Some(Hidden::Changed));
        assert_eq!(poisoned[0].approved.as_deref(), Some("aa"));
        assert_eq!(poisoned[0].record, Some((OP_HIDDEN, Some(Hidden::Changed))));

        let hidden = change(OP_HIDDEN, "lookup", "bb", Some("changed"));
        let records = Records::from_changes([(Seq(1), &pinned), (Seq(2), &hidden)]);
        assert_eq!(records.still_hidden(&registry).count(), 1);
        let back = sorted(&registry, &records, &[("lookup", "aa")]);
        assert_eq!(back[0].hidden, None);
        assert_eq!(back[0].record, Some((OP_SHOWN, None)));
        let shown = change(OP_SHOWN, "lookup", "aa", None);
        let records = Records::from_changes([(Seq(1), &pinned), (Seq(2), &hidden), (Seq(3), &shown)]);
        assert_eq!(records.still_hidden(&registry).count(), 0);
    }

    #[test]
    fn a_manifest_pin_wins_and_approves_a_changed_definition() {
        let pinned = change(OP_PINNED, "lookup", "aa", None);
        let hidden = change(OP_HIDDEN, "lookup", "bb", Some("changed"));
        let records = Records::from_changes([(Seq(1), &pinned), (Seq(2), &hidden)]);
        let approved = registry(Some(&"b".repeat(64)));
        let sha = "b".repeat(64);
        assert_eq!(
            records.still_hidden(&approved).count(),
            1,
            "the pin is not the hidden digest"
        );
        let listed = sorted(&approved, &records, &[("lookup", sha.as_str())]);
        assert_eq!(listed[0].hidden, None);
        assert_eq!(listed[0].record, Some((OP_SHOWN, None)));
    }

    #[test]
    fn undeclared_not_granted_and_duplicate_tools_are_hidden() {
        let registry = registry(None);
        let listed = sorted(
            &registry,
            &Records::default(),
            &[("lookup", "aa"), ("wipe", "cc"), ("lookup", "aa")],
        );
        assert_eq!(listed[1].hidden, Some(Hidden::Undeclared));
        assert_eq!(listed[1].record, Some((OP_HIDDEN, Some(Hidden::Undeclared))));
        assert_eq!(listed[2].hidden, Some(Hidden::Duplicate));
        assert_eq!(listed[2].record, None);

        let undeclared = change(OP_HIDDEN, "wipe", "cc", Some("undeclared"));
        let records = Records::from_changes([(Seq(4), &undeclared)]);
        let still: Vec<_> = records.still_hidden(&registry).collect();
        assert_eq!(still.len(), 1);
        assert_eq!(still[0].1, Hidden::Undeclared);

        let granted_nothing = BTreeSet::new();
        let manifest = registry.mcp_server("crm").expect("declared").clone();
        let listed = sort(
            &registry,
            &manifest,
            &Records::default(),
            &granted_nothing,
            &[("lookup".to_owned(), "aa".to_owned())],
        );
        assert_eq!(listed[0].hidden, Some(Hidden::NotGranted));
        assert_eq!(
            listed[0].record,
            Some((OP_PINNED, None)),
            "recorded whoever lists it"
        );
    }
}
