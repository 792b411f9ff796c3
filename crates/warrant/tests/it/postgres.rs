//! PostgreSQL with several servers: one log written through two `warrant serve` processes, one of them killed
//! mid-load; and a database outage that the server rides out without a restart. These need PostgreSQL
//! (`WARRANT_TEST_POSTGRES`); on SQLite each says so and passes.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::json;

use crate::crash::write_until;
use crate::support::{Scratch, Server, call, event, local, on_sqlite};

#[test]
fn two_servers_on_one_database_keep_every_acknowledged_event_when_one_is_killed() {
    if on_sqlite() {
        eprintln!("needs PostgreSQL (WARRANT_TEST_POSTGRES)");
        return;
    }
    let scratch = Scratch::new();
    let first = Server::start(&scratch.data(), &["--checkpoint-interval-ms", "100"]);
    let admin = first.admin().to_owned();
    let writer = first.agent_token("writer", &["helper-agent"]);
    let second = Server::start(&scratch.second_data(), &["--checkpoint-interval-ms", "100"]);
    assert!(
        second.admin.is_none(),
        "the second server found the first one's admin token"
    );

    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = [&first, &second]
        .iter()
        .enumerate()
        .flat_map(|(server_index, server)| {
            (0..4).map({
                let (url, writer, stop) = (server.url.clone(), writer.clone(), stop.clone());
                move |client| {
                    let (url, token, stop) = (url.clone(), writer.clone(), stop.clone());
                    std::thread::spawn(move || write_until(url, token, server_index, client, stop))
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    // SIGKILL the first server mid-load; the second keeps writing.
    first.kill();
    std::thread::sleep(Duration::from_millis(700));
    stop.store(true, Ordering::Relaxed);
    let acknowledged: Vec<(String, u64)> = clients
        .into_iter()
        .flat_map(|client| client.join().expect("a client thread"))
        .collect();
    let from_second = acknowledged
        .iter()
        .filter(|(id, _)| id.starts_with("crash-1-"))
        .count();
    assert!(from_second > 0, "the second server acknowledged nothing");
    let mut seqs: Vec<u64> = acknowledged.iter().map(|(_, seq)| *seq).collect();
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(
        seqs.len(),
        acknowledged.len(),
        "two events were acknowledged at one seq"
    );

    // Every acknowledged event is there, once, under its seq, read through the surviving server.
    let agent = ureq::AgentBuilder::new().build();
    for (id, seq) in &acknowledged {
        let (status, answer) = call(
            &agent,
            &second.url,
            "GET",
            &format!("/v1/events/{seq}"),
            Some(&admin),
            None,
        );
        assert_eq!(
            status, 200,
            "acknowledged event {id} at seq {seq} is gone: {answer}"
        );
        assert_eq!(answer["event"]["id"], json!(id), "seq {seq}: {answer}");
    }
    // The whole log verifies: dense seqs, every leaf and every checkpoint, whichever server signed it.
    let run = local(&scratch.data(), &["verify", "-o", "json"]);
    assert_eq!(run.code, 0, "the log must verify: {run:?}");
    let report = run.json();
    assert!(report["events"].as_u64().expect("events") >= acknowledged.len() as u64);
}

#[test]
fn a_database_outage_answers_503_and_the_server_recovers_without_a_restart() {
    if on_sqlite() {
        eprintln!("needs PostgreSQL (WARRANT_TEST_POSTGRES)");
        return;
    }
    let scratch = Scratch::new();
    let database = scratch.database().expect("a PostgreSQL database");
    let server = Server::start(&scratch.data(), &[]);
    let admin = server.admin().to_owned();
    let (status, answer) =
        server.post_json("/v1/events", &admin, &event(Some("before"), "before the outage"));
    assert_eq!(status, 200, "{answer}");
    let before = answer["seqs"][0].as_u64().expect("a seq");

    // The outage: the database refuses new connections and drops the server's (waiting until each of
    // them has ended: a backend told to end may otherwise still take the next write).
    database.admin_sql(&format!(
        "ALTER DATABASE {} ALLOW_CONNECTIONS false",
        database.name
    ));
    database.admin_sql(&format!(
        "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE datname = '{}'",
        database.name
    ));
    let (status, answer) =
        server.post_json("/v1/events", &admin, &event(Some("during"), "during the outage"));
    assert_eq!(status, 503, "a write during the outage: {answer}");
    let health = ureq::get(&format!("{}/healthz", server.url)).call();
    assert!(
        matches!(&health, Err(ureq::Error::Status(503, _))),
        "healthz during the outage: {health:?}"
    );

    // Back: the next write reconnects; nothing was half-written.
    database.admin_sql(&format!(
        "ALTER DATABASE {} ALLOW_CONNECTIONS true",
        database.name
    ));
    let (status, answer) = server.post_json("/v1/events", &admin, &event(Some("after"), "after the outage"));
    assert_eq!(status, 200, "the first write after the outage: {answer}");
    assert_eq!(
        answer["seqs"],
        json!([before + 1]),
        "the refused write left no trace: {answer}"
    );
    let health = ureq::get(&format!("{}/healthz", server.url))
        .call()
        .expect("healthz answers");
    assert_eq!(health.status(), 200);
    drop(server);
    let run = local(&scratch.data(), &["verify"]);
    assert_eq!(run.code, 0, "{run:?}");
}

const TREASURY: &str = "
kind: Tool
id: pay
access: execute
egress: external
irreversible: true
amount_arg: amount
---
kind: Group
id: treasury
limits:
  - {id: daily, max_total: 50000, window_hours: 24}
---
kind: Agent
id: clerk
purpose: Pays suppliers
owner: cfo
risk_class: high
decision_scope: execute
oversight: human-in-the-loop
group: treasury
taint: {irreversible_after_untrusted: off}
tools:
  - {tool: pay, access: execute, approved_by: cfo}
";

#[test]
fn two_servers_never_both_spend_the_last_of_a_group_limit() {
    if on_sqlite() {
        eprintln!("needs PostgreSQL (WARRANT_TEST_POSTGRES)");
        return;
    }
    let scratch = Scratch::new();
    let registry = scratch.file("treasury.yaml", TREASURY);
    local(&scratch.data(), &["apply", "-f", &registry]).expect_code(0);
    let first = Server::start(&scratch.data(), &[]);
    let admin = first.admin().to_owned();
    let second = Server::start(&scratch.second_data(), &[]);

    // Each server reads the group's ledger from the log at its first decision: a payment of nothing on each
    // makes both hold their own ledger before the race, as long-running servers do.
    for server in [&first, &second] {
        let request = json!({"agent": "clerk", "tool": "pay", "session": "warm-up", "args": {"amount": 0}});
        let (status, answer) = server.post_json("/v1/authorize", &admin, &request);
        assert_eq!(
            (status, answer["decision"].as_str()),
            (200, Some("allow")),
            "{answer}"
        );
    }
    // 24 payments of 9,500 against a 50,000 daily limit, raced through both servers at once: each server's
    // own ledger would let five through on each.
    let start = Arc::new(std::sync::Barrier::new(6));
    let askers: Vec<_> = [&first, &second]
        .iter()
        .enumerate()
        .flat_map(|(server_index, server)| {
            let url = server.url.clone();
            let admin = admin.clone();
            let start = start.clone();
            (0..3).map(move |client| {
                let (url, admin, start) = (url.clone(), admin.clone(), start.clone());
                std::thread::spawn(move || {
                    let agent = ureq::AgentBuilder::new().build();
                    start.wait();
                    (0..4)
                        .map(|number| {
                            let request = json!({
                                "agent": "clerk",
                                "tool": "pay",
                                "session": format!("pay-{server_index}-{client}-{number}"),
                                "args": {"amount": 9500},
                            });
                            let (status, answer) = call(
                                &agent,
                                &url,
                                "POST",
                                "/v1/authorize",
                                Some(&admin),
                                Some(("application/json", request.to_string().as_bytes())),
                            );
                            assert_eq!(status, 200, "{answer}");
                            answer["decision"].as_str().expect("a decision").to_owned()
                        })
                        .collect::<Vec<String>>()
                })
            })
        })
        .collect();
    let decisions: Vec<String> = askers
        .into_iter()
        .flat_map(|asker| asker.join().expect("an asking thread"))
        .collect();
    let allowed = decisions.iter().filter(|decision| *decision == "allow").count();
    let held = decisions
        .iter()
        .filter(|decision| *decision == "approval_required")
        .count();
    assert_eq!(
        allowed, 5,
        "5 × 9,500 fit in 50,000 and a sixth does not, across both servers: {decisions:?}"
    );
    assert_eq!(
        held,
        decisions.len() - 5,
        "every other payment is held for a person: {decisions:?}"
    );
}

const MAILER: &str = "
kind: Tool
id: crm-read
access: read
egress: internal
sensitivity: confidential
---
kind: Tool
id: lookup-docs
access: read
egress: internal
---
kind: Tool
id: send-email
access: write
egress: external
recipient_arg: to
---
kind: Agent
id: mailer
purpose: Answers customers
owner: support-lead
risk_class: limited
decision_scope: execute
oversight: human-on-the-loop
tools:
  - {tool: crm-read, access: read, approved_by: cso}
  - {tool: lookup-docs, access: read, approved_by: cso}
  - {tool: send-email, access: write, approved_by: cso}
";

#[test]
fn a_session_read_on_one_server_taints_it_on_the_other() {
    if on_sqlite() {
        eprintln!("needs PostgreSQL (WARRANT_TEST_POSTGRES)");
        return;
    }
    let scratch = Scratch::new();
    let registry = scratch.file("mailer.yaml", MAILER);
    local(&scratch.data(), &["apply", "-f", &registry]).expect_code(0);
    let first = Server::start(&scratch.data(), &[]);
    let admin = first.admin().to_owned();
    let second = Server::start(&scratch.second_data(), &[]);
    let ask = |server: &Server, tool: &str, args: serde_json::Value| {
        let request = json!({"agent": "mailer", "tool": tool, "session": "s-shared", "args": args});
        let (status, answer) = server.post_json("/v1/authorize", &admin, &request);
        assert_eq!(status, 200, "{answer}");
        answer["decision"].as_str().expect("a decision").to_owned()
    };
    // The second server holds the session first (an untainted call), then the first server reads
    // confidential data in it: the second must see that before it lets mail go out.
    assert_eq!(ask(&second, "lookup-docs", json!({})), "allow");
    assert_eq!(
        ask(&second, "send-email", json!({"to": "a@outside.example"})),
        "allow"
    );
    assert_eq!(ask(&first, "crm-read", json!({})), "allow");
    assert_eq!(
        ask(&second, "send-email", json!({"to": "b@outside.example"})),
        "approval_required",
        "the session read confidential data on the other server"
    );
}
