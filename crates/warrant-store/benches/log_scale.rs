//! The evidence log at scale: builds a log of `WARRANT_BENCH_EVENTS` events (default 1,000,000) through the
//! real sequencer, then measures what the budgets in DESIGN.md name. It reports figures; it asserts none.
//!
//! Run: `WARRANT_BENCH_EVENTS=10000000 cargo bench -p warrant-store --bench log_scale`
//!
//! - in-process ingest through the sequencer (1,000-event batches, each commit durable),
//! - a raw SQLite batch insert of the same rows (the storage limit, for the ratio),
//! - full verification of the log (`warrant verify`),
//! - inclusion proof build (from the store) and verify, p50 / p99 over random events,
//! - trail reconstruction (gather a trace's events and arrange the tree), p50 / p99 over random traces,
//! - the drift and disparity report over the whole log (read from the rollups), and a rollup rebuild.
//!
//! Events are spread over 30 days and 20 agents, so the rollups have the shape of a real month.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::json;
use warrant_core::event::Event;
use warrant_core::monitor::detect::{self, Windows};
use warrant_core::monitor::facts::hour_of;
use warrant_log::hash::Hash;
use warrant_log::proof::verify_inclusion;
use warrant_store::{Store, StoreConfig, verify_data_dir};

const BATCH: usize = 1000;

