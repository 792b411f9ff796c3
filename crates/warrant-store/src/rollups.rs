//! Monitoring rollups: hourly aggregates updated in the same transaction as the events they count, so they
//! are exactly as durable as the log and never disagree with it after a crash. Reports read these tables,
//! never the raw events. [`rebuild`] recomputes them from the log, through the same `facts` function.
//!
//! Per transaction, contributions are summed in memory first ([`RollupBatch`]) and each touched row is
//! written once, so a group commit of thousands of events costs a handful of upserts.
//!
//! Tool transitions are counted per (agent, sequence), the sequence being the trace (else the session). The
//! previous tool of a sequence comes from a bounded in-memory map, and on a miss from the log itself (the
//! last `tool_call` of that agent in that trace before this seq), so a restart loses nothing.

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;
use warrant_core::monitor::detect::{BigramRow, DecisionRow, ToolRow, UsageRow};
use warrant_core::monitor::facts::{Facts, of_body};
use warrant_core::monitor::histogram::Histogram;

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
    cost_usd: f64,
    latency: Histogram,
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

/// The rollup contributions of one transaction.
#[derive(Default)]
pub(crate) struct RollupBatch {
    kinds: HashMap<(i64, String, String), u64>,
    /// (hour, agent, decision, segment, outcome) → (count, latest seq).
    decisions: HashMap<DecisionKey, (u64, u64)>,
    tools: HashMap<(i64, String, String), ToolAgg>,
    usage: HashMap<(i64, String, &'static str, String), UsageAgg>,
    calls: Vec<PendingCall>,
}

impl RollupBatch {
    /// Count one newly stored event.
    pub fn add(&mut self, seq: u64, facts: &Facts) {
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
        if let Some(usage) = &facts.usage {
            let entry = self
                .usage
                .entry((facts.hour, agent.clone(), usage.scope, usage.name.clone()))
                .or_default();
            entry.calls += 1;
            entry.input_tokens += usage.input_tokens;
            entry.output_tokens += usage.output_tokens;
            entry.cost_usd += usage.cost_usd;
            if let Some(latency) = usage.latency_ms {
                entry.latency.record(latency);
            }
        }
    }

