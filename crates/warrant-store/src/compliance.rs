//! What the compliance engine reads and writes: the evidence index (events tagged with the controls they
//! evidence, per hour), reproducible samples of it, documents kept as evidence (content-addressed, their
//! hash in the log), and internal audits.

use std::collections::BTreeMap;
use warrant_log::Seq;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use warrant_core::change::ChangeContext;
use warrant_core::compliance::audit::{self, Nonconformity};
use warrant_core::compliance::report::IndexEntry;
use warrant_core::event::{EventKind, format_time};

use crate::db::Row;
use crate::records::{RecordError, json_records};
use crate::{Store, StoreError};

/// A document kept as evidence (without its bytes).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Document {
    pub sha256: String,
    pub name: String,
    pub title: String,
    pub controls: Vec<String>,
    pub size: u64,
    pub added_at: DateTime<Utc>,
    pub added_by: String,
    /// The `document` event that put its hash in the log.
    pub seq: Seq,
}

/// A stored internal audit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditRecord {
    pub id: String,
    pub at: DateTime<Utc>,
    pub seq: Seq,
    pub report: Value,
}

/// A small, well-mixed generator (SplitMix64) so a sample is the same for the same seed on every machine.
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A value in `0..bound` (`bound` > 0).
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound.max(1)
    }
}

impl Store {
    /// Tagged events per control, all time (or within `[from_hour, to_hour]`).
    pub fn evidence_index(
        &self,
        hours: Option<(i64, i64)>,
    ) -> Result<BTreeMap<String, IndexEntry>, StoreError> {
        let (from, to) = hours.unwrap_or((i64::MIN, i64::MAX));
        // PostgreSQL sums integers as NUMERIC: cast back to BIGINT.
        let rows = self.rows(
            "SELECT control, CAST(sum(count) AS BIGINT), min(first_seq), max(last_seq) FROM rollup_evidence
             WHERE hour BETWEEN ?1 AND ?2 GROUP BY control",
            &[&from, &to],
            |row| {
                Ok((
                    row.get::<String>(0)?,
                    IndexEntry {
                        count: row.get(1)?,
                        first_seq: row.get(2)?,
                        last_seq: row.get(3)?,
                    },
                ))
            },
        )?;
        Ok(rows.into_iter().collect())
    }

    /// The latest few evidence seqs of every control: the last tagged event of its latest hours.
    pub fn recent_evidence(&self, per_control: usize) -> Result<BTreeMap<String, Vec<Seq>>, StoreError> {
        let rows = self.rows(
            "SELECT control, last_seq FROM rollup_evidence ORDER BY control, hour DESC",
            &[],
            |row| Ok((row.get::<String>(0)?, row.get::<Seq>(1)?)),
        )?;
        let mut out: BTreeMap<String, Vec<Seq>> = BTreeMap::new();
        for (control, seq) in rows {
            let seqs = out.entry(control).or_default();
            if seqs.len() < per_control {
                seqs.push(seq);
            }
        }
        Ok(out)
    }

    /// Events per kind per day (day number since the epoch), from `since_day` on.
    pub fn kind_days(&self, since_day: i64) -> Result<BTreeMap<String, BTreeMap<i64, u64>>, StoreError> {
        // PostgreSQL sums integers as NUMERIC: cast back to BIGINT.
        let rows = self.rows(
            "SELECT kind, hour / 24, CAST(sum(count) AS BIGINT) FROM rollup_kinds WHERE hour >= ?1 * 24
             GROUP BY kind, hour / 24",
            &[&since_day],
            |row| Ok((row.get::<String>(0)?, row.get::<i64>(1)?, row.get::<u64>(2)?)),
        )?;
        let mut out: BTreeMap<String, BTreeMap<i64, u64>> = BTreeMap::new();
        for (kind, day, count) in rows {
            out.entry(kind).or_default().insert(day, count);
        }
        Ok(out)
    }

    /// Per agent: tool calls in the log, and the gate's decisions for it.
    pub fn gate_coverage(&self) -> Result<BTreeMap<String, (u64, u64)>, StoreError> {
        // PostgreSQL sums integers as NUMERIC: cast back to BIGINT.
        let rows = self.rows(
            "SELECT agent, CAST(sum(CASE WHEN kind = 'tool_call' THEN count ELSE 0 END) AS BIGINT),
                    CAST(sum(CASE WHEN kind = 'policy_decision' THEN count ELSE 0 END) AS BIGINT)
             FROM rollup_kinds WHERE agent != '' AND kind IN ('tool_call', 'policy_decision') GROUP BY agent",
            &[],
            |row| Ok((row.get::<String>(0)?, (row.get::<u64>(1)?, row.get::<u64>(2)?))),
        )?;
        Ok(rows.into_iter().collect())
    }

