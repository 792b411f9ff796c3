//! Gathering a trail's events: what the asked-for id names (a trace, a session or one event), then every trace
//! linked to those, up to the trace that started the cascade and down to every trace started from it. Every
//! query is bounded, so a huge session or a wide cascade costs at most [`MAX_EVENTS`] rows.

use std::collections::{BTreeSet, HashSet, VecDeque};
use warrant_log::Seq;

use serde_json::Value;
use warrant_core::trail::TrailEvent;

use crate::db::Db;
use crate::read::{load_content, stored_row};
use crate::{Store, StoreError};

/// At most this many traces are gathered into one trail; a larger cascade is cut and said to be.
pub const MAX_TRACES: usize = 256;
/// At most this many events are gathered into one trail.
pub const MAX_EVENTS: usize = 20_000;

/// Rows read per trace link query: one more than [`MAX_TRACES`], so a cut is seen.
const TRACE_ROWS: usize = MAX_TRACES + 1;
/// Rows read per trace or session query: one more than [`MAX_EVENTS`], so a cut is seen.
const EVENT_ROWS: usize = MAX_EVENTS + 1;

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
        self.read(|db| gather(db, id))
    }
}

fn gather(db: Db<'_>, id: &str) -> Result<Option<TrailEvents>, StoreError> {
    let (named, id) = match id.split_once(':') {
        Some((prefix @ ("trace" | "session" | "seq"), rest)) => (Some(prefix), rest),
        _ => (None, id),
    };
    let mut seqs: BTreeSet<Seq> = BTreeSet::new();
    let mut seeds: Vec<String> = Vec::new();
    let event = match (named, id.parse::<u64>()) {
        (None | Some("seq"), Ok(seq)) => db.query_opt(
            "SELECT seq, body, leaf FROM events WHERE seq = ?1",
            &[&seq],
            stored_row,
        )?,
        _ => None,
    };
    let root = if let Some(event) = event {
        let field = |name: &str| event.body.get(name).and_then(Value::as_str).map(str::to_owned);
        if let Some(trace) = field("trace_id") {
            seeds.push(trace);
        } else if let Some(session) = field("session") {
            session_seeds(db, &session, &mut seeds, &mut seqs)?;
        }
        seqs.insert(event.seq);
        TrailRoot::Event(event.seq)
    } else if named == Some("seq") {
        return Ok(None);
    } else if named != Some("session") && is_trace_id(id) && trace_exists(db, id)? {
        seeds.push(id.to_owned());
        TrailRoot::Trace(id.to_owned())
    } else if named == Some("trace") {
        return Ok(None);
    } else {
        session_seeds(db, id, &mut seeds, &mut seqs)?;
        if seeds.is_empty() && seqs.is_empty() {
            return Ok(None);
        }
        TrailRoot::Session(id.to_owned())
    };
    let (traces, mut truncated) = expand(db, seeds)?;
    let root_seq = match &root {
        TrailRoot::Event(seq) => Some(*seq),
        _ => None,
    };
    for trace in &traces {
        if seqs.len() > MAX_EVENTS {
            break;
        }
        db.query_each(
            "SELECT seq FROM events WHERE trace_id = ?1 ORDER BY seq LIMIT ?2",
            &[trace, &EVENT_ROWS],
            |row| {
                seqs.insert(row.get(0)?);
                Ok(true)
            },
        )?;
    }
    if seqs.len() > MAX_EVENTS {
        truncated = true;
        // Keep the earliest steps, and always the event that was asked for.
        let mut kept: BTreeSet<Seq> = seqs.iter().copied().take(MAX_EVENTS - 1).collect();
        kept.extend(root_seq);
        seqs = kept;
    }
    let mut events = Vec::with_capacity(seqs.len());
    for seq in seqs {
        let Some(stored) = db.query_opt(
            "SELECT seq, body, leaf FROM events WHERE seq = ?1",
            &[&seq],
            stored_row,
        )?
        else {
            continue;
        };
        events.push(TrailEvent {
            seq,
            body: stored.body,
            content: load_content(db, seq)?,
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
    db: Db<'_>,
    session: &str,
    seeds: &mut Vec<String>,
    seqs: &mut BTreeSet<Seq>,
) -> Result<(), StoreError> {
    let mut known: HashSet<String> = seeds.iter().cloned().collect();
    db.query_each(
        "SELECT seq, trace_id FROM events WHERE session = ?1 ORDER BY seq LIMIT ?2",
        &[&session, &EVENT_ROWS],
        |row| {
            let seq: Seq = row.get(0)?;
            match row.get::<Option<String>>(1)? {
                Some(trace) => {
                    if known.insert(trace.clone()) {
                        seeds.push(trace);
                    }
                }
                None => {
                    seqs.insert(seq);
                }
            }
            Ok(true)
        },
    )
}

/// Follow links both ways from `seeds`: up to the traces they were started from, down to the traces they
/// started. Returns the traces in the order found and whether [`MAX_TRACES`] cut the walk short.
fn expand(db: Db<'_>, seeds: Vec<String>) -> Result<(Vec<String>, bool), StoreError> {
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
        for sql in [
            // Up: the traces this one was started from.
            "SELECT DISTINCT link_trace FROM events WHERE trace_id = ?1 AND link_trace IS NOT NULL LIMIT ?2",
            // Down: the traces started from this one.
            "SELECT DISTINCT trace_id FROM events WHERE link_trace = ?1 LIMIT ?2",
        ] {
            db.query_each(sql, &[&trace, &TRACE_ROWS], |row| {
                if let Some(linked) = row.get::<Option<String>>(0)?
                    && !seen.contains(&linked)
                {
                    queue.push_back(linked);
                }
                Ok(true)
            })?;
        }
        found.push(trace);
    }
    Ok((found, false))
}

fn trace_exists(db: Db<'_>, trace: &str) -> Result<bool, StoreError> {
    Ok(db
        .query_opt(
            "SELECT 1 FROM events WHERE trace_id = ?1 LIMIT 1",
            &[&trace],
            |_| Ok(()),
        )?
        .is_some())
}

fn is_trace_id(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte))
}
