//! Identity end to end, against a running server: each problem found before tokens were bound is a test
//! named after it (they all passed as attacks on main before 5b4a63b), plus the token lifecycle.

use serde_json::{Value, json};

use crate::support::{Scratch, Server, assert_error, local};

const BANK: &str = "
kind: Tool
id: crm-read
access: read
egress: internal
sensitivity: confidential
---
kind: Tool
id: send-email
access: write
egress: external
recipient_arg: to
---
kind: Tool
id: payment-initiate
access: write
egress: external
irreversible: true
---
kind: Agent
id: support-agent
purpose: Answers customers
owner: head-of-support
risk_class: limited
decision_scope: execute
oversight: human-on-the-loop
tools:
  - {tool: crm-read, access: read, approved_by: cso}
  - {tool: send-email, access: write, approved_by: cso}
---
kind: Agent
id: payments-agent
purpose: Pays suppliers
owner: head-of-payments
risk_class: limited
decision_scope: execute
oversight: human-on-the-loop
tools:
  - {tool: payment-initiate, access: write, approved_by: cfo}
  - {tool: crm-read, access: read, approved_by: cfo}
  - {tool: send-email, access: write, approved_by: cfo}
";

struct Bank {
    _scratch: Scratch,
    server: Server,
    admin: String,
    support: String,
    payments: String,
}

fn bank() -> Bank {
    let scratch = Scratch::new();
    let registry = scratch.file("bank.yaml", BANK);
    local(&scratch.data(), &["apply", "-f", &registry]).expect_code(0);
    let server = Server::start(&scratch.data(), &["--checkpoint-interval-ms", "50"]);
    let admin = server.admin().to_owned();
    let support = server.agent_token("support-service", &["support-agent"]);
    let payments = server.agent_token("payments-service", &["payments-agent"]);
    Bank {
        _scratch: scratch,
        server,
        admin,
        support,
        payments,
    }
}

fn authorize(bank: &Bank, token: &str, request: &Value) -> (u16, Value) {
    bank.server.post_json("/v1/authorize", token, request)
}

fn log_size(bank: &Bank) -> u64 {
    let (status, answer) = bank.server.post_json(
        "/v1/events",
        &bank.admin,
        &json!({"time": "2026-12-01T00:00:00Z", "kind": "decision", "attrs": {"probe": true}}),
    );
    assert_eq!(status, 200, "{answer}");
    answer["seqs"][0].as_u64().expect("a seq") + 1
}

#[test]
fn the_support_agents_token_cannot_authorize_a_payment_as_the_payments_agent() {
    let bank = bank();
    let before = log_size(&bank);
    let (status, answer) = authorize(
        &bank,
        &bank.support,
        &json!({"agent": "payments-agent", "tool": "payment-initiate", "args": {"amount_eur": 100}}),
    );
    assert_eq!(status, 403, "{answer}");
    let message = assert_error(&answer, "agent_mismatch");
    assert!(message.contains("payments-agent"), "{message}");
    // Nothing was decided or recorded for the payments agent.
    assert_eq!(log_size(&bank), before + 1);
    // Its own token is allowed, and the decision names the token that asked.
    let (status, answer) = authorize(
        &bank,
        &bank.payments,
        &json!({"agent": "payments-agent", "tool": "payment-initiate", "args": {"amount_eur": 100}}),
    );
    assert_eq!(status, 200, "{answer}");
    let seq = answer["seq"].as_u64().expect("a seq");
    bank.server.wait_for_checkpoint(&bank.admin, seq + 1);
    let record = bank.server.get_ok(&format!("/v1/events/{seq}"), &bank.admin);
    assert_eq!(
        record["event"]["principal"]["name"],
        json!("payments-service"),
        "{record}"
    );
    assert!(
        record["event"]["principal"]["id"]
            .as_str()
            .is_some_and(|id| id.starts_with("tok_")),
        "{record}"
    );
}

