//! Monitoring rollups: hourly aggregates of the log. Reports read these tables, never the raw events.
//!
//! The writer sums the contributions of committed events in memory ([`RollupBatch`]) and writes them at
//! most every [`FLUSH_INTERVAL`] (and before any report reads them), each touched row once, inside one of its
//! transactions together with `rollup_state.next_seq`: the rollups count exactly the events below it. A crash
//! loses only sums not yet written, and [`catch_up`], run whenever a store opens, counts the events from
//! `next_seq` on again. So the rollups always equal a count of the log, with no double counting, at a
//! fraction of the cost of writing them in every group commit. [`rebuild`] recounts everything.
//!
//! Tool transitions are counted per (agent, sequence), the sequence being the trace (else the session). The
//! previous tool of a sequence comes from a bounded in-memory map, and on a miss from the log itself (the
//! last `tool_call` of that agent in that trace before this seq), so a restart loses nothing.

use std::collections::HashMap;

use serde_json::Value;
use warrant_core::monitor::detect::{BigramRow, BigramSpan, DecisionRow, ToolRow, ToolSpan, UsageRow};
use warrant_core::monitor::facts::{Facts, of_body};
use warrant_core::monitor::histogram::Histogram;

use crate::db::{Conn, Db, Params, Row};
use crate::{Store, StoreError};

/// The tool a transition starts from when it is a sequence's first call.
pub const SEQUENCE_START: &str = "^";

/// At most this many (agent, sequence) → last tool entries are remembered; beyond, the map is cleared and
/// refilled from the log on demand.
const MAX_REMEMBERED_SEQUENCES: usize = 200_000;

/// The last tool of recent sequences, kept by the writer across transactions.
#[derive(Default)]
pub(crate) struct SequenceCache {
    last: HashMap<(String, String), String>,
}

#[derive(Default)]
struct ToolAgg {
    calls: u64,
    errors: u64,
    latency: Histogram,
}

#[derive(Default)]
struct UsageAgg {
    calls: u64,
    input_tokens: u64,
    output_tokens: u64,
    /// Integer micro-dollars: sums are exact, so a live rollup and a rebuild agree to the last digit.
    cost_micro_usd: i64,
    latency: Histogram,
}

/// Token counts as SQLite stores them (signed 64-bit); an absurd value is clamped, not a failed commit.
fn stored_count(value: u64) -> u64 {
    value.min(i64::MAX as u64 / 1024)
}

/// Dollars to integer micro-dollars, clamped.
fn micro(dollars: f64) -> i64 {
    let micro = (dollars * 1_000_000.0).round();
    if micro.is_finite() {
        micro.clamp(-1e15, 1e15) as i64
    } else {
        0
    }
}

/// A pending tool call, resolved into a transition at flush time in seq order.
struct PendingCall {
    seq: u64,
    hour: i64,
    agent: String,
    tool: String,
    sequence: String,
}

type DecisionKey = (i64, String, String, String, String);

/// How long summed contributions may wait in memory before the writer writes them.
pub(crate) const FLUSH_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);
/// ... or how many events they may cover.
pub(crate) const FLUSH_EVENTS: u64 = 200_000;

/// Summed rollup contributions, not yet written.
#[derive(Default)]
pub(crate) struct RollupBatch {
    /// Events counted in.
    pub events: u64,
    kinds: HashMap<(i64, String, String), u64>,
    /// (hour, agent, decision, segment, outcome) → (count, latest seq).
    decisions: HashMap<DecisionKey, (u64, u64)>,
    tools: HashMap<(i64, String, String), ToolAgg>,
    usage: HashMap<(i64, String, &'static str, String), UsageAgg>,
    calls: Vec<PendingCall>,
    /// (agent, target, mode) → (first hour, last hour, count).
    accesses: HashMap<(String, String, String), (i64, i64, u64)>,
    /// The evidence index: (hour, control) → (count, first seq, last seq).
    evidence: HashMap<(i64, String), (u64, u64, u64)>,
}

impl RollupBatch {
    pub fn is_empty(&self) -> bool {
        self.events == 0
    }

