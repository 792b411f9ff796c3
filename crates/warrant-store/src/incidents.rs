//! Alerts and incidents: their tables, and the writer's operations on them (the decisions are
//! `warrant_core::incident`'s: which alerts open incidents, when a firing alert resolves, what an incident
//! opened for an alert holds). Every change is an `alert` or an
//! `incident` event committed with the row it describes, so the log holds the whole history.
//!
//! An alert is raised once per key (rule and subject) and stays `firing`, deduplicated, until
//! [`RESOLVE_AFTER`](warrant_core::incident::RESOLVE_AFTER) evaluations in a row of its rule no longer find the condition (so a value hovering at
//! the threshold does not flap), or its rule is gone; then it is `resolved`. A `high` or `critical` alert
//! opens an incident by itself, or joins the open incident of an earlier alert with the same key; others
//! can be promoted by hand.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use warrant_core::change::ChangeContext;
use warrant_core::event::{EventKind, format_time};
use warrant_core::incident::{
    self, AlertRef, AlertStatus, Clearing, Frozen, Incident, IncidentStatus, IncidentUpdate,
};
use warrant_core::monitor::rules::Firing;
use warrant_core::registry::manifest::Severity;
use warrant_log::Seq;

use crate::StoreError;
use crate::db::{Db, Row};
use crate::read::{label_column, opt_time_column, time_column};
use crate::writer::Log;

/// An alert as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    pub id: String,
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
    pub incident: Option<String>,
}

/// One evaluation's results, to be recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRun {
    pub firings: Vec<Firing>,
    /// Every rule in force: a firing alert of a rule not among them is resolved.
    pub rules: Vec<String>,
    /// The rules this run evaluated: their firing alerts not among `firings` count a clear run.
    pub evaluated: Vec<String>,
    /// The latest checkpoint, frozen into any incident opened.
    pub checkpoint: Option<Frozen>,
}

/// What an operation on alerts and incidents did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IncidentOutcome {
    pub fired: Vec<Alert>,
    pub resolved: Vec<String>,
    pub opened: Vec<Incident>,
    pub updated: Option<Incident>,
}

/// The operations the writer runs.
#[derive(Debug, Clone, PartialEq)]
pub enum IncidentOp {
    Record(AlertRun),
    Promote {
        alert: String,
        checkpoint: Option<Frozen>,
    },
    Update {
        id: String,
        update: Box<IncidentUpdate>,
    },
}

/// Why an incident operation did nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IncidentError {
    #[error("no alert `{0}`")]
    NoAlert(String),
    #[error("alert `{alert}` already belongs to incident `{incident}`")]
    AlreadyPromoted { alert: String, incident: String },
    #[error("no incident `{0}`")]
    NoIncident(String),
    #[error("{0}")]
    Invalid(String),
}

pub(crate) fn run(
    log: &mut Log<'_>,
    op: IncidentOp,
    context: &ChangeContext,
) -> Result<IncidentOutcome, StoreError> {
    match op {
        IncidentOp::Record(run) => record(log, run, context),
        IncidentOp::Promote { alert, checkpoint } => {
            let row =
                load_alert(log.transaction, &alert)?.ok_or_else(|| IncidentError::NoAlert(alert.clone()))?;
            if let Some(incident) = &row.incident {
                return Err(IncidentError::AlreadyPromoted {
                    alert,
                    incident: incident.clone(),
                }
                .into());
            }
            let related = row.related.clone();
            let incident = open(log, &row, related, checkpoint, context)?;
            Ok(IncidentOutcome {
                opened: vec![incident],
                ..IncidentOutcome::default()
            })
        }
        IncidentOp::Update { id, update } => {
            let mut incident =
                load_incident(log.transaction, &id)?.ok_or_else(|| IncidentError::NoIncident(id.clone()))?;
            let changed = update
                .apply(&mut incident, context.actor(), context.time)
                .map_err(IncidentError::Invalid)?;
            if changed.is_empty() {
                return Ok(IncidentOutcome {
                    updated: Some(incident),
                    ..IncidentOutcome::default()
                });
            }
            let mut attrs = incident_attrs(&incident, "updated", context.actor());
            attrs.insert("changed".into(), json!(changed));
            if let Some(reason) = &context.reason {
                attrs.insert("reason".into(), json!(reason));
            }
            let seq = log.append(
                EventKind::Incident,
                incident.agent.as_deref().unwrap_or_default(),
                attrs,
                context,
            )?;
            save_incident(log.transaction, &incident, None, seq)?;
            Ok(IncidentOutcome {
                updated: Some(incident),
                ..IncidentOutcome::default()
            })
        }
    }
}

