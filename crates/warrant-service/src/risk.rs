//! Risk and impact as operations: the analysis (findings over the tool-access graph and what the log shows,
//! the risk class computed per agent), the risk register kept in line with it, and impact assessments.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use warrant_api::ErrorCode;
use warrant_api::risk as wire;
use warrant_core::change::ChangeContext;
use warrant_core::identity::Principal;
use warrant_core::monitor::facts::hour_of;
use warrant_core::registry::Registry;
use warrant_core::registry::manifest::{RiskClass, Sensitivity};
use warrant_core::risk::impact::{FindingLine, ImpactAssessment, Reach, assess};
use warrant_core::risk::register::{Risk, RiskChange, RiskOp, RiskStatus, TreatRequest, Treatment};
use warrant_core::risk::{AccessGraph, Classification, Edge, Finding, Node, Observed, analyze, classify};
use warrant_store::{ImpactVersion, Store, StoreError};

use crate::blocking;
use crate::error::{Result, ServiceError};

/// A grant unused this many days is a least-privilege finding.
const UNUSED_DAYS: i64 = 30;

/// One run of the analysis over the registry and what the rollups show, as of `now`.
pub fn analysis(
    store: &Store,
    registry: &Registry,
    now: DateTime<Utc>,
) -> Result<(Vec<Finding>, Vec<Classification>), StoreError> {
    let observed = Observed {
        calls: store
            .tool_spans()?
            .into_iter()
            .map(|span| (span.agent, span.tool, span.last_hour))
            .collect(),
        agents: store.observed_agents()?.into_iter().collect(),
        unused_since_hour: Some(hour_of(&now) - UNUSED_DAYS * 24),
        accesses: store.observed_accesses()?,
        gate: store.gate_coverage()?,
        hidden_tools: crate::mcp::records(store)?
            .still_hidden(registry)
            .map(|(record, reason)| (record.clone(), reason))
            .collect(),
    };
    let findings = analyze(registry, Some(&observed));
    let classification = classify(registry, &findings);
    Ok((findings, classification))
}

/// Run the analysis and bring the register in line with it; returns what changed.
pub async fn assess_and_record(
    store: &Store,
    principal: &Principal,
    now: DateTime<Utc>,
) -> Result<wire::Assessed> {
    store.flush_rollups().await?;
    let registry = store.registry();
    let (reader, analysed) = (store.clone(), registry.clone());
    let (findings, _) = blocking(move || Ok(analysis(&reader, &analysed, now)?)).await?;
    let changes = store
        .sync_risks(
            findings,
            Arc::clone(&registry),
            ChangeContext {
                principal: principal.clone(),
                reason: Some("risk assessment".into()),
                time: now,
            },
        )
        .await?;
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for change in &changes {
        *counts.entry(change.op.as_str().to_owned()).or_default() += 1;
    }
    Ok(wire::Assessed {
        changes: counts,
        changed: changes.iter().map(change_to_wire).collect(),
        register: register_summary(&store.risks()?, now.date_naive()),
    })
}

/// The register's counts: total, by status, and how many are past their review date on `today`.
pub fn register_summary(risks: &[Risk], today: NaiveDate) -> wire::RegisterSummary {
    let mut by_status: BTreeMap<String, usize> = BTreeMap::new();
    for risk in risks {
        *by_status.entry(risk.status.as_str().to_owned()).or_default() += 1;
    }
    let overdue = risks
        .iter()
        .filter(|risk| risk.status != RiskStatus::Closed && risk.review_due < today)
        .count();
    wire::RegisterSummary {
        total: risks.len(),
        by_status,
        review_overdue: overdue,
    }
}

/// The findings, the classification and the register's counts, as of `now`.
pub fn findings(store: &Store, now: DateTime<Utc>) -> Result<wire::RiskReport> {
    let registry = store.registry();
    let (findings, classification) = analysis(store, &registry, now)?;
    let open = findings.iter().filter(|finding| finding.status == "open").count();
    Ok(wire::RiskReport {
        summary: wire::FindingsSummary {
            findings: findings.len(),
            open,
            mitigated: findings.len() - open,
        },
        classification: classification.iter().map(classification_to_wire).collect(),
        findings: findings.iter().map(finding_to_wire).collect(),
        register: register_summary(&store.risks()?, now.date_naive()),
    })
}

