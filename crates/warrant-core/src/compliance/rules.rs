//! Evidence rules: which of warrant's records show that a control is operating, how fresh they must be, and
//! what makes it only partial. A rule is data (`catalog/evidence_rules.yaml`, or a user's `kind: EvidenceRule`
//! manifest) of one of three forms:
//! - `check: NAME`, a built-in check over the registry and the records (inventory, access reviews, event
//!   logging, monitoring, impact assessments, incidents, risk treatment, change records, internal audit);
//! - `events: {kinds: [...]}`, events of those kinds within `fresh_days` (at least `min_count`);
//! - `documents: true`, a document attached to the control within `fresh_days`, evaluated per control.
//!
//! [`evaluate`] turns one rule and the [`Facts`] into a result per control it names.

use std::collections::BTreeMap;
use warrant_log::Seq;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::incident::Incident;
use crate::monitor::facts::hour_of;
use crate::registry::Registry;
use crate::registry::manifest::{RiskClass, Severity, Status as AgentStatus};
use crate::risk::Classification;
use crate::risk::register::{Risk, RiskStatus};

/// One evidence rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvidenceRule {
    pub id: String,
    pub description: String,
    /// Annex A controls, clauses and articles the rule evidences.
    pub controls: Vec<String>,
    /// A built-in check, by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<String>,
    /// Events of these kinds evidence the controls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<EventsEvidence>,
    /// A document attached to each control evidences it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub documents: bool,
    /// How recent the evidence must be.
    pub fresh_days: u32,
    /// What to do when the rule is not met.
    pub next_step: String,
}

/// The events form of a rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsEvidence {
    pub kinds: Vec<String>,
    #[serde(default = "one")]
    pub min_count: u64,
    /// Compare with events of these kinds in the same window: the rule is implemented only when the events
    /// cover at least `min_coverage` of them (e.g. gate decisions per tool call).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coverage_of: Option<Vec<String>>,
    #[serde(default = "ninety_percent")]
    pub min_coverage: f64,
}

fn ninety_percent() -> f64 {
    0.9
}

fn one() -> u64 {
    1
}

/// The built-in checks a rule can name.
pub const CHECKS: [&str; 11] = [
    "agent_inventory",
    "resource_inventory",
    "grant_reviews",
    "event_logging",
    "monitoring",
    "impact_assessments",
    "incident_handling",
    "risk_treatment",
    "change_records",
    "internal_audit",
    "corrective_actions",
];

impl EvidenceRule {
    /// Why the rule is malformed, if it is: exactly one form, a known check.
    pub fn problem(&self) -> Option<String> {
        let forms = usize::from(self.check.is_some())
            + usize::from(self.events.is_some())
            + usize::from(self.documents);
        if forms != 1 {
            return Some("a rule has exactly one of `check`, `events` or `documents: true`".into());
        }
        if let Some(check) = &self.check
            && !CHECKS.contains(&check.as_str())
        {
            return Some(format!("unknown check `{check}`; known: {}", CHECKS.join(", ")));
        }
        if self.controls.is_empty() {
            return Some("a rule names at least one control".into());
        }
        None
    }
}

/// Where a control stands on one rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Met {
    Missing,
    Partial,
    Implemented,
}

impl Met {
    pub fn as_str(self) -> &'static str {
        match self {
            Met::Missing => "missing",
            Met::Partial => "partial",
            Met::Implemented => "implemented",
        }
    }
}

/// Evidence behind a result.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EvidenceRef {
    pub count: u64,
    /// The time of the latest evidence.
    pub latest: Option<String>,
    /// Seqs of evidence events (the latest few).
    pub seqs: Vec<Seq>,
}

/// One rule's result for one control.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleResult {
    pub rule: String,
    pub control: String,
    pub met: Met,
    pub reason: String,
    pub next_step: Option<String>,
    pub evidence: EvidenceRef,
}

/// A stored document, as the rules see it.
#[derive(Debug, Clone, PartialEq)]
pub struct DocumentFact {
    pub sha256: String,
    pub title: String,
    pub controls: Vec<String>,
    pub added_at: DateTime<Utc>,
    pub seq: Seq,
}

