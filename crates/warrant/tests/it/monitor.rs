//! Monitoring end to end: decisions arrive, the evaluator raises deduplicated alerts, a high one opens an
//! incident that links the agent's prompt change, and the incident is worked and closed with the CLI. Every
//! alert and incident change is an event in the log.

use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::{Value, json};

use crate::support::{BASE_REGISTRY, Scratch, Server, warrant};

/// `count` decisions of helper-agent `hours_ago` hours back, for one segment and outcome.
fn decisions(hours_ago: i64, count: usize, segment: &str, outcome: &str) -> Vec<Value> {
    let time = Utc::now() - chrono::Duration::hours(hours_ago);
    (0..count)
        .map(|_| {
            json!({"time": time.to_rfc3339(), "agent": "helper-agent", "kind": "decision",
                   "attrs": {"name": "answer_path", "outcome": outcome, "segment": {"tier": segment}}})
        })
        .collect()
}

/// A week of baseline and a day of current decisions: gold customers move to a new `skip_checks` path.
fn story() -> Vec<Value> {
    let mut events = Vec::new();
    for hours_ago in (30..160).step_by(10) {
        events.extend(decisions(hours_ago, 6, "basic", "full_checks"));
        events.extend(decisions(hours_ago, 2, "basic", "light_checks"));
        events.extend(decisions(hours_ago, 4, "gold", "full_checks"));
    }
    for hours_ago in (1..20).step_by(3) {
        events.extend(decisions(hours_ago, 6, "basic", "full_checks"));
        events.extend(decisions(hours_ago, 2, "basic", "light_checks"));
        events.extend(decisions(hours_ago, 4, "gold", "skip_checks"));
    }
    events
}

fn start(extra: &[&str]) -> (Scratch, Server, String) {
    let scratch = Scratch::new();
    let server = Server::start(&scratch.data(), extra);
    let admin = server.admin().to_owned();
    let (status, answer) = server.apply("/v1/apply", &admin, BASE_REGISTRY);
    assert_eq!(status, 200, "{answer}");
    // The prompt change the incident should point at.
    let changed = BASE_REGISTRY.replace("prompt_version: helper-v1", "prompt_version: helper-v2");
    let (status, answer) = server.apply("/v1/apply?reason=faster%20answers", &admin, &changed);
    assert_eq!(status, 200, "{answer}");
    let (status, answer) = server.post_json("/v1/events", &admin, &Value::Array(story()));
    assert_eq!(status, 200, "{answer}");
    (scratch, server, admin)
}

