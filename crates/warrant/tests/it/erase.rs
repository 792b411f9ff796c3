//! Erasure of personal content: by data subject on request, and by retention period in the background. The
//! events, their digests and every proof must survive both.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{BASE_REGISTRY, Scratch, Server, local};

fn subject_event(id: &str, subject: &str, text: &str, time: &str) -> Value {
    json!({"id": id, "time": time, "agent": "helper-agent", "kind": "tool_result",
           "attrs": {"tool": "crm-read", "subject": subject}, "content": {"result": text}})
}

#[test]
fn erasing_a_subject_removes_content_and_every_proof_still_verifies() {
    let scratch = Scratch::new();
    let server = Server::start(&scratch.data(), &["--checkpoint-interval-ms", "50"]);
    let admin = server.admin().to_owned();
    let batch = json!([
        subject_event("a", "client-1", "Jane Doe, 12 Elm St", "2026-11-26T09:30:00Z"),
        subject_event("b", "client-2", "John Roe", "2026-11-26T09:30:01Z"),
        subject_event("c", "client-1", "Jane Doe's passport", "2026-11-26T09:30:02Z"),
    ]);
    let (status, answer) = server.post_json("/v1/events", &admin, &batch);
    assert_eq!(status, 200, "{answer}");
    // The log already holds the admin token's creation; the batch follows it.
    let first = answer["seqs"][0].as_u64().expect("a seq");
    let (jane, john, passport) = (first, first + 1, first + 2);
    server.wait_for_checkpoint(&admin, first + 3);
    let before = server.get_ok(&format!("/v1/events/{jane}"), &admin);
    assert_eq!(
        before["content"]["result"],
        json!("Jane Doe, 12 Elm St"),
        "{before}"
    );

    let (status, erased) = server.post_json(
        "/v1/erase",
        &admin,
        &json!({"subject": "client-1", "reason": "art. 17 request"}),
    );
    assert_eq!(status, 200, "{erased}");
    assert_eq!(erased["events"], json!([jane, passport]), "{erased}");
    assert_eq!(erased["fields"], json!(2), "{erased}");
    let erasure_seq = erased["seq"].as_u64().expect("the erasure event's seq");
    server.wait_for_checkpoint(&admin, erasure_seq + 1);

    let after = server.get_ok(&format!("/v1/events/{jane}"), &admin);
    assert_eq!(after["content"], json!({}), "the text is gone: {after}");
    assert_eq!(after["event"], before["event"], "the committed body is untouched");
    assert_eq!(after["leaf_hash"], before["leaf_hash"]);
    let untouched = server.get_ok(&format!("/v1/events/{john}"), &admin);
    assert_eq!(untouched["content"]["result"], json!("John Roe"), "{untouched}");

    // The erasure is itself evidence, and names no subject in clear.
    let record = server.get_ok(&format!("/v1/events/{erasure_seq}"), &admin);
    assert_eq!(record["event"]["kind"], json!("erasure"), "{record}");
    assert_eq!(
        record["event"]["attrs"]["seqs"],
        json!([jane, passport]),
        "{record}"
    );
    assert_eq!(
        record["event"]["attrs"]["basis"],
        json!("subject_request"),
        "{record}"
    );
    assert!(
        !record["event"].to_string().contains("client-1"),
        "the subject is committed by digest only: {record}"
    );

    let (status, refused) = server.post_json("/v1/erase", &admin, &json!({"seqs": [999]}));
    assert_eq!(status, 400, "{refused}");
    server.kill();
    local(&scratch.data(), &["verify"]).expect_code(0);
}

#[test]
fn retention_erases_content_past_the_agents_period() {
    let scratch = Scratch::new();
    let registry = scratch.file(
        "registry.yaml",
        &BASE_REGISTRY.replace(
            "oversight: human-on-the-loop",
            "oversight: human-on-the-loop\nretention_days: 1",
        ),
    );
    local(&scratch.data(), &["apply", "-f", &registry]).expect_code(0);
    let server = Server::start(&scratch.data(), &["--retention-interval-s", "1"]);
    let admin = server.admin().to_owned();
    let old = (chrono::Utc::now() - chrono::Duration::days(3)).to_rfc3339();
    let fresh = chrono::Utc::now().to_rfc3339();
    let batch = json!([
        subject_event("old", "client-9", "old text", &old),
        subject_event("new", "client-9", "new text", &fresh)
    ]);
    let (status, answer) = server.post_json("/v1/events", &admin, &batch);
    assert_eq!(status, 200, "{answer}");
    let old_seq = answer["seqs"][0].as_u64().unwrap();
    let new_seq = answer["seqs"][1].as_u64().unwrap();

    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let event = server.get_ok(&format!("/v1/events/{old_seq}"), &admin);
        if event["content"] == json!({}) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "retention never erased the old content: {event}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let kept = server.get_ok(&format!("/v1/events/{new_seq}"), &admin);
    assert_eq!(
        kept["content"]["result"],
        json!("new text"),
        "content within its period stays: {kept}"
    );
    let record = server.get_ok(&format!("/v1/events/{}", new_seq + 1), &admin);
    assert_eq!(record["event"]["attrs"]["basis"], json!("retention"), "{record}");
    assert_eq!(record["event"]["attrs"]["seqs"], json!([old_seq]), "{record}");
}
