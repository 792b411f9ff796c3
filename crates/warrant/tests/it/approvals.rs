//! Human approvals end to end: the gate holds a call, only approvers decide, and the approval lets exactly
//! that call through, once, before it expires.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{MAILER, Scratch, Server, local};

fn ask(server: &Server, token: &str, to: &str, approval: Option<&str>) -> Value {
    let mut request = json!({"agent": "mailer", "tool": "send-email", "session": "s-9", "args": {"to": to}});
    if let Some(id) = approval {
        request["approval_id"] = json!(id);
    }
    let (status, answer) = server.post_json("/v1/authorize", token, &request);
    assert_eq!(status, 200, "{answer}");
    answer
}

fn held(server: &Server, token: &str, to: &str) -> String {
    let answer = ask(server, token, to, None);
    assert_eq!(answer["decision"], json!("approval_required"), "{answer}");
    answer["approval_id"].as_str().expect("an approval id").to_owned()
}

#[test]
fn an_approval_lets_exactly_that_call_through_once_and_only_approvers_decide() {
    let scratch = Scratch::new();
    let registry = scratch.file("registry.yaml", MAILER);
    local(&scratch.data(), &["apply", "-f", &registry]).expect_code(0);
    let server = Server::start(&scratch.data(), &["--approval-ttl-s", "3"]);
    let agent = server.agent_token("mailer-runtime", &["mailer"]);
    let approver = server.token("team-lead", "approver");
    let auditor = server.token("auditor", "auditor");

    let (status, read) = server.post_json(
        "/v1/authorize",
        &agent,
        &json!({"agent": "mailer", "tool": "crm-read", "session": "s-9"}),
    );
    assert_eq!(
        (status, read["decision"].clone()),
        (200, json!("allow")),
        "{read}"
    );
    let id = held(&server, &agent, "outsider@example.org");

    // Agents and auditors may not decide; approvers may.
    for token in [&agent, &auditor] {
        let (status, refused) = server.post_json(&format!("/v1/approvals/{id}/approve"), token, &json!({}));
        assert_eq!(status, 403, "{refused}");
    }
    let (status, pending) = server.get(&format!("/v1/approvals/{id}"), &agent);
    assert_eq!(
        (status, pending["status"].clone()),
        (200, json!("pending")),
        "{pending}"
    );
    let (status, approved) = server.post_json(
        &format!("/v1/approvals/{id}/approve"),
        &approver,
        &json!({"reason": "customer asked"}),
    );
    assert_eq!(status, 200, "{approved}");
    assert_eq!(approved["status"], json!("approved"), "{approved}");
    assert_eq!(approved["decided_by"], json!("team-lead"), "{approved}");

    let replay = ask(&server, &agent, "someone-else@example.org", Some(&id));
    assert_eq!(replay["decision"], json!("deny"), "other arguments: {replay}");
    let allowed = ask(&server, &agent, "outsider@example.org", Some(&id));
    assert_eq!(allowed["decision"], json!("allow"), "{allowed}");
    let again = ask(&server, &agent, "outsider@example.org", Some(&id));
    assert_eq!(
        again["decision"],
        json!("deny"),
        "an approval is used once: {again}"
    );
    assert!(
        again["reasons"][0]["text"].as_str().unwrap().contains("used"),
        "{again}"
    );

    // Expiry: an approved one not used in time, and a pending one decided too late.
    let late_use = held(&server, &agent, "late@example.org");
    let (status, _) = server.post_json(
        &format!("/v1/approvals/{late_use}/approve"),
        &approver,
        &json!({}),
    );
    assert_eq!(status, 200);
    let late_decision = held(&server, &agent, "later@example.org");
    std::thread::sleep(Duration::from_millis(3500));
    let expired = ask(&server, &agent, "late@example.org", Some(&late_use));
    assert_eq!(expired["decision"], json!("deny"), "{expired}");
    assert!(
        expired["reasons"][0]["text"]
            .as_str()
            .unwrap()
            .contains("expired"),
        "{expired}"
    );
    let (status, conflict) = server.post_json(
        &format!("/v1/approvals/{late_decision}/approve"),
        &approver,
        &json!({}),
    );
    assert_eq!(status, 409, "{conflict}");
    let (status, denied_without_reason) = server.post_json(
        &format!("/v1/approvals/{late_decision}/deny"),
        &approver,
        &json!({}),
    );
    assert_eq!(status, 400, "{denied_without_reason}");

    let (status, listed) = server.get("/v1/approvals?status=expired", &auditor);
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["items"].as_array().unwrap().len(), 2, "{listed}");
    server.kill();
    let log = local(&scratch.data(), &["verify"]).expect_code(0);
    assert!(log.stdout.contains("verified"), "{log:?}");
}
