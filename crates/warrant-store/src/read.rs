//! Reads: the registry and tokens at open, the change log, events with their content, checkpoints and proofs.

use serde_json::{Map, Value};
use warrant_core::registry::manifest::Kind;
use warrant_core::registry::{Registry, manifest_from_spec};
use warrant_log::Seq;
use warrant_log::hash::Hash;
use warrant_log::proof::{ProofError, consistency_proof, inclusion_proof};

use crate::db::{Backend, Db, Param, Row};
use crate::entry::StoredEvent;
use crate::tree::{TreeSource, blob_hash};
use chrono::{DateTime, Utc};

use crate::{Store, StoreError};

/// A signed checkpoint as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub size: u64,
    pub root: Hash,
    /// The C2SP signed note: checkpoint body and signature lines.
    pub note: String,
    /// When it was signed.
    pub time: DateTime<Utc>,
    /// The witnesses' cosignature lines collected for it (C2SP tlog-cosignature), each ending in a newline.
    pub cosignatures: String,
}

impl Checkpoint {
    /// The signed note with the witnesses' cosignatures added: what the log publishes.
    pub fn cosigned_note(&self) -> String {
        warrant_log::cosignature::with_signature_lines(&self.note, &self.cosignatures)
    }
}

/// Which change events to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangeFilter {
    /// Only changes to this agent.
    pub agent: Option<String>,
    /// Only changes to objects of this kind.
    pub kind: Option<Kind>,
    pub limit: Option<u64>,
}

