//! Notification deliveries: the outbox, and the reads the planner needs.
//!
//! A delivery is queued once per notifier and notice (`UNIQUE (notifier, key)`), together with the cursor
//! that says how far the log has been planned from, in one transaction: a crash neither loses nor repeats a
//! notice. Each attempt updates its row and appends a `notification` event in one transaction, so the log
//! holds every attempt and its outcome. A delivery stays `pending` until an attempt is recorded; a server
//! killed between sending and recording sends again after its restart, with the same `webhook-id`, which
//! receivers use to drop the repeat.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use warrant_core::change::ChangeContext;
use warrant_core::event::EventKind;
use warrant_core::incident::Incident;
use warrant_log::Seq;

use crate::approvals::{Approval, stamp};
use crate::db::{Backend, Db, Row};
use crate::incidents::Alert;
use crate::read::{opt_time_column, time_column};
use crate::writer::Log;
use crate::{Store, StoreError};

/// A delivery's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    /// Waiting for its next attempt.
    Pending,
    Delivered,
    /// Refused by the receiver, or still failing when its retry window closed.
    Failed,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<DeliveryState> {
        [
            DeliveryState::Pending,
            DeliveryState::Delivered,
            DeliveryState::Failed,
        ]
        .into_iter()
        .find(|state| state.as_str() == text)
    }
}

/// One notice for one notifier, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub id: String,
    pub notifier: String,
    pub topic: String,
    pub about_kind: String,
    pub about_id: String,
    pub agent: Option<String>,
    /// The one line a person reads first (also in every attempt's event).
    pub title: String,
    /// The body sent, byte for byte the same on every attempt.
    pub body: String,
    pub state: DeliveryState,
    pub attempts: u32,
    pub created_at: DateTime<Utc>,
    pub next_at: DateTime<Utc>,
    /// Past this, a failing delivery is given up.
    pub deadline: DateTime<Utc>,
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
    pub delivered_at: Option<DateTime<Utc>>,
    /// The `notification` event of the latest attempt.
    pub last_seq: Option<Seq>,
}

/// A delivery to queue.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDelivery {
    pub id: String,
    pub notifier: String,
    /// Names the notice; a second delivery with the same notifier and key is not queued.
    pub key: String,
    pub topic: String,
    pub about_kind: String,
    pub about_id: String,
    pub agent: Option<String>,
    pub title: String,
    pub body: String,
    pub created_at: DateTime<Utc>,
    pub deadline: DateTime<Utc>,
}

/// One attempt's outcome, to record.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    pub delivery: String,
    /// Who the notifier tells, in words, for the event.
    pub audience: Option<String>,
    pub status: Option<u16>,
    pub error: Option<String>,
    /// The state after this attempt, and for `Pending` when the next one is due.
    pub state: DeliveryState,
    pub next_at: Option<DateTime<Utc>>,
}

/// What changed in the log from the planner's cursor up to `size`, read in one snapshot.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NotifySources {
    pub from: Seq,
    pub size: Seq,
    /// Approvals asked for in the range, with the seq of the request.
    pub requested: Vec<(Approval, Seq)>,
    /// Approvals decided in the range, with the seq of the decision.
    pub decided: Vec<(Approval, Seq)>,
    pub fired: Vec<Alert>,
    pub resolved: Vec<Alert>,
    /// Incidents opened or updated in the range, with the seq they were opened at and last updated at.
    pub incidents: Vec<(Incident, Seq, Seq)>,
    /// Every incident not closed (for the Art. 73 clocks, whatever the range).
    pub open_incidents: Vec<Incident>,
    /// Each notifier and the seq its first version was applied at: it hears of what came after.
    pub notifiers_since: Vec<(String, Seq)>,
}

const COLUMNS: &str = "id, notifier, topic, about_kind, about_id, agent, title, body, state, attempts, \
     created_at, next_at, deadline, last_status, last_error, delivered_at, last_seq";

