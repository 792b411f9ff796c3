//! Periodic access reviews of tool grants. Each grant is due for review a fixed time after its last review (or,
//! never reviewed, after it was approved), by the agent's risk class: high every 90 days, limited 180,
//! minimal 365. A grant past its date is overdue.

use chrono::NaiveDate;

use crate::registry::Registry;
use crate::registry::manifest::{RiskClass, Status};

/// One grant's review status.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ReviewDue {
    pub agent: String,
    pub tool: String,
    pub risk_class: RiskClass,
    pub cadence_days: i64,
    /// The last review, or the approval date of a grant never reviewed.
    pub since: Option<NaiveDate>,
    /// When the next review is due; `None` for a grant with no date at all (due now).
    pub due: Option<NaiveDate>,
    pub overdue: bool,
}

/// Days between reviews for an agent of `risk_class`.
pub fn cadence_days(risk_class: RiskClass) -> i64 {
    match risk_class {
        RiskClass::High => 90,
        RiskClass::Limited => 180,
        RiskClass::Minimal => 365,
    }
}

/// Every grant of every agent still in use (not retired), soonest due first; grants with no date first.
pub fn due(registry: &Registry, today: NaiveDate) -> Vec<ReviewDue> {
    let mut reviews: Vec<ReviewDue> = registry
        .agents()
        .filter(|agent| agent.status != Status::Retired)
        .flat_map(|agent| {
            agent.tools.iter().map(move |grant| {
                let cadence = cadence_days(agent.risk_class);
                let since = grant.last_reviewed.or(grant.approved_on);
                let due = since.map(|since| since + chrono::Duration::days(cadence));
                ReviewDue {
                    agent: agent.id.clone(),
                    tool: grant.tool.clone(),
                    risk_class: agent.risk_class,
                    cadence_days: cadence,
                    since,
                    due,
                    overdue: due.is_none_or(|due| due < today),
                }
            })
        })
        .collect();
    reviews.sort_by(|a, b| {
        a.due
            .cmp(&b.due)
            .then_with(|| a.agent.cmp(&b.agent))
            .then_with(|| a.tool.cmp(&b.tool))
    });
    reviews
}

#[cfg(test)]
mod tests {

    use chrono::NaiveDate;

    use super::due;
    use crate::registry::Registry;

    #[test]
    fn cadence_follows_risk_class_and_overdue_grants_are_flagged() {
        let text = "
kind: Tool
id: t
access: read
egress: internal
---
kind: Agent
id: high-agent
purpose: p
owner: o
risk_class: high
decision_scope: execute
oversight: human-in-the-loop
tools:
  - {tool: t, access: read, approved_by: x, approved_on: 2026-01-01, last_reviewed: 2026-08-01}
---
kind: Agent
id: low-agent
purpose: p
owner: o
risk_class: minimal
decision_scope: recommend
oversight: none
tools:
  - {tool: t, access: read, approved_by: x, approved_on: 2026-01-01}
---
kind: Agent
id: undated
purpose: p
owner: o
risk_class: limited
decision_scope: recommend
oversight: none
tools:
  - {tool: t, access: read, approved_by: x}
";
        let mut registry = Registry::default();
        let plan = registry.plan_apply(text).unwrap();
        registry.apply(&plan.changes);
        let today = NaiveDate::from_ymd_opt(2026, 11, 26).unwrap();
        let rows: Vec<(String, Option<String>, bool)> = due(&registry, today)
            .into_iter()
            .map(|review| {
                (
                    review.agent,
                    review.due.map(|due| due.to_string()),
                    review.overdue,
                )
            })
            .collect();
        assert_eq!(
            rows,
            vec![
                ("undated".into(), None, true),
                ("high-agent".into(), Some("2026-10-30".into()), true),
                ("low-agent".into(), Some("2027-01-01".into()), false),
            ]
        );
    }
}