    /// Add everything `other` counted.
    pub fn absorb(&mut self, other: RollupBatch) {
        self.events += other.events;
        for (key, count) in other.kinds {
            *self.kinds.entry(key).or_default() += count;
        }
        for (key, (count, seq)) in other.decisions {
            let entry = self.decisions.entry(key).or_default();
            entry.0 += count;
            entry.1 = entry.1.max(seq);
        }
        for (key, aggregate) in other.tools {
            let entry = self.tools.entry(key).or_default();
            entry.calls += aggregate.calls;
            entry.errors += aggregate.errors;
            entry.latency.merge(&aggregate.latency);
        }
        for (key, aggregate) in other.usage {
            let entry = self.usage.entry(key).or_default();
            entry.calls += aggregate.calls;
            entry.input_tokens = entry.input_tokens.saturating_add(aggregate.input_tokens);
            entry.output_tokens = entry.output_tokens.saturating_add(aggregate.output_tokens);
            entry.cost_micro_usd = entry.cost_micro_usd.saturating_add(aggregate.cost_micro_usd);
            entry.latency.merge(&aggregate.latency);
        }
        self.calls.extend(other.calls);
        for (key, (first, last, count)) in other.accesses {
            merge_access(
                self.accesses.entry(key).or_insert((first, last, 0)),
                first,
                last,
                count,
            );
        }
        for (key, (count, first, last)) in other.evidence {
            let entry = self.evidence.entry(key).or_insert((0, first, last));
            entry.0 += count;
            entry.1 = entry.1.min(first);
            entry.2 = entry.2.max(last);
        }
    }

    /// The same sums with each event's placeholder (its index in a request) replaced by its seq.
    pub fn with_seqs(mut self, seq_of: impl Fn(u64) -> u64) -> RollupBatch {
        for (_, sample) in self.decisions.values_mut() {
            *sample = seq_of(*sample);
        }
        for call in &mut self.calls {
            call.seq = seq_of(call.seq);
        }
        for (_, first, last) in self.evidence.values_mut() {
            *first = seq_of(*first);
            *last = seq_of(*last);
        }
        self
    }

    /// Count one newly stored event.
    pub fn add(&mut self, seq: u64, facts: &Facts) {
        self.events += 1;
        let agent = &facts.agent;
        *self
            .kinds
            .entry((facts.hour, agent.clone(), facts.kind.clone()))
            .or_default() += 1;
        if let Some(decision) = &facts.decision {
            let entry = self
                .decisions
                .entry((
                    facts.hour,
                    agent.clone(),
                    decision.name.clone(),
                    decision.segment.clone(),
                    decision.outcome.clone(),
                ))
                .or_default();
            entry.0 += 1;
            entry.1 = entry.1.max(seq);
        }
        if let Some(call) = &facts.tool_call {
            let entry = self
                .tools
                .entry((facts.hour, agent.clone(), call.tool.clone()))
                .or_default();
            entry.calls += 1;
            if let Some(latency) = call.latency_ms {
                entry.latency.record(latency);
            }
            if let Some(sequence) = &call.sequence {
                self.calls.push(PendingCall {
                    seq,
                    hour: facts.hour,
                    agent: agent.clone(),
                    tool: call.tool.clone(),
                    sequence: sequence.clone(),
                });
            }
        }
        if let Some(tool) = &facts.tool_error {
            self.tools
                .entry((facts.hour, agent.clone(), tool.clone()))
                .or_default()
                .errors += 1;
        }
        for tag in &facts.tags {
            let entry = self
                .evidence
                .entry((facts.hour, tag.clone()))
                .or_insert((0, seq, seq));
            entry.0 += 1;
            entry.1 = entry.1.min(seq);
            entry.2 = entry.2.max(seq);
        }
        if let Some(access) = &facts.access {
            let entry = self
                .accesses
                .entry((agent.clone(), access.target.clone(), access.mode.clone()))
                .or_insert((facts.hour, facts.hour, 0));
            merge_access(entry, facts.hour, facts.hour, 1);
        }
        if let Some(usage) = &facts.usage {
            let entry = self
                .usage
                .entry((facts.hour, agent.clone(), usage.scope, usage.name.clone()))
                .or_default();
            entry.calls += 1;
            entry.input_tokens = entry
                .input_tokens
                .saturating_add(stored_count(usage.input_tokens));
            entry.output_tokens = entry
                .output_tokens
                .saturating_add(stored_count(usage.output_tokens));
            entry.cost_micro_usd = entry.cost_micro_usd.saturating_add(micro(usage.cost_usd));
            if let Some(latency) = usage.latency_ms {
                entry.latency.record(latency);
            }
        }
    }

