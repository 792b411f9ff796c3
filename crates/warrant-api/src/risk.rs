//! `/v1/risk/*` and `/v1/impact/*`: risk findings, the register, impact assessments.
//!
//! Where the domain names a value from a closed set (a risk's status, a treatment, a risk class) it is an
//! enum here; the analysis' own labels (a finding's kind, severity and status, a risk's level) travel as
//! the strings it gives them.

use std::collections::BTreeMap;
use warrant_log::Seq;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// Risk class in the EU AI Act's sense (Art. 6 and Annex III for `high`; Art. 50 transparency for `limited`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum RiskClass {
    Minimal,
    Limited,
    High,
}

impl RiskClass {
    pub fn as_str(self) -> &'static str {
        match self {
            RiskClass::Minimal => "minimal",
            RiskClass::Limited => "limited",
            RiskClass::High => "high",
        }
    }
}

/// One risk the analysis found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Finding {
    /// Stable across runs: the kind and the subject.
    pub id: String,
    pub kind: String,
    /// `low`, `medium`, `high` or `critical`.
    pub severity: String,
    /// The agent concerned; agents joined with `,` for combined authority.
    pub agent: String,
    pub summary: String,
    /// The path, node by node, as evidence.
    pub path: Vec<String>,
    /// `open`, or `mitigated` (with `mitigation` saying by what).
    pub status: String,
    pub mitigation: Option<String>,
    /// The ISO/IEC 42001 controls it concerns.
    pub controls: Vec<String>,
    /// The suggested treatment.
    pub treatment: String,
}

/// The risk class the analysis computes for an agent, with why; compared with the declared one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Classification {
    pub agent: String,
    pub declared: RiskClass,
    pub computed: RiskClass,
    pub reasons: Vec<String>,
    /// A hint for legal review, not a ruling: the EU AI Act Annex III area the purpose suggests.
    pub eu_ai_act_hint: Option<String>,
}

/// Counts of the findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct FindingsSummary {
    pub findings: usize,
    pub open: usize,
    pub mitigated: usize,
}

/// The register's counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RegisterSummary {
    pub total: usize,
    /// Risk status (`open`, `mitigated`, `accepted`, `closed`) → how many; statuses with none are absent.
    pub by_status: BTreeMap<String, usize>,
    /// Risks not closed whose review date has passed.
    pub review_overdue: usize,
}

/// `GET /v1/risk`: the findings, the risk class computed per agent, and the register's counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RiskReport {
    pub summary: FindingsSummary,
    pub classification: Vec<Classification>,
    pub findings: Vec<Finding>,
    pub register: RegisterSummary,
}

/// The four treatment options of ISO 31000 that ISO/IEC 42001 6.1.3 builds on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Treatment {
    Accept,
    Mitigate,
    Transfer,
    Avoid,
}

impl Treatment {
    pub fn as_str(self) -> &'static str {
        match self {
            Treatment::Accept => "accept",
            Treatment::Mitigate => "mitigate",
            Treatment::Transfer => "transfer",
            Treatment::Avoid => "avoid",
        }
    }
}

/// Where a risk stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum RiskStatus {
    /// The path exists and nothing in force stops it.
    Open,
    /// The path exists and a control in force covers it.
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
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

/// One change to the register (`POST /v1/risk/register/{id}/treat` answers with one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RiskChange {
    pub op: RiskOp,
    /// The risk as it now stands.
    pub risk: Risk,
    /// The fields that changed.
    pub changed: Vec<String>,
}

/// `POST /v1/risk/assess`: what one run of the analysis changed in the register.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Assessed {
    /// Operation (`opened`, `updated`, ...) → how many; empty when nothing changed.
    pub changes: BTreeMap<String, usize>,
    pub changed: Vec<RiskChange>,
    pub register: RegisterSummary,
}

/// `GET /v1/risk/register`: the register, highest score first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Register {
    /// Counts over the whole register, whatever the filter.
    pub summary: RegisterSummary,
    pub items: Vec<Risk>,
}

/// Data sensitivity, ordered: `public` < `internal` < `confidential` < `restricted`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Sensitivity {
    Public,
    Internal,
    Confidential,
    Restricted,
}

impl Sensitivity {
    pub fn as_str(self) -> &'static str {
        match self {
            Sensitivity::Public => "public",
            Sensitivity::Internal => "internal",
            Sensitivity::Confidential => "confidential",
            Sensitivity::Restricted => "restricted",
        }
    }
}

