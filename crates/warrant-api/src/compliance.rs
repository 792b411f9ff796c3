//! `/v1/compliance/*`, `/v1/documents`, `/v1/audits`, `/v1/nonconformities`: the ISO/IEC 42001 and EU AI Act
//! engine's answers.
//!
//! Ids are the catalog's: Annex A controls (`A.6.2.8`), clauses (`9.2`), EU AI Act articles (`Art. 12`) and
//! crosswalk tasks (`log-retention`). Dates are `YYYY-MM-DD`, times RFC 3339.

use std::collections::BTreeMap;
use warrant_log::Seq;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::events::CheckpointRef;

/// Where a control, clause or ISO item stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Implementation {
    Implemented,
    Partial,
    Planned,
    NotStarted,
    Excluded,
}

impl Implementation {
    pub fn as_str(self) -> &'static str {
        match self {
            Implementation::Implemented => "implemented",
            Implementation::Partial => "partial",
            Implementation::Planned => "planned",
            Implementation::NotStarted => "not_started",
            Implementation::Excluded => "excluded",
        }
    }
}

/// Where a control stands on one evidence rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
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

/// The evidence behind a rule's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct EvidenceRef {
    pub count: u64,
    /// The time of the latest evidence.
    pub latest: Option<String>,
    /// Seqs of evidence events (the latest few).
    pub seqs: Vec<Seq>,
}

/// One evidence rule's result for one control or clause.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RuleResult {
    pub rule: String,
    pub control: String,
    pub met: Met,
    pub reason: String,
    pub next_step: Option<String>,
    pub evidence: EvidenceRef,
}

/// One row of the Statement of Applicability: an Annex A control.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct SoaRow {
    pub control: String,
    pub title: String,
    pub objective: String,
    pub objective_title: String,
    pub applicable: bool,
    pub justification: String,
    /// `declared` (an `Applicability` manifest) or `default` (not yet decided: applicable).
    pub decided: String,
    pub status: Implementation,
    pub owner: String,
    pub plan: Option<String>,
    pub target_date: Option<NaiveDate>,
    /// Events tagged with the control (the evidence index), and the latest.
    pub evidence_count: u64,
    pub latest_seq: Option<Seq>,
    /// A few evidence seqs to look at (from the rules, else the index).
    pub sample_seqs: Vec<Seq>,
    pub rules: Vec<RuleResult>,
    /// An ISO/IEC 27001 management system usually carries much of it.
    pub iso27001: bool,
}

/// How many controls there are, how many apply, and how many have each status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct SoaSummary {
    pub controls: usize,
    pub applicable: usize,
    /// Status (`implemented`, `not_started` ...) to count; only the statuses that occur.
    pub by_status: BTreeMap<String, usize>,
}

/// `GET /v1/compliance/soa` (JSON): the Statement of Applicability, ISO/IEC 42001:2023 Annex A.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Soa {
    /// The declared `Organization`'s name.
    pub organization: Option<String>,
    pub generated_at: DateTime<Utc>,
    /// The evidence log's size when it was built.
    pub log_size: u64,
    pub summary: SoaSummary,
    /// The 38 controls in catalog order.
    pub controls: Vec<SoaRow>,
}

/// How many items have, have in part, miss or exclude.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Counts {
    pub have: usize,
    pub partial: usize,
    pub missing: usize,
    pub excluded: usize,
}

/// One line of the gap report: a control or a clause.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct GapRow {
    pub id: String,
    pub title: String,
    /// `have`, `partial`, `missing` or `excluded`.
    pub gap: String,
    pub status: Implementation,
    pub reason: String,
    pub next_step: Option<String>,
    /// The organisation holds ISO/IEC 27001 and its ISMS usually carries this.
    pub covered_by_iso27001: bool,
}

/// An agent-governance area and how its controls stand.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct AreaRow {
    pub id: String,
    pub title: String,
    pub have: usize,
    pub partial: usize,
    pub missing: usize,
    pub agents_add: String,
}

/// `GET /v1/compliance/gaps`: what the organisation has, has in part or misses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Gaps {
    pub controls_summary: Counts,
    pub clauses_summary: Counts,
    pub iso27001_declared: bool,
    pub controls: Vec<GapRow>,
    pub clauses: Vec<GapRow>,
    /// What agents add on top of ISO/IEC 42001, counted separately.
    pub agent_areas: Vec<AreaRow>,
}