    /// Write the sums into the rollup tables, inside the caller's transaction; the batch stays as it is, so a
    /// transaction that fails loses nothing.
    ///
    /// The upserts keep the larger or smaller of two values with `CASE`, not SQLite's two-argument
    /// `max`/`min` (PostgreSQL has only `GREATEST`/`LEAST`, which SQLite lacks), and name the stored row's
    /// column by its table: a bare column in `DO UPDATE SET` is ambiguous in PostgreSQL.
    pub fn flush(&self, db: Db<'_>, cache: &mut SequenceCache) -> Result<(), StoreError> {
        for ((hour, agent, kind), count) in &self.kinds {
            db.execute(
                "INSERT INTO rollup_kinds (hour, agent, kind, count) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (hour, agent, kind) DO UPDATE SET count = rollup_kinds.count + excluded.count",
                &[hour, agent, kind, count],
            )?;
        }
        for ((hour, agent, name, segment, outcome), (count, seq)) in &self.decisions {
            db.execute(
                "INSERT INTO rollup_decisions (hour, agent, name, segment, outcome, count, sample_seq)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (hour, agent, name, segment, outcome) DO UPDATE SET
                   count = rollup_decisions.count + excluded.count,
                   sample_seq = CASE WHEN excluded.sample_seq > rollup_decisions.sample_seq
                     THEN excluded.sample_seq ELSE rollup_decisions.sample_seq END",
                &[hour, agent, name, segment, outcome, count, seq],
            )?;
        }
        for ((hour, agent, tool), aggregate) in &self.tools {
            if aggregate.calls > 0 {
                db.execute(
                    "INSERT INTO rollup_tool_span (agent, tool, first_hour, last_hour) VALUES (?1, ?2, ?3, ?3)
                     ON CONFLICT (agent, tool) DO UPDATE SET
                       first_hour = CASE WHEN excluded.first_hour < rollup_tool_span.first_hour
                         THEN excluded.first_hour ELSE rollup_tool_span.first_hour END,
                       last_hour = CASE WHEN excluded.last_hour > rollup_tool_span.last_hour
                         THEN excluded.last_hour ELSE rollup_tool_span.last_hour END",
                    &[agent, tool, hour],
                )?;
            }
            let stored: Option<String> = db.query_opt(
                "SELECT latency FROM rollup_tools WHERE hour = ?1 AND agent = ?2 AND tool = ?3",
                &[hour, agent, tool],
                |row| row.get(0),
            )?;
            let mut latency = aggregate.latency.clone();
            merge_stored(&mut latency, stored.as_deref());
            db.execute(
                "INSERT INTO rollup_tools (hour, agent, tool, calls, errors, latency) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (hour, agent, tool) DO UPDATE SET
                   calls = rollup_tools.calls + excluded.calls, errors = rollup_tools.errors + excluded.errors,
                   latency = excluded.latency",
                &[hour, agent, tool, &aggregate.calls, &aggregate.errors, &histogram_text(&latency)],
            )?;
        }
        for ((hour, agent, scope, name), aggregate) in &self.usage {
            let stored: Option<String> = db.query_opt(
                "SELECT latency FROM rollup_usage WHERE hour = ?1 AND agent = ?2 AND scope = ?3 AND name = ?4",
                &[hour, agent, scope, name],
                |row| row.get(0),
            )?;
            let mut latency = aggregate.latency.clone();
            merge_stored(&mut latency, stored.as_deref());
            db.execute(
                "INSERT INTO rollup_usage (hour, agent, scope, name, calls, input_tokens, output_tokens,
                   cost_micro_usd, latency)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                 ON CONFLICT (hour, agent, scope, name) DO UPDATE SET
                   calls = rollup_usage.calls + excluded.calls,
                   input_tokens = rollup_usage.input_tokens + excluded.input_tokens,
                   output_tokens = rollup_usage.output_tokens + excluded.output_tokens,
                   cost_micro_usd = rollup_usage.cost_micro_usd + excluded.cost_micro_usd,
                   latency = excluded.latency",
                &[
                    hour,
                    agent,
                    scope,
                    name,
                    &aggregate.calls,
                    &aggregate.input_tokens,
                    &aggregate.output_tokens,
                    &aggregate.cost_micro_usd,
                    &histogram_text(&latency),
                ],
            )?;
        }
        let mut transitions: HashMap<(i64, String, String, String), u64> = HashMap::new();
        let mut calls: Vec<&PendingCall> = self.calls.iter().collect();
        calls.sort_by_key(|call| call.seq);
        for call in calls {
            let key = (call.agent.clone(), call.sequence.clone());
            let prev = match cache.last.get(&key) {
                Some(prev) => prev.clone(),
                None => previous_tool(db, call)?.unwrap_or_else(|| SEQUENCE_START.to_owned()),
            };
            *transitions
                .entry((call.hour, call.agent.clone(), prev, call.tool.clone()))
                .or_default() += 1;
            if cache.last.len() >= MAX_REMEMBERED_SEQUENCES {
                cache.last.clear();
            }
            cache.last.insert(key, call.tool.clone());
        }
        for ((hour, agent, prev, tool), count) in &transitions {
            db.execute(
                "INSERT INTO rollup_bigrams (hour, agent, prev, tool, count) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (hour, agent, prev, tool) DO UPDATE SET count = rollup_bigrams.count + excluded.count",
                &[hour, agent, prev, tool, count],
            )?;
            db.execute(
                "INSERT INTO rollup_bigram_span (agent, prev, tool, first_hour) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (agent, prev, tool) DO UPDATE SET
                   first_hour = CASE WHEN excluded.first_hour < rollup_bigram_span.first_hour
                     THEN excluded.first_hour ELSE rollup_bigram_span.first_hour END",
                &[agent, prev, tool, hour],
            )?;
        }
        for ((agent, target, mode), (first, last, count)) in &self.accesses {
            db.execute(
                "INSERT INTO rollup_access (agent, target, mode, first_hour, last_hour, count)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (agent, target, mode) DO UPDATE SET
                   first_hour = CASE WHEN excluded.first_hour < rollup_access.first_hour
                     THEN excluded.first_hour ELSE rollup_access.first_hour END,
                   last_hour = CASE WHEN excluded.last_hour > rollup_access.last_hour
                     THEN excluded.last_hour ELSE rollup_access.last_hour END,
                   count = rollup_access.count + excluded.count",
                &[agent, target, mode, first, last, count],
            )?;
        }
        for ((hour, control), (count, first, last)) in &self.evidence {
            db.execute(
                "INSERT INTO rollup_evidence (hour, control, count, first_seq, last_seq) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (control, hour) DO UPDATE SET count = rollup_evidence.count + excluded.count,
                   first_seq = CASE WHEN excluded.first_seq < rollup_evidence.first_seq
                     THEN excluded.first_seq ELSE rollup_evidence.first_seq END,
                   last_seq = CASE WHEN excluded.last_seq > rollup_evidence.last_seq
                     THEN excluded.last_seq ELSE rollup_evidence.last_seq END",
                &[hour, control, count, first, last],
            )?;
        }
        Ok(())
    }
}

