//! OTLP/HTTP ingest with real clients: the OpenTelemetry Python SDK sends an agent trace (protobuf, gzip and
//! JSON), an OpenInference-shaped OTLP/JSON fixture arrives, and bad bodies are refused whole. Every trail
//! that comes back is checked step by step, and each step's inclusion proof is verified with the log library.
//!
//! The Python clients live in a venv made by `bash .ci/setup` (`target/pyenv`), or `WARRANT_TEST_PYTHON`.

use std::io::Write;
use std::process::Command;

use serde_json::{Value, json};
use warrant_log::canonical::canonicalize;
use warrant_log::checkpoint::Checkpoint;
use warrant_log::hash::{Hash, leaf_hash};
use warrant_log::note::{NoteVerifier, open_note};
use warrant_log::proof::verify_inclusion;
use warrant_otlp::Message;
use warrant_otlp::build::{int, request, span, string};

use crate::support::{Scratch, Server, metric, python, workspace};

/// Agents and models the traces name, on top of nothing else.
const REGISTRY: &str = "\
kind: Model
id: gpt-4.1
input_usd_per_million: 2
output_usd_per_million: 8
---
kind: Model
id: gpt-4o-mini
input_usd_per_million: 0.15
output_usd_per_million: 0.6
---
kind: DataSource
id: crm
sensitivity: confidential
personal_data: true
---
kind: DataSource
id: customer-notes
sensitivity: internal
---
kind: Tool
id: crm-read
access: read
egress: internal
---
kind: Agent
id: helper-agent
purpose: Answers customer questions
owner: head-of-support
risk_class: limited
decision_scope: recommend
oversight: human-on-the-loop
tools:
  - {tool: crm-read, access: read, approved_by: head-of-support}
";

fn start() -> (Scratch, Server, String, String) {
    let scratch = Scratch::new();
    let server = Server::start(&scratch.data(), &["--checkpoint-interval-ms", "100"]);
    let admin = server.admin().to_owned();
    let (status, answer) = server.apply("/v1/apply", &admin, REGISTRY);
    assert_eq!(status, 200, "{answer}");
    let agent = server.agent_token(
        "otel-collector",
        &["onboarding-agent", "kyc-agent", "notify-agent", "helper-agent"],
    );
    (scratch, server, admin, agent)
}

/// POST raw bytes to `/v1/traces`: the status, the content type and the body.
fn post_traces(
    server: &Server,
    token: &str,
    content_type: &str,
    encoding: Option<&str>,
    body: &[u8],
) -> (u16, String, Vec<u8>) {
    let agent = ureq::AgentBuilder::new().max_idle_connections(0).build();
    let mut request = agent
        .post(&format!("{}/v1/traces", server.url))
        .set("Authorization", &format!("Bearer {token}"))
        .set("Content-Type", content_type);
    if let Some(encoding) = encoding {
        request = request.set("Content-Encoding", encoding);
    }
    let response = match request.send_bytes(body) {
        Ok(response) | Err(ureq::Error::Status(_, response)) => response,
        Err(error) => panic!("POST /v1/traces: {error}"),
    };
    let status = response.status();
    let content_type = response.content_type().to_owned();
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut response.into_reader(), &mut bytes).expect("reading the answer");
    (status, content_type, bytes)
}

fn log_size(server: &Server, token: &str) -> u64 {
    let (status, answer) = server.get("/metrics", token);
    assert_eq!(status, 200);
    metric(answer.as_str().expect("metrics are text"), "warrant_log_size")
}

/// Every node of a trail, depth first, with its depth.
fn flatten(nodes: &[Value], depth: usize, out: &mut Vec<(usize, Value)>) {
    for node in nodes {
        out.push((depth, node.clone()));
        flatten(node["children"].as_array().expect("children"), depth + 1, out);
    }
}

/// The first node matching `kind` and `summary` prefix, anywhere in the trail.
fn node<'a>(nodes: &'a [(usize, Value)], kind: &str, summary: &str) -> &'a (usize, Value) {
    nodes
        .iter()
        .find(|(_, node)| {
            node["kind"] == json!(kind)
                && node["summary"]
                    .as_str()
                    .is_some_and(|text| text.starts_with(summary))
        })
        .unwrap_or_else(|| {
            let lines: Vec<String> = nodes
                .iter()
                .map(|(depth, node)| format!("{}{} {}", "  ".repeat(*depth), node["kind"], node["summary"]))
                .collect();
            panic!("no {kind} `{summary}` in the trail:\n{}", lines.join("\n"))
        })
}