/// The latest approved impact assessment of an agent.
#[derive(Debug, Clone, PartialEq)]
pub struct ImpactFact {
    pub version: u64,
    pub approved_at: Option<DateTime<Utc>>,
    pub seq: Seq,
}

/// A firing alert.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertFact {
    pub id: String,
    pub severity: Severity,
    pub fired_at: DateTime<Utc>,
    pub incident: Option<String>,
    pub seq: Seq,
}

/// A registry change.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeFact {
    pub seq: Seq,
    pub object: String,
    pub substantial: bool,
    pub has_reason: bool,
}

/// Everything the rules read, gathered by the caller from the store.
#[derive(Debug, Clone)]
pub struct Facts<'a> {
    pub now: DateTime<Utc>,
    pub registry: &'a Registry,
    pub classification: &'a [Classification],
    pub risks: &'a [Risk],
    /// Latest impact assessment per agent.
    pub impacts: BTreeMap<String, ImpactFact>,
    pub incidents: &'a [Incident],
    pub firing_alerts: Vec<AlertFact>,
    /// Alert rules in force (enabled).
    pub monitoring_rules: usize,
    /// The last hour each agent wrote an event.
    pub agent_last_hour: BTreeMap<String, i64>,
    /// Events per kind per day (day number since the epoch).
    pub kind_days: BTreeMap<String, BTreeMap<i64, u64>>,
    /// The latest checkpoint: its size, when it was signed, and whether its signature and root verify.
    pub checkpoint: Option<(u64, DateTime<Utc>, bool)>,
    pub documents: Vec<DocumentFact>,
    pub changes: Vec<ChangeFact>,
    /// Internal audits: when each ran, and its seq.
    pub audits: Vec<(DateTime<Utc>, Seq)>,
    /// The latest evidence seqs per control, from the tag index.
    pub recent_seqs: BTreeMap<String, Vec<Seq>>,
    /// Nonconformities from internal audits: (id, due date, still open).
    pub nonconformities: Vec<(String, Option<NaiveDate>, bool)>,
    /// Notifications delivered about incidents, by incident id.
    pub incidents_told: BTreeMap<String, Vec<Told>>,
}

/// A notification delivered about an incident: who was told (the notifier's audience), when, and the seq of
/// the delivery's `notification` event.
#[derive(Debug, Clone, PartialEq)]
pub struct Told {
    pub audience: String,
    pub at: DateTime<Utc>,
    pub seq: Seq,
}

/// One result per control the rule names.
pub fn evaluate(rule: &EvidenceRule, facts: &Facts<'_>) -> Vec<RuleResult> {
    let fresh = Duration::days(i64::from(rule.fresh_days));
    if rule.documents {
        return rule
            .controls
            .iter()
            .map(|control| {
                let (met, reason, evidence) = documents(facts, control, fresh);
                result(rule, control, met, reason, evidence)
            })
            .collect();
    }
    let (met, reason, evidence) = if let Some(events) = &rule.events {
        events_rule(facts, events, rule.fresh_days)
    } else {
        match rule.check.as_deref() {
            Some("agent_inventory") => agent_inventory(facts),
            Some("resource_inventory") => resource_inventory(facts),
            Some("grant_reviews") => grant_reviews(facts),
            Some("event_logging") => event_logging(facts, fresh),
            Some("monitoring") => monitoring(facts),
            Some("impact_assessments") => impact_assessments(facts, fresh),
            Some("incident_handling") => incident_handling(facts),
            Some("risk_treatment") => risk_treatment(facts),
            Some("change_records") => change_records(facts),
            Some("internal_audit") => internal_audit(facts, fresh),
            Some("corrective_actions") => corrective_actions(facts),
            other => (
                Met::Missing,
                format!("the rule names no check warrant knows ({other:?})"),
                EvidenceRef::default(),
            ),
        }
    };
    rule.controls
        .iter()
        .map(|control| {
            let mut evidence = evidence.clone();
            if evidence.seqs.is_empty() {
                evidence.seqs = facts.recent_seqs.get(control).cloned().unwrap_or_default();
            }
            result(rule, control, met, reason.clone(), evidence)
        })
        .collect()
}

