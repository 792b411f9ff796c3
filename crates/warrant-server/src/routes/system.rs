//! Liveness, Prometheus metrics and the OpenAPI document. None of them needs a token.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use crate::AppState;

/// The OpenAPI 3.1 description of this API, written by hand and checked against the router by a test.
const OPENAPI: &str = include_str!("../openapi.json");

/// Health: `ok`, and with witnesses configured, how witnessing stands (200: the server is alive; `degraded`
/// or `refused` on the first line says the log is not witnessed as its policy asks). When the database does
/// not answer, 503 and `database unreachable`: nothing can be written or read until it is back, and the
/// server reconnects by itself.
pub async fn healthz(State(state): State<AppState>) -> axum::response::Response {
    let store = state.store.clone();
    let reachable = tokio::task::spawn_blocking(move || store.ping()).await;
    if let Ok(Err(error)) | Err(error) =
        reachable.map_err(|error| warrant_store::StoreError::Unavailable(error.to_string()))
    {
        return (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            format!("database unreachable\n{error}\n"),
        )
            .into_response();
    }
    witness_health(&state).into_response()
}

fn witness_health(state: &AppState) -> String {
    let report = state.witnesses.report();
    if report.witnesses.is_empty() {
        return "ok\n".into();
    }
    let status = if report.refused() {
        "refused"
    } else if report.met() {
        "ok"
    } else {
        "degraded"
    };
    let mut out = format!(
        "{status}\nwitness policy: {} of {}, fail {}\nlatest checkpoint: {}\nwitnessed checkpoint: {}\n",
        report.required,
        report.witnesses.len(),
        if report.policy.fail_closed {
            "closed"
        } else {
            "open"
        },
        report.latest_size,
        report
            .witnessed_size
            .map_or_else(|| "none".to_owned(), |size| size.to_string()),
    );
    for (id, health) in &report.witnesses {
        let state = match (&health.problem, health.refused) {
            (Some(problem), true) => format!("REFUSED: {problem}"),
            (Some(problem), false) => format!("failing: {problem}"),
            (None, _) => format!(
                "ok, cosigned size {}",
                health
                    .size
                    .map_or_else(|| "-".to_owned(), |size| size.to_string())
            ),
        };
        out.push_str(&format!("witness {id}: {state}\n"));
    }
    out
}

pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let mut body = state
        .metrics
        .render(state.store.size(), state.store.registry().len());
    body.push_str(&reader_metrics(state.store.reader_stats()));
    body.push_str(&write_metrics(state.store.write_times()));
    body.push_str(&witness_metrics(&state.witnesses.report()));
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body)
}

/// How long the sequencer held the write path, per kind of write: what every decision and acknowledged
/// event in flight waited behind.
fn write_metrics(times: &warrant_store::WriteTimes) -> String {
    use std::fmt::Write;
    let mut out = String::from(
        "# HELP warrant_store_write_seconds Time the sequencer spent on each write, by kind (`append`: one group \
         commit; `decision`: one with an approval or group charge; `approval`, `registry`, `checkpoint`, \
         `rollups`, `other`; `wal_restart`: starting the SQLite WAL over).\n\
         # TYPE warrant_store_write_seconds histogram\n",
    );
    for histogram in times.snapshot() {
        let kind = histogram.kind.as_str();
        for (bound, count) in &histogram.buckets {
            let _ = writeln!(
                out,
                "warrant_store_write_seconds_bucket{{kind=\"{kind}\",le=\"{bound}\"}} {count}"
            );
        }
        let _ = writeln!(
            out,
            "warrant_store_write_seconds_bucket{{kind=\"{kind}\",le=\"+Inf\"}} {}",
            histogram.count
        );
        let _ = writeln!(
            out,
            "warrant_store_write_seconds_sum{{kind=\"{kind}\"}} {}",
            histogram.sum_seconds
        );
        let _ = writeln!(
            out,
            "warrant_store_write_seconds_count{{kind=\"{kind}\"}} {}",
            histogram.count
        );
    }
    let _ = writeln!(
        out,
        "# HELP warrant_store_group_committed_events_total Events written by append group commits.\n\
         # TYPE warrant_store_group_committed_events_total counter\n\
         warrant_store_group_committed_events_total {}",
        times.events()
    );
    out
}

/// The store's reader pool: how many connections it holds against its fixed limit, and reads it refused.
fn reader_metrics(stats: warrant_store::ReaderStats) -> String {
    format!(
        "# HELP warrant_store_readers Read connections open now (`open`), the most at once (`peak`), and the \
         pool's fixed size (`limit`).\n# TYPE warrant_store_readers gauge\nwarrant_store_readers{{state=\"open\"}} {}\n\
         warrant_store_readers{{state=\"peak\"}} {}\nwarrant_store_readers{{state=\"limit\"}} {}\n\
         # HELP warrant_store_reads_refused_total Reads refused (503) after waiting for a read connection.\n\
         # TYPE warrant_store_reads_refused_total counter\nwarrant_store_reads_refused_total {}\n",
        stats.open, stats.peak, stats.limit, stats.refused
    )
}

/// A per-witness metric: name, help, type and how to read it.
type Series = (
    &'static str,
    &'static str,
    &'static str,
    fn(&warrant_service::witness::WitnessHealth) -> u64,
);

fn witness_metrics(report: &warrant_service::witness::WitnessReport) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    if report.witnesses.is_empty() {
        return out;
    }
    let gauge = |out: &mut String, name: &str, help: &str, kind: &str| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    };
    gauge(
        &mut out,
        "warrant_witness_quorum_met",
        "1 when the latest checkpoint has the cosignatures the policy requires.",
        "gauge",
    );
    let _ = writeln!(out, "warrant_witness_quorum_met {}", u8::from(report.met()));
    gauge(
        &mut out,
        "warrant_witness_fail_closed",
        "1 when only witnessed checkpoints are published.",
        "gauge",
    );
    let _ = writeln!(
        out,
        "warrant_witness_fail_closed {}",
        u8::from(report.policy.fail_closed)
    );
    gauge(
        &mut out,
        "warrant_witnessed_size",
        "Size of the latest checkpoint with the required cosignatures.",
        "gauge",
    );
    let _ = writeln!(
        out,
        "warrant_witnessed_size {}",
        report.witnessed_size.unwrap_or(0)
    );
    let series: [Series; 5] = [
        (
            "warrant_witness_catch_ups_total",
            "409 answers followed: the witness held another size than this log knew.",
            "counter",
            |health| health.catch_ups,
        ),
        (
            "warrant_witness_cosignatures_total",
            "Cosignatures collected from the witness by this process.",
            "counter",
            |health| health.cosignatures,
        ),
        (
            "warrant_witness_failures_total",
            "Submissions to the witness that ended without a cosignature.",
            "counter",
            |health| health.failures,
        ),
        (
            "warrant_witness_refused",
            "1 when the witness refused the log as inconsistent with what it cosigned before.",
            "gauge",
            |health| u64::from(health.refused),
        ),
        (
            "warrant_witness_size",
            "The size the witness last cosigned.",
            "gauge",
            |health| health.size.unwrap_or(0),
        ),
    ];
    for (name, help, kind, value) in series {
        gauge(&mut out, name, help, kind);
        for (id, health) in &report.witnesses {
            let _ = writeln!(out, "{name}{{witness=\"{id}\"}} {}", value(health));
        }
    }
    out
}

pub async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}
