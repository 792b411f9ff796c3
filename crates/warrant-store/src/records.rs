//! The risk register and the versioned impact assessments: their tables, and the writer's operations on them.
//! Every change is a `risk` or an `impact_assessment` event committed with the row it describes, so the log
//! holds the whole history and the tables are only its latest state.

use std::sync::Arc;
use warrant_log::Seq;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use warrant_core::change::ChangeContext;
use warrant_core::event::EventKind;
use warrant_core::registry::Registry;
use warrant_core::risk::Finding;
use warrant_core::risk::impact::ImpactAssessment;
use warrant_core::risk::register::{Risk, RiskChange, TreatRequest, sync, treat};

use crate::db::{Db, Params};
use crate::writer::Log;
use crate::{Store, StoreError};

/// Why an operation on a record did nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
}

/// A stored version of an impact assessment.
#[derive(Debug, Clone, PartialEq)]
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

impl Store {
    /// The whole risk register, by id.
    pub fn risks(&self) -> Result<Vec<Risk>, StoreError> {
        self.read(|db| json_records(db, RISKS, &[]))
    }

    /// Bring the register in line with one run of the analysis: open, update, reopen or close risks, each
    /// with its `risk` event. Returns what changed (nothing when the register already agrees).
    pub async fn sync_risks(
        &self,
        findings: Vec<Finding>,
        registry: Arc<Registry>,
        context: ChangeContext,
    ) -> Result<Vec<RiskChange>, StoreError> {
        self.transact(move |log| {
            let existing = load_risks(log)?;
            let latest_change: Option<Seq> =
                log.transaction
                    .query_one("SELECT max(seq) FROM registry_versions", &[], |row| row.get(0))?;
            let evidence = format!(
                "analysis at log size {}{}",
                log.next_seq(),
                latest_change
                    .map(|seq| format!(", registry as of change seq {seq}"))
                    .unwrap_or_default()
            );
            let changes = sync(&existing, &findings, &registry, context.time, &evidence);
            for change in &changes {
                write_risk(log, change, &context)?;
            }
            Ok(changes)
        })
        .await
    }

    /// Record a treatment decision (treatment, owner, plan, review date) on one risk.
    pub async fn treat_risk(
        &self,
        id: String,
        request: TreatRequest,
        context: ChangeContext,
    ) -> Result<RiskChange, StoreError> {
        self.transact(move |log| {
            let risk = load_risks(log)?
                .into_iter()
                .find(|risk| risk.id == id)
                .ok_or_else(|| RecordError::NotFound(format!("no risk `{id}`")))?;
            let change = treat(&risk, &request, context.time).map_err(RecordError::Invalid)?;
            write_risk(log, &change, &context)?;
            Ok(change)
        })
        .await
    }

    /// Every recorded version of `agent`'s impact assessment, oldest first.
    pub fn impact_versions(&self, agent: &str) -> Result<Vec<ImpactVersion>, StoreError> {
        let stored: Vec<StoredImpact> = self.read(|db| json_records(db, IMPACTS, &[&agent]))?;
        Ok(stored.into_iter().map(ImpactVersion::from).collect())
    }

    /// Per agent, the latest approved version of its impact assessment, else its latest version.
    pub fn latest_impacts(&self) -> Result<Vec<ImpactVersion>, StoreError> {
        let stored: Vec<StoredImpact> = self.read(|db| {
            json_records(
                db,
                "SELECT record FROM impact_assessments ORDER BY agent, (approved_seq IS NOT NULL), version",
                &[],
            )
        })?;
        let mut latest: std::collections::BTreeMap<String, ImpactVersion> = std::collections::BTreeMap::new();
        for version in stored.into_iter().map(ImpactVersion::from) {
            latest.insert(version.agent.clone(), version);
        }
        Ok(latest.into_values().collect())
    }

