//! Who did something. Every request is made by a [`Principal`] (a bearer token, a workload's JWT, the local
//! user of a data directory, or warrant itself), and every record in the evidence log names the one that
//! wrote it, inside the hashed body.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::role::Role;

/// How a principal proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PrincipalKind {
    /// A bearer token issued by warrant (`tok_…`).
    Token,
    /// A JWT signed by the organisation's identity provider (`jwt:<issuer>#<subject>`).
    Jwt,
    /// The local user of a data directory, through the CLI in process (`local:<user>`).
    Local,
    /// warrant's own records: the evaluator, retention, the checkpointer.
    Warrant,
}

/// The holder of a valid credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Stable and unique: `tok_<hex>`, `jwt:<issuer>#<subject>`, `local:<user>` or `warrant`.
    pub id: String,
    pub kind: PrincipalKind,
    /// A readable name (the token's name, the JWT subject, the user, or `warrant:<component>`).
    pub name: String,
    pub role: Role,
    /// For an `agent` principal, the agents it may act for. Ignored for the other roles.
    pub agents: BTreeSet<String>,
    /// The person or workload behind the credential. Credentials of one person count as one for four eyes: a
    /// person may not approve a call they raised with another of their tokens.
    pub person: String,
    pub expires: Option<DateTime<Utc>>,
}

/// The id that marks warrant's own records.
pub const WARRANT_ID: &str = "warrant";

impl Principal {
    /// warrant itself, acting as `component` (`evaluator`, `retention`, …).
    pub fn warrant(component: &str) -> Principal {
        let name = if component.is_empty() {
            WARRANT_ID.to_owned()
        } else {
            format!("{WARRANT_ID}:{component}")
        };
        Principal {
            id: WARRANT_ID.into(),
            kind: PrincipalKind::Warrant,
            person: name.clone(),
            name,
            role: Role::Admin,
            agents: BTreeSet::new(),
            expires: None,
        }
    }

    /// The local user of a data directory (the CLI in process), with admin powers over it.
    pub fn local(user: &str) -> Principal {
        Principal::local_as(&format!("local:{user}"), Role::Admin)
    }

    /// Someone working in process on a data directory, named `name`, with `role` (the demo's committee, its
    /// auditor). The id is `local:` and the name.
    pub fn local_as(name: &str, role: Role) -> Principal {
        Principal {
            id: format!("local:{}", name.trim_start_matches("local:")),
            kind: PrincipalKind::Local,
            name: name.to_owned(),
            role,
            agents: BTreeSet::new(),
            person: name.to_owned(),
            expires: None,
        }
    }

    /// May this principal speak for `agent`? Admins (and warrant) may, for any agent (importing history,
    /// recording for an agent); an agent principal only for the agents it is bound to; no one else.
    pub fn may_act_for(&self, agent: &str) -> bool {
        match self.role {
            Role::Admin => true,
            Role::Agent => self.agents.contains(agent),
            Role::Approver | Role::Auditor => false,
        }
    }

    /// The one agent an agent principal acts for, when its set has exactly one member: what an event or span
    /// that names no agent is attributed to.
    pub fn sole_agent(&self) -> Option<&str> {
        match (self.role, self.agents.len()) {
            (Role::Agent, 1) => self.agents.iter().next().map(String::as_str),
            _ => None,
        }
    }

    /// Same person (or the same credential): four eyes refuses this pair.
    pub fn same_person(&self, id: &str, person: &str) -> bool {
        self.id == id || self.person == person
    }

    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.expires.is_some_and(|expires| expires <= now)
    }

    /// The principal as committed in an event's body: `{"id": …, "name": …}`.
    pub fn record(&self) -> Value {
        let mut object = Map::new();
        object.insert("id".into(), Value::String(self.id.clone()));
        object.insert("name".into(), Value::String(self.name.clone()));
        Value::Object(object)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(agents: &[&str]) -> Principal {
        Principal {
            id: "tok_1".into(),
            kind: PrincipalKind::Token,
            name: "support".into(),
            role: Role::Agent,
            agents: agents.iter().map(|agent| (*agent).to_owned()).collect(),
            person: "support".into(),
            expires: None,
        }
    }

    #[test]
    fn an_agent_principal_acts_only_for_its_own_agents() {
        let principal = agent(&["support-agent", "triage-agent"]);
        assert!(principal.may_act_for("support-agent"));
        assert!(principal.may_act_for("triage-agent"));
        assert!(!principal.may_act_for("payments-agent"));
        assert_eq!(principal.sole_agent(), None);
        assert_eq!(agent(&["support-agent"]).sole_agent(), Some("support-agent"));
        assert!(!agent(&[]).may_act_for("support-agent"));
    }

    #[test]
    fn readers_act_for_no_agent_and_admins_for_all() {
        let mut principal = agent(&["support-agent"]);
        principal.role = Role::Auditor;
        assert!(!principal.may_act_for("support-agent"));
        assert!(Principal::local("ana").may_act_for("payments-agent"));
        assert_eq!(
            Principal::warrant("retention").record(),
            serde_json::json!({"id": "warrant", "name": "warrant:retention"})
        );
    }
}
