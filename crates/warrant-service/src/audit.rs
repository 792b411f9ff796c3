//! Internal audits (ISO/IEC 42001 9.2) as operations: the plan (every implemented control sampled, the rest
//! reviewed), and the run: sample each implemented control's evidence and verify every proof, raise a
//! nonconformity for each applicable control that is not implemented and for each sample that fails, and keep
//! the report with its management-review inputs (9.3.2).

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use warrant_api::ErrorCode;
use warrant_core::change::ChangeContext;
use warrant_core::compliance::audit::{Grade, Nonconformity, SampleOutcome, grade_gap, grade_sample};
use warrant_core::compliance::report::{Implementation, SoaRow};
use warrant_core::identity::Principal;
use warrant_store::Store;

use crate::blocking;
use crate::compliance::{assess, sample_items};
use crate::error::{Result, ServiceError};

/// The largest sample per control an audit may take.
pub const MAX_AUDIT_SAMPLE: usize = 100;

/// The audit plan: every implemented control is sampled; the rest are reviewed for nonconformities.
pub fn plan(rows: &[SoaRow], n: usize) -> Value {
    let sampled: Vec<Value> = rows
        .iter()
        .filter(|row| row.status == Implementation::Implemented)
        .map(|row| json!({"control": row.control, "title": row.title, "samples": n, "owner": row.owner}))
        .collect();
    let reviewed: Vec<Value> = rows
        .iter()
        .filter(|row| row.applicable && row.status != Implementation::Implemented)
        .map(|row| json!({"control": row.control, "title": row.title, "status": row.status, "owner": row.owner}))
        .collect();
    json!({"sample_per_control": n, "sampled": sampled, "reviewed": reviewed})
}

/// An audit's findings, before they are recorded.
pub struct Findings {
    /// The report as kept and answered (with its management-review inputs).
    pub report: Value,
    /// The nonconformities it raised.
    pub raised: Vec<Nonconformity>,
}

/// The audit's report, as of `now`.
pub fn report(store: &Store, n: usize, seed: Option<u64>, now: DateTime<Utc>) -> Result<Findings> {
    let assessment = assess(store, now)?;
    let rows = assessment.soa()?;
    let checkpoint = store
        .latest_checkpoint()?
        .ok_or_else(ServiceError::no_checkpoint)?;
    // Without a seed the checkpoint root picks the samples: fixed before the audit, not chosen by warrant.
    let seed = seed.unwrap_or_else(|| {
        checkpoint
            .root
            .iter()
            .take(8)
            .fold(0u64, |acc, byte| (acc << 8) | u64::from(*byte))
    });
    let mut controls = Vec::new();
    let mut nonconformities: Vec<Nonconformity> = Vec::new();
    for row in &rows {
        if row.status == Implementation::Implemented {
            let sample = sample_items(store, &row.control, n, seed)?;
            let items = sample
                .get("items")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let outcome = SampleOutcome {
                sampled: items.len(),
                failed: items
                    .iter()
                    .filter(|item| item.get("verified") != Some(&Value::Bool(true)))
                    .filter_map(|item| item.get("seq").and_then(Value::as_u64))
                    .collect(),
            };
            nonconformities.extend(grade_sample(row, &outcome, checkpoint.size, now));
            let result = if items.is_empty() {
                "no evidence sampled"
            } else if outcome.failed.is_empty() {
                "evidence verified"
            } else {
                "proof failed"
            };
            let sampled: Vec<Value> = items
                .iter()
                .map(|item| json!({"seq": item.get("seq"), "kind": item.pointer("/event/kind"), "verified": item.get("verified")}))
                .collect();
            controls.push(
                json!({"control": row.control, "title": row.title, "result": result, "sampled": sampled}),
            );
        } else if let Some(nc) = grade_gap(row, now) {
            nonconformities.push(nc);
            controls.push(json!({"control": row.control, "title": row.title, "result": "nonconformity recorded", "status": row.status}));
        }
    }
    let gaps = assessment.gaps()?;
    let previous = assessment.audits.first();
    let changes_since = store
        .changes(&warrant_store::ChangeFilter::default())?
        .iter()
        .filter(|change| previous.is_none_or(|audit| change.seq > audit.seq))
        .count();
    let incidents = store.incidents()?;
    let risks = store.risks()?;
    let summary = json!({
        "controls_sampled": controls.iter().filter(|control| control["sampled"].is_array()).count(),
        "items_verified": controls.iter().filter_map(|control| control["sampled"].as_array()).flatten()
            .filter(|item| item["verified"] == true).count(),
        "nonconformities": nonconformities.len(),
        "major": nonconformities.iter().filter(|nc| nc.grade == Grade::Major).count(),
        "minor": nonconformities.iter().filter(|nc| nc.grade == Grade::Minor).count(),
    });
    let report = json!({
        "scope": "ISO/IEC 42001:2023 Annex A controls in the Statement of Applicability",
        "checkpoint": {"size": checkpoint.size, "root": hex::encode(checkpoint.root)},
        "seed": seed,
        "sample_per_control": n,
        "summary": summary,
        "controls": controls,
        "nonconformities": nonconformities,
        "management_review": {
            "clause": "9.3.2",
            "previous_audit": previous.map(|audit| json!({"id": audit.id, "at": audit.at})),
            "changes_since_previous": changes_since,
            "performance": {"controls": gaps.controls_summary, "clauses": gaps.clauses_summary},
            "incidents": {"total": incidents.len(), "open": incidents.iter().filter(|incident| incident.status != warrant_core::incident::IncidentStatus::Closed).count()},
            "risks": {"total": risks.len(), "open": risks.iter().filter(|risk| risk.status == warrant_core::risk::register::RiskStatus::Open).count()},
            "opportunities": gaps.controls.iter().filter(|row| row.gap != "have" && row.gap != "excluded")
                .take(5).map(|row| format!("{} {}: {}", row.id, row.title, row.next_step.clone().unwrap_or_default())).collect::<Vec<_>>(),
        },
    });
    Ok(Findings {
        report,
        raised: nonconformities,
    })
}

/// The plan of an audit over `rows`, sampling `n` items per implemented control.
pub fn audit_plan(store: &Store, now: DateTime<Utc>) -> Result<Value> {
    Ok(plan(&assess(store, now)?.soa()?, 5))
}

/// Run an internal audit as of `now` and keep its report; nonconformities open, stay open or close.
pub async fn run(
    store: &Store,
    n: usize,
    seed: Option<u64>,
    principal: &Principal,
    now: DateTime<Utc>,
) -> Result<Value> {
    if n == 0 || n > MAX_AUDIT_SAMPLE {
        return Err(ServiceError::invalid(
            ErrorCode::InvalidRequest,
            format!("`n` is between 1 and {MAX_AUDIT_SAMPLE}"),
        ));
    }
    store.flush_rollups().await?;
    store.checkpoint().await?;
    let reader = store.clone();
    let findings = blocking(move || report(&reader, n, seed, now)).await?;
    let record = store
        .record_audit(
            findings.report,
            findings.raised,
            ChangeContext {
                principal: principal.clone(),
                reason: Some("internal audit (ISO/IEC 42001 9.2)".into()),
                time: now,
            },
        )
        .await?;
    Ok(record.report)
}

/// Close a nonconformity with the corrective action taken (ISO/IEC 42001 10.2).
pub async fn close_nonconformity(
    store: &Store,
    id: String,
    action: String,
    context: ChangeContext,
) -> Result<Nonconformity> {
    Ok(store.close_nonconformity(id, action, context).await?)
}