/// A register status named on the wire.
pub fn parse_risk_status(status: &str) -> Result<RiskStatus> {
    match status {
        "open" => Ok(RiskStatus::Open),
        "mitigated" => Ok(RiskStatus::Mitigated),
        "accepted" => Ok(RiskStatus::Accepted),
        "closed" => Ok(RiskStatus::Closed),
        other => Err(ServiceError::invalid(
            ErrorCode::InvalidQuery,
            format!("`status` is open, mitigated, accepted or closed, not `{other}`"),
        )),
    }
}

/// The register, highest score first, filtered by status and agent.
pub fn register(
    store: &Store,
    status: Option<RiskStatus>,
    agent: Option<&str>,
    today: NaiveDate,
) -> Result<wire::Register> {
    let risks = store.risks()?;
    let summary = register_summary(&risks, today);
    let mut items: Vec<_> = risks
        .into_iter()
        .filter(|risk| status.is_none_or(|status| risk.status == status))
        .filter(|risk| agent.is_none_or(|agent| risk.agent.split(',').any(|id| id == agent)))
        .collect();
    items.sort_by(|a, b| b.score.cmp(&a.score).then(a.id.cmp(&b.id)));
    Ok(wire::Register {
        summary,
        items: items.iter().map(risk_to_wire).collect(),
    })
}

pub fn risk(store: &Store, id: &str) -> Result<wire::Risk> {
    store
        .risks()?
        .iter()
        .find(|risk| risk.id == id)
        .map(risk_to_wire)
        .ok_or_else(|| ServiceError::not_found(format!("no risk `{id}`")))
}

/// Record a treatment decision.
pub async fn treat(
    store: &Store,
    id: String,
    request: TreatRequest,
    context: ChangeContext,
) -> Result<wire::RiskChange> {
    Ok(change_to_wire(&store.treat_risk(id, request, context).await?))
}

/// The impact assessment of `agent` as generated as of `now`.
pub fn draft(store: &Store, agent: &str, now: DateTime<Utc>) -> Result<ImpactAssessment> {
    let registry = store.registry();
    let (findings, classification) = analysis(store, &registry, now)?;
    assess(&registry, agent, &findings, &classification)
        .ok_or_else(|| ServiceError::not_found(format!("no agent `{agent}`")))
}

/// An agent's impact assessment: as generated now, every recorded version, and whether the latest still says
/// the same.
pub struct ImpactView {
    pub agent: String,
    pub draft: ImpactAssessment,
    pub versions: Vec<ImpactVersion>,
}

impl ImpactView {
    /// The latest recorded version, if it says what the draft says.
    pub fn current(&self) -> Option<&ImpactVersion> {
        self.versions
            .last()
            .filter(|latest| latest.assessment == self.draft)
    }

    /// The document: the latest recorded version if it is current, else the draft.
    pub fn markdown(&self) -> String {
        let header = self
            .current()
            .and_then(|version| serde_json::to_value(impact_version_to_wire(version)).ok());
        self.draft.to_markdown(header.as_ref())
    }

    pub fn to_wire(&self) -> wire::Impact {
        let current = self.current();
        wire::Impact {
            agent: self.agent.clone(),
            current_version: current.map(|version| version.version),
            changed_since_latest: current.is_none() && !self.versions.is_empty(),
            assessment: assessment_to_wire(&self.draft),
            versions: self
                .versions
                .iter()
                .map(|version| wire::ImpactVersionInfo {
                    version: version.version,
                    digest: version.digest.clone(),
                    recorded_at: version.recorded_at,
                    recorded_by: version.recorded_by.clone(),
                    recorded_seq: version.recorded_seq,
                    approved_by: version.approved_by.clone(),
                    approved_at: version.approved_at,
                    approved_seq: version.approved_seq,
                })
                .collect(),
        }
    }
}

pub fn impact(store: &Store, agent: &str, now: DateTime<Utc>) -> Result<ImpactView> {
    Ok(ImpactView {
        agent: agent.to_owned(),
        draft: draft(store, agent, now)?,
        versions: store.impact_versions(agent)?,
    })
}