fn result(rule: &EvidenceRule, control: &str, met: Met, reason: String, evidence: EvidenceRef) -> RuleResult {
    RuleResult {
        rule: rule.id.clone(),
        control: control.to_owned(),
        met,
        reason,
        next_step: (met != Met::Implemented).then(|| rule.next_step.clone()),
        evidence,
    }
}

type Outcome = (Met, String, EvidenceRef);

fn time(at: &DateTime<Utc>) -> Option<String> {
    Some(crate::event::format_time(at))
}

fn documents(facts: &Facts<'_>, control: &str, fresh: Duration) -> Outcome {
    let Some(latest) = facts
        .documents
        .iter()
        .filter(|document| document.controls.iter().any(|named| named == control))
        .max_by_key(|document| document.added_at)
    else {
        return (
            Met::Missing,
            "no document is attached to it".into(),
            EvidenceRef::default(),
        );
    };
    let count = facts
        .documents
        .iter()
        .filter(|document| document.controls.iter().any(|named| named == control))
        .count() as u64;
    let evidence = EvidenceRef {
        count,
        latest: time(&latest.added_at),
        seqs: vec![latest.seq],
    };
    if facts.now - latest.added_at > fresh {
        (
            Met::Partial,
            format!(
                "the latest document (\"{}\", {}) is older than {} days: review it",
                latest.title,
                latest.added_at.date_naive(),
                fresh.num_days()
            ),
            evidence,
        )
    } else {
        (
            Met::Implemented,
            format!("\"{}\" ({})", latest.title, latest.added_at.date_naive()),
            evidence,
        )
    }
}

fn events_rule(facts: &Facts<'_>, events: &EventsEvidence, fresh_days: u32) -> Outcome {
    let today = facts.now.timestamp().div_euclid(86_400);
    let since = today - i64::from(fresh_days);
    let (mut recent, mut total, mut last_day) = (0u64, 0u64, None::<i64>);
    for kind in &events.kinds {
        for (day, count) in facts.kind_days.get(kind).into_iter().flatten() {
            total += count;
            if *day >= since {
                recent += count;
            }
            last_day = last_day.max(Some(*day));
        }
    }
    let evidence = EvidenceRef {
        count: recent,
        latest: last_day
            .and_then(|day| DateTime::from_timestamp(day * 86_400, 0))
            .as_ref()
            .and_then(time),
        seqs: Vec::new(),
    };
    let kinds = events.kinds.join(", ");
    if let Some(of) = &events.coverage_of {
        let base: u64 = of
            .iter()
            .flat_map(|kind| facts.kind_days.get(kind).into_iter().flatten())
            .filter(|(day, _)| **day >= since)
            .map(|(_, count)| count)
            .sum();
        let of = of.join(", ");
        if base > 0 {
            let coverage = recent as f64 / base as f64;
            let text = format!(
                "{recent} {kinds} event(s) for {base} {of} event(s) in the last {fresh_days} days ({:.0} %, needs {:.0} %)",
                coverage * 100.0,
                events.min_coverage * 100.0
            );
            return if coverage >= events.min_coverage {
                (Met::Implemented, text, evidence)
            } else if recent > 0 {
                (Met::Partial, text, evidence)
            } else {
                (Met::Missing, text, evidence)
            };
        }
    }
    if recent >= events.min_count {
        (
            Met::Implemented,
            format!("{recent} {kinds} event(s) in the last {fresh_days} days"),
            evidence,
        )
    } else if total > 0 {
        (
            Met::Partial,
            format!(
                "{recent} {kinds} event(s) in the last {fresh_days} days (needs {}); {total} in all",
                events.min_count
            ),
            evidence,
        )
    } else {
        (
            Met::Missing,
            format!("no {kinds} event has been recorded"),
            evidence,
        )
    }
}

fn active_agents<'a>(facts: &'a Facts<'_>) -> impl Iterator<Item = &'a crate::registry::manifest::Agent> {
    facts
        .registry
        .agents()
        .filter(|agent| agent.status == AgentStatus::Active)
}

