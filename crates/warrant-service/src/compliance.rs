//! The ISO/IEC 42001 and EU AI Act engine as operations: the assessment (every evidence rule over the facts
//! the store holds, as of a time), the documents built from it (SoA, gaps, crosswalk, readiness), the evidence
//! index and seeded samples with their proofs, and documented information kept as evidence. The answers are
//! `warrant_api::compliance` types, converted from the domain's in [`wire`].

pub mod wire;

use std::collections::BTreeMap;
use warrant_log::Seq;

use chrono::{DateTime, Utc};
use serde_json::Value;
use warrant_api::ErrorCode;
use warrant_api::compliance as api;
use warrant_core::change::ChangeContext;
use warrant_core::compliance::audit::NcStatus;
use warrant_core::compliance::catalog::Catalog;
use warrant_core::compliance::report::{self, DocumentRef, Gaps, ReadinessFacts, SoaRow, all_rules};
use warrant_core::compliance::rules::{
    AlertFact, ChangeFact, DocumentFact, Facts, ImpactFact, RuleResult, evaluate,
};
use warrant_core::identity::Principal;
use warrant_core::incident::AlertStatus;
use warrant_core::registry::Registry;
use warrant_core::registry::manifest::RiskClass;
use warrant_core::risk::Classification;
use warrant_store::Store;

use crate::error::{Failure, Result, ServiceError};

pub fn catalog() -> Result<&'static Catalog> {
    Catalog::builtin().map_err(|error| ServiceError::internal(&error))
}

/// Everything the documents are built from, gathered once per request.
pub struct Assessment {
    pub registry: std::sync::Arc<Registry>,
    pub classification: Vec<Classification>,
    pub results: Vec<RuleResult>,
    pub index: BTreeMap<String, report::IndexEntry>,
    pub documents: Vec<warrant_store::Document>,
    pub audits: Vec<warrant_store::AuditRecord>,
}

/// Notifications delivered about incidents, by incident id: the audience told, when, and the event's seq.
fn incidents_told(
    store: &Store,
    registry: &warrant_core::registry::Registry,
) -> Result<BTreeMap<String, Vec<warrant_core::compliance::rules::Told>>> {
    let delivered = store.deliveries(&warrant_store::DeliveryFilter {
        state: Some(warrant_store::DeliveryState::Delivered),
        about_kind: Some("incident".into()),
        limit: 10_000,
        ..Default::default()
    })?;
    let mut told: BTreeMap<String, Vec<_>> = BTreeMap::new();
    for delivery in delivered {
        let (Some(at), Some(seq)) = (delivery.delivered_at, delivery.last_seq) else {
            continue;
        };
        let audience = crate::notify::audience(registry, &delivery.notifier)
            .unwrap_or_else(|| delivery.notifier.clone());
        told.entry(delivery.about_id)
            .or_default()
            .push(warrant_core::compliance::rules::Told { audience, at, seq });
    }
    Ok(told)
}

