//! Internal audits (ISO/IEC 42001 9.2) as operations: the plan (every implemented control sampled, the rest
//! reviewed), and the run: sample each implemented control's evidence and verify every proof, raise a
//! nonconformity for each applicable control that is not implemented and for each sample that fails, and keep
//! the report with its management-review inputs (9.3.2).

use chrono::{DateTime, Utc};
use serde_json::Value;
use warrant_api::ErrorCode;
use warrant_api::compliance as api;
use warrant_core::change::ChangeContext;
use warrant_core::compliance::audit::{Grade, Nonconformity, SampleOutcome, grade_gap, grade_sample};
use warrant_core::compliance::report::{Implementation, SoaRow};
use warrant_core::identity::Principal;
use warrant_store::Store;

use crate::blocking;
use crate::compliance::{assess, sample_items, wire};
use crate::error::{Result, ServiceError};

/// The largest sample per control an audit may take.
pub const MAX_AUDIT_SAMPLE: usize = 100;

/// The audit plan: every implemented control is sampled; the rest are reviewed for nonconformities.
pub fn plan(rows: &[SoaRow], n: usize) -> api::AuditPlan {
    let sampled = rows
        .iter()
        .filter(|row| row.status == Implementation::Implemented)
        .map(|row| api::PlannedSample {
            control: row.control.clone(),
            title: row.title.clone(),
            samples: n,
            owner: row.owner.clone(),
        })
        .collect();
    let reviewed = rows
        .iter()
        .filter(|row| row.applicable && row.status != Implementation::Implemented)
        .map(|row| api::PlannedReview {
            control: row.control.clone(),
            title: row.title.clone(),
            status: wire::implementation(row.status),
            owner: row.owner.clone(),
        })
        .collect();
    api::AuditPlan {
        sample_per_control: n,
        sampled,
        reviewed,
    }
}

/// An audit's findings, before they are recorded.
pub struct Findings {
    /// The report as kept and answered (with its management-review inputs); no id yet.
    pub report: api::AuditReport,
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
            let items = sample_items(store, &row.control, n, seed)?.items;
            let outcome = SampleOutcome {
                sampled: items.len(),
                failed: items
                    .iter()
                    .filter(|item| !item.verified)
                    .map(|item| item.seq)
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
            let sampled = items
                .iter()
                .map(|item| api::AuditedEvent {
                    seq: item.seq,
                    kind: item
                        .event
                        .get("kind")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                    verified: item.verified,
                })
                .collect();
            controls.push(api::AuditedControl {
                control: row.control.clone(),
                title: row.title.clone(),
                result: result.to_owned(),
                sampled: Some(sampled),
                status: None,
            });
        } else if let Some(nc) = grade_gap(row, now) {
            nonconformities.push(nc);
            controls.push(api::AuditedControl {
                control: row.control.clone(),
                title: row.title.clone(),
                result: "nonconformity recorded".to_owned(),
                sampled: None,
                status: Some(wire::implementation(row.status)),
            });
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
    let sampled = || controls.iter().filter_map(|control| control.sampled.as_ref());
    let summary = api::AuditSummary {
        controls_sampled: sampled().count(),
        items_verified: sampled().flatten().filter(|item| item.verified).count(),
        nonconformities: nonconformities.len(),
        major: nonconformities
            .iter()
            .filter(|nc| nc.grade == Grade::Major)
            .count(),
        minor: nonconformities
            .iter()
            .filter(|nc| nc.grade == Grade::Minor)
            .count(),
    };
    let management_review = api::ManagementReview {
        clause: "9.3.2".to_owned(),
        previous_audit: previous.map(|audit| api::PreviousAudit {
            id: audit.id.clone(),
            at: warrant_core::event::format_time(&audit.at),
        }),
        changes_since_previous: changes_since,
        performance: wire::gap_summary(&gaps),
        incidents: api::OpenCount {
            total: incidents.len(),
            open: incidents
                .iter()
                .filter(|incident| incident.status != warrant_core::incident::IncidentStatus::Closed)
                .count(),
        },
        risks: api::OpenCount {
            total: risks.len(),
            open: risks
                .iter()
                .filter(|risk| risk.status == warrant_core::risk::register::RiskStatus::Open)
                .count(),
        },
        opportunities: gaps
            .controls
            .iter()
            .filter(|row| row.gap != "have" && row.gap != "excluded")
            .take(5)
            .map(|row| {
                format!(
                    "{} {}: {}",
                    row.id,
                    row.title,
                    row.next_step.clone().unwrap_or_default()
                )
            })
            .collect(),
    };
    let report = api::AuditReport {
        scope: "ISO/IEC 42001:2023 Annex A controls in the Statement of Applicability".to_owned(),
        checkpoint: api::AuditCheckpoint {
            size: checkpoint.size,
            root: hex::encode(checkpoint.root),
        },
        seed,
        sample_per_control: n,
        summary,
        controls,
        nonconformities: nonconformities.iter().map(wire::nonconformity).collect(),
        management_review,
        id: None,
        seq: None,
        at: None,
    };
    Ok(Findings {
        report,
        raised: nonconformities,
    })
}

/// Run an internal audit as of `now` and keep its report; nonconformities open, stay open or close.
pub async fn run(
    store: &Store,
    n: usize,
    seed: Option<u64>,
    principal: &Principal,
    now: DateTime<Utc>,
) -> Result<api::AuditReport> {
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
    let kept = serde_json::to_value(&findings.report).map_err(|error| ServiceError::internal(&error))?;
    let record = store
        .record_audit(
            kept,
            findings.raised,
            ChangeContext {
                principal: principal.clone(),
                reason: Some("internal audit (ISO/IEC 42001 9.2)".into()),
                time: now,
            },
        )
        .await?;
    Ok(api::AuditReport {
        id: Some(record.id),
        seq: Some(record.seq),
        at: Some(warrant_core::event::format_time(&record.at)),
        ..findings.report
    })
}

/// Every internal audit's report, the latest first.
pub fn audits(store: &Store) -> Result<Vec<api::AuditReport>> {
    store
        .audits()?
        .into_iter()
        .map(|audit| {
            serde_json::from_value(audit.report).map_err(|error| {
                ServiceError::internal(&format!("the report of {} does not read back: {error}", audit.id))
            })
        })
        .collect()
}

/// Every nonconformity, open ones first.
pub fn nonconformities(store: &Store) -> Result<Vec<api::Nonconformity>> {
    Ok(store.nonconformities()?.iter().map(wire::nonconformity).collect())
}

/// Close a nonconformity with the corrective action taken (ISO/IEC 42001 10.2).
pub async fn close_nonconformity(
    store: &Store,
    id: String,
    action: String,
    context: ChangeContext,
) -> Result<api::Nonconformity> {
    Ok(wire::nonconformity(
        &store.close_nonconformity(id, action, context).await?,
    ))
}

/// The plan of an audit run as of `now`, with every rollup counted.
pub async fn planned(store: &Store, now: DateTime<Utc>) -> Result<api::AuditPlan> {
    crate::compliance::assessed(store, now, |_, assessment| Ok(plan(&assessment.soa()?, 5))).await
}
