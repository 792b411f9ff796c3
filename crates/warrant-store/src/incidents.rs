//! Alerts and incidents: their tables, and the writer's operations on them. Every change is an `alert` or an
//! `incident` event committed with the row it describes, so the log holds the whole history.
//!
//! An alert is raised once per key (rule and subject) and stays `firing`, deduplicated, until an evaluation
//! of its rule no longer finds the condition; then it is `resolved`. A `high` or `critical` alert opens an
//! incident by itself; others can be promoted by hand.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Transaction, params};
use serde::Serialize;
use serde_json::{Map, Value, json};
use warrant_core::change::ChangeContext;
use warrant_core::event::{Event, EventKind, format_time};
use warrant_core::incident::{Frozen, Incident, IncidentUpdate};
use warrant_core::monitor::rules::Firing;
use warrant_log::frontier::{Frontier, Subtree};

use crate::StoreError;
use crate::entry::prepare_single;

/// An alert as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    pub id: String,
    pub key: String,
    pub rule: String,
    pub detector: String,
    pub severity: String,
    pub agent: String,
    pub subject: String,
    pub summary: String,
    pub value: f64,
    pub threshold: f64,
    pub status: String,
    pub fired_seq: u64,
    pub fired_at: String,
    pub resolved_seq: Option<u64>,
    pub resolved_at: Option<String>,
    pub incident: Option<String>,
}

/// One evaluation's results, to be recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRun {
    pub firings: Vec<Firing>,
    /// The rules evaluated: their firing alerts not among `firings` are resolved.
    pub rules: Vec<String>,
    /// The latest checkpoint, frozen into any incident opened.
    pub checkpoint: Option<Frozen>,
}

/// What an operation on alerts and incidents did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
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

/// The writer's state for one transaction.
pub(crate) struct Log<'a, 't> {
    pub transaction: &'a Transaction<'t>,
    pub frontier: &'a mut Frontier,
    pub tiles: &'a mut Vec<Subtree>,
}

impl Log<'_, '_> {
    /// Append one event of warrant's own; returns its seq.
    fn append(
        &mut self,
        kind: EventKind,
        agent: &str,
        attrs: Map<String, Value>,
        time: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let event = Event {
            id: None,
            time,
            agent: (!agent.is_empty()).then(|| agent.to_owned()),
            kind,
            trace_id: None,
            span_id: None,
            parent_span_id: None,
            session: None,
            attrs,
            content: Map::new(),
        };
        crate::writer::append_one(
            self.transaction,
            self.frontier,
            self.tiles,
            prepare_single(event, &time)?,
        )
    }

    /// The seq the next event will get.
    fn next_seq(&self) -> u64 {
        self.frontier.size()
    }
}

pub(crate) fn run(
    log: &mut Log<'_, '_>,
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
            let incident = open(log, &row, Vec::new(), checkpoint, context)?;
            Ok(IncidentOutcome {
                opened: vec![incident],
                ..IncidentOutcome::default()
            })
        }
        IncidentOp::Update { id, update } => {
            let mut incident =
                load_incident(log.transaction, &id)?.ok_or_else(|| IncidentError::NoIncident(id.clone()))?;
            let changed = update
                .apply(&mut incident, &context.actor, context.time)
                .map_err(IncidentError::Invalid)?;
            if changed.is_empty() {
                return Ok(IncidentOutcome {
                    updated: Some(incident),
                    ..IncidentOutcome::default()
                });
            }
            let mut attrs = incident_attrs(&incident, "updated", &context.actor);
            attrs.insert("changed".into(), json!(changed));
            if let Some(reason) = &context.reason {
                attrs.insert("reason".into(), json!(reason));
            }
            let seq = log.append(
                EventKind::Incident,
                incident.agent.as_deref().unwrap_or_default(),
                attrs,
                context.time,
            )?;
            save_incident(log.transaction, &incident, None, seq)?;
            Ok(IncidentOutcome {
                updated: Some(incident),
                ..IncidentOutcome::default()
            })
        }
    }
}