fn children_summaries(node: &Value) -> Vec<String> {
    node["children"]
        .as_array()
        .expect("children")
        .iter()
        .map(|child| {
            format!(
                "{} {}",
                child["kind"].as_str().unwrap(),
                child["summary"].as_str().unwrap()
            )
        })
        .collect()
}

fn hash(value: &Value) -> Hash {
    hex::decode(value.as_str().expect("hex"))
        .expect("hex")
        .try_into()
        .expect("32 bytes")
}

/// Check every step's proof link: the event's canonical bytes hash to the proved leaf, and the proof leads
/// to the root of a checkpoint signed with the log's key.
fn verify_trail_proofs(server: &Server, token: &str, trail: &Value) {
    let key = server.get_ok("/v1/log/key", token);
    let verifier =
        NoteVerifier::parse_vkey(key["verifier_key"].as_str().expect("a key")).expect("a verifier key");
    let note = trail["checkpoint"]["note"]
        .as_str()
        .expect("the trail names its checkpoint");
    let opened = open_note(note, &[verifier]).expect("the checkpoint is signed with the log key");
    let checkpoint = Checkpoint::parse(&opened.body).expect("a checkpoint body");
    let mut nodes = Vec::new();
    flatten(trail["nodes"].as_array().expect("nodes"), 0, &mut nodes);
    for (_, node) in &nodes {
        let seq = node["seq"].as_u64().expect("a seq");
        let link = node["proof"]
            .as_str()
            .unwrap_or_else(|| panic!("seq {seq} has no proof link: {node}"));
        let proof = server.get_ok(link, token);
        let event = server.get_ok(&format!("/v1/events/{seq}"), token);
        let leaf = leaf_hash(&canonicalize(&event["event"]));
        let path: Vec<Hash> = proof["proof"]
            .as_array()
            .expect("a proof")
            .iter()
            .map(hash)
            .collect();
        assert_eq!(proof["size"].as_u64(), Some(checkpoint.size), "{link}");
        verify_inclusion(&leaf, seq, checkpoint.size, &path, &checkpoint.root)
            .unwrap_or_else(|error| panic!("seq {seq}: {error}"));
    }
}