#[test]
fn events_and_spans_claiming_the_payments_agent_are_refused_and_stored_ones_name_their_writer() {
    let bank = bank();
    let claim = json!({"time": "2026-12-01T10:00:00Z", "kind": "outcome", "agent": "payments-agent",
                       "attrs": {"name": "payment", "outcome": "sent"}});
    let (status, answer) = bank
        .server
        .post_json("/v1/events", &bank.support, &json!([claim]));
    assert_eq!(status, 403, "{answer}");
    assert_error(&answer, "agent_mismatch");
    assert_eq!(answer["error"]["details"][0]["index"], json!(0), "{answer}");

    // The same span batch: the span for the payments agent is rejected, the support agent's is stored.
    let span = |agent: &str, span_id: &str| {
        json!({"traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": span_id, "name": format!("invoke_agent {agent}"),
               "kind": 1, "startTimeUnixNano": "1764583200000000000", "endTimeUnixNano": "1764583201000000000",
               "attributes": [{"key": "gen_ai.operation.name", "value": {"stringValue": "invoke_agent"}},
                              {"key": "gen_ai.agent.id", "value": {"stringValue": agent}}]})
    };
    let body = json!({"resourceSpans": [{"resource": {"attributes": []}, "scopeSpans": [{"spans": [
        span("payments-agent", "b7ad6b7169203331"), span("support-agent", "b7ad6b7169203332")]}]}]});
    let bytes = serde_json::to_vec(&body).expect("encoding");
    let (status, answer) = bank.server.call(
        "POST",
        "/v1/traces",
        Some(&bank.support),
        Some(("application/json", &bytes)),
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["partialSuccess"]["rejectedSpans"], json!("1"), "{answer}");
    assert!(
        answer["partialSuccess"]["errorMessage"]
            .as_str()
            .is_some_and(|message| message.contains("agent_mismatch")),
        "{answer}"
    );
    // A span that names no agent is the token's one agent's; the record names the token.
    let (status, answer) = bank.server.post_json(
        "/v1/events",
        &bank.support,
        &json!({"time": "2026-12-01T10:00:00Z", "kind": "outcome", "attrs": {"name": "reply", "outcome": "sent"}}),
    );
    assert_eq!(status, 200, "{answer}");
    let seq = answer["seqs"][0].as_u64().expect("a seq");
    bank.server.wait_for_checkpoint(&bank.admin, seq + 1);
    let record = bank.server.get_ok(&format!("/v1/events/{seq}"), &bank.admin);
    assert_eq!(record["event"]["agent"], json!("support-agent"), "{record}");
    assert_eq!(
        record["event"]["principal"]["name"],
        json!("support-service"),
        "{record}"
    );
    // The trail shows who wrote each record.
    let trail = bank
        .server
        .get_ok("/v1/trails/0af7651916cd43dd8448eb211c80319c", &bank.admin);
    assert!(trail.to_string().contains("support-service"), "{trail}");
}

#[test]
fn an_approval_raised_for_one_agent_cannot_be_read_or_used_by_another_agents_token() {
    let bank = bank();
    let held = |token: &str, agent: &str| {
        let session = format!("s-{agent}");
        assert_eq!(
            authorize(
                &bank,
                token,
                &json!({"agent": agent, "tool": "crm-read", "session": session})
            )
            .0,
            200
        );
        let (status, answer) = authorize(
            &bank,
            token,
            &json!({"agent": agent, "tool": "send-email", "session": session, "args": {"to": "x@evil.example"}}),
        );
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["decision"], json!("approval_required"), "{answer}");
        answer["approval_id"].as_str().expect("an approval").to_owned()
    };
    let id = held(&bank.support, "support-agent");
    let approver = bank.server.token("team-lead", "approver");
    let (status, answer) = bank.server.post_json(
        &format!("/v1/approvals/{id}/approve"),
        &approver,
        &json!({"reason": "known partner"}),
    );
    assert_eq!(status, 200, "{answer}");
    // The payments token can neither read it nor use it for its own agent.
    let (status, answer) = bank.server.get(&format!("/v1/approvals/{id}"), &bank.payments);
    assert_eq!(status, 403, "{answer}");
    assert_error(&answer, "agent_mismatch");
    // (Its own session has read confidential data too, so the send is held and the approval is what counts.)
    authorize(
        &bank,
        &bank.payments,
        &json!({"agent": "payments-agent", "tool": "crm-read", "session": "s-support-agent"}),
    );
    let (status, answer) = authorize(
        &bank,
        &bank.payments,
        &json!({"agent": "payments-agent", "tool": "send-email", "session": "s-support-agent",
                "args": {"to": "x@evil.example"}, "approval_id": id}),
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["decision"], json!("deny"), "{answer}");
    let approval = bank.server.get_ok(&format!("/v1/approvals/{id}"), &bank.support);
    assert_eq!(approval["status"], json!("approved"), "not used up: {approval}");
    // Nor in another (equally tainted) session of the right agent.
    authorize(
        &bank,
        &bank.support,
        &json!({"agent": "support-agent", "tool": "crm-read", "session": "another"}),
    );
    let (_, answer) = authorize(
        &bank,
        &bank.support,
        &json!({"agent": "support-agent", "tool": "send-email", "session": "another",
                "args": {"to": "x@evil.example"}, "approval_id": id}),
    );
    assert_eq!(answer["decision"], json!("deny"), "{answer}");
    // The owner, in its session, is let through once.
    let (_, answer) = authorize(
        &bank,
        &bank.support,
        &json!({"agent": "support-agent", "tool": "send-email", "session": "s-support-agent",
                "args": {"to": "x@evil.example"}, "approval_id": id}),
    );
    assert_eq!(answer["decision"], json!("allow"), "{answer}");
}