fn from_row(row: &Row<'_>) -> Result<Delivery, StoreError> {
    let id: String = row.get(0)?;
    let state: String = row.get(8)?;
    let last_status = row
        .get::<Option<i64>>(13)?
        .map(|status| {
            u16::try_from(status)
                .map_err(|_| StoreError::Damaged(format!("delivery `{id}` has HTTP status {status}")))
        })
        .transpose()?;
    Ok(Delivery {
        state: DeliveryState::parse(&state)
            .ok_or_else(|| StoreError::Damaged(format!("delivery `{id}` has state `{state}`")))?,
        id,
        notifier: row.get(1)?,
        topic: row.get(2)?,
        about_kind: row.get(3)?,
        about_id: row.get(4)?,
        agent: row.get(5)?,
        title: row.get(6)?,
        body: row.get(7)?,
        attempts: row.get(9)?,
        created_at: time_column(row, 10)?,
        next_at: time_column(row, 11)?,
        deadline: time_column(row, 12)?,
        last_status,
        last_error: row.get(14)?,
        delivered_at: opt_time_column(row, 15)?,
        last_seq: row.get(16)?,
    })
}

/// One delivery by id.
fn load(db: Db<'_>, id: &str) -> Result<Option<Delivery>, StoreError> {
    db.query_opt(
        &format!("SELECT {COLUMNS} FROM notifications WHERE id = ?1"),
        &[&id],
        from_row,
    )
}

/// Which deliveries `Store::deliveries` lists.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeliveryFilter {
    pub notifier: Option<String>,
    pub state: Option<DeliveryState>,
    /// The kind of record they are about (`incident`), and which one.
    pub about_kind: Option<String>,
    pub about_id: Option<String>,
    pub limit: usize,
}

impl Store {
    /// Where the planner has read the log up to (the next seq it has not planned from).
    pub fn notify_cursor(&self) -> Result<Seq, StoreError> {
        self.read(|db| {
            Ok(db
                .query_opt("SELECT cursor FROM notify_state WHERE id = 1", &[], |row| {
                    row.get(0)
                })?
                .unwrap_or(Seq(0)))
        })
    }

    /// What the planner reads: approvals, alerts and incidents whose events lie in `from..size` (size is the
    /// log's committed size now), the open incidents, and when each notifier came to be.
    pub fn notify_sources(&self, from: Seq, now: DateTime<Utc>) -> Result<NotifySources, StoreError> {
        // The size first: every row with a seq below it is committed, so the snapshot taken next sees it.
        let size = Seq(self.size());
        self.read(|db| {
            in_snapshot(db, || {
                let approvals = |column: &str| -> Result<Vec<(Approval, Seq)>, StoreError> {
                    db.query_all(
                        &format!(
                            "SELECT {}, {column} FROM approvals WHERE {column} >= ?1 AND {column} < ?2 \
                             ORDER BY {column}",
                            crate::approvals::COLUMNS
                        ),
                        &[&from, &size],
                        |row| Ok((crate::approvals::from_row(row, now)?, row.get::<Seq>(16)?)),
                    )
                };
                let requested = approvals("requested_seq")?;
                let decided = approvals("decided_seq")?;
                let fired = crate::incidents::alerts_between(db, "fired_seq", from, size)?;
                let resolved = crate::incidents::alerts_between(db, "resolved_seq", from, size)?;
                let incidents = crate::incidents::incidents_between(db, from, size)?;
                let open_incidents = crate::incidents::list_incidents(db)?
                    .into_iter()
                    .filter(|incident| incident.status != warrant_core::incident::IncidentStatus::Closed)
                    .collect();
                let notifiers_since = db.query_all(
                    "SELECT id, min(seq) FROM registry_versions WHERE kind = 'Notifier' GROUP BY id",
                    &[],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )?;
                Ok(NotifySources {
                    from,
                    size,
                    requested,
                    decided,
                    fired,
                    resolved,
                    incidents,
                    open_incidents,
                    notifiers_since,
                })
            })
        })
    }

