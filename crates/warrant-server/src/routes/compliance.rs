//! The ISO/IEC 42001 and EU AI Act engine over HTTP: `GET /v1/compliance/soa` (JSON, `?format=csv|md`),
//! `/v1/compliance/gaps`, `/v1/compliance/crosswalk`, `/v1/compliance/readiness`, the evidence index
//! (`/v1/compliance/evidence`, `/v1/compliance/sample`), documents (`/v1/documents`) and internal audits
//! (`/v1/audits`, `/v1/audits/plan`, `POST /v1/audits/run`).

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use warrant_core::change::ChangeContext;
use warrant_core::compliance::catalog::Catalog;
use warrant_core::compliance::report::{
    self, DocumentRef, Gaps, Implementation, ReadinessFacts, SoaRow, all_rules, crosswalk, gaps, readiness,
    soa,
};
use warrant_core::compliance::rules::{
    AlertFact, ChangeFact, DocumentFact, Facts, ImpactFact, RuleResult, evaluate,
};
use warrant_core::registry::Registry;
use warrant_core::registry::manifest::RiskClass;
use warrant_core::risk::Classification;
use warrant_store::Store;

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{Body, OptionalJson, Query};
use crate::routes::blocking;

type JsonResponse = Result<axum::Json<Value>, ApiError>;

fn catalog() -> Result<&'static Catalog, ApiError> {
    Catalog::builtin().map_err(|error| ApiError::internal(&error))
}

fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|time| time.with_timezone(&Utc))
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

/// Whether the store's latest checkpoint carries a valid signature by the log's key over its size and root.
fn checkpoint_verifies(store: &Store, checkpoint: &warrant_store::Checkpoint) -> bool {
    let Ok(verifier) = warrant_log::note::NoteVerifier::parse_vkey(store.verifier_key()) else {
        return false;
    };
    warrant_log::note::open_note(&checkpoint.note, &[verifier])
        .ok()
        .and_then(|opened| warrant_log::checkpoint::Checkpoint::parse(&opened.body).ok())
        .is_some_and(|body| body.size == checkpoint.size && body.root == checkpoint.root)
}

