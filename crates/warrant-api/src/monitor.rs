//! `/v1/monitor/*`, `/v1/alerts`, `/v1/incidents`: monitoring reports, alerts and incidents.
//!
//! Windows are half-open ranges of hours since the Unix epoch. The detectors' own labels (a drift's status
//! and level, an anomaly's kind) travel as the strings they give them; severities, an alert's and an
//! incident's status and the Art. 73 category are enums.

use std::collections::BTreeMap;
use warrant_log::Seq;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A half-open range of hours, `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Window {
    pub from: i64,
    pub to: i64,
}

/// The current window and the baseline it is compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Windows {
    pub current: Window,
    pub baseline: Window,
}

/// A chi-square test of independence.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ChiSquare {
    pub statistic: f64,
    pub dof: u32,
    pub p_value: f64,
}

/// The outcome distribution of one (agent, decision), current window against the baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Drift {
    pub agent: String,
    pub decision: String,
    pub outcomes: Vec<String>,
    /// Decisions per outcome (in the order of `outcomes`) in the baseline window.
    pub baseline: Vec<u64>,
    /// Decisions per outcome in the current window.
    pub current: Vec<u64>,
    /// `ok`, or `insufficient_data` (then no statistics are given).
    pub status: String,
    /// Population stability index.
    pub psi: Option<f64>,
    /// Jensen-Shannon distance.
    pub js_distance: Option<f64>,
    pub chi_square: Option<ChiSquare>,
    /// `none`, `moderate` (PSI ≥ 0.1) or `significant` (PSI ≥ 0.25).
    pub level: String,
    /// Seqs of recent decisions in the current window, for the trail.
    pub samples: Vec<Seq>,
}

/// Outcome rates of one segment value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct SegmentRates {
    pub value: String,
    pub total: u64,
    /// Outcome → share of this segment's decisions.
    pub rates: BTreeMap<String, f64>,
}

/// The largest difference in an outcome's rate between two segment values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Gap {
    pub outcome: String,
    pub high: String,
    pub low: String,
    pub gap: f64,
}

/// Where the segments' relative treatment moved most.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Shift {
    pub outcome: String,
    /// The segment value whose rate rose relative to `low`.
    pub high: String,
    pub low: String,
    /// `rate(high) - rate(low)` now and in the baseline.
    pub now: f64,
    pub baseline: f64,
    /// The change's z-score.
    pub z: f64,
}

/// Outcome rates per segment value of one (agent, decision, segment attribute), now and in the baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Disparity {
    pub agent: String,
    pub decision: String,
    /// The segment attribute compared, e.g. `client_value`.
    pub segment: String,
    /// `ok`, or `insufficient_data`.
    pub status: String,
    pub segments: Vec<SegmentRates>,
    /// Test of independence of segment and outcome in the current window.
    pub chi_square: Option<ChiSquare>,
    /// The largest difference in an outcome's rate between two segments, now.
    pub max_gap: Option<Gap>,
    /// The largest gap in the baseline window.
    pub baseline_gap: Option<f64>,
    /// How far the segments' relative treatment moved (now against the baseline).
    pub change: Option<f64>,
    pub shift: Option<Shift>,
    pub samples: Vec<Seq>,
}

/// A tool-usage, cost or latency anomaly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Anomaly {
    /// `new_tool`, `new_transition`, `sequence_nll`, `rate_spike`, `unused_grant`, `cost_spike` or
    /// `latency_regression`.
    pub kind: String,
    pub agent: String,
    /// The tool, the transition (`a -> b`) or the grant concerned.
    pub subject: String,
    pub value: f64,
    pub baseline: f64,
    pub detail: String,
}

/// Calls, tokens, cost and latency of one agent, model, workflow or tool over the current window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct CostLine {
    /// `agent`, `model`, `workflow` or `tool`.
    pub scope: String,
    pub agent: String,
    pub name: String,
    pub calls: u64,
    pub errors: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost_usd: f64,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

/// One approver's record over a window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ApproverStats {
    pub approver: String,
    pub decided: u64,
    pub approved: u64,
    pub denied: u64,
    pub approve_ratio: f64,
    pub median_latency_s: f64,
    /// Nearly every request approved, and fast: the human check may have become a formality.
    pub rubber_stamp: bool,
}

/// The quality of human oversight over the current window (`GET /v1/monitor/oversight`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Oversight {
    pub window: Window,
    pub approvers: Vec<ApproverStats>,
    /// Approvals waiting for a decision now.
    pub pending: u64,
    /// Approvals that expired in the window.
    pub expired: u64,
    /// Median time from request to decision, over every decided approval in the window.
    pub median_latency_s: Option<f64>,
    /// Agent → overrides in the window.
    pub overrides: BTreeMap<String, u64>,
    /// Agent → escalations in the window.
    pub escalations: BTreeMap<String, u64>,
}

/// `GET /v1/monitor`: every report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct MonitorReport {
    pub windows: Windows,
    pub drift: Vec<Drift>,
    pub disparity: Vec<Disparity>,
    pub anomalies: Vec<Anomaly>,
    pub cost: Vec<CostLine>,
    pub oversight: Oversight,
}

/// `GET /v1/monitor/{drift|disparity|anomalies|cost}`: one report's lines, with the windows they cover.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "schema", schemars(rename = "Windowed{T}"))]
#[serde(deny_unknown_fields)]
pub struct Windowed<T> {
    pub windows: Windows,
    pub items: Vec<T>,
}

/// The answer of `GET /v1/monitor` or `GET /v1/monitor/{report}`; which one follows from the path.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(untagged)]
pub enum Report {
    All(MonitorReport),
    Oversight(Oversight),
    Drift(Windowed<Drift>),
    Disparity(Windowed<Disparity>),
    Anomalies(Windowed<Anomaly>),
    Cost(Windowed<CostLine>),
}

/// An alert raised by a monitoring rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Alert {
    pub id: String,
    /// Rule and subject: one alert per key while it fires.
    pub key: String,
    pub rule: String,
    pub detector: String,
    pub severity: Severity,
    pub agent: String,
    pub subject: String,
    pub summary: String,
    pub value: f64,
    pub threshold: f64,
    /// Evidence seqs behind the alert (recent decisions, the agent's latest substantial change).
    pub related: Vec<Seq>,
    pub status: AlertStatus,
    pub fired_seq: Seq,
    pub fired_at: DateTime<Utc>,
    pub resolved_seq: Option<Seq>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// The incident it belongs to.
    pub incident: Option<String>,
}

/// How serious an alert or incident is; `high` and `critical` alerts open an incident by themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// Whether an alert's condition still holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum AlertStatus {
    Firing,
    Resolved,
}

impl AlertStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Firing => "firing",
            AlertStatus::Resolved => "resolved",
        }
    }
}

impl std::fmt::Display for AlertStatus {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum IncidentStatus {
    Open,
    Investigating,
    Mitigated,
    Closed,
}

impl IncidentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentStatus::Open => "open",
            IncidentStatus::Investigating => "investigating",
            IncidentStatus::Mitigated => "mitigated",
            IncidentStatus::Closed => "closed",
        }
    }
}

/// The EU AI Act Art. 73 deadline class of a serious incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Art73Category {
    /// 15 days.
    General,
    /// A widespread infringement or a serious and irreversible disruption of critical infrastructure: 2 days.
    WidespreadOrCriticalInfrastructure,
    /// The death of a person: 10 days.
    Death,
}

impl Art73Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Art73Category::General => "general",
            Art73Category::WidespreadOrCriticalInfrastructure => "widespread_or_critical_infrastructure",
            Art73Category::Death => "death",
        }
    }
}

/// A note in an incident's record: an action taken or a communication made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Note {
    pub at: DateTime<Utc>,
    pub by: String,
    pub text: String,
}

/// The checkpoint that covered an incident's evidence when it was opened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct FrozenCheckpoint {
    pub size: u64,
    /// The root hash, lowercase hex.
    pub root: String,
}

/// An incident as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Incident {
    pub id: String,
    pub title: String,
    pub severity: Severity,
    pub status: IncidentStatus,
    pub owner: Option<String>,
    pub what_happened: String,
    pub detected_at: DateTime<Utc>,
    pub agent: Option<String>,
    pub alerts: Vec<String>,
    /// Evidence seqs: the alert, the decisions behind it, the change that preceded it.
    pub related_seqs: Vec<Seq>,
    pub checkpoint: Option<FrozenCheckpoint>,
    pub actions: Vec<Note>,
    pub communications: Vec<Note>,
    pub root_cause: Option<String>,
    pub preventive_measures: Option<String>,
    pub serious: bool,
    pub category: Option<Art73Category>,
    /// When the organisation became aware; the Art. 73 clock starts here (the detection time if unset).
    pub aware_at: Option<DateTime<Utc>>,
    pub reported_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
}

/// The Art. 73 clock of a serious incident, as of the answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Art73Clock {
    pub category: Art73Category,
    pub aware_at: DateTime<Utc>,
    pub deadline: DateTime<Utc>,
    pub reported_at: Option<DateTime<Utc>>,
    /// Past the deadline and not reported.
    pub overdue: bool,
}

/// An incident with its Art. 73 clock (`null` unless it is serious): how `/v1/incidents[/{id}]`,
/// `POST /v1/incidents/{id}` and `POST /v1/alerts/{id}/promote` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct IncidentView {
    #[serde(flatten)]
    pub incident: Incident,
    pub art73: Option<Art73Clock>,
    /// Who was told about the incident, what and when: its notification deliveries, newest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notifications: Vec<crate::notify::Delivery>,
}

/// `POST /v1/monitor/evaluate`: what one evaluation of the alert rules did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Evaluated {
    pub fired: Vec<Alert>,
    /// Ids of the alerts that resolved.
    pub resolved: Vec<String>,
    /// Incidents opened for high alerts.
    pub opened: Vec<Incident>,
    /// Always `null` for an evaluation.
    pub updated: Option<Incident>,
}

/// `POST /v1/monitor/rebuild`: the rollups recomputed from the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Rebuilt {
    /// The events counted.
    pub events: u64,
}