/// Keep the assessment generated now as a new version; the same assessment as the latest version is not kept
/// twice (`new` is false, and the answer is that latest version).
pub async fn record_impact(
    store: &Store,
    agent: String,
    context: ChangeContext,
) -> Result<wire::ImpactRecorded> {
    store.flush_rollups().await?;
    let reader = store.clone();
    let now = context.time;
    let draft = blocking(move || draft(&reader, &agent, now)).await?;
    let (version, new) = store.record_impact(draft, context).await?;
    Ok(wire::ImpactRecorded {
        new,
        version: impact_version_to_wire(&version),
    })
}

/// Approve a recorded version of an agent's impact assessment.
pub async fn approve_impact(
    store: &Store,
    agent: String,
    version: u64,
    context: ChangeContext,
) -> Result<wire::ImpactVersion> {
    let version = store.approve_impact(agent, version, context).await?;
    Ok(impact_version_to_wire(&version))
}

/// The tool-access graph (of a registry's active agents) as the API gives it.
pub fn graph_to_wire(graph: &AccessGraph) -> wire::AccessGraph {
    let graph = &graph.graph;
    let label = |index| graph.node_weight(index).map(Node::label);
    wire::AccessGraph {
        nodes: graph
            .node_weights()
            .map(|node| wire::GraphNode {
                id: node.label(),
                node: node_to_wire(node),
            })
            .collect(),
        edges: graph
            .raw_edges()
            .iter()
            .filter_map(|edge| {
                Some(wire::GraphEdge {
                    from: label(edge.source())?,
                    to: label(edge.target())?,
                    edge: edge_to_wire(edge.weight),
                })
            })
            .collect(),
    }
}

fn node_to_wire(node: &Node) -> wire::NodeKind {
    match node {
        Node::DataSource { id, sensitivity } => wire::NodeKind::DataSource {
            id: id.clone(),
            sensitivity: sensitivity_to_wire(*sensitivity),
        },
        Node::Tool { id } => wire::NodeKind::Tool { id: id.clone() },
        Node::Agent { id } => wire::NodeKind::Agent { id: id.clone() },
        Node::External => wire::NodeKind::External,
        Node::UntrustedInput => wire::NodeKind::UntrustedInput,
    }
}

fn edge_to_wire(edge: Edge) -> wire::EdgeKind {
    match edge {
        Edge::Reads => wire::EdgeKind::Reads,
        Edge::Feeds => wire::EdgeKind::Feeds,
        Edge::Writes => wire::EdgeKind::Writes,
        Edge::Sends => wire::EdgeKind::Sends,
        Edge::Triggers => wire::EdgeKind::Triggers,
    }
}

fn sensitivity_to_wire(sensitivity: Sensitivity) -> wire::Sensitivity {
    match sensitivity {
        Sensitivity::Public => wire::Sensitivity::Public,
        Sensitivity::Internal => wire::Sensitivity::Internal,
        Sensitivity::Confidential => wire::Sensitivity::Confidential,
        Sensitivity::Restricted => wire::Sensitivity::Restricted,
    }
}

fn risk_class_to_wire(class: RiskClass) -> wire::RiskClass {
    match class {
        RiskClass::Minimal => wire::RiskClass::Minimal,
        RiskClass::Limited => wire::RiskClass::Limited,
        RiskClass::High => wire::RiskClass::High,
    }
}

pub fn finding_to_wire(finding: &Finding) -> wire::Finding {
    wire::Finding {
        id: finding.id.clone(),
        kind: finding.kind.to_owned(),
        severity: finding.severity.to_owned(),
        agent: finding.agent.clone(),
        summary: finding.summary.clone(),
        path: finding.path.clone(),
        status: finding.status.to_owned(),
        mitigation: finding.mitigation.clone(),
        controls: finding
            .controls
            .iter()
            .map(|control| (*control).to_owned())
            .collect(),
        treatment: finding.treatment.clone(),
    }
}

pub fn classification_to_wire(class: &Classification) -> wire::Classification {
    wire::Classification {
        agent: class.agent.clone(),
        declared: risk_class_to_wire(class.declared),
        computed: risk_class_to_wire(class.computed),
        reasons: class.reasons.clone(),
        eu_ai_act_hint: class.eu_ai_act_hint.clone(),
    }
}