    /// The last hour each agent did work (events the agent's own telemetry sends, not warrant's records about
    /// it).
    pub fn agent_last_hours(&self) -> Result<BTreeMap<String, i64>, StoreError> {
        let rows = self.rows(
            "SELECT agent, max(hour) FROM rollup_kinds WHERE agent != '' AND kind IN ('invocation', 'llm_call',
               'decision', 'tool_call', 'tool_result', 'data_access', 'outcome', 'session') GROUP BY agent",
            &[],
            |row| Ok((row.get::<String>(0)?, row.get::<i64>(1)?)),
        )?;
        Ok(rows.into_iter().collect())
    }

    /// The hour (event time) of the agents' first logged activity.
    pub fn first_activity_hour(&self) -> Result<Option<i64>, StoreError> {
        self.read(|db| {
            db.query_one(
                "SELECT min(hour) FROM rollup_kinds WHERE agent != '' AND kind IN ('invocation', 'llm_call',
                   'decision', 'tool_call', 'tool_result', 'data_access', 'outcome')",
                &[],
                |row| row.get(0),
            )
        })
    }

    /// `n` evidence seqs for `control` among events below `size`, chosen by `seed`: the same seed picks the
    /// same items, so an auditor who names the seed knows warrant did not choose. Hours are drawn weighted by
    /// how many tagged events they hold, then a position within the hour, then the nearest tagged event.
    pub fn sample_evidence(
        &self,
        control: &str,
        n: usize,
        seed: u64,
        size: u64,
    ) -> Result<Vec<Seq>, StoreError> {
        let hours = self.rows(
            "SELECT hour, count, first_seq, last_seq FROM rollup_evidence WHERE control = ?1 AND first_seq < ?2
             ORDER BY hour",
            &[&control, &size],
            |row| Ok((row.get::<i64>(0)?, row.get::<u64>(1)?, row.get::<u64>(2)?, row.get::<u64>(3)?)),
        )?;
        let total: u64 = hours.iter().map(|(_, count, _, _)| count).sum();
        let mut random = SplitMix64::new(seed);
        let mut chosen: Vec<Seq> = Vec::new();
        let mut attempts = 0;
        while chosen.len() < n.min(total as usize) && attempts < n * 20 {
            attempts += 1;
            let mut pick = random.below(total);
            let Some(&(_, _, first, last)) = hours.iter().find(|(_, count, _, _)| {
                if pick < *count {
                    true
                } else {
                    pick -= count;
                    false
                }
            }) else {
                break;
            };
            let last = last.min(size.saturating_sub(1));
            let start = first + random.below(last.saturating_sub(first) + 1);
            if let Some(seq) = self
                .next_tagged(control, start, last, &chosen)?
                .or(self.next_tagged(control, first, last, &chosen)?)
            {
                chosen.push(seq);
            }
        }
        chosen.sort_unstable();
        Ok(chosen)
    }

    /// The first event in `[from, to]` tagged with `control` and not already chosen.
    fn next_tagged(
        &self,
        control: &str,
        from: u64,
        to: u64,
        chosen: &[Seq],
    ) -> Result<Option<Seq>, StoreError> {
        self.read(|db| {
            let mut found = None;
            db.query_each(
                "SELECT seq, body FROM events WHERE seq BETWEEN ?1 AND ?2 ORDER BY seq",
                &[&from, &to],
                |row| {
                    let seq: Seq = row.get(0)?;
                    if chosen.contains(&seq) {
                        return Ok(true);
                    }
                    let body: Vec<u8> = row.get(1)?;
                    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
                        return Ok(true);
                    };
                    let kind = body.get("kind").and_then(Value::as_str).unwrap_or_default();
                    let empty = Map::new();
                    let attrs = body.get("attrs").and_then(Value::as_object).unwrap_or(&empty);
                    if warrant_core::compliance::tags(kind, attrs)
                        .iter()
                        .any(|tag| tag == control)
                    {
                        found = Some(seq);
                        return Ok(false);
                    }
                    Ok(true)
                },
            )?;
            Ok(found)
        })
    }

    /// Every document, newest first.
    pub fn documents(&self) -> Result<Vec<Document>, StoreError> {
        self.rows(
            "SELECT sha256, name, title, controls, size, added_at, added_by, seq FROM documents ORDER BY seq DESC",
            &[],
            document_row,
        )
    }

    /// A document's bytes.
    pub fn document_content(&self, sha256: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.read(|db| {
            db.query_opt(
                "SELECT content FROM documents WHERE sha256 = ?1",
                &[&sha256],
                |row| row.get(0),
            )
        })
    }

    /// Keep `content` as evidence for `controls`; its SHA-256 goes into the log in a `document` event. The same
    /// bytes again only add controls they did not name yet (and say so); nothing new writes nothing.
    pub async fn add_document(
        &self,
        name: String,
        title: String,
        controls: Vec<String>,
        content: Vec<u8>,
        context: ChangeContext,
    ) -> Result<(Document, bool), StoreError> {
        let sha256 = hex::encode(Sha256::digest(&content));
        self.transact(move |log| {
            let existing = log.transaction.query_opt(
                "SELECT sha256, name, title, controls, size, added_at, added_by, seq FROM documents WHERE sha256 = ?1",
                &[&sha256],
                document_row,
            )?;
            let mut all = existing.as_ref().map(|document| document.controls.clone()).unwrap_or_default();
            let before = all.len();
            for control in controls {
                if !all.contains(&control) {
                    all.push(control);
                }
            }
            if let Some(document) = existing.filter(|_| all.len() == before) {
                return Ok((document, false));
            }
            if all.is_empty() {
                return Err(RecordError::Invalid("a document evidences at least one control".into()).into());
            }
            let mut attrs = Map::new();
            attrs.insert("sha256".into(), sha256.clone().into());
            attrs.insert("name".into(), name.clone().into());
            attrs.insert("title".into(), title.clone().into());
            attrs.insert("controls".into(), json!(all));
            attrs.insert("size".into(), (content.len() as u64).into());
            attrs.insert("by".into(), context.actor().to_owned().into());
            if let Some(reason) = &context.reason {
                attrs.insert("reason".into(), reason.clone().into());
            }
            let seq = log.append(EventKind::Document, "", attrs, &context)?;
            let document = Document {
                sha256: sha256.clone(),
                name,
                title,
                controls: all,
                size: content.len() as u64,
                added_at: context.time,
                added_by: context.actor().to_owned(),
                seq,
            };
            log.transaction.execute(
                "INSERT INTO documents (sha256, name, title, controls, size, content, added_at, added_by, seq)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                 ON CONFLICT (sha256) DO UPDATE SET controls = excluded.controls, seq = excluded.seq,
                   added_at = excluded.added_at, added_by = excluded.added_by",
                &[
                    &document.sha256,
                    &document.name,
                    &document.title,
                    &json!(document.controls).to_string(),
                    &document.size,
                    &content,
                    &format_time(&document.added_at),
                    &document.added_by,
                    &document.seq,
                ],
            )?;
            Ok((document, true))
        })
        .await
    }

    /// Keep an internal audit's report; its `audit` event carries the summary and the nonconformities it
    /// raised. The tracked nonconformities follow `audit::sync` (in the same transaction): a new one opens, one
    /// raised again stays open (or reopens), and an open one this audit no longer raises is closed.
    pub async fn record_audit(
        &self,
        report: Value,
        raised: Vec<Nonconformity>,
        context: ChangeContext,
    ) -> Result<AuditRecord, StoreError> {
        self.transact(move |log| {
            let id = format!("audit-{}", log.next_seq());
            let at = format_time(&context.time);
            let existing = load_nonconformities(log)?;
            let sync = audit::sync(&existing, &raised, &id, context.time);
            let mut attrs = Map::new();
            attrs.insert("audit_id".into(), id.clone().into());
            attrs.insert("by".into(), context.actor().to_owned().into());
            for field in ["summary", "checkpoint"] {
                if let Some(value) = report.get(field) {
                    attrs.insert(field.into(), value.clone());
                }
            }
            attrs.insert("nonconformities".into(), json!(raised));
            attrs.insert("closed_nonconformities".into(), json!(sync.closed));
            let seq = log.append(EventKind::Audit, "", attrs, &context)?;
            for record in &sync.changed {
                save_nonconformity(log, record, seq)?;
            }
            let mut report = report;
            if let Some(object) = report.as_object_mut() {
                object.insert("id".into(), id.clone().into());
                object.insert("seq".into(), seq.into());
                object.insert("at".into(), at.clone().into());
            }
            log.transaction.execute(
                "INSERT INTO audits (id, record, at, seq) VALUES (?1, ?2, ?3, ?4)",
                &[&id, &report.to_string(), &at, &seq],
            )?;
            Ok(AuditRecord {
                id,
                at: context.time,
                seq,
                report,
            })
        })
        .await
    }

    /// Every nonconformity, open ones first.
    pub fn nonconformities(&self) -> Result<Vec<Nonconformity>, StoreError> {
        let records: Vec<Value> = self.read(|db| {
            json_records(
                db,
                "SELECT record FROM nonconformities ORDER BY status DESC, id",
                &[],
            )
        })?;
        records.into_iter().map(nonconformity).collect()
    }

    /// Close a nonconformity with the corrective action taken (ISO/IEC 42001 10.2); an `audit` event.
    pub async fn close_nonconformity(
        &self,
        id: String,
        action: String,
        context: ChangeContext,
    ) -> Result<Nonconformity, StoreError> {
        if action.trim().is_empty() {
            return Err(RecordError::Invalid(audit::CloseError::NoAction.to_string()).into());
        }
        self.transact(move |log| {
            let known = load_nonconformities(log)?
                .into_iter()
                .find(|known| known.id == id)
                .ok_or_else(|| RecordError::NotFound(format!("no nonconformity `{id}`")))?;
            let record =
                audit::close(&known, &action, context.actor(), context.time).map_err(
                    |error| match error {
                        audit::CloseError::NoAction => RecordError::Invalid(error.to_string()),
                        audit::CloseError::AlreadyClosed(_) => RecordError::Conflict(error.to_string()),
                    },
                )?;
            let mut attrs = Map::new();
            attrs.insert("op".into(), "nonconformity_closed".into());
            attrs.insert("nonconformity".into(), json!(record));
            attrs.insert("by".into(), context.actor().to_owned().into());
            let seq = log.append(EventKind::Audit, "", attrs, &context)?;
            save_nonconformity(log, &record, seq)?;
            Ok(record)
        })
        .await
    }

    /// Every internal audit, newest first.
    pub fn audits(&self) -> Result<Vec<AuditRecord>, StoreError> {
        self.rows(
            "SELECT id, at, seq, record FROM audits ORDER BY seq DESC",
            &[],
            |row| {
                let id: String = row.get(0)?;
                let at: String = row.get(1)?;
                let record: String = row.get(3)?;
                Ok(AuditRecord {
                    at: crate::read::stored_time(&at)
                        .ok_or_else(|| StoreError::Damaged(format!("audit {id} has an unreadable time")))?,
                    id,
                    seq: row.get(2)?,
                    report: serde_json::from_str(&record)
                        .map_err(|error| StoreError::Damaged(error.to_string()))?,
                })
            },
        )
    }
}