    /// Write the batch into the rollup tables, inside the caller's transaction.
    pub fn flush(self, connection: &Connection, cache: &mut SequenceCache) -> Result<(), StoreError> {
        let mut upsert = connection.prepare_cached(
            "INSERT INTO rollup_kinds (hour, agent, kind, count) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (hour, agent, kind) DO UPDATE SET count = count + excluded.count",
        )?;
        for ((hour, agent, kind), count) in &self.kinds {
            upsert.execute(params![hour, agent, kind, count])?;
        }
        let mut upsert = connection.prepare_cached(
            "INSERT INTO rollup_decisions (hour, agent, name, segment, outcome, count, sample_seq)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (hour, agent, name, segment, outcome) DO UPDATE SET
               count = count + excluded.count, sample_seq = max(sample_seq, excluded.sample_seq)",
        )?;
        for ((hour, agent, name, segment, outcome), (count, seq)) in &self.decisions {
            upsert.execute(params![hour, agent, name, segment, outcome, count, seq])?;
        }
        let mut read = connection.prepare_cached(
            "SELECT latency FROM rollup_tools WHERE hour = ?1 AND agent = ?2 AND tool = ?3",
        )?;
        let mut upsert = connection.prepare_cached(
            "INSERT INTO rollup_tools (hour, agent, tool, calls, errors, latency) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (hour, agent, tool) DO UPDATE SET
               calls = calls + excluded.calls, errors = errors + excluded.errors, latency = excluded.latency",
        )?;
        for ((hour, agent, tool), mut aggregate) in self.tools {
            let stored: Option<String> = read
                .query_row(params![hour, agent, tool], |row| row.get(0))
                .optional()?;
            merge_stored(&mut aggregate.latency, stored.as_deref());
            upsert.execute(params![
                hour,
                agent,
                tool,
                aggregate.calls,
                aggregate.errors,
                histogram_text(&aggregate.latency)
            ])?;
        }
        let mut read = connection.prepare_cached(
            "SELECT latency FROM rollup_usage WHERE hour = ?1 AND agent = ?2 AND scope = ?3 AND name = ?4",
        )?;
        let mut upsert = connection.prepare_cached(
            "INSERT INTO rollup_usage (hour, agent, scope, name, calls, input_tokens, output_tokens, cost_usd, latency)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
             ON CONFLICT (hour, agent, scope, name) DO UPDATE SET
               calls = calls + excluded.calls, input_tokens = input_tokens + excluded.input_tokens,
               output_tokens = output_tokens + excluded.output_tokens, cost_usd = cost_usd + excluded.cost_usd,
               latency = excluded.latency",
        )?;
        for ((hour, agent, scope, name), mut aggregate) in self.usage {
            let stored: Option<String> = read
                .query_row(params![hour, agent, scope, name], |row| row.get(0))
                .optional()?;
            merge_stored(&mut aggregate.latency, stored.as_deref());
            upsert.execute(params![
                hour,
                agent,
                scope,
                name,
                aggregate.calls,
                aggregate.input_tokens,
                aggregate.output_tokens,
                aggregate.cost_usd,
                histogram_text(&aggregate.latency)
            ])?;
        }
        let mut transitions: HashMap<(i64, String, String, String), u64> = HashMap::new();
        let mut calls = self.calls;
        calls.sort_by_key(|call| call.seq);
        for call in calls {
            let key = (call.agent.clone(), call.sequence.clone());
            let prev = match cache.last.get(&key) {
                Some(prev) => prev.clone(),
                None => previous_tool(connection, &call)?.unwrap_or_else(|| SEQUENCE_START.to_owned()),
            };
            *transitions
                .entry((call.hour, call.agent.clone(), prev, call.tool.clone()))
                .or_default() += 1;
            if cache.last.len() >= MAX_REMEMBERED_SEQUENCES {
                cache.last.clear();
            }
            cache.last.insert(key, call.tool);
        }
        let mut upsert = connection.prepare_cached(
            "INSERT INTO rollup_bigrams (hour, agent, prev, tool, count) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (hour, agent, prev, tool) DO UPDATE SET count = count + excluded.count",
        )?;
        for ((hour, agent, prev, tool), count) in transitions {
            upsert.execute(params![hour, agent, prev, tool, count])?;
        }
        Ok(())
    }
}

/// The tool of the agent's last `tool_call` in the same trace (or session) before `call`, from the log.
fn previous_tool(connection: &Connection, call: &PendingCall) -> Result<Option<String>, StoreError> {
    let (column, id) = match call.sequence.split_once(':') {
        Some(("t", trace)) => ("trace_id", trace),
        Some(("s", session)) => ("session", session),
        _ => return Ok(None),
    };
    let sql = format!(
        "SELECT body FROM events WHERE {column} = ?1 AND kind = 'tool_call' AND COALESCE(agent, '') = ?2
         AND seq < ?3 ORDER BY seq DESC LIMIT 1"
    );
    let body: Option<Vec<u8>> = connection
        .prepare_cached(&sql)?
        .query_row(params![id, call.agent, call.seq], |row| row.get(0))
        .optional()?;
    Ok(body
        .and_then(|body| serde_json::from_slice::<Value>(&body).ok())
        .and_then(|body| {
            body.pointer("/attrs/tool")
                .and_then(Value::as_str)
                .map(str::to_owned)
        }))
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
pub(crate) fn rebuild(connection: &mut Connection) -> Result<u64, StoreError> {
    let transaction = connection.transaction()?;
    for table in ROLLUP_TABLES {
        transaction.execute(&format!("DELETE FROM {table}"), [])?;
    }
    let mut cache = SequenceCache::default();
    let mut counted = 0;
    {
        let mut statement = transaction.prepare("SELECT seq, body FROM events ORDER BY seq")?;
        let mut rows = statement.query([])?;
        let mut batch = RollupBatch::default();
        while let Some(row) = rows.next()? {
            let seq: u64 = row.get(0)?;
            let body: Value = serde_json::from_slice(row.get_ref(1)?.as_blob()?)
                .map_err(|_| StoreError::Damaged(format!("event {seq} is not valid JSON")))?;
            if let Some(facts) = of_body(&body) {
                batch.add(seq, &facts);
                counted += 1;
            }
            if counted % 50_000 == 0 {
                std::mem::take(&mut batch).flush(&transaction, &mut cache)?;
            }
        }
        batch.flush(&transaction, &mut cache)?;
    }
    transaction.commit()?;
    Ok(counted)
}

pub(crate) const ROLLUP_TABLES: [&str; 5] = [
    "rollup_kinds",
    "rollup_decisions",
    "rollup_tools",
    "rollup_bigrams",
    "rollup_usage",
];

/// Counts of events per kind: (hour, agent, kind) → count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KindRow {
    pub hour: i64,
    pub agent: String,
    pub kind: String,
    pub count: u64,
}

impl Store {
    /// Recompute every rollup from the log (after a restore, or to check them).
    pub fn rebuild_rollups(&self) -> Result<u64, StoreError> {
        let mut connection = crate::open_connection(&self.shared.dir.join(crate::DATABASE_FILE))?;
        rebuild(&mut connection)
    }