fn record(log: &mut Log<'_>, run: AlertRun, context: &ChangeContext) -> Result<IncidentOutcome, StoreError> {
    let mut outcome = IncidentOutcome::default();
    let firing = firing_alerts(log.transaction)?;
    let now = format_time(&context.time);
    for fired in &run.firings {
        if firing.iter().any(|alert| alert.key == fired.key) {
            // Still firing: it starts its count of clear runs again.
            log.transaction.execute(
                "UPDATE alerts SET clear_runs = 0 WHERE key = ?1 AND status = 'firing'",
                &[&fired.key],
            )?;
            continue;
        }
        let seq = log.next_seq();
        let id = format!("alt-{seq}");
        let mut attrs = Map::new();
        attrs.insert("alert_id".into(), json!(id));
        attrs.insert("status".into(), json!("firing"));
        attrs.insert("rule".into(), json!(fired.rule));
        attrs.insert("detector".into(), json!(fired.detector));
        attrs.insert("severity".into(), json!(fired.severity.as_str()));
        attrs.insert("subject".into(), json!(fired.subject));
        attrs.insert("summary".into(), json!(fired.summary));
        attrs.insert("value".into(), json!(fired.value));
        attrs.insert("threshold".into(), json!(fired.threshold));
        attrs.insert("related".into(), json!(fired.related));
        let seq = log.append(EventKind::Alert, &fired.agent, attrs, context)?;
        log.transaction.execute(
            "INSERT INTO alerts (id, key, rule, detector, severity, agent, subject, summary, value, threshold,
             related, status, fired_seq, fired_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 'firing', ?12, ?13)",
            &[
                &id,
                &fired.key,
                &fired.rule,
                &fired.detector,
                &fired.severity.as_str(),
                &fired.agent,
                &fired.subject,
                &fired.summary,
                &fired.value,
                &fired.threshold,
                &json!(fired.related).to_string(),
                &seq,
                &now,
            ],
        )?;
        let alert = load_alert(log.transaction, &id)?
            .ok_or_else(|| StoreError::Damaged(format!("alert {id} vanished")))?;
        if incident::opens_incident(fired.severity) {
            match open_incident_for(log.transaction, &fired.key)? {
                Some(mut incident) => {
                    incident.join(&alert.id, alert.fired_seq);
                    let mut attrs = incident_attrs(&incident, "updated", context.actor());
                    attrs.insert("changed".into(), json!(["alerts"]));
                    let seq = log.append(
                        EventKind::Incident,
                        incident.agent.as_deref().unwrap_or_default(),
                        attrs,
                        context,
                    )?;
                    save_incident(log.transaction, &incident, None, seq)?;
                    log.transaction.execute(
                        "UPDATE alerts SET incident = ?1 WHERE id = ?2",
                        &[&incident.id, &alert.id],
                    )?;
                }
                None => {
                    let incident = open(
                        log,
                        &alert,
                        fired.related.clone(),
                        run.checkpoint.clone(),
                        context,
                    )?;
                    outcome.opened.push(incident);
                }
            }
        }
        outcome
            .fired
            .push(load_alert(log.transaction, &id)?.unwrap_or(alert));
    }
    for alert in firing {
        if run.firings.iter().any(|fired| fired.key == alert.key) {
            continue;
        }
        let step = incident::clearing(
            run.rules.contains(&alert.rule),
            run.evaluated.contains(&alert.rule),
        );
        let rule_gone = match step {
            Clearing::Unknown => continue,
            Clearing::Count => {
                let clear_runs: u64 = log.transaction.query_one(
                    "UPDATE alerts SET clear_runs = clear_runs + 1 WHERE id = ?1 RETURNING clear_runs",
                    &[&alert.id],
                    |row| row.get(0),
                )?;
                if !incident::resolved_after(clear_runs) {
                    continue;
                }
                false
            }
            Clearing::RuleGone => true,
        };
        let mut attrs = Map::new();
        attrs.insert("alert_id".into(), json!(alert.id));
        attrs.insert("status".into(), json!("resolved"));
        attrs.insert("rule".into(), json!(alert.rule));
        attrs.insert("subject".into(), json!(alert.subject));
        attrs.insert("fired_seq".into(), json!(alert.fired_seq));
        if rule_gone {
            attrs.insert("reason".into(), json!("the rule is no longer in force"));
        }
        let seq = log.append(EventKind::Alert, &alert.agent, attrs, context)?;
        log.transaction.execute(
            "UPDATE alerts SET status = 'resolved', resolved_seq = ?1, resolved_at = ?2 WHERE id = ?3",
            &[&seq, &now, &alert.id],
        )?;
        outcome.resolved.push(alert.id);
    }
    Ok(outcome)
}