fn document_row(row: &Row<'_>) -> Result<Document, StoreError> {
    let controls: String = row.get(3)?;
    Ok(Document {
        sha256: row.get(0)?,
        name: row.get(1)?,
        title: row.get(2)?,
        controls: serde_json::from_str(&controls).map_err(|error| StoreError::Damaged(error.to_string()))?,
        size: row.get(4)?,
        added_at: crate::read::stored_time(&row.get::<String>(5)?)
            .ok_or_else(|| StoreError::Damaged("a document has an unreadable time".into()))?,
        added_by: row.get(6)?,
        seq: row.get(7)?,
    })
}

fn nonconformity(record: Value) -> Result<Nonconformity, StoreError> {
    serde_json::from_value(record)
        .map_err(|error| StoreError::Damaged(format!("a stored nonconformity: {error}")))
}

fn load_nonconformities(log: &crate::writer::Log<'_>) -> Result<Vec<Nonconformity>, StoreError> {
    let records: Vec<Value> = json_records(
        log.transaction,
        "SELECT record FROM nonconformities ORDER BY id",
        &[],
    )?;
    records.into_iter().map(nonconformity).collect()
}

fn save_nonconformity(
    log: &crate::writer::Log<'_>,
    record: &Nonconformity,
    seq: Seq,
) -> Result<(), StoreError> {
    log.transaction.execute(
        "INSERT INTO nonconformities (id, record, status, updated_seq) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (id) DO UPDATE SET record = excluded.record, status = excluded.status,
           updated_seq = excluded.updated_seq",
        &[
            &record.id,
            &json!(record).to_string(),
            &record.status.as_str(),
            &seq,
        ],
    )?;
    Ok(())
}