fn merge_access(entry: &mut (i64, i64, u64), first: i64, last: i64, count: u64) {
    entry.0 = entry.0.min(first);
    entry.1 = entry.1.max(last);
    entry.2 += count;
}

/// The tool of the agent's last `tool_call` in the same trace (or session) before `call`, from the log.
fn previous_tool(db: Db<'_>, call: &PendingCall) -> Result<Option<String>, StoreError> {
    // The same sequence as `facts` gives: a trace, or a session for calls outside any trace.
    let sql = match call.sequence.split_once(':') {
        Some(("t", _)) => {
            "SELECT body FROM events WHERE trace_id = ?1 AND kind = 'tool_call' AND COALESCE(agent, '') = ?2
             AND seq < ?3 ORDER BY seq DESC LIMIT 64"
        }
        Some(("s", _)) => {
            "SELECT body FROM events WHERE session = ?1 AND trace_id IS NULL AND kind = 'tool_call'
             AND COALESCE(agent, '') = ?2 AND seq < ?3 ORDER BY seq DESC LIMIT 64"
        }
        _ => return Ok(None),
    };
    let id = call.sequence.get(2..).unwrap_or_default();
    let mut previous = None;
    db.query_each(sql, &[&id, &call.agent, &call.seq], |row| {
        let body: Value = serde_json::from_slice(&row.get::<Vec<u8>>(0)?).unwrap_or(Value::Null);
        // Only a call `facts` counts (one that names its tool) can be the previous step.
        previous = of_body(&body)
            .and_then(|facts| facts.tool_call)
            .map(|call| call.tool);
        Ok(previous.is_none())
    })?;
    Ok(previous)
}