/// Gather the facts as of `now` and run every evidence rule (blocking: call it off the async workers).
pub fn assess(store: &Store, now: DateTime<Utc>) -> Result<Assessment> {
    let catalog = catalog()?;
    let registry = store.registry();
    let (findings, classification) = crate::risk::analysis(store, &registry, now)?;
    drop(findings);
    let risks = store.risks()?;
    let incidents = store.incidents()?;
    let impacts: BTreeMap<String, ImpactFact> = store
        .latest_impacts()?
        .into_iter()
        .map(|version| {
            (
                version.agent.clone(),
                ImpactFact {
                    version: version.version,
                    approved_at: version.approved_at,
                    seq: version.approved_seq.unwrap_or(version.recorded_seq),
                },
            )
        })
        .collect();
    let firing_alerts = store
        .alerts(Some(AlertStatus::Firing))?
        .into_iter()
        .map(|alert| AlertFact {
            fired_at: alert.fired_at,
            id: alert.id,
            severity: alert.severity,
            incident: alert.incident,
            seq: alert.fired_seq,
        })
        .collect();
    let monitoring_rules = warrant_core::monitor::rules::effective_rules(&registry)
        .iter()
        .filter(|rule| rule.enabled)
        .count();
    let checkpoint = store.latest_checkpoint()?.map(|checkpoint| {
        let verified = crate::log::checkpoint_verifies(store, &checkpoint);
        (checkpoint.size, checkpoint.time, verified)
    });
    let documents = store.documents()?;
    let document_facts: Vec<DocumentFact> = documents
        .iter()
        .map(|document| DocumentFact {
            sha256: document.sha256.clone(),
            title: document.title.clone(),
            controls: document.controls.clone(),
            added_at: document.added_at,
            seq: document.seq,
        })
        .collect();
    let changes: Vec<ChangeFact> = store
        .changes(&warrant_store::ChangeFilter::default())?
        .iter()
        .map(|change| {
            let attr = |name: &str| change.body.pointer(&format!("/attrs/{name}"));
            ChangeFact {
                seq: change.seq,
                object: format!(
                    "{}/{}",
                    attr("object_kind").and_then(Value::as_str).unwrap_or_default(),
                    attr("object_id").and_then(Value::as_str).unwrap_or_default()
                ),
                substantial: attr("substantial").and_then(Value::as_bool).unwrap_or(false),
                has_reason: attr("reason")
                    .and_then(Value::as_str)
                    .is_some_and(|reason| !reason.trim().is_empty()),
            }
        })
        .collect();
    let audits = store.audits()?;
    let today = now.timestamp().div_euclid(86_400);
    let facts = Facts {
        now,
        registry: &registry,
        classification: &classification,
        risks: &risks,
        impacts,
        incidents: &incidents,
        firing_alerts,
        monitoring_rules,
        agent_last_hour: store.agent_last_hours()?,
        kind_days: store.kind_days(today - 400)?,
        checkpoint,
        documents: document_facts,
        changes,
        audits: audits.iter().map(|audit| (audit.at, audit.seq)).collect(),
        recent_seqs: store.recent_evidence(3)?,
        nonconformities: store
            .nonconformities()?
            .iter()
            .map(|nc| (nc.id.clone(), Some(nc.due), nc.status == NcStatus::Open))
            .collect(),
        incidents_told: incidents_told(store, &registry)?,
    };
    let results: Vec<RuleResult> = all_rules(catalog, &registry)
        .iter()
        .flat_map(|rule| evaluate(rule, &facts))
        .collect();
    let index = store.evidence_index(None)?;
    Ok(Assessment {
        registry: registry.clone(),
        classification,
        results,
        index,
        documents,
        audits,
    })
}

impl Assessment {
    pub fn soa(&self) -> Result<Vec<SoaRow>> {
        Ok(report::soa(
            catalog()?,
            &self.registry,
            &self.results,
            &self.index,
        ))
    }

    pub fn gaps(&self) -> Result<Gaps> {
        Ok(report::gaps(catalog()?, &self.registry, &self.results))
    }

    /// The crosswalk, with the documents attached to articles and tasks.
    pub fn crosswalk(
        &self,
        today: chrono::NaiveDate,
    ) -> Result<warrant_core::compliance::report::CrosswalkReport> {
        let documents: Vec<(DocumentRef, Vec<String>)> = self
            .documents
            .iter()
            .map(|document| {
                (
                    DocumentRef {
                        sha256: document.sha256.clone(),
                        title: document.title.clone(),
                        seq: document.seq,
                    },
                    document.controls.clone(),
                )
            })
            .collect();
        Ok(report::crosswalk(
            catalog()?,
            &self.registry,
            &self.results,
            &documents,
            today,
        ))
    }
}

