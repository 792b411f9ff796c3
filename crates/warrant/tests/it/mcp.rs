//! The MCP gateway end to end, with real peers: the official MCP Python SDK as the host's client
//! (`tests/mcp/client.py`) and as the upstream server (`tests/mcp/upstream.py`), `warrant mcp` between them
//! over stdio, talking to a real `warrant serve`. Each case runs on a handshake-era protocol (2025-06-18) and
//! on the stateless one (2026-07-28) where the protocol matters.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::support::{Scratch, Server, WARRANT, python, workspace};

const PROTOCOLS: [&str; 2] = ["2025-06-18", "2026-07-28"];

fn fixture(name: &str) -> PathBuf {
    workspace().join("crates/warrant/tests/mcp").join(name)
}

/// The support agent and its upstream `crm` (the Python upstream over stdio). `send_pin` pins send_email's
/// definition digest.
fn registry(send_pin: Option<&str>) -> String {
    let python = python();
    let pin = send_pin.map(|sha| format!(", sha256: {sha}")).unwrap_or_default();
    format!(
        "\
kind: DataSource
id: crm
sensitivity: confidential
personal_data: true
---
kind: Tool
id: crm-lookup
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
id: crm.echo
access: read
egress: internal
---
kind: Tool
id: crm.search_kb
access: read
egress: internal
---
kind: McpServer
id: crm
transport: stdio
command: {python}
args: [{upstream}, stdio]
env: [UPSTREAM_SEND_EMAIL_DESCRIPTION, UPSTREAM_DIE_AFTER, UPSTREAM_EXTRA_TOOL, UPSTREAM_RECORD]
tools:
  lookup_customer: {{tool: crm-lookup}}
  send_email: {{tool: send-email{pin}}}
---
kind: Agent
id: support
purpose: Answers customers by email
owner: head-of-support
risk_class: limited
decision_scope: execute
oversight: human-on-the-loop
tools:
  - {{tool: crm-lookup, access: read, approved_by: cso}}
  - {{tool: send-email, access: write, approved_by: cso}}
  - {{tool: crm.echo, access: read, approved_by: cso}}
data_sources: [crm]
",
        python = python.display(),
        upstream = fixture("upstream.py").display(),
    )
}

struct Gateway {
    _scratch: Scratch,
    server: Server,
    /// An agent token bound to `support`.
    agent: String,
}

fn start(send_pin: Option<&str>) -> Gateway {
    let scratch = Scratch::new();
    let server = Server::start(&scratch.data(), &["--checkpoint-interval-ms", "100"]);
    let (status, answer) = server.apply("/v1/apply", server.admin(), &registry(send_pin));
    assert_eq!(status, 200, "{answer}");
    let agent = server.agent_token("support-bot", &["support"]);
    Gateway {
        _scratch: scratch,
        server,
        agent,
    }
}

/// The command line a host would put in its config: `warrant --server URL mcp --agent support --upstream crm`.
fn gateway_command(url: &str) -> String {
    format!("{WARRANT} --server {url} mcp --agent support --upstream crm")
}

/// Run the SDK client through the gateway with `steps`; its output lines (the first is the connection).
fn client(url: &str, token: &str, protocol: &str, steps: &Value, env: &[(&str, &str)]) -> Vec<Value> {
    let mut command = Command::new(python());
    command
        .arg(fixture("client.py"))
        .args([
            "--protocol",
            protocol,
            "--timeout",
            "60",
            "--stdio",
            &gateway_command(url),
        ])
        .env("WARRANT_TOKEN", token)
        .env_remove("WARRANT_SERVER")
        .env_remove("WARRANT_DATA")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command.spawn().expect("running client.py");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(steps.to_string().as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let lines: Vec<Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("client printed {line}")))
        .collect();
    assert!(output.status.success(), "client failed: {lines:?}");
    assert!(lines[0].get("fatal").is_none(), "{lines:?}");
    assert_eq!(lines[0]["protocolVersion"], protocol, "{lines:?}");
    assert_eq!(lines.len(), steps.as_array().unwrap().len() + 1, "{lines:?}");
    lines
}

