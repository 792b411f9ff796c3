//! The roles a token can hold and what each may do: [`Action`] names what a request does, and
//! [`Role::may`] is the one table of which role may do it. Every route of the API declares its action; the
//! server enforces the table before any handler runs, and the README and the OpenAPI document print it.

/// A token's role. Each role's powers are fixed; `admin` can do everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// An agent or its gateway, bound to the agents it may act for: writes their events, asks the policy gate
    /// for them, reads their approvals.
    Agent,
    /// Human oversight: reads, decides approvals, and acts on what monitoring and audits raise (updates and
    /// closes incidents, promotes alerts, treats risks, approves impact assessments, closes nonconformities,
    /// overrides an agent's outcome). Never changes the registry or tokens.
    Approver,
    /// Reads everything, exports and verifies evidence; never writes.
    Auditor,
    /// Registry, tokens, everything.
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Agent, Role::Approver, Role::Auditor, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::Approver => "approver",
            Role::Auditor => "auditor",
            Role::Admin => "admin",
        }
    }

    pub fn parse(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|role| role.as_str() == name)
    }
}

/// What a request does, as far as authorization is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Liveness, metrics and the API description: no token needed.
    Public,
    /// Check the log: its key, checkpoints and proofs. Any valid credential.
    Verify,
    /// Read the registry, the log's events, trails, reports and approvals.
    Read,
    /// Speak for an agent: append its events and spans, ask the gate, escalate. Agent tokens only for the
    /// agents they are bound to (403 `agent_mismatch` otherwise).
    ActForAgent,
    /// Read one approval: readers, and agent tokens bound to the approval's agent (who wait on it).
    ReadApproval,
    /// Approve or deny a held call; never the person who raised it (403 `self_approval`).
    DecideApproval,
    /// Act on oversight records: incidents, alerts, risks, impact assessments, nonconformities, overrides.
    Oversee,
    /// Export a signed evidence bundle: auditors and admins.
    Export,
    /// Change the registry, issue and revoke tokens, erase content, record documents and audits.
    Administer,
}

impl Action {
    pub const ALL: [Action; 9] = [
        Action::Public,
        Action::Verify,
        Action::Read,
        Action::ActForAgent,
        Action::ReadApproval,
        Action::DecideApproval,
        Action::Oversee,
        Action::Export,
        Action::Administer,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Public => "public",
            Action::Verify => "verify",
            Action::Read => "read",
            Action::ActForAgent => "act_for_agent",
            Action::ReadApproval => "read_approval",
            Action::DecideApproval => "decide_approval",
            Action::Oversee => "oversee",
            Action::Export => "export",
            Action::Administer => "administer",
        }
    }
}

impl Role {
    /// The role table: whether `self` may perform `action`. Agent binding (which agents) and four eyes (who
    /// raised an approval) are checked on top of this, where the request names the agent.
    pub fn may(self, action: Action) -> bool {
        use Role::{Admin, Agent, Approver, Auditor};
        match action {
            Action::Public | Action::Verify => true,
            Action::Read => matches!(self, Approver | Auditor | Admin),
            Action::ActForAgent => matches!(self, Agent | Admin),
            Action::ReadApproval => matches!(self, Agent | Approver | Auditor | Admin),
            Action::DecideApproval | Action::Oversee => matches!(self, Approver | Admin),
            Action::Export => matches!(self, Auditor | Admin),
            Action::Administer => self == Admin,
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