#[test]
fn an_agent_token_cannot_name_recipients_for_another_agents_session_or_late_in_its_own() {
    let bank = bank();
    // The support token cannot open the payments agent's session with recipients of its choosing.
    let (status, answer) = authorize(
        &bank,
        &bank.support,
        &json!({"agent": "payments-agent", "tool": "crm-read", "session": "p-1",
                "context": {"user_named": ["x@evil.example"]}}),
    );
    assert_eq!(status, 403, "{answer}");
    assert_error(&answer, "agent_mismatch");
    // Its own session: names taken on the first call only; a later attempt is refused and recorded.
    let (_, first) = authorize(
        &bank,
        &bank.support,
        &json!({"agent": "support-agent", "tool": "crm-read", "session": "s-1",
                "context": {"user_named": ["anna@customer.example"]}}),
    );
    assert_eq!(first["decision"], json!("allow"), "{first}");
    let (_, late) = authorize(
        &bank,
        &bank.support,
        &json!({"agent": "support-agent", "tool": "send-email", "session": "s-1", "args": {"to": "x@evil.example"},
                "context": {"user_named": ["x@evil.example"]}}),
    );
    assert_eq!(late["decision"], json!("deny"), "{late}");
    assert_eq!(late["reasons"][0]["rule"], json!("user_named"), "{late}");
    let seq = late["seq"].as_u64().expect("a seq");
    bank.server.wait_for_checkpoint(&bank.admin, seq + 1);
    let record = bank.server.get_ok(&format!("/v1/events/{seq}"), &bank.admin);
    assert_eq!(
        record["event"]["attrs"]["user_named_refused"],
        json!(["x@evil.example"]),
        "{record}"
    );
    // The exfiltration rule still holds the send; repeating the names already taken is fine.
    let (_, send) = authorize(
        &bank,
        &bank.support,
        &json!({"agent": "support-agent", "tool": "send-email", "session": "s-1", "args": {"to": "x@evil.example"},
                "context": {"user_named": ["anna@customer.example"]}}),
    );
    assert_eq!(send["decision"], json!("approval_required"), "{send}");
    // Another agent's session with the same id is its own: the support session's names do not carry over.
    let (_, other) = authorize(
        &bank,
        &bank.payments,
        &json!({"agent": "payments-agent", "tool": "crm-read", "session": "s-1"}),
    );
    assert_eq!(other["decision"], json!("allow"), "{other}");
    let (_, other) = authorize(
        &bank,
        &bank.payments,
        &json!({"agent": "payments-agent", "tool": "send-email", "session": "s-1", "args": {"to": "anna@customer.example"}}),
    );
    assert_eq!(other["decision"], json!("approval_required"), "{other}");
}

#[test]
fn an_admin_cannot_approve_its_own_held_call() {
    let bank = bank();
    let ask = json!({"agent": "support-agent", "tool": "send-email", "session": "a-1", "args": {"to": "x@evil.example"}});
    assert_eq!(
        authorize(
            &bank,
            &bank.admin,
            &json!({"agent": "support-agent", "tool": "crm-read", "session": "a-1"})
        )
        .0,
        200
    );
    let (_, held) = authorize(&bank, &bank.admin, &ask);
    let id = held["approval_id"]
        .as_str()
        .expect("held for approval")
        .to_owned();
    let (status, answer) =
        bank.server
            .post_json(&format!("/v1/approvals/{id}/approve"), &bank.admin, &json!({}));
    assert_eq!(status, 403, "{answer}");
    assert_error(&answer, "self_approval");
    // Another token of the same person is the same pair of eyes.
    let (status, created) = bank.server.post_json(
        "/v1/tokens",
        &bank.admin,
        &json!({"name": "second-admin", "role": "approver", "person": "admin"}),
    );
    assert_eq!(status, 201, "{created}");
    let second = created["token"].as_str().expect("a token").to_owned();
    let (status, answer) = bank
        .server
        .post_json(&format!("/v1/approvals/{id}/approve"), &second, &json!({}));
    assert_eq!(
        (status, answer["error"]["code"].clone()),
        (403, json!("self_approval")),
        "{answer}"
    );
    // Someone else may.
    let approver = bank.server.token("team-lead", "approver");
    let (status, answer) =
        bank.server
            .post_json(&format!("/v1/approvals/{id}/approve"), &approver, &json!({}));
    assert_eq!(status, 200, "{answer}");
}