fn agent_inventory(facts: &Facts<'_>) -> Outcome {
    let agents: Vec<_> = active_agents(facts).collect();
    let changes = facts
        .changes
        .iter()
        .filter(|change| change.object.starts_with("Agent/"))
        .count() as u64;
    let evidence = EvidenceRef {
        count: changes,
        latest: None,
        seqs: facts
            .changes
            .iter()
            .rev()
            .filter(|change| change.object.starts_with("Agent/"))
            .take(5)
            .map(|change| change.seq)
            .collect(),
    };
    if agents.is_empty() {
        return (Met::Missing, "no active agent is registered".into(), evidence);
    }
    // Owner, purpose and risk class are required fields; what can still be wrong is the class itself.
    let understated: Vec<&str> = facts
        .classification
        .iter()
        .filter(|class| class.computed > class.declared)
        .map(|class| class.agent.as_str())
        .collect();
    let undeclared_affected = agents.iter().filter(|agent| agent.affected.is_empty()).count();
    if !understated.is_empty() {
        return (
            Met::Partial,
            format!(
                "{} agent(s) declare a risk class below the computed one: {}",
                understated.len(),
                understated.join(", ")
            ),
            evidence,
        );
    }
    (
        Met::Implemented,
        format!(
            "{} active agent(s), each with an owner, a purpose and a risk class that matches the analysis{}",
            agents.len(),
            if undeclared_affected > 0 {
                format!("; {undeclared_affected} without declared affected people")
            } else {
                String::new()
            }
        ),
        evidence,
    )
}

fn resource_inventory(facts: &Facts<'_>) -> Outcome {
    use crate::registry::manifest::{Kind, Manifest};
    let registry = facts.registry;
    let tools = registry.list(Kind::Tool).count();
    let sources: Vec<_> = registry
        .list(Kind::DataSource)
        .filter_map(|manifest| match manifest {
            Manifest::DataSource(source) => Some(source),
            _ => None,
        })
        .collect();
    let evidence = EvidenceRef {
        count: (tools + sources.len()) as u64,
        latest: None,
        seqs: facts
            .changes
            .iter()
            .rev()
            .filter(|change| change.object.starts_with("Tool/") || change.object.starts_with("DataSource/"))
            .take(5)
            .map(|change| change.seq)
            .collect(),
    };
    if tools == 0 && sources.is_empty() {
        return (
            Met::Missing,
            "no tools or data sources are registered".into(),
            evidence,
        );
    }
    let unowned: Vec<&str> = sources
        .iter()
        .filter(|source| source.personal_data && (source.owner.is_none() || source.retention_days.is_none()))
        .map(|source| source.id.as_str())
        .collect();
    if !unowned.is_empty() {
        return (
            Met::Partial,
            format!(
                "personal-data sources without an owner or retention: {}",
                unowned.join(", ")
            ),
            evidence,
        );
    }
    (
        Met::Implemented,
        format!(
            "{tools} tool(s) and {} data source(s) declared with access, egress and sensitivity",
            sources.len()
        ),
        evidence,
    )
}

fn grant_reviews(facts: &Facts<'_>) -> Outcome {
    let due = crate::reviews::due(facts.registry, facts.now.date_naive());
    if due.is_empty() {
        return (
            Met::Missing,
            "no tool grants to review".into(),
            EvidenceRef::default(),
        );
    }
    let overdue: Vec<String> = due
        .iter()
        .filter(|review| review.overdue)
        .map(|review| format!("{}/{}", review.agent, review.tool))
        .collect();
    let evidence = EvidenceRef {
        count: (due.len() - overdue.len()) as u64,
        ..EvidenceRef::default()
    };
    if overdue.len() == due.len() {
        (
            Met::Missing,
            format!("every one of {} grants is past its review", due.len()),
            evidence,
        )
    } else if !overdue.is_empty() {
        (
            Met::Partial,
            format!(
                "{} of {} grants are past their review: {}",
                overdue.len(),
                due.len(),
                overdue.join(", ")
            ),
            evidence,
        )
    } else {
        (
            Met::Implemented,
            format!("all {} grants reviewed within their cadence", due.len()),
            evidence,
        )
    }
}

