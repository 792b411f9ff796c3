//! Crash safety: SIGKILL a server while clients write, restart it, and check that every acknowledged event is
//! there under the seq it was acknowledged with, and that the log still verifies.
//!
//! Three rounds by default; `WARRANT_CRASH_ROUNDS` asks for more (CI sets it).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::json;

use crate::support::{Scratch, Server, call, event, local};

const CLIENTS: usize = 8;
const WRITE_FOR: Duration = Duration::from_millis(1500);

fn rounds() -> usize {
    std::env::var("WARRANT_CRASH_ROUNDS")
        .ok()
        .and_then(|rounds| rounds.parse().ok())
        .unwrap_or(3)
}

const TOOLS: [&str; 3] = ["crm-read", "crm-update", "kyc-lookup"];

/// Send single events with unique ids until `stop`; return the (id, seq) of every acknowledged one.
pub(crate) fn write_until(
    url: String,
    token: String,
    round: usize,
    client: usize,
    stop: Arc<AtomicBool>,
) -> Vec<(String, u64)> {
    let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(10)).build();
    let mut acknowledged = Vec::new();
    for number in 0.. {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let id = format!("crash-{round}-{client}-{number}");
        // Decisions and tool calls alternate, the calls of one client in one trace across rounds, so the
        // transition rollup must pick up where the crashed server left off.
        let mut body = event(Some(&id), "crash test");
        if number % 2 == 1 {
            body["kind"] = json!("tool_call");
            body["trace_id"] = json!(format!("{:032x}", client + 1));
            body["attrs"] = json!({"tool": TOOLS[number % 3], "latency_ms": number});
        }
        let body = serde_json::to_vec(&body).expect("encoding");
        let response = agent
            .post(&format!("{url}/v1/events"))
            .set("Authorization", &format!("Bearer {token}"))
            .set("Content-Type", "application/json")
            .send_bytes(&body);
        // Once the server is killed, requests fail; only answered 200s count as acknowledged.
        let Ok(response) = response else { break };
        if response.status() != 200 {
            break;
        }
        let Ok(answer) = response.into_json::<serde_json::Value>() else {
            break;
        };
        let seq = answer["seqs"][0].as_u64().expect("an acknowledged seq");
        acknowledged.push((id, seq));
    }
    acknowledged
}

#[test]
fn acknowledged_events_survive_sigkill_and_the_log_verifies() {
    let scratch = Scratch::new();
    let data = scratch.data();
    let first = Server::start(&data, &["--checkpoint-interval-ms", "100"]);
    let admin = first.admin().to_owned();
    let writer = first.agent_token("crash-writer", &["helper-agent"]);
    let mut running = Some(first);
    for round in 0..rounds() {
        let server = running
            .take()
            .unwrap_or_else(|| Server::start(&data, &["--checkpoint-interval-ms", "100"]));
        let stop = Arc::new(AtomicBool::new(false));
        let clients: Vec<_> = (0..CLIENTS)
            .map(|client| {
                let (url, token, stop) = (server.url.clone(), writer.clone(), stop.clone());
                std::thread::spawn(move || write_until(url, token, round, client, stop))
            })
            .collect();
        std::thread::sleep(WRITE_FOR);
        // SIGKILL while the clients are still writing, then let them notice.
        server.kill();
        stop.store(true, Ordering::Relaxed);
        let acknowledged: Vec<(String, u64)> = clients
            .into_iter()
            .flat_map(|client| client.join().expect("a client thread"))
            .collect();
        assert!(
            !acknowledged.is_empty(),
            "round {round}: no event was acknowledged"
        );
        let mut seqs: Vec<u64> = acknowledged.iter().map(|(_, seq)| *seq).collect();
        seqs.sort_unstable();
        seqs.dedup();
        assert_eq!(
            seqs.len(),
            acknowledged.len(),
            "round {round}: two events acknowledged at one seq"
        );

        let server = Server::start(&data, &["--checkpoint-interval-ms", "100"]);
        let agent = ureq::AgentBuilder::new().build();
        for (id, seq) in &acknowledged {
            let path = format!("/v1/events/{seq}");
            let (status, answer) = call(&agent, &server.url, "GET", &path, Some(&admin), None);
            assert_eq!(
                status, 200,
                "round {round}: acknowledged event {id} at seq {seq} is gone: {answer}"
            );
            assert_eq!(
                answer["event"]["id"],
                json!(id),
                "round {round}: seq {seq}: {answer}"
            );
        }

        // Stop it the hard way too, then recompute the whole log from the file.
        server.kill();
        let run = local(&data, &["verify"]);
        assert_eq!(
            run.code, 0,
            "round {round}: the log must verify after a crash: {run:?}"
        );
        // The rollups were written in the events' own transactions: they equal a rebuild from the log.
        let live = rollups(&data);
        assert!(
            live.iter().any(|row| row.starts_with("rollup_bigrams")),
            "round {round}: no transitions counted"
        );
        local(&data, &["monitor", "--rebuild"]).expect_code(0);
        let rebuilt = rollups(&data);
        assert_eq!(
            live, rebuilt,
            "round {round}: rollups after a crash differ from a rebuild from the log"
        );
    }
}

/// Every rollup row, table by table, in key order.
fn rollups(data: &std::path::Path) -> Vec<String> {
    const TABLES: [&str; 5] = [
        "rollup_kinds",
        "rollup_decisions",
        "rollup_tools",
        "rollup_bigrams",
        "rollup_usage",
    ];
    if !crate::support::on_sqlite() {
        let url = std::fs::read_to_string(data.join("database")).expect("the data directory's database");
        let mut rows = Vec::new();
        for table in TABLES {
            let output = std::process::Command::new("psql")
                .args([
                    url.trim(),
                    "-At",
                    "-c",
                    &format!("SELECT * FROM {table} ORDER BY 1, 2, 3, 4"),
                ])
                .output()
                .expect("psql runs");
            assert!(output.status.success(), "psql failed on {table}");
            rows.extend(
                String::from_utf8_lossy(&output.stdout)
                    .lines()
                    .map(|line| format!("{table} {line}")),
            );
        }
        return rows;
    }
    let db = rusqlite::Connection::open(data.join("warrant.db")).expect("opening the database");
    let mut rows = Vec::new();
    for table in TABLES {
        let mut statement = db
            .prepare(&format!("SELECT * FROM {table} ORDER BY 1, 2, 3, 4"))
            .expect("a query");
        let columns = statement.column_count();
        let mut cursor = statement.query([]).expect("rows");
        while let Some(row) = cursor.next().expect("a row") {
            let values: Vec<String> = (0..columns)
                .map(|column| {
                    format!(
                        "{:?}",
                        row.get::<_, rusqlite::types::Value>(column).expect("a value")
                    )
                })
                .collect();
            rows.push(format!("{table} {}", values.join(" ")));
        }
    }
    rows
}