/// Open an incident for `alert`, linking its evidence: the alert's seq, `related` seqs and the checkpoint.
fn open(
    log: &mut Log<'_>,
    alert: &Alert,
    related: Vec<Seq>,
    checkpoint: Option<Frozen>,
    context: &ChangeContext,
) -> Result<Incident, StoreError> {
    let id = format!("inc-{}", log.next_seq());
    let incident = Incident::open_for(
        id.clone(),
        &AlertRef {
            id: &alert.id,
            rule: &alert.rule,
            subject: &alert.subject,
            summary: &alert.summary,
            severity: alert.severity,
            agent: &alert.agent,
            fired_seq: alert.fired_seq,
            fired_at: alert.fired_at,
        },
        related,
        checkpoint,
    );
    let attrs = incident_attrs(&incident, "opened", context.actor());
    let seq = log.append(EventKind::Incident, &alert.agent, attrs, context)?;
    save_incident(log.transaction, &incident, Some(seq), seq)?;
    log.transaction
        .execute("UPDATE alerts SET incident = ?1 WHERE id = ?2", &[&id, &alert.id])?;
    Ok(incident)
}

/// The `incident` event's attributes: the record as it now stands.
fn incident_attrs(incident: &Incident, op: &str, by: &str) -> Map<String, Value> {
    let mut attrs = match serde_json::to_value(incident) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    };
    attrs.insert("incident_id".into(), json!(incident.id));
    attrs.insert("op".into(), json!(op));
    attrs.insert("by".into(), json!(by));
    attrs
}

fn save_incident(
    db: Db<'_>,
    incident: &Incident,
    opened_seq: Option<Seq>,
    seq: Seq,
) -> Result<(), StoreError> {
    let record = serde_json::to_string(incident).map_err(|error| StoreError::Damaged(error.to_string()))?;
    match opened_seq {
        Some(opened) => db.execute(
            "INSERT INTO incidents (id, record, status, opened_seq, updated_seq) VALUES (?1, ?2, ?3, ?4, ?5)",
            &[&incident.id, &record, &status_text(incident), &opened, &seq],
        )?,
        None => db.execute(
            "UPDATE incidents SET record = ?1, status = ?2, updated_seq = ?3 WHERE id = ?4",
            &[&record, &status_text(incident), &seq, &incident.id],
        )?,
    };
    Ok(())
}

fn status_text(incident: &Incident) -> String {
    incident.status.as_str().to_owned()
}

const ALERT_COLUMNS: &str =
    "id, key, rule, detector, severity, agent, subject, summary, value, threshold, related,
    status, fired_seq, fired_at, resolved_seq, resolved_at, incident";

fn alert_row(row: &Row<'_>) -> Result<Alert, StoreError> {
    Ok(Alert {
        id: row.get(0)?,
        key: row.get(1)?,
        rule: row.get(2)?,
        detector: row.get(3)?,
        severity: label_column(row, 4, Severity::parse)?,
        agent: row.get(5)?,
        subject: row.get(6)?,
        summary: row.get(7)?,
        value: row.get(8)?,
        threshold: row.get(9)?,
        related: serde_json::from_str(&row.get::<String>(10)?).unwrap_or_default(),
        status: label_column(row, 11, AlertStatus::parse)?,
        fired_seq: row.get(12)?,
        fired_at: time_column(row, 13)?,
        resolved_seq: row.get(14)?,
        resolved_at: opt_time_column(row, 15)?,
        incident: row.get(16)?,
    })
}