fn event_logging(facts: &Facts<'_>, fresh: Duration) -> Outcome {
    let since = hour_of(&(facts.now - fresh));
    let agents: Vec<&str> = active_agents(facts).map(|agent| agent.id.as_str()).collect();
    let silent: Vec<&str> = agents
        .iter()
        .copied()
        .filter(|agent| facts.agent_last_hour.get(*agent).is_none_or(|last| *last < since))
        .collect();
    let Some((size, signed, verified)) = facts.checkpoint else {
        return (
            Met::Missing,
            "no signed checkpoint yet".into(),
            EvidenceRef::default(),
        );
    };
    let evidence = EvidenceRef {
        count: size,
        latest: time(&signed),
        seqs: Vec::new(),
    };
    if !verified {
        return (
            Met::Missing,
            "the latest checkpoint does not verify".into(),
            evidence,
        );
    }
    if facts.agent_last_hour.is_empty() {
        return (Met::Missing, "no agent has logged an event".into(), evidence);
    }
    let mut problems = Vec::new();
    if !silent.is_empty() {
        problems.push(format!(
            "no events in the last {} day(s) from {}",
            fresh.num_days(),
            silent.join(", ")
        ));
    }
    if facts.now - signed > fresh {
        problems.push(format!(
            "the latest checkpoint was signed {}",
            signed.date_naive()
        ));
    }
    if problems.is_empty() {
        (
            Met::Implemented,
            format!(
                "every active agent logged events in the last {} day(s); checkpoint of {size} events signed and verified",
                fresh.num_days()
            ),
            evidence,
        )
    } else {
        (Met::Partial, problems.join("; "), evidence)
    }
}

/// How long a firing alert may wait for handling, by severity.
fn alert_sla(severity: Severity) -> Duration {
    if severity >= Severity::High {
        Duration::days(1)
    } else {
        Duration::days(7)
    }
}

fn monitoring(facts: &Facts<'_>) -> Outcome {
    let evidence = EvidenceRef {
        count: facts.monitoring_rules as u64,
        latest: facts
            .firing_alerts
            .iter()
            .map(|alert| alert.fired_at)
            .max()
            .as_ref()
            .and_then(time),
        seqs: facts
            .firing_alerts
            .iter()
            .map(|alert| alert.seq)
            .take(5)
            .collect(),
    };
    if facts.monitoring_rules == 0 {
        return (Met::Missing, "every alert rule is disabled".into(), evidence);
    }
    let late: Vec<&str> = facts
        .firing_alerts
        .iter()
        .filter(|alert| alert.incident.is_none() && facts.now - alert.fired_at > alert_sla(alert.severity))
        .map(|alert| alert.id.as_str())
        .collect();
    if !late.is_empty() {
        return (
            Met::Partial,
            format!(
                "{} firing alert(s) past their handling time (1 day for high, 7 for others) with no incident: {}",
                late.len(),
                late.join(", ")
            ),
            evidence,
        );
    }
    (
        Met::Implemented,
        format!(
            "{} alert rule(s) in force; {} firing alert(s), all within their handling time or under an incident",
            facts.monitoring_rules,
            facts.firing_alerts.len()
        ),
        evidence,
    )
}

