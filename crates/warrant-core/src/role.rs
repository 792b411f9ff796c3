//! The roles a token can hold and what each may do.

/// A token's role. Each role's powers are fixed; `admin` can do everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// An agent or its gateway: writes events, asks the policy gate, reads its own approvals.
    Agent,
    /// Decides approvals and reads.
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

    /// May read the registry, the change log and reports.
    pub fn can_read(self) -> bool {
        matches!(self, Role::Approver | Role::Auditor | Role::Admin)
    }

    /// May change the registry and issue tokens.
    pub fn can_administer(self) -> bool {
        self == Role::Admin
    }

    /// May approve or deny what the policy gate held for a human. Never an agent: an agent must not approve
    /// its own calls.
    pub fn can_decide_approvals(self) -> bool {
        matches!(self, Role::Approver | Role::Admin)
    }

    /// May append activity events to the log.
    pub fn can_write_events(self) -> bool {
        matches!(self, Role::Agent | Role::Admin)
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