fn merge_stored(histogram: &mut Histogram, stored: Option<&str>) {
    if let Some(stored) = stored.and_then(|text| serde_json::from_str::<Histogram>(text).ok()) {
        histogram.merge(&stored);
    }
}

fn histogram_text(histogram: &Histogram) -> String {
    serde_json::to_string(histogram).unwrap_or_else(|_| "{}".into())
}

fn histogram_from(text: &str) -> Histogram {
    serde_json::from_str(text).unwrap_or_default()
}

/// The rollup tables, emptied and recomputed from every event in the log, in one transaction. Returns the
/// number of events counted.
pub(crate) fn rebuild(connection: &mut Conn) -> Result<u64, StoreError> {
    let transaction = connection.transaction()?;
    for table in ROLLUP_TABLES {
        transaction.db().execute(&format!("DELETE FROM {table}"), &[])?;
    }
    let counted = count_from(transaction.db(), 0)?;
    transaction.commit()?;
    Ok(counted)
}

/// Count the events the rollups do not yet include (from `rollup_state.next_seq` on), in one transaction:
/// after a crash, the sums the writer held in memory; after the migration that added the rollups, the whole
/// log. Returns the number of events counted.
pub(crate) fn catch_up(connection: &mut Conn) -> Result<u64, StoreError> {
    let db = connection.db();
    let next: u64 = db.query_one("SELECT next_seq FROM rollup_state WHERE id = 0", &[], |row| {
        row.get(0)
    })?;
    // Usually nothing is missing: no write transaction for every open.
    let behind = db
        .query_opt("SELECT 1 FROM events WHERE seq >= ?1 LIMIT 1", &[&next], |_| {
            Ok(())
        })?
        .is_some();
    if !behind {
        return Ok(0);
    }
    let transaction = connection.transaction()?;
    let db = transaction.db();
    let next = if db.backend() == crate::db::Backend::Postgres {
        // Another server may be writing: count under the log's lock, from where the rollups reach now.
        crate::db::lock_log(db)?;
        db.query_one("SELECT next_seq FROM rollup_state WHERE id = 0", &[], |row| {
            row.get(0)
        })?
    } else {
        next
    };
    let counted = count_from(db, next)?;
    transaction.commit()?;
    Ok(counted)
}

/// Events read from the log at a time while counting. The rollups are written between pages, never while a
/// page is being read: PostgreSQL cannot run a statement on a connection still streaming another's rows.
const COUNT_PAGE: usize = 10_000;

/// Count events `from` on into the rollups and move `next_seq` past the last.
fn count_from(db: Db<'_>, from: u64) -> Result<u64, StoreError> {
    let mut cache = SequenceCache::default();
    let mut counted = 0;
    let mut next = from;
    let mut batch = RollupBatch::default();
    loop {
        let page = db.query_all(
            "SELECT seq, body FROM events WHERE seq >= ?1 ORDER BY seq LIMIT ?2",
            &[&next, &COUNT_PAGE],
            |row| Ok((row.get::<u64>(0)?, row.get::<Vec<u8>>(1)?)),
        )?;
        let full = page.len() == COUNT_PAGE;
        for (seq, body) in page {
            let body: Value = serde_json::from_slice(&body)
                .map_err(|_| StoreError::Damaged(format!("event {seq} is not valid JSON")))?;
            if let Some(facts) = of_body(&body) {
                batch.add(seq, &facts);
                counted += 1;
            }
            next = seq + 1;
            if batch.events >= 50_000 {
                batch.flush(db, &mut cache)?;
                batch = RollupBatch::default();
            }
        }
        if !full {
            break;
        }
    }
    batch.flush(db, &mut cache)?;
    set_next_seq(db, next)?;
    Ok(counted)
}

/// Record that the rollups now count every event below `next`.
pub(crate) fn set_next_seq(db: Db<'_>, next: u64) -> Result<(), StoreError> {
    db.execute("UPDATE rollup_state SET next_seq = ?1 WHERE id = 0", &[&next])?;
    Ok(())
}

pub(crate) const ROLLUP_TABLES: [&str; 9] = [
    "rollup_kinds",
    "rollup_decisions",
    "rollup_tools",
    "rollup_bigrams",
    "rollup_usage",
    "rollup_tool_span",
    "rollup_bigram_span",
    "rollup_access",
    "rollup_evidence",
];