#[test]
fn a_revoked_or_expired_token_stops_working_at_once_on_a_running_server() {
    let bank = bank();
    let (status, tokens) = bank.server.get("/v1/tokens", &bank.admin);
    assert_eq!(status, 200, "{tokens}");
    let support = tokens["items"]
        .as_array()
        .and_then(|items| {
            items
                .iter()
                .find(|token| token["name"] == json!("support-service"))
        })
        .cloned()
        .expect("the support token is listed");
    assert_eq!(support["agents"], json!(["support-agent"]), "{support}");
    assert_eq!(support["status"], json!("active"), "{support}");
    assert!(
        !tokens.to_string().contains("wrt_"),
        "secrets are never listed: {tokens}"
    );
    let id = support["id"].as_str().expect("an id").to_owned();
    let ask = json!({"agent": "support-agent", "tool": "crm-read"});
    assert_eq!(authorize(&bank, &bank.support, &ask).0, 200);
    let (status, answer) = bank.server.post_json(
        &format!("/v1/tokens/{id}/revoke"),
        &bank.admin,
        &json!({"reason": "laptop lost"}),
    );
    assert_eq!(status, 200, "{answer}");
    let (status, answer) = authorize(&bank, &bank.support, &ask);
    assert_eq!(status, 401, "{answer}");
    assert!(
        assert_error(&answer, "unauthorized").contains("revoked"),
        "{answer}"
    );
    // Revoking again is a conflict; the revocation is a `token` event that names no secret.
    let (status, _) = bank
        .server
        .post_json(&format!("/v1/tokens/{id}/revoke"), &bank.admin, &json!({}));
    assert_eq!(status, 409);
    let size = log_size(&bank);
    bank.server.wait_for_checkpoint(&bank.admin, size);
    let revocation = (0..size)
        .rev()
        .map(|seq| bank.server.get_ok(&format!("/v1/events/{seq}"), &bank.admin))
        .find(|record| record["event"]["kind"] == json!("token"))
        .expect("a token event");
    assert_eq!(
        revocation["event"]["attrs"]["op"],
        json!("revoked"),
        "{revocation}"
    );
    assert_eq!(
        revocation["event"]["attrs"]["token_id"],
        json!(id),
        "{revocation}"
    );
    assert_eq!(
        revocation["event"]["attrs"]["reason"],
        json!("laptop lost"),
        "{revocation}"
    );
    assert!(!revocation.to_string().contains("wrt_"), "{revocation}");
    // An expiry in the past is refused at creation; one in the future shows in the list.
    let (status, _) = bank.server.post_json(
        "/v1/tokens",
        &bank.admin,
        &json!({"name": "old", "role": "auditor", "expires": "2020-01-01T00:00:00Z"}),
    );
    assert_eq!(status, 400);
}

#[test]
fn agent_tokens_from_before_binding_are_refused_with_how_to_recreate_them() {
    if !crate::support::on_sqlite() {
        return; // it edits the SQLite file directly
    }
    let scratch = Scratch::new();
    let server = Server::start(&scratch.data(), &[]);
    let token = server.agent_token("legacy", &["helper-agent"]);
    drop(server);
    // What an upgrade finds: an agent token with no agents recorded.
    let connection = rusqlite::Connection::open(scratch.data().join("warrant.db")).expect("the database");
    connection
        .execute("UPDATE tokens SET agents = NULL WHERE name = 'legacy'", [])
        .expect("unbinding");
    drop(connection);
    let server = Server::start(&scratch.data(), &[]);
    let (status, answer) = server.post_json(
        "/v1/authorize",
        &token,
        &json!({"agent": "helper-agent", "tool": "crm-read"}),
    );
    assert_eq!(status, 401, "{answer}");
    let message = assert_error(&answer, "unauthorized");
    assert!(
        message.contains("warrant token create --role agent --agent"),
        "{message}"
    );
}

#[test]
fn the_cli_creates_bound_tokens_lists_and_revokes_them() {
    let scratch = Scratch::new();
    let data = scratch.data();
    let created = local(
        &data,
        &[
            "-o",
            "json",
            "token",
            "create",
            "--role",
            "agent",
            "--name",
            "orchestrator",
            "--agent",
            "a-1",
            "--agent",
            "a-2",
            "--expires-in",
            "90d",
        ],
    )
    .expect_code(0)
    .json();
    assert_eq!(created["agents"], json!(["a-1", "a-2"]), "{created}");
    assert!(created["expires"].as_str().is_some(), "{created}");
    let refused = local(
        &data,
        &["token", "create", "--role", "agent", "--name", "unbound"],
    );
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(refused.stderr.contains("--agent"), "{refused:?}");
    let listed = local(&data, &["token", "list"]).expect_code(0);
    assert!(
        listed.stdout.contains("orchestrator") && listed.stdout.contains("a-1, a-2"),
        "{listed:?}"
    );
    let id = created["id"].as_str().expect("an id");
    local(&data, &["token", "revoke", id]).expect_code(0);
    let listed = local(&data, &["-o", "json", "token", "list"])
        .expect_code(0)
        .json();
    assert_eq!(listed["items"][0]["status"], json!("revoked"), "{listed}");
}