/// How many controls there are, how many apply, and how many have each status.
pub fn soa_summary(rows: &[SoaRow]) -> api::SoaSummary {
    let mut by_status: BTreeMap<String, usize> = BTreeMap::new();
    for row in rows {
        *by_status.entry(row.status.as_str().to_owned()).or_default() += 1;
    }
    api::SoaSummary {
        controls: rows.len(),
        applicable: rows.iter().filter(|row| row.applicable).count(),
        by_status,
    }
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

/// Each rule's verdict on a row: `rule (met): reason`.
fn basis(row: &SoaRow) -> Vec<String> {
    row.rules
        .iter()
        .map(|result| format!("{} ({}): {}", result.rule, result.met.as_str(), result.reason))
        .collect()
}

pub fn soa_csv(rows: &[SoaRow]) -> String {
    let mut out = String::from(
        "control,title,objective,applicable,decided,justification,status,owner,plan,target_date,evidence_count,latest_seq,sample_seqs,basis\n",
    );
    for row in rows {
        let samples: Vec<String> = row.sample_seqs.iter().map(Seq::to_string).collect();
        let basis = basis(row);
        let fields = [
            row.control.clone(),
            row.title.clone(),
            row.objective.clone(),
            row.applicable.to_string(),
            row.decided.to_owned(),
            row.justification.clone(),
            row.status.as_str().to_owned(),
            row.owner.clone(),
            row.plan.clone().unwrap_or_default(),
            row.target_date.map(|date| date.to_string()).unwrap_or_default(),
            row.evidence_count.to_string(),
            row.latest_seq.map(|seq| seq.to_string()).unwrap_or_default(),
            samples.join(" "),
            basis.join("; "),
        ];
        out.push_str(
            &fields
                .iter()
                .map(|field| csv_field(field))
                .collect::<Vec<_>>()
                .join(","),
        );
        out.push('\n');
    }
    out
}

pub fn soa_markdown(
    organization: Option<&str>,
    checkpoint: Option<&warrant_store::Checkpoint>,
    rows: &[SoaRow],
    generated: DateTime<Utc>,
) -> String {
    let mut out = format!(
        "# Statement of Applicability: ISO/IEC 42001:2023 Annex A\n\n\
         - Organisation: {}\n\
         - Generated: {} by warrant, from the registry and the evidence log\n\
         - Evidence checkpoint: {}\n\
         - Status: computed by the evidence rules (`catalog/evidence_rules.yaml`); a justification marked (default) \
           has no recorded applicability decision yet\n\
         - Every evidence seq has an inclusion proof in that checkpoint (`warrant log proof --seq N`)\n",
        organization.unwrap_or("(no Organization declared)"),
        generated.format("%Y-%m-%d %H:%M UTC"),
        checkpoint.map_or_else(
            || "none signed yet".to_owned(),
            |checkpoint| format!("size {}, root {}", checkpoint.size, hex::encode(checkpoint.root))
        ),
    );
    let mut objective = String::new();
    for row in rows {
        if row.objective != objective {
            objective.clone_from(&row.objective);
            out.push_str(&format!(
                "\n## {} {}\n\n| control | applicable | status | owner | evidence | justification | basis (evidence rules) |\n|---|---|---|---|---|---|---|\n",
                row.objective, row.objective_title
            ));
        }
        let basis = basis(row);
        let seqs = if row.sample_seqs.is_empty() {
            String::new()
        } else {
            format!(
                "; seqs {}",
                row.sample_seqs
                    .iter()
                    .map(Seq::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        out.push_str(&format!(
            "| {} {} | {} | {} | {} | {} event{}{} | {}{} | {} |\n",
            row.control,
            row.title,
            if row.applicable { "yes" } else { "no" },
            row.status.as_str().replace('_', " "),
            row.owner,
            row.evidence_count,
            if row.evidence_count == 1 { "" } else { "s" },
            seqs,
            row.justification.replace('|', "/"),
            if row.decided == "default" {
                " (default)"
            } else {
                ""
            },
            if basis.is_empty() {
                "-".to_owned()
            } else {
                basis.join("<br>").replace('|', "/")
            }
        ));
    }
    out
}

/// The SoA as the API answers it in JSON.
pub fn soa_report(store: &Store, assessment: &Assessment, rows: &[SoaRow], now: DateTime<Utc>) -> api::Soa {
    api::Soa {
        organization: assessment.registry.organization().map(|org| org.name.clone()),
        generated_at: now,
        log_size: store.size(),
        summary: soa_summary(rows),
        controls: rows.iter().map(wire::soa_row).collect(),
    }
}

/// The gap report as the API answers it.
pub fn gaps_report(assessment: &Assessment) -> Result<api::Gaps> {
    Ok(wire::gaps(&assessment.gaps()?))
}

/// The EU AI Act crosswalk as the API answers it, with task due dates checked against `today`.
pub fn crosswalk_report(assessment: &Assessment, today: chrono::NaiveDate) -> Result<api::Crosswalk> {
    Ok(wire::crosswalk(&assessment.crosswalk(today)?))
}

/// The readiness estimate and the gap summary it rests on.
pub fn readiness_report(
    store: &Store,
    assessment: &Assessment,
    now: DateTime<Utc>,
) -> Result<api::ReadinessReport> {
    let gaps = assessment.gaps()?;
    let open = store
        .nonconformities()?
        .iter()
        .filter(|nc| nc.status == NcStatus::Open)
        .count();
    let last_audit = assessment.audits.first().map(|audit| (audit.at, open));
    let high_risk_agents = assessment
        .classification
        .iter()
        .filter(|class| class.declared == RiskClass::High || class.computed == RiskClass::High)
        .count();
    let facts = ReadinessFacts {
        now,
        first_event: store
            .first_activity_hour()?
            .and_then(|hour| DateTime::from_timestamp(hour * 3600, 0)),
        last_audit,
        high_risk_agents,
    };
    Ok(api::ReadinessReport {
        readiness: wire::readiness(&report::readiness(
            catalog()?,
            &assessment.registry,
            &gaps,
            &facts,
        )),
        gaps: wire::gap_summary(&gaps),
    })
}

/// An RFC 3339 time or a date, as the hour it falls in.
fn hour_bound(text: Option<&str>, name: &str) -> Result<Option<i64>> {
    text.map(|text| {
        warrant_core::event::parse_when(text)
            .map(|time| warrant_core::monitor::facts::hour_of(&time))
            .ok_or_else(|| {
                ServiceError::invalid(
                    ErrorCode::InvalidQuery,
                    format!("`{name}` is an RFC 3339 time or a date (YYYY-MM-DD), not `{text}`"),
                )
            })
    })
    .transpose()
}

/// `control` is an ISO/IEC 42001 control or clause, an EU AI Act article or a crosswalk task (400
/// `unknown_control` otherwise): a typo answers with an error, not with "no evidence".
pub fn check_control(catalog: &Catalog, control: &str) -> Result<()> {
    let known = catalog.is_iso_ref(control)
        || catalog.article(control).is_some()
        || catalog.crosswalk.tasks.iter().any(|task| task.id == control);
    if known {
        return Ok(());
    }
    Err(ServiceError::invalid(
        ErrorCode::UnknownControl,
        format!(
            "`{control}` is not an ISO/IEC 42001 control or clause, an EU AI Act article or a crosswalk task"
        ),
    ))
}

/// How many events evidence `control` between `from` (inclusive) and `to` (exclusive), from the index.
pub fn evidence(
    store: &Store,
    control: &str,
    from: Option<&str>,
    to: Option<&str>,
) -> Result<api::EvidenceCount> {
    check_control(catalog()?, control)?;
    let first = hour_bound(from, "from")?.unwrap_or(i64::MIN);
    // `to` is exclusive: the hours before it.
    let last = hour_bound(to, "to")?.map_or(i64::MAX, |hour| hour - 1);
    let index = store.evidence_index(Some((first, last)))?;
    let entry = index.get(control).cloned().unwrap_or_default();
    Ok(api::EvidenceCount {
        control: control.to_owned(),
        title: catalog()?.title(control).map(str::to_owned),
        from: from.map(str::to_owned),
        to: to.map(str::to_owned),
        count: entry.count,
        first_seq: entry.first_seq,
        last_seq: entry.last_seq,
    })
}

/// The largest evidence sample one request may ask for.
pub const MAX_SAMPLE: usize = 1000;

/// A sample names a known control and asks for 1 to [`MAX_SAMPLE`] items.
pub fn check_sample(control: &str, n: usize) -> Result<()> {
    check_control(catalog()?, control)?;
    if n == 0 || n > MAX_SAMPLE {
        return Err(ServiceError::invalid(
            ErrorCode::InvalidQuery,
            format!("`n` is between 1 and {MAX_SAMPLE}"),
        ));
    }
    Ok(())
}

/// `n` evidence items of `control` picked by `seed`, each with its inclusion proof to the latest checkpoint.
pub fn sample_items(store: &Store, control: &str, n: usize, seed: u64) -> Result<api::EvidenceSample> {
    check_sample(control, n)?;
    let checkpoint = store
        .latest_checkpoint()?
        .ok_or_else(ServiceError::no_checkpoint)?;
    let seqs = store.sample_evidence(control, n, seed, checkpoint.size)?;
    let mut items = Vec::new();
    for seq in seqs {
        let Some(event) = store.event(seq)? else {
            continue;
        };
        let proof = store
            .inclusion_proof(seq, checkpoint.size)
            .map_err(crate::log::proof_error)?;
        let verified = warrant_log::proof::verify_inclusion(
            &event.leaf,
            seq.get(),
            checkpoint.size,
            &proof,
            &checkpoint.root,
        )
        .is_ok();
        items.push(api::SampledEvent {
            seq,
            leaf: hex::encode(event.leaf),
            event: event.body,
            proof: proof.iter().map(hex::encode).collect(),
            verified,
        });
    }
    Ok(api::EvidenceSample {
        control: control.to_owned(),
        n,
        seed,
        checkpoint: warrant_api::events::CheckpointRef {
            size: checkpoint.size,
            root: hex::encode(checkpoint.root),
            note: checkpoint.note,
        },
        items,
    })
}

/// Every document kept as evidence.
pub fn documents(store: &Store) -> Result<Vec<api::Document>> {
    Ok(store.documents()?.iter().map(wire::document).collect())
}

/// At most this many bytes per document.
pub const MAX_DOCUMENT_BYTES: usize = 16 * 1024 * 1024;

/// A document to keep as evidence of the controls, clauses, articles or crosswalk tasks it names.
pub struct NewDocument {
    pub name: String,
    pub title: Option<String>,
    /// Comma-separated controls, clauses, articles or crosswalk task ids.
    pub controls: String,
    pub reason: Option<String>,
    pub content: Vec<u8>,
}

/// Keep `document` as evidence; the same bytes kept before are not kept twice (`new` is false).
pub async fn add_document(
    store: &Store,
    document: NewDocument,
    principal: &Principal,
    now: DateTime<Utc>,
) -> Result<api::AddedDocument> {
    if document.content.is_empty() {
        return Err(ServiceError::invalid(
            ErrorCode::EmptyDocument,
            "the document is empty",
        ));
    }
    if document.content.len() > MAX_DOCUMENT_BYTES {
        return Err(ServiceError::new(
            Failure::TooLarge,
            ErrorCode::TooLarge,
            format!("a document is at most {MAX_DOCUMENT_BYTES} bytes"),
        ));
    }
    let catalog = catalog()?;
    let controls: Vec<String> = document
        .controls
        .split(',')
        .map(str::trim)
        .filter(|control| !control.is_empty())
        .map(str::to_owned)
        .collect();
    for control in &controls {
        check_control(catalog, control)?;
    }
    if controls.is_empty() {
        return Err(ServiceError::invalid(
            ErrorCode::InvalidQuery,
            "name at least one control",
        ));
    }
    let title = document.title.unwrap_or_else(|| document.name.clone());
    let (kept, new) = store
        .add_document(
            document.name,
            title,
            controls,
            document.content,
            ChangeContext {
                principal: principal.clone(),
                reason: document.reason,
                time: now,
            },
        )
        .await?;
    Ok(api::AddedDocument {
        new,
        document: wire::document(&kept),
    })
}

/// Count every committed event, then run every evidence rule as of `now` and hand the assessment to `build`,
/// off the async workers: the frame of each compliance document.
pub async fn assessed<T: Send + 'static>(
    store: &Store,
    now: DateTime<Utc>,
    build: impl FnOnce(&Store, Assessment) -> Result<T> + Send + 'static,
) -> Result<T> {
    store.flush_rollups().await?;
    let store = store.clone();
    crate::blocking(move || {
        let assessment = assess(&store, now)?;
        build(&store, assessment)
    })
    .await
}

/// How the Statement of Applicability is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SoaFormat {
    Json,
    Csv,
    Markdown,
}

impl SoaFormat {
    /// `json`, `csv` or `md`.
    pub fn parse(name: &str) -> Result<SoaFormat> {
        match name {
            "json" => Ok(SoaFormat::Json),
            "csv" => Ok(SoaFormat::Csv),
            "md" => Ok(SoaFormat::Markdown),
            other => Err(ServiceError::invalid(
                ErrorCode::InvalidQuery,
                format!("`format` is json, csv or md, not `{other}`"),
            )),
        }
    }
}

/// The Statement of Applicability in one of its forms.
pub enum SoaDocument {
    Json(Box<api::Soa>),
    Csv(String),
    Markdown(String),
}

/// The Statement of Applicability as of `now`.
pub async fn soa(store: &Store, format: SoaFormat, now: DateTime<Utc>) -> Result<SoaDocument> {
    assessed(store, now, move |store, assessment| {
        let rows = assessment.soa()?;
        Ok(match format {
            SoaFormat::Csv => SoaDocument::Csv(soa_csv(&rows)),
            SoaFormat::Markdown => SoaDocument::Markdown(soa_markdown(
                assessment.registry.organization().map(|org| org.name.as_str()),
                store.latest_checkpoint()?.as_ref(),
                &rows,
                now,
            )),
            SoaFormat::Json => SoaDocument::Json(Box::new(soa_report(store, &assessment, &rows, now))),
        })
    })
    .await
}

/// The gap report as of `now`.
pub async fn gaps(store: &Store, now: DateTime<Utc>) -> Result<api::Gaps> {
    assessed(store, now, |_, assessment| gaps_report(&assessment)).await
}

/// The EU AI Act crosswalk as of `now`.
pub async fn crosswalk(store: &Store, now: DateTime<Utc>) -> Result<api::Crosswalk> {
    assessed(store, now, move |_, assessment| {
        crosswalk_report(&assessment, now.date_naive())
    })
    .await
}

/// The certification readiness as of `now`.
pub async fn readiness(store: &Store, now: DateTime<Utc>) -> Result<api::ReadinessReport> {
    assessed(store, now, move |store, assessment| {
        readiness_report(store, &assessment, now)
    })
    .await
}