/// The gap report's summary: Annex A controls and clauses 4-10.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct GapSummary {
    pub controls: Counts,
    pub clauses: Counts,
}

/// A kept document as the crosswalk lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct DocumentRef {
    pub sha256: String,
    pub title: String,
    pub seq: Seq,
}

/// One support link of an article, with the live status of the ISO item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct SupportRow {
    pub reference: String,
    pub title: String,
    /// `strong` or `moderate`.
    pub strength: String,
    pub why: String,
    pub status: Implementation,
}

/// When an article applies to one category of system, under the original text and as amended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Applies {
    pub category: String,
    pub original: NaiveDate,
    pub amended: NaiveDate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// An EU AI Act article and the support ISO/IEC 42001 gives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ArticleRow {
    pub article: String,
    pub title: String,
    /// The strongest support ISO/IEC 42001 gives: `strong`, `moderate` or `none`.
    pub coverage: String,
    pub applies: Vec<Applies>,
    pub supports: Vec<SupportRow>,
    pub not_covered: Option<String>,
}

/// An obligation ISO/IEC 42001 does not cover, tracked as a task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct TaskRow {
    pub id: String,
    pub article: String,
    pub title: String,
    pub description: String,
    pub applies_to: Vec<String>,
    /// From the task's `Obligation` manifest, when one is declared.
    pub owner: Option<String>,
    pub due: Option<NaiveDate>,
    /// `done`, `in_progress`, `not_applicable`, `open` or `untracked` (no `Obligation`).
    pub status: String,
    pub overdue: bool,
    /// For log retention: the check against the configured retention.
    pub check: Option<String>,
    pub documents: Vec<DocumentRef>,
    pub evidence: String,
}

/// `GET /v1/compliance/crosswalk`: the EU AI Act against ISO/IEC 42001.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Crosswalk {
    pub note: String,
    pub regulation: String,
    pub amended_by: String,
    pub articles: Vec<ArticleRow>,
    pub tasks: Vec<TaskRow>,
}

/// A stage of the certification pathway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Stage {
    pub name: String,
    pub done: bool,
    /// What is left before it is done.
    pub left: Vec<String>,
}

/// Whether and when to pursue certification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "schema", schemars(rename = "CertificationDecision"))]
#[serde(deny_unknown_fields)]
pub struct Decision {
    /// `pursue certification now`, `certify within 12 months` or `monitor and prepare`.
    pub recommendation: String,
    pub reasons: Vec<String>,
}

/// What certification would take in time and money: an estimate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Estimate {
    pub ai_systems: usize,
    pub months: String,
    pub cost_usd: String,
    pub note: String,
}

/// The certification readiness assessment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Readiness {
    pub organization: Option<String>,
    /// The first stage not done.
    pub stage: String,
    pub stages: Vec<Stage>,
    pub decision: Decision,
    pub estimate: Estimate,
}

/// `GET /v1/compliance/readiness`: the readiness assessment and the gap summary it rests on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ReadinessReport {
    pub readiness: Readiness,
    pub gaps: GapSummary,
}

/// `GET /v1/compliance/evidence`: how many events evidence a control in a period, from the index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct EvidenceCount {
    pub control: String,
    /// The catalog's title; none for an id it does not know.
    pub title: Option<String>,
    /// The period as asked (`to` is exclusive); none for unbounded.
    pub from: Option<String>,
    pub to: Option<String>,
    pub count: u64,
    pub first_seq: Option<Seq>,
    pub last_seq: Option<Seq>,
}

/// One sampled evidence event with its inclusion proof.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct SampledEvent {
    pub seq: Seq,
    /// The leaf hash.
    pub leaf: String,
    /// The committed event body, in the log's own format (docs/events.md).
    pub event: Value,
    pub proof: Vec<String>,
    /// Whether the proof verifies against the checkpoint's root.
    pub verified: bool,
}

/// `GET /v1/compliance/sample`: evidence items of a control picked by a seed, with proofs to one checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct EvidenceSample {
    pub control: String,
    pub n: usize,
    pub seed: u64,
    pub checkpoint: CheckpointRef,
    pub items: Vec<SampledEvent>,
}

/// A document kept as evidence (documented information, ISO/IEC 42001 7.5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Document {
    pub sha256: String,
    pub name: String,
    pub title: String,
    /// The controls, clauses, articles or crosswalk tasks it evidences.
    pub controls: Vec<String>,
    pub size: u64,
    pub added_at: DateTime<Utc>,
    pub added_by: String,
    /// The `document` event that put its hash in the log.
    pub seq: Seq,
}