/// Every column of each rollup table, in the order the schema declares them.
const ROLLUP_COLUMNS: [(&str, &[&str]); 9] = [
    ("rollup_kinds", &["hour", "agent", "kind", "count"]),
    (
        "rollup_decisions",
        &[
            "hour",
            "agent",
            "name",
            "segment",
            "outcome",
            "count",
            "sample_seq",
        ],
    ),
    (
        "rollup_tools",
        &["hour", "agent", "tool", "calls", "errors", "latency"],
    ),
    ("rollup_bigrams", &["hour", "agent", "prev", "tool", "count"]),
    (
        "rollup_usage",
        &[
            "hour",
            "agent",
            "scope",
            "name",
            "calls",
            "input_tokens",
            "output_tokens",
            "cost_micro_usd",
            "latency",
        ],
    ),
    ("rollup_tool_span", &["agent", "tool", "first_hour", "last_hour"]),
    ("rollup_bigram_span", &["agent", "prev", "tool", "first_hour"]),
    (
        "rollup_access",
        &["agent", "target", "mode", "first_hour", "last_hour", "count"],
    ),
    (
        "rollup_evidence",
        &["hour", "control", "count", "first_seq", "last_seq"],
    ),
];

/// A rollup column for [`Store::rollup_snapshot`], written as SQLite's values print (`Integer(3)`,
/// `Text("…")`): every rollup column is an integer or text.
fn snapshot_value(row: &Row<'_>, column: usize) -> Result<String, StoreError> {
    match row.get::<i64>(column) {
        Ok(value) => Ok(format!("Integer({value})")),
        Err(_) => Ok(format!("Text({:?})", row.get::<String>(column)?)),
    }
}

/// Counts of events per kind: (hour, agent, kind) → count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KindRow {
    pub hour: i64,
    pub agent: String,
    pub kind: String,
    pub count: u64,
}