#[test]
fn the_opentelemetry_sdk_sends_a_cascade_that_comes_back_as_one_verified_trail() {
    let (_scratch, server, admin, agent) = start();
    let script = workspace().join("crates/warrant/tests/otlp/send_trace.py");
    for encoding in ["protobuf", "gzip", "json"] {
        let output = Command::new(python())
            .arg(&script)
            .args([
                "--endpoint",
                &format!("{}/v1/traces", server.url),
                "--token",
                &agent,
            ])
            .args(["--encoding", encoding, "--tag", encoding])
            .output()
            .expect("running send_trace.py");
        assert!(
            output.status.success(),
            "send_trace.py --encoding {encoding} failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let sent: Value = serde_json::from_slice(&output.stdout).expect("send_trace.py prints JSON");
        let trace = sent["trace_id"].as_str().expect("a trace id");
        server.wait_for_checkpoint(&admin, log_size(&server, &admin));
        let trail = server.get_ok(&format!("/v1/trails/{trace}"), &admin);
        assert_eq!(trail["resolved"]["kind"], json!("trace"), "{encoding}");
        assert_eq!(
            trail["traces"],
            json!([trace, sent["linked_trace_id"]]),
            "{encoding}: the linked trace is part of the trail"
        );
        let roots = trail["nodes"].as_array().expect("nodes");
        assert_eq!(roots.len(), 1, "{encoding}: one tree: {trail:#}");
        let root = &roots[0];
        assert_eq!(root["kind"], json!("invocation"));
        assert_eq!(root["agent"], json!("onboarding-agent"));
        assert_eq!(root["span_id"], sent["spans"]["invoke_onboarding"]);
        assert_eq!(
            children_summaries(root),
            [
                "llm_call llm gpt-4.1 1200→300 tokens",
                r#"tool_call tool lookup-crm({"client_id":"C-1042","tag":"TAG"})"#
                    .replace("TAG", encoding)
                    .as_str(),
                "decision decision verification_path = enhanced [client_value=high]",
                r#"tool_call tool start-kyc({"client_id":"C-1042","path":"enhanced","tag":"TAG"})"#
                    .replace("TAG", encoding)
                    .as_str(),
                r#"tool_call tool queue-welcome({"client_id":"C-1042","tag":"TAG"})"#
                    .replace("TAG", encoding)
                    .as_str(),
                "outcome outcome account_opened succeeded",
            ]
            .map(|line| line.to_owned()),
            "{encoding}: {trail:#}"
        );
        let mut nodes = Vec::new();
        flatten(roots, 0, &mut nodes);
        // The LLM call's cost comes from the price table; its messages are content, not attributes.
        let (_, llm) = node(&nodes, "llm_call", "llm gpt-4.1");
        assert_eq!(llm["cost_usd"], json!(0.0048));
        assert!(llm["latency_ms"].as_f64().unwrap() > 0.0, "{llm}");
        assert_eq!(llm["content"]["input"][0]["role"], json!("user"));
        // The CRM read shows its data source with the registry's sensitivity, and its result.
        let (depth, lookup) = node(&nodes, "tool_call", "tool lookup-crm");
        assert_eq!(*depth, 1);
        let lookup_children = children_summaries(lookup);
        assert!(
            lookup_children.contains(&"data_access data crm sensitivity=confidential records=1".to_owned()),
            "{lookup_children:?}"
        );
        let (_, result) = node(
            &nodes,
            "tool_result",
            r#"result ok {"assets_eur":2500000,"name":"Jane Roe"}"#,
        );
        assert_eq!(result["content"]["result"]["name"], json!("Jane Roe"));
        // Agent B (kyc-agent) hangs under A's start-kyc call in the same trace.
        let (_, start_kyc) = node(&nodes, "tool_call", "tool start-kyc");
        assert_eq!(children_summaries(start_kyc), ["invocation invoke kyc-agent"]);
        let (depth, verify) = node(&nodes, "tool_call", "tool verify-identity");
        assert_eq!((*depth, verify["agent"].clone()), (3, json!("kyc-agent")));
        // Agent C (notify-agent) ran in a trace of its own, linked to A's queue-welcome call: it hangs there.
        let (_, queue) = node(&nodes, "tool_call", "tool queue-welcome");
        assert_eq!(children_summaries(queue), ["invocation invoke notify-agent"]);
        let (depth, email) = node(&nodes, "tool_call", "tool send-welcome-email");
        assert_eq!(*depth, 3);
        assert_eq!(email["trace_id"], sent["linked_trace_id"]);
        // Attempt and outcome are separate steps; totals add up.
        assert_eq!(
            trail["summary"]["decisions"],
            json!(["verification_path = enhanced"])
        );
        assert_eq!(trail["summary"]["outcomes"], json!(["account_opened: succeeded"]));
        assert_eq!(
            trail["summary"]["agents"],
            json!(["onboarding-agent", "kyc-agent", "notify-agent"])
        );
        verify_trail_proofs(&server, &admin, &trail);
        // The same trail by session and by one of its events.
        let by_session = server.get_ok(
            &format!("/v1/trails/{}", sent["session"].as_str().unwrap()),
            &admin,
        );
        assert_eq!(by_session["resolved"]["kind"], json!("session"));
        assert_eq!(by_session["summary"]["events"], trail["summary"]["events"]);
        let seq = email["seq"].as_u64().unwrap();
        let by_event = server.get_ok(&format!("/v1/trails/{seq}"), &admin);
        assert_eq!(by_event["resolved"], json!({"kind": "event", "value": seq}));
        assert_eq!(
            by_event["summary"]["events"], trail["summary"]["events"],
            "from the linked trace up to the whole cascade"
        );
    }
    // The CLI renders the same trail as a tree.
    let (status, trail_json) = server.get("/v1/trails/sess-json", &admin);
    assert_eq!(status, 200, "{trail_json}");
    let run = crate::support::warrant(
        &["--server", &server.url, "trail", "sess-json"],
        &[("WARRANT_TOKEN", &admin)],
    );
    let text = run.stdout.clone();
    assert!(text.contains("decisions: verification_path = enhanced"), "{text}");
    assert!(
        text.contains("│  └─ ") || text.contains("   └─ "),
        "a tree: {text}"
    );
    assert!(text.contains("invoke notify-agent"), "{text}");
}

#[test]
fn an_openinference_trace_maps_with_content_kept_apart() {
    let (_scratch, server, admin, agent) = start();
    let fixture = std::fs::read(workspace().join("crates/warrant/tests/otlp/openinference_trace.json"))
        .expect("the fixture");
    let (status, content_type, body) = post_traces(&server, &agent, "application/json", None, &fixture);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(content_type, "application/json");
    server.wait_for_checkpoint(&admin, log_size(&server, &admin));
    let trail = server.get_ok("/v1/trails/oi-session-1", &admin);
    let mut nodes = Vec::new();
    flatten(trail["nodes"].as_array().expect("nodes"), 0, &mut nodes);
    let (depth, root) = node(&nodes, "invocation", "invoke helper-agent");
    assert_eq!(*depth, 0);
    assert_eq!(root["content"]["input"], json!("Where is my card?"));
    let (_, llm) = node(&nodes, "llm_call", "llm gpt-4o-mini 800→120 tokens");
    assert_eq!(llm["cost_usd"], json!(0.000192));
    assert_eq!(llm["agent"], json!("helper-agent"));
    let (_, tool) = node(&nodes, "tool_call", r#"tool crm-read({"customer":"K-77"})"#);
    assert_eq!(
        children_summaries(tool),
        [r#"tool_result result ok {"card":"shipped"}"#]
    );
    let (_, data) = node(
        &nodes,
        "data_access",
        "data customer-notes sensitivity=internal records=1",
    );
    assert_eq!(
        data["attrs"]["documents"],
        json!([{"id": "kb-12", "score": 0.91, "source": "customer-notes"}])
    );
    assert_eq!(
        data["content"]["documents"]["0.document.content"],
        json!("Cards ship in 2 days")
    );
    // The retrieved text is committed by digest only: the log's body never holds it.
    let stored = server.get_ok(&format!("/v1/events/{}", data["seq"]), &admin);
    assert!(!stored["event"].to_string().contains("Cards ship"), "{stored}");
    verify_trail_proofs(&server, &admin, &trail);
}

#[test]
fn resent_spans_are_stored_once_and_bad_spans_are_a_partial_success() {
    let (_scratch, server, admin, agent) = start();
    let trace = [0x4a; 16];
    let start_ns = 1_795_687_200_000_000_000;
    let spans = vec![
        span(
            trace,
            [1; 8],
            None,
            "invoke_agent helper-agent",
            (start_ns, start_ns + 5_000_000),
            vec![
                string("gen_ai.operation.name", "invoke_agent"),
                string("gen_ai.agent.id", "helper-agent"),
            ],
        ),
        span(
            trace,
            [2; 8],
            Some([1; 8]),
            "chat gpt-4.1",
            (start_ns + 1_000, start_ns + 2_000_000),
            vec![
                string("gen_ai.operation.name", "chat"),
                string("gen_ai.request.model", "gpt-4.1"),
                int("gen_ai.usage.input_tokens", 10),
            ],
        ),
    ];
    let body = request(vec![string("service.name", "helper")], spans.clone()).encode_to_vec();
    let before = log_size(&server, &admin);
    for round in 0..2 {
        let (status, content_type, answer) =
            post_traces(&server, &agent, "application/x-protobuf", None, &body);
        assert_eq!(status, 200, "round {round}");
        assert_eq!(content_type, "application/x-protobuf");
        let response =
            warrant_otlp::ExportTraceServiceResponse::decode(answer.as_slice()).expect("an OTLP answer");
        assert_eq!(response.partial_success, None, "round {round}");
        assert_eq!(
            log_size(&server, &admin),
            before + 2,
            "round {round}: the resent spans are stored once"
        );
    }
    // A span with a short id is refused alone; its neighbour is stored.
    let mut bad = spans[1].clone();
    bad.span_id = vec![7; 3];
    let mut good = spans[1].clone();
    good.span_id = vec![3; 8];
    let body = request(Vec::new(), vec![bad, good]).encode_to_vec();
    let (status, _, answer) = post_traces(&server, &agent, "application/x-protobuf", None, &body);
    assert_eq!(status, 200);
    let response =
        warrant_otlp::ExportTraceServiceResponse::decode(answer.as_slice()).expect("an OTLP answer");
    let partial = response.partial_success.expect("a partial success");
    assert_eq!(partial.rejected_spans, 1);
    assert!(
        partial.error_message.contains("3 bytes, not 8"),
        "{}",
        partial.error_message
    );
    assert_eq!(log_size(&server, &admin), before + 3);
    // `application/protobuf` is answered in kind; a session named like a number is reachable by prefix.
    let numbered = request(
        Vec::new(),
        vec![span(
            [0x5c; 16],
            [9; 8],
            None,
            "chat",
            (start_ns, start_ns + 1_000),
            vec![
                string("gen_ai.operation.name", "chat"),
                string("gen_ai.conversation.id", "12345"),
            ],
        )],
    )
    .encode_to_vec();
    let (status, content_type, _) = post_traces(&server, &agent, "application/protobuf", None, &numbered);
    assert_eq!((status, content_type.as_str()), (200, "application/protobuf"));
    let trail = server.get_ok("/v1/trails/session:12345", &admin);
    assert_eq!(trail["resolved"], json!({"kind": "session", "value": "12345"}));
    assert_eq!(trail["summary"]["events"], json!(1));
    // An auditor cannot send traces.
    let auditor = server.token("auditor", "auditor");
    let (status, _, _) = post_traces(&server, &auditor, "application/x-protobuf", None, &body);
    assert_eq!(status, 403);
}

#[test]
fn bad_bodies_get_the_right_4xx_and_store_nothing() {
    let scratch = Scratch::new();
    let server = Server::start(&scratch.data(), &["--body-limit", "65536"]);
    let admin = server.admin().to_owned();
    let agent = server.agent_token("otel", &["helper-agent"]);
    let before = log_size(&server, &admin);
    let valid = request(
        Vec::new(),
        vec![span(
            [0x4a; 16],
            [1; 8],
            None,
            "chat",
            (1, 2),
            vec![string("gen_ai.operation.name", "chat")],
        )],
    )
    .encode_to_vec();
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gzip.write_all(&vec![b'{'; 1 << 20]).expect("compressing");
    let bomb = gzip.finish().expect("compressing");
    // What, content type, content encoding, body, expected status.
    type Case = (&'static str, &'static str, Option<&'static str>, Vec<u8>, u16);
    let cases: [Case; 6] = [
        (
            "malformed protobuf",
            "application/x-protobuf",
            None,
            vec![0x0a, 0xff, 0xff, 0xff, 0x0f],
            400,
        ),
        (
            "malformed JSON",
            "application/json",
            None,
            b"{\"resourceSpans\": [".to_vec(),
            400,
        ),
        ("a wrong content type", "text/plain", None, valid.clone(), 415),
        (
            "bad gzip",
            "application/x-protobuf",
            Some("gzip"),
            b"not gzip at all".to_vec(),
            400,
        ),
        (
            "an unknown encoding",
            "application/x-protobuf",
            Some("br"),
            valid.clone(),
            415,
        ),
        (
            "a gzip body over the limit once inflated",
            "application/json",
            Some("gzip"),
            bomb,
            413,
        ),
    ];
    for (what, content_type, encoding, body, expected) in cases {
        let (status, _, answer) = post_traces(&server, &agent, content_type, encoding, &body);
        assert_eq!(status, expected, "{what}: {}", String::from_utf8_lossy(&answer));
    }
    // The protobuf error body is a google.rpc.Status.
    let (_, content_type, answer) = post_traces(
        &server,
        &agent,
        "application/x-protobuf",
        None,
        &[0x0a, 0xff, 0xff, 0xff, 0x0f],
    );
    assert_eq!(content_type, "application/x-protobuf");
    let status = warrant_otlp::decode::Status::decode(answer.as_slice()).expect("a Status");
    assert_eq!(status.code, 3);
    assert!(status.message.contains("protobuf"), "{}", status.message);
    // An oversized body, before any decoding.
    let (status, _, _) = post_traces(
        &server,
        &agent,
        "application/x-protobuf",
        None,
        &vec![0u8; 70_000],
    );
    assert_eq!(status, 413);
    assert_eq!(log_size(&server, &admin), before, "nothing was stored");
}
