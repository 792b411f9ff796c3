//! The risk register (ISO/IEC 42001 6.1.2–6.1.3, 8.2–8.3): each finding of the analysis becomes a risk with a
//! likelihood, an impact, an owner, a treatment, a status and a review date.
//!
//! [`sync`] compares one run of the analysis with the register and says what changes: a new finding opens a
//! risk; a finding that is still there updates its risk (severity, path, whether the gate mitigates it) and
//! never duplicates it; a risk whose finding is gone is closed with the evidence that it is gone (the log
//! position and the registry change the analysis saw). What people decide (owner, treatment, plan, review
//! date) is kept across runs. [`treat`] records such a decision.

use chrono::{DateTime, Days, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::Finding;
use crate::registry::Registry;

/// The four treatment options of ISO 31000 that ISO/IEC 42001 6.1.3 builds on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Treatment {
    Accept,
    Mitigate,
    Transfer,
    Avoid,
}

impl Treatment {
    pub fn parse(name: &str) -> Option<Treatment> {
        match name {
            "accept" => Some(Treatment::Accept),
            "mitigate" => Some(Treatment::Mitigate),
            "transfer" => Some(Treatment::Transfer),
            "avoid" => Some(Treatment::Avoid),
            _ => None,
        }
    }
}

/// Where a risk stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RiskStatus {
    /// The path exists and nothing in force stops it.
    Open,
    /// The path exists and a control in force (the gate's taint rule, an approval policy, a group limit)
    /// covers it.
    Mitigated,
    /// The path exists and its owner accepted it, with a justification, until the review date.
    Accepted,
    /// The path is gone from the registry and the log.
    Closed,
}

impl RiskStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RiskStatus::Open => "open",
            RiskStatus::Mitigated => "mitigated",
            RiskStatus::Accepted => "accepted",
            RiskStatus::Closed => "closed",
        }
    }
}

/// One risk of the register.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Risk {
    /// The finding's stable id (kind and subject).
    pub id: String,
    pub kind: String,
    pub agent: String,
    pub summary: String,
    pub path: Vec<String>,
    pub controls: Vec<String>,
    pub severity: String,
    /// 1 (rare) to 5 (it has happened).
    pub likelihood: u8,
    /// 1 (negligible) to 5 (severe).
    pub impact: u8,
    /// likelihood × impact.
    pub score: u8,
    /// `low`, `medium`, `high` or `critical`, from the score.
    pub level: String,
    pub owner: String,
    pub treatment: Option<Treatment>,
    /// The treatment plan, or the justification of an acceptance.
    pub plan: Option<String>,
    /// What the analysis suggests.
    pub suggested_treatment: String,
    pub status: RiskStatus,
    /// The control in force that covers the path.
    pub mitigation: Option<String>,
    pub review_due: NaiveDate,
    pub opened_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    /// Why the risk was closed: the analysis no longer finds the path, as of this log position.
    pub closed_evidence: Option<String>,
}

/// What happened to a risk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RiskOp {
    Opened,
    Updated,
    Reopened,
    Closed,
    Treated,
}

impl RiskOp {
    pub fn as_str(self) -> &'static str {
        match self {
            RiskOp::Opened => "opened",
            RiskOp::Updated => "updated",
            RiskOp::Reopened => "reopened",
            RiskOp::Closed => "closed",
            RiskOp::Treated => "treated",
        }
    }
}

/// One change to the register, to be written with its `risk` event.
#[derive(Debug, Clone, PartialEq)]
pub struct RiskChange {
    pub op: RiskOp,
    pub risk: Risk,
    /// The fields that changed.
    pub changed: Vec<&'static str>,
}

/// Days until a new risk's first review, by severity.
fn review_days(severity: &str) -> u64 {
    match severity {
        "critical" => 30,
        "high" => 90,
        "medium" => 180,
        _ => 365,
    }
}

