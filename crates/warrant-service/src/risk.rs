//! Risk and impact as operations: the analysis (findings over the tool-access graph and what the log shows,
//! the risk class computed per agent), the risk register kept in line with it, and impact assessments.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Value, json};
use warrant_api::ErrorCode;
use warrant_core::change::ChangeContext;
use warrant_core::identity::Principal;
use warrant_core::monitor::facts::hour_of;
use warrant_core::registry::Registry;
use warrant_core::risk::impact::{ImpactAssessment, assess};
use warrant_core::risk::register::{Risk, RiskStatus, TreatRequest};
use warrant_core::risk::{Classification, Finding, Observed, analyze, classify};
use warrant_store::{Store, StoreError};

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
    };
    let findings = analyze(registry, Some(&observed));
    let classification = classify(registry, &findings);
    Ok((findings, classification))
}

/// Run the analysis and bring the register in line with it; returns what changed.
pub async fn assess_and_record(store: &Store, principal: &Principal, now: DateTime<Utc>) -> Result<Value> {
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
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for change in &changes {
        *counts.entry(change.op.as_str()).or_default() += 1;
    }
    Ok(
        json!({"changes": counts, "changed": changes, "register": register_summary(&store.risks()?, now.date_naive())}),
    )
}

/// The register's counts: total, by status, and how many are past their review date on `today`.
pub fn register_summary(risks: &[Risk], today: NaiveDate) -> Value {
    let mut by_status: BTreeMap<&str, usize> = BTreeMap::new();
    for risk in risks {
        *by_status.entry(risk.status.as_str()).or_default() += 1;
    }
    let overdue = risks
        .iter()
        .filter(|risk| risk.status != RiskStatus::Closed && risk.review_due < today)
        .count();
    json!({"total": risks.len(), "by_status": by_status, "review_overdue": overdue})
}

/// The findings, the classification and the register's counts, as of `now`.
pub fn findings(store: &Store, now: DateTime<Utc>) -> Result<Value> {
    let registry = store.registry();
    let (findings, classification) = analysis(store, &registry, now)?;
    let open = findings.iter().filter(|finding| finding.status == "open").count();
    Ok(json!({
        "summary": {"findings": findings.len(), "open": open, "mitigated": findings.len() - open},
        "classification": classification,
        "findings": findings,
        "register": register_summary(&store.risks()?, now.date_naive()),
    }))
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
) -> Result<Value> {
    let risks = store.risks()?;
    let summary = register_summary(&risks, today);
    let mut items: Vec<_> = risks
        .into_iter()
        .filter(|risk| status.is_none_or(|status| risk.status == status))
        .filter(|risk| agent.is_none_or(|agent| risk.agent.split(',').any(|id| id == agent)))
        .collect();
    items.sort_by(|a, b| b.score.cmp(&a.score).then(a.id.cmp(&b.id)));
    Ok(json!({"summary": summary, "items": items}))
}

pub fn risk(store: &Store, id: &str) -> Result<Risk> {
    store
        .risks()?
        .into_iter()
        .find(|risk| risk.id == id)
        .ok_or_else(|| ServiceError::not_found(format!("no risk `{id}`")))
}

/// Record a treatment decision.
pub async fn treat(
    store: &Store,
    id: String,
    request: TreatRequest,
    context: ChangeContext,
) -> Result<Value> {
    Ok(json!(store.treat_risk(id, request, context).await?))
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
    pub versions: Vec<warrant_store::ImpactVersion>,
}

impl ImpactView {
    /// The latest recorded version, if it says what the draft says.
    pub fn current(&self) -> Option<&warrant_store::ImpactVersion> {
        self.versions
            .last()
            .filter(|latest| latest.assessment == self.draft)
    }

    /// The document: the latest recorded version if it is current, else the draft.
    pub fn markdown(&self) -> String {
        let header = self.current().map(|version| json!(version));
        self.draft.to_markdown(header.as_ref())
    }

    pub fn to_json(&self) -> Value {
        let current = self.current();
        let listed: Vec<Value> = self
            .versions
            .iter()
            .map(|version| {
                json!({
                    "version": version.version, "digest": version.digest, "recorded_at": version.recorded_at,
                    "recorded_by": version.recorded_by, "recorded_seq": version.recorded_seq,
                    "approved_by": version.approved_by, "approved_at": version.approved_at,
                    "approved_seq": version.approved_seq,
                })
            })
            .collect();
        json!({
            "agent": self.agent,
            "current_version": current.map(|version| version.version),
            "changed_since_latest": current.is_none() && !self.versions.is_empty(),
            "assessment": self.draft,
            "versions": listed,
        })
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
/// twice (`false`).
pub async fn record_impact(store: &Store, agent: String, context: ChangeContext) -> Result<(Value, bool)> {
    store.flush_rollups().await?;
    let reader = store.clone();
    let now = context.time;
    let draft = blocking(move || draft(&reader, &agent, now)).await?;
    let (version, new) = store.record_impact(draft, context).await?;
    Ok((json!(version), new))
}