fn names(line: &Value) -> Vec<&str> {
    line["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("not a listing: {line}"))
        .iter()
        .map(|tool| tool["name"].as_str().unwrap())
        .collect()
}

fn text(line: &Value) -> &str {
    line["content"][0]
        .as_str()
        .unwrap_or_else(|| panic!("no text content: {line}"))
}

/// The events of one session, in log order.
fn session_events(server: &Server, token: &str, session: &str) -> Vec<Value> {
    fn flatten(nodes: &[Value], into: &mut Vec<Value>) {
        for node in nodes {
            into.push(node.clone());
            flatten(node["children"].as_array().unwrap(), into);
        }
    }
    let trail = server.get_ok(&format!("/v1/trails/{session}"), token);
    let mut steps = Vec::new();
    flatten(trail["nodes"].as_array().expect("trail nodes"), &mut steps);
    steps.sort_by_key(|step| step["seq"].as_u64());
    steps
}

fn kinds(steps: &[Value]) -> Vec<String> {
    steps
        .iter()
        .map(|step| {
            let tool = step["attrs"]["tool"].as_str().unwrap_or("");
            format!("{} {tool}", step["kind"].as_str().unwrap())
                .trim()
                .to_owned()
        })
        .collect()
}

/// A granted call is forwarded and recorded (call, decision, result, under the session's invocation); an
/// ungranted tool and an undeclared one are invisible, and calling them is an unknown tool (-32602).
#[test]
fn granted_calls_pass_and_are_recorded_the_rest_is_invisible() {
    let gateway = start(None);
    for protocol in PROTOCOLS {
        let session = format!("granted-{protocol}");
        let meta = json!({"warrant/session": session});
        let steps = json!([
            {"op": "list_tools"},
            {"op": "call_tool", "name": "echo", "arguments": {"text": "hi"}, "meta": meta},
            {"op": "call_tool", "name": "search_kb", "arguments": {"query": "refunds"}, "meta": meta},
            {"op": "call_tool", "name": "extra", "arguments": {}, "meta": meta},
            {"op": "call_tool", "name": "no_such_tool", "arguments": {}, "meta": meta},
            {"op": "read_resource", "uri": "crm://customers/c123"},
        ]);
        let lines = client(
            &gateway.server.url,
            &gateway.agent,
            protocol,
            &steps,
            &[("UPSTREAM_EXTRA_TOOL", "extra")],
        );
        // search_kb is declared but not granted; `extra` is not in the registry at all.
        assert_eq!(
            names(&lines[1]),
            ["lookup_customer", "send_email", "echo"],
            "{protocol}"
        );
        assert_eq!(
            (lines[2]["isError"].as_bool(), text(&lines[2])),
            (Some(false), "hi")
        );
        for (line, tool) in [
            (&lines[3], "search_kb"),
            (&lines[4], "extra"),
            (&lines[5], "no_such_tool"),
        ] {
            assert_eq!(line["error"]["code"], -32602, "{protocol}: {line}");
            assert_eq!(line["error"]["message"], format!("unknown tool: {tool}"));
        }
        // What is not governed passes through unchanged.
        assert_eq!(
            lines[6]["contents"][0]["uri"], "crm://customers/c123",
            "{lines:?}"
        );

        let steps = session_events(&gateway.server, gateway.server.admin(), &session);
        assert_eq!(
            kinds(&steps),
            [
                "invocation",
                "policy_decision crm.echo",
                "tool_call crm.echo",
                "tool_result crm.echo"
            ],
            "{protocol}: {steps:#?}"
        );
        assert_eq!(steps[1]["attrs"]["decision"], "allow", "{:#}", steps[1]);
        assert_eq!(steps[3]["attrs"]["status"], "ok", "{:#}", steps[3]);
        assert!(
            steps
                .iter()
                .all(|step| step["proof"].is_string() || step["proof"].is_null())
        );
    }
    // The undeclared tool is on the record, once (both sessions listed it).
    let changes = gateway
        .server
        .get_ok("/v1/changes?kind=McpServer", gateway.server.admin());
    let hidden: Vec<&Value> = changes["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|change| change["attrs"]["op"] == "mcp_tool_hidden")
        .collect();
    assert_eq!(hidden.len(), 1, "{changes:#}");
    assert_eq!(hidden[0]["attrs"]["reason"], "undeclared");
    assert_eq!(hidden[0]["attrs"]["tool"], "crm.extra");
}