    /// Queue `deliveries` (those already queued for their notifier and key are skipped) and move the
    /// planner's cursor to `cursor`, in one transaction. Returns the ids queued.
    pub async fn queue_notifications(
        &self,
        deliveries: Vec<NewDelivery>,
        cursor: Option<Seq>,
    ) -> Result<Vec<String>, StoreError> {
        self.transact(move |log| {
            let db = log.transaction;
            let mut queued = Vec::new();
            for delivery in deliveries {
                let inserted = db.execute(
                    "INSERT INTO notifications (id, notifier, key, topic, about_kind, about_id, agent, title, body, \
                     state, attempts, created_at, next_at, deadline) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'pending', 0, ?10, ?10, ?11) \
                     ON CONFLICT (notifier, key) DO NOTHING",
                    &[
                        &delivery.id,
                        &delivery.notifier,
                        &delivery.key,
                        &delivery.topic,
                        &delivery.about_kind,
                        &delivery.about_id,
                        &delivery.agent,
                        &delivery.title,
                        &delivery.body,
                        &stamp(&delivery.created_at),
                        &stamp(&delivery.deadline),
                    ],
                )?;
                if inserted > 0 {
                    queued.push(delivery.id);
                }
            }
            if let Some(cursor) = cursor {
                // The larger cursor by `CASE`: SQLite's two-argument `max` is not PostgreSQL's `GREATEST`.
                db.execute(
                    "INSERT INTO notify_state (id, cursor) VALUES (1, ?1) \
                     ON CONFLICT (id) DO UPDATE SET cursor = CASE WHEN excluded.cursor > notify_state.cursor \
                     THEN excluded.cursor ELSE notify_state.cursor END",
                    &[&cursor],
                )?;
            }
            Ok(queued)
        })
        .await
    }

    /// Pending deliveries due at `now`, oldest first, at most `limit`.
    pub fn due_deliveries(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<Delivery>, StoreError> {
        self.read(|db| {
            db.query_all(
                &format!(
                    "SELECT {COLUMNS} FROM notifications WHERE state = 'pending' AND next_at <= ?1 \
                     ORDER BY next_at LIMIT ?2"
                ),
                &[&stamp(&now), &limit],
                from_row,
            )
        })
    }

    /// The earliest time a pending delivery is due, if any is pending.
    pub fn next_delivery_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.read(|db| {
            let next: Option<String> = db.query_one(
                "SELECT min(next_at) FROM notifications WHERE state = 'pending'",
                &[],
                |row| row.get(0),
            )?;
            Ok(next.and_then(|text| {
                DateTime::parse_from_rfc3339(&text)
                    .ok()
                    .map(|time| time.with_timezone(&Utc))
            }))
        })
    }

    pub fn delivery(&self, id: &str) -> Result<Option<Delivery>, StoreError> {
        self.read(|db| load(db, id))
    }

    /// Deliveries, newest first.
    pub fn deliveries(&self, filter: &DeliveryFilter) -> Result<Vec<Delivery>, StoreError> {
        self.read(|db| {
            // `CAST(?n AS TEXT) IS NULL`, not `?n IS NULL`: PostgreSQL cannot type a parameter whose first use
            // is `IS NULL`.
            db.query_all(
                &format!(
                    "SELECT {COLUMNS} FROM notifications WHERE (CAST(?1 AS TEXT) IS NULL OR notifier = ?1) \
                     AND (CAST(?2 AS TEXT) IS NULL OR state = ?2) AND (CAST(?3 AS TEXT) IS NULL OR about_kind = ?3) \
                     AND (CAST(?4 AS TEXT) IS NULL OR about_id = ?4) \
                     ORDER BY created_at DESC, id LIMIT ?5"
                ),
                &[
                    &filter.notifier,
                    &filter.state.map(DeliveryState::as_str),
                    &filter.about_kind,
                    &filter.about_id,
                    &filter.limit.max(1),
                ],
                from_row,
            )
        })
    }

    /// Record attempts: each delivery's new state and a `notification` event per attempt, all in one
    /// transaction. Returns the deliveries as they now are.
    pub async fn record_attempts(
        &self,
        attempts: Vec<Attempt>,
        context: ChangeContext,
    ) -> Result<Vec<Delivery>, StoreError> {
        self.transact(move |log| {
            attempts
                .into_iter()
                .map(|attempt| record(log, attempt, &context))
                .collect()
        })
        .await
    }
}

