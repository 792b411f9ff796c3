//! Role boundaries on a real server: every write endpoint needs a valid token and the right role, and the
//! errors have the documented shape.

use serde_json::json;

use crate::support::{BASE_REGISTRY, Scratch, Server, assert_error, event};

/// The write endpoints, each as a request that succeeds for a caller with the power.
struct Endpoint {
    method: &'static str,
    path: String,
    content_type: &'static str,
    body: Vec<u8>,
    /// The roles that may call it.
    allowed: &'static [&'static str],
}

fn endpoints(tool_to_delete: &str) -> Vec<Endpoint> {
    vec![
        Endpoint {
            method: "POST",
            path: "/v1/apply".into(),
            content_type: "application/yaml",
            body: BASE_REGISTRY.as_bytes().to_vec(),
            allowed: &["admin"],
        },
        Endpoint {
            method: "POST",
            path: "/v1/tokens".into(),
            content_type: "application/json",
            body: serde_json::to_vec(&json!({"name": "issued-by-test", "role": "auditor"})).unwrap(),
            allowed: &["admin"],
        },
        Endpoint {
            method: "DELETE",
            path: format!("/v1/tools/{tool_to_delete}"),
            content_type: "application/json",
            body: Vec::new(),
            allowed: &["admin"],
        },
        Endpoint {
            method: "POST",
            path: "/v1/events".into(),
            content_type: "application/json",
            body: serde_json::to_vec(&event(None, "role test")).unwrap(),
            allowed: &["agent", "admin"],
        },
        Endpoint {
            method: "POST",
            path: "/v1/erase".into(),
            content_type: "application/json",
            body: serde_json::to_vec(&json!({"seqs": [0], "reason": "role test"})).unwrap(),
            allowed: &["admin"],
        },
    ]
}

fn send(server: &Server, endpoint: &Endpoint, token: Option<&str>) -> (u16, serde_json::Value) {
    let body = (!endpoint.body.is_empty()).then_some((endpoint.content_type, endpoint.body.as_slice()));
    server.call(endpoint.method, &endpoint.path, token, body)
}

#[test]
fn write_endpoints_refuse_missing_and_unknown_tokens_with_401() {
    let scratch = Scratch::new();
    let server = Server::start(&scratch.data(), &[]);
    for endpoint in endpoints("crm-read") {
        for token in [None, Some("not-a-real-token"), Some("")] {
            let (status, answer) = send(&server, &endpoint, token);
            assert_eq!(
                status, 401,
                "{} {} with {token:?}: {answer}",
                endpoint.method, endpoint.path
            );
            assert_error(&answer, "unauthorized");
        }
    }
}

#[test]
fn each_write_endpoint_is_open_only_to_the_roles_with_the_power() {
    let scratch = Scratch::new();
    let server = Server::start(&scratch.data(), &[]);
    let admin = server.admin().to_owned();
    // A tool nobody is granted, for the admin's delete to succeed.
    let (status, answer) = server.apply(
        "/v1/apply",
        &admin,
        "kind: Tool\nid: spare-tool\naccess: read\negress: internal\n",
    );
    assert_eq!(status, 200, "{answer}");
    let tokens = [
        ("agent", server.agent_token("test-agent", &["helper-agent"])),
        ("approver", server.token("test-approver", "approver")),
        ("auditor", server.token("test-auditor", "auditor")),
        ("admin", admin),
    ];
    for endpoint in endpoints("spare-tool") {
        for (role, token) in &tokens {
            let (status, answer) = send(&server, &endpoint, Some(token));
            let what = format!("{role} on {} {}: {answer}", endpoint.method, endpoint.path);
            if endpoint.allowed.contains(role) {
                assert!((200..300).contains(&status), "expected 2xx for {what}");
            } else {
                assert_eq!(status, 403, "expected 403 for {what}");
                let message = assert_error(&answer, "forbidden");
                assert!(message.contains(role), "the message names the role: {what}");
            }
        }
    }
    // The refused calls changed nothing: the admin's delete was the only one to land.
    let (status, _) = server.get("/v1/tools/spare-tool", &tokens[3].1);
    assert_eq!(status, 404);
}

#[test]
fn agents_write_events_but_cannot_read_the_registry() {
    let scratch = Scratch::new();
    let server = Server::start(&scratch.data(), &[]);
    let admin = server.admin().to_owned();
    let agent = server.agent_token("reader-agent", &["helper-agent"]);
    let (status, answer) = server.get("/v1/agents", &agent);
    assert_eq!(status, 403, "{answer}");
    assert_error(&answer, "forbidden");
    let (status, answer) = server.get("/v1/changes", &agent);
    assert_eq!(status, 403, "{answer}");
    for (name, role) in [("reader-approver", "approver"), ("reader-auditor", "auditor")] {
        let token = server.token(name, role);
        let answer = server.get_ok("/v1/agents", &token);
        assert!(answer["items"].is_array(), "{role}: {answer}");
        server.get_ok("/v1/changes", &token);
    }
    server.get_ok("/v1/agents", &admin);
    let (status, answer) = server.call("GET", "/v1/agents", None, None);
    assert_eq!(status, 401, "{answer}");
    assert_error(&answer, "unauthorized");
}