fn impact_assessments(facts: &Facts<'_>, fresh: Duration) -> Outcome {
    let high: Vec<&str> = active_agents(facts)
        .filter(|agent| {
            agent.risk_class == RiskClass::High
                || facts
                    .classification
                    .iter()
                    .any(|class| class.agent == agent.id && class.computed == RiskClass::High)
        })
        .map(|agent| agent.id.as_str())
        .collect();
    let current: Vec<&str> = high
        .iter()
        .copied()
        .filter(|agent| {
            facts
                .impacts
                .get(*agent)
                .and_then(|impact| impact.approved_at)
                .is_some_and(|approved| facts.now - approved <= fresh)
        })
        .collect();
    let evidence = EvidenceRef {
        count: facts.impacts.len() as u64,
        latest: facts
            .impacts
            .values()
            .filter_map(|impact| impact.approved_at)
            .max()
            .as_ref()
            .and_then(time),
        seqs: facts.impacts.values().map(|impact| impact.seq).collect(),
    };
    let missing: Vec<&str> = high
        .iter()
        .copied()
        .filter(|agent| !current.contains(agent))
        .collect();
    if high.is_empty() {
        (
            Met::Implemented,
            "no high-risk agent needs an assessment".into(),
            evidence,
        )
    } else if missing.is_empty() {
        (
            Met::Implemented,
            format!(
                "all {} high-risk agent(s) have an approved assessment younger than {} days",
                high.len(),
                fresh.num_days()
            ),
            evidence,
        )
    } else if current.is_empty() {
        (
            Met::Missing,
            format!(
                "no high-risk agent has an approved, current impact assessment ({})",
                missing.join(", ")
            ),
            evidence,
        )
    } else {
        (
            Met::Partial,
            format!(
                "{} of {} high-risk agents lack an approved, current assessment: {}",
                missing.len(),
                high.len(),
                missing.join(", ")
            ),
            evidence,
        )
    }
}

fn incident_handling(facts: &Facts<'_>) -> Outcome {
    let evidence = EvidenceRef {
        count: facts.incidents.len() as u64,
        latest: facts
            .incidents
            .iter()
            .map(|incident| incident.detected_at)
            .max()
            .and_then(|at| time(&at)),
        seqs: facts
            .incidents
            .iter()
            .flat_map(|incident| incident.related_seqs.first().copied())
            .chain(facts.incidents_told.values().flatten().map(|told| told.seq))
            .take(5)
            .collect(),
    };
    if facts.incidents.is_empty() {
        return if facts.monitoring_rules > 0 {
            (
                Met::Implemented,
                "no incidents; monitoring would open them".into(),
                evidence,
            )
        } else {
            (
                Met::Missing,
                "no incidents and no monitoring to raise them".into(),
                evidence,
            )
        };
    }
    let mut problems = Vec::new();
    for incident in facts.incidents {
        // A delivered notification is a communication on record, as a note written by hand is.
        let told = facts
            .incidents_told
            .get(&incident.id)
            .is_some_and(|told| !told.is_empty());
        if incident.communications.is_empty() && !told && incident.severity >= Severity::High {
            problems.push(format!(
                "{} has no communication record (neither a note nor a delivered notification)",
                incident.id
            ));
        }
        if incident.art73(facts.now).is_some_and(|clock| clock.overdue) {
            problems.push(format!("{} is past its Art. 73 reporting deadline", incident.id));
        }
        if incident.status == crate::incident::IncidentStatus::Closed && incident.root_cause.is_none() {
            problems.push(format!("{} was closed without a root cause", incident.id));
        }
    }
    if problems.is_empty() {
        let mut audiences: Vec<&str> = facts
            .incidents_told
            .values()
            .flatten()
            .map(|told| told.audience.as_str())
            .collect();
        audiences.sort_unstable();
        audiences.dedup();
        let told = if audiences.is_empty() {
            String::new()
        } else {
            format!(
                "; {} notification(s) delivered to {}",
                facts.incidents_told.values().map(Vec::len).sum::<usize>(),
                audiences.join(", ")
            )
        };
        (
            Met::Implemented,
            format!(
                "{} incident(s), each with its communications and, when closed, a root cause{told}",
                facts.incidents.len()
            ),
            evidence,
        )
    } else {
        (Met::Partial, problems.join("; "), evidence)
    }
}