/// How likely the finding is to turn into harm: observed behaviour has happened (5); an open path is
/// possible (3), a structural one less so (2); a control in force lowers it by two.
pub fn likelihood(finding: &Finding) -> u8 {
    let base: u8 = match finding.kind {
        "shadow_agent"
        | "undeclared_tool"
        | "ungranted_tool_use"
        | "recommend_scope_executed"
        | "undeclared_data_source"
        | "undeclared_data_access" => 5,
        "exfiltration_path"
        | "prompt_injection_exposure"
        | "irreversible_without_oversight"
        | "combined_authority" => 3,
        _ => 2,
    };
    if finding.status == "mitigated" {
        base.saturating_sub(2).max(1)
    } else {
        base
    }
}

/// How much harm the finding's path could do, from its severity.
pub fn impact(severity: &str) -> u8 {
    match severity {
        "critical" => 5,
        "high" => 4,
        "medium" => 3,
        "low" => 2,
        _ => 1,
    }
}

/// The level of a likelihood × impact score.
pub fn level(score: u8) -> &'static str {
    match score {
        20.. => "critical",
        12.. => "high",
        6.. => "medium",
        _ => "low",
    }
}

/// The risk a finding describes, as a first entry in the register.
fn from_finding(finding: &Finding, registry: &Registry, now: DateTime<Utc>) -> Risk {
    let owner = finding
        .agent
        .split(',')
        .find_map(|agent| registry.agent(agent))
        .map(|agent| agent.owner.clone())
        .unwrap_or_else(|| "unassigned".into());
    let mut risk = Risk {
        id: finding.id.clone(),
        kind: finding.kind.to_owned(),
        agent: finding.agent.clone(),
        summary: String::new(),
        path: Vec::new(),
        controls: Vec::new(),
        severity: String::new(),
        likelihood: 0,
        impact: 0,
        score: 0,
        level: String::new(),
        owner,
        treatment: None,
        plan: None,
        suggested_treatment: String::new(),
        status: RiskStatus::Open,
        mitigation: None,
        review_due: now
            .date_naive()
            .checked_add_days(Days::new(review_days(finding.severity)))
            .unwrap_or(now.date_naive()),
        opened_at: now,
        updated_at: now,
        closed_at: None,
        closed_evidence: None,
    };
    refresh(&mut risk, finding);
    risk
}

/// Bring what the analysis says into `risk`; returns the fields that changed.
fn refresh(risk: &mut Risk, finding: &Finding) -> Vec<&'static str> {
    let mut changed = Vec::new();
    let likelihood = likelihood(finding);
    let impact = impact(finding.severity);
    let score = likelihood * impact;
    let status = match (finding.status, risk.status) {
        ("mitigated", _) => RiskStatus::Mitigated,
        (_, RiskStatus::Accepted) => RiskStatus::Accepted,
        _ => RiskStatus::Open,
    };
    let controls: Vec<String> = finding
        .controls
        .iter()
        .map(|control| (*control).to_owned())
        .collect();
    macro_rules! set {
        ($field:ident, $value:expr) => {
            let value = $value;
            if risk.$field != value {
                risk.$field = value;
                changed.push(stringify!($field));
            }
        };
    }
    set!(summary, finding.summary.clone());
    set!(path, finding.path.clone());
    set!(controls, controls);
    set!(severity, finding.severity.to_owned());
    set!(likelihood, likelihood);
    set!(impact, impact);
    set!(score, score);
    set!(level, level(score).to_owned());
    set!(suggested_treatment, finding.treatment.clone());
    set!(status, status);
    set!(mitigation, finding.mitigation.clone());
    changed
}