/// What a node of the access graph is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum NodeKind {
    DataSource {
        id: String,
        sensitivity: Sensitivity,
    },
    Tool {
        id: String,
    },
    Agent {
        id: String,
    },
    /// Anywhere outside the organisation.
    External,
    /// Content nobody vouches for: inbound mail, web pages, third-party text.
    UntrustedInput,
}

/// A node of the access graph.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct GraphNode {
    /// `datasource:<id>`, `tool:<id>`, `agent:<id>`, `external` or `untrusted-input`.
    pub id: String,
    pub node: NodeKind,
}

/// What an edge means: the way data or control flows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum EdgeKind {
    Reads,
    Feeds,
    Writes,
    Sends,
    Triggers,
}

impl EdgeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EdgeKind::Reads => "reads",
            EdgeKind::Feeds => "feeds",
            EdgeKind::Writes => "writes",
            EdgeKind::Sends => "sends",
            EdgeKind::Triggers => "triggers",
        }
    }
}

/// An edge of the access graph, between two node ids.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct GraphEdge {
    pub from: String,
    pub to: String,
    pub edge: EdgeKind,
}

/// `GET /v1/risk/graph`: the tool-access graph of the registry's active agents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct AccessGraph {
    pub nodes: Vec<GraphNode>,
    pub edges: Vec<GraphEdge>,
}

/// One thing the agent can touch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Reach {
    /// `tool:<id>` or `datasource:<id>`.
    pub object: String,
    /// What it is: access, egress, irreversibility, sensitivity, personal data.
    pub nature: String,
    /// `direct`, or the downstream agent it is reached through.
    pub via: String,
}

/// A finding, as the assessment lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct FindingLine {
    pub id: String,
    pub severity: String,
    pub status: String,
    pub summary: String,
}

/// An impact assessment as generated from the registry and the findings (`?format=md` renders it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ImpactAssessment {
    pub agent: String,
    pub purpose: String,
    pub owner: String,
    pub declared_risk_class: String,
    pub computed_risk_class: String,
    pub classification_reasons: Vec<String>,
    pub eu_ai_act_hint: Option<String>,
    pub decision_scope: String,
    /// The people the agent's decisions affect, as declared.
    pub affected: Vec<String>,
    pub reach: Vec<Reach>,
    /// Agents it can start, directly or through others, and how deep.
    pub cascade: Vec<String>,
    pub cascade_depth: usize,
    pub oversight: Vec<String>,
    pub findings: Vec<FindingLine>,
    /// What the assessment itself finds missing.
    pub gaps: Vec<String>,
    pub controls: Vec<String>,
}

/// A recorded version of an impact assessment, as listed beside the draft (without the document).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ImpactVersionInfo {
    pub version: u64,
    /// SHA-256 of the assessment's JSON, as recorded in its event.
    pub digest: String,
    pub recorded_at: DateTime<Utc>,
    pub recorded_by: String,
    pub recorded_seq: Seq,
    pub approved_by: Option<String>,
    pub approved_at: Option<DateTime<Utc>>,
    pub approved_seq: Option<Seq>,
}

/// A recorded version of an impact assessment, with the document
/// (`POST /v1/impact/{agent}/versions/{version}/approve` answers with one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ImpactVersion {
    pub agent: String,
    pub version: u64,
    /// SHA-256 of the assessment's JSON, as recorded in its event.
    pub digest: String,
    pub recorded_at: DateTime<Utc>,
    pub recorded_by: String,
    pub recorded_seq: Seq,
    pub approved_by: Option<String>,
    pub approved_at: Option<DateTime<Utc>>,
    pub approved_seq: Option<Seq>,
    pub assessment: ImpactAssessment,
}

/// `GET /v1/impact/{agent}`: the assessment generated now, every recorded version, and whether the latest
/// still says the same.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Impact {
    pub agent: String,
    /// The latest recorded version, if it says what the draft says.
    pub current_version: Option<u64>,
    /// Versions were recorded, and the latest no longer says what the draft says: record a new one.
    pub changed_since_latest: bool,
    /// The draft, as generated now.
    pub assessment: ImpactAssessment,
    pub versions: Vec<ImpactVersionInfo>,
}

/// `POST /v1/impact/{agent}`: the version kept (201), or the latest one when it already says the same (200).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ImpactRecorded {
    pub new: bool,
    pub version: ImpactVersion,
}