fn record(
    log: &mut Log<'_, '_>,
    run: AlertRun,
    context: &ChangeContext,
) -> Result<IncidentOutcome, StoreError> {
    let mut outcome = IncidentOutcome::default();
    let firing = firing_alerts(log.transaction)?;
    let now = format_time(&context.time);
    for fired in &run.firings {
        if firing.iter().any(|alert| alert.key == fired.key) {
            continue;
        }
        let seq = log.next_seq();
        let id = format!("alt-{seq}");
        let mut attrs = Map::new();
        attrs.insert("alert_id".into(), json!(id));
        attrs.insert("status".into(), json!("firing"));
        attrs.insert("rule".into(), json!(fired.rule));
        attrs.insert("detector".into(), json!(fired.detector));
        attrs.insert("severity".into(), json!(fired.severity));
        attrs.insert("subject".into(), json!(fired.subject));
        attrs.insert("summary".into(), json!(fired.summary));
        attrs.insert("value".into(), json!(fired.value));
        attrs.insert("threshold".into(), json!(fired.threshold));
        attrs.insert("related".into(), json!(fired.related));
        let seq = log.append(EventKind::Alert, &fired.agent, attrs, context.time)?;
        log.transaction.execute(
            "INSERT INTO alerts (id, key, rule, detector, severity, agent, subject, summary, value, threshold,
             status, fired_seq, fired_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 'firing', ?11, ?12)",
            params![
                id,
                fired.key,
                fired.rule,
                fired.detector,
                fired.severity,
                fired.agent,
                fired.subject,
                fired.summary,
                fired.value,
                fired.threshold,
                seq,
                now
            ],
        )?;
        let alert = load_alert(log.transaction, &id)?
            .ok_or_else(|| StoreError::Damaged(format!("alert {id} vanished")))?;
        if matches!(fired.severity, "high" | "critical") {
            let incident = open(
                log,
                &alert,
                fired.related.clone(),
                run.checkpoint.clone(),
                context,
            )?;
            outcome.opened.push(incident);
        }
        outcome
            .fired
            .push(load_alert(log.transaction, &id)?.unwrap_or(alert));
    }
    for alert in firing {
        let still = run.firings.iter().any(|fired| fired.key == alert.key);
        if still || !run.rules.contains(&alert.rule) {
            continue;
        }
        let mut attrs = Map::new();
        attrs.insert("alert_id".into(), json!(alert.id));
        attrs.insert("status".into(), json!("resolved"));
        attrs.insert("rule".into(), json!(alert.rule));
        attrs.insert("subject".into(), json!(alert.subject));
        attrs.insert("fired_seq".into(), json!(alert.fired_seq));
        let seq = log.append(EventKind::Alert, &alert.agent, attrs, context.time)?;
        log.transaction.execute(
            "UPDATE alerts SET status = 'resolved', resolved_seq = ?1, resolved_at = ?2 WHERE id = ?3",
            params![seq, now, alert.id],
        )?;
        outcome.resolved.push(alert.id);
    }
    Ok(outcome)
}

/// Open an incident for `alert`, linking its evidence: the alert's seq, `related` seqs and the checkpoint.
fn open(
    log: &mut Log<'_, '_>,
    alert: &Alert,
    related: Vec<u64>,
    checkpoint: Option<Frozen>,
    context: &ChangeContext,
) -> Result<Incident, StoreError> {
    let id = format!("inc-{}", log.next_seq());
    let mut related_seqs = vec![alert.fired_seq];
    related_seqs.extend(related);
    related_seqs.dedup();
    let incident = Incident {
        id: id.clone(),
        title: format!("{}: {}", alert.rule, alert.subject),
        severity: alert.severity.clone(),
        status: Default::default(),
        owner: None,
        what_happened: alert.summary.clone(),
        detected_at: format_time(&context.time),
        agent: (!alert.agent.is_empty()).then(|| alert.agent.clone()),
        alerts: vec![alert.id.clone()],
        related_seqs,
        checkpoint,
        actions: Vec::new(),
        communications: Vec::new(),
        root_cause: None,
        preventive_measures: None,
        serious: false,
        category: None,
        aware_at: None,
        reported_at: None,
        closed_at: None,
    };
    let attrs = incident_attrs(&incident, "opened", &context.actor);
    let seq = log.append(EventKind::Incident, &alert.agent, attrs, context.time)?;
    save_incident(log.transaction, &incident, Some(seq), seq)?;
    log.transaction.execute(
        "UPDATE alerts SET incident = ?1 WHERE id = ?2",
        params![id, alert.id],
    )?;
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
    transaction: &Transaction<'_>,
    incident: &Incident,
    opened_seq: Option<u64>,
    seq: u64,
) -> Result<(), StoreError> {
    let record = serde_json::to_string(incident).map_err(|error| StoreError::Damaged(error.to_string()))?;
    match opened_seq {
        Some(opened) => transaction.execute(
            "INSERT INTO incidents (id, record, status, opened_seq, updated_seq) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![incident.id, record, status_text(incident), opened, seq],
        )?,
        None => transaction.execute(
            "UPDATE incidents SET record = ?1, status = ?2, updated_seq = ?3 WHERE id = ?4",
            params![record, status_text(incident), seq, incident.id],
        )?,
    };
    Ok(())
}