/// What the register should become after one run of the analysis. `existing` is the whole register;
/// `evidence` names what this run saw (log size, latest registry change), recorded on closures.
pub fn sync(
    existing: &[Risk],
    findings: &[Finding],
    registry: &Registry,
    now: DateTime<Utc>,
    evidence: &str,
) -> Vec<RiskChange> {
    let mut changes = Vec::new();
    let current: std::collections::BTreeMap<&str, &Risk> =
        existing.iter().map(|risk| (risk.id.as_str(), risk)).collect();
    let found: std::collections::BTreeSet<&str> =
        findings.iter().map(|finding| finding.id.as_str()).collect();
    for finding in findings {
        match current.get(finding.id.as_str()) {
            None => changes.push(RiskChange {
                op: RiskOp::Opened,
                risk: from_finding(finding, registry, now),
                changed: Vec::new(),
            }),
            Some(risk) if risk.status == RiskStatus::Closed => {
                let mut risk = (*risk).clone();
                risk.status = RiskStatus::Open;
                let mut changed = refresh(&mut risk, finding);
                changed.push("status");
                changed.dedup();
                risk.closed_at = None;
                risk.closed_evidence = None;
                risk.updated_at = now;
                changes.push(RiskChange {
                    op: RiskOp::Reopened,
                    risk,
                    changed,
                });
            }
            Some(risk) => {
                let mut risk = (*risk).clone();
                let changed = refresh(&mut risk, finding);
                if !changed.is_empty() {
                    risk.updated_at = now;
                    changes.push(RiskChange {
                        op: RiskOp::Updated,
                        risk,
                        changed,
                    });
                }
            }
        }
    }
    for risk in existing {
        if risk.status != RiskStatus::Closed && !found.contains(risk.id.as_str()) {
            let mut risk = risk.clone();
            risk.status = RiskStatus::Closed;
            risk.closed_at = Some(now);
            risk.updated_at = now;
            risk.closed_evidence = Some(format!("the analysis no longer finds this path ({evidence})"));
            changes.push(RiskChange {
                op: RiskOp::Closed,
                risk,
                changed: vec!["status", "closed_at", "closed_evidence"],
            });
        }
    }
    changes
}

/// A decision on a risk's treatment.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TreatRequest {
    pub treatment: Option<Treatment>,
    pub owner: Option<String>,
    /// The treatment plan, or the justification of an acceptance.
    pub plan: Option<String>,
    pub review_due: Option<NaiveDate>,
}

/// `risk` with the decision applied, and the fields it changed; an error says why the decision is refused.
pub fn treat(risk: &Risk, request: &TreatRequest, now: DateTime<Utc>) -> Result<RiskChange, String> {
    if risk.status == RiskStatus::Closed {
        return Err(format!("risk `{}` is closed", risk.id));
    }
    if request.treatment.is_none()
        && request.owner.is_none()
        && request.plan.is_none()
        && request.review_due.is_none()
    {
        return Err("nothing to change: give a treatment, an owner, a plan or a review date".into());
    }
    let mut next = risk.clone();
    let mut changed = Vec::new();
    if let Some(treatment) = request.treatment {
        let plan = request
            .plan
            .as_deref()
            .or(risk.plan.as_deref())
            .unwrap_or("")
            .trim();
        if treatment == Treatment::Accept && plan.is_empty() {
            return Err("accepting a risk needs a justification (`plan`)".into());
        }
        if next.treatment != Some(treatment) {
            next.treatment = Some(treatment);
            changed.push("treatment");
        }
        let status = match (treatment, risk.status) {
            (_, RiskStatus::Mitigated) => RiskStatus::Mitigated,
            (Treatment::Accept, _) => RiskStatus::Accepted,
            _ => RiskStatus::Open,
        };
        if next.status != status {
            next.status = status;
            changed.push("status");
        }
    }
    if let Some(owner) = &request.owner {
        if owner.trim().is_empty() {
            return Err("the owner is empty".into());
        }
        if next.owner != *owner {
            next.owner = owner.clone();
            changed.push("owner");
        }
    }
    if let Some(plan) = &request.plan
        && next.plan.as_deref() != Some(plan.as_str())
    {
        next.plan = Some(plan.clone());
        changed.push("plan");
    }
    if let Some(due) = request.review_due {
        if due < now.date_naive() {
            return Err(format!("the review date {due} is in the past"));
        }
        if next.review_due != due {
            next.review_due = due;
            changed.push("review_due");
        }
    }
    next.updated_at = now;
    Ok(RiskChange {
        op: RiskOp::Treated,
        risk: next,
        changed,
    })
}