fn risk_treatment(facts: &Facts<'_>) -> Outcome {
    let evidence = EvidenceRef {
        count: facts.risks.len() as u64,
        latest: facts
            .risks
            .iter()
            .map(|risk| risk.updated_at)
            .max()
            .and_then(|at| time(&at)),
        seqs: Vec::new(),
    };
    if facts.risks.is_empty() {
        return (
            Met::Missing,
            "the risk register is empty: no assessment has run".into(),
            evidence,
        );
    }
    let untreated: Vec<&str> = facts
        .risks
        .iter()
        .filter(|risk| {
            risk.status == RiskStatus::Open
                && risk.treatment.is_none()
                && matches!(risk.level.as_str(), "high" | "critical")
        })
        .map(|risk| risk.id.as_str())
        .collect();
    let overdue = facts
        .risks
        .iter()
        .filter(|risk| risk.status != RiskStatus::Closed && risk.review_due < facts.now.date_naive())
        .count();
    if !untreated.is_empty() || overdue > 0 {
        let mut problems = Vec::new();
        if !untreated.is_empty() {
            problems.push(format!(
                "{} open high or critical risk(s) without a treatment decision",
                untreated.len()
            ));
        }
        if overdue > 0 {
            problems.push(format!("{overdue} risk review(s) overdue"));
        }
        return (Met::Partial, problems.join("; "), evidence);
    }
    (
        Met::Implemented,
        format!(
            "{} risk(s) in the register; every open high or critical one has a treatment",
            facts.risks.len()
        ),
        evidence,
    )
}

fn change_records(facts: &Facts<'_>) -> Outcome {
    let substantial: Vec<&ChangeFact> = facts.changes.iter().filter(|change| change.substantial).collect();
    let evidence = EvidenceRef {
        count: facts.changes.len() as u64,
        latest: None,
        seqs: substantial
            .iter()
            .rev()
            .take(5)
            .map(|change| change.seq)
            .collect(),
    };
    if facts.changes.is_empty() {
        return (
            Met::Missing,
            "no registry change has been recorded".into(),
            evidence,
        );
    }
    let unexplained: Vec<String> = substantial
        .iter()
        .filter(|change| !change.has_reason)
        .map(|change| format!("seq {}", change.seq))
        .collect();
    if unexplained.is_empty() {
        (
            Met::Implemented,
            format!(
                "{} change(s) recorded with their diffs; all {} substantial ones give a reason",
                facts.changes.len(),
                substantial.len()
            ),
            evidence,
        )
    } else {
        (
            Met::Partial,
            format!(
                "substantial change(s) without a recorded reason: {}",
                unexplained.join(", ")
            ),
            evidence,
        )
    }
}

fn internal_audit(facts: &Facts<'_>, fresh: Duration) -> Outcome {
    let Some((at, seq)) = facts.audits.iter().max_by_key(|(at, _)| *at) else {
        return (
            Met::Missing,
            "no internal audit has run".into(),
            EvidenceRef::default(),
        );
    };
    let evidence = EvidenceRef {
        count: facts.audits.len() as u64,
        latest: time(at),
        seqs: vec![*seq],
    };
    if facts.now - *at > fresh {
        (
            Met::Partial,
            format!("the latest internal audit ran {}", at.date_naive()),
            evidence,
        )
    } else {
        (
            Met::Implemented,
            format!("internal audit ran {}", at.date_naive()),
            evidence,
        )
    }
}

fn corrective_actions(facts: &Facts<'_>) -> Outcome {
    let open: Vec<&(String, Option<NaiveDate>, bool)> =
        facts.nonconformities.iter().filter(|nc| nc.2).collect();
    let late: Vec<&str> = open
        .iter()
        .filter(|(_, due, _)| due.is_some_and(|due| due < facts.now.date_naive()))
        .map(|(id, _, _)| id.as_str())
        .collect();
    let evidence = EvidenceRef {
        count: facts.nonconformities.len() as u64,
        latest: None,
        seqs: facts.audits.iter().map(|(_, seq)| *seq).take(3).collect(),
    };
    if facts.audits.is_empty() {
        return (
            Met::Missing,
            "no internal audit has raised or cleared nonconformities yet".into(),
            evidence,
        );
    }
    if !late.is_empty() {
        return (
            Met::Partial,
            format!(
                "{} nonconformity(ies) past their due date: {}",
                late.len(),
                late.join(", ")
            ),
            evidence,
        );
    }
    (
        Met::Implemented,
        format!(
            "{} nonconformity(ies) raised, {} open, none past its due date",
            facts.nonconformities.len(),
            open.len()
        ),
        evidence,
    )
}

/// The day number of a date (for `kind_days`).
pub fn day_of(date: NaiveDate) -> i64 {
    date.and_hms_opt(0, 0, 0)
        .map_or(0, |time| time.and_utc().timestamp().div_euclid(86_400))
}