/// Why a proof could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum ProofRequestError {
    #[error("{0}")]
    OutOfRange(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Store {
    /// Registry change events, oldest first.
    pub fn changes(&self, filter: &ChangeFilter) -> Result<Vec<StoredEvent>, StoreError> {
        self.read(|db| {
            // The partial index holds only change events. Without statistics SQLite prefers walking the whole
            // table in seq order to sorting the index's few rows: a scan of every event at every call.
            let mut sql = String::from(match db.backend() {
                Backend::Sqlite => {
                    "SELECT seq, body, leaf FROM events INDEXED BY events_changes WHERE kind = 'change'"
                }
                Backend::Postgres => "SELECT seq, body, leaf FROM events WHERE kind = 'change'",
            });
            let mut params: Vec<&dyn Param> = Vec::new();
            if let Some(agent) = &filter.agent {
                sql.push_str(" AND agent = ?1");
                params.push(agent);
            }
            sql.push_str(" ORDER BY seq");
            let mut events = Vec::new();
            db.query_each(&sql, &params, |row| {
                let event = stored_row(row)?;
                let matches_kind = filter.kind.is_none_or(|kind| {
                    event.body.pointer("/attrs/object_kind").and_then(Value::as_str) == Some(kind.as_str())
                });
                if matches_kind {
                    events.push(event);
                }
                Ok(true)
            })?;
            if let Some(limit) = filter.limit {
                let skip = events
                    .len()
                    .saturating_sub(usize::try_from(limit).unwrap_or(usize::MAX));
                events.drain(..skip);
            }
            Ok(events)
        })
    }

    /// Every event of one agent's session, oldest first, with its clear content where not erased (the gate
    /// rebuilds session taint and where argument values came from out of them). A session belongs to its
    /// agent: another agent's events with the same session id are not part of it.
    pub fn session_events(&self, agent: &str, session: &str) -> Result<Vec<StoredEvent>, StoreError> {
        self.query_events(
            "SELECT seq, body, leaf FROM events WHERE session = ?1 AND agent = ?2 ORDER BY seq",
            &[session, agent],
            true,
        )
    }

    /// The events of one agent's session from seq `from` on, with clear content: what other servers on the
    /// same log added to a session this server already holds. Two indexed reads whatever the count: the
    /// events, then the content of those that carry any (the gate's own decisions carry none it reads).
    pub fn session_events_since(
        &self,
        agent: &str,
        session: &str,
        from: Seq,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        self.read(|db| {
            let mut events = db.query_all(
                "SELECT seq, body, leaf FROM events WHERE session = ?1 AND agent = ?2 AND seq >= ?3 ORDER BY seq",
                &[&session, &agent, &from],
                stored_row,
            )?;
            if events.iter().all(|event| event.body.get("kind").and_then(Value::as_str) == Some("policy_decision")) {
                return Ok(events);
            }
            let mut by_seq: std::collections::HashMap<Seq, &mut StoredEvent> =
                events.iter_mut().map(|event| (event.seq, event)).collect();
            db.query_each(
                "SELECT c.seq, c.field, c.text FROM content c JOIN events e ON e.seq = c.seq
                 WHERE e.session = ?1 AND e.agent = ?2 AND e.seq >= ?3 AND e.kind <> 'policy_decision'
                 ORDER BY c.seq, c.field",
                &[&session, &agent, &from],
                |row| {
                    let seq: Seq = row.get(0)?;
                    let field: String = row.get(1)?;
                    let text: String = row.get(2)?;
                    if let Some(event) = by_seq.get_mut(&seq) {
                        let value = serde_json::from_str(&text).map_err(|_| {
                            StoreError::Damaged(format!("content `{field}` of event {seq} does not parse"))
                        })?;
                        event.content.insert(field, value);
                    }
                    Ok(true)
                },
            )?;
            Ok(events)
        })
    }

    /// Events of one kind received at or after `since` (RFC 3339), oldest first. A scan: for rebuilding
    /// in-memory state at start, not for requests.
    pub fn events_of_kind_since(&self, kind: &str, since: &str) -> Result<Vec<StoredEvent>, StoreError> {
        self.query_events(
            "SELECT seq, body, leaf FROM events WHERE kind = ?1 AND time >= ?2 ORDER BY seq",
            &[kind, since],
            false,
        )
    }

    /// The events `sql` selects (seq, body, leaf), with their clear content if `with_content`, in one read.
    fn query_events(
        &self,
        sql: &str,
        parameters: &[&str],
        with_content: bool,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        self.read(|db| {
            let parameters: Vec<&dyn Param> = parameters
                .iter()
                .map(|parameter| parameter as &dyn Param)
                .collect();
            let mut events = db.query_all(sql, &parameters, stored_row)?;
            if with_content {
                for event in &mut events {
                    event.content = load_content(db, event.seq)?;
                }
            }
            Ok(events)
        })
    }

    /// One event with its clear content (where not erased).
    pub fn event(&self, seq: Seq) -> Result<Option<StoredEvent>, StoreError> {
        self.read(|db| {
            let Some(mut event) = db.query_opt(
                "SELECT seq, body, leaf FROM events WHERE seq = ?1",
                &[&seq],
                stored_row,
            )?
            else {
                return Ok(None);
            };
            event.content = load_content(db, seq)?;
            Ok(Some(event))
        })
    }

    /// The number of events in the log.
    pub fn size(&self) -> u64 {
        match self.shared.tree.read() {
            Ok(cache) => cache.frontier.size(),
            Err(poisoned) => poisoned.into_inner().frontier.size(),
        }
    }

    pub fn latest_checkpoint(&self) -> Result<Option<Checkpoint>, StoreError> {
        self.read(latest_checkpoint)
    }

    /// The checkpoint of exactly `size`, if one was signed.
    pub fn checkpoint_at(&self, size: u64) -> Result<Option<Checkpoint>, StoreError> {
        self.read(|db| {
            db.query_opt(
                "SELECT size, root, note, time, cosignatures FROM checkpoints WHERE size = ?1",
                &[&size],
                checkpoint_row,
            )
        })
    }

    /// Every checkpoint, oldest first.
    pub fn checkpoints(&self) -> Result<Vec<Checkpoint>, StoreError> {
        self.read(|db| {
            db.query_all(
                "SELECT size, root, note, time, cosignatures FROM checkpoints ORDER BY size",
                &[],
                checkpoint_row,
            )
        })
    }

    /// The inclusion proof of event `seq` in the tree of `size` events.
    pub fn inclusion_proof(&self, seq: Seq, size: u64) -> Result<Vec<Hash>, ProofRequestError> {
        self.with_tree(size, |source| inclusion_proof(source, seq.get(), size))
    }

    /// The consistency proof between the trees of `from` and `to` events.
    pub fn consistency_proof(&self, from: u64, to: u64) -> Result<Vec<Hash>, ProofRequestError> {
        self.with_tree(to, |source| consistency_proof(source, from, to))
    }

    pub(crate) fn with_tree(
        &self,
        size: u64,
        prove: impl FnOnce(&mut TreeSource<'_>) -> Result<Vec<Hash>, ProofError<StoreError>>,
    ) -> Result<Vec<Hash>, ProofRequestError> {
        let current = self.size();
        if size > current {
            return Err(ProofRequestError::OutOfRange(format!(
                "the log has {current} events, fewer than {size}"
            )));
        }
        let tree = self.shared.tree.clone();
        let result = self.read(|db| {
            let cache = match tree.read() {
                Ok(cache) => cache,
                Err(poisoned) => poisoned.into_inner(),
            };
            let mut source = TreeSource {
                cache: &cache,
                db,
                chunk: None,
            };
            Ok(prove(&mut source))
        })?;
        result.map_err(|error| match error {
            ProofError::Source(error) => ProofRequestError::Store(error),
            other => ProofRequestError::OutOfRange(other.to_string()),
        })
    }
}

pub(crate) fn latest_checkpoint(db: Db<'_>) -> Result<Option<Checkpoint>, StoreError> {
    db.query_opt(
        "SELECT size, root, note, time, cosignatures FROM checkpoints ORDER BY size DESC LIMIT 1",
        &[],
        checkpoint_row,
    )
}

pub(crate) fn load_registry(db: Db<'_>) -> Result<Registry, StoreError> {
    let mut manifests = Vec::new();
    db.query_each("SELECT kind, id, spec FROM registry", &[], |row| {
        let kind_name: String = row.get(0)?;
        let id: String = row.get(1)?;
        let spec: String = row.get(2)?;
        let damaged = || StoreError::Damaged(format!("registry row {kind_name} `{id}` does not parse"));
        let kind = Kind::parse(&kind_name).ok_or_else(damaged)?;
        let spec: Value = serde_json::from_str(&spec).map_err(|_| damaged())?;
        manifests.push(manifest_from_spec(kind, &spec).ok_or_else(damaged)?);
        Ok(true)
    })?;
    Ok(Registry::from_manifests(manifests))
}

pub(crate) fn load_content(db: Db<'_>, seq: Seq) -> Result<Map<String, Value>, StoreError> {
    let mut content = Map::new();
    db.query_each(
        "SELECT field, text FROM content WHERE seq = ?1 ORDER BY field",
        &[&seq],
        |row| {
            let field: String = row.get(0)?;
            let text: String = row.get(1)?;
            let value = serde_json::from_str(&text).map_err(|_| {
                StoreError::Damaged(format!("content `{field}` of event {seq} does not parse"))
            })?;
            content.insert(field, value);
            Ok(true)
        },
    )?;
    Ok(content)
}

pub(crate) fn stored_row(row: &Row<'_>) -> Result<StoredEvent, StoreError> {
    let seq: Seq = row.get(0)?;
    let body: Vec<u8> = row.get(1)?;
    let leaf: Vec<u8> = row.get(2)?;
    let body = serde_json::from_slice(&body)
        .map_err(|_| StoreError::Damaged(format!("event {seq} is not valid JSON")))?;
    Ok(StoredEvent {
        seq,
        body,
        content: Map::new(),
        leaf: blob_hash(&leaf)?,
    })
}

pub(crate) fn checkpoint_row(row: &Row<'_>) -> Result<Checkpoint, StoreError> {
    let size: u64 = row.get(0)?;
    let root: Vec<u8> = row.get(1)?;
    let note: String = row.get(2)?;
    let time = time_column(row, 3)
        .map_err(|_| StoreError::Damaged(format!("checkpoint {size} has an unreadable time")))?;
    let cosignatures: String = row.get(4)?;
    let root = blob_hash(&root)?;
    // The columns are an index into the note, never a second truth: a row whose columns disagree with its
    // signed note was edited.
    let signed =
        warrant_log::note::unverified_body(&note).and_then(|body| warrant_log::Checkpoint::parse(body).ok());
    match signed {
        Some(signed) if signed.size == size && signed.root == root => Ok(Checkpoint {
            size,
            root,
            note,
            time,
            cosignatures,
        }),
        _ => Err(StoreError::Damaged(format!(
            "checkpoint {size}: the stored size and root disagree with its signed note; run `warrant verify`"
        ))),
    }
}

/// A time as warrant stores it (RFC 3339, UTC).
pub(crate) fn stored_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|time| time.with_timezone(&Utc))
}

/// A time column (RFC 3339 text); a value that does not parse is a damaged row, not a silent default.
pub(crate) fn time_column(row: &Row<'_>, index: usize) -> Result<DateTime<Utc>, StoreError> {
    let text: String = row.get(index)?;
    parse_column(index, &text)
}

/// A nullable time column.
pub(crate) fn opt_time_column(row: &Row<'_>, index: usize) -> Result<Option<DateTime<Utc>>, StoreError> {
    let text: Option<String> = row.get(index)?;
    text.map(|text| parse_column(index, &text)).transpose()
}

fn parse_column(index: usize, text: &str) -> Result<DateTime<Utc>, StoreError> {
    stored_time(text)
        .ok_or_else(|| StoreError::Damaged(format!("column {index}: `{text}` is not an RFC 3339 time")))
}

/// A column holding one of a closed set of labels (a status, a severity).
pub(crate) fn label_column<T>(
    row: &Row<'_>,
    index: usize,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<T, StoreError> {
    let text: String = row.get(index)?;
    parse(&text).ok_or_else(|| StoreError::Damaged(format!("column {index}: `{text}` is not a known value")))
}