    /// Keep `assessment` as a new version, unless it is the same as the latest; returns the version that
    /// holds it and whether it is new.
    pub async fn record_impact(
        &self,
        assessment: ImpactAssessment,
        context: ChangeContext,
    ) -> Result<(ImpactVersion, bool), StoreError> {
        self.transact(move |log| {
            let body =
                serde_json::to_vec(&assessment).map_err(|error| StoreError::Damaged(error.to_string()))?;
            let digest = hex::encode(Sha256::digest(&body));
            let latest = load_impacts(log, &assessment.agent)?.pop();
            let version = match latest {
                Some(latest) if latest.digest == digest => return Ok((ImpactVersion::from(latest), false)),
                Some(latest) => latest.version + 1,
                None => 1,
            };
            let mut attrs = Map::new();
            attrs.insert("op".into(), "recorded".into());
            attrs.insert("version".into(), version.into());
            attrs.insert("digest".into(), digest.clone().into());
            attrs.insert("by".into(), context.actor().to_owned().into());
            if let Some(reason) = &context.reason {
                attrs.insert("reason".into(), reason.clone().into());
            }
            attrs.insert(
                "assessment".into(),
                serde_json::to_value(&assessment).unwrap_or(Value::Null),
            );
            let seq = log.append(EventKind::ImpactAssessment, &assessment.agent, attrs, &context)?;
            let stored = StoredImpact {
                agent: assessment.agent.clone(),
                version,
                digest: digest.clone(),
                recorded_at: context.time,
                recorded_by: context.actor().to_owned(),
                recorded_seq: seq,
                approved_by: None,
                approved_at: None,
                approved_seq: None,
                assessment,
            };
            save_impact(log, &stored)?;
            Ok((ImpactVersion::from(stored), true))
        })
        .await
    }

    /// Approve one version of an agent's impact assessment.
    pub async fn approve_impact(
        &self,
        agent: String,
        version: u64,
        context: ChangeContext,
    ) -> Result<ImpactVersion, StoreError> {
        self.transact(move |log| {
            let mut stored = load_impacts(log, &agent)?
                .into_iter()
                .find(|stored| stored.version == version)
                .ok_or_else(|| {
                    RecordError::NotFound(format!(
                        "no version {version} of the impact assessment of `{agent}`"
                    ))
                })?;
            if stored.recorded_by == context.actor() {
                return Err(RecordError::Conflict(format!(
                    "{} recorded version {version} and cannot also approve it: another person approves",
                    context.actor()
                ))
                .into());
            }
            if let Some(by) = &stored.approved_by {
                return Err(RecordError::Conflict(format!(
                    "version {version} of `{agent}`'s impact assessment was already approved by {by}"
                ))
                .into());
            }
            let mut attrs = Map::new();
            attrs.insert("op".into(), "approved".into());
            attrs.insert("version".into(), version.into());
            attrs.insert("digest".into(), stored.digest.clone().into());
            attrs.insert("by".into(), context.actor().to_owned().into());
            attrs.insert("recorded_seq".into(), stored.recorded_seq.into());
            if let Some(reason) = &context.reason {
                attrs.insert("reason".into(), reason.clone().into());
            }
            let seq = log.append(EventKind::ImpactAssessment, &agent, attrs, &context)?;
            stored.approved_by = Some(context.actor().to_owned());
            stored.approved_at = Some(context.time);
            stored.approved_seq = Some(seq);
            save_impact(log, &stored)?;
            Ok(ImpactVersion::from(stored))
        })
        .await
    }
}

/// The stored row's JSON (the same fields as [`ImpactVersion`]).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct StoredImpact {
    agent: String,
    version: u64,
    digest: String,
    recorded_at: DateTime<Utc>,
    recorded_by: String,
    recorded_seq: Seq,
    approved_by: Option<String>,
    approved_at: Option<DateTime<Utc>>,
    approved_seq: Option<Seq>,
    assessment: ImpactAssessment,
}