fn main() {
    let total: usize = std::env::var("WARRANT_BENCH_EVENTS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let store = runtime
        .block_on(async {
            Store::open(
                dir.path(),
                &StoreConfig {
                    org: "bench".into(),
                    ..StoreConfig::default()
                },
            )
        })
        .unwrap();

    // Ingest: batches prepared up front so the figure is the store's, not the generator's. Two batches in
    // flight keep the sequencer busy while the next one is encoded, as concurrent clients would.
    let batches: Vec<Vec<Event>> = (0..total.div_ceil(BATCH))
        .map(|batch| make_batch(batch, BATCH, total))
        .collect();
    let started = Instant::now();
    runtime.block_on(async {
        let mut in_flight = Vec::new();
        for (index, batch) in batches.into_iter().enumerate() {
            let writer = store.clone();
            in_flight.push(tokio::spawn(async move {
                writer
                    .append(batch, &warrant_store::Principal::warrant("bench"), Utc::now())
                    .await
                    .unwrap()
            }));
            if in_flight.len() >= 4 {
                in_flight.remove(0).await.unwrap();
            }
            if index % 100 == 99 {
                store.checkpoint().await.unwrap();
            }
        }
        for task in in_flight {
            task.await.unwrap();
        }
        store.checkpoint().await.unwrap();
    });
    let ingest = started.elapsed();
    let size = store.size();
    let db_bytes = std::fs::metadata(dir.path().join("warrant.db"))
        .map(|meta| meta.len())
        .unwrap_or(0);

    // Proofs from the store, to the latest checkpoint.
    let checkpoint = store.latest_checkpoint().unwrap().unwrap();
    let mut build = Vec::new();
    let mut verify = Vec::new();
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    for _ in 0..2000 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let seq = state % checkpoint.size;
        let leaf: Hash = store.event(warrant_log::Seq(seq)).unwrap().unwrap().leaf;
        let started = Instant::now();
        let proof = store
            .inclusion_proof(warrant_log::Seq(seq), checkpoint.size)
            .unwrap();
        build.push(started.elapsed());
        let started = Instant::now();
        verify_inclusion(&leaf, seq, checkpoint.size, &proof, &checkpoint.root).unwrap();
        verify.push(started.elapsed());
    }
    // Trails: every event belongs to a trace of 8 (see make_batch).
    let traces = (size / 8).max(1);
    let mut trails = Vec::new();
    let mut steps = 0;
    for _ in 0..2000 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let trace = format!("{:032x}", state % traces + 1);
        let started = Instant::now();
        let gathered = store.trail_events(&trace).unwrap().unwrap();
        let roots = warrant_core::trail::build(gathered.events);
        let summary = warrant_core::trail::summarize(&roots);
        trails.push(started.elapsed());
        steps += summary.events;
    }
    // The drift and disparity report: what `GET /v1/monitor/drift` and `/disparity` compute.
    runtime.block_on(store.flush_rollups()).unwrap();
    let windows = Windows::ending(hour_of(&Utc::now()), 24, 168);
    let mut reports = Vec::new();
    let mut findings = 0;
    for _ in 0..20 {
        let started = Instant::now();
        let rows = store
            .decision_rows(windows.baseline.from, windows.current.to)
            .unwrap();
        findings = detect::drift(&rows, &windows, 30).len() + detect::disparity(&rows, &windows, 30).len();
        reports.push(started.elapsed());
    }
    let rollup_rows = store.decision_rows(i64::MIN, i64::MAX).unwrap().len();
    let started = Instant::now();
    runtime.block_on(store.rebuild_rollups()).unwrap();
    let rebuild = started.elapsed();
    drop(store);

    let started = Instant::now();
    let report = verify_data_dir(dir.path(), None).unwrap();
    let verification = started.elapsed();
    assert!(
        report.is_ok(),
        "the benchmark's own log must verify: {:?}",
        report.findings.first()
    );

    let raw = raw_sqlite_insert(dir.path());

    let per_second = |count: usize, time: Duration| count as f64 / time.as_secs_f64();
    println!("events                         {size}");
    println!(
        "database size                  {:.1} MiB",
        db_bytes as f64 / 1048576.0
    );
    println!(
        "ingest (sequencer, durable)    {:.0} events/s ({:.2} s)",
        per_second(total, ingest),
        ingest.as_secs_f64()
    );
    println!(
        "raw SQLite insert, same rows   {:.0} rows/s ({:.2} s); sequencer at {:.0}% of it",
        per_second(total, raw),
        raw.as_secs_f64(),
        100.0 * raw.as_secs_f64() / ingest.as_secs_f64()
    );
    println!(
        "full verification              {:.2} s ({:.0} events/s)",
        verification.as_secs_f64(),
        per_second(total, verification)
    );
    println!(
        "inclusion proof build          p50 {:?}  p99 {:?}",
        percentile(&mut build, 50),
        percentile(&mut build, 99)
    );
    println!(
        "inclusion proof verify         p50 {:?}  p99 {:?}",
        percentile(&mut verify, 50),
        percentile(&mut verify, 99)
    );
    println!(
        "drift + disparity report       p50 {:?}  max {:?} ({findings} findings; {rollup_rows} decision rollup rows in all)",
        percentile(&mut reports, 50),
        percentile(&mut reports, 100)
    );
    println!(
        "rollup rebuild from the log    {:.2} s ({:.0} events/s)",
        rebuild.as_secs_f64(),
        per_second(total, rebuild)
    );
    println!(
        "trail reconstruction           p50 {:?}  p99 {:?} ({:.1} steps per trail)",
        percentile(&mut trails, 50),
        percentile(&mut trails, 99),
        steps as f64 / 2000.0
    );
}

/// A realistic mix: decisions with segments, tool calls with content, LLM calls with usage.
fn make_batch(batch: usize, count: usize, total: usize) -> Vec<Event> {
    // 30 days ending at the start of this hour, so the report's windows cover the last of them.
    let end = Utc::now().timestamp() / 3600 * 3600;
    let start = end - 30 * 86_400;
    (0..count)
        .map(|offset| {
            let n = batch * count + offset;
            let time = chrono::DateTime::from_timestamp(start + (n as i64 * 30 * 86_400) / total.max(1) as i64, 0)
                .unwrap()
                .to_rfc3339();
            let agent = format!("agent-{:02}", n % 20);
            let outcome = ["standard", "enhanced", "expedited", "manual"][(n / 3) % 4];
            let segment = ["high", "mid", "low", "new"][(n / 7) % 4];
            let decision = ["verification_path", "credit_limit", "routing"][(n / 11) % 3];
            let value = match n % 3 {
                0 => json!({"time": time, "agent": agent, "kind": "decision",
                    "trace_id": format!("{:032x}", n / 8 + 1), "span_id": format!("{:016x}", n + 1),
                    "attrs": {"name": decision, "outcome": outcome,
                              "segment": {"client_value": segment}}}),
                1 => json!({"time": time, "agent": agent, "kind": "tool_call",
                    "trace_id": format!("{:032x}", n / 8 + 1), "span_id": format!("{:016x}", n + 1),
                    "attrs": {"tool": "kyc-lookup", "latency_ms": 42},
                    "content": {"args": {"customer_id": format!("c-{n}")}}}),
                _ => json!({"time": time, "agent": agent, "kind": "llm_call",
                    "trace_id": format!("{:032x}", n / 8 + 1), "span_id": format!("{:016x}", n + 1),
                    "attrs": {"model": "gpt-4.1", "input_tokens": 812, "output_tokens": 96, "cost_usd": 0.0021, "latency_ms": 930}}),
            };
            Event::from_json(offset, value).unwrap()
        })
        .collect()
}