fn firing_alerts(db: Db<'_>) -> Result<Vec<Alert>, StoreError> {
    db.query_all(
        &format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE status = 'firing'"),
        &[],
        alert_row,
    )
}

/// The incident of the latest alert with `key`, if it is not closed.
fn open_incident_for(db: Db<'_>, key: &str) -> Result<Option<Incident>, StoreError> {
    let incident: Option<String> = db.query_opt(
        "SELECT incident FROM alerts WHERE key = ?1 AND incident IS NOT NULL ORDER BY fired_seq DESC LIMIT 1",
        &[&key],
        |row| row.get(0),
    )?;
    let Some(id) = incident else { return Ok(None) };
    Ok(load_incident(db, &id)?.filter(|incident| incident.status != IncidentStatus::Closed))
}

pub(crate) fn load_alert(db: Db<'_>, id: &str) -> Result<Option<Alert>, StoreError> {
    db.query_opt(
        &format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE id = ?1"),
        &[&id],
        alert_row,
    )
}

pub(crate) fn list_alerts(db: Db<'_>, status: Option<AlertStatus>) -> Result<Vec<Alert>, StoreError> {
    // The cast gives PostgreSQL the parameter's type, which `?1 IS NULL` alone does not.
    db.query_all(
        &format!(
            "SELECT {ALERT_COLUMNS} FROM alerts WHERE CAST(?1 AS TEXT) IS NULL OR status = ?1 \
             ORDER BY fired_seq DESC LIMIT 1000"
        ),
        &[&status.map(AlertStatus::as_str)],
        alert_row,
    )
}

pub(crate) fn load_incident(db: Db<'_>, id: &str) -> Result<Option<Incident>, StoreError> {
    let record: Option<String> =
        db.query_opt("SELECT record FROM incidents WHERE id = ?1", &[&id], |row| {
            row.get(0)
        })?;
    record
        .map(|record| {
            serde_json::from_str(&record)
                .map_err(|_| StoreError::Damaged(format!("incident {id} does not parse")))
        })
        .transpose()
}

pub(crate) fn list_incidents(db: Db<'_>) -> Result<Vec<Incident>, StoreError> {
    db.query_all(
        "SELECT id, record FROM incidents ORDER BY opened_seq DESC LIMIT 1000",
        &[],
        |row| {
            let id: String = row.get(0)?;
            let record: String = row.get(1)?;
            serde_json::from_str(&record)
                .map_err(|_| StoreError::Damaged(format!("incident {id} does not parse")))
        },
    )
}

/// Alerts whose `column` (`fired_seq` or `resolved_seq`) lies in `from..to`, in log order.
pub(crate) fn alerts_between(db: Db<'_>, column: &str, from: Seq, to: Seq) -> Result<Vec<Alert>, StoreError> {
    db.query_all(
        &format!(
            "SELECT {ALERT_COLUMNS} FROM alerts WHERE {column} >= ?1 AND {column} < ?2 ORDER BY {column}"
        ),
        &[&from, &to],
        alert_row,
    )
}

/// Incidents last updated in `from..to`, with the seqs they were opened and last updated at.
pub(crate) fn incidents_between(
    db: Db<'_>,
    from: Seq,
    to: Seq,
) -> Result<Vec<(Incident, Seq, Seq)>, StoreError> {
    db.query_all(
        "SELECT id, record, opened_seq, updated_seq FROM incidents \
         WHERE updated_seq >= ?1 AND updated_seq < ?2 ORDER BY updated_seq",
        &[&from, &to],
        |row| {
            let id: String = row.get(0)?;
            let record: String = row.get(1)?;
            let incident = serde_json::from_str(&record)
                .map_err(|_| StoreError::Damaged(format!("incident {id} does not parse")))?;
            Ok((incident, row.get::<Seq>(2)?, row.get::<Seq>(3)?))
        },
    )
}