/// Gather the facts and run every evidence rule (blocking: call it from `blocking`).
pub fn assess(store: &Store, now: DateTime<Utc>) -> Result<Assessment, ApiError> {
    let catalog = catalog()?;
    let registry = store.registry();
    let (findings, classification) = crate::routes::risk::analysis(store, &registry)?;
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
                    approved_at: version.approved_at.as_deref().and_then(parse_time),
                    seq: version.approved_seq.unwrap_or(version.recorded_seq),
                },
            )
        })
        .collect();
    let firing_alerts = store
        .alerts(Some("firing"))?
        .into_iter()
        .filter_map(|alert| {
            Some(AlertFact {
                fired_at: parse_time(&alert.fired_at)?,
                id: alert.id,
                severity: alert.severity,
                incident: alert.incident,
                seq: alert.fired_seq,
            })
        })
        .collect();
    let monitoring_rules = warrant_core::monitor::rules::effective_rules(&registry)
        .iter()
        .filter(|rule| rule.enabled)
        .count();
    let checkpoint = store.latest_checkpoint()?.and_then(|checkpoint| {
        let verified = checkpoint_verifies(store, &checkpoint);
        Some((checkpoint.size, parse_time(&checkpoint.time)?, verified))
    });
    let documents = store.documents()?;
    let document_facts: Vec<DocumentFact> = documents
        .iter()
        .filter_map(|document| {
            Some(DocumentFact {
                sha256: document.sha256.clone(),
                title: document.title.clone(),
                controls: document.controls.clone(),
                added_at: parse_time(&document.added_at)?,
                seq: document.seq,
            })
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
        audits: audits
            .iter()
            .filter_map(|audit| Some((parse_time(&audit.at)?, audit.seq)))
            .collect(),
        recent_seqs: store.recent_evidence(3)?,
        nonconformities: store
            .nonconformities()?
            .iter()
            .map(|nc| {
                (
                    nc.get("id")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                    nc.get("due")
                        .and_then(Value::as_str)
                        .and_then(|due| chrono::NaiveDate::parse_from_str(due, "%Y-%m-%d").ok()),
                    nc.get("status").and_then(Value::as_str) == Some("open"),
                )
            })
            .collect(),
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
    pub fn soa(&self) -> Result<Vec<SoaRow>, ApiError> {
        Ok(soa(catalog()?, &self.registry, &self.results, &self.index))
    }

    pub fn gaps(&self) -> Result<Gaps, ApiError> {
        Ok(gaps(catalog()?, &self.registry, &self.results))
    }

    /// The crosswalk, with the documents attached to articles and tasks.
    pub fn crosswalk(
        &self,
        today: chrono::NaiveDate,
    ) -> Result<warrant_core::compliance::report::CrosswalkReport, ApiError> {
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
        Ok(crosswalk(
            catalog()?,
            &self.registry,
            &self.results,
            &documents,
            today,
        ))
    }
}

/// Count every committed event, then run every evidence rule and hand the assessment, as of `now`, to
/// `build` on a blocking thread: the frame of each compliance document.
async fn with_assessment<T: Send + 'static>(
    state: &AppState,
    build: impl FnOnce(&Store, Assessment, DateTime<Utc>) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    state.store.flush_rollups().await?;
    let store = state.store.clone();
    blocking(move || {
        let now = Utc::now();
        let assessment = assess(&store, now)?;
        build(&store, assessment, now)
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FormatQuery {
    format: Option<String>,
}

/// `GET /v1/compliance/soa`: the Statement of Applicability, as JSON, CSV or Markdown.
pub async fn get_soa(
    State(state): State<AppState>,
    Query(query): Query<FormatQuery>,
) -> Result<Response, ApiError> {
    let format = query.format.unwrap_or_else(|| "json".into());
    if !matches!(format.as_str(), "json" | "csv" | "md") {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("`format` is json, csv or md, not `{format}`"),
        ));
    }
    with_assessment(&state, move |store, assessment, _| {
        let rows = assessment.soa()?;
        let organization = assessment.registry.organization().map(|org| org.name.clone());
        let checkpoint = store.latest_checkpoint()?;
        Ok(match format.as_str() {
            "csv" => (
                [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
                soa_csv(&rows),
            )
                .into_response(),
            "md" => (
                [(header::CONTENT_TYPE, "text/markdown; charset=utf-8")],
                soa_markdown(organization.as_deref(), checkpoint.as_ref(), &rows),
            )
                .into_response(),
            _ => axum::Json(json!({
                "organization": organization,
                "generated_at": warrant_core::event::format_time(&Utc::now()),
                "log_size": store.size(),
                "summary": soa_summary(&rows),
                "controls": rows,
            }))
            .into_response(),
        })
    })
    .await
}

fn soa_summary(rows: &[SoaRow]) -> Value {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for row in rows {
        *counts.entry(row.status.as_str()).or_default() += 1;
    }
    json!({"controls": rows.len(), "applicable": rows.iter().filter(|row| row.applicable).count(), "by_status": counts})
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

pub(crate) fn soa_csv(rows: &[SoaRow]) -> String {
    let mut out = String::from(
        "control,title,objective,applicable,decided,justification,status,owner,plan,target_date,evidence_count,latest_seq,sample_seqs,basis\n",
    );
    for row in rows {
        let samples: Vec<String> = row.sample_seqs.iter().map(u64::to_string).collect();
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

pub(crate) fn soa_markdown(
    organization: Option<&str>,
    checkpoint: Option<&warrant_store::Checkpoint>,
    rows: &[SoaRow],
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
        Utc::now().format("%Y-%m-%d %H:%M UTC"),
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
                    .map(u64::to_string)
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

/// `GET /v1/compliance/gaps`.
pub async fn get_gaps(State(state): State<AppState>) -> JsonResponse {
    with_assessment(&state, |_, assessment, _| {
        Ok(axum::Json(json!(assessment.gaps()?)))
    })
    .await
}

/// `GET /v1/compliance/crosswalk`.
pub async fn get_crosswalk(State(state): State<AppState>) -> JsonResponse {
    with_assessment(&state, |_, assessment, now| {
        Ok(axum::Json(json!(assessment.crosswalk(now.date_naive())?)))
    })
    .await
}

/// `GET /v1/compliance/readiness`.
pub async fn get_readiness(State(state): State<AppState>) -> JsonResponse {
    with_assessment(&state, |store, assessment, now| {
        let gaps = assessment.gaps()?;
        let open = store
            .nonconformities()?
            .iter()
            .filter(|nc| nc.get("status").and_then(Value::as_str) == Some("open"))
            .count();
        let last_audit = assessment
            .audits
            .first()
            .and_then(|audit| Some((parse_time(&audit.at)?, open)));
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
        Ok(axum::Json(json!({
            "readiness": readiness(catalog()?, &assessment.registry, &gaps, &facts),
            "gaps": {"controls": gaps.controls_summary, "clauses": gaps.clauses_summary},
        })))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvidenceQuery {
    control: String,
    /// RFC 3339 times bounding the period.
    from: Option<String>,
    to: Option<String>,
}

fn hour_bound(text: Option<&str>, name: &str) -> Result<Option<i64>, ApiError> {
    text.map(|text| {
        warrant_core::event::parse_when(text)
            .map(|time| warrant_core::monitor::facts::hour_of(&time))
            .ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_query",
                    format!("`{name}` is an RFC 3339 time or a date (YYYY-MM-DD), not `{text}`"),
                )
            })
    })
    .transpose()
}

/// `GET /v1/compliance/evidence?control=A.6.2.8&from=2026-07-01&to=2026-10-01`: how many events evidence the
/// control in the period, from the index.
pub async fn get_evidence(State(state): State<AppState>, Query(query): Query<EvidenceQuery>) -> JsonResponse {
    let from = hour_bound(query.from.as_deref(), "from")?.unwrap_or(i64::MIN);
    // `to` is exclusive: the hours before it.
    let to = hour_bound(query.to.as_deref(), "to")?.map_or(i64::MAX, |hour| hour - 1);
    state.store.flush_rollups().await?;
    let store = state.store.clone();
    blocking(move || {
        let index = store.evidence_index(Some((from, to)))?;
        let entry = index.get(&query.control).cloned().unwrap_or_default();
        Ok(axum::Json(json!({
            "control": query.control,
            "title": catalog()?.title(&query.control),
            "from": query.from, "to": query.to,
            "count": entry.count, "first_seq": entry.first_seq, "last_seq": entry.last_seq,
        })))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SampleQuery {
    control: String,
    n: Option<usize>,
    seed: Option<u64>,
}

/// One sampled evidence item: the event and its inclusion proof to the checkpoint.
pub fn sample_items(store: &Store, control: &str, n: usize, seed: u64) -> Result<Value, ApiError> {
    let checkpoint = store.latest_checkpoint()?.ok_or_else(|| {
        ApiError::new(
            StatusCode::CONFLICT,
            "no_checkpoint",
            "no checkpoint has been signed yet",
        )
    })?;
    let seqs = store.sample_evidence(control, n, seed, checkpoint.size)?;
    let mut items = Vec::new();
    for seq in seqs {
        let Some(event) = store.event(seq)? else {
            continue;
        };
        let proof = store
            .inclusion_proof(seq, checkpoint.size)
            .map_err(crate::routes::log::proof_error)?;
        let verified =
            warrant_log::proof::verify_inclusion(&event.leaf, seq, checkpoint.size, &proof, &checkpoint.root)
                .is_ok();
        items.push(json!({
            "seq": seq,
            "leaf": hex::encode(event.leaf),
            "event": event.body,
            "proof": proof.iter().map(hex::encode).collect::<Vec<_>>(),
            "verified": verified,
        }));
    }
    Ok(json!({
        "control": control, "n": n, "seed": seed,
        "checkpoint": {"size": checkpoint.size, "root": hex::encode(checkpoint.root), "note": checkpoint.note},
        "items": items,
    }))
}

/// `GET /v1/compliance/sample?control=A.6.2.8&n=25&seed=7`: evidence items picked by the seed, with proofs.
pub async fn get_sample(State(state): State<AppState>, Query(query): Query<SampleQuery>) -> JsonResponse {
    let n = query.n.unwrap_or(25);
    if n == 0 || n > 1000 {
        return Err(ApiError::bad_request(
            "invalid_query",
            "`n` is between 1 and 1000",
        ));
    }
    state.store.flush_rollups().await?;
    state.store.checkpoint().await?;
    let store = state.store.clone();
    blocking(move || {
        Ok(axum::Json(sample_items(
            &store,
            &query.control,
            n,
            query.seed.unwrap_or(0),
        )?))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DocumentQuery {
    name: String,
    title: Option<String>,
    /// Comma-separated controls, clauses, articles or crosswalk task ids.
    controls: String,
    reason: Option<String>,
}

/// At most this many bytes per document.
const MAX_DOCUMENT_BYTES: usize = 16 * 1024 * 1024;

/// `POST /v1/documents?name=policy.pdf&controls=A.2.2,5.2`: keep the body as evidence (admin).
pub async fn add_document(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<DocumentQuery>,
    Body(body): Body,
) -> Result<(StatusCode, axum::Json<Value>), ApiError> {
    if body.is_empty() {
        return Err(ApiError::bad_request("empty_document", "the document is empty"));
    }
    if body.len() > MAX_DOCUMENT_BYTES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("a document is at most {MAX_DOCUMENT_BYTES} bytes"),
        ));
    }
    let catalog = catalog()?;
    let controls: Vec<String> = query
        .controls
        .split(',')
        .map(str::trim)
        .filter(|control| !control.is_empty())
        .map(str::to_owned)
        .collect();
    for control in &controls {
        let known = catalog.is_iso_ref(control)
            || catalog.article(control).is_some()
            || catalog.crosswalk.tasks.iter().any(|task| task.id == *control);
        if !known {
            return Err(ApiError::bad_request(
                "unknown_control",
                format!(
                    "`{control}` is not an ISO/IEC 42001 control or clause, an EU AI Act article or a crosswalk task"
                ),
            ));
        }
    }
    if controls.is_empty() {
        return Err(ApiError::bad_request(
            "invalid_query",
            "name at least one control",
        ));
    }
    let title = query.title.unwrap_or_else(|| query.name.clone());
    let (document, new) = state
        .store
        .add_document(
            query.name,
            title,
            controls,
            body.to_vec(),
            ChangeContext {
                principal: caller.principal().clone(),
                reason: query.reason,
                time: Utc::now(),
            },
        )
        .await?;
    Ok((
        if new { StatusCode::CREATED } else { StatusCode::OK },
        axum::Json(json!({"new": new, "document": document})),
    ))
}

pub async fn list_documents(State(state): State<AppState>) -> JsonResponse {
    let store = state.store.clone();
    blocking(move || Ok(axum::Json(json!({"items": store.documents()?})))).await
}

/// `GET /v1/documents/{sha256}`: the document's bytes.
pub async fn get_document(
    State(state): State<AppState>,
    Path(sha256): Path<String>,
) -> Result<Response, ApiError> {
    let store = state.store.clone();
    blocking(move || {
        let content = store
            .document_content(&sha256)?
            .ok_or_else(|| ApiError::not_found(format!("no document {sha256}")))?;
        Ok(([(header::CONTENT_TYPE, "application/octet-stream")], content).into_response())
    })
    .await
}

/// The audit plan: every implemented control is sampled; the rest are reviewed for nonconformities.
fn plan(rows: &[SoaRow], n: usize) -> Value {
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

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct AuditRequest {
    n: Option<usize>,
    seed: Option<u64>,
}

pub async fn audit_plan(State(state): State<AppState>) -> JsonResponse {
    with_assessment(&state, |_, assessment, _| {
        Ok(axum::Json(plan(&assessment.soa()?, 5)))
    })
    .await
}

/// `POST /v1/audits/run`: sample every implemented control's evidence and verify each proof; record a
/// nonconformity for each applicable control that is not implemented (stale, partial or missing evidence) and
/// for each sample that fails; keep the report with its management-review inputs (admin).
pub async fn audit_run(
    State(state): State<AppState>,
    caller: Caller,
    OptionalJson(request): OptionalJson<AuditRequest>,
) -> Result<(StatusCode, axum::Json<Value>), ApiError> {
    let n = request.n.unwrap_or(5);
    if n == 0 || n > 100 {
        return Err(ApiError::bad_request(
            "invalid_request",
            "`n` is between 1 and 100",
        ));
    }
    state.store.flush_rollups().await?;
    state.store.checkpoint().await?;
    let store = state.store.clone();
    let report = blocking(move || audit_report(&store, n, request.seed)).await?;
    let record = state
        .store
        .record_audit(
            report,
            ChangeContext {
                principal: caller.principal().clone(),
                reason: Some("internal audit (ISO/IEC 42001 9.2)".into()),
                time: Utc::now(),
            },
        )
        .await?;
    Ok((StatusCode::CREATED, axum::Json(record.report)))
}

fn audit_report(store: &Store, n: usize, seed: Option<u64>) -> Result<Value, ApiError> {
    let now = Utc::now();
    let assessment = assess(store, now)?;
    let rows = assessment.soa()?;
    let checkpoint = store.latest_checkpoint()?.ok_or_else(|| {
        ApiError::new(
            StatusCode::CONFLICT,
            "no_checkpoint",
            "no checkpoint has been signed yet",
        )
    })?;
    // Without a seed the checkpoint root picks the samples: fixed before the audit, not chosen by warrant.
    let seed = seed.unwrap_or_else(|| {
        checkpoint
            .root
            .iter()
            .take(8)
            .fold(0u64, |acc, byte| (acc << 8) | u64::from(*byte))
    });
    let due = |days: i64| (now + Duration::days(days)).date_naive().to_string();
    let mut controls = Vec::new();
    let mut nonconformities = Vec::new();
    for row in &rows {
        if row.status == Implementation::Implemented {
            let sample = sample_items(store, &row.control, n, seed)?;
            let items = sample
                .get("items")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let failed: Vec<u64> = items
                .iter()
                .filter(|item| item.get("verified") != Some(&Value::Bool(true)))
                .filter_map(|item| item.get("seq").and_then(Value::as_u64))
                .collect();
            if items.is_empty() {
                nonconformities.push(json!({
                    "id": format!("nc-{}-no-samples", row.control), "control": row.control, "grade": "minor",
                    "finding": "marked implemented, but no evidence event could be sampled for it",
                    "corrective_action": "check which records evidence the control and that they reach the log",
                    "owner": row.owner, "due": due(90), "status": "open",
                }));
            }
            if !failed.is_empty() {
                nonconformities.push(json!({
                    "id": format!("nc-{}-proof", row.control), "control": row.control, "grade": "major",
                    "finding": format!("the inclusion proofs of seqs {failed:?} do not verify against checkpoint {}", checkpoint.size),
                    "corrective_action": "run `warrant verify` and investigate the log's integrity",
                    "owner": row.owner, "due": due(7), "status": "open",
                }));
            }
            controls.push(json!({
                "control": row.control, "title": row.title, "result": if items.is_empty() { "no evidence sampled" } else if failed.is_empty() { "evidence verified" } else { "proof failed" },
                "sampled": items.iter().map(|item| json!({"seq": item.get("seq"), "kind": item.pointer("/event/kind"), "verified": item.get("verified")})).collect::<Vec<_>>(),
            }));
        } else if row.applicable {
            let reasons: Vec<&str> = row.rules.iter().map(|result| result.reason.as_str()).collect();
            let grade = if row.status == Implementation::Partial {
                "minor"
            } else {
                "major"
            };
            nonconformities.push(json!({
                "id": format!("nc-{}", row.control), "control": row.control, "grade": grade,
                "finding": if reasons.is_empty() { "no evidence rule covers it and nothing is attached".to_owned() } else { reasons.join("; ") },
                "corrective_action": row.rules.iter().find_map(|result| result.next_step.clone())
                    .unwrap_or_else(|| format!("attach its documented information (`warrant docs add FILE --control {}`)", row.control)),
                "owner": row.owner, "due": due(if grade == "major" { 30 } else { 90 }), "status": "open",
            }));
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
        "major": nonconformities.iter().filter(|nc| nc["grade"] == "major").count(),
        "minor": nonconformities.iter().filter(|nc| nc["grade"] == "minor").count(),
    });
    Ok(json!({
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
    }))
}

pub async fn list_audits(State(state): State<AppState>) -> JsonResponse {
    let store = state.store.clone();
    blocking(move || {
        Ok(axum::Json(
            json!({"items": store.audits()?.into_iter().map(|audit| audit.report).collect::<Vec<_>>()}),
        ))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportBody {
    from: String,
    to: String,
    #[serde(default)]
    agents: Vec<String>,
    #[serde(default)]
    with_content: bool,
}

/// `POST /v1/evidence/export`: the signed evidence bundle of a period, as a `.tar.gz` (auditor or admin). It is
/// built in the data directory and streamed from disk, so memory stays flat.
pub async fn export_bundle(
    State(state): State<AppState>,
    crate::extract::Json(body): crate::extract::Json<ExportBody>,
) -> Result<Response, ApiError> {
    let when = |text: &str, name: &str| {
        warrant_core::event::parse_when(text).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_request",
                format!("`{name}` is a date (YYYY-MM-DD) or an RFC 3339 time, not `{text}`"),
            )
        })
    };
    let request = crate::bundle::ExportRequest {
        from: when(&body.from, "from")?,
        to: when(&body.to, "to")?,
        agents: body.agents,
        with_content: body.with_content,
    };
    let exports = state.store.dir().join("exports");
    let name = format!(
        "bundle-{}-{}",
        Utc::now().format("%Y%m%dT%H%M%S%.f"),
        std::process::id()
    );
    let dir = exports.join(&name);
    let archive = exports.join(format!("{name}.tar.gz"));
    let store = state.store.clone();
    let handle = tokio::runtime::Handle::current();
    let (built_dir, built_archive) = (dir.clone(), archive.clone());
    let result = tokio::task::spawn_blocking(move || {
        let summary = handle.block_on(crate::bundle::export(&store, &request, &built_dir, |_, _| {}));
        let packed = summary.and_then(|_| crate::bundle::pack(&built_dir, &built_archive));
        let _ = std::fs::remove_dir_all(&built_dir);
        packed
    })
    .await
    .map_err(|error| ApiError::internal(&error))?;
    if let Err(error) = result {
        let _ = std::fs::remove_file(&archive);
        return Err(match error {
            crate::bundle::ExportError::Invalid(message) => ApiError::bad_request("invalid_request", message),
            other => ApiError::internal(&other),
        });
    }
    let file = tokio::fs::File::open(&archive)
        .await
        .map_err(|error| ApiError::internal(&error))?;
    // The open handle keeps the bytes readable; the name goes now so nothing is left behind.
    let _ = tokio::fs::remove_file(&archive).await;
    let stream = tokio_util::io::ReaderStream::new(file);
    Ok((
        [
            (header::CONTENT_TYPE, "application/gzip".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}.tar.gz\""),
            ),
        ],
        axum::body::Body::from_stream(stream),
    )
        .into_response())
}

pub async fn list_nonconformities(State(state): State<AppState>) -> JsonResponse {
    let store = state.store.clone();
    blocking(move || Ok(axum::Json(json!({"items": store.nonconformities()?})))).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloseBody {
    action: String,
}

/// `POST /v1/nonconformities/{id}/close`: the corrective action taken (approver or admin).
pub async fn close_nonconformity(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    crate::extract::Json(body): crate::extract::Json<CloseBody>,
) -> JsonResponse {
    let record = state
        .store
        .close_nonconformity(
            id,
            body.action,
            ChangeContext {
                principal: caller.principal().clone(),
                reason: None,
                time: Utc::now(),
            },
        )
        .await?;
    Ok(axum::Json(record))
}