/// The same rows (events and content, copied from the benchmark's own log) inserted by SQLite alone, into the
/// same schema, in 1,000-event transactions with the same durability settings: what the disk and SQLite allow
/// before any of our work (validation, canonical JSON, hashing, salts, the tree).
fn raw_sqlite_insert(source: &std::path::Path) -> Duration {
    let source = rusqlite::Connection::open(source.join("warrant.db")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut target = rusqlite::Connection::open(dir.path().join("raw.db")).unwrap();
    target.pragma_update(None, "journal_mode", "WAL").unwrap();
    target.pragma_update(None, "synchronous", "FULL").unwrap();
    let schema: Vec<String> = source
        .prepare("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' ORDER BY type DESC")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for sql in schema {
        target.execute_batch(&sql).unwrap();
    }
    type Row = (
        u64,
        Vec<u8>,
        Vec<u8>,
        String,
        Option<String>,
        String,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
    );
    let mut events = source.prepare("SELECT seq, body, leaf, kind, agent, time, trace_id, session, subject, client_id FROM events ORDER BY seq").unwrap();
    let mut rows = events
        .query_map([], |row| {
            Ok::<Row, _>((
                row.get(0)?,
                row.get(1)?,
                row.get(2)?,
                row.get(3)?,
                row.get(4)?,
                row.get(5)?,
                row.get(6)?,
                row.get(7)?,
                row.get(8)?,
                row.get(9)?,
            ))
        })
        .unwrap();
    let mut content = source
        .prepare("SELECT seq, field, salt, text FROM content WHERE seq >= ?1 AND seq < ?2")
        .unwrap();
    let mut elapsed = Duration::ZERO;
    loop {
        let batch: Vec<Row> = rows.by_ref().take(BATCH).map(Result::unwrap).collect();
        let Some(first) = batch.first().map(|row| row.0) else {
            break;
        };
        let last = batch.last().map(|row| row.0).unwrap();
        let content_rows: Vec<(u64, String, Vec<u8>, String)> = content
            .query_map((first, last + 1), |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let started = Instant::now();
        let transaction = target.transaction().unwrap();
        {
            let mut insert = transaction
                .prepare_cached("INSERT INTO events (seq, body, leaf, kind, agent, time, trace_id, session, subject, client_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)")
                .unwrap();
            for row in &batch {
                insert
                    .execute((
                        row.0, &row.1, &row.2, &row.3, &row.4, &row.5, &row.6, &row.7, &row.8, &row.9,
                    ))
                    .unwrap();
            }
            let mut insert = transaction
                .prepare_cached("INSERT INTO content (seq, field, salt, text) VALUES (?1, ?2, ?3, ?4)")
                .unwrap();
            for row in &content_rows {
                insert.execute((row.0, &row.1, &row.2, &row.3)).unwrap();
            }
        }
        transaction.commit().unwrap();
        elapsed += started.elapsed();
    }
    elapsed
}

fn percentile(samples: &mut [Duration], percent: usize) -> Duration {
    samples.sort_unstable();
    samples[(samples.len() * percent / 100).min(samples.len() - 1)]
}