    /// Every rollup row as text, table by table, in key order: for comparing live rollups with rebuilt ones.
    pub fn rollup_snapshot(&self) -> Result<Vec<String>, StoreError> {
        self.read(|connection| {
            let mut out = Vec::new();
            for table in ROLLUP_TABLES {
                let mut statement =
                    connection.prepare(&format!("SELECT * FROM {table} ORDER BY 1, 2, 3, 4"))?;
                let columns = statement.column_count();
                let mut rows = statement.query([])?;
                while let Some(row) = rows.next()? {
                    let mut line = table.to_owned();
                    for column in 0..columns {
                        let value: rusqlite::types::Value = row.get(column)?;
                        line.push_str(&format!(" {value:?}"));
                    }
                    out.push(line);
                }
            }
            Ok(out)
        })
    }

    pub fn decision_rows(&self, from_hour: i64, to_hour: i64) -> Result<Vec<DecisionRow>, StoreError> {
        self.read(|connection| {
            let mut statement = connection.prepare_cached(
                "SELECT hour, agent, name, segment, outcome, count, sample_seq FROM rollup_decisions
                 WHERE hour >= ?1 AND hour < ?2",
            )?;
            let rows = statement.query_map(params![from_hour, to_hour], |row| {
                Ok(DecisionRow {
                    hour: row.get(0)?,
                    agent: row.get(1)?,
                    name: row.get(2)?,
                    segment: row.get(3)?,
                    outcome: row.get(4)?,
                    count: row.get(5)?,
                    sample_seq: row.get(6)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    pub fn tool_rows(&self, from_hour: i64, to_hour: i64) -> Result<Vec<ToolRow>, StoreError> {
        self.read(|connection| {
            let mut statement = connection.prepare_cached(
                "SELECT hour, agent, tool, calls, errors, latency FROM rollup_tools WHERE hour >= ?1 AND hour < ?2",
            )?;
            let rows = statement.query_map(params![from_hour, to_hour], |row| {
                Ok(ToolRow {
                    hour: row.get(0)?,
                    agent: row.get(1)?,
                    tool: row.get(2)?,
                    calls: row.get(3)?,
                    errors: row.get(4)?,
                    latency: histogram_from(&row.get::<_, String>(5)?),
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    pub fn bigram_rows(&self, from_hour: i64, to_hour: i64) -> Result<Vec<BigramRow>, StoreError> {
        self.read(|connection| {
            let mut statement = connection.prepare_cached(
                "SELECT hour, agent, prev, tool, count FROM rollup_bigrams WHERE hour >= ?1 AND hour < ?2",
            )?;
            let rows = statement.query_map(params![from_hour, to_hour], |row| {
                Ok(BigramRow {
                    hour: row.get(0)?,
                    agent: row.get(1)?,
                    prev: row.get(2)?,
                    tool: row.get(3)?,
                    count: row.get(4)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    pub fn usage_rows(&self, from_hour: i64, to_hour: i64) -> Result<Vec<UsageRow>, StoreError> {
        self.read(|connection| {
            let mut statement = connection.prepare_cached(
                "SELECT hour, agent, scope, name, calls, input_tokens, output_tokens, cost_usd, latency
                 FROM rollup_usage WHERE hour >= ?1 AND hour < ?2",
            )?;
            let rows = statement.query_map(params![from_hour, to_hour], |row| {
                Ok(UsageRow {
                    hour: row.get(0)?,
                    agent: row.get(1)?,
                    scope: row.get(2)?,
                    name: row.get(3)?,
                    calls: row.get(4)?,
                    input_tokens: row.get(5)?,
                    output_tokens: row.get(6)?,
                    cost_usd: row.get(7)?,
                    latency: histogram_from(&row.get::<_, String>(8)?),
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    pub fn kind_rows(&self, from_hour: i64, to_hour: i64) -> Result<Vec<KindRow>, StoreError> {
        self.read(|connection| {
            let mut statement = connection.prepare_cached(
                "SELECT hour, agent, kind, count FROM rollup_kinds WHERE hour >= ?1 AND hour < ?2",
            )?;
            let rows = statement.query_map(params![from_hour, to_hour], |row| {
                Ok(KindRow {
                    hour: row.get(0)?,
                    agent: row.get(1)?,
                    kind: row.get(2)?,
                    count: row.get(3)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }
}