fn status_text(incident: &Incident) -> String {
    serde_json::to_value(incident.status)
        .ok()
        .and_then(|value| value.as_str().map(str::to_owned))
        .unwrap_or_default()
}

const ALERT_COLUMNS: &str =
    "id, key, rule, detector, severity, agent, subject, summary, value, threshold, status,
    fired_seq, fired_at, resolved_seq, resolved_at, incident";

fn alert_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Alert> {
    Ok(Alert {
        id: row.get(0)?,
        key: row.get(1)?,
        rule: row.get(2)?,
        detector: row.get(3)?,
        severity: row.get(4)?,
        agent: row.get(5)?,
        subject: row.get(6)?,
        summary: row.get(7)?,
        value: row.get(8)?,
        threshold: row.get(9)?,
        status: row.get(10)?,
        fired_seq: row.get(11)?,
        fired_at: row.get(12)?,
        resolved_seq: row.get(13)?,
        resolved_at: row.get(14)?,
        incident: row.get(15)?,
    })
}

fn firing_alerts(connection: &rusqlite::Connection) -> Result<Vec<Alert>, StoreError> {
    let mut statement = connection.prepare_cached(&format!(
        "SELECT {ALERT_COLUMNS} FROM alerts WHERE status = 'firing'"
    ))?;
    Ok(statement.query_map([], alert_row)?.collect::<Result<_, _>>()?)
}

pub(crate) fn load_alert(connection: &rusqlite::Connection, id: &str) -> Result<Option<Alert>, StoreError> {
    Ok(connection
        .query_row(
            &format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE id = ?1"),
            [id],
            alert_row,
        )
        .optional()?)
}

pub(crate) fn list_alerts(
    connection: &rusqlite::Connection,
    status: Option<&str>,
) -> Result<Vec<Alert>, StoreError> {
    let mut statement = connection.prepare_cached(&format!(
        "SELECT {ALERT_COLUMNS} FROM alerts WHERE ?1 IS NULL OR status = ?1 ORDER BY fired_seq DESC LIMIT 1000"
    ))?;
    Ok(statement
        .query_map([status], alert_row)?
        .collect::<Result<_, _>>()?)
}

pub(crate) fn load_incident(
    connection: &rusqlite::Connection,
    id: &str,
) -> Result<Option<Incident>, StoreError> {
    let record: Option<String> = connection
        .query_row("SELECT record FROM incidents WHERE id = ?1", [id], |row| {
            row.get(0)
        })
        .optional()?;
    record
        .map(|record| {
            serde_json::from_str(&record)
                .map_err(|_| StoreError::Damaged(format!("incident {id} does not parse")))
        })
        .transpose()
}

pub(crate) fn list_incidents(connection: &rusqlite::Connection) -> Result<Vec<Incident>, StoreError> {
    let mut statement =
        connection.prepare_cached("SELECT id, record FROM incidents ORDER BY opened_seq DESC LIMIT 1000")?;
    let rows = statement.query_map([], |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?)))?;
    let mut incidents = Vec::new();
    for row in rows {
        let (id, record) = row?;
        incidents.push(
            serde_json::from_str(&record)
                .map_err(|_| StoreError::Damaged(format!("incident {id} does not parse")))?,
        );
    }
    Ok(incidents)
}