impl From<StoredImpact> for ImpactVersion {
    fn from(stored: StoredImpact) -> ImpactVersion {
        ImpactVersion {
            agent: stored.agent,
            version: stored.version,
            digest: stored.digest,
            recorded_at: stored.recorded_at,
            recorded_by: stored.recorded_by,
            recorded_seq: stored.recorded_seq,
            approved_by: stored.approved_by,
            approved_at: stored.approved_at,
            approved_seq: stored.approved_seq,
            assessment: stored.assessment,
        }
    }
}

const RISKS: &str = "SELECT record FROM risks ORDER BY id";
const IMPACTS: &str = "SELECT record FROM impact_assessments WHERE agent = ?1 ORDER BY version";

/// Every row `sql` returns, its single column a JSON record parsed as `T`: for the readers and for the
/// writer's transactions alike.
pub(crate) fn json_records<T: serde::de::DeserializeOwned>(
    db: Db<'_>,
    sql: &str,
    parameters: &Params<'_>,
) -> Result<Vec<T>, StoreError> {
    db.query_all(sql, parameters, |row| {
        serde_json::from_str(&row.get::<String>(0)?).map_err(|error| StoreError::Damaged(error.to_string()))
    })
}

fn load_risks(log: &Log<'_>) -> Result<Vec<Risk>, StoreError> {
    json_records(log.transaction, RISKS, &[])
}

fn load_impacts(log: &Log<'_>, agent: &str) -> Result<Vec<StoredImpact>, StoreError> {
    json_records(log.transaction, IMPACTS, &[&agent])
}

fn save_impact(log: &Log<'_>, stored: &StoredImpact) -> Result<(), StoreError> {
    let record = serde_json::to_string(stored).map_err(|error| StoreError::Damaged(error.to_string()))?;
    log.transaction.execute(
        "INSERT INTO impact_assessments (agent, version, record, digest, recorded_seq, approved_seq)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (agent, version) DO UPDATE SET record = excluded.record, approved_seq = excluded.approved_seq",
        &[
            &stored.agent,
            &stored.version,
            &record,
            &stored.digest,
            &stored.recorded_seq,
            &stored.approved_seq,
        ],
    )?;
    Ok(())
}

/// Write one register change: the `risk` event (with the whole record as it now stands) and the row.
fn write_risk(log: &mut Log<'_>, change: &RiskChange, context: &ChangeContext) -> Result<(), StoreError> {
    let risk = &change.risk;
    let mut attrs = Map::new();
    attrs.insert("risk_id".into(), risk.id.clone().into());
    attrs.insert("op".into(), change.op.as_str().into());
    attrs.insert("by".into(), context.actor().to_owned().into());
    attrs.insert("changed".into(), json!(change.changed));
    if let Some(reason) = &context.reason {
        attrs.insert("reason".into(), reason.clone().into());
    }
    attrs.insert(
        "risk".into(),
        serde_json::to_value(risk).map_err(|error| StoreError::Damaged(error.to_string()))?,
    );
    // A risk of one agent names it; combined authority spans several and names none.
    let agent = if risk.agent.contains(',') {
        ""
    } else {
        risk.agent.as_str()
    };
    let seq = log.append(EventKind::Risk, agent, attrs, context)?;
    let record = serde_json::to_string(risk).map_err(|error| StoreError::Damaged(error.to_string()))?;
    let opened: Option<Seq> =
        log.transaction
            .query_opt("SELECT opened_seq FROM risks WHERE id = ?1", &[&risk.id], |row| {
                row.get(0)
            })?;
    log.transaction.execute(
        "INSERT INTO risks (id, record, status, opened_seq, updated_seq) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (id) DO UPDATE SET record = excluded.record, status = excluded.status,
           updated_seq = excluded.updated_seq",
        &[
            &risk.id,
            &record,
            &risk.status.as_str(),
            &opened.unwrap_or(seq),
            &seq,
        ],
    )?;
    Ok(())
}