fn status_to_wire(status: RiskStatus) -> wire::RiskStatus {
    match status {
        RiskStatus::Open => wire::RiskStatus::Open,
        RiskStatus::Mitigated => wire::RiskStatus::Mitigated,
        RiskStatus::Accepted => wire::RiskStatus::Accepted,
        RiskStatus::Closed => wire::RiskStatus::Closed,
    }
}

fn treatment_to_wire(treatment: Treatment) -> wire::Treatment {
    match treatment {
        Treatment::Accept => wire::Treatment::Accept,
        Treatment::Mitigate => wire::Treatment::Mitigate,
        Treatment::Transfer => wire::Treatment::Transfer,
        Treatment::Avoid => wire::Treatment::Avoid,
    }
}

fn op_to_wire(op: RiskOp) -> wire::RiskOp {
    match op {
        RiskOp::Opened => wire::RiskOp::Opened,
        RiskOp::Updated => wire::RiskOp::Updated,
        RiskOp::Reopened => wire::RiskOp::Reopened,
        RiskOp::Closed => wire::RiskOp::Closed,
        RiskOp::Treated => wire::RiskOp::Treated,
    }
}

pub fn risk_to_wire(risk: &Risk) -> wire::Risk {
    wire::Risk {
        id: risk.id.clone(),
        kind: risk.kind.clone(),
        agent: risk.agent.clone(),
        summary: risk.summary.clone(),
        path: risk.path.clone(),
        controls: risk.controls.clone(),
        severity: risk.severity.clone(),
        likelihood: risk.likelihood,
        impact: risk.impact,
        score: risk.score,
        level: risk.level.clone(),
        owner: risk.owner.clone(),
        treatment: risk.treatment.map(treatment_to_wire),
        plan: risk.plan.clone(),
        suggested_treatment: risk.suggested_treatment.clone(),
        status: status_to_wire(risk.status),
        mitigation: risk.mitigation.clone(),
        review_due: risk.review_due,
        opened_at: risk.opened_at,
        updated_at: risk.updated_at,
        closed_at: risk.closed_at,
        closed_evidence: risk.closed_evidence.clone(),
    }
}

pub fn change_to_wire(change: &RiskChange) -> wire::RiskChange {
    wire::RiskChange {
        op: op_to_wire(change.op),
        risk: risk_to_wire(&change.risk),
        changed: change.changed.iter().map(|field| (*field).to_owned()).collect(),
    }
}

pub fn assessment_to_wire(assessment: &ImpactAssessment) -> wire::ImpactAssessment {
    let reach = |reach: &Reach| wire::Reach {
        object: reach.object.clone(),
        nature: reach.nature.clone(),
        via: reach.via.clone(),
    };
    let finding = |line: &FindingLine| wire::FindingLine {
        id: line.id.clone(),
        severity: line.severity.clone(),
        status: line.status.clone(),
        summary: line.summary.clone(),
    };
    wire::ImpactAssessment {
        agent: assessment.agent.clone(),
        purpose: assessment.purpose.clone(),
        owner: assessment.owner.clone(),
        declared_risk_class: assessment.declared_risk_class.clone(),
        computed_risk_class: assessment.computed_risk_class.clone(),
        classification_reasons: assessment.classification_reasons.clone(),
        eu_ai_act_hint: assessment.eu_ai_act_hint.clone(),
        decision_scope: assessment.decision_scope.clone(),
        affected: assessment.affected.clone(),
        reach: assessment.reach.iter().map(reach).collect(),
        cascade: assessment.cascade.clone(),
        cascade_depth: assessment.cascade_depth,
        oversight: assessment.oversight.clone(),
        findings: assessment.findings.iter().map(finding).collect(),
        gaps: assessment.gaps.clone(),
        controls: assessment.controls.clone(),
    }
}

pub fn impact_version_to_wire(version: &ImpactVersion) -> wire::ImpactVersion {
    wire::ImpactVersion {
        agent: version.agent.clone(),
        version: version.version,
        digest: version.digest.clone(),
        recorded_at: version.recorded_at,
        recorded_by: version.recorded_by.clone(),
        recorded_seq: version.recorded_seq,
        approved_by: version.approved_by.clone(),
        approved_at: version.approved_at,
        approved_seq: version.approved_seq,
        assessment: assessment_to_wire(&version.assessment),
    }
}