impl Store {
    /// Every row `sql` returns for `parameters`, each made by `row`.
    pub(crate) fn rows<T>(
        &self,
        sql: &str,
        parameters: &Params<'_>,
        row: impl FnMut(&Row<'_>) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        self.read(|db| db.query_all(sql, parameters, row))
    }

    /// When each agent first and last called each tool.
    pub fn tool_spans(&self) -> Result<Vec<ToolSpan>, StoreError> {
        self.rows(
            "SELECT agent, tool, first_hour, last_hour FROM rollup_tool_span",
            &[],
            |row| {
                Ok(ToolSpan {
                    agent: row.get(0)?,
                    tool: row.get(1)?,
                    first_hour: row.get(2)?,
                    last_hour: row.get(3)?,
                })
            },
        )
    }

    /// What each agent touched (data sources, and tool calls that said how), in which mode, and when last.
    pub fn observed_accesses(&self) -> Result<Vec<warrant_core::risk::ObservedAccess>, StoreError> {
        use warrant_core::registry::manifest::Access;
        use warrant_core::risk::{AccessTarget, ObservedAccess};
        let rows = self.rows(
            "SELECT agent, target, mode, last_hour FROM rollup_access",
            &[],
            |row| {
                Ok((
                    row.get::<String>(0)?,
                    row.get::<String>(1)?,
                    row.get::<String>(2)?,
                    row.get::<i64>(3)?,
                ))
            },
        )?;
        Ok(rows
            .into_iter()
            .filter_map(|(agent, target, mode, last_hour)| {
                let target = match target.split_once(':')? {
                    ("source", id) => AccessTarget::DataSource(id.to_owned()),
                    ("tool", id) => AccessTarget::Tool(id.to_owned()),
                    _ => return None,
                };
                let mode = match mode.as_str() {
                    "read" => Access::Read,
                    "write" => Access::Write,
                    _ => Access::Execute,
                };
                Some(ObservedAccess {
                    agent,
                    target,
                    mode,
                    last_hour,
                })
            })
            .collect())
    }

    /// Transitions first made at or after `from_hour`.
    pub fn new_bigrams(&self, from_hour: i64) -> Result<Vec<BigramSpan>, StoreError> {
        self.rows(
            "SELECT agent, prev, tool, first_hour FROM rollup_bigram_span WHERE first_hour >= ?1",
            &[&from_hour],
            |row| {
                Ok(BigramSpan {
                    agent: row.get(0)?,
                    prev: row.get(1)?,
                    tool: row.get(2)?,
                    first_hour: row.get(3)?,
                })
            },
        )
    }

    /// Every rollup row as text, table by table, in key order: for comparing live rollups with rebuilt ones.
    pub fn rollup_snapshot(&self) -> Result<Vec<String>, StoreError> {
        self.read(|db| {
            let mut out = Vec::new();
            for (table, columns) in ROLLUP_COLUMNS {
                let sql = format!("SELECT {} FROM {table} ORDER BY 1, 2, 3, 4", columns.join(", "));
                db.query_each(&sql, &[], |row| {
                    let mut line = table.to_owned();
                    for column in 0..columns.len() {
                        line.push(' ');
                        line.push_str(&snapshot_value(row, column)?);
                    }
                    out.push(line);
                    Ok(true)
                })?;
            }
            Ok(out)
        })
    }

    pub fn decision_rows(&self, from_hour: i64, to_hour: i64) -> Result<Vec<DecisionRow>, StoreError> {
        self.rows(
            "SELECT hour, agent, name, segment, outcome, count, sample_seq FROM rollup_decisions
                 WHERE hour >= ?1 AND hour < ?2",
            &[&from_hour, &to_hour],
            |row| {
                Ok(DecisionRow {
                    hour: row.get(0)?,
                    agent: row.get(1)?,
                    name: row.get(2)?,
                    segment: row.get(3)?,
                    outcome: row.get(4)?,
                    count: row.get(5)?,
                    sample_seq: row.get(6)?,
                })
            },
        )
    }

    pub fn tool_rows(&self, from_hour: i64, to_hour: i64) -> Result<Vec<ToolRow>, StoreError> {
        self.rows(
            "SELECT hour, agent, tool, calls, errors, latency FROM rollup_tools
             WHERE hour >= ?1 AND hour < ?2",
            &[&from_hour, &to_hour],
            |row| {
                Ok(ToolRow {
                    hour: row.get(0)?,
                    agent: row.get(1)?,
                    tool: row.get(2)?,
                    calls: row.get(3)?,
                    errors: row.get(4)?,
                    latency: histogram_from(&row.get::<String>(5)?),
                })
            },
        )
    }

    pub fn bigram_rows(&self, from_hour: i64, to_hour: i64) -> Result<Vec<BigramRow>, StoreError> {
        self.rows(
            "SELECT hour, agent, prev, tool, count FROM rollup_bigrams WHERE hour >= ?1 AND hour < ?2",
            &[&from_hour, &to_hour],
            |row| {
                Ok(BigramRow {
                    hour: row.get(0)?,
                    agent: row.get(1)?,
                    prev: row.get(2)?,
                    tool: row.get(3)?,
                    count: row.get(4)?,
                })
            },
        )
    }

    pub fn usage_rows(&self, from_hour: i64, to_hour: i64) -> Result<Vec<UsageRow>, StoreError> {
        self.rows(
            "SELECT hour, agent, scope, name, calls, input_tokens, output_tokens, cost_micro_usd, latency
                 FROM rollup_usage WHERE hour >= ?1 AND hour < ?2",
            &[&from_hour, &to_hour],
            |row| {
                Ok(UsageRow {
                    hour: row.get(0)?,
                    agent: row.get(1)?,
                    scope: row.get(2)?,
                    name: row.get(3)?,
                    calls: row.get(4)?,
                    input_tokens: row.get(5)?,
                    output_tokens: row.get(6)?,
                    cost_usd: row.get::<i64>(7)? as f64 / 1_000_000.0,
                    latency: histogram_from(&row.get::<String>(8)?),
                })
            },
        )
    }

    pub fn kind_rows(&self, from_hour: i64, to_hour: i64) -> Result<Vec<KindRow>, StoreError> {
        self.rows(
            "SELECT hour, agent, kind, count FROM rollup_kinds WHERE hour >= ?1 AND hour < ?2",
            &[&from_hour, &to_hour],
            |row| {
                Ok(KindRow {
                    hour: row.get(0)?,
                    agent: row.get(1)?,
                    kind: row.get(2)?,
                    count: row.get(3)?,
                })
            },
        )
    }
}

impl Store {
    /// Every agent that wrote an event (from the rollups), for finding shadow agents.
    pub fn observed_agents(&self) -> Result<Vec<String>, StoreError> {
        self.rows(
            "SELECT DISTINCT agent FROM rollup_kinds WHERE agent != ''",
            &[],
            |row| row.get(0),
        )
    }
}