/// Run `read` in one read transaction on `db`, so that all its queries see the same snapshot; nothing is
/// written, so it is rolled back after (also if `read` fails or panics).
fn in_snapshot<T>(db: Db<'_>, read: impl FnOnce() -> Result<T, StoreError>) -> Result<T, StoreError> {
    db.execute_batch(match db.backend() {
        Backend::Sqlite => "BEGIN",
        // PostgreSQL's default isolation (read committed) takes a new snapshot for every statement.
        Backend::Postgres => "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
    })?;
    let _snapshot = Snapshot(db);
    read()
}

/// An open read transaction of [`in_snapshot`], rolled back when dropped.
struct Snapshot<'c>(Db<'c>);

impl Drop for Snapshot<'_> {
    fn drop(&mut self) {
        if let Err(error) = self.0.execute_batch("ROLLBACK") {
            tracing::warn!(%error, "ending a read snapshot failed");
        }
    }
}

/// One attempt, in the writer's transaction.
fn record(log: &mut Log<'_>, attempt: Attempt, context: &ChangeContext) -> Result<Delivery, StoreError> {
    let delivery = load(log.transaction, &attempt.delivery)?
        .ok_or_else(|| StoreError::Damaged(format!("no delivery `{}`", attempt.delivery)))?;
    if delivery.state != DeliveryState::Pending {
        // Recorded already (a test send racing the deliverer): the first outcome stands.
        return Ok(delivery);
    }
    let number = delivery.attempts + 1;
    let outcome = match attempt.state {
        DeliveryState::Delivered => "delivered",
        DeliveryState::Pending => "retrying",
        DeliveryState::Failed => "failed",
    };
    let mut attrs = Map::new();
    attrs.insert("delivery".into(), delivery.id.clone().into());
    attrs.insert("notifier".into(), delivery.notifier.clone().into());
    if let Some(audience) = &attempt.audience {
        attrs.insert("audience".into(), audience.clone().into());
    }
    attrs.insert("topic".into(), delivery.topic.clone().into());
    attrs.insert(
        "about".into(),
        json!({"kind": delivery.about_kind, "id": delivery.about_id}),
    );
    attrs.insert("title".into(), delivery.title.clone().into());
    attrs.insert(
        "body_sha256".into(),
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(delivery.body.as_bytes())).into(),
    );
    attrs.insert("attempt".into(), number.into());
    attrs.insert("outcome".into(), outcome.into());
    if let Some(status) = attempt.status {
        attrs.insert("status".into(), status.into());
    }
    if let Some(error) = &attempt.error {
        attrs.insert("error".into(), error.clone().into());
    }
    if let Some(next) = attempt
        .next_at
        .filter(|_| attempt.state == DeliveryState::Pending)
    {
        attrs.insert("next_attempt".into(), Value::String(stamp(&next)));
    }
    let seq = log.append(
        EventKind::Notification,
        delivery.agent.as_deref().unwrap_or_default(),
        attrs,
        context,
    )?;
    let delivered_at = (attempt.state == DeliveryState::Delivered).then(|| stamp(&context.time));
    let next_at = attempt
        .next_at
        .map(|next| stamp(&next))
        .unwrap_or_else(|| stamp(&delivery.next_at));
    log.transaction.execute(
        "UPDATE notifications SET state = ?2, attempts = ?3, next_at = ?4, last_status = ?5, \
         last_error = ?6, delivered_at = ?7, last_seq = ?8 WHERE id = ?1",
        &[
            &delivery.id,
            &attempt.state.as_str(),
            &number,
            &next_at,
            &attempt.status.map(u32::from),
            &attempt.error,
            &delivered_at,
            &seq,
        ],
    )?;
    Ok(Delivery {
        state: attempt.state,
        attempts: number,
        next_at: attempt.next_at.unwrap_or(delivery.next_at),
        last_status: attempt.status,
        last_error: attempt.error,
        delivered_at: delivered_at.map(|_| context.time),
        last_seq: Some(seq),
        ..delivery
    })
}
