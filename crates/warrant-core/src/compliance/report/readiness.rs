//! The certification readiness assessment: the stages of the certification pathway and what is left in each,
//! with the certification decision and the estimate.

use chrono::{DateTime, Utc};

use super::applicability;
use super::decision::{Decision, Estimate, decide, estimate};
use super::gaps::{GapRow, Gaps};
use crate::compliance::catalog::Catalog;
use crate::registry::Registry;
use crate::registry::manifest::Kind;

/// A stage of the certification pathway.
#[derive(Debug, Clone, PartialEq)]
pub struct Stage {
    pub name: &'static str,
    pub done: bool,
    pub left: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Readiness {
    pub organization: Option<String>,
    /// The first stage not done.
    pub stage: &'static str,
    pub stages: Vec<Stage>,
    pub decision: Decision,
    pub estimate: Estimate,
}

/// What readiness reads beyond the gap report.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadinessFacts {
    pub now: DateTime<Utc>,
    /// When the agents' first logged activity happened (event time): operating evidence needs a history.
    pub first_event: Option<DateTime<Utc>>,
    /// The latest internal audit and its open nonconformities.
    pub last_audit: Option<(DateTime<Utc>, usize)>,
    pub high_risk_agents: usize,
}

/// Operating evidence an auditor expects before stage 2.
const OPERATING_DAYS: i64 = 90;

pub fn readiness(catalog: &Catalog, registry: &Registry, gaps: &Gaps, facts: &ReadinessFacts) -> Readiness {
    let undecided = catalog
        .iso
        .controls
        .iter()
        .filter(|control| applicability(registry, &control.id).is_none())
        .count();
    let mut stages = Vec::new();
    let mut left = Vec::new();
    if undecided > 0 {
        left.push(format!(
            "{undecided} Annex A control(s) have no applicability decision (`kind: Applicability`)"
        ));
    }
    stages.push(Stage {
        name: "gap assessment",
        done: left.is_empty(),
        left,
    });
    let mut left = Vec::new();
    let open = |rows: &[GapRow]| {
        rows.iter()
            .filter(|row| matches!(row.gap, "partial" | "missing"))
            .map(|row| format!("{} {} ({})", row.id, row.title, row.gap))
            .collect::<Vec<_>>()
    };
    let open_controls = open(&gaps.controls);
    let open_clauses = open(&gaps.clauses);
    if !open_controls.is_empty() {
        left.push(format!(
            "{} control(s) not implemented: {}",
            open_controls.len(),
            first_few(&open_controls)
        ));
    }
    if !open_clauses.is_empty() {
        left.push(format!(
            "{} clause(s) not evidenced: {}",
            open_clauses.len(),
            first_few(&open_clauses)
        ));
    }
    stages.push(Stage {
        name: "control implementation",
        done: left.is_empty(),
        left,
    });
    let mut left = Vec::new();
    match facts.last_audit {
        None => left.push("no internal audit has run (`warrant audit run`)".into()),
        Some((at, _)) if facts.now - at > chrono::Duration::days(365) => {
            left.push(format!(
                "the latest internal audit ran {}, over a year ago",
                at.date_naive()
            ));
        }
        Some((_, open)) if open > 0 => left.push(format!(
            "{open} nonconformity(ies) from the internal audit are open"
        )),
        Some(_) => {}
    }
    stages.push(Stage {
        name: "internal audit",
        done: left.is_empty(),
        left,
    });
    let mut left = Vec::new();
    for id in ["4.3", "5.2", "6.1.2", "6.1.3", "6.1.4"] {
        if let Some(row) = gaps.clauses.iter().find(|row| row.id == id)
            && row.gap == "missing"
        {
            left.push(format!(
                "documented information for {id} {} is missing",
                row.title
            ));
        }
    }
    if undecided > 0 {
        left.push("the Statement of Applicability is not complete".into());
    }
    stages.push(Stage {
        name: "stage 1 audit (documentation review)",
        done: left.is_empty() && stages.iter().all(|stage| stage.done),
        left,
    });
    let mut left = Vec::new();
    let history = facts
        .first_event
        .map_or(0, |first| (facts.now - first).num_days());
    if history < OPERATING_DAYS {
        left.push(format!(
            "{history} day(s) of agent activity in the log (by event time); auditors expect about {OPERATING_DAYS}"
        ));
    }
    stages.push(Stage {
        name: "stage 2 audit (implementation)",
        done: left.is_empty() && stages.iter().all(|stage| stage.done),
        left,
    });
    stages.push(Stage {
        name: "surveillance",
        done: false,
        left: vec!["after certification: an audit every year, recertification in the third".into()],
    });
    let stage = stages
        .iter()
        .find(|stage| !stage.done)
        .map_or("surveillance", |stage| stage.name);
    let organization = registry.organization();
    let agents = registry
        .agents()
        .filter(|agent| agent.status == crate::registry::manifest::Status::Active)
        .count();
    let systems = agents + registry.list(Kind::AISystem).count();
    Readiness {
        organization: organization.map(|org| org.name.clone()),
        stage,
        stages,
        decision: decide(organization, agents, facts.high_risk_agents),
        estimate: estimate(systems, organization.is_some_and(|org| org.iso27001_certified)),
    }
}

fn first_few(items: &[String]) -> String {
    let mut shown: Vec<&str> = items.iter().take(5).map(String::as_str).collect();
    if items.len() > 5 {
        shown.push("...");
    }
    shown.join(", ")
}
