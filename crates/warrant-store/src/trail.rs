//! Gathering a trail's events: what the asked-for id names (a trace, a session or one event), then every trace
//! linked to those, up to the trace that started the cascade and down to every trace started from it. Every
//! query is bounded, so a huge session or a wide cascade costs at most [`MAX_EVENTS`] rows.

use std::collections::{BTreeSet, HashSet, VecDeque};
use warrant_log::Seq;

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;
use warrant_core::trail::TrailEvent;

use crate::read::{load_content, stored_row};
use crate::{Store, StoreError};

/// At most this many traces are gathered into one trail; a larger cascade is cut and said to be.
pub const MAX_TRACES: usize = 256;
/// At most this many events are gathered into one trail.
pub const MAX_EVENTS: usize = 20_000;

/// What a trail id turned out to name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrailRoot {
    Trace(String),
    Session(String),
    Event(Seq),
}

/// The events of one trail, unordered, with their clear content.
#[derive(Debug, Clone, PartialEq)]
pub struct TrailEvents {
    pub root: TrailRoot,
    pub traces: Vec<String>,
    pub events: Vec<TrailEvent>,
    /// True when the cascade was larger than [`MAX_TRACES`] or [`MAX_EVENTS`] and was cut.
    pub truncated: bool,
}

impl Store {
    /// The events of the trail named by `id`: a 32-hex trace id, a session id or an event seq, optionally
    /// prefixed `trace:`, `session:` or `seq:` to say which (a session may be named `12345`). Unprefixed, a
    /// number is a seq if that event exists, else a session. `None` when the id names nothing in the log.
    pub fn trail_events(&self, id: &str) -> Result<Option<TrailEvents>, StoreError> {
        self.read(|connection| gather(connection, id))
    }
}

fn gather(connection: &Connection, id: &str) -> Result<Option<TrailEvents>, StoreError> {
    let (named, id) = match id.split_once(':') {
        Some((prefix @ ("trace" | "session" | "seq"), rest)) => (Some(prefix), rest),
        _ => (None, id),
    };
    let mut seqs: BTreeSet<Seq> = BTreeSet::new();
    let mut seeds: Vec<String> = Vec::new();
    let event = match (named, id.parse::<u64>()) {
        (None | Some("seq"), Ok(seq)) => connection
            .query_row(
                "SELECT seq, body, leaf FROM events WHERE seq = ?1",
                [seq],
                stored_row,
            )
            .optional()?
            .transpose()?,
        _ => None,
    };
    let root = if let Some(event) = event {
        let field = |name: &str| event.body.get(name).and_then(Value::as_str).map(str::to_owned);
        if let Some(trace) = field("trace_id") {
            seeds.push(trace);
        } else if let Some(session) = field("session") {
            session_seeds(connection, &session, &mut seeds, &mut seqs)?;
        }
        seqs.insert(event.seq);
        TrailRoot::Event(event.seq)
    } else if named == Some("seq") {
        return Ok(None);
    } else if named != Some("session") && is_trace_id(id) && trace_exists(connection, id)? {
        seeds.push(id.to_owned());
        TrailRoot::Trace(id.to_owned())
    } else if named == Some("trace") {
        return Ok(None);
    } else {
        session_seeds(connection, id, &mut seeds, &mut seqs)?;
        if seeds.is_empty() && seqs.is_empty() {
            return Ok(None);
        }
        TrailRoot::Session(id.to_owned())
    };
    let (traces, mut truncated) = expand(connection, seeds)?;
    let root_seq = match &root {
        TrailRoot::Event(seq) => Some(*seq),
        _ => None,
    };
    let mut by_trace =
        connection.prepare_cached("SELECT seq FROM events WHERE trace_id = ?1 ORDER BY seq LIMIT ?2")?;
    for trace in &traces {
        if seqs.len() > MAX_EVENTS {
            break;
        }
        for seq in by_trace.query_map(params![trace, MAX_EVENTS + 1], |row| row.get::<_, Seq>(0))? {
            seqs.insert(seq?);
        }
    }
    if seqs.len() > MAX_EVENTS {
        truncated = true;
        // Keep the earliest steps, and always the event that was asked for.
        let mut kept: BTreeSet<Seq> = seqs.iter().copied().take(MAX_EVENTS - 1).collect();
        kept.extend(root_seq);
        seqs = kept;
    }
    let mut load = connection.prepare_cached("SELECT seq, body, leaf FROM events WHERE seq = ?1")?;
    let mut events = Vec::with_capacity(seqs.len());
    for seq in seqs {
        let Some(stored) = load.query_row([seq], stored_row).optional()?.transpose()? else {
            continue;
        };
        events.push(TrailEvent {
            seq,
            body: stored.body,
            content: load_content(connection, seq)?,
        });
    }
    Ok(Some(TrailEvents {
        root,
        traces,
        events,
        truncated,
    }))
}

/// The traces a session touched, and its events outside any trace (at most [`MAX_EVENTS`] rows read).
fn session_seeds(
    connection: &Connection,
    session: &str,
    seeds: &mut Vec<String>,
    seqs: &mut BTreeSet<Seq>,
) -> Result<(), StoreError> {
    let mut statement = connection
        .prepare_cached("SELECT seq, trace_id FROM events WHERE session = ?1 ORDER BY seq LIMIT ?2")?;
    let rows = statement.query_map(params![session, MAX_EVENTS + 1], |row| {
        Ok((row.get::<_, Seq>(0)?, row.get::<_, Option<String>>(1)?))
    })?;
    let mut known: HashSet<String> = seeds.iter().cloned().collect();
    for row in rows {
        match row? {
            (_, Some(trace)) => {
                if known.insert(trace.clone()) {
                    seeds.push(trace);
                }
            }
            (seq, None) => {
                seqs.insert(seq);
            }
        }
    }
    Ok(())
}

/// Follow links both ways from `seeds`: up to the traces they were started from, down to the traces they
/// started. Returns the traces in the order found and whether [`MAX_TRACES`] cut the walk short.
fn expand(connection: &Connection, seeds: Vec<String>) -> Result<(Vec<String>, bool), StoreError> {
    let mut up = connection.prepare_cached(
        "SELECT DISTINCT link_trace FROM events WHERE trace_id = ?1 AND link_trace IS NOT NULL LIMIT ?2",
    )?;
    let mut down =
        connection.prepare_cached("SELECT DISTINCT trace_id FROM events WHERE link_trace = ?1 LIMIT ?2")?;
    let mut found: Vec<String> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    let mut queue: VecDeque<String> = seeds.into();
    while let Some(trace) = queue.pop_front() {
        if !seen.insert(trace.clone()) {
            continue;
        }
        if found.len() == MAX_TRACES {
            return Ok((found, true));
        }
        for statement in [&mut up, &mut down] {
            for linked in statement.query_map(params![&trace, MAX_TRACES + 1], |row| {
                row.get::<_, Option<String>>(0)
            })? {
                if let Some(linked) = linked?
                    && !seen.contains(&linked)
                {
                    queue.push_back(linked);
                }
            }
        }
        found.push(trace);
    }
    Ok((found, false))
}

fn trace_exists(connection: &Connection, trace: &str) -> Result<bool, StoreError> {
    Ok(connection
        .query_row(
            "SELECT 1 FROM events WHERE trace_id = ?1 LIMIT 1",
            [trace],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

fn is_trace_id(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte))
}