#[test]
fn alerts_fire_once_and_a_high_one_opens_an_incident_that_is_worked_to_closure() {
    let (_scratch, server, admin) = start(&[]);
    let drift = server.get_ok("/v1/monitor/drift?agent=helper-agent", &admin);
    let item = &drift["items"][0];
    assert_eq!(item["decision"], json!("answer_path"));
    assert!(item["psi"].as_f64().unwrap() > 0.25, "{item}");

    let auditor = server.token("auditor", "auditor");
    let (status, _) = server.call("POST", "/v1/monitor/evaluate", Some(&auditor), None);
    assert_eq!(status, 403, "an auditor reads; it does not raise alerts");

    let (status, outcome) = server.call("POST", "/v1/monitor/evaluate", Some(&admin), None);
    assert_eq!(status, 200, "{outcome}");
    let fired: Vec<&str> = outcome["fired"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|alert| alert["severity"] == json!("high"))
        .map(|alert| alert["rule"].as_str().unwrap())
        .collect();
    assert_eq!(fired, ["default-drift", "default-disparity"], "{outcome:#}");
    let opened = outcome["opened"].as_array().unwrap();
    assert_eq!(opened.len(), 2, "each high alert opens an incident: {outcome:#}");
    let incident = &opened[1];
    let id = incident["id"].as_str().unwrap().to_owned();
    assert!(
        incident["title"]
            .as_str()
            .unwrap()
            .starts_with("default-disparity"),
        "{incident}"
    );
    // The evidence: the alert, decisions of the segment that moved, and the prompt change (frozen).
    let related: Vec<u64> = incident["related_seqs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|seq| seq.as_u64().unwrap())
        .collect();
    let kinds: Vec<String> = related
        .iter()
        .map(|seq| {
            server.get_ok(&format!("/v1/events/{seq}"), &admin)["event"]["kind"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(kinds.first().map(String::as_str), Some("alert"));
    assert_eq!(kinds.last().map(String::as_str), Some("change"), "{kinds:?}");
    let sample = server.get_ok(&format!("/v1/events/{}", related[1]), &admin);
    assert_eq!(
        sample["event"]["attrs"]["outcome"],
        json!("skip_checks"),
        "{sample}"
    );
    assert!(
        incident["checkpoint"]["size"].as_u64().unwrap() > related[1],
        "{incident}"
    );

    // Evaluating again changes nothing: the alerts are still firing, not raised twice.
    let (_, again) = server.call("POST", "/v1/monitor/evaluate", Some(&admin), None);
    assert_eq!(again["fired"], json!([]), "{again:#}");
    assert_eq!(again["opened"], json!([]));
    let firing = server.get_ok("/v1/alerts?status=firing", &admin);
    assert_eq!(
        firing["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|alert| alert["severity"] == json!("high"))
            .count(),
        2
    );

    // Work the incident with the CLI: an owner, a serious classification whose Art. 73 deadline passed.
    let env = [("WARRANT_TOKEN", admin.as_str())];
    let aware = (Utc::now() - chrono::Duration::days(11)).to_rfc3339();
    let run = warrant(
        &[
            "--server",
            &server.url,
            "-o",
            "json",
            "incidents",
            "update",
            &id,
            "--owner",
            "head-of-support",
            "--serious",
            "true",
            "--category",
            "death",
            "--aware-at",
            &aware,
            "--action",
            "paused the v2 prompt",
        ],
        &env,
    )
    .expect_code(0);
    let updated = run.json();
    assert_eq!(updated["owner"], json!("head-of-support"));
    assert_eq!(
        updated["art73"]["overdue"],
        json!(true),
        "10 days after awareness: {updated}"
    );
    let text = warrant(&["--server", &server.url, "incidents", "list"], &env)
        .expect_code(0)
        .stdout;
    assert!(text.contains("OVERDUE"), "{text}");
    // Closing needs the root cause.
    let refused = warrant(&["--server", &server.url, "incidents", "close", &id], &env).expect_code(2);
    assert!(refused.stderr.contains("root cause"), "{refused:?}");
    warrant(
        &[
            "--server",
            &server.url,
            "incidents",
            "close",
            &id,
            "--root-cause",
            "helper-v2 skipped checks for gold",
            "--preventive-measures",
            "prompt changes need a disparity review",
        ],
        &env,
    )
    .expect_code(0);
    let closed = server.get_ok(&format!("/v1/incidents/{id}"), &admin);
    assert_eq!(closed["status"], json!("closed"));
    assert!(closed["closed_at"].is_string());
    assert_eq!(closed["actions"][0]["text"], json!("paused the v2 prompt"));

    // Every change is an event: opened, updated, closed.
    let oversight = server.get_ok("/v1/monitor/oversight", &admin);
    assert!(oversight.get("approvers").is_some(), "{oversight}");
    let mut ops = Vec::new();
    for seq in related[0].. {
        let (status, event) = server.get(&format!("/v1/events/{seq}"), &admin);
        if status == 404 {
            break;
        }
        let event = &event["event"];
        if event["kind"] == json!("incident") && event["attrs"]["incident_id"] == json!(id) {
            ops.push(event["attrs"]["op"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(
        ops,
        ["opened", "updated", "updated"],
        "the incident's history is in the log"
    );
}

#[test]
fn the_server_evaluates_on_its_own_and_alerts_can_be_promoted() {
    let (_scratch, server, admin) = start(&["--monitor-interval-s", "1"]);
    let deadline = Instant::now() + Duration::from_secs(20);
    let alerts = loop {
        let alerts = server.get_ok("/v1/alerts", &admin);
        if alerts["items"].as_array().is_some_and(|items| !items.is_empty()) {
            break alerts;
        }
        assert!(
            Instant::now() < deadline,
            "the evaluator raised nothing within 20 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    // A low alert (an unused grant) has no incident; it can be promoted by an approver, once.
    let low = alerts["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|alert| alert["severity"] == json!("low"))
        .expect("an unused-grant alert")
        .clone();
    assert_eq!(low["incident"], Value::Null);
    let id = low["id"].as_str().unwrap();
    let approver = server.token("approver", "approver");
    let (status, incident) = server.post_json(
        &format!("/v1/alerts/{id}/promote"),
        &approver,
        &json!({"reason": "review it"}),
    );
    assert_eq!(status, 201, "{incident}");
    assert_eq!(incident["alerts"], json!([id]));
    let (status, again) = server.post_json(&format!("/v1/alerts/{id}/promote"), &approver, &json!({}));
    assert_eq!(status, 409, "{again}");
    let (status, missing) = server.post_json("/v1/alerts/alt-999999/promote", &approver, &json!({}));
    assert_eq!(status, 404, "{missing}");
}