/// `POST /v1/documents`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct AddedDocument {
    /// False when the same bytes were kept before (the answer is then the earlier document).
    pub new: bool,
    pub document: Document,
}

/// An implemented control the audit samples.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct PlannedSample {
    pub control: String,
    pub title: String,
    pub samples: usize,
    pub owner: String,
}

/// An applicable control not implemented, which the audit reviews.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct PlannedReview {
    pub control: String,
    pub title: String,
    pub status: Implementation,
    pub owner: String,
}

/// `GET /v1/audits/plan`: the internal audit plan (ISO/IEC 42001 9.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct AuditPlan {
    pub sample_per_control: usize,
    pub sampled: Vec<PlannedSample>,
    pub reviewed: Vec<PlannedReview>,
}

/// `POST /v1/audits/run`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RunAudit {
    /// Evidence items sampled per implemented control (default 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<usize>,
    /// Picks the samples; by default the checkpoint root does, so they are fixed before the audit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
}

/// How serious a nonconformity is; it sets how soon it is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Grade {
    Major,
    Minor,
}

impl Grade {
    pub fn as_str(self) -> &'static str {
        match self {
            Grade::Major => "major",
            Grade::Minor => "minor",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum NcStatus {
    Open,
    Closed,
}

impl NcStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            NcStatus::Open => "open",
            NcStatus::Closed => "closed",
        }
    }
}

/// A tracked nonconformity (ISO/IEC 42001 10.2). Its id says what it is about (`nc-<control>`,
/// `nc-<control>-proof`, `nc-<control>-no-samples`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Nonconformity {
    pub id: String,
    pub control: String,
    pub grade: Grade,
    pub finding: String,
    pub corrective_action: String,
    pub owner: String,
    pub due: NaiveDate,
    pub status: NcStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opened_at: Option<DateTime<Utc>>,
    /// The audits that raised it, oldest first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raised_in: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reopened_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_by: Option<String>,
    /// The corrective action taken, or why a later audit closed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closure: Option<String>,
}

/// `POST /v1/nonconformities/{id}/close`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct CloseNonconformity {
    /// The corrective action taken.
    pub action: String,
}

/// The checkpoint an audit's samples are proved to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct AuditCheckpoint {
    pub size: u64,
    pub root: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct AuditSummary {
    pub controls_sampled: usize,
    pub items_verified: usize,
    pub nonconformities: usize,
    pub major: usize,
    pub minor: usize,
}

/// One evidence item an audit sampled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct AuditedEvent {
    pub seq: Seq,
    /// The event's kind.
    pub kind: String,
    pub verified: bool,
}

/// One control the audit looked at: an implemented one sampled, or an applicable one not implemented.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct AuditedControl {
    pub control: String,
    pub title: String,
    /// `evidence verified`, `proof failed`, `no evidence sampled` or `nonconformity recorded`.
    pub result: String,
    /// For a sampled control: the items and whether their proofs verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sampled: Option<Vec<AuditedEvent>>,
    /// For a control not implemented: where it stands.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Implementation>,
}

/// The audit before, as the management review cites it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct PreviousAudit {
    pub id: String,
    pub at: String,
}

/// How many there are and how many are open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct OpenCount {
    pub total: usize,
    pub open: usize,
}

/// The management review's inputs (ISO/IEC 42001 9.3.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ManagementReview {
    /// `9.3.2`.
    pub clause: String,
    pub previous_audit: Option<PreviousAudit>,
    /// Registry changes since the previous audit (all of them when there is none).
    pub changes_since_previous: usize,
    pub performance: GapSummary,
    pub incidents: OpenCount,
    pub risks: OpenCount,
    /// The first few controls not fully evidenced, with their next step.
    pub opportunities: Vec<String>,
}

/// An internal audit's report (`POST /v1/audits/run`, and each item of `GET /v1/audits`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct AuditReport {
    pub scope: String,
    pub checkpoint: AuditCheckpoint,
    pub seed: u64,
    pub sample_per_control: usize,
    pub summary: AuditSummary,
    pub controls: Vec<AuditedControl>,
    /// The nonconformities this audit raised.
    pub nonconformities: Vec<Nonconformity>,
    pub management_review: ManagementReview,
    /// Set once the report is kept: the audit's id, its `audit` event and when it ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<Seq>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
}
